package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Trusted time (issue 16): the leader has the court's signed heads stamped
// by an RFC 3161 time-stamping authority (court/stamp) and records each
// token through Raft, so every replica, and every snapshot, holds it.
//
//	8 addTimestamp   u64 size, bytes(TSA name), bytes(token)
//
// The token is the TSA's DER TimeStampResp over the text of the court's
// own signed head at size (stamp.Imprinted). The FSM does not parse it:
// the leader verified it before proposing, and anyone reading it verifies
// it again offline; what every replica checks identically is that the
// head exists and that the command is within bounds.
const cmdAddTimestamp byte = 8

// bucketTimestamps maps a size (u64) of the court's own signed head to
// its timestamp record: bytes(TSA name), bytes(token). It is created by
// the first addTimestamp command, so ledgers written before trusted time
// need no migration and keep layout version 2. The tokens are not in the
// Merkle tree: they attest to heads, which the tree's checks cover, and a
// token is checked on its own (signature, chain, imprint, time) by whoever
// reads it, so verifyLedgerFile does not read this bucket.
var bucketTimestamps = []byte("timestamps")

// MaxTimestampToken bounds a token (a TimeStampResp with its TSA's
// certificate chain is typically 2 to 6 KiB).
const MaxTimestampToken = 64 << 10

// MaxTSAName bounds the name a token is recorded under.
const MaxTSAName = 256

// ErrTimestamp is a token or TSA name refused before it is proposed.
var ErrTimestamp = errors.New("consensus: timestamp out of bounds")

type addTimestamp struct {
	size  uint64
	tsa   string
	token []byte
}

func (c *addTimestamp) encode() []byte {
	w := wbuf{b: make([]byte, 0, 1+8+4+len(c.tsa)+4+len(c.token))}
	w.b = append(w.b, cmdAddTimestamp)
	w.u64(c.size)
	w.bytes([]byte(c.tsa))
	w.bytes(c.token)
	return w.b
}

func (c *addTimestamp) check() error {
	switch {
	case c.size == 0:
		return fmt.Errorf("%w: size 0: an empty log has no head to stamp", ErrTimestamp)
	case c.tsa == "" || len(c.tsa) > MaxTSAName:
		return fmt.Errorf("%w: TSA name of %d bytes, want 1..%d", ErrTimestamp, len(c.tsa), MaxTSAName)
	case len(c.token) == 0 || len(c.token) > MaxTimestampToken:
		return fmt.Errorf("%w: token of %d bytes, want 1..%d", ErrTimestamp, len(c.token), MaxTimestampToken)
	}
	return nil
}

// decodeTimestampCommand decodes addTimestamp; ok is false for other types.
func decodeTimestampCommand(typ byte, r *rbuf) (cmd any, ok bool) {
	if typ != cmdAddTimestamp {
		return nil, false
	}
	c := &addTimestamp{size: r.u64("size")}
	c.tsa = string(r.bytes("TSA name", MaxTSAName))
	c.token = r.bytes("timestamp token", MaxTimestampToken)
	if r.err == nil {
		if err := c.check(); err != nil {
			r.fail("%v", err)
		}
	}
	return c, true
}

func encodeTimestampRecord(tsa string, token []byte) []byte {
	w := wbuf{b: make([]byte, 0, 8+len(tsa)+len(token))}
	w.bytes([]byte(tsa))
	w.bytes(token)
	return w.b
}

func decodeTimestampRecord(size uint64, v []byte) (string, []byte, error) {
	r := rbuf{b: v}
	tsa := string(r.bytes("TSA name", MaxTSAName))
	token := r.bytes("timestamp token", MaxTimestampToken)
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return "", nil, &CorruptError{What: fmt.Sprintf("timestamp record of the head at size %d", size), Err: r.err}
	}
	return tsa, bytes.Clone(token), nil
}

// applyTimestamp stores the first token of the court's own head at size.
func applyTimestamp(tx *bolt.Tx, c *addTimestamp) error {
	if tx.Bucket(bucketHeads).Get(u64(c.size)) == nil {
		return fmt.Errorf("%w: no signed head at size %d to timestamp", ErrUnknownHead, c.size)
	}
	b, err := tx.CreateBucketIfNotExists(bucketTimestamps)
	if err != nil {
		return err
	}
	if b.Get(u64(c.size)) != nil {
		// The first token stays: a second one, from a leader that stamped
		// the same head before it learnt of the first, adds nothing.
		return nil
	}
	return b.Put(u64(c.size), encodeTimestampRecord(c.tsa, c.token))
}

// AddTimestamp records the token tsa issued over the court's own signed
// head at size entries; the caller verified it. A head already stamped
// keeps its first token (no error). A size with no signed head is refused
// with ErrUnknownHead. Leader only.
func (l *Ledger) AddTimestamp(ctx context.Context, size uint64, tsa string, token []byte) error {
	c := &addTimestamp{size: size, tsa: tsa, token: token}
	if err := c.check(); err != nil {
		return err
	}
	return l.apply(ctx, c.encode())
}

// Timestamp returns the token recorded for the court's own head at size.
func (l *Ledger) Timestamp(size uint64) (tsa string, token []byte, ok bool, err error) {
	err = l.fsm.view(func(tx *bolt.Tx) error {
		tsa, token, ok, err = timestampAt(tx, size)
		return err
	})
	return tsa, token, ok, err
}

func timestampAt(tx *bolt.Tx, size uint64) (string, []byte, bool, error) {
	b := tx.Bucket(bucketTimestamps)
	if b == nil {
		return "", nil, false, nil
	}
	v := b.Get(u64(size))
	if v == nil {
		return "", nil, false, nil
	}
	tsa, token, err := decodeTimestampRecord(size, v)
	return tsa, token, err == nil, err
}

// TimestampCovering returns the token of the first stamped head that
// covers the entry at index: the smallest stamped size greater than index.
// Because a head commits to every entry before it, that token dates the
// entry no later than the TSA's time. ok is false while no stamped head
// covers it yet ("timestamp pending").
func (l *Ledger) TimestampCovering(index uint64) (size uint64, tsa string, token []byte, ok bool, err error) {
	err = l.fsm.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTimestamps)
		if b == nil || index == ^uint64(0) {
			return nil
		}
		k, v := b.Cursor().Seek(u64(index + 1))
		if k == nil {
			return nil
		}
		size = getU64(k)
		tsa, token, err = decodeTimestampRecord(size, v)
		ok = err == nil
		return err
	})
	if !ok {
		size = 0
	}
	return size, tsa, token, ok, err
}

// LastStamped returns the size of the newest stamped head, 0 if none.
func (l *Ledger) LastStamped() (size uint64, err error) {
	err = l.fsm.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketTimestamps); b != nil {
			if k, _ := b.Cursor().Last(); k != nil {
				size = getU64(k)
			}
		}
		return nil
	})
	return size, err
}

// Unstamped returns how many of the court's own signed heads are newer
// than the newest stamped one, and the time of the oldest of them: since
// then entries have waited for trusted time (zero if none waits). It walks
// the keys of those heads, about 50 ns each: an hour of a TSA outage at
// five heads a second is a millisecond.
func (l *Ledger) Unstamped() (heads uint64, oldest time.Time, err error) {
	err = l.fsm.view(func(tx *bolt.Tx) error {
		var last uint64
		if b := tx.Bucket(bucketTimestamps); b != nil {
			if k, _ := b.Cursor().Last(); k != nil {
				last = getU64(k)
			}
		}
		lb := ownLog(tx)
		c := lb.heads.Cursor()
		k, note := c.Seek(u64(last + 1))
		if k == nil {
			return nil
		}
		h, err := lb.head(k, note)
		if err != nil {
			return err
		}
		oldest = h.Head.Time
		for ; k != nil; k, _ = c.Next() {
			heads++
		}
		return nil
	})
	return heads, oldest, err
}
