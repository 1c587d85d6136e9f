// Package bench drives closed-loop load against a system and summarizes
// what it saw: throughput over a fixed window, latency percentiles, errors.
// cmd/benchcourt uses it to measure a court's ledger and its peers (etcd)
// the same way, so their numbers can be set side by side.
//
// A run starts Clients goroutines at once. Each calls its operation in a
// loop, one call at a time, as an independent platform would. The first
// Warmup is not counted; an operation counts if it completes inside the
// measured window that follows, of length Duration. Throughput is what was
// acknowledged in the window divided by the window's length.
package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// Op is one request of one client; client is in [0, Clients). It returns
// nil when the system acknowledged the request, ErrStop when the client has
// nothing more to send, or the error the system gave.
type Op func(ctx context.Context, client int) error

// ErrStop, returned by an Op, ends its client. The measured window then
// ends when the first client stopped, and Result.Truncated says so.
var ErrStop = errors.New("bench: client has nothing more to send")

// Config says how hard and how long to drive.
type Config struct {
	Clients  int           // concurrent callers, each with one request outstanding
	Warmup   time.Duration // run but not counted
	Duration time.Duration // the measured window
	Timeout  time.Duration // per request; default 30 s
}

// Result is what one run saw in its measured window.
type Result struct {
	Clients   int
	Window    time.Duration   // the measured window, shorter than asked if Truncated
	Truncated bool            // a client ran out of requests before the window ended
	Acked     int             // requests acknowledged in the window
	Errors    int             // requests that failed in the window
	Latencies []time.Duration // of acknowledged requests, sorted
	// SlowestSecond is the fewest acknowledgements in any whole second of
	// the window, per second: a stall shows here even when the mean is fine.
	SlowestSecond int
	ErrorSamples  []string // the first few distinct error messages
}

// Rate is acknowledged requests per second of the window.
func (r *Result) Rate() float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(r.Acked) / r.Window.Seconds()
}

// Percentile returns the latency below which a fraction p (0..1) of the
// acknowledged requests fell (nearest rank), or 0 if there were none.
func (r *Result) Percentile(p float64) time.Duration {
	n := len(r.Latencies)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p * float64(n)))
	return r.Latencies[min(max(rank, 1), n)-1]
}

// Max is the slowest acknowledged request.
func (r *Result) Max() time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return r.Latencies[len(r.Latencies)-1]
}

// sample is one finished request, times relative to the run's start.
type sample struct {
	end     time.Duration
	latency time.Duration
	err     bool
}

const maxErrorSamples = 5

// Run drives op with cfg.Clients concurrent clients and returns what
// happened in the measured window. It returns when every client has
// stopped: after the window, when ctx ends, or when all ran out.
func Run(ctx context.Context, cfg Config, op Op) Result {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	start := time.Now()
	windowStart := cfg.Warmup
	deadline := start.Add(cfg.Warmup + cfg.Duration)

	var (
		mu        sync.Mutex
		firstStop = cfg.Warmup + cfg.Duration
		stopped   bool
		errSeen   []string
	)
	perClient := make([][]sample, cfg.Clients)
	var wg sync.WaitGroup
	for c := 0; c < cfg.Clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var own []sample
			for ctx.Err() == nil && time.Now().Before(deadline) {
				rctx, rcancel := context.WithTimeout(ctx, cfg.Timeout)
				t0 := time.Now()
				err := op(rctx, c)
				t1 := time.Now()
				rcancel()
				if errors.Is(err, ErrStop) {
					mu.Lock()
					if end := t1.Sub(start); !stopped || end < firstStop {
						firstStop, stopped = end, true
					}
					mu.Unlock()
					break
				}
				if err != nil && ctx.Err() != nil {
					break // interrupted, not the system's failure
				}
				own = append(own, sample{end: t1.Sub(start), latency: t1.Sub(t0), err: err != nil})
				if err != nil {
					msg := err.Error()
					mu.Lock()
					if len(errSeen) < maxErrorSamples && !slices.Contains(errSeen, msg) {
						errSeen = append(errSeen, msg)
					}
					mu.Unlock()
				}
			}
			perClient[c] = own
		}()
	}
	wg.Wait()

	windowEnd := firstStop
	if windowEnd < windowStart {
		windowEnd = windowStart
	}
	r := Result{Clients: cfg.Clients, Window: windowEnd - windowStart, Truncated: stopped, ErrorSamples: errSeen}
	seconds := make([]int, int(r.Window/time.Second))
	for _, own := range perClient {
		for _, s := range own {
			if s.end < windowStart || s.end > windowEnd {
				continue
			}
			if s.err {
				r.Errors++
				continue
			}
			r.Acked++
			r.Latencies = append(r.Latencies, s.latency)
			if i := int((s.end - windowStart) / time.Second); i < len(seconds) {
				seconds[i]++
			}
		}
	}
	slices.Sort(r.Latencies)
	if len(seconds) > 0 {
		r.SlowestSecond = slices.Min(seconds)
	}
	return r
}

// String is a one-line summary, for logs.
func (r *Result) String() string {
	return fmt.Sprintf("clients=%d rate=%.0f/s p50=%v p99=%v max=%v acked=%d errors=%d window=%v",
		r.Clients, r.Rate(), r.Percentile(0.50), r.Percentile(0.99), r.Max(), r.Acked, r.Errors, r.Window)
}
