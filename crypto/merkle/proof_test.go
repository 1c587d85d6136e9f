package merkle_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/courtledger/courtledger/crypto/merkle"
)

// fixtureSize is the size of the tree every proof is checked on: all 300
// leaves, all 45,150 (index, size) pairs and all 45,150 consistency pairs.
const fixtureSize = 300

// fixture is one SM3 tree of fixtureSize leaves, built once. Proofs for
// smaller sizes come from the same store: a perfect subtree never changes
// once complete, so the stored hashes of a tree serve every earlier size.
type fixture struct {
	leaves [][]byte         // entry data; leaf 0 is the empty entry
	store  *merkle.MemStore // every perfect subtree of the whole tree
	ref    *refTree         // RFC 6962 reference with SM3
	heads  [][]byte         // heads[n]: store.Root() after n appends
	hashes [][]byte         // hashes[i]: the leaf hash of leaves[i]
}

var sharedFixture = sync.OnceValue(func() *fixture {
	fx := &fixture{store: merkle.NewMemStore(), ref: newRefTree(sm3Hash)}
	fx.heads = append(fx.heads, fx.store.Root())
	for i := range fixtureSize {
		var data []byte
		if i > 0 {
			data = fmt.Appendf(nil, "evidence entry %d%s", i, bytes.Repeat([]byte{'.'}, i%70))
		}
		fx.leaves = append(fx.leaves, data)
		fx.hashes = append(fx.hashes, merkle.LeafHash(data))
		fx.store.AppendLeaf(data)
		fx.heads = append(fx.heads, fx.store.Root())
	}
	return fx
})

// root returns the reference root of the first n leaves.
func (fx *fixture) root(n uint64) []byte { return fx.ref.mth(fx.leaves[:n]) }

// TestSM3Vectors checks the package against the known-answer vectors that
// testdata/sm3_tree.py computed with OpenSSL's SM3.
func TestSM3Vectors(t *testing.T) {
	v := loadVectors(t, "sm3_tree.json")
	store := merkle.NewMemStore()
	for _, l := range v.Leaves {
		store.AppendLeaf(l)
	}
	for size, want := range v.Roots {
		got, err := merkle.Root(t.Context(), store, uint64(size))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("Root(%d) = %x, %v; want %x", size, got, err, []byte(want))
		}
	}
	for _, p := range v.Inclusion {
		index, size := uint64(p.Index), uint64(p.Size)
		got, err := merkle.Inclusion(t.Context(), store, index, size)
		if err != nil || !equalHashes(got, asLists(p.Proof)) {
			t.Errorf("Inclusion(%d, %d) = %x, %v; want %x", index, size, got, err, p.Proof)
		}
		if err := merkle.VerifyInclusion(index, size, merkle.LeafHash(v.Leaves[index]), asLists(p.Proof), v.Roots[size]); err != nil {
			t.Errorf("VerifyInclusion(%d, %d) of the vector: %v", index, size, err)
		}
	}
	for _, p := range v.Consistency {
		size1, size2 := uint64(p.Size1), uint64(p.Size2)
		got, err := merkle.Consistency(t.Context(), store, size1, size2)
		if err != nil || !equalHashes(got, asLists(p.Proof)) {
			t.Errorf("Consistency(%d, %d) = %x, %v; want %x", size1, size2, got, err, p.Proof)
		}
		if err := merkle.VerifyConsistency(size1, size2, asLists(p.Proof), v.Roots[size1], v.Roots[size2]); err != nil {
			t.Errorf("VerifyConsistency(%d, %d) of the vector: %v", size1, size2, err)
		}
	}
}

// TestRoot checks the root of every size 0..300 four ways: the reference
// MTH, the live root while appending, Root from the store, and RootOf.
func TestRoot(t *testing.T) {
	fx := sharedFixture()
	for size := uint64(0); size <= fixtureSize; size++ {
		want := fx.root(size)
		got, err := merkle.Root(t.Context(), fx.store, size)
		if err != nil {
			t.Fatalf("Root(%d): %v", size, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("Root(%d) = %x, reference MTH = %x", size, got, want)
		}
		if !bytes.Equal(fx.heads[size], want) {
			t.Fatalf("root after %d appends = %x, reference MTH = %x", size, fx.heads[size], want)
		}
		if got := merkle.RootOf(fx.leaves[:size]); !bytes.Equal(got, want) {
			t.Fatalf("RootOf(%d leaves) = %x, reference MTH = %x", size, got, want)
		}
	}
}

// TestInclusion checks the inclusion proof of every leaf of every tree size
// 1..300: it is the reference PATH and it verifies against the root.
func TestInclusion(t *testing.T) {
	fx := sharedFixture()
	for size := uint64(1); size <= fixtureSize; size++ {
		root := fx.root(size)
		for index := range size {
			got, err := merkle.Inclusion(t.Context(), fx.store, index, size)
			if err != nil {
				t.Fatalf("Inclusion(%d, %d): %v", index, size, err)
			}
			if want := fx.ref.path(int(index), fx.leaves[:size]); !equalHashes(got, want) {
				t.Fatalf("Inclusion(%d, %d) = %x, reference PATH = %x", index, size, got, want)
			}
			if err := merkle.VerifyInclusion(index, size, fx.hashes[index], got, root); err != nil {
				t.Fatalf("VerifyInclusion(%d, %d): %v", index, size, err)
			}
		}
	}
}

// TestConsistency checks the consistency proof of every pair 1 <= m <= n <=
// 300: it is the reference PROOF and it verifies between the two roots.
func TestConsistency(t *testing.T) {
	fx := sharedFixture()
	for n := uint64(1); n <= fixtureSize; n++ {
		root2 := fx.root(n)
		for m := uint64(1); m <= n; m++ {
			got, err := merkle.Consistency(t.Context(), fx.store, m, n)
			if err != nil {
				t.Fatalf("Consistency(%d, %d): %v", m, n, err)
			}
			if want := fx.ref.proof(int(m), fx.leaves[:n]); !equalHashes(got, want) {
				t.Fatalf("Consistency(%d, %d) = %x, reference PROOF = %x", m, n, got, want)
			}
			if err := merkle.VerifyConsistency(m, n, got, fx.root(m), root2); err != nil {
				t.Fatalf("VerifyConsistency(%d, %d): %v", m, n, err)
			}
		}
	}
}

// TestEdgeCases covers the empty tree, consistency from size 0, equal sizes
// and requests outside the tree.
func TestEdgeCases(t *testing.T) {
	fx := sharedFixture()
	empty := mustHex(t, emptyRootHex)
	root5, root300 := fx.root(5), fx.root(fixtureSize)

	t.Run("consistency proof from 0 is empty", func(t *testing.T) {
		for _, n := range []uint64{0, 1, 5, fixtureSize} {
			p, err := merkle.Consistency(t.Context(), fx.store, 0, n)
			if err != nil || len(p) != 0 {
				t.Errorf("Consistency(0, %d) = %x, %v; want no hashes", n, p, err)
			}
		}
	})
	t.Run("consistency proof of equal sizes is empty", func(t *testing.T) {
		for _, n := range []uint64{1, 5, fixtureSize} {
			p, err := merkle.Consistency(t.Context(), fx.store, n, n)
			if err != nil || len(p) != 0 {
				t.Errorf("Consistency(%d, %d) = %x, %v; want no hashes", n, n, p, err)
			}
		}
	})

	verify := []struct {
		name   string
		size1  uint64
		size2  uint64
		proof  [][]byte
		root1  []byte
		root2  []byte
		accept bool
	}{
		{"0 to 0", 0, 0, nil, empty, empty, true},
		{"0 to 5", 0, 5, nil, empty, root5, true},
		{"0 to 300", 0, fixtureSize, [][]byte{}, empty, root300, true},
		{"5 to 5", 5, 5, nil, root5, root5, true},
		{"0 to 0, root1 not empty root", 0, 0, nil, root5, root5, false},
		{"0 to 5, root1 not empty root", 0, 5, nil, root5, root5, false},
		{"0 to 5, root1 the leaf hash of the empty entry", 0, 5, nil, fx.hashes[0], root5, false},
		{"0 to 5 with a hash", 0, 5, [][]byte{root5}, empty, root5, false},
		{"0 to 0 with a hash", 0, 0, [][]byte{empty}, empty, empty, false},
		{"0 to 5, short root1", 0, 5, nil, empty[:31], root5, false},
		{"5 to 5, different roots", 5, 5, nil, root5, root300, false},
		{"5 to 5 with a hash", 5, 5, [][]byte{root5}, root5, root5, false},
		{"5 to 300, empty proof", 5, fixtureSize, nil, root5, root300, false},
		{"300 to 5", fixtureSize, 5, nil, root300, root5, false},
		{"1 to 0", 1, 0, nil, fx.hashes[0], empty, false},
	}
	for _, tc := range verify {
		t.Run("VerifyConsistency "+tc.name, func(t *testing.T) {
			err := merkle.VerifyConsistency(tc.size1, tc.size2, tc.proof, tc.root1, tc.root2)
			checkVerdict(t, err, tc.accept)
		})
	}

	t.Run("no inclusion proof in the empty tree", func(t *testing.T) {
		if p, err := merkle.Inclusion(t.Context(), fx.store, 0, 0); err == nil {
			t.Errorf("Inclusion(0, 0) = %x, want an error", p)
		}
		err := merkle.VerifyInclusion(0, 0, fx.hashes[0], nil, empty)
		checkVerdict(t, err, false)
	})
	t.Run("no inclusion proof past the last leaf", func(t *testing.T) {
		for _, tc := range []struct{ index, size uint64 }{{5, 5}, {6, 5}, {^uint64(0), 5}} {
			if p, err := merkle.Inclusion(t.Context(), fx.store, tc.index, tc.size); err == nil {
				t.Errorf("Inclusion(%d, %d) = %x, want an error", tc.index, tc.size, p)
			}
		}
	})
	t.Run("no consistency proof to a smaller tree", func(t *testing.T) {
		if p, err := merkle.Consistency(t.Context(), fx.store, 6, 5); err == nil {
			t.Errorf("Consistency(6, 5) = %x, want an error", p)
		}
	})
	t.Run("single leaf tree: root is the leaf hash, proof is empty", func(t *testing.T) {
		p, err := merkle.Inclusion(t.Context(), fx.store, 0, 1)
		if err != nil || len(p) != 0 {
			t.Fatalf("Inclusion(0, 1) = %x, %v; want no hashes", p, err)
		}
		if !bytes.Equal(fx.root(1), fx.hashes[0]) {
			t.Fatalf("root of 1 leaf %x is not its leaf hash %x", fx.root(1), fx.hashes[0])
		}
		checkVerdict(t, merkle.VerifyInclusion(0, 1, fx.hashes[0], nil, fx.hashes[0]), true)
	})
	t.Run("overlong proof", func(t *testing.T) {
		long := make([][]byte, merkle.MaxProofLen+1)
		for i := range long {
			long[i] = empty
		}
		checkVerdict(t, merkle.VerifyInclusion(0, 5, fx.hashes[0], long, root5), false)
		checkVerdict(t, merkle.VerifyConsistency(1, 5, long, fx.root(1), root5), false)
	})
}

// checkVerdict fails unless err accepts (nil) or rejects (wrapping
// ErrInvalidProof) as wanted.
func checkVerdict(t *testing.T, err error, accept bool) {
	t.Helper()
	switch {
	case accept && err != nil:
		t.Errorf("rejected: %v", err)
	case !accept && err == nil:
		t.Error("accepted")
	case !accept && !errors.Is(err, merkle.ErrInvalidProof):
		t.Errorf("rejected with %v, which does not wrap ErrInvalidProof", err)
	}
}

// TestProofsAreFresh checks that proofs and roots belong to the caller:
// writing over them leaves the store's hashes and later answers unchanged.
func TestProofsAreFresh(t *testing.T) {
	store := merkle.NewMemStore()
	for i := range 8 {
		store.AppendLeaf([]byte{byte(i)})
	}
	want := func(f func() ([][]byte, error)) [][]byte {
		t.Helper()
		p, err := f()
		if err != nil {
			t.Fatal(err)
		}
		var cp [][]byte
		for _, h := range p {
			cp = append(cp, bytes.Clone(h))
		}
		return cp
	}
	scribble := func(hs ...[]byte) {
		for _, h := range hs {
			for i := range h {
				h[i] = 0xee
			}
		}
	}
	for _, tc := range []struct {
		name string
		get  func() ([][]byte, error)
	}{
		{"Inclusion", func() ([][]byte, error) { return merkle.Inclusion(t.Context(), store, 3, 8) }},
		{"Consistency", func() ([][]byte, error) { return merkle.Consistency(t.Context(), store, 3, 8) }},
		{"Root", func() ([][]byte, error) {
			r, err := merkle.Root(t.Context(), store, 8)
			return [][]byte{r}, err
		}},
		{"Root of one leaf", func() ([][]byte, error) {
			r, err := merkle.Root(t.Context(), store, 1)
			return [][]byte{r}, err
		}},
		{"MemStore.Root", func() ([][]byte, error) { return [][]byte{store.Root()}, nil }},
		{"ReadHashes", func() ([][]byte, error) { return store.ReadHashes(t.Context(), nodeIDs(8)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := want(tc.get)
			p, _ := tc.get()
			scribble(p...)
			if after := want(tc.get); !equalHashes(after, before) {
				t.Errorf("after writing over a result, %s = %x, was %x", tc.name, after, before)
			}
		})
	}
	t.Run("leaf hash given to AppendLeafHash", func(t *testing.T) {
		s := merkle.NewMemStore()
		h := merkle.LeafHash([]byte("entry"))
		if _, err := s.AppendLeafHash(h); err != nil {
			t.Fatal(err)
		}
		want := bytes.Clone(h)
		scribble(h)
		if got := s.Root(); !bytes.Equal(got, want) {
			t.Errorf("after the caller reused its buffer, root = %x, want %x", got, want)
		}
		p, err := s.ReadHashes(t.Context(), nodeIDs(1))
		if err != nil || !bytes.Equal(p[0], want) {
			t.Errorf("after the caller reused its buffer, stored leaf = %x, %v; want %x", p, err, want)
		}
	})
}
