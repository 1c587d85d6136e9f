package consensus

import (
	"bytes"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/courtledger/courtledger/evidence"
)

// The evidence and fingerprint indexes are keyed by hashes, so every entry
// lands on a random page of each: written entry by entry, a batch of 80
// entries rewrites some 160 scattered 4 KiB pages on every node, which was
// three quarters of the bytes the court wrote per submission (issue 14).
// Instead, the newest entries of each log are indexed in memory
// (pendingIndex) and written to the index buckets every indexFlushEvery
// entries in one pass in key order, in the same transaction as the batch
// that fills it, so a page is written once per flush rather than once per
// entry. The entries themselves, their Merkle nodes and heads are written
// with their batch as before: nothing acknowledged depends on the index.
//
// keyIndexed, written with each flush, says where the index buckets end:
// at open the entries after it are read back into memory (at most one
// flush's worth), so a crash, a restart or a restored snapshot loses
// nothing. Readers and the applier already exclude each other (fsm.mu), so
// a reader sees the buckets and the pending entries of the same commit.

// A flush of k random keys into buckets of P leaf pages rewrites about
// P·(1-e^(-k/P)) pages: once the index outgrows k pages, about a page per
// entry again. So the bound grows with the log, from minIndexFlush entries
// to maxIndexFlush, at 1/indexFlushShare of what the buckets hold; it
// bounds what a log holds in memory (about 150 bytes an entry) and what a
// start reads back. Growth to 10^7 entries measured the difference
// (docs/benchmarks.md). Past some 10^7 entries a log wants shards by
// period (docs/ledger.md, "Scale").
const (
	minIndexFlush   = 16384
	maxIndexFlush   = 262144
	indexFlushShare = 32
)

// pendingIndex holds the index records of entries [from, from+n) of one
// log that are not yet in its index buckets.
type pendingIndex struct {
	from uint64
	n    int
	ids  map[[16]byte]uint64
	fps  map[evidence.Fingerprint][]uint64 // ascending
}

func newPendingIndex(from uint64) *pendingIndex {
	return &pendingIndex{from: from, ids: map[[16]byte]uint64{}, fps: map[evidence.Fingerprint][]uint64{}}
}

// add indexes e, the log's next entry.
func (p *pendingIndex) add(e *evidence.Entry) error {
	if want := p.from + uint64(p.n); e.Index != want {
		return fmt.Errorf("consensus: index: entry %d appended where %d was due", e.Index, want)
	}
	k := evidenceKey(e.EvidenceID)
	if len(k) != 16 {
		return fmt.Errorf("consensus: index: malformed evidence ID %q", e.EvidenceID)
	}
	p.ids[[16]byte(k)] = e.Index
	p.fps[e.Submission.Fingerprint] = append(p.fps[e.Submission.Fingerprint], e.Index)
	p.n++
	return nil
}

func (p *pendingIndex) indexOf(key []byte) (uint64, bool) {
	if p == nil || len(key) != 16 {
		return 0, false
	}
	i, ok := p.ids[[16]byte(key)]
	return i, ok
}

func (p *pendingIndex) lookup(fp evidence.Fingerprint) []uint64 {
	if p == nil {
		return nil
	}
	return p.fps[fp]
}

// flush writes what p holds into lb's index buckets in key order and
// records the new end of the buckets in meta (the log's metadata bucket).
// The caller starts a new pendingIndex once the transaction commits.
func (p *pendingIndex) flush(lb logBuckets, meta *bolt.Bucket) error {
	ids := make([][16]byte, 0, len(p.ids))
	for k := range p.ids {
		ids = append(ids, k)
	}
	slices.SortFunc(ids, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	for _, k := range ids {
		if err := lb.evidence.Put(k[:], u64(p.ids[k])); err != nil {
			return err
		}
	}
	fps := make([]evidence.Fingerprint, 0, len(p.fps))
	for fp := range p.fps {
		fps = append(fps, fp)
	}
	slices.SortFunc(fps, func(a, b evidence.Fingerprint) int { return bytes.Compare(a[:], b[:]) })
	for _, fp := range fps {
		for _, i := range p.fps[fp] {
			if err := lb.fingerprints.Put(fingerprintKey(fp, i), nil); err != nil {
				return err
			}
		}
	}
	return meta.Put(keyIndexed, u64(p.from+uint64(p.n)))
}

// indexedUpTo returns where a log's index buckets end, as recorded in its
// metadata bucket meta. A ledger written before deferred indexing has no
// record: its buckets index every entry.
func indexedUpTo(meta *bolt.Bucket, size uint64) uint64 {
	if v := meta.Get(keyIndexed); v != nil {
		return min(getU64(v), size)
	}
	return size
}

// loadPending reads the entries of lb after its index buckets' end back
// into memory.
func loadPending(lb logBuckets, meta *bolt.Bucket, size uint64) (*pendingIndex, error) {
	from := indexedUpTo(meta, size)
	p := newPendingIndex(from)
	for i := from; i < size; i++ {
		e, err := lb.entry(i)
		if err != nil {
			return nil, fmt.Errorf("index entry %d of %s again: %w", i, lb.court, err)
		}
		if err := p.add(e); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// loadIndexes returns the pending index of every log in the file: the
// court's own and each mirror's.
func loadIndexes(tx *bolt.Tx) (map[string]*pendingIndex, error) {
	meta := tx.Bucket(bucketMeta)
	own := ownLog(tx)
	out := map[string]*pendingIndex{}
	p, err := loadPending(own, meta, getU64(meta.Get(keySize)))
	if err != nil {
		return nil, err
	}
	out[own.court] = p
	err = tx.Bucket(bucketMirrors).ForEachBucket(func(k []byte) error {
		lb, mb, _ := mirrorLog(tx, string(k))
		p, err := loadPending(lb, mb, getU64(mb.Get(keySize)))
		if err != nil {
			return err
		}
		out[string(k)] = p
		return nil
	})
	return out, err
}

// markIndexed records, in a file that has no record yet, that its index
// buckets index every entry: true of files written before deferred
// indexing, and of new files and new mirrors (size 0).
func markIndexed(meta *bolt.Bucket) error {
	if meta.Get(keyIndexed) != nil {
		return nil
	}
	return meta.Put(keyIndexed, u64(getU64(meta.Get(keySize))))
}

// markAllIndexed is markIndexed for the court's own log and every mirror.
func markAllIndexed(tx *bolt.Tx) error {
	if err := markIndexed(tx.Bucket(bucketMeta)); err != nil {
		return err
	}
	return tx.Bucket(bucketMirrors).ForEachBucket(func(k []byte) error {
		return markIndexed(tx.Bucket(bucketMirrors).Bucket(k))
	})
}

// withIndex gives lb the pending index of its log, which its reads
// consult. The caller holds f.mu.
func (f *fsm) withIndex(lb logBuckets) logBuckets {
	lb.pend = f.index[lb.court]
	return lb
}

// forAppend is withIndex for the applier (f.mu held for writing): a log
// seen for the first time, a new mirror, gets an empty pending index.
func (f *fsm) forAppend(lb logBuckets) logBuckets {
	if f.index == nil {
		f.index = map[string]*pendingIndex{}
	}
	if f.index[lb.court] == nil {
		f.index[lb.court] = newPendingIndex(0)
	}
	return f.withIndex(lb)
}

// flushIndexes writes each log's pending index that holds at least
// f.flushEvery entries; it returns the logs flushed, whose pending
// indexes start afresh once the transaction commits.
func (f *fsm) flushIndexes(tx *bolt.Tx) ([]string, error) {
	var flushed []string
	for court, p := range f.index {
		if p.n < f.flushEvery(p.from) {
			continue
		}
		var (
			lb   logBuckets
			meta *bolt.Bucket
		)
		if court == f.court {
			lb, meta = ownLog(tx), tx.Bucket(bucketMeta)
		} else {
			var ok bool
			if lb, meta, ok = mirrorLog(tx, court); !ok {
				return nil, fmt.Errorf("consensus: index of the mirror of %s: its bucket is missing", court)
			}
		}
		if err := p.flush(lb, meta); err != nil {
			return nil, err
		}
		flushed = append(flushed, court)
	}
	return flushed, nil
}

// indexesFlushed starts afresh, once the transaction that wrote them has
// committed, the pending indexes of the logs flushIndexes wrote.
func (f *fsm) indexesFlushed(courts []string) {
	for _, court := range courts {
		p := f.index[court]
		f.index[court] = newPendingIndex(p.from + uint64(p.n))
	}
}

// flushEvery is the bound for a log whose buckets index its first indexed
// entries.
func (f *fsm) flushEvery(indexed uint64) int {
	if f.indexFlushEvery > 0 {
		return f.indexFlushEvery
	}
	return int(min(max(indexed/indexFlushShare, minIndexFlush), maxIndexFlush))
}
