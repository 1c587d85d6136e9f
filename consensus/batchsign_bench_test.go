package consensus

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/courtledger/courtledger/evidence"
)

// BenchmarkSubmitSigned compares the court's CPU per entry when a platform
// files 256 submissions in one call signed one by one (SubmitBatch's path,
// Submit) and signed once as a batch (SubmitSignedBatch), on a court of
// three nodes in this process. cpu-ns/entry is the process's CPU time over
// the submit calls alone (the platform's signing is outside it) divided by
// the entries: all three nodes' work, of which the platform signature
// checks are the leader's; sigchecks/entry counts those.
func BenchmarkSubmitSigned(b *testing.B) {
	const n = 256
	for _, mode := range []string{"single-signed", "batch-signed"} {
		b.Run(mode, func(b *testing.B) {
			c := inmemCluster(b, 3)
			c.registerPlatform("esign.example")
			leader := c.waitLeader()
			ctx := context.Background()
			var cpu int64
			checks := leader.sigChecks.Load()
			b.ResetTimer()
			for op := 0; op < b.N; op++ {
				b.StopTimer()
				prefix := fmt.Sprintf("%s-%d", mode, op)
				var (
					singles []SignedSubmission
					batch   *evidence.SignedBatch
				)
				if mode == "single-signed" {
					for i := range n {
						singles = append(singles, c.submission("esign.example", fmt.Sprintf("%s-%d", prefix, i), []byte(prefix+fmt.Sprint(i))))
					}
				} else {
					batch = c.signedBatch("esign.example", prefix, n, nil)
				}
				b.StartTimer()
				start := cpuTime()
				var (
					res []Result
					err error
				)
				if batch != nil {
					res, err = leader.SubmitSignedBatch(ctx, batch)
				} else {
					res, err = leader.Submit(ctx, singles)
				}
				cpu += cpuTime() - start
				if err != nil {
					b.Fatal(err)
				}
				for i, r := range res {
					if r.Err != nil {
						b.Fatalf("submission %d: %v", i, r.Err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpu)/float64(b.N*n), "cpu-ns/entry")
			b.ReportMetric(float64(leader.sigChecks.Load()-checks)/float64(b.N*n), "sigchecks/entry")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
		})
	}
}

// BenchmarkCheckSigned is the leader's work on a call of 256 submissions
// before anything is proposed, which is where the platform signatures are
// verified: per submission alone (prepare, as Submit runs it), or once per
// batch and a path per submission (as SubmitSignedBatch runs it). It runs
// in one goroutine; nothing is recorded.
func BenchmarkCheckSigned(b *testing.B) {
	const n = 256
	c := inmemCluster(b, 1)
	c.registerPlatform("esign.example")
	l := c.waitLeader()
	var singles []SignedSubmission
	for i := range n {
		singles = append(singles, c.submission("esign.example", fmt.Sprintf("s-%d", i), []byte(fmt.Sprint(i))))
	}
	batch := c.signedBatch("esign.example", "b", n, nil)
	b.Run("single-signed", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			for i := range singles {
				if _, r := l.prepare(&singles[i]); r.Err != nil {
					b.Fatal(r.Err)
				}
			}
		}
		report(b, n, cpu)
	})
	b.Run("batch-signed", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			if err := batch.Header.Check(testCourt, n, time.Now(), evidence.TimePolicy{}); err != nil {
				b.Fatal(err)
			}
			key, err := l.fsm.platformKey(batch.Header.Platform)
			if err != nil {
				b.Fatal(err)
			}
			if err := batch.Header.VerifySignature(batch.Signature, key); err != nil {
				b.Fatal(err)
			}
			for i := range batch.Submissions {
				f := batch.Filing(i)
				if _, r := l.prepareBatched(&batch.Submissions[i], &f); r.Err != nil {
					b.Fatal(r.Err)
				}
			}
		}
		report(b, n, cpu)
	})
}

// report gives per entry the wall time and the process's CPU time since
// cpu, which other processes on a shared machine disturb less.
func report(b *testing.B, n int, cpu int64) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N*n), "cpu-ns/entry")
}
