package merkle_test

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"github.com/courtledger/courtledger/crypto/merkle"
)

// benchSize is the tree size the proof benchmarks run at: 2^20 leaves, leaf
// i holding the 8-byte big-endian i.
const benchSize = 1 << 20

// benchStore builds the benchmark tree once per process (about a second).
var benchStore = sync.OnceValue(func() *merkle.MemStore {
	s := merkle.NewMemStore()
	var data [8]byte
	for i := range uint64(benchSize) {
		binary.BigEndian.PutUint64(data[:], i)
		s.AppendLeaf(data[:])
	}
	return s
})

// spread returns the i-th of a fixed sequence of numbers in [0, n), spread
// over the whole range so proofs of all shapes are measured.
func spread(i int, n uint64) uint64 { return uint64(i) * 0x9e3779b97f4a7c15 % n }

func BenchmarkInclusionProof(b *testing.B) {
	s := benchStore()
	ctx := b.Context()
	for i := 0; b.Loop(); i++ {
		if _, err := merkle.Inclusion(ctx, s, spread(i, benchSize), benchSize); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyInclusion(b *testing.B) {
	s := benchStore()
	root := s.Root()
	type claim struct {
		index uint64
		leaf  []byte
		proof [][]byte
	}
	claims := make([]claim, 1024)
	var data [8]byte
	for i := range claims {
		index := spread(i, benchSize)
		binary.BigEndian.PutUint64(data[:], index)
		claims[i] = claim{index, merkle.LeafHash(data[:]), mustInclusion(b, s, index, benchSize)}
	}
	for i := 0; b.Loop(); i++ {
		c := claims[i%len(claims)]
		if err := merkle.VerifyInclusion(c.index, benchSize, c.leaf, c.proof, root); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConsistencyProof(b *testing.B) {
	s := benchStore()
	ctx := b.Context()
	for i := 0; b.Loop(); i++ {
		if _, err := merkle.Consistency(ctx, s, 1+spread(i, benchSize-1), benchSize); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyConsistency(b *testing.B) {
	s := benchStore()
	root2 := s.Root()
	type claim struct {
		size1 uint64
		root1 []byte
		proof [][]byte
	}
	claims := make([]claim, 256)
	for i := range claims {
		size1 := 1 + spread(i, benchSize-1)
		root1, err := merkle.Root(b.Context(), s, size1)
		if err != nil {
			b.Fatal(err)
		}
		claims[i] = claim{size1, root1, mustConsistency(b, s, size1, benchSize)}
	}
	for i := 0; b.Loop(); i++ {
		c := claims[i%len(claims)]
		if err := merkle.VerifyConsistency(c.size1, benchSize, c.proof, c.root1, root2); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppend measures appending one leaf hash: to a Range alone (what
// the ledger's state machine does per entry, amortised over the subtrees a
// leaf completes) and to a MemStore, which also stores every new node.
func BenchmarkAppend(b *testing.B) {
	leaf := merkle.LeafHash([]byte("evidence entry"))
	b.Run("Range", func(b *testing.B) {
		r := merkle.NewRange()
		for b.Loop() {
			if err := r.Append(leaf, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("MemStore", func(b *testing.B) {
		s := merkle.NewMemStore()
		for b.Loop() {
			if _, err := s.AppendLeafHash(leaf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkLeafHash(b *testing.B) {
	for _, size := range []int{8, 256, 4096} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			data := make([]byte, size)
			b.SetBytes(int64(size))
			for b.Loop() {
				merkle.LeafHash(data)
			}
		})
	}
}
