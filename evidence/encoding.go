package evidence

import (
	"encoding/binary"
	"fmt"
)

// encoder appends canonical fields (see the package comment).
type encoder struct{ b []byte }

func (e *encoder) u32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }

func (e *encoder) bytes(p []byte) {
	e.u32(uint32(len(p)))
	e.b = append(e.b, p...)
}

func (e *encoder) str(s string) {
	e.u32(uint32(len(s)))
	e.b = append(e.b, s...)
}

// decoder reads canonical fields; the first failure sticks, so a caller reads
// every field and checks err once.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = &FieldError{Field: "encoding", Reason: ErrMalformed, Detail: fmt.Sprintf(format, args...)}
	}
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail("%s: need %d bytes, have %d", what, n, len(d.b))
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) u32(what string) uint32 {
	p := d.take(4, what)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint32(p)
}

func (d *decoder) u64(what string) uint64 {
	p := d.take(8, what)
	if p == nil {
		return 0
	}
	return binary.BigEndian.Uint64(p)
}

// bytes reads a length-prefixed field of at most max bytes; the bound is
// checked before anything is allocated.
func (d *decoder) bytes(what string, max int) []byte {
	n := d.u32(what + " length")
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(max) {
		d.fail("%s: %d bytes, at most %d", what, n, max)
		return nil
	}
	return d.take(int(n), what)
}

func (d *decoder) str(what string, max int) string { return string(d.bytes(what, max)) }

// tag reads and checks a domain separation tag.
func (d *decoder) tag(want string) {
	if got := d.bytes("tag", len(want)); d.err == nil && string(got) != want {
		d.fail("tag %q, want %q", got, want)
	}
}

func (d *decoder) finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}
