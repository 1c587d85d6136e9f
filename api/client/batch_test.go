package client

import (
	"strings"
	"testing"

	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

// SignBatch names the client's court and platform in every submission and
// in the header, signs once, and gives every submission a path to the root;
// the API request carries them in order.
func TestSignBatch(t *testing.T) {
	key, _ := sm2.GenerateKey()
	c, err := New(Config{Endpoints: []string{"127.0.0.1:1"}, Court: newSigner(t, court).Verifier(), Platform: "esign.example", Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var subs []evidence.Submission
	for i := range 5 {
		subs = append(subs, evidence.Submission{RequestID: "r-" + string(rune('a'+i)), Fingerprint: sm3.Sum([]byte{byte(i)}),
			Category: evidence.CategoryChat, Title: "t"})
	}
	b, err := c.SignBatch("batch-1", subs)
	if err != nil {
		t.Fatal(err)
	}
	if b.Header.Court != court || b.Header.Platform != "esign.example" || b.Header.Count != 5 {
		t.Fatalf("header %+v", b.Header)
	}
	if err := b.Header.VerifySignature(b.Signature, key.Public()); err != nil {
		t.Fatal(err)
	}
	for i := range b.Submissions {
		f := b.Filing(i)
		if err := f.CheckSubmission(&b.Submissions[i]); err != nil {
			t.Fatalf("submission %d: %v", i, err)
		}
	}
	if subs[0].Court != "" {
		t.Fatal("SignBatch changed the caller's submissions")
	}
	req := SignedBatchToPB(b)
	if len(req.Submissions) != 5 || req.Submissions[3].Submission.RequestId != "r-d" || len(req.Submissions[3].Path) != len(b.Paths[3]) ||
		req.Header.Count != 5 || string(req.Signature) != string(b.Signature) {
		t.Fatalf("request does not carry the batch: %v", req)
	}

	subs[2].Court = "beijing.court.example/evidence"
	if _, err := c.SignBatch("batch-2", subs); err == nil || !strings.Contains(err.Error(), "beijing.court.example/evidence") {
		t.Fatalf("signed a batch with a submission for another court: %v", err)
	}
	subs[2].Court, subs[2].RequestID = "", subs[1].RequestID
	if _, err := c.SignBatch("batch-3", subs); err == nil || !strings.Contains(err.Error(), "BATCH_DUPLICATE") && !strings.Contains(err.Error(), "twice") {
		t.Fatalf("signed a batch with a request ID twice: %v", err)
	}
}
