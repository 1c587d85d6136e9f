// Package merkle is the court ledger's append-only Merkle log: the tree of
// RFC 6962 / RFC 9162 §2.1 with SM3 (GB/T 32905, GM/T 0004) as its hash.
//
//	leaf hash     = SM3(0x00 || entry bytes)
//	interior node = SM3(0x01 || left || right)
//	empty tree    = SM3("")
//
// The tree math is github.com/transparency-dev/merkle's: Hasher satisfies
// its LogHasher, so compact ranges, proof node selection and proof
// verification run unchanged with SM3. What this package adds is the seam to
// storage. A ledger stores the hash of every perfect subtree, numbered by
// compact.NodeID{Level, Index} (level 0 holds leaf hashes); an inclusion or
// consistency proof then needs O(log n) of them, which a HashReader fetches.
// Nothing here does I/O or keeps the tree in memory.
package merkle

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/emmansun/gmsm/sm3"
	tdmerkle "github.com/transparency-dev/merkle"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
)

// HashSize is the size of every hash in the tree, in bytes.
const HashSize = sm3.Size

// MaxProofLen bounds the number of hashes in any proof of a tree of at most
// 2^64-1 leaves; longer input is rejected before any hashing.
const MaxProofLen = 2 * 64

// Errors callers can act on with errors.Is.
var (
	// ErrInvalidProof is wrapped by every proof verification failure:
	// wrong root, wrong length, malformed hash, index out of range.
	ErrInvalidProof = errors.New("merkle: invalid proof")
	// ErrMissingHash means a HashReader could not supply a node the proof
	// needs: the store is behind the requested tree size, or corrupt.
	ErrMissingHash = errors.New("merkle: node hash missing from store")
)

// Hasher is the SM3 tree hasher. It satisfies merkle.LogHasher, so it plugs
// into every function of github.com/transparency-dev/merkle.
var Hasher tdmerkle.LogHasher = sm3Hasher{}

type sm3Hasher struct{}

var emptyRoot = func() []byte { h := sm3.Sum(nil); return h[:] }()

func (sm3Hasher) EmptyRoot() []byte { return bytes.Clone(emptyRoot) }
func (sm3Hasher) Size() int         { return HashSize }

func (sm3Hasher) HashLeaf(leaf []byte) []byte {
	h := sm3.New()
	h.Write([]byte{0x00})
	h.Write(leaf)
	return h.Sum(nil)
}

func (sm3Hasher) HashChildren(l, r []byte) []byte {
	h := sm3.New()
	h.Write([]byte{0x01})
	h.Write(l)
	h.Write(r)
	return h.Sum(nil)
}

// LeafHash returns SM3(0x00 || data).
func LeafHash(data []byte) []byte { return Hasher.HashLeaf(data) }

// NodeHash returns SM3(0x01 || left || right).
func NodeHash(left, right []byte) []byte { return Hasher.HashChildren(left, right) }

// EmptyRoot returns the root of the tree with no leaves, SM3 of nothing.
func EmptyRoot() []byte { return Hasher.EmptyRoot() }

var factory = &compact.RangeFactory{Hash: NodeHash}

// HashReader returns the stored hashes of perfect subtrees, one per ID and in
// the order asked. It is the only thing a proof needs from storage. The
// returned slices become the caller's: LoadRange keeps them and proofs hand
// them on, so a reader returns copies, never buffers it reuses or memory
// owned by a database transaction.
type HashReader interface {
	ReadHashes(ctx context.Context, ids []compact.NodeID) ([][]byte, error)
}

func read(ctx context.Context, r HashReader, ids []compact.NodeID) ([][]byte, error) {
	hashes, err := r.ReadHashes(ctx, ids)
	if err != nil {
		return nil, err
	}
	if len(hashes) != len(ids) {
		return nil, fmt.Errorf("%w: asked for %d hashes, got %d", ErrMissingHash, len(ids), len(hashes))
	}
	for i, h := range hashes {
		if len(h) != HashSize {
			return nil, fmt.Errorf("%w: node (level %d, index %d) has %d bytes",
				ErrMissingHash, ids[i].Level, ids[i].Index, len(h))
		}
	}
	return hashes, nil
}

// Inclusion returns the inclusion proof of leaf index in the tree of size
// leaves (RFC 9162 §2.1.3), reading O(log size) hashes from r.
func Inclusion(ctx context.Context, r HashReader, index, size uint64) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof: %w", err)
	}
	return fetch(ctx, r, nodes)
}

// Consistency returns the consistency proof between the trees of size1 and
// size2 leaves (RFC 9162 §2.1.4), reading O(log size2) hashes from r.
func Consistency(ctx context.Context, r HashReader, size1, size2 uint64) ([][]byte, error) {
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("consistency proof: %w", err)
	}
	return fetch(ctx, r, nodes)
}

func fetch(ctx context.Context, r HashReader, nodes proof.Nodes) ([][]byte, error) {
	hashes, err := read(ctx, r, nodes.IDs)
	if err != nil {
		return nil, err
	}
	p, err := nodes.Rehash(hashes, NodeHash)
	if err != nil {
		return nil, fmt.Errorf("rehash proof: %w", err)
	}
	return p, nil
}

// Root returns the root of the first size leaves, from the O(log size)
// perfect subtrees that cover them. It is how a ledger recomputes an old
// root without keeping every head.
func Root(ctx context.Context, r HashReader, size uint64) ([]byte, error) {
	rng, err := LoadRange(ctx, r, size)
	if err != nil {
		return nil, err
	}
	return rng.Root(), nil
}

// VerifyInclusion checks that leafHash is leaf index of the tree of size
// leaves with the given root. Every failure wraps ErrInvalidProof.
//
// The proof binds the leaf to the root, not to the size: a proof can also pass
// for another size whose proofs take the same steps (leaf 1 of 7 leaves and
// leaf 1 of 6 do). Take size and root together from a signed tree head.
func VerifyInclusion(index, size uint64, leafHash []byte, p [][]byte, root []byte) error {
	if err := checkHashes(p, leafHash, root); err != nil {
		return err
	}
	if err := proof.VerifyInclusion(Hasher, index, size, leafHash, p, root); err != nil {
		return proofErr(err)
	}
	return nil
}

// VerifyConsistency checks that the tree of size2 leaves with root2 extends
// the tree of size1 leaves with root1. Every failure wraps ErrInvalidProof.
//
// Every tree extends the empty tree: for size1 0 the proof is empty, root1
// must be EmptyRoot and root2 is not checked. As with VerifyInclusion, the
// sizes must come with their roots from signed tree heads.
func VerifyConsistency(size1, size2 uint64, p [][]byte, root1, root2 []byte) error {
	if err := checkHashes(p, root1, root2); err != nil {
		return err
	}
	// proof.VerifyConsistency accepts any root1 for size1 0; the empty tree
	// has exactly one root.
	if size1 == 0 && !bytes.Equal(root1, emptyRoot) {
		return fmt.Errorf("%w: root1 %x of the empty tree, want %x", ErrInvalidProof, root1, emptyRoot)
	}
	if err := proof.VerifyConsistency(Hasher, size1, size2, p, root1, root2); err != nil {
		return proofErr(err)
	}
	return nil
}

// proofErr wraps a verification failure in ErrInvalidProof, printing roots
// in hex rather than the library's byte lists.
func proofErr(err error) error {
	var rm proof.RootMismatchError
	if errors.As(err, &rm) {
		return fmt.Errorf("%w: computed root %x, want %x", ErrInvalidProof, rm.CalculatedRoot, rm.ExpectedRoot)
	}
	return fmt.Errorf("%w: %w", ErrInvalidProof, err)
}

func checkHashes(p [][]byte, hashes ...[]byte) error {
	if len(p) > MaxProofLen {
		return fmt.Errorf("%w: %d hashes, at most %d", ErrInvalidProof, len(p), MaxProofLen)
	}
	for _, h := range hashes {
		if len(h) != HashSize {
			return fmt.Errorf("%w: hash of %d bytes, want %d", ErrInvalidProof, len(h), HashSize)
		}
	}
	for i, h := range p {
		if len(h) != HashSize {
			return fmt.Errorf("%w: proof hash %d has %d bytes, want %d", ErrInvalidProof, i, len(h), HashSize)
		}
	}
	return nil
}

// RootOf returns the root of the tree whose leaves are the given entries
// (leaf data, not leaf hashes). It holds O(log n) hashes, not the tree.
func RootOf(leaves [][]byte) []byte {
	rng := NewRange()
	for _, l := range leaves {
		_ = rng.Append(LeafHash(l), nil) // LeafHash is always HashSize bytes
	}
	return rng.Root()
}
