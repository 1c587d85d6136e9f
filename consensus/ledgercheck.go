package consensus

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A node's ledger file and Raft's own state (raft.db, snapshots/) can
// disagree: the file was lost, replaced by an older copy or another court's,
// cannot be opened, or a write to it failed. Raft then takes for applied what
// the ledger never received (with NoSnapshotRestoreOnStart, Raft's applied
// index starts at its newest snapshot's, whatever the ledger holds), and a
// node that served or led from such a ledger forked the court's signed
// history (issue 11). This file finds those states before Raft starts;
// heal.go keeps watch while the node runs.

// rebuildState says the ledger is being rebuilt: until Raft has applied up
// to target, with a leader known, the node is not ready and does not lead.
type rebuildState struct {
	reason string
	target uint64 // highest Raft index the node knew of at start
	// noVote: Raft's log was removed, so this node no longer holds what it
	// acknowledged and must not vote until it has the court's state again.
	noVote bool
	// fresh: Raft had no state at all at start (no log, no snapshot), as on
	// a new court's first start, or on a node whose data directory was
	// lost. The node cannot tell which, so it votes only for a candidate
	// with no history either (a new court's first election) until it has
	// caught up from a leader: with a lost directory's vote, a candidate
	// missing acknowledged entries could win and overwrite them.
	fresh bool
}

// bootstrapIndex is the last log index of a node that holds nothing but a
// new court's bootstrap configuration (raft.BootstrapCluster writes it at
// index 1).
const bootstrapIndex = 1

// checkLedgerAtOpen runs while Raft is stopped (at Open and before Raft is
// started again by heal) and leaves l.fsm open on a ledger that Raft can
// replay onto: one that holds everything up to the newest local snapshot's
// index, or, failing that, over a Raft log emptied so that the leader sends
// its snapshot. A ledger that cannot be opened, or is of another court, is
// moved aside (kept as evidence) and rebuilt; so is every ledger if
// rebuild is set. It records in l.rebuild whether the node must rebuild
// before it is ready.
func (l *Ledger) checkLedgerAtOpen(rebuild string) error {
	f := l.fsm
	os.Remove(f.path + ".restore") // an interrupted Restore's copy, never renamed in
	first, err := l.logStore.FirstIndex()
	if err != nil {
		return fmt.Errorf("consensus: read Raft log %s: %w (if it is damaged: remove the node from the court, move its directory aside and add it again)", l.raftPath(), err)
	}
	last, err := l.logStore.LastIndex()
	if err != nil {
		return fmt.Errorf("consensus: read Raft log %s: %w (if it is damaged: remove the node from the court, move its directory aside and add it again)", l.raftPath(), err)
	}
	snaps, err := l.snaps.List()
	if err != nil {
		return fmt.Errorf("consensus: list snapshots in %s: %w", l.snaps.dir, err)
	}
	newest := uint64(0)
	if len(snaps) > 0 {
		newest = snaps[0].Index
	}
	hasRaft := last > 0 || newest > 0

	reason := rebuild
	switch _, err := os.Stat(f.path); {
	case err == nil && rebuild != "":
		if err := l.moveLedgerAside(rebuild); err != nil {
			return err
		}
	case err == nil:
		if err := inspectLedger(f.path, l.cfg.Court); err != nil {
			if transient(err) {
				return fmt.Errorf("consensus: ledger %s: %w (is another courtd running on %s? are the file's owner and mode right?)",
					f.path, err, l.cfg.Dir)
			}
			reason = fmt.Sprintf("ledger %s failed its check at start: %v", f.path, err)
			if err := l.moveLedgerAside(reason); err != nil {
				return err
			}
		}
	case errors.Is(err, fs.ErrNotExist):
		if hasRaft {
			reason = fmt.Sprintf("ledger %s is missing while Raft has state up to index %d", f.path, max(last, newest))
		}
	default:
		return fmt.Errorf("consensus: ledger %s: %w", f.path, err)
	}
	// The file passed inspectLedger, or was moved aside or never was.
	if err := f.openInspected(); err != nil {
		if _, serr := os.Stat(f.path); serr != nil || transient(err) {
			return fmt.Errorf("consensus: %w (if the file is damaged, move it aside and start the node again: it rebuilds the ledger from a snapshot or its peers)", err)
		}
		// It passed the read-only check and still cannot be loaded.
		reason = fmt.Sprintf("ledger %s cannot be loaded: %v", f.path, err)
		if err := l.moveLedgerAside(reason); err != nil {
			return err
		}
		if err := f.openInspected(); err != nil { // a new file
			return fmt.Errorf("consensus: create ledger: %w", err)
		}
	}
	applied := f.appliedIndex()
	target := max(applied, newest, last)

	// Raft takes the newest snapshot's index as applied: the ledger must hold
	// everything up to it. Restore the newest snapshot that passes the checks;
	// move aside the ones that do not, or Raft would still count them.
	restored := uint64(0)
	for len(snaps) > 0 && snaps[0].Index > applied {
		s := snaps[0]
		if reason == "" {
			reason = fmt.Sprintf("ledger %s is at Raft index %d, behind snapshot %s at %d", f.path, applied, s.ID, s.Index)
		}
		err := l.restoreLocal(s.ID)
		if err == nil {
			restored = s.Index
			l.log.Warn("ledger restored from a local snapshot", "file", f.path, "snapshot", s.ID, "index", s.Index)
			break
		}
		to, merr := l.snaps.moveAside(s.ID)
		if merr != nil {
			return fmt.Errorf("consensus: snapshot %s cannot be restored (%v) nor moved aside: %w", s.ID, err, merr)
		}
		l.log.Error("snapshot cannot be restored; moved aside", "snapshot", s.ID, "to", to, "err", err)
		snaps = snaps[1:]
	}
	if f.db == nil {
		if err := f.open(); err != nil {
			return fmt.Errorf("consensus: %w", err)
		}
	}
	kept := uint64(0)
	if len(snaps) > 0 {
		kept = snaps[0].Index
	}
	f.mu.Lock()
	f.floor = max(f.applied, restored, kept)
	f.mu.Unlock()

	// Raft replays from the kept snapshot's index on; if its log starts
	// later, nothing here can fill the gap. Remove the log (term and vote
	// stay in the stable store): the leader then sends its snapshot.
	noVote := false
	if last > 0 && first > kept+1 {
		if reason == "" {
			reason = fmt.Sprintf("ledger %s is at Raft index %d and Raft's log starts at %d", f.path, f.appliedIndex(), first)
		}
		if err := l.logStore.DeleteRange(first, last); err != nil {
			return fmt.Errorf("consensus: remove Raft log %d-%d from %s: %w", first, last, l.raftPath(), err)
		}
		noVote = true
		l.log.Warn("Raft log removed: the leader will send its snapshot", "first", first, "last", last)
	}
	if reason == "" && !hasRaft {
		reason = fmt.Sprintf("Raft has no state in %s (a new node, or its data directory was lost): it votes only for a candidate with no history until it has caught up from a leader", l.cfg.Dir)
		l.log.Info("no Raft state: the node catches up from a leader before it serves, or votes in an election of a court with history")
		l.rebuild.Store(&rebuildState{reason: reason, target: target, noVote: true, fresh: true})
		return nil
	}
	if reason == "" {
		l.rebuild.Store(nil)
		return nil
	}
	l.log.Warn("ledger must be rebuilt before the node serves, votes or leads", "reason", reason, "target", target, "vote", !noVote)
	l.rebuild.Store(&rebuildState{reason: reason, target: target, noVote: noVote})
	return nil
}

// inspectLedger checks, read-only, that path is a ledger of court in this
// build's layout whose pages and newest records pass verifyLedgerFile. It
// never panics: the page walk goes first, and bbolt's own panics and
// memory faults on a damaged file become errors.
func inspectLedger(path, court string) (err error) {
	if err := walkPages(path); err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			err = corruptFile(path, "the file's pages", fmt.Errorf("bbolt: %v", p))
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return errors.New("no ledger metadata")
		}
		if c := meta.Get(keyCourt); string(c) != court {
			return fmt.Errorf("it is a ledger of court %q, not %q", c, court)
		}
		return checkLayout(meta)
	})
	if err != nil {
		return err
	}
	return verifyOpened(db, path, court)
}

// transient reports whether a failure to open a file is no fault of its
// contents: another process holds it, or its mode or owner is wrong.
func transient(err error) bool {
	return errors.Is(err, bolt.ErrTimeout) || errors.Is(err, fs.ErrPermission)
}

// moveLedgerAside renames the ledger file to ledger.db.broken-<unixtime>:
// never delete evidence.
func (l *Ledger) moveLedgerAside(reason string) error {
	to := fmt.Sprintf("%s.broken-%d", l.fsm.path, time.Now().Unix())
	for i := 1; ; i++ {
		if _, err := os.Lstat(to); errors.Is(err, fs.ErrNotExist) {
			break
		}
		to = fmt.Sprintf("%s.broken-%d.%d", l.fsm.path, time.Now().Unix(), i)
	}
	if err := os.Rename(l.fsm.path, to); err != nil {
		return fmt.Errorf("consensus: move ledger %s aside: %w", l.fsm.path, err)
	}
	if err := syncDir(l.fsm.path); err != nil {
		return fmt.Errorf("consensus: move ledger %s aside: %w", l.fsm.path, err)
	}
	l.log.Error("ledger moved aside", "file", l.fsm.path, "to", to, "reason", reason)
	return nil
}

// restoreLocal restores the ledger from a snapshot in the local store.
func (l *Ledger) restoreLocal(id string) error {
	rc, err := l.snaps.openSnapshot(id)
	if err != nil {
		return err
	}
	if l.fsm.db == nil {
		if err := l.fsm.open(); err != nil {
			rc.Close()
			return err
		}
	}
	return l.fsm.Restore(rc)
}

func (l *Ledger) raftPath() string { return l.cfg.Dir + "/raft.db" }
