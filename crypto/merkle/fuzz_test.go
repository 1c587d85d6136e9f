package merkle_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sync"
	"testing"

	"github.com/courtledger/courtledger/crypto/merkle"
)

// fuzzTreeSize is the size of the known tree the verifier fuzz targets claim
// things about: not a power of two, so proofs have both inner and border
// steps.
const fuzzTreeSize = 37

type fuzzTree struct {
	store  *merkle.MemStore
	hashes [][]byte // leaf hashes
	roots  [][]byte // roots[n]: root of the first n leaves, n = 0..fuzzTreeSize
}

var sharedFuzzTree = sync.OnceValue(func() *fuzzTree {
	ft := &fuzzTree{store: merkle.NewMemStore()}
	ft.roots = append(ft.roots, ft.store.Root())
	for i := range fuzzTreeSize {
		data := []byte{byte(i), 'e', 'n', 't', 'r', 'y'}
		ft.store.AppendLeaf(data)
		ft.hashes = append(ft.hashes, merkle.LeafHash(data))
		ft.roots = append(ft.roots, ft.store.Root())
	}
	return ft
})

// clampSize maps a fuzzed size to a size of the known tree: itself if the
// tree has that many leaves, else all of them.
func clampSize(n uint64) uint64 { return min(n, fuzzTreeSize) }

// chunks splits fuzzed bytes into proof hashes of HashSize bytes; a shorter
// tail becomes a short hash, which must be rejected.
func chunks(b []byte) [][]byte {
	var p [][]byte
	for len(b) > 0 {
		n := min(len(b), merkle.HashSize)
		p = append(p, b[:n])
		b = b[n:]
	}
	return p
}

func concat(p [][]byte) []byte { return bytes.Join(p, nil) }

func mustInclusion(t testing.TB, r merkle.HashReader, index, size uint64) [][]byte {
	t.Helper()
	p, err := merkle.Inclusion(t.Context(), r, index, size)
	if err != nil {
		t.Fatalf("Inclusion(%d, %d): %v", index, size, err)
	}
	return p
}

func mustConsistency(t testing.TB, r merkle.HashReader, size1, size2 uint64) [][]byte {
	t.Helper()
	p, err := merkle.Consistency(t.Context(), r, size1, size2)
	if err != nil {
		t.Fatalf("Consistency(%d, %d): %v", size1, size2, err)
	}
	return p
}

// FuzzVerifyInclusion claims that leaf index is in the known tree of size
// leaves (its real root; for sizes the tree does not have, the root of all
// 37) by fuzzed proof bytes. The verifier must not panic, must reject with
// ErrInvalidProof, and must accept exactly the real proof of that leaf in the
// tree whose root it was given, under a size that takes the same steps (see
// "What a verifier can and cannot tell apart" in reference_test.go).
func FuzzVerifyInclusion(f *testing.F) {
	ft := sharedFuzzTree()
	for _, s := range []struct{ index, size uint64 }{
		{0, 1}, {0, 2}, {1, 2}, {5, 8}, {0, fuzzTreeSize}, {17, fuzzTreeSize}, {36, fuzzTreeSize}, {1, 7}, {35, 36},
	} {
		f.Add(s.index, s.size, concat(mustInclusion(f, ft.store, s.index, s.size)))
	}
	f.Add(uint64(1), uint64(6), concat(mustInclusion(f, ft.store, 1, 7))) // accepted: same steps
	f.Add(uint64(36), uint64(64), concat(mustInclusion(f, ft.store, 36, fuzzTreeSize)))
	f.Add(uint64(3), uint64(1)<<63, concat(mustInclusion(f, ft.store, 3, fuzzTreeSize)))
	f.Add(uint64(0), uint64(0), []byte{})
	f.Add(^uint64(0), ^uint64(0), make([]byte, 64*merkle.HashSize))

	f.Fuzz(func(t *testing.T, index, size uint64, proofBytes []byte) {
		p := chunks(proofBytes)
		treeSize := clampSize(size)
		leaf := merkle.LeafHash(binary.BigEndian.AppendUint64(nil, index))
		if index < fuzzTreeSize {
			leaf = ft.hashes[index]
		}
		err := merkle.VerifyInclusion(index, size, leaf, p, ft.roots[treeSize])
		if err != nil && !errors.Is(err, merkle.ErrInvalidProof) {
			t.Fatalf("VerifyInclusion(%d, %d): %v does not wrap ErrInvalidProof", index, size, err)
		}
		want := false
		if index < treeSize {
			steps, ok := pathShape(index, size)
			treeSteps, _ := pathShape(index, treeSize)
			want = ok && steps == treeSteps && equalHashes(p, mustInclusion(t, ft.store, index, treeSize))
		}
		if got := err == nil; got != want {
			t.Fatalf("VerifyInclusion(%d, %d, proof %x) accepted = %v, want %v (%v)", index, size, p, got, want, err)
		}
	})
}

// FuzzVerifyConsistency claims that the known tree of size2 leaves extends
// that of size1 leaves (real roots; for sizes the tree does not have, the
// root of all 37) by fuzzed proof bytes. The verifier must not panic, must
// reject with ErrInvalidProof, and must accept exactly the real proof between
// the trees whose roots it was given, under sizes that take the same steps.
func FuzzVerifyConsistency(f *testing.F) {
	ft := sharedFuzzTree()
	for _, s := range []struct{ size1, size2 uint64 }{
		{1, 1}, {1, 2}, {2, 5}, {6, 8}, {3, fuzzTreeSize}, {32, fuzzTreeSize}, {36, fuzzTreeSize}, {fuzzTreeSize, fuzzTreeSize}, {4, 5},
	} {
		f.Add(s.size1, s.size2, concat(mustConsistency(f, ft.store, s.size1, s.size2)))
	}
	f.Add(uint64(4), uint64(7), concat(mustConsistency(f, ft.store, 4, 5))) // accepted: same steps
	f.Add(uint64(0), uint64(5), []byte{})
	f.Add(uint64(0), uint64(0), []byte{})
	f.Add(uint64(5), uint64(3), concat(mustConsistency(f, ft.store, 3, 5)))
	f.Add(uint64(36), uint64(1)<<40, concat(mustConsistency(f, ft.store, 36, fuzzTreeSize)))

	f.Fuzz(func(t *testing.T, size1, size2 uint64, proofBytes []byte) {
		p := chunks(proofBytes)
		a, b := clampSize(size1), clampSize(size2)
		err := merkle.VerifyConsistency(size1, size2, p, ft.roots[a], ft.roots[b])
		if err != nil && !errors.Is(err, merkle.ErrInvalidProof) {
			t.Fatalf("VerifyConsistency(%d, %d): %v does not wrap ErrInvalidProof", size1, size2, err)
		}
		steps, ok := proofShape(size1, size2)
		var want bool
		switch {
		case !ok:
			want = false
		case steps == "=" || steps == "0":
			// Equal sizes give equal roots here, and size1 0 gives the
			// empty root: both need exactly the empty proof.
			want = len(p) == 0
		default:
			treeSteps, _ := proofShape(a, b)
			want = steps == treeSteps && equalHashes(p, mustConsistency(t, ft.store, a, b))
		}
		if got := err == nil; got != want {
			t.Fatalf("VerifyConsistency(%d, %d, proof %x) accepted = %v, want %v (%v)", size1, size2, p, got, want, err)
		}
	})
}

// FuzzRange builds a tree of fuzzed leaves (data split at zero bytes, at
// most 300) and checks, at a fuzzed size k, that the range loaded from the
// store, Root, RootOf and the reference all agree; that the loaded range and
// a clone of it, grown by the remaining leaves, reach the whole tree's root
// while the original stays at k; and that proofs at k verify.
func FuzzRange(f *testing.F) {
	f.Add([]byte{}, uint16(0))
	f.Add([]byte("a\x00b\x00c"), uint16(2))
	f.Add(bytes.Repeat([]byte{0}, 36), uint16(20))
	f.Add(bytes.Repeat([]byte{'x', 0}, 128), uint16(64))
	f.Add(bytes.Repeat([]byte{0}, 299), uint16(299))

	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		var leaves [][]byte
		if len(data) > 0 {
			leaves = bytes.Split(data, []byte{0})
		}
		if len(leaves) > fixtureSize {
			leaves = leaves[:fixtureSize]
		}
		n := uint64(len(leaves))
		k := uint64(cut) % (n + 1)

		store := merkle.NewMemStore()
		for _, l := range leaves {
			store.AppendLeaf(l)
		}
		ref := newRefTree(sm3Hash)
		if got, want := store.Root(), ref.mth(leaves); !bytes.Equal(got, want) {
			t.Fatalf("root of %d leaves = %x, reference = %x", n, got, want)
		}
		want := ref.mth(leaves[:k])
		if got := merkle.RootOf(leaves[:k]); !bytes.Equal(got, want) {
			t.Fatalf("RootOf(%d leaves) = %x, reference = %x", k, got, want)
		}
		if got, err := merkle.Root(t.Context(), store, k); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Root(%d) = %x, %v; reference = %x", k, got, err, want)
		}
		rng, err := merkle.LoadRange(t.Context(), store, k)
		if err != nil {
			t.Fatalf("LoadRange(%d): %v", k, err)
		}
		if got := rng.Root(); !bytes.Equal(got, want) {
			t.Fatalf("LoadRange(%d).Root() = %x, reference = %x", k, got, want)
		}
		clone := rng.Clone()
		for _, l := range leaves[k:] {
			if err := clone.Append(merkle.LeafHash(l), nil); err != nil {
				t.Fatal(err)
			}
		}
		if rng.Size() != k || !bytes.Equal(rng.Root(), want) {
			t.Fatalf("range loaded at %d changed when its clone grew: size %d root %x", k, rng.Size(), rng.Root())
		}
		for _, l := range leaves[k:] {
			if err := rng.Append(merkle.LeafHash(l), nil); err != nil {
				t.Fatal(err)
			}
		}
		for name, r := range map[string]*merkle.Range{"loaded": rng, "clone": clone} {
			if r.Size() != n || !bytes.Equal(r.Root(), store.Root()) {
				t.Fatalf("%s range grown from %d to %d: size %d root %x, want %x", name, k, n, r.Size(), r.Root(), store.Root())
			}
		}
		if k > 0 {
			root := store.Root()
			if err := merkle.VerifyInclusion(k-1, n, merkle.LeafHash(leaves[k-1]), mustInclusion(t, store, k-1, n), root); err != nil {
				t.Fatalf("VerifyInclusion(%d, %d): %v", k-1, n, err)
			}
			if err := merkle.VerifyConsistency(k, n, mustConsistency(t, store, k, n), want, root); err != nil {
				t.Fatalf("VerifyConsistency(%d, %d): %v", k, n, err)
			}
		}
	})
}
