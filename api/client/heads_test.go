package client

import (
	"bytes"
	"strings"
	"testing"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
)

// A head whose signature verified is not verified again for the next
// receipt under it, but everything else of each receipt is checked every
// time, and a head is remembered by its exact bytes: the same tree under a
// signature the client's keys do not make is refused.
func TestVerifiedHeadsAreRemembered(t *testing.T) {
	hz := newSigner(t, court)
	c, err := New(Config{Endpoints: []string{"127.0.0.1:1"}, Court: hz.Verifier()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	good := receipt(t, hz)
	for i := range 3 {
		if _, err := c.VerifyReceipt(good); err != nil {
			t.Fatalf("try %d: %v", i, err)
		}
	}
	if _, ok := c.heads.get([]byte(good.TreeHead.Note)); !ok {
		t.Fatal("the verified head was not remembered")
	}

	// Under the remembered head: a proof changed by a bit.
	bad := &pb.Receipt{Entry: good.Entry, TreeHead: good.TreeHead}
	for _, p := range good.InclusionProof {
		bad.InclusionProof = append(bad.InclusionProof, bytes.Clone(p))
	}
	bad.InclusionProof[0][0] ^= 1
	if _, err := c.VerifyReceipt(bad); err == nil || !strings.Contains(err.Error(), "proof") {
		t.Fatalf("changed proof under a remembered head: %v", err)
	}
	// Under the remembered head: another entry (a fresh fixture's, signed
	// by another platform key) with this receipt's proof.
	other := &pb.Receipt{Entry: receipt(t, hz).Entry, InclusionProof: good.InclusionProof, TreeHead: good.TreeHead}
	if _, err := c.VerifyReceipt(other); err == nil {
		t.Fatal("another entry with the remembered head's proof verified")
	}

	// The same tree head text signed by a key of the same name that the
	// client does not trust.
	k, _ := sm2.GenerateKey()
	forger, err := checkpoint.NewSigner(court, k)
	if err != nil {
		t.Fatal(err)
	}
	h, err := checkpoint.ParseUnverified([]byte(good.TreeHead.Note))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := checkpoint.Sign(h, forger)
	if err != nil {
		t.Fatal(err)
	}
	f := &pb.Receipt{Entry: good.Entry, InclusionProof: good.InclusionProof, TreeHead: &pb.SignedTreeHead{Note: string(forged)}}
	if _, err := c.VerifyReceipt(f); err == nil {
		t.Fatal("a head signed by an untrusted key verified because the same tree's head was remembered")
	}
}
