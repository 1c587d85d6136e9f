package consensus

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

// fsmHarness builds commands the way a leader does, without Raft.
type fsmHarness struct {
	t        testing.TB
	signer   *checkpoint.Signer
	platform *sm2.PrivateKey
	rng      *merkle.Range
	raftIdx  uint64
}

func newHarness(t testing.TB) *fsmHarness {
	k, _ := sm2.GenerateKey()
	s, err := checkpoint.NewSigner(testCourt, k)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := sm2.GenerateKey()
	return &fsmHarness{t: t, signer: s, platform: p, rng: merkle.NewRange()}
}

func openTestFSM(t *testing.T, path string) *fsm {
	t.Helper()
	f, err := openFSM(path, testCourt, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.close() })
	return f
}

// batch returns the Raft log of a batch of n new entries.
func (h *fsmHarness) batch(n int, tag string) *raft.Log {
	h.t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	var raws [][]byte
	for i := 0; i < n; i++ {
		s := evidence.Submission{Court: testCourt, Platform: "esign.example", RequestID: tag + "-" + string(rune('a'+i)),
			Fingerprint: sm3.Sum([]byte(tag + string(rune(i)))), Category: evidence.CategoryChat, Title: "t", SignedAt: now}
		sig, err := s.Sign(h.platform)
		if err != nil {
			h.t.Fatal(err)
		}
		e := evidence.NewEntry(testCourt, h.rng.Size(), now, s, sig)
		raw := e.Marshal()
		if err := h.rng.Append(merkle.LeafHash(raw), nil); err != nil {
			h.t.Fatal(err)
		}
		raws = append(raws, raw)
	}
	signed, err := checkpoint.Sign(checkpoint.TreeHead{Origin: testCourt, Size: h.rng.Size(), Root: h.rng.Root(), Time: now}, h.signer)
	if err != nil {
		h.t.Fatal(err)
	}
	h.raftIdx++
	return &raft.Log{Index: h.raftIdx, Type: raft.LogCommand, Data: (&appendBatch{entries: raws, signedHead: signed}).encode()}
}

func fsmState(t *testing.T, f *fsm) (uint64, uint64, []byte) {
	t.Helper()
	return f.size(), f.appliedIndex(), bytes.Clone(f.rng.Root())
}

// A replay of logs already in the ledger file, as Raft does after a crash
// between the bbolt commit and its own bookkeeping, applies nothing twice.
func TestReplayAfterCrashAppliesNothingTwice(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(t.TempDir(), "ledger.db")
	f := openTestFSM(t, path)
	logs := []*raft.Log{h.batch(3, "a"), h.batch(5, "b"), h.batch(1, "c")}
	for i, r := range f.ApplyBatch(logs) {
		if r != nil {
			t.Fatalf("log %d: %v", i, r)
		}
	}
	size, applied, root := fsmState(t, f)
	if size != 9 || applied != 3 {
		t.Fatalf("size %d applied %d, want 9 and 3", size, applied)
	}
	f.close()

	f = openTestFSM(t, path)
	if s, a, r := fsmState(t, f); s != size || a != applied || !bytes.Equal(r, root) {
		t.Fatalf("reopened: size %d applied %d", s, a)
	}
	for i, r := range f.ApplyBatch(logs) { // the replay
		if r != nil {
			t.Fatalf("replayed log %d: %v", i, r)
		}
	}
	if s, a, r := fsmState(t, f); s != size || a != applied || !bytes.Equal(r, root) {
		t.Fatalf("after replay: size %d applied %d, want %d %d", s, a, size, applied)
	}
	// And the next batch still applies on top.
	if r := f.Apply(h.batch(2, "d")); r != nil {
		t.Fatal(r)
	}
	if f.size() != 11 {
		t.Fatalf("size %d, want 11", f.size())
	}
}

// A batch that does not extend the log exactly is rejected whole, and a
// later good batch in the same Raft apply batch still applies.
func TestStaleBatchRejectedWhole(t *testing.T) {
	h := newHarness(t)
	f := openTestFSM(t, filepath.Join(t.TempDir(), "ledger.db"))
	if r := f.Apply(h.batch(2, "a")); r != nil {
		t.Fatal(r)
	}
	size, _, root := fsmState(t, f)

	// Built on a log that does not exist: indexes and root are wrong.
	other := newHarness(t)
	other.signer, other.raftIdx = h.signer, h.raftIdx
	wrongBase := other.batch(3, "x")

	// Built on the real log but recording request a-a again: its root is
	// consistent with its own entries, so only the evidence index stops it.
	again := &fsmHarness{t: t, signer: h.signer, platform: h.platform, rng: h.rng.Clone(), raftIdx: wrongBase.Index}
	duplicate := again.batch(1, "a")

	h.raftIdx = duplicate.Index
	next := h.batch(1, "b")
	res := f.ApplyBatch([]*raft.Log{wrongBase, duplicate, next})
	for i, want := range []error{ErrStaleBatch, ErrStaleBatch, nil} {
		if got, _ := res[i].(error); !errors.Is(got, want) || (want == nil && res[i] != nil) {
			t.Fatalf("log %d: %v, want %v", i, res[i], want)
		}
	}
	if f.size() != size+1 || f.appliedIndex() != next.Index {
		t.Fatalf("size %d applied %d, want %d %d", f.size(), f.appliedIndex(), size+1, next.Index)
	}
	if _, _, r := fsmState(t, f); bytes.Equal(r, root) {
		t.Fatal("root did not move with the good batch")
	}
}

func FuzzDecodeCommand(f *testing.F) {
	h := newHarness(f)
	f.Add(h.batch(2, "a").Data)
	f.Add((&registerPlatform{id: "esign.example", der: h.platform.Public().MarshalPKIX(), at: 1}).encode())
	f.Add((&revokePlatform{id: "esign.example", at: 2}).encode())
	f.Add([]byte{})
	f.Add([]byte{9})
	f.Add((&addCosignature{size: 3, line: []byte("— cosigner x\n")}).encode())
	f.Add(append([]byte{cmdRaiseAlarm}, encodeAlarm(&Alarm{Court: "c", Kind: AlarmSameSize, RaisedAt: time.UnixMilli(5)})...))
	f.Add((&clearAlarm{court: "c", by: "judge", at: 7}).encode())
	f.Add((&addTimestamp{size: 3, tsa: "tsa.example", token: []byte{0x30, 0x03, 0x02, 0x01, 0x00}}).encode())
	f.Add((&addMirrorTimestamp{court: "beijing.court.example/evidence", size: 3, tsa: "tsa.example", token: []byte{0x30, 0x03, 0x02, 0x01, 0x00}, note: []byte("beijing.court.example/evidence\n3\n\n")}).encode())
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd, err := decodeCommand(data)
		if err != nil {
			if !errors.Is(err, errBadCommand) {
				t.Fatalf("error %v does not wrap errBadCommand", err)
			}
			return
		}
		// Whatever decodes re-encodes to the same bytes, for every command
		// type decodeCommand knows (sync and audit commands included).
		var again []byte
		switch c := cmd.(type) {
		case interface{ encode() []byte }:
			again = c.encode()
		case *Alarm:
			again = append([]byte{cmdRaiseAlarm}, encodeAlarm(c)...)
		default:
			t.Fatalf("decoded %T, which the test cannot re-encode", cmd)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("decode/encode changed %x into %x", data, again)
		}
	})
}
