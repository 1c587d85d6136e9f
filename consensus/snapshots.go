package consensus

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// snapshotStore is Raft's FileSnapshotStore with the hygiene a ledger's
// snapshots need: each holds the whole ledger and audit log, so the
// directory is 0700 and its files 0600 (raft makes them 0755 and 0644), and
// the temporary directories of snapshots that failed (a full disk while
// writing, a crash during an install) are removed instead of filling the
// disk again.
type snapshotStore struct {
	*raft.FileSnapshotStore
	dir string // <Dir>/snapshots
	log *slog.Logger
}

const snapshotRetain = 2

func openSnapshotStore(base string, logger hclog.Logger, log *slog.Logger) (*snapshotStore, error) {
	inner, err := raft.NewFileSnapshotStoreWithLogger(base, snapshotRetain, logger)
	if err != nil {
		return nil, fmt.Errorf("consensus: snapshot store in %s: %w", filepath.Join(base, "snapshots"), err)
	}
	s := &snapshotStore{FileSnapshotStore: inner, dir: filepath.Join(base, "snapshots"), log: log}
	s.removeTemporary()
	if err := s.tighten(); err != nil {
		return nil, fmt.Errorf("consensus: snapshot store: %w", err)
	}
	return s, nil
}

// removeTemporary removes the *.tmp directories that failed snapshots left
// (a crash while one was written). It runs at open, before Raft starts.
func (s *snapshotStore) removeTemporary() {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasSuffix(e.Name(), ".tmp") {
			s.removeDir(filepath.Join(s.dir, e.Name()))
		}
	}
}

// removeDir removes a failed snapshot's temporary directory. Raft's sink
// removes it itself on most failures, but not when writing the metadata
// fails, as on a full disk.
func (s *snapshotStore) removeDir(path string) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err := os.RemoveAll(path); err != nil {
		s.log.Warn("cannot remove a failed snapshot's temporary directory", "path", path, "err", err)
		return
	}
	s.log.Info("removed a failed snapshot's temporary directory", "path", path)
}

// tighten makes the snapshot directory 0700 and everything in it 0700
// (directories) or 0600 (files).
func (s *snapshotStore) tighten() error {
	return filepath.WalkDir(s.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := os.FileMode(0o600)
		if d.IsDir() {
			mode = 0o700
		}
		return os.Chmod(path, mode)
	})
}

// Create implements raft.SnapshotStore.
func (s *snapshotStore) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := s.FileSnapshotStore.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		return nil, err
	}
	tmp := filepath.Join(s.dir, sink.ID()+".tmp")
	if err := s.tightenOne(tmp); err != nil {
		sink.Cancel()
		s.removeDir(tmp)
		return nil, fmt.Errorf("consensus: snapshot %s: %w", tmp, err)
	}
	return &snapshotSink{SnapshotSink: sink, store: s, tmp: tmp}, nil
}

func (s *snapshotStore) tightenOne(dir string) error {
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Chmod(filepath.Join(dir, e.Name()), 0o600); err != nil {
			return err
		}
	}
	return nil
}

type snapshotSink struct {
	raft.SnapshotSink
	store *snapshotStore
	tmp   string
}

func (k *snapshotSink) Close() error {
	if err := k.SnapshotSink.Close(); err != nil {
		k.store.removeDir(k.tmp)
		return err
	}
	if err := k.store.tightenOne(filepath.Join(k.store.dir, k.ID())); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("consensus: snapshot %s: %w", k.ID(), err)
	}
	return nil
}

func (k *snapshotSink) Cancel() error {
	err := k.SnapshotSink.Cancel()
	k.store.removeDir(k.tmp)
	return err
}

// moveAside moves snapshot id out of the store, to
// <Dir>/snapshots.broken-<unixtime>/<id>, kept as evidence: Raft would take
// its index as applied even though it cannot be restored.
func (s *snapshotStore) moveAside(id string) (string, error) {
	dest := fmt.Sprintf("%s.broken-%d", s.dir, time.Now().Unix())
	if err := os.MkdirAll(dest, 0o700); err != nil {
		return "", err
	}
	to := filepath.Join(dest, id)
	if err := os.Rename(filepath.Join(s.dir, id), to); err != nil {
		return "", err
	}
	return to, nil
}

// openSnapshot opens snapshot id's data.
func (s *snapshotStore) openSnapshot(id string) (io.ReadCloser, error) {
	_, rc, err := s.FileSnapshotStore.Open(id)
	return rc, err
}
