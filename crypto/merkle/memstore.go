package merkle

import (
	"bytes"
	"context"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
)

// MemStore keeps node hashes in a map. It is for tests, tools and small
// offline trees; the court ledger stores them in bbolt.
type MemStore struct {
	nodes map[compact.NodeID][]byte
	rng   *Range
}

// NewMemStore returns an empty tree held in memory.
func NewMemStore() *MemStore {
	return &MemStore{nodes: make(map[compact.NodeID][]byte), rng: NewRange()}
}

// AppendLeaf adds an entry (leaf data) and returns its index.
func (m *MemStore) AppendLeaf(data []byte) uint64 {
	i, _ := m.AppendLeafHash(LeafHash(data)) // LeafHash is always HashSize bytes
	return i
}

// AppendLeafHash adds a leaf by its hash and returns its index. It fails only
// for a hash that is not HashSize bytes.
func (m *MemStore) AppendLeafHash(h []byte) (uint64, error) {
	i := m.rng.Size()
	if err := m.rng.Append(h, func(id compact.NodeID, hash []byte) { m.nodes[id] = hash }); err != nil {
		return 0, err
	}
	return i, nil
}

// Size returns the number of leaves.
func (m *MemStore) Size() uint64 { return m.rng.Size() }

// Root returns the root of the whole tree.
func (m *MemStore) Root() []byte { return m.rng.Root() }

// ReadHashes implements HashReader. It returns copies, so callers cannot
// change the tree through a proof.
func (m *MemStore) ReadHashes(_ context.Context, ids []compact.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, ok := m.nodes[id]
		if !ok {
			return nil, fmt.Errorf("%w: level %d index %d", ErrMissingHash, id.Level, id.Index)
		}
		out[i] = bytes.Clone(h)
	}
	return out, nil
}
