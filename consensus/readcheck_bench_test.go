package consensus

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

// buildLedger applies n entries in batches of batch to a fresh ledger file
// of testCourt at path, as the court's nodes do, and returns the open state
// machine. The state machine does not verify platforms' signatures (the
// leader did), so one real signature serves every entry and a large file
// builds fast. The entry with request ID "req-i" is at index i and has the
// fingerprint sm3.Sum("req-i").
func buildLedger(tb testing.TB, path string, n, batch int) *fsm {
	return buildLedgerFor(tb, path, testCourt, n, batch)
}

// buildLedgerFor is buildLedger for the ledger of court.
func buildLedgerFor(tb testing.TB, path, court string, n, batch int) *fsm {
	tb.Helper()
	key, err := sm2.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := checkpoint.NewSigner(court, key)
	if err != nil {
		tb.Fatal(err)
	}
	h := &fsmHarness{t: tb, signer: signer, platform: key, rng: merkle.NewRange()}
	f, err := openFSM(path, court, discardLogger())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.close() })
	sub := evidence.Submission{Court: court, Platform: "esign.example", RequestID: "r", Category: evidence.CategoryChat,
		Title: "买卖合同", SignedAt: time.Now()}
	sig, err := sub.Sign(h.platform)
	if err != nil {
		tb.Fatal(err)
	}
	for done := 0; done < n; {
		if done+batch >= n {
			// As in a ledger that has run a while, the index buckets hold
			// every entry, so damage done to them is found (index_test.go
			// covers the entries indexed in memory): the last batch's
			// commit writes them, and stays the file's last commit.
			f.indexFlushEvery = 1
			defer func() { f.indexFlushEvery = 0 }()
		}
		now := time.Now().UTC().Truncate(time.Millisecond)
		var raws [][]byte
		for ; len(raws) < batch && done < n; done++ {
			s := sub
			s.RequestID = "req-" + strconv.Itoa(done)
			s.Fingerprint = sm3.Sum([]byte(s.RequestID))
			s.SignedAt = now
			e := evidence.NewEntry(court, h.rng.Size(), now, s, sig)
			raw := e.Marshal()
			if err := h.rng.Append(merkle.LeafHash(raw), nil); err != nil {
				tb.Fatal(err)
			}
			raws = append(raws, raw)
		}
		signed, err := checkpoint.Sign(checkpoint.TreeHead{Origin: court, Size: h.rng.Size(), Root: h.rng.Root(), Time: now}, h.signer)
		if err != nil {
			tb.Fatal(err)
		}
		h.raftIdx++
		l := &raft.Log{Index: h.raftIdx, Type: raft.LogCommand, Data: (&appendBatch{entries: raws, signedHead: signed}).encode()}
		if r := f.Apply(l); r != nil {
			tb.Fatalf("apply batch ending at %d: %v", done, r)
		}
	}
	return f
}

// BenchmarkReads measures the reads a court serves most, on a ledger of
// 100,000 entries in batches of 64: an entry by index, by evidence ID, a
// fingerprint lookup, a receipt (entry, head, inclusion proof), an
// inclusion proof alone and the latest head. Every read checks what it
// serves against the hashes that commit to it (verify.go); compare with
// the numbers in the report of issue 11 for the cost of those checks.
func BenchmarkReads(b *testing.B) {
	const n = 100_000
	f := buildLedger(b, filepath.Join(b.TempDir(), "ledger.db"), n, 64)
	v := &LogView{f: f, court: testCourt, own: true}
	ids := make([]string, 1024)
	for i := range ids {
		e, err := v.Entry(uint64(i * (n / len(ids))))
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = e.EvidenceID
	}
	idx := func(i int) uint64 { return uint64(i*7919) % n }
	reads := []struct {
		name string
		read func(i int) error
	}{
		{"entry", func(i int) error { _, err := v.Entry(idx(i)); return err }},
		{"evidence-id", func(i int) error { _, err := v.EntryByEvidenceID(ids[i%len(ids)]); return err }},
		{"lookup", func(i int) error {
			_, err := v.Lookup(sm3.Sum([]byte(fmt.Sprintf("req-%d", idx(i)))), 10)
			return err
		}},
		{"receipt", func(i int) error { _, err := v.Receipt(idx(i)); return err }},
		{"inclusion-proof", func(i int) error { _, err := v.InclusionProof(idx(i), n); return err }},
		{"latest-head", func(int) error { _, err := v.LatestHead(); return err }},
	}
	for _, r := range reads {
		b.Run(r.name, func(b *testing.B) {
			cpu := cpuTime()
			for i := 0; b.Loop(); i++ {
				if err := r.read(i); err != nil {
					b.Fatal(err)
				}
			}
			// CPU time per read, which other processes on a shared
			// machine disturb far less than the wall time of ns/op.
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the CPU time (user and system) this process has used, in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkVerifyLedgerFile times the start-up check of a ledger of
// 100,000 entries (batches of 64) and, apart, its page walk, which
// openLedgerDB also runs before bbolt opens the file. MB reports the
// file's size.
func BenchmarkVerifyLedgerFile(b *testing.B) {
	const n = 100_000
	path := filepath.Join(b.TempDir(), "ledger.db")
	f := buildLedger(b, path, n, 64)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if err := verifyLedgerFile(f.db, path, testCourt); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(st.Size())/(1<<20), "MB")
	})
	b.Run("pages", func(b *testing.B) {
		for b.Loop() {
			if err := checkPages(path); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(st.Size())/(1<<20), "MB")
	})
}
