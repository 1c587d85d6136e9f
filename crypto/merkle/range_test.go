package merkle_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/transparency-dev/merkle/compact"

	"github.com/courtledger/courtledger/crypto/merkle"
)

// nodeIDs returns the IDs of the perfect subtrees that make up the first n
// leaves, the nodes LoadRange and Root read.
func nodeIDs(n uint64) []compact.NodeID { return compact.RangeNodes(0, n, nil) }

// TestLoadRange checks that the range loaded from storage at every size
// 0..300 has the root the live range had at that size, and that appending the
// remaining leaves to it gives the same tree as the live range: the same
// roots and the same stored hashes.
func TestLoadRange(t *testing.T) {
	fx := sharedFixture()
	for size := uint64(0); size <= fixtureSize; size++ {
		rng, err := merkle.LoadRange(t.Context(), fx.store, size)
		if err != nil {
			t.Fatalf("LoadRange(%d): %v", size, err)
		}
		if rng.Size() != size {
			t.Fatalf("LoadRange(%d).Size() = %d", size, rng.Size())
		}
		if got := rng.Root(); !bytes.Equal(got, fx.heads[size]) {
			t.Fatalf("LoadRange(%d).Root() = %x, live root at %d = %x", size, got, size, fx.heads[size])
		}
		if size%37 != 0 && size != fixtureSize-1 {
			continue // resuming from every size would be quadratic; a spread suffices
		}
		for i := size; i < fixtureSize; i++ {
			err := rng.Append(fx.hashes[i], func(id compact.NodeID, h []byte) {
				stored, err := fx.store.ReadHashes(t.Context(), []compact.NodeID{id})
				if err != nil || !bytes.Equal(stored[0], h) {
					t.Fatalf("resumed at %d, leaf %d visits node %+v = %x; store has %x, %v", size, i, id, h, stored, err)
				}
			})
			if err != nil {
				t.Fatalf("resumed at %d, Append(leaf %d): %v", size, i, err)
			}
			if got := rng.Root(); !bytes.Equal(got, fx.heads[i+1]) {
				t.Fatalf("resumed at %d, root after leaf %d = %x, live root = %x", size, i, got, fx.heads[i+1])
			}
		}
	}
}

// TestAppendVisits checks what Append reports: the leaf first, then exactly
// the perfect subtrees the leaf completes, bottom up, each with the reference
// hash of the leaves it covers. These are the hashes a ledger must store.
func TestAppendVisits(t *testing.T) {
	fx := sharedFixture()
	rng := merkle.NewRange()
	for i := range uint64(fixtureSize) {
		var got []compact.NodeID
		err := rng.Append(fx.hashes[i], func(id compact.NodeID, h []byte) {
			got = append(got, id)
			w := uint64(1) << id.Level
			if want := fx.ref.mth(fx.leaves[id.Index*w : (id.Index+1)*w]); !bytes.Equal(h, want) {
				t.Errorf("leaf %d: node %+v = %x, reference MTH = %x", i, id, h, want)
			}
		})
		if err != nil {
			t.Fatalf("Append(leaf %d): %v", i, err)
		}
		want := []compact.NodeID{compact.NewNodeID(0, i)}
		for level := uint(1); (i+1)%(1<<level) == 0; level++ {
			want = append(want, compact.NewNodeID(level, i>>level))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("leaf %d visits %+v, want %+v", i, got, want)
		}
	}
}

// TestClone checks that a clone and its original grow independently.
func TestClone(t *testing.T) {
	fx := sharedFixture()
	for _, size := range []uint64{0, 1, 2, 7, 8, 100} {
		orig, err := merkle.LoadRange(t.Context(), fx.store, size)
		if err != nil {
			t.Fatal(err)
		}
		clone := orig.Clone()
		if clone.Size() != size || !bytes.Equal(clone.Root(), fx.heads[size]) {
			t.Fatalf("clone of size %d: size %d root %x, want root %x", size, clone.Size(), clone.Root(), fx.heads[size])
		}

		// Grow the clone by three leaves; the original stays as it was.
		for i := size; i < size+3; i++ {
			if err := clone.Append(fx.hashes[i], nil); err != nil {
				t.Fatal(err)
			}
		}
		if orig.Size() != size || !bytes.Equal(orig.Root(), fx.heads[size]) {
			t.Errorf("size %d: after appending to the clone, original has size %d root %x", size, orig.Size(), orig.Root())
		}
		if clone.Size() != size+3 || !bytes.Equal(clone.Root(), fx.heads[size+3]) {
			t.Errorf("size %d: clone after 3 appends has size %d root %x, want root %x", size, clone.Size(), clone.Root(), fx.heads[size+3])
		}

		// Grow the original by one different leaf; the clone stays as it was.
		if err := orig.Append(merkle.LeafHash([]byte("a different entry")), nil); err != nil {
			t.Fatal(err)
		}
		if clone.Size() != size+3 || !bytes.Equal(clone.Root(), fx.heads[size+3]) {
			t.Errorf("size %d: after appending to the original, clone has size %d root %x", size, clone.Size(), clone.Root())
		}
		if bytes.Equal(orig.Root(), fx.heads[size+1]) {
			t.Errorf("size %d: original with a different leaf has the fixture's root", size)
		}
	}
}

// TestAppendWrongLength checks that a leaf hash of the wrong length is
// refused and changes nothing: not the range, not the store, no visits.
func TestAppendWrongLength(t *testing.T) {
	fx := sharedFixture()
	good := fx.hashes[5]
	for _, tc := range []struct {
		name string
		hash []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"one byte short", good[:merkle.HashSize-1]},
		{"one byte long", append(bytes.Clone(good), 0)},
		{"leaf data, not its hash", []byte("evidence entry 5")},
		{"SHA-512 sized", make([]byte, 64)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng, err := merkle.LoadRange(t.Context(), fx.store, 5)
			if err != nil {
				t.Fatal(err)
			}
			visits := 0
			if err := rng.Append(tc.hash, func(compact.NodeID, []byte) { visits++ }); err == nil {
				t.Errorf("Range.Append(%d bytes) succeeded", len(tc.hash))
			}
			if rng.Size() != 5 || !bytes.Equal(rng.Root(), fx.heads[5]) || visits != 0 {
				t.Errorf("after a refused append: size %d, root %x, %d visits; want 5, %x, 0", rng.Size(), rng.Root(), visits, fx.heads[5])
			}
			// The range still works.
			if err := rng.Append(good, nil); err != nil || !bytes.Equal(rng.Root(), fx.heads[6]) {
				t.Errorf("append after a refused one: %v, root %x, want %x", err, rng.Root(), fx.heads[6])
			}

			store := merkle.NewMemStore()
			store.AppendLeaf(nil)
			root := store.Root()
			if _, err := store.AppendLeafHash(tc.hash); err == nil {
				t.Errorf("MemStore.AppendLeafHash(%d bytes) succeeded", len(tc.hash))
			}
			if store.Size() != 1 || !bytes.Equal(store.Root(), root) {
				t.Errorf("after a refused append: store size %d root %x, want 1, %x", store.Size(), store.Root(), root)
			}
			if _, err := store.ReadHashes(t.Context(), []compact.NodeID{compact.NewNodeID(0, 1)}); !errors.Is(err, merkle.ErrMissingHash) {
				t.Errorf("a refused leaf was stored: ReadHashes(leaf 1) error %v", err)
			}
		})
	}
}

// TestAppendLeafIndex checks that MemStore numbers leaves from 0.
func TestAppendLeafIndex(t *testing.T) {
	s := merkle.NewMemStore()
	for want := range uint64(5) {
		if got := s.AppendLeaf([]byte{byte(want)}); got != want {
			t.Fatalf("AppendLeaf returned index %d, want %d", got, want)
		}
	}
	if got, err := s.AppendLeafHash(merkle.LeafHash(nil)); err != nil || got != 5 {
		t.Fatalf("AppendLeafHash returned %d, %v; want 5", got, err)
	}
	if s.Size() != 6 {
		t.Fatalf("Size() = %d, want 6", s.Size())
	}
}

// TestMissingHashes checks that asking a store for more than it holds gives
// ErrMissingHash from everything that reads it.
func TestMissingHashes(t *testing.T) {
	ten := merkle.NewMemStore()
	for i := range 10 {
		ten.AppendLeaf([]byte{byte(i)})
	}
	empty := merkle.NewMemStore()
	for _, tc := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Root(11) of 10", func(ctx context.Context) error { _, err := merkle.Root(ctx, ten, 11); return err }},
		{"Root(1) of empty", func(ctx context.Context) error { _, err := merkle.Root(ctx, empty, 1); return err }},
		{"LoadRange(16) of 10", func(ctx context.Context) error { _, err := merkle.LoadRange(ctx, ten, 16); return err }},
		{"Inclusion(0, 11) of 10", func(ctx context.Context) error { _, err := merkle.Inclusion(ctx, ten, 0, 11); return err }},
		{"Inclusion(10, 12) of 10", func(ctx context.Context) error { _, err := merkle.Inclusion(ctx, ten, 10, 12); return err }},
		{"Inclusion(0, 2) of empty", func(ctx context.Context) error { _, err := merkle.Inclusion(ctx, empty, 0, 2); return err }},
		{"Consistency(5, 12) of 10", func(ctx context.Context) error { _, err := merkle.Consistency(ctx, ten, 5, 12); return err }},
		{"Consistency(10, 11) of 10", func(ctx context.Context) error { _, err := merkle.Consistency(ctx, ten, 10, 11); return err }},
		{"ReadHashes of a node not yet complete", func(ctx context.Context) error {
			_, err := ten.ReadHashes(ctx, []compact.NodeID{compact.NewNodeID(2, 2)})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(t.Context()); !errors.Is(err, merkle.ErrMissingHash) {
				t.Errorf("error %v, want ErrMissingHash", err)
			}
		})
	}
}

// faultyReader wraps a store and damages its answers.
type faultyReader struct {
	store  merkle.HashReader
	damage func([][]byte) ([][]byte, error)
}

func (f faultyReader) ReadHashes(ctx context.Context, ids []compact.NodeID) ([][]byte, error) {
	hs, err := f.store.ReadHashes(ctx, ids)
	if err != nil {
		return nil, err
	}
	var cp [][]byte
	for _, h := range hs {
		cp = append(cp, bytes.Clone(h))
	}
	return f.damage(cp)
}

var errDisk = errors.New("disk on fire")

// TestFaultyReader checks that a HashReader answering with the wrong number
// of hashes, or a hash of the wrong length, is caught (ErrMissingHash) by
// every reader of it, and that its own errors come through.
func TestFaultyReader(t *testing.T) {
	fx := sharedFixture()
	for _, tc := range []struct {
		name   string
		damage func([][]byte) ([][]byte, error)
		want   error
	}{
		{"one hash too few", func(h [][]byte) ([][]byte, error) { return h[:len(h)-1], nil }, merkle.ErrMissingHash},
		{"one hash too many", func(h [][]byte) ([][]byte, error) { return append(h, h[0]), nil }, merkle.ErrMissingHash},
		{"no hashes", func([][]byte) ([][]byte, error) { return nil, nil }, merkle.ErrMissingHash},
		{"last hash short", func(h [][]byte) ([][]byte, error) {
			h[len(h)-1] = h[len(h)-1][:merkle.HashSize-1]
			return h, nil
		}, merkle.ErrMissingHash},
		{"first hash long", func(h [][]byte) ([][]byte, error) { h[0] = append(h[0], 0); return h, nil }, merkle.ErrMissingHash},
		{"first hash nil", func(h [][]byte) ([][]byte, error) { h[0] = nil; return h, nil }, merkle.ErrMissingHash},
		{"reader error", func([][]byte) ([][]byte, error) { return nil, errDisk }, errDisk},
	} {
		r := faultyReader{fx.store, tc.damage}
		// Each call reads at least two nodes, so every damage applies.
		for _, c := range []struct {
			name string
			call func(ctx context.Context) error
		}{
			{"Root(7)", func(ctx context.Context) error { _, err := merkle.Root(ctx, r, 7); return err }},
			{"LoadRange(100)", func(ctx context.Context) error { _, err := merkle.LoadRange(ctx, r, 100); return err }},
			{"Inclusion(3, 100)", func(ctx context.Context) error { _, err := merkle.Inclusion(ctx, r, 3, 100); return err }},
			{"Consistency(5, 100)", func(ctx context.Context) error { _, err := merkle.Consistency(ctx, r, 5, 100); return err }},
		} {
			t.Run(tc.name+"/"+c.name, func(t *testing.T) {
				if err := c.call(t.Context()); !errors.Is(err, tc.want) {
					t.Errorf("error %v, want %v", err, tc.want)
				}
			})
		}
	}
}
