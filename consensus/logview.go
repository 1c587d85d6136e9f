package consensus

import (
	"bytes"
	"context"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"

	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/evidence"
)

// logBuckets are the buckets of one Merkle log in the ledger file: the
// court's own (at the top level) or a mirror of another court's (nested
// under bucketMirrors). Both have the same layout, so every read and every
// append is written once for both.
type logBuckets struct {
	entries, nodes, evidence, fingerprints, heads *bolt.Bucket
}

func ownLog(tx *bolt.Tx) logBuckets {
	return logBuckets{
		entries:      tx.Bucket(bucketEntries),
		nodes:        tx.Bucket(bucketNodes),
		evidence:     tx.Bucket(bucketEvidence),
		fingerprints: tx.Bucket(bucketFingerprints),
		heads:        tx.Bucket(bucketHeads),
	}.packed()
}

// packed sets the append-only buckets to fill their pages (see
// appendOnlyFill); FillPercent lives only as long as the transaction.
func (lb logBuckets) packed() logBuckets {
	lb.entries.FillPercent, lb.nodes.FillPercent, lb.heads.FillPercent = appendOnlyFill, appendOnlyFill, appendOnlyFill
	return lb
}

// mirrorLog returns the buckets of the mirror of court, and the mirror's own
// bucket (for its metadata); ok is false if nothing was mirrored yet.
func mirrorLog(tx *bolt.Tx, court string) (lb logBuckets, mb *bolt.Bucket, ok bool) {
	mb = tx.Bucket(bucketMirrors).Bucket([]byte(court))
	if mb == nil {
		return logBuckets{}, nil, false
	}
	return logBucketsIn(mb), mb, true
}

func logBucketsIn(mb *bolt.Bucket) logBuckets {
	return logBuckets{
		entries:      mb.Bucket(bucketEntries),
		nodes:        mb.Bucket(bucketNodes),
		evidence:     mb.Bucket(bucketEvidence),
		fingerprints: mb.Bucket(bucketFingerprints),
		heads:        mb.Bucket(bucketHeads),
	}.packed()
}

func createMirror(tx *bolt.Tx, court string) (logBuckets, *bolt.Bucket, error) {
	mb, err := tx.Bucket(bucketMirrors).CreateBucketIfNotExists([]byte(court))
	if err != nil {
		return logBuckets{}, nil, err
	}
	for _, name := range mirrorBuckets {
		if _, err := mb.CreateBucketIfNotExists(name); err != nil {
			return logBuckets{}, nil, err
		}
	}
	return logBucketsIn(mb), mb, nil
}

// bucketHashes reads Merkle node hashes from a log's nodes bucket.
type bucketHashes struct{ b *bolt.Bucket }

func (h bucketHashes) ReadHashes(_ context.Context, ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		v := h.b.Get(nodeKey(id))
		if v == nil {
			return nil, fmt.Errorf("%w: level %d index %d", merkle.ErrMissingHash, id.Level, id.Index)
		}
		out[i] = bytes.Clone(v)
	}
	return out, nil
}

func (lb logBuckets) entry(index uint64) (*evidence.Entry, error) {
	raw := lb.entries.Get(u64(index))
	if raw == nil {
		return nil, fmt.Errorf("%w: entry %d", ErrNotFound, index)
	}
	e, err := evidence.UnmarshalEntry(raw)
	if err != nil {
		return nil, fmt.Errorf("entry %d is corrupt: %w", index, err)
	}
	return e, nil
}

func (lb logBuckets) indexOf(evidenceID string) (uint64, bool) {
	v := lb.evidence.Get(evidenceKey(evidenceID))
	if v == nil {
		return 0, false
	}
	return getU64(v), true
}

// headCovering returns the first signed head whose tree includes index: the
// head of the batch that recorded it, so a receipt rebuilt later is the
// receipt given at the time.
func (lb logBuckets) headCovering(index uint64) (size uint64, signed []byte, err error) {
	k, v := lb.heads.Cursor().Seek(u64(index + 1))
	if k == nil {
		return 0, nil, fmt.Errorf("%w: no head covers entry %d", ErrNotFound, index)
	}
	return getU64(k), bytes.Clone(v), nil
}

func (lb logBuckets) receipt(index uint64) (*evidence.Receipt, error) {
	e, err := lb.entry(index)
	if err != nil {
		return nil, err
	}
	size, signed, err := lb.headCovering(index)
	if err != nil {
		return nil, err
	}
	p, err := merkle.Inclusion(context.Background(), bucketHashes{lb.nodes}, index, size)
	if err != nil {
		return nil, fmt.Errorf("proof of entry %d: %w", index, err)
	}
	return &evidence.Receipt{Entry: *e, Proof: p, SignedHead: signed}, nil
}

func (lb logBuckets) lookup(fp evidence.Fingerprint, limit int) ([]*evidence.Entry, error) {
	var out []*evidence.Entry
	c := lb.fingerprints.Cursor()
	for k, _ := c.Seek(fp[:]); k != nil && bytes.HasPrefix(k, fp[:]) && len(out) < limit; k, _ = c.Next() {
		e, err := lb.entry(getU64(k[len(fp):]))
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// extend checks that raws extend the log whose right edge is rng, as the
// entries of court at consecutive indexes with evidence IDs not seen before,
// and that after each of heads (signed notes, sizes increasing, the last at
// the new size) the log's root is that head's. Only then does it write
// anything, so a rejected command leaves no trace in the transaction it
// shares with others. Errors wrap reject. It returns the range after raws.
func (lb logBuckets) extend(rng *merkle.Range, court string, raws, heads [][]byte, reject error) (*merkle.Range, error) {
	type nodeWrite struct {
		id   compact.NodeID
		hash []byte
	}
	size := rng.Size()
	parsed := make([]uint64, len(heads))
	prev := size
	for i, h := range heads {
		th, err := parseHead(h)
		if err != nil {
			return nil, fmt.Errorf("%w: head %d: %w", reject, i, err)
		}
		if th.Origin != court || th.Size <= prev && !(len(raws) == 0 && th.Size == size) || th.Size > size+uint64(len(raws)) {
			return nil, fmt.Errorf("%w: head of %q at size %d does not fit entries %d..%d", reject, th.Origin, th.Size, size, size+uint64(len(raws)))
		}
		parsed[i], prev = th.Size, th.Size
	}
	if len(heads) == 0 || prev != size+uint64(len(raws)) {
		return nil, fmt.Errorf("%w: no head at the log's new size %d", reject, size+uint64(len(raws)))
	}
	var (
		next    = rng.Clone()
		nodes   []nodeWrite
		entries = make([]*evidence.Entry, len(raws))
		seen    = make(map[string]bool, len(raws))
		hi      = 0
	)
	checkRoot := func() error {
		for hi < len(heads) && parsed[hi] == next.Size() {
			th, _ := parseHead(heads[hi])
			if root := next.Root(); !bytes.Equal(root, th.Root) {
				return fmt.Errorf("%w: root at size %d is %x, head says %x", reject, th.Size, root, th.Root)
			}
			hi++
		}
		return nil
	}
	if err := checkRoot(); err != nil {
		return nil, err
	}
	for i, raw := range raws {
		e, err := evidence.UnmarshalEntry(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %d: %w", reject, i, err)
		}
		if e.Court != court || e.Index != size+uint64(i) {
			return nil, fmt.Errorf("%w: entry of %q at %d, want %q at %d", reject, e.Court, e.Index, court, size+uint64(i))
		}
		if seen[e.EvidenceID] || lb.evidence.Get(evidenceKey(e.EvidenceID)) != nil {
			return nil, fmt.Errorf("%w: evidence %s already recorded", reject, e.EvidenceID)
		}
		seen[e.EvidenceID] = true
		entries[i] = e
		if err := next.Append(merkle.LeafHash(raw), func(id compact.NodeID, h []byte) {
			nodes = append(nodes, nodeWrite{id, h})
		}); err != nil {
			return nil, err
		}
		if err := checkRoot(); err != nil {
			return nil, err
		}
	}

	for i, e := range entries {
		idx := u64(e.Index)
		if err := lb.entries.Put(idx, raws[i]); err != nil {
			return nil, err
		}
		if err := lb.evidence.Put(evidenceKey(e.EvidenceID), idx); err != nil {
			return nil, err
		}
		if err := lb.fingerprints.Put(fingerprintKey(e.Submission.Fingerprint, e.Index), nil); err != nil {
			return nil, err
		}
	}
	for _, n := range nodes {
		if err := lb.nodes.Put(nodeKey(n.id), n.hash); err != nil {
			return nil, err
		}
	}
	for i, h := range heads {
		if err := lb.heads.Put(u64(parsed[i]), h); err != nil {
			return nil, err
		}
	}
	return next, nil
}
