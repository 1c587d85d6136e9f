package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"

	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/evidence"
)

// logBuckets are the buckets of one Merkle log in the ledger file: the
// court's own (at the top level) or a mirror of another court's (nested
// under bucketMirrors). Both have the same layout, so every read and every
// append is written once for both. court is the log's origin, which every
// entry and head read from it must name.
type logBuckets struct {
	court                                         string
	entries, nodes, evidence, fingerprints, heads *bolt.Bucket
	// pend indexes the entries the evidence and fingerprint buckets do not
	// yet (index.go); nil where only the file is read (verify.go).
	pend *pendingIndex
}

func ownLog(tx *bolt.Tx) logBuckets {
	return logBuckets{
		court:        string(tx.Bucket(bucketMeta).Get(keyCourt)),
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
	return logBucketsIn(mb, court), mb, true
}

func logBucketsIn(mb *bolt.Bucket, court string) logBuckets {
	return logBuckets{
		court:        court,
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
	if err := markIndexed(mb); err != nil {
		return logBuckets{}, nil, err
	}
	return logBucketsIn(mb, court), mb, nil
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

// The reads below check what they return against the hashes that commit
// to it before it is served, as the design asks of every record read: an
// entry against its stored leaf hash and the key it was found
// under, a proof against the root of the signed head it is served with, a
// head against the root of the stored tree at its size. Each check costs
// O(1) or O(log n) reads and hashes. A mismatch is a *CorruptError, which
// fsm.view records (markCorrupt) and the node is no longer ready.

// rawEntry returns the stored bytes of entry index, checked against its
// leaf hash, SM3(0x00 || bytes), stored as node (0, index).
func (lb logBuckets) rawEntry(index uint64) ([]byte, error) {
	raw := lb.entries.Get(u64(index))
	leaf := lb.nodes.Get(nodeKey(compact.NewNodeID(0, index)))
	switch {
	case raw == nil && leaf == nil:
		return nil, fmt.Errorf("%w: entry %d", ErrNotFound, index)
	case raw == nil:
		return nil, lb.corrupt(index, errors.New("the entry is missing but its leaf hash is stored"))
	case leaf == nil:
		return nil, lb.corrupt(index, errors.New("no leaf hash is stored for it"))
	}
	if got := merkle.LeafHash(raw); !bytes.Equal(got, leaf) {
		return nil, lb.corrupt(index, fmt.Errorf("its bytes hash to leaf %x, the tree holds %x", got, leaf))
	}
	return raw, nil
}

// corrupt is the error of entry index of the log.
func (lb logBuckets) corrupt(index uint64, err error) *CorruptError {
	return &CorruptError{What: fmt.Sprintf("entry %d of %s", index, lb.court), Err: err}
}

func (lb logBuckets) entry(index uint64) (*evidence.Entry, error) {
	raw, err := lb.rawEntry(index)
	if err != nil {
		return nil, err
	}
	return lb.decode(index, raw)
}

// decode decodes raw, which is checked against its leaf hash, as the entry
// at index of the log.
func (lb logBuckets) decode(index uint64, raw []byte) (*evidence.Entry, error) {
	e, err := evidence.UnmarshalEntry(raw)
	if err != nil {
		return nil, lb.corrupt(index, err)
	}
	if e.Index != index || e.Court != lb.court {
		return nil, lb.corrupt(index, fmt.Errorf("it is entry %d of %s", e.Index, e.Court))
	}
	return e, nil
}

func (lb logBuckets) indexOf(evidenceID string) (uint64, bool) {
	key := evidenceKey(evidenceID)
	if i, ok := lb.pend.indexOf(key); ok {
		return i, true
	}
	v := lb.evidence.Get(key)
	if v == nil {
		return 0, false
	}
	return getU64(v), true
}

// byEvidenceID returns the entry the evidence index holds for id, checked to
// be that evidence.
func (lb logBuckets) byEvidenceID(id string) (*evidence.Entry, error) {
	idx, ok := lb.indexOf(id)
	if !ok {
		return nil, fmt.Errorf("%w: evidence %q", ErrNotFound, id)
	}
	e, err := lb.entry(idx)
	if err != nil {
		return nil, err
	}
	if e.EvidenceID != id {
		return nil, lb.corrupt(idx, fmt.Errorf("the evidence index has it for %s, it is %s", id, e.EvidenceID))
	}
	return e, nil
}

// head parses a stored signed head and checks it is the log's, stored under
// its own size (key).
func (lb logBuckets) head(key, note []byte) (SignedHead, error) {
	what := fmt.Sprintf("signed head at size %d of %s", getU64(key), lb.court)
	h, err := parseHead(note)
	if err != nil {
		return SignedHead{}, &CorruptError{What: what, Err: err}
	}
	if h.Size != getU64(key) || len(key) != 8 || h.Origin != lb.court {
		return SignedHead{}, &CorruptError{What: what, Err: fmt.Errorf("it is the head of %s at size %d", h.Origin, h.Size)}
	}
	return SignedHead{Head: h, Note: bytes.Clone(note)}, nil
}

// checkedHead is head, with the head's root also checked against the root
// of the stored tree at its size: O(log n) stored hashes.
func (lb logBuckets) checkedHead(key, note []byte) (SignedHead, error) {
	h, err := lb.head(key, note)
	if err != nil {
		return SignedHead{}, err
	}
	rng, err := lb.rangeAt(h.Head.Size)
	if err != nil {
		return SignedHead{}, err
	}
	return h, lb.matchRoot(h, rng)
}

// matchRoot checks that the stored tree rng has the root h signs.
func (lb logBuckets) matchRoot(h SignedHead, rng *merkle.Range) error {
	if root := rng.Root(); !bytes.Equal(root, h.Head.Root) {
		return &CorruptError{What: fmt.Sprintf("tree of %s at size %d", lb.court, h.Head.Size),
			Err: fmt.Errorf("stored hashes give root %x, the signed head says %x", root, h.Head.Root)}
	}
	return nil
}

// rangeAt loads the right edge of the stored tree at size, which the log
// holds: a hash missing or malformed there is corruption.
func (lb logBuckets) rangeAt(size uint64) (*merkle.Range, error) {
	rng, err := merkle.LoadRange(context.Background(), bucketHashes{lb.nodes}, size)
	if err != nil {
		return nil, lb.treeErr(size, err)
	}
	return rng, nil
}

// treeErr turns a hash the log should hold but does not into corruption.
func (lb logBuckets) treeErr(size uint64, err error) error {
	if errors.Is(err, merkle.ErrMissingHash) {
		return &CorruptError{What: fmt.Sprintf("tree of %s at size %d", lb.court, size), Err: err}
	}
	return err
}

// rootAt is the root the log committed to at size: its signed head's if it
// holds one there, else the stored tree's.
func (lb logBuckets) rootAt(size uint64) ([]byte, error) {
	if note := lb.heads.Get(u64(size)); note != nil {
		h, err := lb.head(u64(size), note)
		if err != nil {
			return nil, err
		}
		return h.Head.Root, nil
	}
	rng, err := lb.rangeAt(size)
	if err != nil {
		return nil, err
	}
	return rng.Root(), nil
}

// checkedRange is rangeAt, checked against the signed head at size if the
// log holds one there.
func (lb logBuckets) checkedRange(size uint64) (*merkle.Range, error) {
	rng, err := lb.rangeAt(size)
	if err != nil {
		return nil, err
	}
	if note := lb.heads.Get(u64(size)); note != nil {
		h, err := lb.head(u64(size), note)
		if err != nil {
			return nil, err
		}
		if err := lb.matchRoot(h, rng); err != nil {
			return nil, err
		}
	}
	return rng, nil
}

// headCovering returns the first signed head whose tree includes index: the
// head of the batch that recorded it, so a receipt rebuilt later is the
// receipt given at the time.
func (lb logBuckets) headCovering(index uint64) (SignedHead, error) {
	k, v := lb.heads.Cursor().Seek(u64(index + 1))
	if k == nil {
		return SignedHead{}, fmt.Errorf("%w: no head covers entry %d", ErrNotFound, index)
	}
	return lb.head(k, v)
}

// inclusion returns the proof that leaf is entry index of the tree of size
// entries, checked against root before it is served.
func (lb logBuckets) inclusion(index, size uint64, leaf, root []byte) ([][]byte, error) {
	p, err := merkle.Inclusion(context.Background(), bucketHashes{lb.nodes}, index, size)
	if err != nil {
		return nil, lb.treeErr(size, fmt.Errorf("proof of entry %d: %w", index, err))
	}
	if err := merkle.VerifyInclusion(index, size, leaf, p, root); err != nil {
		return nil, &CorruptError{What: fmt.Sprintf("proof of entry %d of %s in the tree of size %d", index, lb.court, size), Err: err}
	}
	return p, nil
}

// receiptFor builds the receipt of entry index against the signed head h,
// checking that the proof leads from the entry's bytes to h's root.
func (lb logBuckets) receiptFor(index uint64, h SignedHead, note []byte) (*evidence.Receipt, error) {
	raw, err := lb.rawEntry(index)
	if err != nil {
		return nil, err
	}
	e, err := lb.decode(index, raw)
	if err != nil {
		return nil, err
	}
	p, err := lb.inclusion(index, h.Head.Size, merkle.LeafHash(raw), h.Head.Root)
	if err != nil {
		return nil, err
	}
	return &evidence.Receipt{Entry: *e, Proof: p, SignedHead: note}, nil
}

func (lb logBuckets) receipt(index uint64) (*evidence.Receipt, error) {
	h, err := lb.headCovering(index)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			// No head: report the entry's own state (absent or corrupt).
			if _, eerr := lb.entry(index); eerr != nil {
				return nil, eerr
			}
		}
		return nil, err
	}
	return lb.receiptFor(index, h, h.Note)
}

func (lb logBuckets) lookup(fp evidence.Fingerprint, limit int) ([]*evidence.Entry, error) {
	var out []*evidence.Entry
	add := func(idx uint64, keyOK bool) error {
		e, err := lb.entry(idx)
		if err != nil {
			return err
		}
		if e.Submission.Fingerprint != fp || !keyOK {
			return lb.corrupt(idx, fmt.Errorf("the fingerprint index has it for %x, its fingerprint is %x", fp, e.Submission.Fingerprint))
		}
		out = append(out, e)
		return nil
	}
	// The buckets index the older entries, the pending index the newer.
	c := lb.fingerprints.Cursor()
	for k, _ := c.Seek(fp[:]); k != nil && bytes.HasPrefix(k, fp[:]) && len(out) < limit; k, _ = c.Next() {
		if err := add(getU64(k[len(fp):]), len(k) == len(fp)+8); err != nil {
			return nil, err
		}
	}
	for _, idx := range lb.pend.lookup(fp) {
		if len(out) >= limit {
			break
		}
		if err := add(idx, true); err != nil {
			return nil, err
		}
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
		if _, dup := lb.indexOf(e.EvidenceID); seen[e.EvidenceID] || dup {
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

	if lb.pend == nil {
		return nil, fmt.Errorf("consensus: the log of %s is appended to without its pending index", lb.court)
	}
	for i, e := range entries {
		if err := lb.entries.Put(u64(e.Index), raws[i]); err != nil {
			return nil, err
		}
		if err := lb.pend.add(e); err != nil {
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
