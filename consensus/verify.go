package consensus

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
)

// spotChecked is how many of the newest entries of each log
// verifyLedgerFile reads in full. Older entries are checked when they are
// read (logview.go); the newest are where a torn or lost write shows.
const spotChecked = 16

// repairHint is what a start-up error says to do about a damaged ledger
// file (%s: its path).
const repairHint = "the node rebuilds its ledger from a snapshot or a peer when it starts; to force that: stop the node, move %s aside, start the node"

// corruptFile is the error of a damaged ledger file found at start, naming
// the file and the repair.
func corruptFile(path, what string, err error) *CorruptError {
	return &CorruptError{Path: path, What: what, Err: fmt.Errorf("%w; %s", err, fmt.Sprintf(repairHint, path))}
}

// openLedgerDB opens the ledger's bbolt file at path as fsm.open does, but
// first walks its pages (checkPages, about 0.3 s for 64 MiB): bbolt would
// otherwise panic, at times in a goroutine no caller can recover, on a file
// with damaged pages. A damaged file is a *CorruptError naming it and the
// repair; any panic or memory fault of bbolt's opening is one too.
func openLedgerDB(path string) (db *bolt.DB, err error) {
	// A file that does not exist yet, or is empty, bbolt creates.
	if st, serr := os.Stat(path); serr == nil && st.Size() > 0 {
		if err := checkPages(path); errors.Is(err, errPage) {
			return nil, corruptFile(path, "the file's pages", err)
		} else if err != nil {
			return nil, fmt.Errorf("open ledger %s: %w", path, err)
		}
	}
	return openWalkedDB(path)
}

// openWalkedDB is openLedgerDB without the page walk, for a file whose
// pages were walked just before (inspectLedger, checkLedgerFile) or that
// is new: the walk reads the whole file, some 5 s per GiB, and start-up
// and restores would otherwise pay it twice.
func openWalkedDB(path string) (db *bolt.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			db, err = nil, corruptFile(path, "the file's pages", fmt.Errorf("bbolt: %v", p))
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return bolt.Open(path, 0o600, ledgerBoltOptions(path))
}

// verifyLedgerFile checks the ledger file at path, open as db, for court,
// before the node serves from it:
//
//   - its pages, by the walk of checkPages and then bbolt's own
//     consistency check (Tx.Check, as `bbolt check` runs it), which the walk
//     makes safe: bbolt's check runs in a goroutine of its own and panics on
//     a page it cannot read;
//   - that it is court's ledger;
//   - for the court's own log and each mirror: that its latest signed head
//     parses and is at the log's size, that the root recomputed from the
//     stored tree at that size is the head's root, and, for the newest
//     spotChecked entries, that each entry's bytes match its leaf hash and
//     its index, the evidence and fingerprint indexes find it, and its
//     inclusion proof leads to the head's root.
//
// Its errors are *CorruptError naming the file and the repair (repairHint).
// It must run before anything writes to db (at open): bbolt's check is
// safe beside readers only.
//
// Cost: the page walk and bbolt's check each read every page once, O(file
// size), as bbolt's own scan at open does; the Merkle checks are
// O(spotChecked log n). On a ledger of 100,000 entries (a 64 MiB file) it
// took 0.2 to 0.4 s on a shared 2-core machine (BenchmarkVerifyLedgerFile),
// so about 5 s per GiB of ledger.
func verifyLedgerFile(db *bolt.DB, path, court string) (err error) {
	if err := walkPages(path); err != nil {
		return err
	}
	return verifyOpened(db, path, court)
}

// walkPages is checkPages with its errors as verifyLedgerFile gives them.
func walkPages(path string) error {
	if err := checkPages(path); err != nil {
		if errors.Is(err, errPage) {
			return corruptFile(path, "the file's pages", err)
		}
		return fmt.Errorf("verify ledger %s: %w", path, err)
	}
	return nil
}

// verifyOpened is verifyLedgerFile after the page walk: db must be open on
// a file whose pages walkPages passed.
func verifyOpened(db *bolt.DB, path, court string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = corruptFile(path, "the file's pages", fmt.Errorf("bbolt: %v", p))
		}
		var ce *CorruptError
		if errors.As(err, &ce) && ce.Path == "" {
			err = corruptFile(path, ce.What, ce.Err)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return db.View(func(tx *bolt.Tx) error {
		var (
			first error
			n     int
		)
		for err := range tx.Check() { // drained: the checker blocks until read
			if first == nil {
				first = err
			}
			n++
		}
		if first != nil {
			return corruptFile(path, "the file's pages", fmt.Errorf("bbolt check found %d problems, the first: %w", n, first))
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return &CorruptError{What: "its metadata", Err: errors.New("the meta bucket is missing")}
		}
		if c := meta.Get(keyCourt); string(c) != court {
			return &CorruptError{What: "its metadata", Err: fmt.Errorf("it is the ledger of court %q, not %q", c, court)}
		}
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				return &CorruptError{What: "its buckets", Err: fmt.Errorf("bucket %q is missing", name)}
			}
		}
		if err := verifyLog(ownLog(tx), meta, getU64(meta.Get(keySize))); err != nil {
			return err
		}
		return tx.Bucket(bucketMirrors).ForEachBucket(func(k []byte) error {
			lb, mb, _ := mirrorLog(tx, string(k))
			for _, b := range []*bolt.Bucket{lb.entries, lb.nodes, lb.evidence, lb.fingerprints, lb.heads} {
				if b == nil {
					return &CorruptError{What: fmt.Sprintf("the mirror of %s", k), Err: errors.New("one of its buckets is missing")}
				}
			}
			return verifyLog(lb, mb, getU64(mb.Get(keySize)))
		})
	})
}

// verifyLog checks a log of size entries against its latest signed head
// (see verifyLedgerFile).
func verifyLog(lb logBuckets, meta *bolt.Bucket, size uint64) error {
	k, note := lb.heads.Cursor().Last()
	if k == nil {
		if first, _ := lb.entries.Cursor().First(); size != 0 || first != nil {
			return &CorruptError{What: fmt.Sprintf("the log of %s", lb.court), Err: fmt.Errorf("it holds entries (size %d) but no signed head", size)}
		}
		return nil
	}
	h, err := lb.checkedHead(k, note)
	if err != nil {
		return err
	}
	if h.Head.Size != size {
		return &CorruptError{What: fmt.Sprintf("the log of %s", lb.court), Err: fmt.Errorf("its size is %d, its latest signed head is at %d", size, h.Head.Size)}
	}
	if last, _ := lb.entries.Cursor().Last(); size == 0 && last != nil || size > 0 && getU64(last) != size-1 {
		return &CorruptError{What: fmt.Sprintf("the log of %s", lb.court), Err: fmt.Errorf("its size is %d, its last entry is at %d", size, getU64(last))}
	}
	for i := size - min(size, spotChecked); i < size; i++ {
		r, err := lb.receiptFor(i, h, h.Note)
		if err != nil {
			return err
		}
		e := &r.Entry
		if i >= indexedUpTo(meta, size) {
			continue // indexed in memory once the file is opened (index.go)
		}
		if idx, ok := lb.indexOf(e.EvidenceID); !ok || idx != i {
			return lb.corrupt(i, fmt.Errorf("the evidence index does not find it (found %v at %d)", ok, idx))
		}
		key := fingerprintKey(e.Submission.Fingerprint, i)
		if got, _ := lb.fingerprints.Cursor().Seek(key); !bytes.Equal(got, key) {
			return lb.corrupt(i, errors.New("the fingerprint index does not find it"))
		}
	}
	return nil
}
