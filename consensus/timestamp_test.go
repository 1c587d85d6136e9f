package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

func timestampCmd(size uint64, tsa, token string) []byte {
	return (&addTimestamp{size: size, tsa: tsa, token: []byte(token)}).encode()
}

// checkTimestamp asserts what l holds for the head at size.
func checkTimestamp(t *testing.T, l *Ledger, size uint64, wantTSA, wantToken string) {
	t.Helper()
	tsa, token, ok, err := l.Timestamp(size)
	if err != nil {
		t.Fatalf("Timestamp(%d): %v", size, err)
	}
	if wantToken == "" {
		if ok {
			t.Fatalf("Timestamp(%d) = %q %q, want none", size, tsa, token)
		}
		return
	}
	if !ok || tsa != wantTSA || string(token) != wantToken {
		t.Fatalf("Timestamp(%d) = %q %q %v, want %q %q", size, tsa, token, ok, wantTSA, wantToken)
	}
}

func checkCovering(t *testing.T, l *Ledger, index, wantSize uint64, wantToken string) {
	t.Helper()
	size, _, token, ok, err := l.TimestampCovering(index)
	if err != nil {
		t.Fatalf("TimestampCovering(%d): %v", index, err)
	}
	if wantToken == "" {
		if ok || size != 0 {
			t.Fatalf("TimestampCovering(%d) = size %d %q, want pending", index, size, token)
		}
		return
	}
	if !ok || size != wantSize || string(token) != wantToken {
		t.Fatalf("TimestampCovering(%d) = size %d %q %v, want size %d %q", index, size, token, ok, wantSize, wantToken)
	}
}

func TestTimestampApply(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(t.TempDir(), "ledger.db")
	f := openTestFSM(t, path)
	m := &mirrorFSM{t: t, f: f}
	l := &Ledger{fsm: f}

	// A ledger without the bucket (as every file written before trusted
	// time) reads as holding no token.
	if n, err := l.LastStamped(); err != nil || n != 0 {
		t.Fatalf("LastStamped on a new ledger: %d %v", n, err)
	}
	checkTimestamp(t, l, 1, "", "")
	checkCovering(t, l, 0, 0, "")

	// A token for a head that does not exist is refused and not stored.
	if err := m.apply(timestampCmd(2, "tsa-a", "early")); !errors.Is(err, ErrUnknownHead) {
		t.Fatalf("token before any head: %v, want ErrUnknownHead", err)
	}
	for _, n := range []int{2, 3} { // heads at sizes 2 and 5
		if err := m.apply(h.batch(n, fmt.Sprint("b", n)).Data); err != nil {
			t.Fatal(err)
		}
	}
	checkTimestamp(t, l, 2, "", "")
	if n, oldest, err := l.Unstamped(); err != nil || n != 2 || oldest.IsZero() {
		t.Fatalf("Unstamped with heads 2 and 5 unstamped: %d %v %v", n, oldest, err)
	}
	if err := m.apply(timestampCmd(3, "tsa-a", "no such head")); !errors.Is(err, ErrUnknownHead) {
		t.Fatalf("token for size 3: %v, want ErrUnknownHead", err)
	}
	checkTimestamp(t, l, 3, "", "")
	if err := m.apply(timestampCmd(2, "tsa-a", "token-2")); err != nil {
		t.Fatal(err)
	}
	// First token per head wins.
	if err := m.apply(timestampCmd(2, "tsa-b", "token-2-again")); err != nil {
		t.Fatalf("second token: %v, want nil (ignored)", err)
	}
	checkTimestamp(t, l, 2, "tsa-a", "token-2")
	if n, _ := l.LastStamped(); n != 2 {
		t.Fatalf("LastStamped %d, want 2", n)
	}
	checkCovering(t, l, 0, 2, "token-2")
	checkCovering(t, l, 1, 2, "token-2")
	checkCovering(t, l, 2, 0, "") // entries 2..4 only in the unstamped head 5
	if n, _, err := l.Unstamped(); err != nil || n != 1 {
		t.Fatalf("Unstamped with head 5 unstamped: %d %v", n, err)
	}

	if err := m.apply(timestampCmd(5, "tsa-b", "token-5")); err != nil {
		t.Fatal(err)
	}
	checkCovering(t, l, 1, 2, "token-2") // the first stamped head covering it
	checkCovering(t, l, 2, 5, "token-5")
	checkCovering(t, l, 4, 5, "token-5")
	checkCovering(t, l, 5, 0, "")
	checkCovering(t, l, ^uint64(0), 0, "")
	if n, _ := l.LastStamped(); n != 5 {
		t.Fatalf("LastStamped %d, want 5", n)
	}
	if n, oldest, err := l.Unstamped(); err != nil || n != 0 || !oldest.IsZero() {
		t.Fatalf("Unstamped when all stamped: %d %v %v", n, oldest, err)
	}

	// The tokens are outside the Merkle checks: the file still verifies,
	// and the tokens outlive a reopen.
	f.close()
	if err := inspectLedger(path, testCourt); err != nil {
		t.Fatalf("a ledger with tokens does not verify: %v", err)
	}
	f = openTestFSM(t, path)
	l = &Ledger{fsm: f}
	checkTimestamp(t, l, 5, "tsa-b", "token-5")
}

func TestTimestampCommandBounds(t *testing.T) {
	l := &Ledger{} // refused before anything is proposed
	big := strings.Repeat("x", MaxTimestampToken+1)
	for _, c := range []struct {
		size       uint64
		tsa, token string
		want       string
	}{
		{0, "tsa", "t", "size 0"},
		{1, "", "t", "TSA name of 0 bytes"},
		{1, strings.Repeat("n", MaxTSAName+1), "t", "TSA name of 257 bytes"},
		{1, "tsa", "", "token of 0 bytes"},
		{1, "tsa", big, fmt.Sprintf("token of %d bytes", MaxTimestampToken+1)},
	} {
		err := l.AddTimestamp(context.Background(), c.size, c.tsa, []byte(c.token))
		if !errors.Is(err, ErrTimestamp) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("AddTimestamp(%d, %d-byte name, %d-byte token) = %v, want ErrTimestamp naming %q", c.size, len(c.tsa), len(c.token), err, c.want)
		}
		// The same command from the log is refused by every replica.
		if _, err := decodeCommand(timestampCmd(c.size, c.tsa, c.token)); !errors.Is(err, errBadCommand) {
			t.Errorf("decode of size %d name %d token %d: %v, want errBadCommand", c.size, len(c.tsa), len(c.token), err)
		}
	}
}

// memSink is a raft.SnapshotSink into memory.
type memSink struct {
	bytes.Buffer
	closed bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { return nil }
func (s *memSink) Close() error  { s.closed = true; return nil }

// A node restored from a snapshot (the whole bbolt file) holds the tokens.
func TestTimestampsInSnapshot(t *testing.T) {
	h := newHarness(t)
	src := openTestFSM(t, filepath.Join(t.TempDir(), "ledger.db"))
	m := &mirrorFSM{t: t, f: src}
	for _, cmd := range [][]byte{h.batch(3, "a").Data, timestampCmd(3, "tsa-a", "token-3"), h.batch(2, "b").Data} {
		if err := m.apply(cmd); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil || !sink.closed {
		t.Fatalf("persist: %v", err)
	}
	snap.Release()

	dst := openTestFSM(t, filepath.Join(t.TempDir(), "ledger.db"))
	if err := dst.Restore(raftReadCloser{&sink.Buffer}); err != nil {
		t.Fatal(err)
	}
	l := &Ledger{fsm: dst}
	checkTimestamp(t, l, 3, "tsa-a", "token-3")
	checkCovering(t, l, 2, 3, "token-3")
	checkCovering(t, l, 3, 0, "")
	// And the restored node goes on recording tokens.
	res := dst.ApplyBatch([]*raft.Log{{Index: m.idx + 1, Type: raft.LogCommand, Data: timestampCmd(5, "tsa-b", "token-5")}})
	if res[0] != nil {
		t.Fatalf("token after restore: %v", res[0])
	}
	if n, _ := l.LastStamped(); n != 5 {
		t.Fatalf("LastStamped after restore %d, want 5", n)
	}
}

type raftReadCloser struct{ *bytes.Buffer }

func (raftReadCloser) Close() error { return nil }

// The token travels through Raft: every node of a court holds it.
func TestTimestampReplicated(t *testing.T) {
	c := inmemCluster(t, 3)
	c.registerPlatform("esign.example")
	leader := c.waitLeader()
	ctx := context.Background()
	res, err := leader.Submit(ctx, []SignedSubmission{c.submission("esign.example", "r-1", []byte("one"))})
	if err != nil || res[0].Err != nil {
		t.Fatalf("submit: %v %v", err, res)
	}
	size := res[0].Receipt.Entry.Index + 1
	if err := leader.AddTimestamp(ctx, size, "tsa-a", []byte("token")); err != nil {
		t.Fatal(err)
	}
	if err := leader.AddTimestamp(ctx, size+1, "tsa-a", []byte("token")); !errors.Is(err, ErrUnknownHead) {
		t.Fatalf("token for a head not made: %v, want ErrUnknownHead", err)
	}
	waitFor(t, "every node to hold the token", func() (bool, string) {
		for _, l := range c.all() {
			if _, tok, ok, err := l.Timestamp(size); !ok || string(tok) != "token" {
				return false, fmt.Sprintf("%s: %v %v", l.cfg.NodeID, ok, err)
			}
		}
		return true, ""
	})
	for _, l := range c.all() {
		if l == leader {
			continue
		}
		if err := l.AddTimestamp(ctx, size, "tsa-a", []byte("token")); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("follower AddTimestamp: %v, want ErrNotLeader", err)
		}
	}
}
