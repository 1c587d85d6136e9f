package witness

import (
	"bytes"
	"testing"
	"time"

	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
)

// mirrorAt is a Ledger whose mirror of every court holds size entries;
// nothing else of it is used here.
type mirrorAt struct {
	Ledger
	size uint64
}

func (m mirrorAt) Mirror(string) (consensus.MirrorState, error) {
	return consensus.MirrorState{Size: m.size}, nil
}

func headOfSize(t *testing.T, court string, k *sm2.PrivateKey, size uint64) []byte {
	t.Helper()
	s, err := checkpoint.NewSigner(court, k)
	if err != nil {
		t.Fatal(err)
	}
	n, err := checkpoint.Sign(checkpoint.TreeHead{Origin: court, Size: size, Root: bytes.Repeat([]byte{byte(size)}, 32), Time: time.Now()}, s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A pushed head is a hint: one that the court did not sign wakes nothing
// and is not aimed at; one beyond the mirror wakes the follower once,
// steers the round to the node that pushed it, and becomes the round's
// target if it is newer than what the round fetched; one the mirror
// already holds wakes nothing.
func TestPushedHeadIsOnlyAVerifiedHint(t *testing.T) {
	self, b, forger := key(t), key(t), key(t)
	courts, err := NewCourts(hz, []*sm2.PublicKey{self.Public()}, []OtherCourt{{Court: bj, Endpoints: []string{"b:1", "b:2"}, Key: b.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Ledger: mirrorAt{size: 10}, Courts: courts})
	f := s.followers[bj]
	woken := func() bool {
		select {
		case <-f.kick:
			return true
		default:
			return false
		}
	}

	if err := f.pushed(headOfSize(t, bj, forger, 50), 0); err == nil {
		t.Fatal("a head signed by another key was taken")
	}
	if err := f.pushed(headOfSize(t, hz, b, 50), 0); err == nil {
		t.Fatal("a head of another court was taken")
	}
	if err := f.pushed([]byte("not a note"), 0); err == nil {
		t.Fatal("garbage was taken")
	}
	if woken() || f.newest(nil, 10) != nil {
		t.Fatal("a head that does not verify woke the follower or became its target")
	}

	for _, size := range []uint64{5, 10} {
		if err := f.pushed(headOfSize(t, bj, b, size), 0); err != nil {
			t.Fatal(err)
		}
		if woken() {
			t.Fatalf("a head of size %d, which the mirror of 10 holds, woke the follower", size)
		}
	}
	if err := f.pushed(nil, 0); err != nil || woken() {
		t.Fatalf("an empty note (a court with nothing recorded): %v, woken %v", err, woken())
	}

	h12, h11 := headOfSize(t, bj, b, 12), headOfSize(t, bj, b, 11)
	if err := f.pushed(h12, 1); err != nil {
		t.Fatal(err)
	}
	if f.next != 1 {
		t.Fatal("the round does not ask first the node that pushed the head beyond the mirror")
	}
	if err := f.pushed(h11, 0); err != nil { // older, arriving late
		t.Fatal(err)
	}
	if !woken() {
		t.Fatal("a head beyond the mirror did not wake the follower")
	}
	if woken() {
		t.Fatal("two heads woke the follower for two rounds")
	}
	// The round aims at the newest head known, fetched or pushed.
	if got := f.newest(h11, 10); !bytes.Equal(got, h12) {
		t.Fatalf("round aims at %q, want the pushed head of size 12", got)
	}
	h13 := headOfSize(t, bj, b, 13)
	if got := f.newest(h13, 10); !bytes.Equal(got, h13) {
		t.Fatal("a fetched head newer than the pushed one was not the target")
	}
	if got := f.newest(h11, 12); !bytes.Equal(got, h11) {
		t.Fatal("a pushed head the mirror reached overrode the fetched one")
	}
	if got := f.newest(nil, 10); !bytes.Equal(got, h12) {
		t.Fatal("with nothing fetched, the pushed head is the target")
	}
}
