package consensus

import "sync"

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
