package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/evidence"
)

// signedBatch signs n submissions of platform as one batch with the
// cluster's platform key; edit, if set, changes the submissions first.
func (c *testCluster) signedBatch(platform, batchID string, n int, edit func(subs []evidence.Submission)) *evidence.SignedBatch {
	c.t.Helper()
	subs := make([]evidence.Submission, n)
	for i := range subs {
		subs[i] = c.submission(platform, fmt.Sprintf("%s-%d", batchID, i), []byte(batchID+fmt.Sprint(i))).Submission
	}
	if edit != nil {
		edit(subs)
	}
	b, err := evidence.SignBatch(c.platform, evidence.BatchHeader{Court: testCourt, Platform: platform, BatchID: batchID, SignedAt: time.Now()}, subs)
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

// A batch of 256 costs the leader one signature check, and every entry gets
// a receipt that verifies offline with the court's and the platform's keys;
// a retry returns the same receipts, and idempotency holds across single
// and batch filing.
func TestSubmitSignedBatchRoundTrip(t *testing.T) {
	c := inmemCluster(t, 3)
	c.registerPlatform("esign.example")
	leader := c.waitLeader()
	ctx := context.Background()

	// One submission filed alone first, to be found again in the batch.
	single := c.submission("esign.example", "b1-7", []byte("b17"))
	if res, err := leader.Submit(ctx, []SignedSubmission{single}); err != nil || res[0].Err != nil {
		t.Fatalf("single filing: %v %v", err, res)
	}
	before := leader.sigChecks.Load()

	const n = 256
	b := c.signedBatch("esign.example", "b1", n, func(subs []evidence.Submission) { subs[7] = single.Submission })
	results, err := leader.SubmitSignedBatch(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if got := leader.sigChecks.Load() - before; got != 1 {
		t.Fatalf("%d platform signature checks for a batch of %d, want 1", got, n)
	}
	for i, r := range results {
		if r.Err != nil {
			t.Fatalf("submission %d: %v", i, r.Err)
		}
		if _, err := r.Receipt.Verify(c.signer.Verifier()); err != nil {
			t.Fatalf("receipt %d: %v", i, err)
		}
		e := r.Receipt.Entry
		if i == 7 {
			// Filed alone before: the original receipt, signed alone.
			if !r.Duplicate || e.Batch != nil || e.Index != 0 {
				t.Fatalf("submission 7, filed alone before: duplicate %v, batch %v, index %d", r.Duplicate, e.Batch != nil, e.Index)
			}
			continue
		}
		if r.Duplicate || e.Batch == nil || e.Batch.Leaf != uint32(i) || e.Batch.Header.BatchID != "b1" {
			t.Fatalf("submission %d: duplicate %v, batch %+v", i, r.Duplicate, e.Batch)
		}
		// Offline: the entry's bytes, decoded afresh, carry the batch, and
		// its signature verifies under the platform's key.
		dec, err := evidence.UnmarshalEntry(e.Marshal())
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if err := dec.VerifySignature(c.platform.Public()); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	c.waitConverged(n)

	// Followers hold the batch-filed entries too.
	for _, l := range c.all() {
		e, err := l.EntryByEvidenceID(results[100].Receipt.Entry.EvidenceID)
		if err != nil || e.Batch == nil || e.Batch.Leaf != 100 {
			t.Fatalf("%s: entry of leaf 100: %v %+v", l.cfg.NodeID, err, e)
		}
	}

	// The same batch again: the same receipts, nothing added.
	again, err := leader.SubmitSignedBatch(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range again {
		if r.Err != nil || !r.Duplicate || r.Receipt.Entry.Index != results[i].Receipt.Entry.Index ||
			!bytes.Equal(r.Receipt.Entry.Marshal(), results[i].Receipt.Entry.Marshal()) {
			t.Fatalf("retry %d: %+v", i, r)
		}
	}
	// One of the batch filed alone: its batch receipt.
	alone := SignedSubmission{Submission: b.Submissions[3]}
	alone.Signature, err = alone.Submission.Sign(c.platform)
	if err != nil {
		t.Fatal(err)
	}
	res, err := leader.Submit(ctx, []SignedSubmission{alone})
	if err != nil || res[0].Err != nil || !res[0].Duplicate || res[0].Receipt.Entry.Batch == nil || res[0].Receipt.Entry.Index != results[3].Receipt.Entry.Index {
		t.Fatalf("batch-filed submission filed alone: %v %+v", err, res[0])
	}
	// The same request ID with another file, in a new batch: a conflict for
	// that submission, the others recorded.
	conflict := c.signedBatch("esign.example", "b2", 3, func(subs []evidence.Submission) { subs[1].RequestID = "b1-5" })
	res, err = leader.SubmitSignedBatch(ctx, conflict)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res[1].Err, ErrRequestConflict) || res[0].Err != nil || res[2].Err != nil {
		t.Fatalf("batch reusing a request ID: %v / %v / %v", res[0].Err, res[1].Err, res[2].Err)
	}
	c.waitConverged(n + 2)
}

// Every refusal of a signed batch: the whole batch for what concerns the
// header or its signature, one submission for what concerns it alone.
func TestSubmitSignedBatchRefusals(t *testing.T) {
	now := time.Now()
	c := inmemClusterWith(t, 1, func(cfg *Config) {
		cfg.TimePolicy = evidence.TimePolicy{MaxSkew: time.Minute, MaxAge: time.Hour}
	})
	c.registerPlatform("esign.example")
	c.registerPlatform("other.example")
	leader := c.waitLeader()
	ctx := context.Background()
	other, err := sm2.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	resign := func(t *testing.T, b *evidence.SignedBatch, key *sm2.PrivateKey) {
		t.Helper()
		if b.Signature, err = b.Header.Sign(key); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		edit func(t *testing.T, b *evidence.SignedBatch)
		want *evidence.Reason // the whole batch refused for this
		err  error            // or for this
	}{
		{"bad signature", func(t *testing.T, b *evidence.SignedBatch) { resign(t, b, other) }, evidence.ErrSignature, nil},
		{"signature of another header", func(t *testing.T, b *evidence.SignedBatch) { b.Header.BatchID = "forged" }, evidence.ErrSignature, nil},
		{"wrong court", func(t *testing.T, b *evidence.SignedBatch) {
			b.Header.Court = "shanghai.court.example/evidence"
			resign(t, b, c.platform)
		}, evidence.ErrWrongCourt, nil},
		{"platform not registered", func(t *testing.T, b *evidence.SignedBatch) {
			b.Header.Platform = "nobody.example"
			resign(t, b, c.platform)
		}, nil, ErrUnknownPlatform},
		{"n mismatch: fewer sent", func(t *testing.T, b *evidence.SignedBatch) {
			b.Submissions, b.Paths = b.Submissions[:3], b.Paths[:3]
		}, evidence.ErrBatchCount, nil},
		{"n mismatch: header says more", func(t *testing.T, b *evidence.SignedBatch) {
			b.Header.Count = 5
			resign(t, b, c.platform)
		}, evidence.ErrBatchCount, nil},
		{"paths missing", func(t *testing.T, b *evidence.SignedBatch) { b.Paths = b.Paths[:1] }, evidence.ErrBatchPath, nil},
		{"duplicate request ID", func(t *testing.T, b *evidence.SignedBatch) {
			b.Submissions[2] = b.Submissions[1]
		}, evidence.ErrBatchDuplicate, nil},
		{"signed in the future", func(t *testing.T, b *evidence.SignedBatch) {
			b.Header.SignedAt = now.Add(10 * time.Minute).Truncate(time.Millisecond)
			resign(t, b, c.platform)
		}, evidence.ErrTimestampFuture, nil},
		{"signed too long ago", func(t *testing.T, b *evidence.SignedBatch) {
			b.Header.SignedAt = now.Add(-2 * time.Hour).Truncate(time.Millisecond)
			resign(t, b, c.platform)
		}, evidence.ErrTimestampStale, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := leader.Size()
			b := c.signedBatch("esign.example", "ref", 4, nil)
			tc.edit(t, b)
			res, err := leader.SubmitSignedBatch(ctx, b)
			if res != nil {
				t.Fatalf("results for a batch that should be refused whole: %+v", res)
			}
			if tc.want != nil && !errors.Is(err, tc.want) || tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v%v", err, tc.want, tc.err)
			}
			if leader.Size() != before {
				t.Fatal("a refused batch recorded something")
			}
		})
	}

	// Per submission: the rest of the batch is recorded.
	for _, tc := range []struct {
		name string
		edit func(b *evidence.SignedBatch)
		want *evidence.Reason
	}{
		{"path that does not lead to the root", func(b *evidence.SignedBatch) { b.Paths[1][0][0] ^= 1 }, evidence.ErrBatchPath},
		{"path of another leaf", func(b *evidence.SignedBatch) { b.Paths[1] = b.Paths[0] }, evidence.ErrBatchPath},
		{"submission not the one signed", func(b *evidence.SignedBatch) { b.Submissions[1].Title = "changed" }, evidence.ErrBatchPath},
		{"submission of another platform", func(b *evidence.SignedBatch) { b.Submissions[1].Platform = "other.example" }, evidence.ErrBatchMismatch},
		{"submission for another court", func(b *evidence.SignedBatch) {
			b.Submissions[1].Court = "shanghai.court.example/evidence"
		}, evidence.ErrWrongCourt},
		{"submission signed too long ago", func(b *evidence.SignedBatch) {
			b.Submissions[1].SignedAt = now.Add(-2 * time.Hour).Truncate(time.Millisecond)
		}, evidence.ErrTimestampStale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := leader.Size()
			id := fmt.Sprintf("sub%d", before)
			b := c.signedBatch("esign.example", id, 3, nil)
			tc.edit(b)
			res, err := leader.SubmitSignedBatch(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			if !errors.Is(res[1].Err, tc.want) {
				t.Fatalf("submission 1: %v, want %v", res[1].Err, tc.want)
			}
			for _, i := range []int{0, 2} {
				if res[i].Err != nil || res[i].Receipt.Entry.Batch.Leaf != uint32(i) {
					t.Fatalf("submission %d: %+v", i, res[i])
				}
			}
			if leader.Size() != before+2 {
				t.Fatalf("size %d, want %d", leader.Size(), before+2)
			}
		})
	}
}

// A retry of a recorded batch returns its receipts even once the batch
// would be refused: its platform revoked since, its signed-at beyond the
// court's time policy. A new batch is refused then.
func TestSubmitSignedBatchRetryLater(t *testing.T) {
	var offset atomic.Int64
	c := inmemClusterWith(t, 1, func(cfg *Config) {
		cfg.Clock = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	})
	c.registerPlatform("esign.example")
	leader := c.waitLeader()
	ctx := context.Background()
	b := c.signedBatch("esign.example", "later", 5, nil)
	first, err := leader.SubmitSignedBatch(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	same := func(what string) {
		t.Helper()
		again, err := leader.SubmitSignedBatch(ctx, b)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		for i, r := range again {
			if r.Err != nil || !r.Duplicate || !bytes.Equal(r.Receipt.Entry.Marshal(), first[i].Receipt.Entry.Marshal()) {
				t.Fatalf("%s: submission %d: %+v", what, i, r)
			}
			if _, err := r.Receipt.Verify(c.signer.Verifier()); err != nil {
				t.Fatalf("%s: receipt %d: %v", what, i, err)
			}
		}
	}
	offset.Store(int64(25 * time.Hour))
	same("a day later")
	if _, err := leader.SubmitSignedBatch(ctx, c.signedBatch("esign.example", "new", 2, nil)); !errors.Is(err, evidence.ErrTimestampStale) {
		t.Fatalf("a new batch signed a day before the court's clock: %v", err)
	}
	offset.Store(0)
	if err := leader.RevokePlatform(ctx, "esign.example"); err != nil {
		t.Fatal(err)
	}
	same("after revocation")
	if _, err := leader.SubmitSignedBatch(ctx, c.signedBatch("esign.example", "new", 2, nil)); !errors.Is(err, ErrUnknownPlatform) {
		t.Fatalf("a new batch of a revoked platform: %v", err)
	}
	if leader.Size() != 5 {
		t.Fatalf("size %d, want 5", leader.Size())
	}
}
