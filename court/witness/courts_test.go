package witness

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
)

const (
	hz = "hangzhou.court.example/evidence"
	bj = "beijing.court.example/evidence"
	gz = "guangzhou.court.example/evidence"
)

func key(t *testing.T) *sm2.PrivateKey {
	t.Helper()
	k, err := sm2.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The network's configuration is checked as a whole: every court once,
// none of them this court, each with a key and an endpoint, no key twice.
func TestNewCourts(t *testing.T) {
	self, b, g := key(t), key(t), key(t)
	ok := []OtherCourt{{Court: bj, Endpoints: []string{"b:1"}, Key: b.Public()}, {Court: gz, Endpoints: []string{"g:1"}, Keys: []*sm2.PublicKey{g.Public()}}}
	c, err := NewCourts(hz, []*sm2.PublicKey{self.Public()}, ok)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Others(); !slices.Equal(got, []string{bj, gz}) {
		t.Errorf("Others() = %v", got)
	}
	if !c.Known(bj) || c.Known(hz) || c.Known("x.example/evidence") || c.Self() != hz {
		t.Error("Known/Self disagree with the configuration")
	}
	for _, tc := range []struct {
		name   string
		keys   []*sm2.PublicKey
		others []OtherCourt
		want   string
	}{
		{"own key twice", []*sm2.PublicKey{self.Public(), self.Public()}, nil, "listed twice"},
		{"itself", []*sm2.PublicKey{self.Public()}, []OtherCourt{{Court: hz, Endpoints: []string{"h:1"}, Key: b.Public()}}, "lists itself"},
		{"twice", []*sm2.PublicKey{self.Public()}, append(slices.Clone(ok), ok[0]), "listed twice"},
		{"no key", []*sm2.PublicKey{self.Public()}, []OtherCourt{{Court: bj, Endpoints: []string{"b:1"}}}, "a key and at least one endpoint"},
		{"no endpoint", []*sm2.PublicKey{self.Public()}, []OtherCourt{{Court: bj, Key: b.Public()}}, "a key and at least one endpoint"},
		{"bad ID", []*sm2.PublicKey{self.Public()}, []OtherCourt{{Court: "Beijing Court", Endpoints: []string{"b:1"}, Key: b.Public()}}, "not a valid court ID"},
		{"other's key twice", []*sm2.PublicKey{self.Public()}, []OtherCourt{{Court: bj, Endpoints: []string{"b:1"}, Key: b.Public(), Keys: []*sm2.PublicKey{b.Public()}}}, "listed twice"},
	} {
		if _, err := NewCourts(hz, tc.keys, tc.others); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

// signedHead is a head of court signed with k.
func signedHead(t *testing.T, court string, k *sm2.PrivateKey, size uint64) []byte {
	t.Helper()
	s, err := checkpoint.NewSigner(court, k)
	if err != nil {
		t.Fatal(err)
	}
	note, err := checkpoint.Sign(checkpoint.TreeHead{Origin: court, Size: size, Root: bytes.Repeat([]byte{byte(size)}, 32), Time: time.UnixMilli(1_700_000_000_000)}, s)
	if err != nil {
		t.Fatal(err)
	}
	return note
}

func cosign(t *testing.T, note []byte, court string, k *sm2.PrivateKey) []byte {
	t.Helper()
	c, err := checkpoint.NewCosigner(court, k, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	line, err := checkpoint.Cosign(note, c)
	if err != nil {
		t.Fatal(err)
	}
	out, err := checkpoint.WithSignatures(note, line)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Witnesses names only the courts whose cosignatures verify under keys
// this court holds; Cosignature takes back this court's own head cosigned
// by a known witness, and refuses anything else with its reason.
func TestWitnessesAndCosignatures(t *testing.T) {
	self, b, g, stranger := key(t), key(t), key(t), key(t)
	c, err := NewCourts(hz, []*sm2.PublicKey{self.Public()}, []OtherCourt{
		{Court: bj, Endpoints: []string{"b:1"}, Key: b.Public()}, {Court: gz, Endpoints: []string{"g:1"}, Key: g.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	own := signedHead(t, hz, self, 7)
	both := cosign(t, cosign(t, own, bj, b), gz, stranger) // "Guangzhou" with a key this court was not given
	if got := c.Witnesses(hz, both); !slices.Equal(got, []string{bj}) {
		t.Errorf("Witnesses = %v, want only %s", got, bj)
	}
	if got := c.Witnesses(bj, cosign(t, signedHead(t, bj, b, 3), hz, self)); !slices.Equal(got, []string{hz}) {
		t.Errorf("witnesses of Beijing's head = %v, want this court", got)
	}
	if got := c.Witnesses(hz, signedHead(t, hz, stranger, 7)); got != nil {
		t.Errorf("a head not signed by the court has witnesses %v", got)
	}

	headAt := func(size uint64) ([]byte, error) { return own, nil }
	h, line, err := c.Cosignature(bj, cosign(t, own, bj, b), headAt)
	if err != nil || h.Size != 7 || !bytes.HasPrefix(line, []byte("— "+bj+" ")) {
		t.Fatalf("Beijing's cosignature of this court's head: %v %q %v", h, line, err)
	}
	if _, _, err := c.Cosignature("x.example/evidence", own, headAt); !errors.Is(err, ErrUnknownCourt) {
		t.Errorf("an unknown witness: %v, want ErrUnknownCourt", err)
	}
	for _, tc := range []struct {
		name   string
		note   []byte
		headAt func(uint64) ([]byte, error)
		reason string
	}{
		{"no cosignature", own, headAt, "NO_COSIGNATURE"},
		{"cosigned by another key", cosign(t, own, bj, stranger), headAt, "NO_COSIGNATURE"},
		{"not a note", []byte("hello"), headAt, "BAD_COSIGNED_NOTE"},
		{"not this court's head", cosign(t, signedHead(t, hz, stranger, 7), bj, b), headAt, "BAD_COSIGNED_NOTE"},
		{"another head of the same size", cosign(t, signedHead(t, hz, self, 7), bj, b),
			func(uint64) ([]byte, error) { return signedHead(t, hz, self, 8), nil }, "UNKNOWN_HEAD"},
	} {
		_, _, err := c.Cosignature(bj, tc.note, tc.headAt)
		var ce *CosignatureError
		if !errors.As(err, &ce) || ce.Reason != tc.reason {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.reason)
		}
	}
}
