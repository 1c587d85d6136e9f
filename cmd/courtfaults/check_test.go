package main

import (
	"strings"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// The checks themselves must fail on the histories they exist to catch.
func TestLinearizable(t *testing.T) {
	ack := op{kind: opSubmit, rid: "a", index: 0, call: ms(0), ret: ms(10)}
	for _, tc := range []struct {
		name    string
		ops     []op
		pending []string
		logs    []*nodeLog
		want    string
	}{
		{"acknowledged, then found where acknowledged", []op{ack,
			{kind: opReadID, rid: "a", index: 0, found: true, call: ms(20), ret: ms(30)},
			{kind: opReadIndex, rid: "a", index: 0, found: true, call: ms(20), ret: ms(30)}}, nil, nil, "Ok"},
		{"a read of the index returns another request (a fork)", []op{ack,
			{kind: opReadIndex, rid: "b", index: 0, found: true, call: ms(20), ret: ms(30)}}, nil, nil, "Illegal"},
		{"the request found at another index", []op{ack,
			{kind: opReadID, rid: "a", index: 3, found: true, call: ms(20), ret: ms(30)}}, nil, nil, "Illegal"},
		{"two acknowledgements of one index", []op{ack,
			{kind: opSubmit, rid: "b", index: 0, call: ms(5), ret: ms(15)}}, nil, nil, "Illegal"},
		{"found before it was submitted", []op{
			{kind: opReadID, rid: "a", index: 0, found: true, call: ms(0), ret: ms(5)},
			{kind: opSubmit, rid: "a", index: 0, call: ms(10), ret: ms(20)}}, nil, nil, "Illegal"},
		{"never acknowledged, but recorded and found", []op{
			{kind: opReadID, rid: "p", index: 0, found: true, call: ms(5), ret: ms(6)}},
			[]string{"p"}, []*nodeLog{{byRID: map[string][]uint64{"p": {0}}}}, "Ok"},
		{"never acknowledged, not recorded, yet found", []op{
			{kind: opReadID, rid: "p", index: 0, found: true, call: ms(5), ret: ms(6)}},
			[]string{"p"}, []*nodeLog{{byRID: map[string][]uint64{}}}, "Illegal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := linearizable(tc.ops, tc.pending, tc.logs, ms(100)); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestReadRegressions(t *testing.T) {
	ops := []op{
		{kind: opSubmit, rid: "a", index: 0, call: ms(0), ret: ms(10)},
		{kind: opReadID, rid: "a", node: "hz-1", found: true, call: ms(20), ret: ms(25)},
		{kind: opReadID, rid: "a", node: "hz-1", call: ms(30), ret: ms(35)}, // hz-1 lost it
		{kind: opReadID, rid: "a", node: "hz-2", call: ms(30), ret: ms(35)}, // hz-2 behind
		{kind: opReadIndex, index: 0, node: "hz-2", found: true, call: ms(40), ret: ms(45)},
		{kind: opReadIndex, index: 0, node: "hz-2", call: ms(50), ret: ms(55)}, // and lost it
	}
	reg, stale := readRegressions(ops)
	if reg != 2 || stale != 1 {
		t.Fatalf("regressions %d, stale %d; want 2 and 1", reg, stale)
	}
}

// Two signed heads of one size with different roots are a fork; a head
// that does not verify is counted apart.
func TestHeadForks(t *testing.T) {
	const court = "hangzhou.court.example/evidence"
	key, _ := sm2.GenerateKey()
	v, _ := checkpoint.NewVerifier(court, key.Public())
	s, _ := checkpoint.NewSigner(court, key)
	other, _ := sm2.GenerateKey()
	os, _ := checkpoint.NewSigner(court, other)
	sign := func(s *checkpoint.Signer, size uint64, root byte) []byte {
		t.Helper()
		r := make([]byte, 32)
		r[0] = root
		b, err := checkpoint.Sign(checkpoint.TreeHead{Origin: court, Size: size, Root: r, Time: time.UnixMilli(1)}, s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	h := newHistory(&courtProcs{id: court, verifier: v})
	h.head(sign(s, 5, 1), "hz-1")
	h.head(sign(s, 5, 1), "hz-2")
	h.head(sign(s, 6, 1), "hz-2")
	if len(h.forks) != 0 {
		t.Fatalf("forks in a consistent history: %v", h.forks)
	}
	h.head(sign(s, 5, 2), "hz-3")
	h.head(sign(os, 7, 2), "hz-3")
	if len(h.forks) != 1 || !strings.Contains(h.forks[0], "hz-3") || len(h.badSigs) != 1 {
		t.Fatalf("forks %v, bad signatures %v; want one of each", h.forks, h.badSigs)
	}
}
