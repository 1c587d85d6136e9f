package consensus

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
)

// Snapshots hold the whole ledger and audit log: 0700 and 0600, and the
// temporary directories of failed snapshots do not stay to fill the disk.
func TestSnapshotHygiene(t *testing.T) {
	c := inmemCluster(t, 3)
	c.registerPlatform("esign.example")
	leader := c.waitLeader()
	dir := leader.cfg.Dir
	if err := leader.Snapshot(); err != nil {
		t.Fatal(err)
	}
	checkSnapshotModes(t, dir)

	// A snapshot whose metadata cannot be written (as on a full disk):
	// raft's own sink leaves its temporary directory behind.
	s := leader.snaps
	sink, err := s.Create(raft.SnapshotVersionMax, 1000, 1, raft.Configuration{}, 1, leader.trans)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "snapshots", sink.ID()+".tmp")
	if _, err := sink.Write([]byte("half a snapshot")); err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(tmp, "meta.json")
	if err := os.Remove(meta); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(meta, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err == nil {
		t.Fatal("a snapshot whose metadata cannot be written closed without an error")
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("a failed snapshot's temporary directory stayed: %v", err)
	}

	// At open, too: a crash during an install leaves one behind.
	c.stop(leader.cfg.NodeID)
	leftover := filepath.Join(dir, "snapshots", "2-17-1700000000000.tmp")
	if err := os.MkdirAll(leftover, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(leftover, "state.bin"), []byte("half a snapshot"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = openSnapshotStore(dir, nil, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatalf("a failed snapshot's temporary directory outlived opening the store: %v", err)
	}
	if list, err := s.List(); err != nil || len(list) != 1 {
		t.Fatalf("snapshots after open: %v %v", list, err)
	}
	checkSnapshotModes(t, dir)
}

func checkSnapshotModes(t *testing.T, dir string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(filepath.Join(dir, "snapshots"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, info.Mode().Perm(), want)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 3 {
		t.Fatalf("only %d paths under snapshots/", n)
	}
}
