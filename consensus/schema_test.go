package consensus

import (
	"bytes"
	"errors"
	"path/filepath"
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

// A ledger file of another layout is refused at open, not misread.
func TestOpenRefusesAnotherLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	f := openTestFSM(t, path)
	h := newHarness(t)
	if res := f.ApplyBatch([]*raft.Log{h.batch(3, "x")}); res[0] != nil {
		t.Fatalf("apply: %v", res[0])
	}
	if err := f.close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyLayout) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := f.open(); !errors.Is(err, ErrLayout) {
		t.Fatalf("open of a layout 1 file: %v, want ErrLayout", err)
	}
	if err := checkLedgerFile(path, testCourt); !errors.Is(err, ErrLayout) {
		t.Fatalf("snapshot check of a layout 1 file: %v, want ErrLayout", err)
	}
}
