package client

import (
	"crypto/sha256"
	"sync"

	"github.com/courtledger/courtledger/crypto/checkpoint"
)

// headCache remembers signed heads whose signatures verified with the
// client's trusted keys, by the hash of their exact bytes, so that the
// many receipts of one batch cost one SM2 verification per head, not one
// each. The trust is fixed when the client is made, so a head verified
// once stays verified.
type headCache struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]checkpoint.TreeHead
}

// maxCachedHeads bounds the cache; when full it starts afresh.
const maxCachedHeads = 1024

func (h *headCache) get(note []byte) (checkpoint.TreeHead, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.m[sha256.Sum256(note)]
	return t, ok
}

// put records head, the head note opened with the client's keys.
func (h *headCache) put(note []byte, head checkpoint.TreeHead) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil || len(h.m) >= maxCachedHeads {
		h.m = map[[sha256.Size]byte]checkpoint.TreeHead{}
	}
	h.m[sha256.Sum256(note)] = head
}
