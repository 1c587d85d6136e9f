package consensus

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/evidence"
)

// A command is one Raft log entry's data: a type byte, then the body.
//
//	1 appendBatch        u32 n, n × bytes(entry), bytes(signed head)
//	2 registerPlatform   bytes(platform ID), bytes(SPKI DER), u64 at (ms)
//	3 revokePlatform     bytes(platform ID), u64 at (ms)
//	4..7                 cross-court sync: see mirror.go
//	8                    addTimestamp: see timestamp.go
//	9                    addMirrorTimestamp: see mirrorstamp.go
//
// bytes is a u32 big-endian length and the bytes, as in package evidence.
const (
	cmdAppendBatch      byte = 1
	cmdRegisterPlatform byte = 2
	cmdRevokePlatform   byte = 3
)

// MaxBatchEntries bounds the entries of one batch, and so of one command.
const MaxBatchEntries = 4096

const maxKeyDER = 256

// errBadCommand wraps every decoding failure.
var errBadCommand = errors.New("consensus: malformed command")

type appendBatch struct {
	entries    [][]byte // canonical entry bytes, indexes consecutive
	signedHead []byte   // the court's head after the batch
}

type registerPlatform struct {
	id  string
	der []byte
	at  int64
}

type revokePlatform struct {
	id string
	at int64
}

type wbuf struct{ b []byte }

func (w *wbuf) u32(v uint32)   { w.b = binary.BigEndian.AppendUint32(w.b, v) }
func (w *wbuf) u64(v uint64)   { w.b = binary.BigEndian.AppendUint64(w.b, v) }
func (w *wbuf) bytes(p []byte) { w.u32(uint32(len(p))); w.b = append(w.b, p...) }

func (c *appendBatch) encode() []byte {
	n := 1 + 4 + 4 + len(c.signedHead)
	for _, e := range c.entries {
		n += 4 + len(e)
	}
	w := wbuf{b: make([]byte, 0, n)}
	w.b = append(w.b, cmdAppendBatch)
	w.u32(uint32(len(c.entries)))
	for _, e := range c.entries {
		w.bytes(e)
	}
	w.bytes(c.signedHead)
	return w.b
}

func (c *registerPlatform) encode() []byte {
	w := wbuf{b: []byte{cmdRegisterPlatform}}
	w.bytes([]byte(c.id))
	w.bytes(c.der)
	w.u64(uint64(c.at))
	return w.b
}

func (c *revokePlatform) encode() []byte {
	w := wbuf{b: []byte{cmdRevokePlatform}}
	w.bytes([]byte(c.id))
	w.u64(uint64(c.at))
	return w.b
}

type rbuf struct {
	b   []byte
	err error
}

func (r *rbuf) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", errBadCommand, fmt.Sprintf(format, args...))
	}
}

func (r *rbuf) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.fail("%s: need %d bytes, have %d", what, n, len(r.b))
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *rbuf) u32(what string) uint32 {
	if p := r.take(4, what); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (r *rbuf) u64(what string) uint64 {
	if p := r.take(8, what); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (r *rbuf) bytes(what string, max int) []byte {
	n := r.u32(what)
	if r.err == nil && uint64(n) > uint64(max) {
		r.fail("%s: %d bytes, at most %d", what, n, max)
	}
	return r.take(int(n), what)
}

// decodeCommand returns *appendBatch, *registerPlatform or *revokePlatform.
// Byte slices alias data, which Raft does not reuse.
func decodeCommand(data []byte) (any, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty", errBadCommand)
	}
	r := rbuf{b: data[1:]}
	var cmd any
	switch data[0] {
	case cmdAppendBatch:
		n := r.u32("entry count")
		if n == 0 || n > MaxBatchEntries {
			r.fail("%d entries, want 1..%d", n, MaxBatchEntries)
		}
		c := &appendBatch{}
		for i := uint32(0); i < n && r.err == nil; i++ {
			c.entries = append(c.entries, r.bytes("entry", evidence.MaxEntrySize))
		}
		c.signedHead = r.bytes("signed head", checkpoint.MaxNoteSize)
		cmd = c
	case cmdRegisterPlatform:
		c := &registerPlatform{}
		c.id = string(r.bytes("platform ID", evidence.MaxPlatformIDLen))
		c.der = r.bytes("public key", maxKeyDER)
		c.at = int64(r.u64("time"))
		if r.err == nil {
			if _, err := sm2.ParsePublicKeyDER(c.der); err != nil {
				r.fail("public key: %v", err)
			}
		}
		cmd = c
	case cmdRevokePlatform:
		c := &revokePlatform{}
		c.id = string(r.bytes("platform ID", evidence.MaxPlatformIDLen))
		c.at = int64(r.u64("time"))
		cmd = c
	default:
		var ok bool
		if cmd, ok = decodeSyncCommand(data[0], &r); !ok {
			// Security (issue 7): audit commands, 16 and up, are in audit.go.
			if cmd, ok = decodeAuditCommand(data[0], &r); !ok {
				if cmd, ok = decodeTimestampCommand(data[0], &r); !ok { // issue 16
					if cmd, ok = decodeMirrorTimestampCommand(data[0], &r); !ok {
						return nil, fmt.Errorf("%w: unknown type %d", errBadCommand, data[0])
					}
				}
			}
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	return cmd, nil
}
