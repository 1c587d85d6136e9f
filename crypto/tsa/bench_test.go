package tsa_test

import (
	"context"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/tsa"
)

// BenchmarkStampVerify is one token's cost to a court: Stamp against the
// development TSA over loopback HTTP, then Verify. It reports the token's
// size (the whole TimeStampResp, with the TSA certificate).
func BenchmarkStampVerify(b *testing.B) {
	f := newFixture(b)
	opts := f.opts()
	var size int
	for b.Loop() {
		tok := f.stamp(b, head)
		opts.Expected = time.Now()
		if _, err := tsa.Verify(tok, head, opts); err != nil {
			b.Fatal(err)
		}
		size = len(tok)
	}
	b.ReportMetric(float64(size), "B/token")
}

// BenchmarkVerify is the offline check alone, what a certificate verifier
// pays per token.
func BenchmarkVerify(b *testing.B) {
	f := newFixture(b)
	tok := f.stamp(b, head)
	opts := f.opts()
	opts.Expected = time.Time{}
	for b.Loop() {
		if _, err := tsa.Verify(tok, head, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDevTSAServe is how many tokens per second one development TSA
// serves to clients asking in parallel over loopback (GOMAXPROCS of them;
// -cpu sets how many).
func BenchmarkDevTSAServe(b *testing.B) {
	f := newFixture(b)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.client.Stamp(context.Background(), head); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tokens/s")
}
