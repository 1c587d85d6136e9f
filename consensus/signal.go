package consensus

import (
	"context"
	"sync"
	"time"
)

// signal lets any number of goroutines wait for the next change of
// something without polling it: next returns a channel that the next fire
// closes.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *signal) next() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// LeaderChanged returns a channel closed at the next change of the leader
// this node knows of, or of whether this node is ready to lead. Read the
// leader after taking the channel, so that no change is missed.
func (l *Ledger) LeaderChanged() <-chan struct{} { return l.leaderSig.next() }

// Grown returns a channel closed the next time the court's own log grows
// on this node (or is replaced by a snapshot).
func (l *Ledger) Grown() <-chan struct{} { return l.grownSig.next() }

// maxCatchUp bounds CatchUp: a follower cut off from its leader answers
// with what it has rather than not at all (its readiness says it is
// behind once that lasts).
const maxCatchUp = time.Second

// CatchUp waits until this node has applied everything the court had
// committed when CatchUp was called, at most maxCatchUp. Call it before a
// read answers that something is not there: a follower learns of a commit
// only from the leader's AppendEntries (one every 50-100 ms at rest), so
// without it a client that filed at the leader and then asked a follower
// was told NOT RECORDED. The leader has applied all it acknowledged and
// returns at once.
func (l *Ledger) CatchUp(ctx context.Context) {
	if l.IsLeader() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, maxCatchUp)
	defer cancel()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	wait := func(done func() bool) bool {
		for !done() {
			select {
			case <-ctx.Done():
				return false
			case <-tick.C:
			}
		}
		return true
	}
	// The first AppendEntries to arrive may have been sent before this call
	// began; the second was sent after the first was answered (the leader
	// does not pipeline to a follower), so it carries every commit
	// acknowledged before the call.
	n := l.commitMsgs.Load()
	if !wait(func() bool { return l.commitMsgs.Load() >= n+2 }) {
		return
	}
	target := l.seen.Load()
	wait(func() bool { return l.fsm.appliedThrough(target) >= target })
}
