package consensus

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"time"

	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"
)

// Ledger layout migrations. A file of an older layout is brought to this
// build's in the same bbolt transaction that opens it: a crash part-way
// leaves the old file whole, and the next open starts over. A file of a
// newer layout is refused (ErrLayout): this build cannot know what the
// newer one wrote, and a downgrade goes through a backup made by this
// build or a snapshot from a node that runs it.
//
// migrations[v] turns layout v into layout v+1.
var migrations = map[uint64]func(tx *bolt.Tx) error{
	1: migrateNodeKeys,
}

// fileLayout is the file's layout version; files of layout 1 have none.
func fileLayout(meta *bolt.Bucket) uint64 {
	if b := meta.Get(keyLayout); b != nil {
		return getU64(b)
	}
	return 1
}

func checkLayout(meta *bolt.Bucket) error {
	if v := fileLayout(meta); v != layoutVersion {
		return fmt.Errorf("%w: version %d, this build reads %d", ErrLayout, v, layoutVersion)
	}
	return nil
}

// upgradeLayout migrates the file open in tx to layoutVersion and reports
// the layout it found.
func upgradeLayout(tx *bolt.Tx) (from uint64, err error) {
	meta := tx.Bucket(bucketMeta)
	from = fileLayout(meta)
	if from > layoutVersion || from == 0 {
		return from, fmt.Errorf("%w: version %d was written by a newer build (this one reads up to %d); run that build, or restore a backup or snapshot made by this one",
			ErrLayout, from, layoutVersion)
	}
	for v := from; v < layoutVersion; v++ {
		if err := migrations[v](tx); err != nil {
			return from, fmt.Errorf("consensus: migrate ledger layout %d to %d: %w", v, v+1, err)
		}
		if err := meta.Put(keyLayout, u64(v+1)); err != nil {
			return from, err
		}
	}
	return from, nil
}

// upgradeFile migrates the ledger file at path (a snapshot received from
// a node of an older build) before it is checked and installed.
func upgradeFile(path string) (from uint64, err error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return 0, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			return fmt.Errorf("no ledger metadata")
		}
		if from, err = upgradeLayout(tx); err != nil || from == layoutVersion {
			return err
		}
		// The buckets later layouts added, as an open would make them.
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return from, err
}

// migrateNodeKeys: layout 1 keyed a Merkle node by level (1 byte) ||
// index (u64); layout 2 by its stored-hash index (nodeKey), so that a
// log's appends append to the bucket. The hashes are unchanged. Layout 1
// had no mirrors, but a mirror's nodes bucket is rewritten the same way
// should one be there.
func migrateNodeKeys(tx *bolt.Tx) error {
	if err := rekeyNodes(tx, nil); err != nil {
		return fmt.Errorf("own log: %w", err)
	}
	mirrors := tx.Bucket(bucketMirrors)
	if mirrors == nil {
		return nil
	}
	var courts [][]byte
	if err := mirrors.ForEachBucket(func(k []byte) error { courts = append(courts, bytes.Clone(k)); return nil }); err != nil {
		return err
	}
	for _, c := range courts {
		if err := rekeyNodes(tx, mirrors.Bucket(c)); err != nil {
			return fmt.Errorf("mirror of %s: %w", c, err)
		}
	}
	return nil
}

// rekeyNodes rewrites the nodes bucket under parent (nil: the file's top
// level) from layout 1 keys to nodeKey.
func rekeyNodes(tx *bolt.Tx, parent *bolt.Bucket) error {
	get := tx.Bucket
	del, create := tx.DeleteBucket, tx.CreateBucket
	if parent != nil {
		get, del, create = parent.Bucket, parent.DeleteBucket, parent.CreateBucket
	}
	old := get(bucketNodes)
	if old == nil {
		return nil
	}
	type node struct{ key, hash []byte }
	var nodes []node
	err := old.ForEach(func(k, v []byte) error {
		if len(k) != 9 || k[0] > 63 {
			return fmt.Errorf("node key %x is not a layout 1 key (level byte, u64 index)", k)
		}
		id := compact.NewNodeID(uint(k[0]), binary.BigEndian.Uint64(k[1:]))
		nodes = append(nodes, node{nodeKey(id), bytes.Clone(v)})
		return nil
	})
	if err != nil {
		return err
	}
	if err := del(bucketNodes); err != nil {
		return err
	}
	b, err := create(bucketNodes)
	if err != nil {
		return err
	}
	b.FillPercent = appendOnlyFill
	sort.Slice(nodes, func(i, j int) bool { return bytes.Compare(nodes[i].key, nodes[j].key) < 0 })
	for i, n := range nodes {
		if i > 0 && bytes.Equal(n.key, nodes[i-1].key) {
			return fmt.Errorf("two layout 1 nodes map to key %x", n.key)
		}
		if err := b.Put(n.key, n.hash); err != nil {
			return err
		}
	}
	return nil
}
