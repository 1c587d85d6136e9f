package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"
	bolt "go.etcd.io/bbolt"

	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

// rewriteEntry changes the stored bytes of entry index of the court's own
// log in the bbolt file at path, as a disk or an operator might, leaving
// every hash that commits to it as it was.
func rewriteEntry(t *testing.T, db *bolt.DB, index uint64, change func(e *evidence.Entry)) {
	t.Helper()
	err := db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEntries)
		e, err := evidence.UnmarshalEntry(b.Get(u64(index)))
		if err != nil {
			return err
		}
		change(e)
		return b.Put(u64(index), e.Marshal())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// wantCorrupt asserts err is a *CorruptError that names the ledger file.
func wantCorrupt(t *testing.T, what string, err error, path string) {
	t.Helper()
	var ce *CorruptError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
		t.Fatalf("%s: got %v, want a CorruptError", what, err)
	}
	if ce.Path != path || !strings.Contains(err.Error(), path) {
		t.Fatalf("%s: %q does not name the ledger file %s", what, err, path)
	}
}

// Issue 11, state 2: a follower with one entry's bytes changed in its
// ledger file served the altered title through GetEvidence and
// VerifyFingerprint. Now every read of that entry is refused as corrupt,
// the node says so in its health and metric, and the other entries are
// still served.
func TestCorruptEntryOnFollowerIsNotServed(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node fault test")
	}
	c, fn := tcpCluster(t, 3)
	c.registerPlatform("esign.example")
	const n, target = 40, 7
	var subs []SignedSubmission
	for i := 0; i < n; i++ {
		subs = append(subs, c.submission("esign.example", fmt.Sprintf("req-%d", i), []byte{byte(i)}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := c.waitLeader().Submit(ctx, subs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("submission %d: %v", i, r.Err)
		}
	}
	c.waitConverged(n)

	victim := ""
	for id := range c.dirs {
		if id != c.leaderID() {
			victim = id
			break
		}
	}
	c.kill(fn, victim)
	path := filepath.Join(c.dirs[victim], "ledger.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const forged = "伪造的合同"
	rewriteEntry(t, db, target, func(e *evidence.Entry) { e.Submission.Title = forged })
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	l := c.restart(fn, victim)

	id, fp := res[target].Receipt.Entry.EvidenceID, subs[target].Submission.Fingerprint
	log := l.Log(testCourt)
	reads := []struct {
		name string
		read func() (any, error)
	}{
		{"entry by index", func() (any, error) { return l.Entry(target) }},
		{"entry by evidence ID", func() (any, error) { return l.EntryByEvidenceID(id) }},
		{"lookup by fingerprint", func() (any, error) { return l.Lookup(fp, 10) }},
		{"receipt", func() (any, error) { return l.Receipt(target) }},
		{"witnessed receipt", func() (any, error) { return log.WitnessedReceipt(target) }},
		{"raw entries", func() (any, error) { return log.RawEntries(0, n, n) }},
	}
	for _, r := range reads {
		got, err := r.read()
		if err == nil {
			t.Errorf("%s served (forged title in it: %v), want ErrCorrupt", r.name, strings.Contains(fmt.Sprint(got), forged))
			continue
		}
		wantCorrupt(t, r.name, err, path)
	}
	if h := l.Health(); h.State != HealthCorrupt || h.Ready() || !strings.Contains(h.Reason, path) {
		t.Errorf("health %+v, want corrupt naming %s", h, path)
	}
	if got := l.Corruptions(); got < uint64(len(reads)) {
		t.Errorf("Corruptions() = %d, want at least %d", got, len(reads))
	}
	// The rest of the ledger is intact and still served.
	for _, i := range []uint64{0, target - 1, target + 1, n - 1} {
		r, err := l.Receipt(i)
		if err != nil {
			t.Fatalf("receipt %d: %v", i, err)
		}
		if _, err := r.Verify(c.signer.Verifier()); err != nil {
			t.Fatalf("receipt %d: %v", i, err)
		}
	}
	if found, err := l.Lookup(subs[target+1].Submission.Fingerprint, 10); err != nil || len(found) != 1 {
		t.Fatalf("lookup of an intact entry: %v %v", found, err)
	}
}

// nodeOf returns the key of the stored Merkle node (level, index).
func nodeOf(level uint, index uint64) []byte { return nodeKey(compact.NewNodeID(level, index)) }

// flip returns b with every bit of its byte i inverted.
func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0xff
	return c
}

// TestCorruptRecordsAreNotServed damages one record of a ledger of 40
// entries (heads every 4) at a time, in the court's own log and in a mirror
// of another court's, and checks that every read that would serve it is
// refused with a CorruptError naming the file, while reads of intact
// records still succeed.
func TestCorruptRecordsAreNotServed(t *testing.T) {
	const n, batch = 40, 4
	fpOf := func(i uint64) evidence.Fingerprint { return sm3.Sum([]byte(fmt.Sprintf("req-%d", i))) }
	type read struct {
		name string
		do   func(v *LogView) error
	}
	entry := func(i uint64) read {
		return read{fmt.Sprintf("entry %d", i), func(v *LogView) error { _, err := v.Entry(i); return err }}
	}
	byID := func(i uint64) read {
		return read{fmt.Sprintf("evidence ID of %d", i), func(v *LogView) error {
			_, err := v.EntryByEvidenceID(evidence.EvidenceID(v.court, "esign.example", fmt.Sprintf("req-%d", i)))
			return err
		}}
	}
	lookup := func(i uint64) read {
		return read{fmt.Sprintf("lookup of %d", i), func(v *LogView) error { _, err := v.Lookup(fpOf(i), 10); return err }}
	}
	receipt := func(i uint64) read {
		return read{fmt.Sprintf("receipt %d", i), func(v *LogView) error { _, err := v.Receipt(i); return err }}
	}
	witnessed := func(i uint64) read {
		return read{fmt.Sprintf("witnessed receipt %d", i), func(v *LogView) error { _, err := v.WitnessedReceipt(i); return err }}
	}
	inclusion := func(i, size uint64) read {
		return read{fmt.Sprintf("inclusion %d in %d", i, size), func(v *LogView) error { _, err := v.InclusionProof(i, size); return err }}
	}
	consistency := func(a, b uint64) read {
		return read{fmt.Sprintf("consistency %d to %d", a, b), func(v *LogView) error { _, err := v.ConsistencyProof(a, b); return err }}
	}
	latest := read{"latest head", func(v *LogView) error { _, err := v.LatestHead(); return err }}
	headAt := func(s uint64) read {
		return read{fmt.Sprintf("head at %d", s), func(v *LogView) error { _, err := v.HeadAt(s); return err }}
	}
	heads := read{"heads", func(v *LogView) error { _, err := v.Heads(0, n, 100); return err }}
	rawEntries := read{"raw entries", func(v *LogView) error { _, err := v.RawEntries(0, n, n); return err }}
	rootAt := func(s uint64) read {
		return read{fmt.Sprintf("root at %d", s), func(v *LogView) error { _, err := v.RootAt(s); return err }}
	}

	// Each damage is done to the log's buckets (the court's own or a
	// mirror's) by a bbolt write to the file.
	cases := []struct {
		name   string
		damage func(t *testing.T, lb logBuckets)
		bad    []read // must fail with ErrCorrupt
		good   []read // must still succeed
	}{{
		name: "entry bytes changed",
		damage: func(t *testing.T, lb logBuckets) {
			e, err := evidence.UnmarshalEntry(lb.entries.Get(u64(7)))
			if err != nil {
				t.Fatal(err)
			}
			e.Submission.Title = "伪造的合同"
			put(t, lb.entries, u64(7), e.Marshal())
		},
		bad:  []read{entry(7), byID(7), lookup(7), receipt(7), witnessed(7), rawEntries},
		good: []read{entry(6), receipt(8), lookup(8), inclusion(7, n), latest, rootAt(n)},
	}, {
		name:   "entry bytes truncated",
		damage: func(t *testing.T, lb logBuckets) { put(t, lb.entries, u64(7), lb.entries.Get(u64(7))[:20]) },
		bad:    []read{entry(7), byID(7), lookup(7), receipt(7), rawEntries},
		good:   []read{entry(6), receipt(8)},
	}, {
		name: "entry and its leaf hash copied to another index",
		damage: func(t *testing.T, lb logBuckets) {
			put(t, lb.entries, u64(7), bytes.Clone(lb.entries.Get(u64(6))))
			put(t, lb.nodes, nodeOf(0, 7), bytes.Clone(lb.nodes.Get(nodeOf(0, 6))))
		},
		bad:  []read{entry(7), byID(7), lookup(7), receipt(7)},
		good: []read{entry(6), byID(6), receipt(8)},
	}, {
		name:   "leaf hash flipped",
		damage: func(t *testing.T, lb logBuckets) { put(t, lb.nodes, nodeOf(0, 7), flip(lb.nodes.Get(nodeOf(0, 7)), 3)) },
		bad:    []read{entry(7), byID(7), lookup(7), receipt(7), inclusion(7, n), inclusion(6, n), receipt(6)},
		good:   []read{entry(6), receipt(9), latest},
	}, {
		name: "interior node flipped",
		// Node (1, 1) covers entries 2 and 3; the proofs of 0 and 1 use it.
		damage: func(t *testing.T, lb logBuckets) { put(t, lb.nodes, nodeOf(1, 1), flip(lb.nodes.Get(nodeOf(1, 1)), 0)) },
		bad:    []read{receipt(0), witnessed(1), inclusion(0, n), inclusion(1, n)},
		good:   []read{entry(0), entry(2), receipt(8), latest, rootAt(n)},
	}, {
		name:   "interior node of short length",
		damage: func(t *testing.T, lb logBuckets) { put(t, lb.nodes, nodeOf(1, 1), lb.nodes.Get(nodeOf(1, 1))[:31]) },
		bad:    []read{receipt(0), inclusion(0, n)},
		good:   []read{entry(0), receipt(8)},
	}, {
		name:   "node on the right edge flipped",
		damage: func(t *testing.T, lb logBuckets) { put(t, lb.nodes, nodeOf(3, 4), flip(lb.nodes.Get(nodeOf(3, 4)), 9)) },
		bad:    []read{latest, headAt(n), rootAt(n), inclusion(0, n), consistency(12, n)},
		good:   []read{entry(33), headAt(32), rootAt(32), receipt(30), inclusion(33, n)},
	}, {
		name: "head's root changed",
		damage: func(t *testing.T, lb logBuckets) {
			note := bytes.Clone(lb.heads.Get(u64(n)))
			lines := bytes.SplitN(note, []byte("\n"), 4)
			// Another base64 digit in the root: the note still parses.
			if lines[2][5] == 'A' {
				lines[2][5] = 'B'
			} else {
				lines[2][5] = 'A'
			}
			put(t, lb.heads, u64(n), bytes.Join(lines, []byte("\n")))
		},
		bad:  []read{latest, headAt(n), receipt(38), witnessed(38), consistency(12, n)},
		good: []read{headAt(36), receipt(30), entry(38)},
	}, {
		name:   "head is garbage",
		damage: func(t *testing.T, lb logBuckets) { put(t, lb.heads, u64(n), []byte("not a signed note\n")) },
		bad:    []read{latest, headAt(n), heads, receipt(38)},
		good:   []read{headAt(36), receipt(30), entry(38)},
	}, {
		name:   "head stored under another size",
		damage: func(t *testing.T, lb logBuckets) { put(t, lb.heads, u64(36), bytes.Clone(lb.heads.Get(u64(32)))) },
		bad:    []read{headAt(36), heads, receipt(33)},
		good:   []read{headAt(32), receipt(30), latest},
	}, {
		name:   "evidence index points elsewhere",
		damage: func(t *testing.T, lb logBuckets) { moveIndex(t, lb, 7, 9) },
		bad:    []read{byID(7)},
		good:   []read{entry(7), entry(9), receipt(7)},
	}, {
		name: "fingerprint index key changed",
		damage: func(t *testing.T, lb logBuckets) {
			// The key for entry 7 now claims entry 9 has its fingerprint.
			if err := lb.fingerprints.Delete(fingerprintKey(fpOf(7), 7)); err != nil {
				t.Fatal(err)
			}
			put(t, lb.fingerprints, fingerprintKey(fpOf(7), 9), nil)
		},
		bad:  []read{lookup(7)},
		good: []read{lookup(9), entry(7), receipt(9)},
	}}
	for _, own := range []bool{true, false} {
		for _, tc := range cases {
			name := "own/" + tc.name
			if !own {
				name = "mirror/" + tc.name
			}
			t.Run(name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "ledger.db")
				f, v := ledgerWithLog(t, path, own, n, batch)
				for _, r := range append(append([]read(nil), tc.bad...), tc.good...) {
					if err := r.do(v); err != nil {
						t.Fatalf("before the damage, %s: %v", r.name, err)
					}
				}
				err := f.db.Update(func(tx *bolt.Tx) error {
					lb := ownLog(tx)
					if !own {
						lb, _, _ = mirrorLog(tx, testCourt)
					}
					tc.damage(t, lb)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range tc.bad {
					wantCorrupt(t, r.name, r.do(v), path)
				}
				if f.corrupt.Load() == nil || f.corruptions.Load() < uint64(len(tc.bad)) {
					t.Errorf("corruption not recorded: first %v, count %d", f.corrupt.Load(), f.corruptions.Load())
				}
				for _, r := range tc.good {
					if err := r.do(v); err != nil {
						t.Errorf("intact %s: %v", r.name, err)
					}
				}
			})
		}
	}
}

func put(t *testing.T, b *bolt.Bucket, k, v []byte) {
	t.Helper()
	if err := b.Put(k, v); err != nil {
		t.Fatal(err)
	}
}

// moveIndex points the evidence ID of entry from at entry to.
func moveIndex(t *testing.T, lb logBuckets, from, to uint64) {
	t.Helper()
	e, err := evidence.UnmarshalEntry(lb.entries.Get(u64(from)))
	if err != nil {
		t.Fatal(err)
	}
	put(t, lb.evidence, evidenceKey(e.EvidenceID), u64(to))
}

// ledgerWithLog builds a log of n entries (heads every batch) in a ledger
// file at path: the court's own if own, else the mirror of testCourt in the
// ledger of mirroringCourt. It returns the state machine and a view of the
// log.
func ledgerWithLog(t *testing.T, path string, own bool, n, batch int) (*fsm, *LogView) {
	t.Helper()
	if own {
		f, _ := buildLedger(t, path, n, batch)
		return f, &LogView{f: f, court: testCourt, own: true}
	}
	origin, _ := buildLedger(t, filepath.Join(t.TempDir(), "origin.db"), n, batch)
	ov := &LogView{f: origin, court: testCourt, own: true}
	raws, err := ov.RawEntries(0, uint64(n), n)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := ov.Heads(0, uint64(n), n)
	if err != nil {
		t.Fatal(err)
	}
	var heads [][]byte
	for _, h := range hs {
		heads = append(heads, h.Note)
	}
	f := openTestFSMFor(t, path, mirroringCourt)
	m := &mirrorFSM{t: t, f: f}
	if err := m.apply((&mirrorAppend{court: testCourt, checked: 1, entries: raws, heads: heads}).encode()); err != nil {
		t.Fatal(err)
	}
	return f, &LogView{f: f, court: testCourt}
}
