package bench

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	r := Result{}
	for i := 1; i <= 100; i++ {
		r.Latencies = append(r.Latencies, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		name string
		p    float64
		want time.Duration
	}{
		{"p0 is the fastest", 0, 1 * time.Millisecond},
		{"p50", 0.50, 50 * time.Millisecond},
		{"p99", 0.99, 99 * time.Millisecond},
		{"p99.9 rounds up", 0.999, 100 * time.Millisecond},
		{"p100 is the slowest", 1, 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.Percentile(tc.p); got != tc.want {
				t.Fatalf("Percentile(%v) = %v, want %v", tc.p, got, tc.want)
			}
		})
	}
	if got := (&Result{}).Percentile(0.5); got != 0 {
		t.Fatalf("empty: %v", got)
	}
}

func TestRunCountsOnlyTheWindow(t *testing.T) {
	var calls atomic.Int64
	boom := errors.New("boom")
	r := Run(context.Background(), Config{Clients: 4, Warmup: 20 * time.Millisecond, Duration: 50 * time.Millisecond},
		func(ctx context.Context, client int) error {
			n := calls.Add(1)
			if n%10 == 0 {
				return boom
			}
			return nil
		})
	if r.Truncated || r.Window != 50*time.Millisecond {
		t.Fatalf("window %v truncated %v", r.Window, r.Truncated)
	}
	if r.Acked == 0 || r.Errors == 0 || int64(r.Acked+r.Errors) > calls.Load() {
		t.Fatalf("acked %d errors %d of %d calls", r.Acked, r.Errors, calls.Load())
	}
	if len(r.ErrorSamples) != 1 || r.ErrorSamples[0] != "boom" {
		t.Fatalf("error samples %q", r.ErrorSamples)
	}
}

func TestRunEndsWindowWhenAClientRunsOut(t *testing.T) {
	var left atomic.Int64
	left.Store(1000)
	r := Run(context.Background(), Config{Clients: 2, Duration: time.Minute},
		func(ctx context.Context, client int) error {
			if left.Add(-1) < 0 {
				return ErrStop
			}
			return nil
		})
	if !r.Truncated || r.Window >= time.Minute || r.Acked != 1000 {
		t.Fatalf("truncated %v window %v acked %d", r.Truncated, r.Window, r.Acked)
	}
}
