package consensus

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// HealthState says whether a node's ledger may be served from.
type HealthState string

// The health states. Only HealthOK is ready: every other state means the
// node must not serve reads, vote for or lead the court until it is healed.
const (
	HealthOK         HealthState = "ok"         // current, writable, intact
	HealthBehind     HealthState = "behind"     // applied index lags the commit index
	HealthBroken     HealthState = "broken"     // a write to the ledger file failed (e.g. disk full)
	HealthCorrupt    HealthState = "corrupt"    // a record read did not match the hashes that commit to it
	HealthRebuilding HealthState = "rebuilding" // the ledger is being restored from a snapshot or a peer
)

// Health is a node's verdict on its own ledger.
type Health struct {
	State   HealthState
	Reason  string // why, for a person; empty when OK
	Applied uint64 // last Raft index in the ledger file
	Commit  uint64 // Raft's commit index as this node knows it
}

// Ready reports whether the node may serve and lead.
func (h Health) Ready() bool { return h.State == HealthOK }

// ErrCorrupt matches every *CorruptError with errors.Is.
var ErrCorrupt = errors.New("consensus: ledger is corrupt")

// CorruptError says a record of the ledger file did not match what commits
// to it (its leaf hash, the stored root, a signed head) or the file's pages
// did not check. The record is not served.
type CorruptError struct {
	Path string // the ledger file
	What string // which record, e.g. "entry 17 of court hangzhou"
	Err  error  // what did not match
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("consensus: ledger %s is corrupt: %s: %v", e.Path, e.What, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// markCorrupt records the first corruption found; the node stops being
// ready until the ledger is rebuilt. Safe to call while holding f.mu for
// reading (it takes no lock).
func (f *fsm) markCorrupt(err *CorruptError) {
	f.corruptions.Add(1)
	if f.corrupt.CompareAndSwap(nil, err) {
		f.log.Error("ledger corrupt: refusing to serve from it", "file", err.Path, "record", err.What, "err", err.Err)
	}
}

// Corruptions counts the corrupt records this node has found since it
// started, for the metric.
func (l *Ledger) Corruptions() uint64 { return l.fsm.corruptions.Load() }

// How long, and how far, a node's applied index may trail its commit index
// before it counts as behind: a follower trails briefly all the time, as
// each entry is committed before it is applied, and readiness must not flap.
const (
	behindGrace = 2 * time.Second
	behindBound = 4096 // Raft entries
)

// Health reports whether this node's ledger is current, writable and intact.
func (l *Ledger) Health() Health {
	r := l.raftNode()
	if r == nil {
		return Health{State: HealthBehind, Reason: "starting", Applied: l.fsm.appliedIndex()}
	}
	h := Health{State: HealthOK, Applied: l.fsm.appliedIndex(), Commit: l.commitIndex(r)}
	f := l.fsm
	f.mu.RLock()
	broken, behind := f.broken, f.behind
	f.mu.RUnlock()
	applied := l.fsm.appliedThrough(h.Commit)
	lagging := l.lagging(applied, h.Commit)
	switch c := f.corrupt.Load(); {
	case l.stopped.Load() != nil:
		h.State, h.Reason = HealthBroken, fmt.Sprintf("Raft is stopped: restarting it failed: %v", l.stopped.Load().err)
	case c != nil:
		h.State, h.Reason = HealthCorrupt, c.Error()
	case broken != nil:
		h.State, h.Reason = HealthBroken, broken.Error()
	case behind != nil:
		h.State, h.Reason = HealthRebuilding, behind.Error()
	case l.rebuild.Load() != nil:
		h.State, h.Reason = HealthRebuilding, l.rebuild.Load().reason
	case !l.synced.Load():
		h.State, h.Reason = HealthBehind, "not yet caught up with the court's commit index since start"
	case lagging:
		h.State, h.Reason = HealthBehind, fmt.Sprintf("applied index %d is behind commit index %d", applied, h.Commit)
	case r.State() != raft.Leader && time.Since(r.LastContact()) > behindGrace:
		h.State, h.Reason = HealthBehind, fmt.Sprintf("no contact with a leader for %s", time.Since(r.LastContact()).Round(time.Millisecond))
	}
	return h
}

// lagging reports whether the node counts as behind: an index committed
// more than behindGrace ago is not applied yet, or the lag exceeds
// behindBound; and then until it has caught up. Under steady load a
// follower always trails by a few entries, so the test is whether it
// reaches what was committed a moment ago, not whether the lag is ever zero.
func (l *Ledger) lagging(applied, commit uint64) bool {
	l.lagMu.Lock()
	defer l.lagMu.Unlock()
	now := time.Now()
	if applied >= commit {
		l.lagMark, l.lagAt, l.lagBehind = 0, time.Time{}, false
		return false
	}
	if l.lagBehind {
		// Once behind, the node is ready again only when it has caught up
		// entirely, not as soon as its lag looks ordinary again.
		return true
	}
	if applied >= l.lagMark {
		l.lagMark, l.lagAt = commit, now
	}
	l.lagBehind = commit-applied > behindBound || now.Sub(l.lagAt) > behindGrace
	return l.lagBehind
}

// commitIndex is the highest index this node knows committed: Raft's own
// commit index, or the leader's as its AppendEntries carried it, which is
// higher when this node's log cannot take the entries.
func (l *Ledger) commitIndex(r *raft.Raft) uint64 { return max(r.CommitIndex(), l.seen.Load()) }

// sawCommit records a commit index a leader sent (0: a heartbeat, which
// carries none).
func (l *Ledger) sawCommit(index uint64) {
	if index > 0 {
		l.commitMsgs.Add(1)
	}
	for {
		old := l.seen.Load()
		if index <= old || l.seen.CompareAndSwap(old, index) {
			return
		}
	}
}

// appliedThrough is the Raft index up to which the ledger has taken
// everything, counting the entries after its applied index that Raft never
// hands to it (no-ops, barriers), looked up to commit. Raft's own applied
// index will not do: it moves when Raft hands entries to the FSM's queue,
// before they are in the ledger.
func (f *fsm) appliedThrough(commit uint64) uint64 {
	applied := f.appliedIndex()
	if f.logs == nil {
		return applied
	}
	for i := applied + 1; i <= commit && i <= applied+8; i++ {
		var e raft.Log
		if err := f.logs.GetLog(i, &e); err != nil || e.Type == raft.LogCommand || e.Type == raft.LogConfiguration {
			break
		}
		applied = i
	}
	return applied
}
