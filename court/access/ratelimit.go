package access

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/courtledger/courtledger/court/apierr"
)

// RateConfig bounds how fast one caller may call. A caller is an
// authenticated identity; refused credentials count against the remote
// address, so guessing tokens is as slow as calling.
type RateConfig struct {
	PerSecond float64 // sustained calls per second per caller (default 100)
	Burst     int     // calls allowed at once (default 200)
	// MaxCallers bounds the limiters kept; the longest idle are dropped
	// beyond it (default 100000), so memory stays bounded whatever the
	// number of addresses that knock.
	MaxCallers int
}

func (c RateConfig) withDefaults() RateConfig {
	if c.PerSecond <= 0 {
		c.PerSecond = 100
	}
	if c.Burst <= 0 {
		c.Burst = 200
	}
	if c.MaxCallers <= 0 {
		c.MaxCallers = 100000
	}
	return c
}

// RateLimitedError is a call refused for its caller's rate; it maps to
// ResourceExhausted with a RetryInfo, and to HTTP 429 with Retry-After.
type RateLimitedError struct {
	Caller     string
	RetryAfter time.Duration
}

// GRPCStatus makes the refusal ResourceExhausted with a RetryInfo.
func (e *RateLimitedError) GRPCStatus() *status.Status {
	return (&apierr.Problem{Code: codes.ResourceExhausted, Reason: "RATE_LIMITED", Message: e.Error(), RetryAfter: e.RetryAfter}).GRPCStatus()
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("rate limit of %s reached; retry after %s", e.Caller, e.RetryAfter.Round(time.Millisecond))
}

// rateLimiter holds one token bucket per caller key.
type rateLimiter struct {
	cfg   RateConfig
	clock func() time.Time

	mu       sync.Mutex
	limiters map[string]*callerLimit
}

type callerLimit struct {
	lim  *rate.Limiter
	seen time.Time
}

func newRateLimiter(cfg RateConfig, clock func() time.Time) *rateLimiter {
	if clock == nil {
		clock = time.Now
	}
	return &rateLimiter{cfg: cfg.withDefaults(), clock: clock, limiters: map[string]*callerLimit{}}
}

// allow takes one token of key's bucket, or says how long until one is due.
func (r *rateLimiter) allow(key string) error {
	now := r.clock()
	r.mu.Lock()
	cl, ok := r.limiters[key]
	if !ok {
		if len(r.limiters) >= r.cfg.MaxCallers {
			r.evict(now)
		}
		cl = &callerLimit{lim: rate.NewLimiter(rate.Limit(r.cfg.PerSecond), r.cfg.Burst)}
		r.limiters[key] = cl
	}
	cl.seen = now
	res := cl.lim.ReserveN(now, 1)
	delay := res.DelayFrom(now)
	if delay > 0 {
		// Not taken: a refused call must not push the caller's next
		// allowed call further away.
		res.CancelAt(now)
	}
	r.mu.Unlock()
	if delay > 0 {
		return &RateLimitedError{Caller: key, RetryAfter: delay}
	}
	return nil
}

// evict drops the limiters idle long enough to be full again, or, if none
// is, the oldest tenth. Called with mu held; O(n) but only when full.
func (r *rateLimiter) evict(now time.Time) {
	refill := time.Duration(float64(r.cfg.Burst) / r.cfg.PerSecond * float64(time.Second))
	for k, cl := range r.limiters {
		if now.Sub(cl.seen) > refill {
			delete(r.limiters, k)
		}
	}
	if len(r.limiters) < r.cfg.MaxCallers {
		return
	}
	type aged struct {
		key  string
		seen time.Time
	}
	all := make([]aged, 0, len(r.limiters))
	for k, cl := range r.limiters {
		all = append(all, aged{k, cl.seen})
	}
	slices.SortFunc(all, func(a, b aged) int { return a.seen.Compare(b.seen) })
	for _, a := range all[:max(1, len(all)/10)] {
		delete(r.limiters, a.key)
	}
}
