package consensus

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/courtledger/courtledger/evidence"
)

// RecoverConfig says which stopped node recovers its court, and as what.
type RecoverConfig struct {
	Dir    string // the surviving node's data directory
	Court  string
	NodeID string // the surviving node's ID; must be among Servers
	// Servers is the court's new membership, usually the survivor alone;
	// the other nodes join afterwards with AddVoter and catch up from it.
	Servers []Server
	Logger  *slog.Logger
}

// ErrRecover is wrapped by every refusal of RecoverCluster.
var ErrRecover = errors.New("consensus: recover")

// RecoverCluster is hashicorp/raft's RecoverCluster over a stopped node's
// own stores and ledger: for a court that lost a majority of its nodes for
// good. It applies every entry the node's Raft log holds (committed or
// not: the survivor's log is all that is left) and writes the new
// membership as a snapshot, so that the node, started, is a court of
// Servers. Every node of the old membership that still runs must be
// stopped first and never started again with its old data: it would form
// a second court.
func RecoverCluster(cfg RecoverConfig) error {
	if cfg.Dir == "" || cfg.NodeID == "" {
		return fmt.Errorf("%w: the data directory and the node's ID are required", ErrRecover)
	}
	if !evidence.ValidCourtID(cfg.Court) {
		return fmt.Errorf("%w: court ID %q is not valid", ErrRecover, cfg.Court)
	}
	self := false
	var servers []raft.Server
	for _, s := range cfg.Servers {
		if s.ID == "" || s.Address == "" {
			return fmt.Errorf("%w: every server needs an ID and a Raft address (got %+v)", ErrRecover, s)
		}
		self = self || s.ID == cfg.NodeID
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(s.ID), Address: raft.ServerAddress(s.Address)})
	}
	if !self {
		return fmt.Errorf("%w: node %q is not among the new servers: list it, usually alone", ErrRecover, cfg.NodeID)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	raftPath := filepath.Join(cfg.Dir, "raft.db")
	if _, err := os.Stat(raftPath); err != nil {
		return fmt.Errorf("%w: %s: %v (recover runs on a node that was part of the court; a node without state joins with AddVoter)", ErrRecover, raftPath, err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{Path: raftPath, BoltOptions: boltOptions()})
	if err != nil {
		return fmt.Errorf("%w: raft store %s: %v (is the node still running?)", ErrRecover, raftPath, err)
	}
	defer store.Close()
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, DisableTime: true, Output: slogWriter{log}})
	snaps, err := openSnapshotStore(cfg.Dir, hlog, log)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRecover, err)
	}
	f := &fsm{path: filepath.Join(cfg.Dir, "ledger.db"), court: cfg.Court, log: log, logs: store}
	f.snapshotIndex = func() uint64 {
		if list, err := snaps.List(); err == nil && len(list) > 0 {
			return list[0].Index
		}
		return 0
	}
	if err := f.open(); err != nil {
		return fmt.Errorf("%w: %v (a damaged ledger is rebuilt when the node starts; start and stop it once, then recover)", ErrRecover, err)
	}
	defer f.close()
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hlog
	rc.NoSnapshotRestoreOnStart = true
	_, trans := raft.NewInmemTransport(raft.ServerAddress(cfg.NodeID))
	defer trans.Close()
	if err := raft.RecoverCluster(rc, releasingFSM{f}, store, store, snaps, trans, raft.Configuration{Servers: servers}); err != nil {
		return fmt.Errorf("%w: %v", ErrRecover, err)
	}
	f.mu.RLock()
	broken := f.refusal()
	f.mu.RUnlock()
	if broken != nil {
		return fmt.Errorf("%w: replaying the Raft log into the ledger: %v", ErrRecover, broken)
	}
	return nil
}

// releasingFSM releases each snapshot once persisted: raft.RecoverCluster
// never calls Release, and the read transaction it would leave open makes
// closing the ledger wait for ever.
type releasingFSM struct{ *fsm }

func (r releasingFSM) Snapshot() (raft.FSMSnapshot, error) {
	s, err := r.fsm.Snapshot()
	if err != nil {
		return nil, err
	}
	return releasingSnapshot{s}, nil
}

type releasingSnapshot struct{ raft.FSMSnapshot }

func (s releasingSnapshot) Persist(sink raft.SnapshotSink) error {
	defer s.Release()
	return s.FSMSnapshot.Persist(sink)
}
