package consensus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A page of the ledger file damaged while the node runs (bbolt maps the
// file, so it reads what is on disk) made bbolt panic on an assertion or
// fault on memory past its mapping, ending the process. Now the read that
// meets it gets a CorruptError naming the file, and the node is marked
// corrupt; later reads of other pages still work.
func TestDamagedPageUnderReadIsCorruptNotPanic(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, file *os.File, f *fsm, pageSize uint64)
	}{
		{"page header of the leaf holding an entry", func(t *testing.T, file *os.File, f *fsm, ps uint64) {
			raw, err := (&LogView{f: f, court: testCourt, own: true}).RawEntries(1000, 1001, 1)
			if err != nil {
				t.Fatal(err)
			}
			all, err := os.ReadFile(f.path)
			if err != nil {
				t.Fatal(err)
			}
			at := bytes.Index(all, raw[0])
			if at < 0 {
				t.Fatal("entry 1000 not found in the file")
			}
			page := uint64(at) / ps
			if _, err := file.WriteAt(bytes.Repeat([]byte{0xff}, 16), int64(page*ps)); err != nil {
				t.Fatal(err)
			}
		}},
		{"child page far past the end of the file", func(t *testing.T, file *os.File, f *fsm, ps uint64) {
			var root uint64
			if err := f.db.View(func(tx *bolt.Tx) error { root = uint64(tx.Bucket(bucketEntries).Root()); return nil }); err != nil {
				t.Fatal(err)
			}
			hdr := make([]byte, 16)
			if _, err := file.ReadAt(hdr, int64(root*ps)); err != nil {
				t.Fatal(err)
			}
			if binary.LittleEndian.Uint16(hdr[8:]) != 0x01 {
				t.Fatal("the entries bucket's root is not a branch page")
			}
			// The first branch element's child: far inside the address
			// space, far outside bbolt's mapping.
			if _, err := file.WriteAt(binary.LittleEndian.AppendUint64(nil, 1<<30), int64(root*ps+16+8)); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ledger.db")
			f := buildLedger(t, path, 2000, 64)
			v := &LogView{f: f, court: testCourt, own: true}
			file, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer file.Close()
			tc.damage(t, file, f, uint64(f.db.Info().PageSize))
			var corrupt error
			for i := uint64(0); i < 2000 && corrupt == nil; i++ {
				if _, err := v.Entry(i); err != nil {
					corrupt = err
				}
			}
			var ce *CorruptError
			if !errors.As(corrupt, &ce) || ce.Path != path || !strings.Contains(corrupt.Error(), path) {
				t.Fatalf("reading the damaged page: %v, want a CorruptError naming %s", corrupt, path)
			}
			if f.corrupt.Load() == nil {
				t.Fatal("the ledger is not marked corrupt")
			}
			if _, err := v.LatestHead(); err != nil {
				t.Fatalf("an intact page after the damaged one: %v", err)
			}
		})
	}
}
