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

	"github.com/courtledger/courtledger/crypto/merkle"
)

const mirroringCourt = "beijing.court.example/evidence"

// originBatch returns the entries and head of the harness's next batch, as
// a follower would receive them from the origin.
func originBatch(t *testing.T, h *fsmHarness, n int, tag string) (entries [][]byte, head []byte) {
	t.Helper()
	cmd, err := decodeCommand(h.batch(n, tag).Data)
	if err != nil {
		t.Fatal(err)
	}
	b := cmd.(*appendBatch)
	return b.entries, b.signedHead
}

type mirrorFSM struct {
	t   *testing.T
	f   *fsm
	idx uint64
}

func (m *mirrorFSM) apply(cmd []byte) error {
	m.t.Helper()
	m.idx++
	res := m.f.ApplyBatch([]*raft.Log{{Index: m.idx, Type: raft.LogCommand, Data: cmd}})
	if err, ok := res[0].(error); ok {
		return err
	}
	return nil
}

func (m *mirrorFSM) size() uint64 {
	m.f.mu.RLock()
	defer m.f.mu.RUnlock()
	if r := m.f.mirrors[testCourt]; r != nil {
		return r.Size()
	}
	return 0
}

func TestMirrorApply(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(t.TempDir(), "ledger.db")
	f, err := openFSM(path, mirroringCourt, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	m := &mirrorFSM{t: t, f: f}
	now := time.Now().UnixMilli()
	append1 := func(entries, heads [][]byte) []byte {
		return (&mirrorAppend{court: testCourt, checked: now, entries: entries, heads: heads}).encode()
	}

	e1, h1 := originBatch(t, h, 3, "a")
	if err := m.apply(append1(e1, [][]byte{h1})); err != nil {
		t.Fatalf("first chunk: %v", err)
	}
	// The same chunk again, as a deposed leader would propose it: refused,
	// nothing doubled.
	if err := m.apply(append1(e1, [][]byte{h1})); !errors.Is(err, ErrMirrorRejected) || m.size() != 3 {
		t.Fatalf("stale chunk: %v, size %d", err, m.size())
	}
	// Two origin batches in one chunk, a head at each end.
	e2, h2 := originBatch(t, h, 2, "b")
	e3, h3 := originBatch(t, h, 4, "c")
	// A head whose root the entries do not rebuild: refused whole.
	_, forged := originBatch(t, newHarness(t), 6, "zz")
	if err := m.apply(append1(append(bytes2(e2), e3...), [][]byte{h2, forged})); !errors.Is(err, ErrMirrorRejected) || m.size() != 3 {
		t.Fatalf("forged head: %v, size %d", err, m.size())
	}
	// Entries beyond the last head: refused.
	if err := m.apply(append1(append(bytes2(e2), e3...), [][]byte{h2})); !errors.Is(err, ErrMirrorRejected) {
		t.Fatalf("entries past the last head: %v", err)
	}
	if err := m.apply(append1(append(bytes2(e2), e3...), [][]byte{h2, h3})); err != nil || m.size() != 9 {
		t.Fatalf("two-head chunk: %v, size %d", err, m.size())
	}
	if got := f.mirrors[testCourt].Root(); !bytes.Equal(got, h.rng.Root()) {
		t.Fatalf("mirror root %x, origin %x", got, h.rng.Root())
	}

	// An alarm stops mirroring; clearing it resumes.
	if err := m.apply(append([]byte{cmdRaiseAlarm}, encodeAlarm(&Alarm{Court: testCourt, Kind: AlarmSameSize, Held: h3, Conflict: forged, Source: testCourt, RaisedAt: time.Now()})...)); err != nil {
		t.Fatal(err)
	}
	e4, h4 := originBatch(t, h, 1, "d")
	if err := m.apply(append1(e4, [][]byte{h4})); !errors.Is(err, ErrAlarmed) {
		t.Fatalf("mirroring under alarm: %v", err)
	}
	if err := m.apply((&clearAlarm{court: testCourt, by: "ops", at: now}).encode()); err != nil {
		t.Fatal(err)
	}
	if err := m.apply((&clearAlarm{court: testCourt, by: "ops", at: now}).encode()); !errors.Is(err, ErrNoAlarm) {
		t.Fatalf("clearing twice: %v", err)
	}
	if err := m.apply(append1(e4, [][]byte{h4})); err != nil || m.size() != 10 {
		t.Fatalf("after clear: %v, size %d", err, m.size())
	}
	// A court's own log cannot be mirrored, nor a cosignature stored on a
	// head it never made.
	if err := m.apply((&mirrorAppend{court: mirroringCourt, checked: now, entries: e4, heads: [][]byte{h4}}).encode()); !errors.Is(err, ErrMirrorRejected) {
		t.Fatalf("mirroring itself: %v", err)
	}
	if err := m.apply((&addCosignature{size: 77, line: []byte("— x AAAAAAAAAA==\n")}).encode()); !errors.Is(err, ErrUnknownHead) {
		t.Fatalf("cosignature on an unknown head: %v", err)
	}

	// Reopened, the mirror is where it was, with its root.
	root := bytes.Clone(f.mirrors[testCourt].Root())
	f.close()
	f2 := openTestFSMFor(t, path, mirroringCourt)
	if r := f2.mirrors[testCourt]; r == nil || r.Size() != 10 || !bytes.Equal(r.Root(), root) {
		t.Fatalf("reopened mirror: %+v", r)
	}
	if want := merkle.RootOf(nil); bytes.Equal(root, want) {
		t.Fatal("root of an empty tree")
	}
}

func bytes2(b [][]byte) [][]byte { return append([][]byte(nil), b...) }

func openTestFSMFor(t *testing.T, path, court string) *fsm {
	t.Helper()
	f, err := openFSM(path, court, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.close() })
	return f
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
