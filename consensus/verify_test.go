package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
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
	// Entry 7 is in the index buckets, as in a ledger that has run a while
	// (a damaged entry still indexed in memory is found at start:
	// TestDamagedPendingEntryFoundAtOpen).
	flushIndexesNow(t, c.node(victim).fsm)
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
		f := buildLedger(t, path, n, batch)
		return f, &LogView{f: f, court: testCourt, own: true}
	}
	origin := buildLedger(t, filepath.Join(t.TempDir(), "origin.db"), n, batch)
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
	flushIndexesNow(t, f) // as buildLedger does
	return f, &LogView{f: f, court: testCourt}
}

// wantRepair asserts err is a start-up CorruptError: it names the file and
// the repair.
func wantRepair(t *testing.T, what string, err error, path string) {
	t.Helper()
	wantCorrupt(t, what, err, path)
	if !strings.Contains(err.Error(), "move "+path+" aside") {
		t.Fatalf("%s: %q does not say how to repair it", what, err)
	}
}

// TestVerifyLedgerFile damages a ledger file (the court's own log of 200
// entries and a mirror of another court's) one way at a time and checks
// that the start-up verifier finds it, names the file and the repair.
func TestVerifyLedgerFile(t *testing.T) {
	const n, batch = 200, 8
	last := uint64(n - 1)
	build := func(t *testing.T) (*fsm, string) {
		path := filepath.Join(t.TempDir(), "ledger.db")
		origin := buildLedgerFor(t, filepath.Join(t.TempDir(), "origin.db"), mirroringCourt, n, batch)
		f := buildLedger(t, path, n, batch)
		copyLog(t, origin, f, mirroringCourt)
		return f, path
	}
	cases := []struct {
		name   string
		mirror bool
		damage func(t *testing.T, tx *bolt.Tx, lb logBuckets)
	}{
		{"newest entry changed", false, func(t *testing.T, _ *bolt.Tx, lb logBuckets) {
			put(t, lb.entries, u64(last), flip(lb.entries.Get(u64(last)), 100))
		}},
		{"newest entry missing", false, func(t *testing.T, _ *bolt.Tx, lb logBuckets) {
			if err := lb.entries.Delete(u64(last)); err != nil {
				t.Fatal(err)
			}
		}},
		{"newest leaf hash changed", true, func(t *testing.T, _ *bolt.Tx, lb logBuckets) {
			put(t, lb.nodes, nodeOf(0, last), flip(lb.nodes.Get(nodeOf(0, last)), 0))
		}},
		{"node of the right edge changed", false, func(t *testing.T, _ *bolt.Tx, lb logBuckets) {
			put(t, lb.nodes, nodeOf(7, 0), flip(lb.nodes.Get(nodeOf(7, 0)), 31))
		}},
		{"node of the right edge changed", true, func(t *testing.T, _ *bolt.Tx, lb logBuckets) {
			put(t, lb.nodes, nodeOf(7, 0), flip(lb.nodes.Get(nodeOf(7, 0)), 31))
		}},
		{"latest head unparsable", false, func(t *testing.T, _ *bolt.Tx, lb logBuckets) {
			put(t, lb.heads, u64(n), flip(lb.heads.Get(u64(n)), 0))
		}},
		{"latest head missing", true, func(t *testing.T, _ *bolt.Tx, lb logBuckets) {
			if err := lb.heads.Delete(u64(n)); err != nil {
				t.Fatal(err)
			}
		}},
		{"evidence index of the newest entry lost", false, func(t *testing.T, _ *bolt.Tx, lb logBuckets) {
			moveIndex(t, lb, last, 0)
		}},
		{"fingerprint index of the newest entry lost", true, func(t *testing.T, _ *bolt.Tx, lb logBuckets) {
			fp := sm3.Sum([]byte(fmt.Sprintf("req-%d", last)))
			if err := lb.fingerprints.Delete(fingerprintKey(fp, last)); err != nil {
				t.Fatal(err)
			}
		}},
		{"size wrong", false, func(t *testing.T, tx *bolt.Tx, _ logBuckets) {
			put(t, tx.Bucket(bucketMeta), keySize, u64(n-3))
		}},
		{"another court's ledger", false, func(t *testing.T, tx *bolt.Tx, _ logBuckets) {
			put(t, tx.Bucket(bucketMeta), keyCourt, []byte(mirroringCourt))
		}},
	}
	t.Run("intact", func(t *testing.T) {
		f, path := build(t)
		if err := verifyLedgerFile(f.db, path, testCourt); err != nil {
			t.Fatalf("intact ledger: %v", err)
		}
	})
	for _, tc := range cases {
		name := "own/" + tc.name
		if tc.mirror {
			name = "mirror/" + tc.name
		}
		t.Run(name, func(t *testing.T) {
			f, path := build(t)
			err := f.db.Update(func(tx *bolt.Tx) error {
				lb := ownLog(tx)
				if tc.mirror {
					lb, _, _ = mirrorLog(tx, mirroringCourt)
				}
				tc.damage(t, tx, lb)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			wantRepair(t, "verify", verifyLedgerFile(f.db, path, testCourt), path)
		})
	}
	// The start-up check is bounded: an old entry is checked when it is
	// read, not at start.
	t.Run("old entry changed", func(t *testing.T) {
		f, path := build(t)
		if err := f.db.Update(func(tx *bolt.Tx) error {
			lb := ownLog(tx)
			put(t, lb.entries, u64(3), flip(lb.entries.Get(u64(3)), 100))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := verifyLedgerFile(f.db, path, testCourt); err != nil {
			t.Fatalf("verify read more than the newest %d entries: %v", spotChecked, err)
		}
		_, err := (&LogView{f: f, court: testCourt, own: true}).Entry(3)
		wantCorrupt(t, "entry 3", err, path)
	})
}

// copyLog copies from's own log, the log of court, into to as its mirror
// of court, bucket by bucket.
func copyLog(t *testing.T, from, to *fsm, court string) {
	t.Helper()
	err := from.db.View(func(ftx *bolt.Tx) error {
		src := ownLog(ftx)
		return to.db.Update(func(tx *bolt.Tx) error {
			dst, mb, err := createMirror(tx, court)
			if err != nil {
				return err
			}
			pairs := []struct{ from, to *bolt.Bucket }{{src.entries, dst.entries}, {src.nodes, dst.nodes},
				{src.evidence, dst.evidence}, {src.fingerprints, dst.fingerprints}, {src.heads, dst.heads}}
			for _, p := range pairs {
				if err := p.from.ForEach(func(k, v []byte) error { return p.to.Put(bytes.Clone(k), bytes.Clone(v)) }); err != nil {
					return err
				}
			}
			if err := mb.Put(keyIndexed, ftx.Bucket(bucketMeta).Get(keyIndexed)); err != nil {
				return err
			}
			return mb.Put(keySize, ftx.Bucket(bucketMeta).Get(keySize))
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	reloadIndexes(t, to)
}

// pristine is what a ledger served before its file was damaged.
type pristine struct {
	entries  [][]byte
	receipts []*evidence.Receipt
	head     SignedHead
}

func readAll(t *testing.T, v *LogView, n int) pristine {
	t.Helper()
	var p pristine
	for i := uint64(0); i < uint64(n); i++ {
		e, err := v.Entry(i)
		if err != nil {
			t.Fatal(err)
		}
		r, err := v.Receipt(i)
		if err != nil {
			t.Fatal(err)
		}
		p.entries, p.receipts = append(p.entries, e.Marshal()), append(p.receipts, r)
	}
	var err error
	if p.head, err = v.LatestHead(); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkServes reads every record of the damaged ledger and fails if one is
// served that differs from what was served before the damage: each read
// must give the same answer or a CorruptError naming the file. It reports
// how many reads were refused.
func checkServes(t *testing.T, v *LogView, want pristine, path string) (refused int) {
	t.Helper()
	check := func(what string, same bool, err error) {
		t.Helper()
		switch {
		case err != nil:
			wantCorrupt(t, what, err, path)
			refused++
		case !same:
			t.Fatalf("%s: served a record that differs from the one committed", what)
		}
	}
	for i := range want.entries {
		e, err := v.Entry(uint64(i))
		check(fmt.Sprintf("entry %d", i), err != nil || bytes.Equal(e.Marshal(), want.entries[i]), err)
		r, err := v.Receipt(uint64(i))
		check(fmt.Sprintf("receipt %d", i), err != nil || fmt.Sprint(r) == fmt.Sprint(want.receipts[i]), err)
		fp := sm3.Sum([]byte(fmt.Sprintf("req-%d", i)))
		found, err := v.Lookup(fp, 10)
		check(fmt.Sprintf("lookup %d", i), err != nil || len(found) == 1 && found[0].Index == uint64(i), err)
		byID, err := v.EntryByEvidenceID(want.receipts[i].Entry.EvidenceID)
		check(fmt.Sprintf("evidence ID of %d", i), err != nil || bytes.Equal(byID.Marshal(), want.entries[i]), err)
	}
	h, err := v.LatestHead()
	check("latest head", err != nil || bytes.Equal(h.Note, want.head.Note), err)
	return refused
}

// Issue 11, state 2: 64 flipped bytes mid-file ended in a bbolt panic that
// named neither the file nor a fix. Now opening, the start-up check or the
// reads of the file find the damage and name the file; nothing panics and
// nothing that differs from what was committed is served.
func TestFlippedBytesInLedgerFile(t *testing.T) {
	const n = 2000
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	f := buildLedger(t, good, n, 16)
	want := readAll(t, &LogView{f: f, court: testCourt, own: true}, n)
	f.close()
	orig, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	// A leaf page of the tree near the middle of the file, found by walking
	// the intact file.
	m, err := readMeta(bytes.NewReader(orig), int64(len(orig)))
	if err != nil {
		t.Fatal(err)
	}
	w := &pageWalk{r: bytes.NewReader(orig), meta: m, seen: make([]uint64, (m.hw+63)/64)}
	if err := w.tree(m.root, nil, nil, 0); err != nil {
		t.Fatal(err)
	}
	ps := m.pageSize
	mid := uint64(0)
	for id := m.hw / 2; id < m.hw && mid == 0; id++ {
		hdr := orig[id*ps:]
		if w.marked(id) && le.Uint64(hdr) == id && le.Uint16(hdr[8:]) == leafPage && le.Uint16(hdr[10:]) >= 8 {
			mid = id
		}
	}
	if mid == 0 {
		t.Fatal("no leaf page in the second half of the file")
	}
	elems := uint64(le.Uint16(orig[mid*ps+10:]))
	entryAt := bytes.Index(orig, want.entries[n/2])
	if entryAt < 0 {
		t.Fatal("entry not found in the file")
	}
	m0, _ := parseMeta(orig)
	m1, _ := parseMeta(orig[ps:])
	newer := ps
	if m0.txid > m1.txid {
		newer = 0
	}
	cases := []struct {
		name  string
		flip  []uint64 // where 64 bytes are flipped
		found bool     // the damage must be found (not merely harmless)
	}{
		{"mid-file, as in the issue", []uint64{uint64(len(orig)) / 2}, false},
		{"page header of a leaf page", []uint64{mid * ps}, true},
		{"element table of a leaf page", []uint64{mid*ps + pageHeaderSize}, true},
		{"keys and values of a leaf page", []uint64{mid*ps + pageHeaderSize + elems*pageElementSize}, true},
		{"bytes of an entry", []uint64{uint64(entryAt) + 100}, true},
		{"both meta pages", []uint64{pageHeaderSize, ps + pageHeaderSize}, true},
		// bbolt falls back to the other meta page: the file is as it was
		// one commit earlier, intact and one batch behind, which Raft
		// replays. Nothing is corrupt; the last batch is not found.
		{"the newer meta page", []uint64{newer + pageHeaderSize}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ledger.db")
			b := bytes.Clone(orig)
			for _, at := range tc.flip {
				for i := at; i < at+64; i++ {
					b[i] ^= 0xff
				}
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			g, err := openFSM(path, testCourt, discardLogger())
			if err != nil {
				wantRepair(t, "open", err, path)
				return
			}
			defer g.close()
			verr := verifyLedgerFile(g.db, path, testCourt)
			if verr != nil {
				wantRepair(t, "verify", verr, path)
			}
			held := want
			if tc.name == "the newer meta page" {
				size := g.size()
				if size >= n || size < n-16 {
					t.Fatalf("size %d after losing the newer meta page, want the previous batch's", size)
				}
				held = pristine{entries: want.entries[:size], receipts: want.receipts[:size], head: want.head}
				if held.head, err = (&LogView{f: g, court: testCourt, own: true}).LatestHead(); err != nil || held.head.Head.Size != size {
					t.Fatalf("latest head after losing the newer meta page: %v %+v", err, held.head.Head)
				}
			}
			// Whatever the start-up check says, the reads serve nothing wrong.
			refused := checkServes(t, &LogView{f: g, court: testCourt, own: true}, held, path)
			if tc.found && verr == nil && refused == 0 {
				t.Fatal("the damage was found neither at open, nor at start, nor by any read")
			}
			if refused > 0 && g.corrupt.Load() == nil {
				t.Fatal("reads refused as corrupt but the ledger not marked corrupt")
			}
		})
	}
}
