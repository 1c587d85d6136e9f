package sm3_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/courtledger/courtledger/crypto/sm3"
)

const mib = 1 << 20

// publishedVectors are the worked examples of GB/T 32905-2016 Appendix A
// (identical to GM/T 0004-2012 Annex A): example 1 hashes "abc", example 2
// hashes "abcd" repeated 16 times (512 bits, so padding adds a second block).
// The empty message is not in the standard; its digest is OpenSSL's. Each row
// carries the one-liner that reproduces it with OpenSSL 3.
var publishedVectors = []struct {
	name string
	msg  string
	want string
	cmd  string
}{
	{
		name: "GB/T 32905 example 1: abc",
		msg:  "abc",
		want: "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0",
		cmd:  "printf abc | openssl dgst -sm3",
	},
	{
		name: "GB/T 32905 example 2: abcd x16",
		msg:  strings.Repeat("abcd", 16),
		want: "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732",
		cmd:  "printf 'abcd%.0s' $(seq 16) | openssl dgst -sm3",
	},
	{
		name: "empty message",
		msg:  "",
		want: "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b",
		cmd:  "printf '' | openssl dgst -sm3",
	},
}

func TestPublishedVectors(t *testing.T) {
	for _, tc := range publishedVectors {
		t.Run(tc.name, func(t *testing.T) {
			want := mustHex(t, tc.want)

			if got := sm3.Sum([]byte(tc.msg)); !bytes.Equal(got[:], want) {
				t.Errorf("Sum(%q) = %x, want %x (%s)", tc.msg, got, want, tc.cmd)
			}

			h := sm3.New()
			// Write one byte at a time so block buffering is exercised too.
			for i := range len(tc.msg) {
				h.Write([]byte{tc.msg[i]})
			}
			if got := h.Sum(nil); !bytes.Equal(got, want) {
				t.Errorf("New().Write bytewise, Sum = %x, want %x", got, want)
			}

			got, n, err := sm3.SumReader(strings.NewReader(tc.msg), 0, nil)
			if err != nil {
				t.Fatalf("SumReader: %v", err)
			}
			if !bytes.Equal(got[:], want) || n != int64(len(tc.msg)) {
				t.Errorf("SumReader = %x, %d; want %x, %d", got, n, want, len(tc.msg))
			}
		})
	}
}

func TestSizeIsDigestLength(t *testing.T) {
	if sm3.Size != 32 || len(sm3.Digest{}) != sm3.Size || sm3.New().Size() != sm3.Size {
		t.Errorf("Size = %d, len(Digest) = %d, New().Size() = %d; want 32 for all",
			sm3.Size, len(sm3.Digest{}), sm3.New().Size())
	}
	if bs := sm3.New().BlockSize(); bs != 64 {
		t.Errorf("BlockSize = %d, want 64", bs)
	}
}

// readerKinds are the shapes of reader SumReader must handle: whole reads,
// short reads, and a final read that returns data together with io.EOF.
var readerKinds = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"plain", func(r io.Reader) io.Reader { return r }},
	{"half reads", iotest.HalfReader},
	{"data with EOF", iotest.DataErrReader},
}

func TestSumReaderMatchesSum(t *testing.T) {
	// Sizes around SumReader's 1 MiB read buffer.
	sizes := []struct {
		name string
		n    int
	}{
		{"empty", 0},
		{"1 byte", 1},
		{"1MiB-1", mib - 1},
		{"1MiB", mib},
		{"1MiB+1", mib + 1},
		{"3MiB+7", 3*mib + 7},
	}
	for _, size := range sizes {
		data := pseudoRandom(size.n, uint64(size.n))
		want := sm3.Sum(data)
		for _, kind := range readerKinds {
			t.Run(size.name+"/"+kind.name, func(t *testing.T) {
				got, n, err := sm3.SumReader(kind.wrap(bytes.NewReader(data)), 0, nil)
				if err != nil {
					t.Fatalf("SumReader: %v", err)
				}
				if got != want {
					t.Errorf("SumReader = %x, Sum = %x", got, want)
				}
				if n != int64(size.n) {
					t.Errorf("SumReader counted %d bytes, want %d", n, size.n)
				}
			})
		}
	}
}

func TestSumReaderLimit(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		limit  int64
		tooBig bool
	}{
		{name: "no limit", size: 3*mib + 7, limit: 0},
		{name: "exactly at the limit", size: mib, limit: mib},
		{name: "one byte over, in the second read", size: mib + 1, limit: mib, tooBig: true},
		{name: "one byte over, in the first read", size: 101, limit: 100, tooBig: true},
		{name: "far over", size: 3*mib + 7, limit: 1, tooBig: true},
		{name: "empty input, limit 1", size: 0, limit: 1},
	}
	for _, tc := range tests {
		for _, kind := range readerKinds {
			t.Run(tc.name+"/"+kind.name, func(t *testing.T) {
				data := pseudoRandom(tc.size, 1)
				got, n, err := sm3.SumReader(kind.wrap(bytes.NewReader(data)), tc.limit, nil)
				if !tc.tooBig {
					if err != nil {
						t.Fatalf("SumReader(limit %d) of %d bytes: %v", tc.limit, tc.size, err)
					}
					if want := sm3.Sum(data); got != want {
						t.Errorf("digest = %x, want %x", got, want)
					}
					return
				}
				if !errors.Is(err, sm3.ErrTooLarge) {
					t.Fatalf("SumReader(limit %d) of %d bytes: err = %v, want ErrTooLarge", tc.limit, tc.size, err)
				}
				if got != (sm3.Digest{}) {
					t.Errorf("digest of an over-limit input = %x, want zero (a partial digest must not look like a fingerprint)", got)
				}
				if n <= tc.limit {
					t.Errorf("reported %d bytes read, want more than the limit %d", n, tc.limit)
				}
			})
		}
	}
}

func TestSumReaderProgress(t *testing.T) {
	tests := []struct {
		name      string
		size      int
		wrap      func(io.Reader) io.Reader
		wantCalls int // minimum number of calls
	}{
		{"empty: never called", 0, func(r io.Reader) io.Reader { return r }, 0},
		{"one byte", 1, func(r io.Reader) io.Reader { return r }, 1},
		{"3MiB+7 in whole reads", 3*mib + 7, func(r io.Reader) io.Reader { return r }, 4},
		{"3MiB+7 in half reads", 3*mib + 7, iotest.HalfReader, 7},
		{"1 KiB one byte at a time", 1024, iotest.OneByteReader, 1024},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls []int64
			_, n, err := sm3.SumReader(tc.wrap(bytes.NewReader(pseudoRandom(tc.size, 2))), 0,
				func(n int64) { calls = append(calls, n) })
			if err != nil {
				t.Fatalf("SumReader: %v", err)
			}
			if len(calls) < tc.wantCalls {
				t.Fatalf("progress called %d times, want at least %d", len(calls), tc.wantCalls)
			}
			for i := 1; i < len(calls); i++ {
				if calls[i] <= calls[i-1] {
					t.Fatalf("progress not increasing: call %d = %d after %d", i, calls[i], calls[i-1])
				}
			}
			if len(calls) > 0 && calls[len(calls)-1] != int64(tc.size) {
				t.Errorf("last progress = %d, want the total %d", calls[len(calls)-1], tc.size)
			}
			if n != int64(tc.size) {
				t.Errorf("SumReader counted %d bytes, want %d", n, tc.size)
			}
		})
	}
}

func TestSumReaderWrapsReadError(t *testing.T) {
	errDisk := errors.New("disk unplugged")
	tests := []struct {
		name string
		r    io.Reader
	}{
		{"error at once", iotest.ErrReader(errDisk)},
		{"error after 1MiB+1 bytes", io.MultiReader(bytes.NewReader(pseudoRandom(mib+1, 3)), iotest.ErrReader(errDisk))},
		{"error returned together with data", &dataThenError{data: []byte("partial"), err: errDisk}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := sm3.SumReader(tc.r, 0, nil)
			if !errors.Is(err, errDisk) {
				t.Fatalf("err = %v, want it to wrap %v", err, errDisk)
			}
			if errors.Is(err, sm3.ErrTooLarge) {
				t.Errorf("err = %v also matches ErrTooLarge", err)
			}
			if got != (sm3.Digest{}) {
				t.Errorf("digest after a read error = %x, want zero", got)
			}
		})
	}
}

// dataThenError returns its data and err from the same Read call, which
// io.Reader allows and which SumReader must not mistake for success.
type dataThenError struct {
	data []byte
	err  error
}

func (r *dataThenError) Read(p []byte) (int, error) {
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, r.err
}

// pseudoRandom returns n reproducible bytes that depend on seed.
func pseudoRandom(n int, seed uint64) []byte {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}
