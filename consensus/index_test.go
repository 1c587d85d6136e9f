package consensus

import (
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

// flushIndexesNow writes every pending index of f into its buckets.
func flushIndexesNow(tb testing.TB, f *fsm) {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	every := f.indexFlushEvery
	f.indexFlushEvery = 1
	defer func() { f.indexFlushEvery = every }()
	var flushed []string
	if err := f.db.Update(func(tx *bolt.Tx) (err error) { flushed, err = f.flushIndexes(tx); return }); err != nil {
		tb.Fatal(err)
	}
	f.indexesFlushed(flushed)
}

// reloadIndexes reads f's pending indexes again from its file, after a test
// wrote to the file behind the fsm's back.
func reloadIndexes(tb testing.TB, f *fsm) {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.db.View(func(tx *bolt.Tx) (err error) { f.index, err = loadIndexes(tx); return }); err != nil {
		tb.Fatal(err)
	}
}

// indexHarness appends batches of entries to an fsm alone.
type indexHarness struct {
	t        *testing.T
	f        *fsm
	signer   *checkpoint.Signer
	platform *sm2.PrivateKey
	rng      *merkle.Range
	raftIdx  uint64
}

func newIndexHarness(t *testing.T, path string, flushEvery int) *indexHarness {
	key, err := sm2.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := checkpoint.NewSigner(testCourt, key)
	if err != nil {
		t.Fatal(err)
	}
	h := &indexHarness{t: t, signer: signer, platform: key, rng: merkle.NewRange()}
	h.open(path, flushEvery)
	return h
}

func (h *indexHarness) open(path string, flushEvery int) {
	f, err := openFSM(path, testCourt, discardLogger())
	if err != nil {
		h.t.Fatal(err)
	}
	f.indexFlushEvery = flushEvery
	h.t.Cleanup(func() { f.close() })
	h.f = f
}

// fp is the fingerprint of request r: two requests share each one.
func fp(r int) evidence.Fingerprint { return sm3.Sum([]byte(fmt.Sprintf("file %d", r/2))) }

func rid(r int) string { return fmt.Sprintf("req-%d", r) }

// appendBatch records requests from..to-1 as one batch and returns what
// Apply said.
func (h *indexHarness) appendBatch(from, to int) any {
	now := time.Now().UTC().Truncate(time.Millisecond)
	next := h.rng.Clone()
	var raws [][]byte
	for r := from; r < to; r++ {
		s := evidence.Submission{Court: testCourt, Platform: "esign.example", RequestID: rid(r), Category: evidence.CategoryChat,
			Title: "买卖合同", SignedAt: now, Fingerprint: fp(r)}
		sig, err := s.Sign(h.platform)
		if err != nil {
			h.t.Fatal(err)
		}
		e := evidence.NewEntry(testCourt, next.Size(), now, s, sig)
		raw := e.Marshal()
		if err := next.Append(merkle.LeafHash(raw), nil); err != nil {
			h.t.Fatal(err)
		}
		raws = append(raws, raw)
	}
	signed, err := checkpoint.Sign(checkpoint.TreeHead{Origin: testCourt, Size: next.Size(), Root: next.Root(), Time: now}, h.signer)
	if err != nil {
		h.t.Fatal(err)
	}
	h.raftIdx++
	res := h.f.Apply(&raft.Log{Index: h.raftIdx, Type: raft.LogCommand, Data: (&appendBatch{entries: raws, signedHead: signed}).encode()})
	if res == nil {
		h.rng = next
	}
	return res
}

// check asserts that requests 0..n-1 are found by evidence ID and by
// fingerprint at their indexes, and request n is not.
func (h *indexHarness) check(n int) {
	h.t.Helper()
	v := &LogView{f: h.f, court: testCourt, own: true}
	for r := 0; r < n; r++ {
		e, err := v.EntryByEvidenceID(evidence.EvidenceID(testCourt, "esign.example", rid(r)))
		if err != nil || e.Index != uint64(r) {
			h.t.Fatalf("request %d by evidence ID: %v (index %v)", r, err, e)
		}
		got, err := v.Lookup(fp(r), 10)
		want := min(2, n-r/2*2)
		if err != nil || len(got) != want || got[0].Index != uint64(r/2*2) {
			h.t.Fatalf("lookup of request %d's fingerprint: %d entries (want %d), %v", r, len(got), want, err)
		}
	}
	if _, err := v.EntryByEvidenceID(evidence.EvidenceID(testCourt, "esign.example", rid(n))); !errors.Is(err, ErrNotFound) {
		h.t.Fatalf("request %d, never recorded: %v", n, err)
	}
}

func (h *indexHarness) indexed() uint64 {
	var v uint64
	if err := h.f.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		v = indexedUpTo(meta, getU64(meta.Get(keySize)))
		return nil
	}); err != nil {
		h.t.Fatal(err)
	}
	return v
}

// The index buckets take the newest entries in one pass every flushEvery
// entries; in between, reads, lookups and the check for evidence already
// recorded see them in memory; a restart reads them back from the entries.
func TestDeferredIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	h := newIndexHarness(t, path, 10)
	n := 0
	for _, size := range []int{3, 4, 2, 6, 1, 9} {
		if res := h.appendBatch(n, n+size); res != nil {
			t.Fatalf("batch %d..%d: %v", n, n+size, res)
		}
		n += size
		h.check(n)
	}
	// 3+4+2+6 = 15 ≥ 10: the fourth batch flushed; 1+9 = 10: the sixth.
	if got := h.indexed(); got != 25 {
		t.Fatalf("indexed up to %d, want 25", got)
	}
	if res := h.appendBatch(n, n+4); res != nil {
		t.Fatal(res)
	}
	n += 4
	if got := h.indexed(); got != 25 {
		t.Fatalf("indexed up to %d after a small batch, want 25", got)
	}
	// A batch that repeats a request is refused whole, pending or flushed.
	for _, r := range []int{2, n - 1} {
		before := h.rng.Size()
		if res := h.appendBatch(r, r+1); !errors.Is(res.(error), ErrStaleBatch) {
			t.Fatalf("request %d again: %v, want ErrStaleBatch", r, res)
		}
		if h.f.size() != before {
			t.Fatalf("a refused batch changed the size")
		}
	}
	h.check(n)

	// A restart reads the 4 pending entries back.
	h.f.close()
	h.open(path, 10)
	if p := h.f.index[testCourt]; p.from != 25 || p.n != 4 {
		t.Fatalf("pending after restart: from %d, %d entries; want 25, 4", p.from, p.n)
	}
	h.check(n)
	if err := verifyLedgerFile(h.f.db, path, testCourt); err != nil {
		t.Fatalf("verify: %v", err)
	}
}

// A transaction that fails leaves the pending index as the file is: the
// entries it would have added are not found.
func TestDeferredIndexFailedWrite(t *testing.T) {
	h := newIndexHarness(t, filepath.Join(t.TempDir(), "ledger.db"), 4)
	if res := h.appendBatch(0, 3); res != nil {
		t.Fatal(res)
	}
	h.f.failWrite = func() error { return syscall.ENOSPC }
	if res := h.appendBatch(3, 6); res == nil {
		t.Fatal("a failed write was applied")
	}
	h.f.failWrite = nil
	h.check(3)
}

// A ledger written before deferred indexing has no record of where its
// index buckets end: they hold every entry, and it opens as such.
func TestDeferredIndexOldFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	h := newIndexHarness(t, path, 1) // every batch goes to the buckets
	if res := h.appendBatch(0, 7); res != nil {
		t.Fatal(res)
	}
	if err := h.f.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyIndexed) }); err != nil {
		t.Fatal(err)
	}
	h.f.close()
	h.open(path, 100)
	if p := h.f.index[testCourt]; p.from != 7 || p.n != 0 {
		t.Fatalf("pending of an old file: from %d, %d entries; want 7, 0", p.from, p.n)
	}
	h.check(7)
}

// An entry damaged in the file while still indexed in memory is found when
// the file is opened, and the error names the file.
func TestDamagedPendingEntryFoundAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	h := newIndexHarness(t, path, 100)
	if res := h.appendBatch(0, 5); res != nil {
		t.Fatal(res)
	}
	if err := h.f.db.Update(func(tx *bolt.Tx) error {
		lb := ownLog(tx)
		return lb.entries.Put(u64(2), flip(lb.entries.Get(u64(2)), 100))
	}); err != nil {
		t.Fatal(err)
	}
	h.f.close()
	_, err := openFSM(path, testCourt, discardLogger())
	wantCorrupt(t, "open", err, path)
}

// The bound grows with the index, within its limits.
func TestIndexFlushBound(t *testing.T) {
	f := &fsm{}
	for _, c := range []struct {
		indexed uint64
		want    int
	}{
		{0, 16384}, {100_000, 16384}, {1_000_000, 31250}, {8_388_608, 262144}, {1_000_000_000, 262144},
	} {
		if got := f.flushEvery(c.indexed); got != c.want {
			t.Errorf("flushEvery(%d) = %d, want %d", c.indexed, got, c.want)
		}
	}
	f.indexFlushEvery = 3
	if got := f.flushEvery(1 << 30); got != 3 {
		t.Errorf("set bound: %d", got)
	}
}
