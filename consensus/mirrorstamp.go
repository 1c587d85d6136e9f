package consensus

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/courtledger/courtledger/crypto/checkpoint"
)

// Trusted time in the mirrors (issue 16): a court's leader fetches the
// tokens of another court's heads with its checkpoint (court/mirrorstamps.go),
// checks each against the head it mirrors and its own TSA roots, and
// records it through Raft, so that a certificate this court issues from
// its mirror carries the origin's trusted time too.
//
//	9 addMirrorTimestamp  bytes(court), u64 size, bytes(TSA name), bytes(token), bytes(signed head)
const cmdAddMirrorTimestamp byte = 9

// bucketMirrorTimestamps maps court || 0x00 || size (u64) to bytes(TSA
// name), bytes(token), bytes(the origin's signed head at size). Created by
// the first token, like bucketTimestamps.
var bucketMirrorTimestamps = []byte("mirror-timestamps")

type addMirrorTimestamp struct {
	court string
	size  uint64
	tsa   string
	token []byte
	note  []byte
}

func (c *addMirrorTimestamp) encode() []byte {
	w := wbuf{b: make([]byte, 0, 1+4+len(c.court)+8+4+len(c.tsa)+4+len(c.token)+4+len(c.note))}
	w.b = append(w.b, cmdAddMirrorTimestamp)
	w.bytes([]byte(c.court))
	w.u64(c.size)
	w.bytes([]byte(c.tsa))
	w.bytes(c.token)
	w.bytes(c.note)
	return w.b
}

func (c *addMirrorTimestamp) check() error {
	if c.court == "" || len(c.court) > 255 {
		return fmt.Errorf("%w: court ID of %d bytes", ErrTimestamp, len(c.court))
	}
	if len(c.note) == 0 || len(c.note) > checkpoint.MaxNoteSize {
		return fmt.Errorf("%w: signed head of %d bytes", ErrTimestamp, len(c.note))
	}
	return (&addTimestamp{size: c.size, tsa: c.tsa, token: c.token}).check()
}

func decodeMirrorTimestampCommand(typ byte, r *rbuf) (cmd any, ok bool) {
	if typ != cmdAddMirrorTimestamp {
		return nil, false
	}
	c := &addMirrorTimestamp{court: string(r.bytes("court", 255))}
	c.size = r.u64("size")
	c.tsa = string(r.bytes("TSA name", MaxTSAName))
	c.token = r.bytes("timestamp token", MaxTimestampToken)
	c.note = r.bytes("signed head", checkpoint.MaxNoteSize)
	if r.err == nil {
		if err := c.check(); err != nil {
			r.fail("%v", err)
		}
	}
	return c, true
}

func mirrorStampKey(court string, size uint64) []byte {
	return append(append([]byte(court), 0), u64(size)...)
}

// applyMirrorTimestamp stores the first token of a mirrored court's head
// at size, if this court mirrors that court that far.
func applyMirrorTimestamp(tx *bolt.Tx, c *addMirrorTimestamp) error {
	lb, _, ok := mirrorLog(tx, c.court)
	var held uint64
	if ok {
		if k, _ := lb.heads.Cursor().Last(); k != nil {
			held = getU64(k)
		}
	}
	if held < c.size {
		return fmt.Errorf("%w: the mirror of %s holds %d entries, not the head of %d to timestamp", ErrUnknownHead, c.court, held, c.size)
	}
	b, err := tx.CreateBucketIfNotExists(bucketMirrorTimestamps)
	if err != nil {
		return err
	}
	k := mirrorStampKey(c.court, c.size)
	if b.Get(k) != nil {
		return nil // the first token stays
	}
	// The own heads' record (timestamp.go), then the head: a mirror's
	// head is not in this court's heads bucket.
	w := wbuf{b: encodeTimestampRecord(c.tsa, c.token)}
	w.bytes(c.note)
	return b.Put(k, w.b)
}

// AddMirrorTimestamp records the token tsa issued over court's signed head
// note at size; the caller checked the head against its mirror and the
// token against its TSA roots. Leader only.
func (l *Ledger) AddMirrorTimestamp(ctx context.Context, court string, size uint64, tsa string, token, note []byte) error {
	c := &addMirrorTimestamp{court: court, size: size, tsa: tsa, token: token, note: note}
	if err := c.check(); err != nil {
		return err
	}
	return l.apply(ctx, c.encode())
}

// MirrorTimestampCovering is TimestampCovering for a mirrored court's log:
// the token of the first stamped head of court covering index, with the
// head as signed.
func (l *Ledger) MirrorTimestampCovering(court string, index uint64) (size uint64, tsa string, token, note []byte, ok bool, err error) {
	err = l.fsm.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMirrorTimestamps)
		if b == nil || index == ^uint64(0) {
			return nil
		}
		prefix := append([]byte(court), 0)
		k, v := b.Cursor().Seek(mirrorStampKey(court, index+1))
		if k == nil || !bytes.HasPrefix(k, prefix) || len(k) != len(prefix)+8 {
			return nil
		}
		size = getU64(k[len(prefix):])
		r := rbuf{b: v}
		tsa = string(r.bytes("TSA name", MaxTSAName))
		token = bytes.Clone(r.bytes("timestamp token", MaxTimestampToken))
		note = bytes.Clone(r.bytes("signed head", checkpoint.MaxNoteSize))
		if r.err != nil {
			return &CorruptError{What: fmt.Sprintf("mirror timestamp of %s at size %d", court, size), Err: r.err}
		}
		ok = true
		return nil
	})
	return size, tsa, token, note, ok, err
}

// LastMirrorStamped returns the size of the newest stamped head of court
// this court holds a token of, 0 if none.
func (l *Ledger) LastMirrorStamped(court string) (size uint64, err error) {
	err = l.fsm.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMirrorTimestamps)
		if b == nil {
			return nil
		}
		prefix := append([]byte(court), 0)
		c := b.Cursor()
		// The last key of court: seek past its largest size, step back.
		k, _ := c.Seek(append([]byte(court), 1))
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		if k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8 {
			size = getU64(k[len(prefix):])
		}
		return nil
	})
	return size, err
}

// StampRecord is one token of the court's own heads, as served to the
// other courts' mirrors.
type StampRecord struct {
	Size  uint64
	TSA   string
	Token []byte
	Note  []byte // the signed head at Size
}

// Timestamps returns up to limit tokens of the court's own heads larger
// than after, smallest first, each with its signed head.
func (l *Ledger) Timestamps(after uint64, limit int) ([]StampRecord, error) {
	var out []StampRecord
	err := l.fsm.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTimestamps)
		if b == nil {
			return nil
		}
		heads := tx.Bucket(bucketHeads)
		c := b.Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			size := getU64(k)
			tsa, token, err := decodeTimestampRecord(size, v)
			if err != nil {
				return err
			}
			note := heads.Get(k)
			if note == nil {
				continue
			}
			out = append(out, StampRecord{Size: size, TSA: tsa, Token: token, Note: bytes.Clone(note)})
		}
		return nil
	})
	return out, err
}
