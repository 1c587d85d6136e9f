package sm3_test

import (
	"bytes"
	"fmt"
	"testing"

	tjsm3 "github.com/tjfoc/gmsm/sm3"

	"github.com/courtledger/courtledger/crypto/sm3"
)

// TestSumMatchesTjfoc checks Sum against github.com/tjfoc/gmsm, an
// independent implementation that many platforms hash with, on lengths
// around the 64-byte block and its 55/56-byte padding boundary.
func TestSumMatchesTjfoc(t *testing.T) {
	lengths := []int{0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 4096, 1<<16 + 3}
	for i := range 40 {
		lengths = append(lengths, int(pseudoRandom(2, uint64(1000+i))[0])*37+i)
	}
	for i, n := range lengths {
		t.Run(fmt.Sprintf("%d bytes", n), func(t *testing.T) {
			data := pseudoRandom(n, uint64(i)+100)
			want := tjsm3.Sm3Sum(data)

			if got := sm3.Sum(data); !bytes.Equal(got[:], want) {
				t.Errorf("Sum = %x, tjfoc = %x", got, want)
			}
			h := sm3.New()
			h.Write(data[:n/3])
			h.Write(data[n/3:])
			if got := h.Sum(nil); !bytes.Equal(got, want) {
				t.Errorf("New() in two writes = %x, tjfoc = %x", got, want)
			}
		})
	}
}

// BenchmarkSum compares emmansun/gmsm (through our Sum) with tjfoc/gmsm on
// the same inputs; DESIGN.md's "Dependencies" cites this comparison.
func BenchmarkSum(b *testing.B) {
	impls := []struct {
		name string
		sum  func([]byte)
	}{
		{"emmansun", func(p []byte) { sm3.Sum(p) }},
		{"tjfoc", func(p []byte) { tjsm3.Sm3Sum(p) }},
	}
	sizes := []struct {
		name string
		n    int
	}{
		{"64B", 64},
		{"1KiB", 1 << 10},
		{"1MiB", 1 << 20},
	}
	for _, size := range sizes {
		data := pseudoRandom(size.n, 7)
		for _, impl := range impls {
			b.Run(size.name+"/"+impl.name, func(b *testing.B) {
				b.SetBytes(int64(size.n))
				b.ReportAllocs()
				for b.Loop() {
					impl.sum(data)
				}
			})
		}
	}
}
