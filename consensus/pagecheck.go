package consensus

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// checkPages walks the page structure of the bbolt file at path from its
// meta page, reading it with ReadAt (never mapping it), and reports the
// first page that bbolt could not safely read. bbolt itself trusts its
// pages: a damaged page header fails an assertion (a panic) and a damaged
// element sends it past the end of its mapping (a fault), and when it opens
// a file without a synced freelist (boltOptions) it walks every page and
// panics in a goroutine of its own on a page referenced twice or of the
// wrong type, which no caller can recover. So a ledger file is walked here
// before bbolt opens it (openLedgerDB), and before bbolt's own check runs
// (verifyLedgerFile).
//
// The walk checks what bbolt's `check` command does about structure: a
// valid meta page (magic, version, FNV-64a checksum; the newer of the two,
// as bbolt picks), every page reached from the root bucket below the high
// water mark, with its own ID, of the expected type and reached once, its
// elements inside the page, keys in order and within the range of the
// branch element above them, bucket values well formed, and no page both
// reachable and free. It reads each reachable page once: O(file size), as
// bbolt's own scan at open is. It does not read values, which the ledger's
// hashes check (logview.go, verifyLedgerFile).
func checkPages(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	return checkPagesOf(f, st.Size())
}

// The on-disk layout of bbolt 1.4 (go.etcd.io/bbolt/internal/common), in
// the byte order of the machine that wrote it: little-endian on every
// platform this service runs on.
const (
	pageHeaderSize  = 16 // id u64, flags u16, count u16, overflow u32
	pageElementSize = 16 // branch: pos u32, ksize u32, pgid u64; leaf: flags u32, pos u32, ksize u32, vsize u32
	bucketHeader    = 16 // root pgid u64, sequence u64; root 0: an inline page follows
	metaSize        = 64 // magic, version, page size, flags u32; root bucket; freelist, pgid, txid, checksum u64

	branchPage   = 0x01
	leafPage     = 0x02
	metaPage     = 0x04
	freelistPage = 0x10
	bucketLeaf   = 0x01

	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	noFreelist     = ^uint64(0)
	maxTreeDepth   = 64 // far above any B+tree bbolt builds; bounds the recursion
	maxBoltPageLen = 1 << 16
)

var le = binary.LittleEndian

// errPage is wrapped by every error of the page walk.
var errPage = errors.New("bbolt page structure")

type boltMeta struct {
	pageSize           uint64
	root, freelist, hw uint64 // root bucket's page, freelist page, high water mark
	txid               uint64
}

// parseMeta decodes the meta page at the start of b.
func parseMeta(b []byte) (boltMeta, error) {
	if len(b) < pageHeaderSize+metaSize {
		return boltMeta{}, errors.New("short meta page")
	}
	if flags := le.Uint16(b[8:]); flags != metaPage {
		return boltMeta{}, fmt.Errorf("meta page has flags %#x", flags)
	}
	m := b[pageHeaderSize:]
	if le.Uint32(m) != boltMagic || le.Uint32(m[4:]) != boltVersion {
		return boltMeta{}, errors.New("not a bbolt meta page of version 2")
	}
	h := fnv.New64a()
	h.Write(m[:56])
	if le.Uint64(m[56:]) != h.Sum64() {
		return boltMeta{}, errors.New("meta page checksum mismatch")
	}
	meta := boltMeta{pageSize: uint64(le.Uint32(m[8:])), root: le.Uint64(m[16:]), freelist: le.Uint64(m[32:]),
		hw: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}
	if meta.pageSize < 1024 || meta.pageSize > maxBoltPageLen || meta.pageSize&(meta.pageSize-1) != 0 {
		return boltMeta{}, fmt.Errorf("meta page gives page size %d", meta.pageSize)
	}
	return meta, nil
}

// readMeta picks the meta page bbolt would: the valid one with the higher
// transaction ID. Meta page 1 is found at the page size of meta page 0 or,
// if that is damaged, at each page size bbolt allows.
func readMeta(r io.ReaderAt, size int64) (boltMeta, error) {
	buf := make([]byte, pageHeaderSize+metaSize)
	read := func(off uint64) (boltMeta, error) {
		if off+uint64(len(buf)) > uint64(size) {
			return boltMeta{}, errors.New("file ends before the meta page")
		}
		if _, err := r.ReadAt(buf, int64(off)); err != nil {
			return boltMeta{}, err
		}
		return parseMeta(buf)
	}
	m0, err0 := read(0)
	sizes := []uint64{m0.pageSize}
	if err0 != nil {
		sizes = []uint64{1024, 2048, 4096, 8192, 16384, 32768, 65536}
	}
	var (
		m1   boltMeta
		err1 = errors.New("no second meta page")
	)
	for _, ps := range sizes {
		if m1, err1 = read(ps); err1 == nil && m1.pageSize == ps {
			break
		}
		if err1 == nil {
			err1 = fmt.Errorf("second meta page at %d gives page size %d", ps, m1.pageSize)
		}
	}
	switch {
	case err0 != nil && err1 != nil:
		return boltMeta{}, fmt.Errorf("%w: both meta pages are damaged: page 0: %v; page 1: %v", errPage, err0, err1)
	case err0 != nil || (err1 == nil && m1.txid > m0.txid):
		return m1, nil
	}
	return m0, nil
}

// checkPagesOf walks the bbolt file of size bytes read through r.
func checkPagesOf(r io.ReaderAt, size int64) error {
	m, err := readMeta(r, size)
	if err != nil {
		return err
	}
	if m.hw < 2 || m.hw > uint64(size)/m.pageSize {
		return fmt.Errorf("%w: high water mark of %d pages, the file holds %d", errPage, m.hw, uint64(size)/m.pageSize)
	}
	// bbolt reads both meta pages' headers whichever meta it uses (its
	// check asserts them), so both must be meta pages with their own IDs.
	hdr := make([]byte, pageHeaderSize)
	for id := uint64(0); id < 2; id++ {
		if _, err := r.ReadAt(hdr, int64(id*m.pageSize)); err != nil {
			return fmt.Errorf("%w: meta page %d: %w", errPage, id, err)
		}
		if got, flags := le.Uint64(hdr), le.Uint16(hdr[8:]); got != id || flags != metaPage {
			return fmt.Errorf("%w: meta page %d identifies itself as page %d with flags %#x", errPage, id, got, flags)
		}
	}
	w := &pageWalk{r: r, meta: m, seen: make([]uint64, (m.hw+63)/64)}
	w.mark(0, 0)
	w.mark(1, 0)
	var freed []uint64
	if m.freelist != noFreelist {
		if freed, err = w.freelist(); err != nil {
			return err
		}
	}
	if err := w.tree(m.root, nil, nil, 0); err != nil {
		return err
	}
	isFreed := make(map[uint64]bool, len(freed))
	for _, id := range freed {
		if id < m.hw && w.marked(id) {
			return fmt.Errorf("%w: page %d is reachable and free", errPage, id)
		}
		isFreed[id] = true
	}
	if m.freelist != noFreelist {
		for id := uint64(2); id < m.hw; id++ {
			if !w.marked(id) && !isFreed[id] {
				return fmt.Errorf("%w: page %d is neither reachable nor free", errPage, id)
			}
		}
	}
	return nil
}

type pageWalk struct {
	r    io.ReaderAt
	meta boltMeta
	seen []uint64 // bit per page: reached
}

func (w *pageWalk) marked(id uint64) bool { return w.seen[id/64]&(1<<(id%64)) != 0 }

// mark records pages id..id+overflow as reached; false if one already was.
func (w *pageWalk) mark(id uint64, overflow uint32) bool {
	ok := true
	for p := id; p <= id+uint64(overflow); p++ {
		if w.marked(p) {
			ok = false
		}
		w.seen[p/64] |= 1 << (p % 64)
	}
	return ok
}

// page reads page id and its overflow pages, checked to be in bounds, to
// carry their own ID and one of the flags in want.
func (w *pageWalk) page(id uint64, want ...uint16) ([]byte, error) {
	if id < 2 || id >= w.meta.hw {
		return nil, fmt.Errorf("%w: page %d is out of bounds (high water mark %d)", errPage, id, w.meta.hw)
	}
	b := make([]byte, w.meta.pageSize)
	if _, err := w.r.ReadAt(b, int64(id*w.meta.pageSize)); err != nil {
		return nil, fmt.Errorf("%w: page %d: %w", errPage, id, err)
	}
	if got := le.Uint64(b); got != id {
		return nil, fmt.Errorf("%w: page %d identifies itself as page %d", errPage, id, got)
	}
	flags, overflow := le.Uint16(b[8:]), le.Uint32(b[12:])
	ok := false
	for _, f := range want {
		ok = ok || flags == f
	}
	if !ok {
		return nil, fmt.Errorf("%w: page %d has flags %#x, want one of %#x", errPage, id, flags, want)
	}
	if uint64(overflow) >= w.meta.hw-id {
		return nil, fmt.Errorf("%w: page %d overflows past the high water mark (%d more pages)", errPage, id, overflow)
	}
	if !w.mark(id, overflow) {
		return nil, fmt.Errorf("%w: page %d (or one of its %d overflow pages) is referenced twice", errPage, id, overflow)
	}
	if overflow > 0 {
		b = append(b, make([]byte, uint64(overflow)*w.meta.pageSize)...)
		if _, err := w.r.ReadAt(b[w.meta.pageSize:], int64((id+1)*w.meta.pageSize)); err != nil {
			return nil, fmt.Errorf("%w: page %d: %w", errPage, id, err)
		}
	}
	return b, nil
}

func (w *pageWalk) freelist() ([]uint64, error) {
	b, err := w.page(w.meta.freelist, freelistPage)
	if err != nil {
		return nil, err
	}
	n, at := uint64(le.Uint16(b[10:])), uint64(pageHeaderSize)
	if n == 0xFFFF { // the count is the first element
		n, at = le.Uint64(b[at:]), at+8
	}
	if n > (uint64(len(b))-at)/8 {
		return nil, fmt.Errorf("%w: freelist page %d lists %d pages, it has room for %d", errPage, w.meta.freelist, n, (uint64(len(b))-at)/8)
	}
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = le.Uint64(b[at+uint64(i)*8:])
	}
	return ids, nil
}

// tree walks the B+tree of a bucket whose root is page id; its keys must lie
// in [lo, hi) (nil: unbounded).
func (w *pageWalk) tree(id uint64, lo, hi []byte, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("%w: page %d is %d levels deep", errPage, id, depth)
	}
	b, err := w.page(id, branchPage, leafPage)
	if err != nil {
		return err
	}
	return w.elements(id, b, lo, hi, depth)
}

// elements checks the elements of page b (page id, or inline in a bucket
// value of page id) and walks what they refer to.
func (w *pageWalk) elements(id uint64, b []byte, lo, hi []byte, depth int) error {
	flags, count := le.Uint16(b[8:]), int(le.Uint16(b[10:]))
	if pageHeaderSize+count*pageElementSize > len(b) {
		return fmt.Errorf("%w: page %d holds %d elements, it has room for %d", errPage, id, count, (len(b)-pageHeaderSize)/pageElementSize)
	}
	if flags == branchPage && count == 0 {
		return fmt.Errorf("%w: branch page %d is empty", errPage, id)
	}
	field := func(i, at int) int { return int(le.Uint32(b[pageHeaderSize+i*pageElementSize+at:])) }
	// slice returns b[start : start+n] if that lies in the page.
	slice := func(i, start, n int) ([]byte, error) {
		start += pageHeaderSize + i*pageElementSize
		if start < 0 || n < 0 || start > len(b) || n > len(b)-start {
			return nil, fmt.Errorf("%w: element %d of page %d points outside the page", errPage, i, id)
		}
		return b[start : start+n], nil
	}
	keys := make([][]byte, count)
	for i := range keys {
		var err error
		if flags == branchPage {
			keys[i], err = slice(i, field(i, 0), field(i, 4))
		} else {
			keys[i], err = slice(i, field(i, 4), field(i, 8))
		}
		if err != nil {
			return err
		}
		switch {
		case lo != nil && bytes.Compare(keys[i], lo) < 0:
			return fmt.Errorf("%w: key %d of page %d (%x) is below its branch key %x", errPage, i, id, keys[i], lo)
		case hi != nil && bytes.Compare(keys[i], hi) >= 0:
			return fmt.Errorf("%w: key %d of page %d (%x) is not below the next branch key %x", errPage, i, id, keys[i], hi)
		case i > 0 && bytes.Compare(keys[i-1], keys[i]) >= 0:
			return fmt.Errorf("%w: keys %d and %d of page %d are out of order", errPage, i-1, i, id)
		}
	}
	for i, k := range keys {
		if flags == branchPage {
			next := hi
			if i+1 < count {
				next = keys[i+1]
			}
			child := le.Uint64(b[pageHeaderSize+i*pageElementSize+8:])
			if err := w.tree(child, k, next, depth+1); err != nil {
				return err
			}
			continue
		}
		v, err := slice(i, field(i, 4)+field(i, 8), field(i, 12))
		if err != nil {
			return err
		}
		switch ef := field(i, 0); {
		case ef == 0:
		case ef != bucketLeaf:
			return fmt.Errorf("%w: element %d of page %d has flags %#x", errPage, i, id, ef)
		case len(v) < bucketHeader:
			return fmt.Errorf("%w: bucket %x on page %d has a %d-byte header", errPage, k, id, len(v))
		case le.Uint64(v) != 0:
			if err := w.tree(le.Uint64(v), nil, nil, depth+1); err != nil {
				return err
			}
		default: // an inline bucket: a leaf page inside the value
			inline := v[bucketHeader:]
			if len(inline) < pageHeaderSize || le.Uint16(inline[8:]) != leafPage {
				return fmt.Errorf("%w: inline bucket %x on page %d is not a leaf page", errPage, k, id)
			}
			if depth >= maxTreeDepth {
				return fmt.Errorf("%w: inline bucket %x on page %d is nested too deep", errPage, k, id)
			}
			if err := w.elements(id, inline, nil, nil, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}
