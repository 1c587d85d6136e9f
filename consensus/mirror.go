package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/evidence"
)

// Commands of cross-court sync (see command.go for the framing):
//
//	4 mirrorAppend     bytes(court), u64 checked (ms), u32 n, n × bytes(entry),
//	                   u32 m, m × bytes(signed head), bytes(cosignature line or empty)
//	5 addCosignature   u64 size, bytes(cosignature line)
//	6 raiseAlarm       alarmRecord fields (see encodeAlarm)
//	7 clearAlarm       bytes(court), bytes(by), u64 at (ms)
const (
	cmdMirrorAppend   byte = 4
	cmdAddCosignature byte = 5
	cmdRaiseAlarm     byte = 6
	cmdClearAlarm     byte = 7
)

// MaxMirrorHeads bounds the heads of one mirrorAppend command.
const MaxMirrorHeads = MaxBatchEntries

const maxAlarmText = 4 << 10

var (
	// ErrMirrorRejected means a mirrorAppend did not extend the mirror: a
	// stale command from an old leader (its entries are already there), or
	// entries and heads that do not rebuild the roots the heads sign, which
	// the sync loop treats as the origin's misbehaviour.
	ErrMirrorRejected = errors.New("consensus: entries do not extend the mirror")
	// ErrAlarmed means the court is under an alarm: it is not mirrored
	// until an operator clears the alarm.
	ErrAlarmed = errors.New("consensus: court is under an equivocation alarm")
	// ErrNoAlarm is returned when clearing an alarm that is not raised.
	ErrNoAlarm = errors.New("consensus: no alarm raised for that court")
	// ErrUnknownHead is returned for a cosignature on a head this court did
	// not make.
	ErrUnknownHead = errors.New("consensus: no such head of this court")
)

type mirrorAppend struct {
	court   string
	checked int64
	entries [][]byte
	heads   [][]byte
	cosig   []byte
}

type addCosignature struct {
	size uint64
	line []byte
}

type clearAlarm struct {
	court, by string
	at        int64
}

// AlarmKind names what a court did wrong.
type AlarmKind string

const (
	// AlarmBadSignature: a head that does not verify under the court's key.
	AlarmBadSignature AlarmKind = "bad-signature"
	// AlarmInconsistent: a head whose consistency proof from the head held
	// fails, or whose root differs from the mirror's at its size: the court
	// rewrote or forked its history.
	AlarmInconsistent AlarmKind = "inconsistent"
	// AlarmSameSize: two different signed heads of the same size.
	AlarmSameSize AlarmKind = "same-size-fork"
	// AlarmBadEntries: entries served that do not rebuild the signed root.
	AlarmBadEntries AlarmKind = "bad-entries"
	// AlarmGossip: another court holds a head of the court that conflicts
	// with this court's mirror: the court showed different histories to
	// different courts.
	AlarmGossip AlarmKind = "gossip-fork"
)

// Alarm is the evidence of a court's misbehaviour.
type Alarm struct {
	Court    string
	Kind     AlarmKind
	Detail   string
	Held     []byte // the court's signed head this court held, if any
	Conflict []byte // the signed head (or note) that conflicts with it
	Source   string // who served Conflict: the court itself, or the court that gossiped it
	RaisedAt time.Time

	ClearedAt time.Time // zero while active
	ClearedBy string
}

func encodeAlarm(a *Alarm) []byte {
	w := wbuf{}
	w.bytes([]byte(a.Court))
	w.bytes([]byte(a.Kind))
	w.bytes([]byte(a.Detail))
	w.bytes(a.Held)
	w.bytes(a.Conflict)
	w.bytes([]byte(a.Source))
	w.u64(uint64(a.RaisedAt.UnixMilli()))
	w.u64(uint64(msOrZero(a.ClearedAt)))
	w.bytes([]byte(a.ClearedBy))
	return w.b
}

func msOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func decodeAlarm(r *rbuf) *Alarm {
	a := &Alarm{}
	a.Court = string(r.bytes("court", checkpoint.MaxOriginLen))
	a.Kind = AlarmKind(r.bytes("kind", 64))
	a.Detail = string(r.bytes("detail", maxAlarmText))
	a.Held = r.bytes("held head", checkpoint.MaxNoteSize)
	a.Conflict = r.bytes("conflicting head", checkpoint.MaxNoteSize)
	a.Source = string(r.bytes("source", checkpoint.MaxOriginLen))
	a.RaisedAt = time.UnixMilli(int64(r.u64("raised"))).UTC()
	if c := int64(r.u64("cleared")); c != 0 {
		a.ClearedAt = time.UnixMilli(c).UTC()
	}
	a.ClearedBy = string(r.bytes("cleared by", 256))
	return a
}

func (c *mirrorAppend) encode() []byte {
	w := wbuf{b: []byte{cmdMirrorAppend}}
	w.bytes([]byte(c.court))
	w.u64(uint64(c.checked))
	w.u32(uint32(len(c.entries)))
	for _, e := range c.entries {
		w.bytes(e)
	}
	w.u32(uint32(len(c.heads)))
	for _, h := range c.heads {
		w.bytes(h)
	}
	w.bytes(c.cosig)
	return w.b
}

func (c *addCosignature) encode() []byte {
	w := wbuf{b: []byte{cmdAddCosignature}}
	w.u64(c.size)
	w.bytes(c.line)
	return w.b
}

func (c *clearAlarm) encode() []byte {
	w := wbuf{b: []byte{cmdClearAlarm}}
	w.bytes([]byte(c.court))
	w.bytes([]byte(c.by))
	w.u64(uint64(c.at))
	return w.b
}

// decodeSyncCommand decodes commands 4..7; ok is false for other types.
func decodeSyncCommand(typ byte, r *rbuf) (cmd any, ok bool) {
	switch typ {
	case cmdMirrorAppend:
		c := &mirrorAppend{}
		c.court = string(r.bytes("court", checkpoint.MaxOriginLen))
		c.checked = int64(r.u64("checked"))
		n := r.u32("entry count")
		if n > MaxBatchEntries {
			r.fail("%d entries, at most %d", n, MaxBatchEntries)
		}
		for i := uint32(0); i < n && r.err == nil; i++ {
			c.entries = append(c.entries, r.bytes("entry", evidence.MaxEntrySize))
		}
		m := r.u32("head count")
		if m > MaxMirrorHeads {
			r.fail("%d heads, at most %d", m, MaxMirrorHeads)
		}
		for i := uint32(0); i < m && r.err == nil; i++ {
			c.heads = append(c.heads, r.bytes("head", checkpoint.MaxNoteSize))
		}
		c.cosig = r.bytes("cosignature", checkpoint.MaxNoteSize)
		return c, true
	case cmdAddCosignature:
		c := &addCosignature{size: r.u64("size")}
		c.line = r.bytes("cosignature", checkpoint.MaxNoteSize)
		return c, true
	case cmdRaiseAlarm:
		return decodeAlarm(r), true
	case cmdClearAlarm:
		c := &clearAlarm{}
		c.court = string(r.bytes("court", checkpoint.MaxOriginLen))
		c.by = string(r.bytes("by", 256))
		c.at = int64(r.u64("at"))
		return c, true
	}
	return nil, false
}

// applyMirror appends verified entries of another court to its mirror. The
// leader checked the heads' signatures and consistency before proposing;
// here every replica checks, identically, that the entries rebuild each
// head's root on top of what the mirror holds, so a stale or forged command
// changes nothing.
func (f *fsm) applyMirror(tx *bolt.Tx, mirrors map[string]*merkle.Range, c *mirrorAppend) error {
	if c.court == f.court || !evidence.ValidCourtID(c.court) {
		return fmt.Errorf("%w: cannot mirror court %q", ErrMirrorRejected, c.court)
	}
	if tx.Bucket(bucketAlarms).Get([]byte(c.court)) != nil {
		return fmt.Errorf("%w: %q", ErrAlarmed, c.court)
	}
	lb, mb, err := createMirror(tx, c.court)
	if err != nil {
		return err
	}
	rng := mirrors[c.court]
	if rng == nil {
		rng = merkle.NewRange()
	}
	if len(c.entries) == 0 {
		// Only freshness: the origin's latest head is the one held.
		if len(c.heads) != 0 || c.checked <= int64(getU64(mb.Get(keyChecked))) {
			return nil
		}
		return mb.Put(keyChecked, u64(uint64(c.checked)))
	}
	heads := c.heads
	if len(c.cosig) > 0 && len(heads) > 0 {
		last, err := checkpoint.WithSignatures(heads[len(heads)-1], c.cosig)
		if err != nil {
			return fmt.Errorf("%w: cosignature: %w", ErrMirrorRejected, err)
		}
		heads = append(heads[:len(heads)-1:len(heads)-1], last)
	}
	next, err := f.forAppend(lb).extend(rng, c.court, c.entries, heads, ErrMirrorRejected)
	if err != nil {
		return err
	}
	if err := mb.Put(keySize, u64(next.Size())); err != nil {
		return err
	}
	if err := mb.Put(keyChecked, u64(uint64(c.checked))); err != nil {
		return err
	}
	mirrors[c.court] = next
	return nil
}

func applyCosignature(tx *bolt.Tx, c *addCosignature) error {
	sig, err := checkpoint.ParseSignatureLine(c.line)
	if err != nil {
		return err
	}
	if tx.Bucket(bucketHeads).Get(u64(c.size)) == nil {
		return fmt.Errorf("%w: size %d", ErrUnknownHead, c.size)
	}
	key := append(u64(c.size), sig.Name...)
	b := tx.Bucket(bucketCosignatures)
	if b.Get(key) != nil {
		return nil // the first cosignature of a witness on a head stays
	}
	return b.Put(key, c.line)
}

func applyRaiseAlarm(tx *bolt.Tx, a *Alarm) error {
	b := tx.Bucket(bucketAlarms)
	if b.Get([]byte(a.Court)) != nil {
		return nil // the first evidence stays; more of the same adds nothing
	}
	a.ClearedAt, a.ClearedBy = time.Time{}, ""
	return b.Put([]byte(a.Court), encodeAlarm(a))
}

func applyClearAlarm(tx *bolt.Tx, c *clearAlarm) error {
	b := tx.Bucket(bucketAlarms)
	v := b.Get([]byte(c.court))
	if v == nil {
		return fmt.Errorf("%w: %q", ErrNoAlarm, c.court)
	}
	r := rbuf{b: v}
	a := decodeAlarm(&r)
	if r.err != nil {
		return r.err
	}
	a.ClearedAt, a.ClearedBy = time.UnixMilli(c.at).UTC(), c.by
	key := append(append([]byte(c.court), 0), u64(uint64(c.at))...)
	if err := tx.Bucket(bucketAlarmHistory).Put(key, encodeAlarm(a)); err != nil {
		return err
	}
	return b.Delete([]byte(c.court))
}

// loadMirrors reads the right edge of every mirror.
func loadMirrors(tx *bolt.Tx) (map[string]*merkle.Range, error) {
	out := map[string]*merkle.Range{}
	err := tx.Bucket(bucketMirrors).ForEach(func(k, v []byte) error {
		if v != nil {
			return nil
		}
		mb := tx.Bucket(bucketMirrors).Bucket(k)
		rng, err := merkle.LoadRange(context.Background(), bucketHashes{mb.Bucket(bucketNodes)}, getU64(mb.Get(keySize)))
		if err != nil {
			return fmt.Errorf("mirror of %q: %w", k, err)
		}
		out[string(k)] = rng
		return nil
	})
	return out, err
}

func cloneMirrors(m map[string]*merkle.Range) map[string]*merkle.Range {
	c := make(map[string]*merkle.Range, len(m)+1)
	for k, v := range m {
		c[k] = v
	}
	return c
}

// --- The leader's side: proposing sync commands. ---

// AppendMirror proposes entries of court, with the origin's signed heads
// (the last at the new size, already verified by the caller against the
// court's key and the mirror) and this court's cosignature line on the
// last head. With no entries it records only that the mirror was found
// current at checked. Leader only.
func (l *Ledger) AppendMirror(ctx context.Context, court string, entries, heads [][]byte, cosig []byte, checked time.Time) error {
	return l.apply(ctx, (&mirrorAppend{court: court, checked: checked.UnixMilli(), entries: entries, heads: heads, cosig: cosig}).encode())
}

// AddCosignature records a witness's cosignature line on this court's head
// of size entries; the caller verified it. Leader only.
func (l *Ledger) AddCosignature(ctx context.Context, size uint64, line []byte) error {
	return l.apply(ctx, (&addCosignature{size: size, line: line}).encode())
}

// RaiseAlarm records evidence of a court's misbehaviour and stops its
// mirroring. A court already under alarm keeps its first alarm. Leader only.
func (l *Ledger) RaiseAlarm(ctx context.Context, a Alarm) error {
	if a.RaisedAt.IsZero() {
		a.RaisedAt = l.cfg.Clock()
	}
	return l.apply(ctx, append([]byte{cmdRaiseAlarm}, encodeAlarm(&a)...))
}

// ClearAlarm lifts the alarm on court (kept in the alarm history), after
// which mirroring it resumes. Leader only.
func (l *Ledger) ClearAlarm(ctx context.Context, court, by string) error {
	return l.apply(ctx, (&clearAlarm{court: court, by: by, at: l.cfg.Clock().UnixMilli()}).encode())
}

// --- Reads. ---

// Alarms returns the active alarms and, if history, the cleared ones too.
func (l *Ledger) Alarms(history bool) ([]Alarm, error) {
	var out []Alarm
	err := l.fsm.view(func(tx *bolt.Tx) error {
		buckets := [][]byte{bucketAlarms}
		if history {
			buckets = append(buckets, bucketAlarmHistory)
		}
		for _, name := range buckets {
			err := tx.Bucket(name).ForEach(func(_, v []byte) error {
				r := rbuf{b: v}
				a := decodeAlarm(&r)
				if r.err != nil {
					return &CorruptError{What: fmt.Sprintf("alarm record in %s", name), Err: r.err}
				}
				out = append(out, *a)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// Alarmed reports whether court is under an active alarm.
func (l *Ledger) Alarmed(court string) bool {
	alarmed := false
	_ = l.fsm.view(func(tx *bolt.Tx) error {
		alarmed = tx.Bucket(bucketAlarms).Get([]byte(court)) != nil
		return nil
	})
	return alarmed
}

// Cosignatures returns the witness cosignature lines on this court's head
// of size entries, ordered by witness.
func (l *Ledger) Cosignatures(size uint64) ([][]byte, error) {
	var out [][]byte
	err := l.fsm.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketCosignatures).Cursor()
		prefix := u64(size)
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			out = append(out, bytes.Clone(v))
		}
		return nil
	})
	return out, err
}

// MirrorState is what a court holds of another court's log.
type MirrorState struct {
	Court   string
	Size    uint64
	Head    SignedHead // the newest verified head of the origin (Note nil if none)
	Checked time.Time  // when the leader last found the origin's latest head to be Head
	Alarm   *Alarm     // the active alarm on the court, if any
}

// Mirror returns the state of the mirror of court; a court never mirrored
// has size 0 and no head.
func (l *Ledger) Mirror(court string) (MirrorState, error) {
	st := MirrorState{Court: court}
	err := l.fsm.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketAlarms).Get([]byte(court)); v != nil {
			r := rbuf{b: v}
			st.Alarm = decodeAlarm(&r)
			if r.err != nil {
				return &CorruptError{What: fmt.Sprintf("alarm record of %s", court), Err: r.err}
			}
		}
		lb, mb, ok := mirrorLog(tx, court)
		if !ok {
			return nil
		}
		st.Size = getU64(mb.Get(keySize))
		if c := getU64(mb.Get(keyChecked)); c != 0 {
			st.Checked = time.UnixMilli(int64(c)).UTC()
		}
		if k, v := lb.heads.Cursor().Last(); k != nil {
			h, err := lb.head(k, v)
			if err != nil {
				return err
			}
			st.Head = h
		}
		return nil
	})
	return st, err
}

// Mirrors lists the courts this court mirrors.
func (l *Ledger) Mirrors() []string {
	l.fsm.mu.RLock()
	defer l.fsm.mu.RUnlock()
	out := make([]string, 0, len(l.fsm.mirrors))
	for c := range l.fsm.mirrors {
		out = append(out, c)
	}
	return out
}

// Log returns a read view of court's log as this node holds it: its own if
// court is this court, else its mirror (possibly empty).
func (l *Ledger) Log(court string) *LogView {
	return &LogView{f: l.fsm, court: court, own: court == l.cfg.Court}
}

// LogView reads one court's Merkle log: the court's own or a mirror.
type LogView struct {
	f     *fsm
	court string
	own   bool
}

// Court is the log's origin.
func (v *LogView) Court() string { return v.court }

// Own reports whether this is the court's own log rather than a mirror.
func (v *LogView) Own() bool { return v.own }

func (v *LogView) view(fn func(lb logBuckets) error) error {
	return v.f.view(func(tx *bolt.Tx) error {
		if v.own {
			return fn(v.f.withIndex(ownLog(tx)))
		}
		lb, _, ok := mirrorLog(tx, v.court)
		if !ok {
			return fmt.Errorf("%w: nothing of court %q is held here", ErrNotFound, v.court)
		}
		return fn(v.f.withIndex(lb))
	})
}

// Size is the number of entries held.
func (v *LogView) Size() uint64 {
	v.f.mu.RLock()
	defer v.f.mu.RUnlock()
	if v.own {
		return v.f.rng.Size()
	}
	if r := v.f.mirrors[v.court]; r != nil {
		return r.Size()
	}
	return 0
}

// LatestHead is the newest signed head held, checked against the stored
// tree at its size.
func (v *LogView) LatestHead() (SignedHead, error) {
	var h SignedHead
	err := v.view(func(lb logBuckets) error {
		k, n := lb.heads.Cursor().Last()
		if k == nil {
			return ErrEmpty
		}
		var err error
		h, err = lb.checkedHead(k, n)
		return err
	})
	return h, err
}

// HeadAt returns the signed head held at exactly size entries, checked
// against the stored tree at that size.
func (v *LogView) HeadAt(size uint64) (SignedHead, error) {
	var h SignedHead
	err := v.view(func(lb logBuckets) error {
		n := lb.heads.Get(u64(size))
		if n == nil {
			return fmt.Errorf("%w: no head of %q at size %d", ErrNotFound, v.court, size)
		}
		var err error
		h, err = lb.checkedHead(u64(size), n)
		return err
	})
	return h, err
}

// Heads returns up to limit signed heads with sizes in (from, to], oldest
// first: the heads a follower needs to check entries as it pages them. Each
// is checked to parse as the log's head of the size it is stored under;
// their roots are not recomputed here (a page of heads would cost a tree
// walk each): the follower checks them against the entries it is served,
// which are checked against their leaf hashes.
func (v *LogView) Heads(from, to uint64, limit int) ([]SignedHead, error) {
	var out []SignedHead
	err := v.view(func(lb logBuckets) error {
		c := lb.heads.Cursor()
		for k, n := c.Seek(u64(from + 1)); k != nil && getU64(k) <= to && len(out) < limit; k, n = c.Next() {
			h, err := lb.head(k, n)
			if err != nil {
				return err
			}
			out = append(out, h)
		}
		return nil
	})
	return out, err
}

// RootAt returns the root of the log's first size entries, from O(log n)
// stored hashes, checked against the signed head at size if one is held.
func (v *LogView) RootAt(size uint64) ([]byte, error) {
	if size > v.Size() {
		return nil, fmt.Errorf("%w: root of %q at %d, %d held", ErrNotFound, v.court, size, v.Size())
	}
	var root []byte
	err := v.view(func(lb logBuckets) error {
		rng, err := lb.checkedRange(size)
		if err == nil {
			root = rng.Root()
		}
		return err
	})
	return root, err
}

// Entry returns the entry at index.
func (v *LogView) Entry(index uint64) (*evidence.Entry, error) {
	var e *evidence.Entry
	err := v.view(func(lb logBuckets) (err error) { e, err = lb.entry(index); return })
	return e, err
}

// RawEntries returns the canonical bytes of entries [from, to), at most
// limit of them, each checked against its leaf hash.
func (v *LogView) RawEntries(from, to uint64, limit int) ([][]byte, error) {
	var out [][]byte
	err := v.view(func(lb logBuckets) error {
		c := lb.entries.Cursor()
		next := from
		for k, _ := c.Seek(u64(from)); k != nil && next < to && len(out) < limit; k, _ = c.Next() {
			if getU64(k) != next {
				// A gap: rawEntry says whether the entry is corrupt or absent.
				_, err := lb.rawEntry(next)
				return fmt.Errorf("entry %d missing from %q: %w", next, v.court, err)
			}
			raw, err := lb.rawEntry(next)
			if err != nil {
				return err
			}
			out = append(out, bytes.Clone(raw))
			next++
		}
		return nil
	})
	return out, err
}

// EntryByEvidenceID returns the entry with an evidence ID.
func (v *LogView) EntryByEvidenceID(id string) (*evidence.Entry, error) {
	var e *evidence.Entry
	err := v.view(func(lb logBuckets) (err error) { e, err = lb.byEvidenceID(id); return })
	return e, err
}

// Lookup returns up to limit entries of a fingerprint, oldest first.
func (v *LogView) Lookup(fp evidence.Fingerprint, limit int) ([]*evidence.Entry, error) {
	if limit <= 0 || limit > MaxLookup {
		limit = MaxLookup
	}
	var out []*evidence.Entry
	err := v.view(func(lb logBuckets) (err error) { out, err = lb.lookup(fp, limit); return })
	return out, err
}

// Receipt returns the entry at index with the head that first covered it
// and the inclusion proof into that head.
func (v *LogView) Receipt(index uint64) (*evidence.Receipt, error) {
	var r *evidence.Receipt
	err := v.view(func(lb logBuckets) (err error) { r, err = lb.receipt(index); return })
	return r, err
}

// InclusionProof proves the entry at index is in the tree of size entries.
// The proof is checked, from the stored leaf hash, against the root of the
// signed head at size if one is held, else the stored tree's root at size.
func (v *LogView) InclusionProof(index, size uint64) ([][]byte, error) {
	if have := v.Size(); size > have || index >= size {
		return nil, fmt.Errorf("%w: entry %d in tree of size %d (%q has %d)", ErrNotFound, index, size, v.court, have)
	}
	var p [][]byte
	err := v.view(func(lb logBuckets) error {
		root, err := lb.rootAt(size)
		if err != nil {
			return err
		}
		leaf := lb.nodes.Get(nodeKey(compact.NewNodeID(0, index)))
		if leaf == nil {
			return lb.corrupt(index, errors.New("no leaf hash is stored for it"))
		}
		p, err = lb.inclusion(index, size, bytes.Clone(leaf), root)
		return err
	})
	return p, err
}

// ConsistencyProof proves the tree of size2 entries extends that of size1.
// The proof is checked against the roots the log committed to at both
// sizes (signed heads where held, else the stored trees' roots).
func (v *LogView) ConsistencyProof(size1, size2 uint64) ([][]byte, error) {
	if have := v.Size(); size1 > size2 || size2 > have {
		return nil, fmt.Errorf("%w: consistency %d -> %d (%q has %d)", ErrNotFound, size1, size2, v.court, have)
	}
	var p [][]byte
	err := v.view(func(lb logBuckets) error {
		var err error
		p, err = merkle.Consistency(context.Background(), bucketHashes{lb.nodes}, size1, size2)
		if err != nil || size1 == 0 {
			return lb.treeErr(size2, err)
		}
		root1, err := lb.rootAt(size1)
		if err != nil {
			return err
		}
		root2, err := lb.rootAt(size2)
		if err != nil {
			return err
		}
		if err := merkle.VerifyConsistency(size1, size2, p, root1, root2); err != nil {
			return &CorruptError{What: fmt.Sprintf("consistency proof of %s from size %d to %d", v.court, size1, size2), Err: err}
		}
		return nil
	})
	return p, err
}

// WitnessedReceipt is the receipt of the entry at index against the newest
// head that carries witness cosignatures: for the court's own log, the
// newest head witnesses cosigned that covers the entry, with their lines
// appended (the original receipt if none does yet); for a mirror, the
// newest head of the origin held, which this court cosigned when it
// verified it.
func (v *LogView) WitnessedReceipt(index uint64) (*evidence.Receipt, error) {
	var r *evidence.Receipt
	err := v.view(func(lb logBuckets) error {
		if !v.own {
			k, note := lb.heads.Cursor().Last()
			if k == nil || getU64(k) <= index {
				return fmt.Errorf("%w: no head of %q covers entry %d", ErrNotFound, v.court, index)
			}
			h, err := lb.head(k, note)
			if err != nil {
				return err
			}
			r, err = lb.receiptFor(index, h, h.Note)
			return err
		}
		tx := lb.heads.Tx()
		k, _ := tx.Bucket(bucketCosignatures).Cursor().Last()
		if k == nil || getU64(k[:8]) <= index {
			var err error
			r, err = lb.receipt(index)
			return err
		}
		size := getU64(k[:8])
		note := lb.heads.Get(u64(size))
		if note == nil {
			return &CorruptError{What: fmt.Sprintf("signed head at size %d of %s", size, v.court), Err: errors.New("it is cosigned but missing")}
		}
		h, err := lb.head(u64(size), note)
		if err != nil {
			return err
		}
		var lines [][]byte
		c := tx.Bucket(bucketCosignatures).Cursor()
		for ck, cv := c.Seek(k[:8]); ck != nil && bytes.HasPrefix(ck, k[:8]); ck, cv = c.Next() {
			lines = append(lines, cv)
		}
		signed, err := checkpoint.WithSignatures(note, lines...)
		if err != nil {
			return err
		}
		r, err = lb.receiptFor(index, h, signed)
		return err
	})
	return r, err
}

// Range returns the right edge of the log's first size entries, for a
// follower rebuilding roots as entries arrive; checked against the signed
// head at size if one is held.
func (v *LogView) Range(size uint64) (*merkle.Range, error) {
	if size == 0 {
		return merkle.NewRange(), nil
	}
	if size > v.Size() {
		return nil, fmt.Errorf("%w: range of %q at %d, %d held", ErrNotFound, v.court, size, v.Size())
	}
	var rng *merkle.Range
	err := v.view(func(lb logBuckets) (err error) {
		rng, err = lb.checkedRange(size)
		return
	})
	return rng, err
}
