package merkle

import (
	"bytes"
	"context"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
)

// Range is the right edge of a growing tree: the O(log n) perfect subtree
// hashes that are enough to append leaves and compute the root. A ledger keeps
// one in memory and persists what Append reports to its visitor.
type Range struct{ r *compact.Range }

// NewRange returns the range of the empty tree.
func NewRange() *Range { return &Range{r: factory.NewEmptyRange(0)} }

// LoadRange rebuilds the range of the first size leaves from storage,
// reading O(log size) hashes.
func LoadRange(ctx context.Context, r HashReader, size uint64) (*Range, error) {
	ids := compact.RangeNodes(0, size, nil)
	hashes, err := read(ctx, r, ids)
	if err != nil {
		return nil, fmt.Errorf("load range of size %d: %w", size, err)
	}
	rng, err := factory.NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("load range of size %d: %w", size, err)
	}
	return &Range{r: rng}, nil
}

// Size returns the number of leaves.
func (r *Range) Size() uint64 { return r.r.End() }

// Append adds a leaf hash. visit, if not nil, is called with the ID and hash
// of every perfect subtree the leaf completes, the leaf itself first: those
// are exactly the hashes a ledger must store for proofs.
func (r *Range) Append(leafHash []byte, visit func(id compact.NodeID, hash []byte)) error {
	if len(leafHash) != HashSize {
		return fmt.Errorf("merkle: leaf hash of %d bytes, want %d", len(leafHash), HashSize)
	}
	// The range keeps the hash and hands it to visit: take a copy, so the
	// caller may reuse its buffer.
	if err := r.r.Append(bytes.Clone(leafHash), visit); err != nil {
		return fmt.Errorf("merkle: append leaf %d: %w", r.r.End(), err)
	}
	return nil
}

// Root returns the tree's root; for the empty tree, EmptyRoot.
func (r *Range) Root() []byte {
	root, err := r.r.GetRootHash(nil)
	if err != nil {
		panic("merkle: " + err.Error()) // only for ranges not starting at 0
	}
	if root == nil {
		return EmptyRoot()
	}
	// For a perfect tree, root is the range's own stored hash.
	return bytes.Clone(root)
}

// Clone returns an independent copy, so a leader can build a batch's tree
// speculatively and drop it if the batch fails.
func (r *Range) Clone() *Range {
	hashes := r.r.Hashes()
	cp := make([][]byte, len(hashes))
	copy(cp, hashes)
	rng, err := factory.NewRange(0, r.r.End(), cp)
	if err != nil {
		panic("merkle: " + err.Error())
	}
	return &Range{r: rng}
}
