package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
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
func (f *fsm) view(fn func(tx *bolt.Tx) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.db == nil {
		return errors.New("consensus: ledger is closed")
	}
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

func indexOfEvidence(tx *bolt.Tx, id string) (uint64, bool) { return ownLog(tx).indexOf(id) }

func parseHead(note []byte) (checkpoint.TreeHead, error) { return checkpoint.ParseUnverified(note) }

// SignedHead is a tree head as the court signed it.
type SignedHead struct {
	Head checkpoint.TreeHead
	Note []byte // the C2SP signed note
}

func parseSigned(note []byte) (SignedHead, error) {
	h, err := checkpoint.ParseUnverified(note)
	if err != nil {
		return SignedHead{}, fmt.Errorf("stored head is corrupt: %w", err)
	}
	return SignedHead{Head: h, Note: note}, nil
}

// LatestHead returns the newest signed tree head this node has applied.
func (l *Ledger) LatestHead() (SignedHead, error) {
	var note []byte
	err := l.fsm.view(func(tx *bolt.Tx) error {
		_, v := tx.Bucket(bucketHeads).Cursor().Last()
		note = bytes.Clone(v)
		return nil
	})
	if err != nil {
		return SignedHead{}, err
	}
	if note == nil {
		return SignedHead{}, ErrEmpty
	}
	return parseSigned(note)
}

// HeadAt returns the signed head the court made at exactly size entries;
// heads exist for the size after each batch.
func (l *Ledger) HeadAt(size uint64) (SignedHead, error) {
	var note []byte
	err := l.fsm.view(func(tx *bolt.Tx) error {
		note = bytes.Clone(tx.Bucket(bucketHeads).Get(u64(size)))
		return nil
	})
	if err != nil {
		return SignedHead{}, err
	}
	if note == nil {
		return SignedHead{}, fmt.Errorf("%w: no head at size %d", ErrNotFound, size)
	}
	return parseSigned(note)
}

// Entry returns the entry at index.
func (l *Ledger) Entry(index uint64) (*evidence.Entry, error) {
	var e *evidence.Entry
	err := l.fsm.view(func(tx *bolt.Tx) error {
		var err error
		e, err = getEntry(tx, index)
		return err
	})
	return e, err
}

// EntryByEvidenceID returns the entry with an evidence ID.
func (l *Ledger) EntryByEvidenceID(id string) (*evidence.Entry, error) {
	var e *evidence.Entry
	err := l.fsm.view(func(tx *bolt.Tx) error {
		idx, ok := indexOfEvidence(tx, id)
		if !ok {
			return fmt.Errorf("%w: evidence %q", ErrNotFound, id)
		}
		var err error
		e, err = getEntry(tx, idx)
		return err
	})
	return e, err
}

// MaxLookup bounds the entries one fingerprint lookup returns.
const MaxLookup = 1000

// Lookup returns up to limit entries (at most MaxLookup) recording a
// fingerprint, oldest first: the same file may be filed more than once.
func (l *Ledger) Lookup(fp evidence.Fingerprint, limit int) ([]*evidence.Entry, error) {
	if limit <= 0 || limit > MaxLookup {
		limit = MaxLookup
	}
	var out []*evidence.Entry
	err := l.fsm.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketFingerprints).Cursor()
		for k, _ := c.Seek(fp[:]); k != nil && bytes.HasPrefix(k, fp[:]) && len(out) < limit; k, _ = c.Next() {
			e, err := getEntry(tx, getU64(k[len(fp):]))
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// Receipt rebuilds the receipt of the entry at index: the entry, the head
// of the batch that recorded it, and the inclusion proof into that head.
func (l *Ledger) Receipt(index uint64) (*evidence.Receipt, error) {
	var r *evidence.Receipt
	err := l.fsm.view(func(tx *bolt.Tx) error {
		var err error
		r, err = receiptAt(tx, index)
		return err
	})
	return r, err
}

// InclusionProof proves the entry at index is in the tree of size entries.
func (l *Ledger) InclusionProof(index, size uint64) ([][]byte, error) {
	if size > l.fsm.size() || index >= size {
		return nil, fmt.Errorf("%w: entry %d in tree of size %d (ledger has %d)", ErrNotFound, index, size, l.fsm.size())
	}
	return l.fsm.proof(index, size)
}

// ConsistencyProof proves the tree of size2 entries extends that of size1.
func (l *Ledger) ConsistencyProof(size1, size2 uint64) ([][]byte, error) {
	if size1 > size2 || size2 > l.fsm.size() {
		return nil, fmt.Errorf("%w: consistency %d -> %d (ledger has %d)", ErrNotFound, size1, size2, l.fsm.size())
	}
	var p [][]byte
	err := l.fsm.view(func(tx *bolt.Tx) error {
		var err error
		p, err = merkle.Consistency(context.Background(), txHashes{tx}, size1, size2)
		return err
	})
	return p, err
}

// Platform is a registered platform as the ledger records it.
type Platform struct {
	ID           string
	Key          *sm2.PublicKey
	Revoked      bool
	RegisteredAt time.Time
	RevokedAt    time.Time // zero unless Revoked
}

// Platforms lists every platform ever registered, by ID.
func (l *Ledger) Platforms() ([]Platform, error) {
	var out []Platform
	err := l.fsm.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPlatforms).ForEach(func(k, v []byte) error {
			rec, err := decodePlatformRecord(v)
			if err != nil {
				return fmt.Errorf("platform %q: %w", k, err)
			}
			key, err := sm2.ParsePublicKeyDER(rec.der)
			if err != nil {
				return fmt.Errorf("platform %q: %w", k, err)
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
