package consensus

import (
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// While the node runs, supervise keeps it out of leadership when its ledger
// is not ready and heals what checkLedgerAtOpen (ledgercheck.go) cannot
// see at start: a write that failed, entries found missing, a record found
// corrupt. Healing restarts Raft in the process over the checked file.

// refuseVote is the transport's vote guard: a node whose Raft log was
// removed to rebuild must not vote (see rebuildState.noVote), nor may a
// node that started without Raft state, except for a candidate that has no
// history either (candidateLast is the candidate's last log index).
func (l *Ledger) refuseVote(candidateLast uint64) error {
	s := l.rebuild.Load()
	if s == nil || !s.noVote || (s.fresh && candidateLast <= bootstrapIndex) {
		return nil
	}
	return fmt.Errorf("consensus: node %s does not vote while rebuilding: %s", l.cfg.NodeID, s.reason)
}

// refuseLead is the transport's leadership guard: a node whose ledger is
// not ready does not start the election a leadership transfer orders.
func (l *Ledger) refuseLead() error {
	if h := l.Health(); !h.Ready() {
		return fmt.Errorf("consensus: node %s does not take leadership: %s: %s", l.cfg.NodeID, h.State, h.Reason)
	}
	return nil
}

// supervise is the node's one background loop: it readies the batcher when
// the node leads with a ready ledger, moves leadership away when the ledger
// is not ready, ends a rebuild once the ledger has caught up, and restarts
// Raft over the ledger file (with backoff) when the ledger is broken,
// behind or corrupt.
func (l *Ledger) supervise() {
	defer l.wg.Done()
	// Often enough to catch applied == commit between writes: a node
	// counts as caught up since start (synced) only when it sees that.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var (
		backoff      = healBackoffMin
		nextHeal     time.Time
		lastRebuild  time.Time
		nextTransfer time.Time
	)
	for {
		r := l.raftNode()
		select {
		case <-l.done:
			return
		case isLeader := <-r.LeaderCh():
			if !isLeader {
				l.batcher.demote()
				continue
			}
			l.lead(r)
		case <-tick.C:
		}
		l.noteProgress(r)
		h := l.Health()
		if h.Ready() {
			backoff = healBackoffMin
		}
		need, rebuild := l.healReason(h)
		if rebuild && l.stopped.Load() == nil && time.Since(lastRebuild) < corruptRebuildEvery {
			// A ledger rebuilt and found corrupt again soon after points at
			// something a rebuild does not fix (a bad disk, a bad snapshot, a
			// bug): stay not ready and let an operator look, rather than fill
			// the disk with copies kept aside.
			need = ""
		}
		if need != "" && time.Now().After(nextHeal) {
			if rebuild {
				lastRebuild = time.Now()
			}
			// A restart that does not make the node ready (the disk is still
			// full) waits longer before the next.
			if err := l.heal(need, rebuild); err != nil {
				l.log.Error("healing failed; retrying", "in", backoff, "err", err)
			}
			nextHeal = time.Now().Add(backoff)
			backoff = min(2*backoff, healBackoffMax)
			continue
		}
		switch {
		case r.State() != raft.Leader:
			l.batcher.demote()
		case !h.Ready():
			l.batcher.demote()
			if time.Now().After(nextTransfer) {
				nextTransfer = time.Now().Add(time.Second)
				l.handOver(r, h)
			}
		case !l.batcher.ready():
			l.lead(r)
		}
	}
}

const (
	healBackoffMin = 200 * time.Millisecond
	healBackoffMax = 10 * time.Second
	// corruptRebuildEvery is how often, at most, a node rebuilds a ledger
	// found corrupt by itself.
	corruptRebuildEvery = 10 * time.Minute
)

// lead readies the batcher once this leader has applied everything
// committed before and its ledger is ready; otherwise leadership goes.
func (l *Ledger) lead(r *raft.Raft) {
	// The barrier makes the state machine catch up with every entry of
	// earlier terms before this leader builds on it.
	if err := r.Barrier(30 * time.Second).Error(); err != nil {
		l.log.Warn("leader barrier failed", "err", err)
		return
	}
	l.noteProgress(r)
	if h := l.Health(); !h.Ready() {
		l.handOver(r, h)
		return
	}
	if r.State() != raft.Leader {
		return
	}
	l.batcher.promote()
	l.log.Info("leader ready", "size", l.fsm.size())
}

// handOver moves leadership away from a leader whose ledger is not ready.
func (l *Ledger) handOver(r *raft.Raft, h Health) {
	l.log.Warn("leader's ledger is not ready: transferring leadership", "health", h.State, "reason", h.Reason)
	if err := r.LeadershipTransfer().Error(); err != nil {
		l.log.Warn("leadership transfer failed", "err", err)
	}
}

// noteProgress ends the start-up catch-up and a rebuild once Raft has
// applied everything it knows committed, a leader is known, and, for a
// rebuild, the commit index has reached what the node knew of at start.
func (l *Ledger) noteProgress(r *raft.Raft) {
	commit := l.commitIndex(r)
	applied := l.fsm.appliedThrough(commit)
	if addr, _ := r.LeaderWithID(); addr == "" || commit == 0 || applied < commit {
		return
	}
	if l.fsm.refusalLocked() != nil {
		return
	}
	if s := l.rebuild.Load(); s != nil {
		if commit < s.target {
			return
		}
		if l.rebuild.CompareAndSwap(s, nil) {
			l.log.Info("ledger rebuilt", "applied", applied, "size", l.fsm.size())
		}
	}
	l.synced.Store(true)
}

func (f *fsm) refusalLocked() error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.refusal()
}

// healReason says why Raft must restart over the ledger file, if it must,
// and whether the ledger must be rebuilt (moved aside first).
func (l *Ledger) healReason(h Health) (string, bool) {
	if f := l.stopped.Load(); f != nil {
		return f.reason, f.rebuild
	}
	switch h.State {
	case HealthBroken:
		return h.Reason, false
	case HealthCorrupt:
		return h.Reason, true
	}
	if err := l.fsm.refusalLocked(); err != nil {
		return err.Error(), false
	}
	return "", false
}

// healFailure is a restart that stopped Raft and could not start it again.
type healFailure struct {
	reason  string
	rebuild bool
	err     error
}

// heal restarts Raft in this process: leadership goes first, Raft shuts
// down, the ledger file is closed and checked again (moved aside and
// rebuilt if rebuild is set), and a new Raft starts on the same stores and
// transport, replaying from the ledger's applied index. Nothing
// acknowledged is lost: what the ledger lacks is still in Raft's log, a
// snapshot, or the other nodes.
func (l *Ledger) heal(reason string, rebuild bool) error {
	l.healMu.Lock()
	defer l.healMu.Unlock()
	if l.closed() {
		return nil
	}
	l.log.Warn("restarting Raft over the ledger file", "reason", reason, "rebuild", rebuild)
	l.batcher.demote()
	old := l.raftNode()
	if old.State() == raft.Leader {
		if err := old.LeadershipTransfer().Error(); err != nil {
			l.log.Warn("leadership transfer before restart failed", "err", err)
		}
	}
	// Raft's heartbeat handler would leave the heartbeats that reach the
	// stopped Raft unanswered; without it they queue for the new one.
	l.guard.Transport.SetHeartbeatHandler(nil)
	if err := old.Shutdown().Error(); err != nil {
		return fmt.Errorf("shut Raft down: %w", err)
	}
	// From here until a new Raft runs, a failure leaves the node stopped;
	// supervise tries again.
	fail := func(err error) error {
		l.stopped.Store(&healFailure{reason: reason, rebuild: rebuild, err: err})
		return err
	}
	if err := l.fsm.close(); err != nil {
		l.log.Warn("closing the ledger file before restart", "file", l.fsm.path, "err", err)
	}
	why := ""
	if rebuild {
		why = reason
	}
	if err := l.checkLedgerAtOpen(why); err != nil {
		return fail(err)
	}
	if rebuild {
		l.fsm.corrupt.Store(nil)
	}
	r, err := l.newRaft()
	if err != nil {
		return fail(err)
	}
	l.synced.Store(false)
	l.rnode.Store(r)
	l.stopped.Store(nil)
	l.restarts.Add(1)
	l.log.Info("Raft restarted over the ledger file", "applied", l.fsm.appliedIndex(), "size", l.fsm.size())
	return nil
}

func (l *Ledger) closed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// Restarts counts the in-process restarts of Raft that healed the ledger,
// for the metric.
func (l *Ledger) Restarts() uint64 { return l.restarts.Load() }
