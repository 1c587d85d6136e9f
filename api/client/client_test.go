package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

const court = "hangzhou.court.example/evidence"

func newSigner(t *testing.T, name string) *checkpoint.Signer {
	t.Helper()
	k, err := sm2.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := checkpoint.NewSigner(name, k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// receipt returns the API receipt of the second of two entries, under a
// head signed by s.
func receipt(t *testing.T, s *checkpoint.Signer) *pb.Receipt {
	t.Helper()
	platform, _ := sm2.GenerateKey()
	store := merkle.NewMemStore()
	var last []byte
	at := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	for i := range 2 {
		sub := evidence.Submission{Court: court, Platform: "esign.example", RequestID: "r" + string(rune('0'+i)),
			Fingerprint: sm3.Sum([]byte{byte(i)}), Category: evidence.CategoryContract, Title: "合同", SignedAt: at}
		sig, err := sub.Sign(platform)
		if err != nil {
			t.Fatal(err)
		}
		e := evidence.NewEntry(court, uint64(i), at, sub, sig)
		last = e.Marshal()
		store.AppendLeaf(last)
	}
	ctx := context.Background()
	root, err := merkle.Root(ctx, store, 2)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := merkle.Inclusion(ctx, store, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	head, err := checkpoint.Sign(checkpoint.TreeHead{Origin: court, Size: 2, Root: root, Time: at}, s)
	if err != nil {
		t.Fatal(err)
	}
	return &pb.Receipt{Entry: &pb.Entry{Canonical: last}, InclusionProof: proof, TreeHead: &pb.SignedTreeHead{Note: string(head)}}
}

// A client given a court's current key and its earlier one verifies
// receipts under heads signed by either.
func TestVerifyReceiptRotatedKey(t *testing.T) {
	oldKey, newKey := newSigner(t, court), newSigner(t, court)
	c, err := New(Config{Endpoints: []string{"127.0.0.1:1"}, Court: newKey.Verifier(), CourtKeys: []*checkpoint.Verifier{oldKey.Verifier()}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for name, s := range map[string]*checkpoint.Signer{"old key": oldKey, "new key": newKey} {
		if _, err := c.VerifyReceipt(receipt(t, s)); err != nil {
			t.Errorf("receipt under the %s: %v", name, err)
		}
	}
	if _, err := c.VerifyReceipt(receipt(t, newSigner(t, court))); err == nil {
		t.Error("a receipt under a key the client was not given verified")
	}
	if _, err := VerifyReceipt(receipt(t, oldKey), newKey.Verifier()); err == nil {
		t.Error("a receipt under the old key verified with the new key alone")
	}
}

func TestNewRefusesKeysOfAnotherCourt(t *testing.T) {
	_, err := New(Config{Endpoints: []string{"127.0.0.1:1"}, Court: newSigner(t, court).Verifier(),
		CourtKeys: []*checkpoint.Verifier{newSigner(t, "beijing.court.example/evidence").Verifier()}})
	if err == nil || !strings.Contains(err.Error(), "not a key of Court") {
		t.Fatalf("New = %v, want another court's key refused", err)
	}
}

// Sign names the court the client files with (issue 13, item 10): the
// signed bytes carry the court of Config.Court, so the submission cannot
// be filed at another court.
func TestSignNamesTheCourt(t *testing.T) {
	key, _ := sm2.GenerateKey()
	sub := evidence.Submission{RequestID: "r-1", Fingerprint: sm3.Sum([]byte("f")), Category: evidence.CategoryChat, Title: "t"}
	c, err := New(Config{Endpoints: []string{"127.0.0.1:1"}, Court: newSigner(t, court).Verifier(), Platform: "esign.example", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.Sign(sub)
	if err != nil {
		t.Fatal(err)
	}
	if s.Submission.Court != court {
		t.Fatalf("signed for court %q, want %q", s.Submission.Court, court)
	}
	signed := sub
	signed.Court, signed.Platform, signed.SignedAt = court, "esign.example", s.Submission.SignedAt.AsTime()
	if err := evidence.VerifySignature(&signed, s.Signature, key.Public()); err != nil {
		t.Fatalf("the signature is not over the submission naming %s: %v", court, err)
	}
	other := sub
	other.Court = "beijing.court.example/evidence"
	if _, err := c.Sign(other); err == nil || !strings.Contains(err.Error(), "beijing.court.example/evidence") {
		t.Fatalf("signed a submission for another court than the client's: %v", err)
	}
	noCourt, err := New(Config{Endpoints: []string{"127.0.0.1:1"}, Platform: "esign.example", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer noCourt.Close()
	if _, err := noCourt.Sign(sub); err == nil || !strings.Contains(err.Error(), "Config.Court") {
		t.Fatalf("signed without knowing the court: %v", err)
	}
}

// Courts mirror each other: a receipt read at Beijing of evidence filed at
// Hangzhou is signed by Hangzhou and verifies with Hangzhou's key from
// Trust, whichever court the client talks to; a receipt of a court the
// client holds no key of is refused with ErrUntrustedCourt.
func TestVerifyReceiptByOriginCourt(t *testing.T) {
	hz, bj := newSigner(t, court), newSigner(t, "beijing.court.example/evidence")
	c, err := New(Config{Endpoints: []string{"127.0.0.1:1"}, Court: bj.Verifier(),
		Trust: map[string][]*checkpoint.Verifier{court: {hz.Verifier()}, bj.Name(): {bj.Verifier()}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.VerifyReceipt(receipt(t, hz)); err != nil {
		t.Fatalf("a receipt of Hangzhou, read through Beijing: %v", err)
	}
	// A submission's receipt must be of the court filed with.
	var unverified *UnverifiedError
	if _, err := c.verifySubmitted(receipt(t, hz)); !errors.As(err, &unverified) {
		t.Fatalf("a submission to Beijing answered with Hangzhou's receipt: %v", err)
	}
	only, _ := New(Config{Endpoints: []string{"127.0.0.1:1"}, Court: bj.Verifier()})
	defer only.Close()
	if _, err := only.VerifyReceipt(receipt(t, hz)); !errors.Is(err, ErrUntrustedCourt) {
		t.Fatalf("a receipt of a court without a key: %v, want ErrUntrustedCourt", err)
	}
	if _, err := New(Config{Endpoints: []string{"127.0.0.1:1"}, Trust: map[string][]*checkpoint.Verifier{court: {bj.Verifier()}}}); err == nil {
		t.Fatal("New took Beijing's key listed under Hangzhou")
	}
}

// A node's address copied as a URL is taken as its gRPC address.
func TestEndpointsGivenAsURLs(t *testing.T) {
	c, err := New(Config{Endpoints: []string{"https://127.0.0.1:1/", "HTTP://127.0.0.1:2", "127.0.0.1:3"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, want := range []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"} {
		if c.eps[i].addr != want {
			t.Errorf("endpoint %d is %q, want %q", i, c.eps[i].addr, want)
		}
	}
}
