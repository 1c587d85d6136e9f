package consensus

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"

	"github.com/courtledger/courtledger/crypto/merkle"
)

// The nodes bucket is filled at appendOnlyFill only because every node a
// log append stores sorts after every node stored before it.
func TestNodeKeysGrowWithTheLog(t *testing.T) {
	rng := merkle.NewRange()
	var last []byte
	for i := 0; i < 5000; i++ {
		err := rng.Append(merkle.LeafHash([]byte{byte(i), byte(i >> 8)}), func(id compact.NodeID, _ []byte) {
			k := nodeKey(id)
			if last != nil && bytes.Compare(k, last) <= 0 {
				t.Fatalf("leaf %d: node (level %d, index %d) has key %x, not after %x", i, id.Level, id.Index, k, last)
			}
			last = k
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// A ledger file of a newer layout is refused at open and as a snapshot,
// not misread, and the refusal changes nothing in it.
func TestOpenRefusesANewerLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	f := openTestFSM(t, path)
	h := newHarness(t)
	if res := f.ApplyBatch([]*raft.Log{h.batch(3, "x")}); res[0] != nil {
		t.Fatalf("apply: %v", res[0])
	}
	if err := f.close(); err != nil {
		t.Fatal(err)
	}
	setLayout(t, path, layoutVersion+1)
	before, _ := os.ReadFile(path)
	if err := f.open(); !errors.Is(err, ErrLayout) || !strings.Contains(err.Error(), "newer build") {
		t.Fatalf("open of a layout %d file: %v, want ErrLayout naming a newer build", layoutVersion+1, err)
	}
	if err := checkLedgerFile(path, testCourt); !errors.Is(err, ErrLayout) {
		t.Fatalf("snapshot check of a layout %d file: %v, want ErrLayout", layoutVersion+1, err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("the refused open changed the file")
	}
}

func setLayout(t *testing.T, path string, v uint64) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyLayout, u64(v)) }); err != nil {
		t.Fatal(err)
	}
}

// layout1Fixture is a ledger file written by the build before layout 2
// (commit b70123e^, its fsm test harness: six batches, 54 entries), and
// that file's root.
const layout1Root = "020d9b6832726371a029b530839bfd110459af334adc869fab5309b73d6218f8"

func layout1Fixture(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("testdata/layout1-ledger.db.gz")
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ledger.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkMigrated checks that f holds the fixture's log: its size and root,
// and an inclusion proof of every entry, read through layout 2's keys.
func checkMigrated(t *testing.T, f *fsm) {
	t.Helper()
	if got := hex.EncodeToString(f.rng.Root()); f.size() != 54 || got != layout1Root {
		t.Fatalf("migrated: size %d root %s, want 54 and %s", f.size(), got, layout1Root)
	}
	root, _ := hex.DecodeString(layout1Root)
	for i := uint64(0); i < 54; i++ {
		var raw []byte
		if err := f.view(func(tx *bolt.Tx) error {
			raw = bytes.Clone(tx.Bucket(bucketEntries).Get(u64(i)))
			return nil
		}); err != nil || raw == nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		p, err := f.proof(i, 54)
		if err != nil {
			t.Fatalf("proof of %d: %v", i, err)
		}
		if err := merkle.VerifyInclusion(i, 54, merkle.LeafHash(raw), p, root); err != nil {
			t.Fatalf("entry %d after migration: %v", i, err)
		}
	}
	if err := f.view(func(tx *bolt.Tx) error {
		if v := fileLayout(tx.Bucket(bucketMeta)); v != layoutVersion {
			return fmt.Errorf("layout %d after migration", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// A layout 1 file, as the build before layout 2 wrote it, is migrated at
// open: the same log, every proof read through the new keys, and a second
// open finds nothing to do.
func TestLayout1FileIsMigratedAtOpen(t *testing.T) {
	path := layout1Fixture(t)
	f := openTestFSM(t, path)
	checkMigrated(t, f)
	if err := f.close(); err != nil {
		t.Fatal(err)
	}
	if err := f.open(); err != nil {
		t.Fatal(err)
	}
	checkMigrated(t, f)
	// And the whole file passes the snapshot check of this build.
	f.close()
	if err := checkLedgerFile(path, testCourt); err != nil {
		t.Fatalf("the migrated file: %v", err)
	}
}

// A snapshot from a node of the older build (a rolling upgrade whose
// leader is not upgraded yet) is migrated when it is installed.
func TestLayout1SnapshotIsMigratedOnRestore(t *testing.T) {
	raw, err := os.ReadFile(layout1Fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	f := openTestFSM(t, filepath.Join(t.TempDir(), "ledger.db"))
	if err := f.Restore(io.NopCloser(bytes.NewReader(raw))); err != nil {
		t.Fatalf("restore of a layout 1 snapshot: %v", err)
	}
	checkMigrated(t, f)
}

// A migration that fails part-way (a node key that is not of layout 1)
// leaves the file as it was: still layout 1, every node where it was.
func TestFailedMigrationChangesNothing(t *testing.T) {
	path := layout1Fixture(t)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketNodes).Put([]byte("bad"), make([]byte, 32)) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	nodes := func() (n int, layout uint64) {
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		db.View(func(tx *bolt.Tx) error {
			n = tx.Bucket(bucketNodes).Stats().KeyN
			layout = fileLayout(tx.Bucket(bucketMeta))
			return nil
		})
		return n, layout
	}
	n0, l0 := nodes()
	_, err = openFSM(path, testCourt, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "not a layout 1 key") {
		t.Fatalf("open with a bad node key: %v", err)
	}
	if n, l := nodes(); n != n0 || l != l0 || l0 != 1 {
		t.Fatalf("after the failed migration: %d nodes, layout %d; before: %d, %d", n, l, n0, l0)
	}
}
