package consensus

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// BusyError refuses a submission call because the leader already holds as
// many submissions as it may (BatchConfig.MaxPending): checked, queued or
// in a batch not yet acknowledged. Nothing of the call was taken; the
// caller tries again after RetryAfter, the time the leader needs, at its
// recent rate, to answer what it holds.
type BusyError struct {
	Pending    int
	RetryAfter time.Duration
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("consensus: court busy: %d submissions pending; retry after %s", e.Pending, e.RetryAfter.Round(time.Millisecond))
}

// Bounds of a BusyError's retry delay.
const (
	minRetryAfter = 50 * time.Millisecond
	maxRetryAfter = 5 * time.Second
)

// admission bounds the submissions the leader works on at once. A flood
// is refused at the door, before its signatures are verified, so the
// leader's CPU goes to what it has taken, and Raft's heartbeats keep
// their share: under an unbounded flood a leader lost contact with its
// followers and stepped down (issue 14).
type admission struct {
	max     int64
	pending atomic.Int64
	done    atomic.Int64 // submissions answered, for the drain rate
	clock   func() time.Time

	mu          sync.Mutex
	windowStart time.Time
	windowDone  int64
	rate        float64 // submissions answered per second over the last window
}

func newAdmission(max int, clock func() time.Time) *admission {
	return &admission{max: int64(max), clock: clock, windowStart: clock()}
}

// take admits n submissions or refuses them all. A call larger than the
// bound is admitted when nothing else is pending, so that no call is
// refused for ever.
func (a *admission) take(n int) error {
	after := a.pending.Add(int64(n))
	if after <= a.max || after == int64(n) {
		return nil
	}
	a.pending.Add(-int64(n))
	return &BusyError{Pending: int(after - int64(n)), RetryAfter: a.retryAfter(after - int64(n))}
}

// release answers n submissions taken before.
func (a *admission) release(n int) {
	a.pending.Add(-int64(n))
	a.done.Add(int64(n))
	a.measure()
}

// measure updates the drain rate once a window of a second has passed.
func (a *admission) measure() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.clock()
	if d := now.Sub(a.windowStart); d >= time.Second {
		done := a.done.Load()
		a.rate = float64(done-a.windowDone) / d.Seconds()
		a.windowStart, a.windowDone = now, done
	}
	return a.rate
}

// retryAfter is how long pending submissions take to drain at the recent
// rate, within [minRetryAfter, maxRetryAfter].
func (a *admission) retryAfter(pending int64) time.Duration {
	rate := a.measure()
	if rate <= 0 {
		return time.Second
	}
	d := time.Duration(float64(pending) / rate * float64(time.Second))
	return min(max(d, minRetryAfter), maxRetryAfter)
}
