package consensus

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

// BenchmarkApplyBatch applies one batch command of n entries per op to a
// ledger file on disk, as every node does for every batch: decode, check,
// write, one synced bbolt commit. pagewrites/op counts bbolt's page
// writes per commit (one pwrite each) and bytes/entry the bytes of those
// pages per entry; the ledger grows through the run, as it does in
// production.
//
// grown= starts from a ledger that already holds that many entries, where
// the hash-keyed evidence and fingerprint indexes span many pages; index=
// writes them with each batch (each-batch, as before issue 14) or every
// 16,384 entries or more (deferred, index.go). The flushes fall
// inside the timed ops, so their cost is in the figures.
func BenchmarkApplyBatch(b *testing.B) {
	for _, grown := range []int{0, 100_000} {
		for _, n := range []int{1, 16, 256} {
			for _, mode := range []string{"each-batch", "deferred"} {
				name := fmt.Sprintf("grown=%d/entries=%d/index=%s", grown, n, mode)
				b.Run(name, func(b *testing.B) {
					flushEvery := 0
					if mode == "each-batch" {
						flushEvery = 1
					}
					benchApply(b, grown, n, flushEvery)
				})
			}
		}
	}
}

// grownLedgers holds one ledger file per size, built once per run.
var grownLedgers sync.Map // size → path

func benchApply(b *testing.B, grown, n, flushEvery int) {
	path := filepath.Join(b.TempDir(), "ledger.db")
	if grown > 0 {
		src, ok := grownLedgers.Load(grown)
		if !ok {
			dir, err := os.MkdirTemp("", "grown-ledger")
			if err != nil {
				b.Fatal(err)
			}
			p := filepath.Join(dir, "ledger.db")
			f := buildLedger(b, p, grown, 256)
			f.close()
			src, _ = grownLedgers.LoadOrStore(grown, p)
		}
		raw, err := os.ReadFile(src.(string))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	h := newHarness(b)
	f, err := openFSM(path, testCourt, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer f.close()
	f.indexFlushEvery = flushEvery
	h.rng = f.rng.Clone()
	h.raftIdx = f.applied
	// The state machine does not verify the platforms' signatures (the
	// leader did), nor the heads' (it checks their roots), so one real
	// signature serves every entry.
	sub := evidence.Submission{Court: testCourt, Platform: "esign.example", RequestID: "r", Category: evidence.CategoryChat,
		Title: "买卖合同", SignedAt: time.Now()}
	sig, err := sub.Sign(h.platform)
	if err != nil {
		b.Fatal(err)
	}
	seq := 0
	next := func() *raft.Log {
		now := time.Now().UTC().Truncate(time.Millisecond)
		raws := make([][]byte, n)
		for i := range raws {
			seq++
			s := sub
			s.RequestID = "bench-" + strconv.Itoa(seq)
			s.Fingerprint = sm3.Sum([]byte(s.RequestID))
			s.SignedAt = now
			e := evidence.NewEntry(testCourt, h.rng.Size(), now, s, sig)
			raws[i] = e.Marshal()
			if err := h.rng.Append(merkle.LeafHash(raws[i]), nil); err != nil {
				b.Fatal(err)
			}
		}
		signed, err := checkpoint.Sign(checkpoint.TreeHead{Origin: testCourt, Size: h.rng.Size(), Root: h.rng.Root(), Time: now}, h.signer)
		if err != nil {
			b.Fatal(err)
		}
		h.raftIdx++
		return &raft.Log{Index: h.raftIdx, Type: raft.LogCommand, Data: (&appendBatch{entries: raws, signedHead: signed}).encode()}
	}
	writes := func() int64 { st := f.db.Stats(); return st.TxStats.GetWrite() }
	writesBefore := writes()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		l := next()
		b.StartTimer()
		if r := f.Apply(l); r != nil {
			b.Fatal(r)
		}
	}
	b.StopTimer()
	pages := float64(writes() - writesBefore)
	b.ReportMetric(pages/float64(b.N), "pagewrites/op")
	b.ReportMetric(pages*float64(os.Getpagesize())/float64(b.N*n), "bytes/entry")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/entry")
}
