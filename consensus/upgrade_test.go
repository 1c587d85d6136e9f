package consensus

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/evidence"
)

// A committed batch holding an entry of a format newer than this build
// reads is not skipped as stale (the other nodes record it): the node
// stops applying there, is not ready, and says to upgrade; its ledger and
// applied index stay where they were, so a newer build replays the batch.
func TestNewerEntryVersionStopsApplying(t *testing.T) {
	h := newIndexHarness(t, filepath.Join(t.TempDir(), "ledger.db"), 100)
	if res := h.appendBatch(0, 3); res != nil {
		t.Fatal(res)
	}
	size, applied := h.f.size(), h.f.appliedIndex()

	now := time.Now().UTC().Truncate(time.Millisecond)
	s := evidence.Submission{Court: testCourt, Platform: "esign.example", RequestID: rid(3), Category: evidence.CategoryChat,
		Title: "买卖合同", SignedAt: now, Fingerprint: fp(3)}
	sig, err := s.Sign(h.platform)
	if err != nil {
		t.Fatal(err)
	}
	e := evidence.NewEntry(testCourt, size, now, s, sig)
	raw := bytes.Replace(e.Marshal(), []byte("evidence-entry/v1"), []byte("evidence-entry/v7"), 1)
	next := h.rng.Clone()
	if err := next.Append(merkle.LeafHash(raw), nil); err != nil {
		t.Fatal(err)
	}
	signed, err := checkpoint.Sign(checkpoint.TreeHead{Origin: testCourt, Size: next.Size(), Root: next.Root(), Time: now}, h.signer)
	if err != nil {
		t.Fatal(err)
	}
	h.raftIdx++
	res := h.f.Apply(&raft.Log{Index: h.raftIdx, Type: raft.LogCommand, Data: (&appendBatch{entries: [][]byte{raw}, signedHead: signed}).encode()})
	err, _ = res.(error)
	if !errors.Is(err, ErrNeedsUpgrade) || !errors.Is(err, evidence.ErrNewerVersion) {
		t.Fatalf("batch with a newer entry: %v, want ErrNeedsUpgrade", res)
	}
	if h.f.size() != size || h.f.appliedIndex() != applied {
		t.Fatalf("size %d applied %d after the refusal, want %d %d", h.f.size(), h.f.appliedIndex(), size, applied)
	}
	if err := h.f.refusalLocked(); !errors.Is(err, ErrNeedsUpgrade) {
		t.Fatalf("the ledger still takes entries: %v", err)
	}
	// Nothing after it is applied either.
	if res := h.appendBatch(3, 4); !errors.Is(res.(error), ErrNeedsUpgrade) {
		t.Fatalf("a later batch: %v, want ErrNeedsUpgrade", res)
	}
}
