package consensus

import (
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/evidence"
)

// ErrNotFound is returned for an index, evidence ID or head the ledger does
// not hold.
var ErrNotFound = errors.New("consensus: not found")

// ErrEmpty is returned for the head of a ledger with no entries yet.
var ErrEmpty = errors.New("consensus: ledger has no entries yet")

// view runs fn in a read transaction of the current ledger file. Reads are
// served by any replica from what it has applied.
//
// A record that fails its check (logview.go) comes back as a *CorruptError;
// view names the file in it and records it (markCorrupt), so the node stops
// being ready. bbolt panics on pages it cannot parse and faults on
// references past the end of its mapping; both are a damaged file too, and
// become a *CorruptError here rather than the end of the process.
func (f *fsm) view(fn func(tx *bolt.Tx) error) (err error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return errors.New("consensus: ledger is closed")
	}
	defer func() {
		if p := recover(); p != nil {
			err = &CorruptError{What: "a page of the file", Err: fmt.Errorf("bbolt: %v", p)}
		}
		var ce *CorruptError
		if errors.As(err, &ce) {
			if ce.Path == "" {
				ce.Path = f.path
			}
			f.markCorrupt(ce)
		}
	}()
	// A fault on the mapped file must panic (and be recovered above), not
	// crash the process.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return f.db.View(fn)
}

func (f *fsm) size() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.rng.Size()
}

func (f *fsm) appliedIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.applied
}

func (f *fsm) platformKey(id string) (*sm2.PublicKey, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if k, ok := f.platforms[id]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownPlatform, id)
}

func getEntry(tx *bolt.Tx, index uint64) (*evidence.Entry, error) { return ownLog(tx).entry(index) }

func receiptAt(tx *bolt.Tx, index uint64) (*evidence.Receipt, error) {
	return ownLog(tx).receipt(index)
}

func parseHead(note []byte) (checkpoint.TreeHead, error) { return checkpoint.ParseUnverified(note) }

// SignedHead is a tree head as the court signed it.
type SignedHead struct {
	Head checkpoint.TreeHead
	Note []byte // the C2SP signed note
}

// The court's own log, read through the same LogView as its mirrors
// (mirror.go).
func (l *Ledger) own() *LogView { return l.Log(l.cfg.Court) }

// LatestHead returns the newest signed tree head this node has applied.
func (l *Ledger) LatestHead() (SignedHead, error) { return l.own().LatestHead() }

// HeadAt returns the signed head the court made at exactly size entries;
// heads exist for the size after each batch.
func (l *Ledger) HeadAt(size uint64) (SignedHead, error) { return l.own().HeadAt(size) }

// Entry returns the entry at index.
func (l *Ledger) Entry(index uint64) (*evidence.Entry, error) { return l.own().Entry(index) }

// EntryByEvidenceID returns the entry with an evidence ID.
func (l *Ledger) EntryByEvidenceID(id string) (*evidence.Entry, error) {
	return l.own().EntryByEvidenceID(id)
}

// MaxLookup bounds the entries one fingerprint lookup returns.
const MaxLookup = 1000

// Lookup returns up to limit entries (at most MaxLookup) recording a
// fingerprint, oldest first: the same file may be filed more than once.
func (l *Ledger) Lookup(fp evidence.Fingerprint, limit int) ([]*evidence.Entry, error) {
	return l.own().Lookup(fp, limit)
}

// Receipt rebuilds the receipt of the entry at index: the entry, the head
// of the batch that recorded it, and the inclusion proof into that head.
func (l *Ledger) Receipt(index uint64) (*evidence.Receipt, error) { return l.own().Receipt(index) }

// InclusionProof proves the entry at index is in the tree of size entries.
func (l *Ledger) InclusionProof(index, size uint64) ([][]byte, error) {
	return l.own().InclusionProof(index, size)
}

// ConsistencyProof proves the tree of size2 entries extends that of size1.
func (l *Ledger) ConsistencyProof(size1, size2 uint64) ([][]byte, error) {
	return l.own().ConsistencyProof(size1, size2)
}

// Platform is a registered platform as the ledger records it.
type Platform struct {
	ID           string
	Key          *sm2.PublicKey
	Revoked      bool
	RegisteredAt time.Time
	RevokedAt    time.Time // zero unless Revoked
}

// Platform returns the registration of one platform (revoked or not), or
// an error wrapping ErrUnknownPlatform if it was never registered.
func (l *Ledger) Platform(id string) (Platform, error) {
	var p Platform
	err := l.fsm.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketPlatforms).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("%w: %q", ErrUnknownPlatform, id)
		}
		rec, err := decodePlatformRecord(v)
		var key *sm2.PublicKey
		if err == nil {
			key, err = sm2.ParsePublicKeyDER(rec.der)
		}
		if err != nil {
			return &CorruptError{What: fmt.Sprintf("record of platform %q", id), Err: err}
		}
		p = Platform{ID: id, Key: key, Revoked: rec.revoked, RegisteredAt: time.UnixMilli(rec.registeredAt).UTC()}
		if rec.revoked {
			p.RevokedAt = time.UnixMilli(rec.revokedAt).UTC()
		}
		return nil
	})
	return p, err
}

// Platforms lists every platform ever registered, by ID.
func (l *Ledger) Platforms() ([]Platform, error) {
	var out []Platform
	err := l.fsm.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPlatforms).ForEach(func(k, v []byte) error {
			var key *sm2.PublicKey
			rec, err := decodePlatformRecord(v)
			if err == nil {
				key, err = sm2.ParsePublicKeyDER(rec.der)
			}
			if err != nil {
				return &CorruptError{What: fmt.Sprintf("record of platform %q", k), Err: err}
			}
			p := Platform{ID: string(k), Key: key, Revoked: rec.revoked, RegisteredAt: time.UnixMilli(rec.registeredAt).UTC()}
			if rec.revoked {
				p.RevokedAt = time.UnixMilli(rec.revokedAt).UTC()
			}
			out = append(out, p)
			return nil
		})
	})
	return out, err
}
