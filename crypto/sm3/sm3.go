// Package sm3 computes SM3 digests (GB/T 32905-2016, GM/T 0004-2012), the
// fingerprint of an evidence file. The hashing is github.com/emmansun/gmsm's;
// this package adds streaming over a file with a bound and a progress hook.
package sm3

import (
	"errors"
	"fmt"
	"hash"
	"io"

	gmsm3 "github.com/emmansun/gmsm/sm3"
)

// Size is the size of an SM3 digest in bytes.
const Size = gmsm3.Size

// Digest is an SM3 digest.
type Digest [Size]byte

// Sum returns the SM3 digest of data.
func Sum(data []byte) Digest { return gmsm3.Sum(data) }

// New returns a streaming SM3 hash.
func New() hash.Hash { return gmsm3.New() }

// ErrTooLarge is returned by SumReader when the input passes its bound.
var ErrTooLarge = errors.New("sm3: input larger than the limit")

// SumReader hashes everything r yields, at most limit bytes (0: no limit),
// calling progress (if not nil) with the running byte count after each read.
// It returns the digest and the number of bytes hashed.
func SumReader(r io.Reader, limit int64, progress func(n int64)) (Digest, int64, error) {
	h := gmsm3.New()
	buf := make([]byte, 64<<10)
	var n int64
	for {
		k, err := r.Read(buf)
		if k > 0 {
			n += int64(k)
			if limit > 0 && n > limit {
				return Digest{}, n, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
			}
			h.Write(buf[:k])
			if progress != nil {
				progress(n)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Digest{}, n, fmt.Errorf("sm3: read: %w", err)
		}
	}
	var d Digest
	h.Sum(d[:0])
	return d, n, nil
}
