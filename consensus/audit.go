package consensus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The access audit log: who read, verified or downloaded what, when and
// from where. Nodes batch the records they observe and propose them
// through Raft (see court/access/audit.go), so every replica holds the same log;
// the FSM only appends to it, and no command alters or removes a record.
//
//	16 auditAppend   u32 n, n × bytes(auditRecord)
//
// auditRecord is u64 time (ms, the observing node's clock), then
// bytes node, role, caller, via, addr, method, target, code.
const cmdAuditAppend byte = 16

// bucketAudit maps a sequence number (u64, from 1, assigned in apply
// order) to an auditRecord. It is created by the first audit command, so
// ledgers written before the audit log need no migration.
var bucketAudit = []byte("audit")

// MaxAuditBatch bounds the records of one audit command.
const MaxAuditBatch = 1024

// maxAuditField bounds each text field of a record.
const maxAuditField = 512

// AuditRecord is one access.
type AuditRecord struct {
	Seq    uint64    // position in the court's audit log, set when applied
	Time   time.Time // when the node saw the call (millisecond precision)
	Node   string    // the node that served it
	Role   string    // the caller's role and ID
	Caller string
	Via    string // how the caller authenticated
	Addr   string // where the call came from
	Method string // full gRPC method name
	Target string // what was asked for: evidence ID, fingerprint, index...
	Code   string // the gRPC code answered
}

// ErrAuditRecord is a record that does not fit the bounds.
var ErrAuditRecord = errors.New("consensus: audit record out of bounds")

type auditAppend struct{ records [][]byte }

func (r *AuditRecord) fields() []*string {
	return []*string{&r.Node, &r.Role, &r.Caller, &r.Via, &r.Addr, &r.Method, &r.Target, &r.Code}
}

func (r *AuditRecord) encode() ([]byte, error) {
	w := wbuf{}
	w.u64(uint64(r.Time.UnixMilli()))
	for _, f := range r.fields() {
		if len(*f) > maxAuditField {
			return nil, fmt.Errorf("%w: field of %d bytes, at most %d", ErrAuditRecord, len(*f), maxAuditField)
		}
		w.bytes([]byte(*f))
	}
	return w.b, nil
}

func decodeAuditRecord(b []byte) (AuditRecord, error) {
	r := rbuf{b: b}
	var rec AuditRecord
	rec.Time = time.UnixMilli(int64(r.u64("time"))).UTC()
	for _, f := range rec.fields() {
		*f = string(r.bytes("audit field", maxAuditField))
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return rec, r.err
}

func (c *auditAppend) encode() []byte {
	w := wbuf{b: []byte{cmdAuditAppend}}
	w.u32(uint32(len(c.records)))
	for _, rec := range c.records {
		w.bytes(rec)
	}
	return w.b
}

// decodeAuditCommand decodes command types 16 and up; ok is false for a
// type that is not an audit command.
func decodeAuditCommand(typ byte, r *rbuf) (cmd any, ok bool) {
	if typ != cmdAuditAppend {
		return nil, false
	}
	n := r.u32("record count")
	if n == 0 || n > MaxAuditBatch {
		r.fail("%d audit records, want 1..%d", n, MaxAuditBatch)
	}
	c := &auditAppend{}
	for i := uint32(0); i < n && r.err == nil; i++ {
		raw := r.bytes("audit record", 8+8*(4+maxAuditField))
		if r.err == nil {
			if _, err := decodeAuditRecord(raw); err != nil {
				r.fail("audit record %d: %v", i, err)
			}
		}
		c.records = append(c.records, raw)
	}
	return c, true
}

// applyAudit appends the records after the last one, in order.
func applyAudit(tx *bolt.Tx, c *auditAppend) error {
	b, err := tx.CreateBucketIfNotExists(bucketAudit)
	if err != nil {
		return err
	}
	var seq uint64
	if k, _ := b.Cursor().Last(); k != nil {
		seq = getU64(k)
	}
	for _, rec := range c.records {
		seq++
		if err := b.Put(u64(seq), rec); err != nil {
			return err
		}
	}
	return nil
}

// AppendAudit appends records to the court's audit log through Raft.
// Leader only; followers hand theirs to the leader.
func (l *Ledger) AppendAudit(ctx context.Context, recs []AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	if len(recs) > MaxAuditBatch {
		return fmt.Errorf("%w: %d records in one batch, at most %d", ErrAuditRecord, len(recs), MaxAuditBatch)
	}
	c := &auditAppend{}
	for i := range recs {
		b, err := recs[i].encode()
		if err != nil {
			return err
		}
		c.records = append(c.records, b)
	}
	return l.apply(ctx, c.encode())
}

// AuditFilter selects records; empty fields match everything.
type AuditFilter struct {
	Caller string // exact caller ID
	Method string // exact full method name
	Target string // substring of the target
}

func (f AuditFilter) match(r *AuditRecord) bool {
	return (f.Caller == "" || r.Caller == f.Caller) &&
		(f.Method == "" || r.Method == f.Method) &&
		(f.Target == "" || strings.Contains(r.Target, f.Target))
}

// MaxAuditScan bounds the records one query examines, so a filter that
// matches little cannot make a query read the whole log.
const MaxAuditScan = 10000

// Audit returns up to limit records after sequence number after that
// match f, and the sequence number to continue from: the last record
// examined, which may be past the last returned when the scan bound was
// reached. It reads what this node has applied.
func (l *Ledger) Audit(after uint64, limit int, f AuditFilter) ([]AuditRecord, uint64, error) {
	var out []AuditRecord
	next := after
	err := l.fsm.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		scanned := 0
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < limit && scanned < MaxAuditScan; k, v = c.Next() {
			scanned++
			next = getU64(k)
			rec, err := decodeAuditRecord(v)
			if err != nil {
				return fmt.Errorf("audit record %d: %w", next, err)
			}
			rec.Seq = next
			if f.match(&rec) {
				out = append(out, rec)
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("consensus: read audit log: %w", err)
	}
	return out, next, nil
}
