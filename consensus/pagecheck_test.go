package consensus

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// FuzzCheckPages feeds damaged bbolt files to the page walk. It must never
// panic, and a file it passes must be one bbolt can open, walk and check
// without a panic or a fault: that is what the walk is for (openLedgerDB).
// The seeds are a small ledger file and copies of it with 64 bytes flipped
// at each page boundary.
func FuzzCheckPages(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed.db")
	l := buildLedger(f, path, 40, 4)
	l.close()
	seed, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	// The file runs on past its pages (bbolt grows it 16 MiB at a time):
	// seeds of the pages only, or there would be thousands of 16 MiB seeds.
	m, err := readMeta(bytes.NewReader(seed), int64(len(seed)))
	if err != nil {
		f.Fatal(err)
	}
	seed = seed[:m.hw*m.pageSize]
	f.Add(seed)
	for at := 0; at+64 <= len(seed); at += os.Getpagesize() {
		b := bytes.Clone(seed)
		for i := at; i < at+64; i++ {
			b[i] ^= 0xff
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, file []byte) {
		if checkPagesOf(bytes.NewReader(file), int64(len(file))) != nil {
			return
		}
		path := filepath.Join(t.TempDir(), "ledger.db")
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := openWalkAndCheck(path); err != nil {
			t.Fatalf("the page walk passed a file bbolt cannot read: %v", err)
		}
	})
}

// openWalkAndCheck opens the bbolt file at path as the ledger does, reads
// every key and value of every bucket and runs bbolt's check, turning a
// panic or fault into an error. bbolt's own errors (a file it refuses) are
// not errors here.
func openWalkAndCheck(path string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	db, oerr := bolt.Open(path, 0o600, boltOptions())
	if oerr != nil {
		return nil
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		var walk func(b *bolt.Bucket)
		walk = func(b *bolt.Bucket) {
			_ = b.ForEach(func(k, v []byte) error {
				if v == nil {
					if sub := b.Bucket(k); sub != nil {
						walk(sub)
					}
				}
				return nil
			})
		}
		_ = tx.ForEach(func(_ []byte, b *bolt.Bucket) error { walk(b); return nil })
		for range tx.Check() {
		}
		return nil
	})
}

func TestCheckPagesOfIntactLedger(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	l := buildLedger(t, path, 300, 7)
	copyLog(t, buildLedgerFor(t, filepath.Join(t.TempDir(), "o.db"), mirroringCourt, 50, 5), l, mirroringCourt)
	l.close()
	if err := checkPages(path); err != nil {
		t.Fatalf("intact ledger: %v", err)
	}
}
