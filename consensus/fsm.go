package consensus

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"

	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/evidence"
)

// Errors of applying a command. They are decided identically on every
// replica, so a rejected command changes nothing anywhere.
var (
	// ErrStaleBatch means a batch did not extend the log as it stands: its
	// indexes, evidence IDs or root disagree with what was applied before it.
	// It happens when batches were in flight across a leader change; their
	// submissions are retried.
	ErrStaleBatch = errors.New("consensus: batch does not extend the log")
	// ErrLedgerBroken means a write to the ledger file failed; the replica
	// applies nothing more until it has restarted Raft over the reopened
	// file (heal.go), when Raft replays what is missing.
	ErrLedgerBroken = errors.New("consensus: ledger file failed, node must restart")
	// ErrLedgerBehind means Raft handed the ledger a log entry while the
	// ledger lacks committed entries before it (its file was lost or is
	// older than Raft's snapshot). Nothing is applied, and no applied index
	// recorded, until the ledger is rebuilt (heal.go).
	ErrLedgerBehind = errors.New("consensus: ledger misses committed entries, node must rebuild")
	// ErrNeedsUpgrade is the state of a node that met a committed entry in
	// a format newer than it reads: it applies nothing more (as for
	// ErrLedgerBehind) until a newer build replays the entry from Raft's
	// log, rather than skip what the other nodes record.
	ErrNeedsUpgrade = errors.New("consensus: a committed entry is in a newer format than this build reads; upgrade the node")
)

// errDamaged marks a ledger file that bbolt could not read.
var errDamaged = errors.New("file is damaged")

// platformRecord is a registered platform, as stored (see schema.go):
// u8 revoked, u64 registered-at ms, u64 revoked-at ms, bytes SPKI DER.
type platformRecord struct {
	revoked      bool
	registeredAt int64
	revokedAt    int64
	der          []byte
}

func (p platformRecord) encode() []byte {
	w := wbuf{}
	if p.revoked {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
	w.u64(uint64(p.registeredAt))
	w.u64(uint64(p.revokedAt))
	w.bytes(p.der)
	return w.b
}

func decodePlatformRecord(b []byte) (platformRecord, error) {
	if len(b) < 1 {
		return platformRecord{}, fmt.Errorf("%w: empty platform record", errBadCommand)
	}
	r := rbuf{b: b[1:]}
	p := platformRecord{revoked: b[0] == 1}
	p.registeredAt = int64(r.u64("registered"))
	p.revokedAt = int64(r.u64("revoked"))
	p.der = bytes.Clone(r.bytes("key", maxKeyDER))
	return p, r.err
}

// fsm is the ledger state machine over its bbolt file. Apply, ApplyBatch,
// Snapshot and Restore are called by Raft from one goroutine; reads come from
// any goroutine and see committed bbolt transactions.
type fsm struct {
	path  string
	court string
	log   *slog.Logger
	grown func() // called when the own log grows or is replaced; may be nil
	// applyTime, if set, observes how long each ApplyBatch took (metrics.go).
	applyTime interface{ Observe(float64) }

	// afterCommit, if set, runs after each bbolt commit and before Apply
	// returns: tests crash the node there.
	afterCommit func(raftIndex uint64)
	// failWrite, if set, runs inside each ledger write transaction; an error
	// fails the write as a full disk would. Tests set it.
	failWrite func() error

	// logs is Raft's log store. When Raft hands over an entry beyond the
	// next one, ApplyBatch reads the entries in between from it: only
	// no-ops, which Raft never hands to the FSM, may be missing from the
	// ledger. Nil in tests of the FSM alone.
	logs raft.LogStore
	// snapshotIndex returns the index of the newest snapshot in the store;
	// after a Restore the ledger holds everything up to it.
	snapshotIndex func() uint64

	mu        sync.RWMutex // guards everything below
	db        *bolt.DB
	rng       *merkle.Range // right edge of the log, O(log n) hashes
	applied   uint64
	platforms map[string]*sm2.PublicKey // active platforms only
	mirrors   map[string]*merkle.Range  // right edges of the mirrors of other courts
	index     map[string]*pendingIndex  // per log (court ID): entries not yet in its index buckets (index.go)
	// indexFlushEvery, if set, replaces the bound flushEvery computes (tests).
	indexFlushEvery int
	broken          error // set when a write failed (ErrLedgerBroken)
	behind          error // set when committed entries are missing (ErrLedgerBehind)
	// floor is the Raft index up to which the ledger is known complete even
	// where applied is lower: the index of the snapshot it was restored
	// from, whose last entries may have been no-ops.
	floor uint64

	corrupt     atomic.Pointer[CorruptError] // first corruption found (health.go)
	corruptions atomic.Uint64
}

func openFSM(path, court string, log *slog.Logger) (*fsm, error) {
	f := &fsm{path: path, court: court, log: log}
	if err := f.open(); err != nil {
		return nil, err
	}
	return f, nil
}

// boltOptions are those of both bbolt files, the ledger and Raft's log, as
// etcd sets them for its backend. The freelist is not written in each
// commit but rebuilt by a scan of the file when it is opened: that saves a
// page or more per commit (the log's freelist grows with every compaction)
// for a slower start. Every commit's data and meta pages are still synced.
func boltOptions() *bolt.Options {
	return &bolt.Options{
		Timeout:        5 * time.Second,
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
	}
}

// ledgerMmapMin is the least address space mapped for a ledger file.
// bbolt grows its mapping by remapping, which waits for every open read
// transaction to end; a backup or a Raft snapshot is one read transaction
// over the whole file, so a commit that needed a larger mapping would wait
// for the copy (over 10 s at 1 GiB), the ledger would fall behind, and the
// leader would hand over. etcd maps 10 GiB for the same reason. The
// mapping is address space, not memory: pages are read in as touched.
const ledgerMmapMin = 16 << 30

// ledgerBoltOptions are boltOptions for the ledger file at path: mapped
// with room to grow to twice its size (at least ledgerMmapMin) before any
// remap, so that commits do not wait for a copy in progress.
func ledgerBoltOptions(path string) *bolt.Options {
	o := boltOptions()
	if strconv.IntSize < 64 {
		return o // a 32-bit address space has no such room
	}
	size := int64(0)
	if fi, err := os.Stat(path); err == nil {
		size = fi.Size()
	}
	o.InitialMmapSize = int(max(ledgerMmapMin, 2*size))
	return o
}

// open opens the bbolt file, walking its pages first, and loads the
// in-memory state from it.
func (f *fsm) open() error { return f.openWith(openLedgerDB) }

// openInspected is open for a file that inspectLedger has just passed, or
// that does not exist yet: its pages are not walked a second time.
func (f *fsm) openInspected() error { return f.openWith(openWalkedDB) }

func (f *fsm) openWith(openDB func(path string) (*bolt.DB, error)) (err error) {
	var db *bolt.DB
	defer func() {
		// bbolt panics on some damaged pages rather than returning an error;
		// the caller moves such a file aside (heal.go).
		if p := recover(); p != nil {
			if db != nil {
				db.Close()
			}
			err = fmt.Errorf("load ledger %s: %w: bbolt panicked: %v", f.path, errDamaged, p)
		}
	}()
	// The pages are walked first (here or by the caller), so a damaged
	// file is an error, not a panic; such a file is moved aside like one
	// bbolt cannot read.
	db, err = openDB(f.path)
	if errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("%w: %w", errDamaged, err)
	}
	if err != nil {
		return fmt.Errorf("open ledger %s: %w", f.path, err)
	}
	var (
		size, applied uint64
		layoutFrom    uint64
		platforms     = map[string]*sm2.PublicKey{}
	)
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch c := meta.Get(keyCourt); {
		case c == nil:
			if err := meta.Put(keyCourt, []byte(f.court)); err != nil {
				return err
			}
			if err := meta.Put(keyLayout, u64(layoutVersion)); err != nil {
				return err
			}
		case string(c) != f.court:
			return fmt.Errorf("ledger belongs to court %q, not %q", c, f.court)
		}
		var err error
		if layoutFrom, err = upgradeLayout(tx); err != nil {
			return err
		}
		if err := markAllIndexed(tx); err != nil {
			return err
		}
		size, applied = getU64(meta.Get(keySize)), getU64(meta.Get(keyApplied))
		return tx.Bucket(bucketPlatforms).ForEach(func(k, v []byte) error {
			rec, err := decodePlatformRecord(v)
			if err != nil {
				return fmt.Errorf("platform %q: %w", k, err)
			}
			if !rec.revoked {
				pub, err := sm2.ParsePublicKeyDER(rec.der)
				if err != nil {
					return fmt.Errorf("platform %q: %w", k, err)
				}
				platforms[string(k)] = pub
			}
			return nil
		})
	})
	if err != nil {
		db.Close()
		return fmt.Errorf("load ledger %s: %w", f.path, err)
	}
	if layoutFrom != layoutVersion {
		f.log.Warn("ledger file migrated to this build's layout", "path", f.path, "from", layoutFrom, "to", layoutVersion)
	}
	var (
		rng     *merkle.Range
		mirrors map[string]*merkle.Range
		index   map[string]*pendingIndex
	)
	err = db.View(func(tx *bolt.Tx) error {
		var err error
		if rng, err = merkle.LoadRange(context.Background(), bucketHashes{tx.Bucket(bucketNodes)}, size); err != nil {
			return err
		}
		if mirrors, err = loadMirrors(tx); err != nil {
			return err
		}
		index, err = loadIndexes(tx)
		return err
	})
	if err != nil {
		db.Close()
		var ce *CorruptError
		if errors.As(err, &ce) && ce.Path == "" {
			ce.Path = f.path // a damaged entry still indexed in memory, read back here
		}
		return fmt.Errorf("load ledger %s: %w", f.path, err)
	}
	f.mu.Lock()
	f.db, f.rng, f.applied, f.platforms, f.mirrors, f.index, f.broken, f.behind = db, rng, applied, platforms, mirrors, index, nil, nil
	f.floor = applied
	f.mu.Unlock()
	return nil
}

func (f *fsm) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.db == nil {
		return nil
	}
	err := f.db.Close()
	f.db = nil
	return err
}

// Apply implements raft.FSM.
func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch implements raft.BatchingFSM: all the logs Raft hands over at
// once go into one bbolt transaction, so one fsync.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	if f.applyTime != nil {
		// A measurement only: the clock never reaches the ledger's bytes.
		defer func(start time.Time) { f.applyTime.Observe(time.Since(start).Seconds()) }(time.Now())
	}
	results := make([]any, len(logs))
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.refusal(); err != nil {
		for i := range results {
			results[i] = err
		}
		return results
	}
	var (
		last      uint64
		rng       = f.rng
		platforms map[string]*sm2.PublicKey
		mirrors   map[string]*merkle.Range
		gap       = len(logs) // index of the first log the ledger cannot take
		flushed   []string    // logs whose pending indexes were written
	)
	err := f.db.Update(func(tx *bolt.Tx) error {
		if f.failWrite != nil {
			if err := f.failWrite(); err != nil {
				return err
			}
		}
		prev := max(f.applied, f.floor)
		for i, l := range logs {
			if l.Index <= f.applied {
				// Already in the ledger: a replay after a crash between the
				// bbolt commit and Raft's own bookkeeping.
				results[i] = nil
				continue
			}
			if l.Index > prev+1 {
				if err := f.missing(prev, l.Index); err != nil {
					// Rejecting the batch here and recording its index would
					// skip the missing entries for good: record nothing.
					f.behind = err
					gap = i
					break
				}
			}
			lastBefore := last
			prev = l.Index
			last = l.Index
			if l.Type != raft.LogCommand {
				continue
			}
			cmd, err := decodeCommand(l.Data)
			if err != nil {
				results[i] = err
				continue
			}
			switch c := cmd.(type) {
			case *appendBatch:
				next, err := f.applyBatch(tx, rng, c)
				if err == nil {
					rng = next
				}
				results[i] = err
			case *registerPlatform:
				if platforms == nil {
					platforms = clonePlatforms(f.platforms)
				}
				results[i] = applyRegister(tx, platforms, c)
			case *revokePlatform:
				if platforms == nil {
					platforms = clonePlatforms(f.platforms)
				}
				results[i] = applyRevoke(tx, platforms, c)
			case *mirrorAppend:
				if mirrors == nil {
					mirrors = cloneMirrors(f.mirrors)
				}
				results[i] = f.applyMirror(tx, mirrors, c)
			case *addCosignature:
				results[i] = applyCosignature(tx, c)
			case *Alarm:
				results[i] = applyRaiseAlarm(tx, c)
			case *clearAlarm:
				results[i] = applyClearAlarm(tx, c)
			case *auditAppend: // security (issue 7), audit.go
				results[i] = applyAudit(tx, c)
			case *addTimestamp: // trusted time (issue 16), timestamp.go
				results[i] = applyTimestamp(tx, c)
			case *addMirrorTimestamp: // mirrorstamp.go
				results[i] = applyMirrorTimestamp(tx, c)
			}
			if err, _ := results[i].(error); errors.Is(err, evidence.ErrNewerVersion) {
				// Skipping it as a stale batch would leave this node
				// without entries the others record: stop here, as for
				// missing entries, until a newer build replays it.
				f.behind = fmt.Errorf("%w: Raft index %d: %w", ErrNeedsUpgrade, l.Index, err)
				last, gap = lastBefore, i
				break
			}
		}
		if last == 0 {
			return nil
		}
		var err error
		if flushed, err = f.flushIndexes(tx); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyApplied, u64(last))
	})
	if err != nil {
		// The pending indexes took this transaction's entries: read them
		// again from what the file holds.
		if rerr := f.db.View(func(tx *bolt.Tx) (err error) { f.index, err = loadIndexes(tx); return }); rerr != nil {
			f.log.Error("reading the pending indexes again failed", "file", f.path, "err", rerr)
		}
		f.broken = fmt.Errorf("%w: %s: %w", ErrLedgerBroken, f.path, err)
		f.log.Error("ledger write failed; applying nothing more until Raft restarts over the file", "file", f.path, "err", err)
		for i := range results {
			results[i] = f.broken
		}
		return results
	}
	for i := gap; i < len(logs); i++ {
		results[i] = f.behind
	}
	if gap < len(logs) {
		f.log.Error("ledger cannot take committed entries: applying nothing more (rebuild or upgrade, as the error says)", "file", f.path, "err", f.behind)
	}
	if last != 0 {
		f.applied = last
	}
	f.indexesFlushed(flushed)
	if f.grown != nil && rng.Size() != f.rng.Size() {
		defer f.grown() // waiters read the new size once the lock is released
	}
	f.rng = rng
	if platforms != nil {
		f.platforms = platforms
	}
	if mirrors != nil {
		f.mirrors = mirrors
	}
	if f.afterCommit != nil && last != 0 {
		f.afterCommit(last)
	}
	return results
}

// refusal is why the ledger takes no more entries, if it does not.
func (f *fsm) refusal() error {
	if f.broken != nil {
		return f.broken
	}
	return f.behind
}

// missing checks that the Raft entries strictly between from and to, which
// Raft did not hand over, are of the types Raft never hands to the FSM
// (no-ops, barriers). A command or configuration entry, or one compacted
// away, is committed data this ledger lacks: Raft took a snapshot's index as
// applied while the ledger is older than that snapshot.
func (f *fsm) missing(from, to uint64) error {
	if f.logs == nil {
		return nil
	}
	for i := from + 1; i < to; i++ {
		var e raft.Log
		if err := f.logs.GetLog(i, &e); err != nil {
			return fmt.Errorf("%w: ledger %s is at Raft index %d, Raft applies %d, and entry %d is not in the log (%v)",
				ErrLedgerBehind, f.path, from, to, i, err)
		}
		if e.Type == raft.LogCommand || e.Type == raft.LogConfiguration {
			return fmt.Errorf("%w: ledger %s is at Raft index %d, Raft applies %d, and entry %d (%s) never reached the ledger",
				ErrLedgerBehind, f.path, from, to, i, e.Type)
		}
	}
	return nil
}

func clonePlatforms(m map[string]*sm2.PublicKey) map[string]*sm2.PublicKey {
	c := make(map[string]*sm2.PublicKey, len(m)+1)
	for k, v := range m {
		c[k] = v
	}
	return c
}

// applyBatch appends a batch to the court's own log (see logBuckets.extend).
// It returns the range after the batch.
func (f *fsm) applyBatch(tx *bolt.Tx, rng *merkle.Range, c *appendBatch) (*merkle.Range, error) {
	next, err := f.forAppend(ownLog(tx)).extend(rng, f.court, c.entries, [][]byte{c.signedHead}, ErrStaleBatch)
	if err != nil {
		return nil, err
	}
	if err := tx.Bucket(bucketMeta).Put(keySize, u64(next.Size())); err != nil {
		return nil, err
	}
	return next, nil
}

// evidenceKey is the 16 raw bytes of a hex evidence ID; nil if malformed,
// which bbolt treats as absent.
func evidenceKey(id string) []byte {
	b, err := hex.DecodeString(id)
	if err != nil || len(b) != evidence.EvidenceIDLen/2 {
		return []byte{}
	}
	return b
}

// ErrPlatformExists is returned when registering a platform ID in use.
var ErrPlatformExists = errors.New("consensus: platform already registered")

// ErrUnknownPlatform is returned for a platform ID never registered, or revoked.
var ErrUnknownPlatform = errors.New("consensus: platform not registered or revoked")

func applyRegister(tx *bolt.Tx, platforms map[string]*sm2.PublicKey, c *registerPlatform) error {
	b := tx.Bucket(bucketPlatforms)
	if old := b.Get([]byte(c.id)); old != nil {
		if rec, err := decodePlatformRecord(old); err == nil && !rec.revoked {
			return fmt.Errorf("%w: %q", ErrPlatformExists, c.id)
		}
	}
	pub, err := sm2.ParsePublicKeyDER(c.der)
	if err != nil {
		return err
	}
	if err := b.Put([]byte(c.id), platformRecord{registeredAt: c.at, der: c.der}.encode()); err != nil {
		return err
	}
	platforms[c.id] = pub
	return nil
}

func applyRevoke(tx *bolt.Tx, platforms map[string]*sm2.PublicKey, c *revokePlatform) error {
	b := tx.Bucket(bucketPlatforms)
	old := b.Get([]byte(c.id))
	if old == nil {
		return fmt.Errorf("%w: %q", ErrUnknownPlatform, c.id)
	}
	rec, err := decodePlatformRecord(old)
	if err != nil {
		return err
	}
	if rec.revoked {
		return fmt.Errorf("%w: %q", ErrUnknownPlatform, c.id)
	}
	rec.revoked, rec.revokedAt = true, c.at
	if err := b.Put([]byte(c.id), rec.encode()); err != nil {
		return err
	}
	delete(platforms, c.id)
	return nil
}

// Snapshot implements raft.FSM. It opens a read transaction here, in the
// apply goroutine, so the snapshot is exactly the state at the last applied
// index; Persist streams it from another goroutine while applies go on.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return nil, fmt.Errorf("snapshot: ledger %s is closed", f.path)
	}
	tx, err := f.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return &snapshot{tx: tx}, nil
}

type snapshot struct{ tx *bolt.Tx }

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.tx.WriteTo(sink); err != nil {
		sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) Release() { _ = s.tx.Rollback() }

// Restore implements raft.FSM: the snapshot is a whole bbolt file. It is
// written beside the ledger, synced, checked to be this court's ledger, and
// then renamed over it.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	tmp := f.path + ".restore"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	_, err = io.Copy(out, rc)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore: write %s: %w", tmp, err)
	}
	// A snapshot from a node of an older build (a rolling upgrade) is
	// migrated before it is checked.
	if from, err := upgradeFile(tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore: %w", err)
	} else if from != layoutVersion {
		f.log.Warn("snapshot migrated to this build's layout", "from", from, "to", layoutVersion)
	}
	if err := checkLedgerFile(tmp, f.court); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore: %w", err)
	}
	if err := f.close(); err != nil {
		return fmt.Errorf("restore: close ledger: %w", err)
	}
	// From here the ledger is closed: a failure leaves the node broken, and
	// healing (heal.go) starts over from the files.
	if err := os.Rename(tmp, f.path); err != nil {
		return f.failRestore(fmt.Errorf("restore: %w", err))
	}
	if err := syncDir(f.path); err != nil {
		return f.failRestore(fmt.Errorf("restore: %w", err))
	}
	if err := f.openInspected(); err != nil { // checkLedgerFile walked it
		return f.failRestore(fmt.Errorf("restore: %w", err))
	}
	if f.snapshotIndex != nil {
		f.mu.Lock()
		f.floor = max(f.applied, f.snapshotIndex())
		f.mu.Unlock()
	}
	return nil
}

func (f *fsm) failRestore(err error) error {
	f.mu.Lock()
	f.broken = fmt.Errorf("%w: %w", ErrLedgerBroken, err)
	f.mu.Unlock()
	return err
}

// ErrLayout is returned for a ledger file of a layout this build cannot
// migrate (see schema.go, migrate.go): a newer one. It must be rebuilt, by
// a snapshot from a node of this version or by replaying the court's Raft
// log.
var ErrLayout = errors.New("consensus: ledger file has another layout")

func checkLedgerFile(path, court string) error {
	if err := inspectLedger(path, court); err != nil {
		return fmt.Errorf("snapshot does not check: %w", err)
	}
	return nil
}

func syncDir(file string) error {
	d, err := os.Open(filepath.Dir(file))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
