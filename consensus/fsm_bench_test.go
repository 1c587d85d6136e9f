package consensus

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
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
// writes per commit (one pwrite each); the ledger grows through the run,
// as it does in production.
func BenchmarkApplyBatch(b *testing.B) {
	for _, n := range []int{1, 16, 256} {
		b.Run("entries="+strconv.Itoa(n), func(b *testing.B) {
			h := newHarness(b)
			f, err := openFSM(filepath.Join(b.TempDir(), "ledger.db"), testCourt, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer f.close()
			// The state machine does not verify the platforms' signatures
			// (the leader did), so one real signature serves every entry.
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
					s.RequestID = fmt.Sprintf("req-%d", seq)
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
			b.ReportMetric(float64(writes()-writesBefore)/float64(b.N), "pagewrites/op")
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/entry")
		})
	}
}
