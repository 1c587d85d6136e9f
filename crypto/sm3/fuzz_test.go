package sm3_test

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/courtledger/courtledger/crypto/sm3"
)

// FuzzSumReader checks that streaming through SumReader, in reads of any
// size, gives the same digest and count as Sum over the whole input.
func FuzzSumReader(f *testing.F) {
	for _, v := range publishedVectors {
		f.Add([]byte(v.msg), uint16(0))
		f.Add([]byte(v.msg), uint16(62))
	}
	f.Add(bytes.Repeat([]byte{0xff}, 200), uint16(63))
	f.Add([]byte(strings.Repeat("abcd", 16)+"x"), uint16(1))

	f.Fuzz(func(t *testing.T, data []byte, chunk uint16) {
		r := &chunkReader{data: data, chunk: int(chunk) + 1}
		got, n, err := sm3.SumReader(r, 0, nil)
		if err != nil {
			t.Fatalf("SumReader: %v", err)
		}
		if want := sm3.Sum(data); got != want {
			t.Fatalf("SumReader in reads of %d = %x, Sum = %x", r.chunk, got, want)
		}
		if n != int64(len(data)) {
			t.Fatalf("SumReader counted %d bytes, want %d", n, len(data))
		}
	})
}

// chunkReader yields data at most chunk bytes per Read.
type chunkReader struct {
	data  []byte
	chunk int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.chunk)], r.data)
	r.data = r.data[n:]
	return n, nil
}
