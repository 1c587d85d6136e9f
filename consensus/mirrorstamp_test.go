package consensus

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// A mirror records the origin court's tokens only for heads it holds; the
// first token of a head stays; the covering lookup finds the first stamped
// head past an index; each court's tokens are its own.
func TestMirrorTimestampApply(t *testing.T) {
	h := newHarness(t)
	f, err := openFSM(filepath.Join(t.TempDir(), "ledger.db"), mirroringCourt, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	m := &mirrorFSM{t: t, f: f}
	l := &Ledger{fsm: f}
	e1, h1 := originBatch(t, h, 3, "a")
	if err := m.apply((&mirrorAppend{court: testCourt, checked: time.Now().UnixMilli(), entries: e1, heads: [][]byte{h1}}).encode()); err != nil {
		t.Fatal(err)
	}
	stamp := func(court string, size uint64, token string) error {
		return m.apply((&addMirrorTimestamp{court: court, size: size, tsa: "tsa.example", token: []byte(token), note: h1}).encode())
	}
	if err := stamp(testCourt, 5, "t5"); !errors.Is(err, ErrUnknownHead) {
		t.Fatalf("a token beyond the mirror: %v, want ErrUnknownHead", err)
	}
	if err := stamp("other.court.example/evidence", 3, "t"); !errors.Is(err, ErrUnknownHead) {
		t.Fatalf("a token of a court not mirrored: %v, want ErrUnknownHead", err)
	}
	if last, _ := l.LastMirrorStamped(testCourt); last != 0 {
		t.Fatalf("refused tokens recorded: last %d", last)
	}
	if err := stamp(testCourt, 3, "first"); err != nil {
		t.Fatal(err)
	}
	if err := stamp(testCourt, 3, "second"); err != nil {
		t.Fatal(err)
	}
	size, tsa, token, note, ok, err := l.MirrorTimestampCovering(testCourt, 0)
	if err != nil || !ok || size != 3 || tsa != "tsa.example" || string(token) != "first" || string(note) != string(h1) {
		t.Fatalf("covering 0: %d %q %q ok %v err %v", size, tsa, token, ok, err)
	}
	if _, _, _, _, ok, _ := l.MirrorTimestampCovering(testCourt, 3); ok {
		t.Fatal("a head of 3 entries covers index 3")
	}
	if _, _, _, _, ok, _ := l.MirrorTimestampCovering("other.court.example/evidence", 0); ok {
		t.Fatal("another court's lookup found this court's token")
	}
	if last, _ := l.LastMirrorStamped(testCourt); last != 3 {
		t.Fatalf("last stamped %d, want 3", last)
	}
}
