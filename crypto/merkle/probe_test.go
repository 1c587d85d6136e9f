package merkle_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/courtledger/courtledger/crypto/merkle"
)

// Corruption probes, in the manner of github.com/transparency-dev/merkle's
// proof/verify_test.go: each valid claim is corrupted in every way a table of
// named probe kinds lists, and the verifier must reject each corruption with
// ErrInvalidProof.
//
// Coverage: every probe, including every bit of every hash and of both
// numbers, for every claim of the fixture with tree size <= probeAllUpTo
// (all leaves, all pairs 1 <= m <= n); and for probeSampled claims of larger
// sizes up to fixtureSize drawn with a fixed seed (math/rand/v2 PCG), so
// every run probes the same claims. All probes for all 90,300 claims of the
// fixture would take minutes under the race detector.
//
// Probe kinds marked numbers change only the index or the sizes. The proof
// does not bind those (see "What a verifier can and cannot tell apart" in
// reference_test.go), so such a probe must be rejected unless it leaves the
// verifier's steps unchanged, in which case it must be accepted.
const (
	probeAllUpTo = 24
	probeSampled = 24
)

// inclusionClaim is what VerifyInclusion is asked: leafHash is leaf index of
// the tree of size leaves with root, by proof.
type inclusionClaim struct {
	index, size uint64
	leafHash    []byte
	proof       [][]byte
	root        []byte
}

// consistencyClaim is what VerifyConsistency is asked: the tree of size2
// leaves with root2 extends the tree of size1 leaves with root1, by proof.
type consistencyClaim struct {
	size1, size2 uint64
	proof        [][]byte
	root1, root2 []byte
}

type inclusionProbe struct {
	name    string
	numbers bool
	corrupt func(fx *fixture, c inclusionClaim, emit func(desc string, bad inclusionClaim))
}

type consistencyProbe struct {
	name    string
	numbers bool
	corrupt func(fx *fixture, c consistencyClaim, emit func(desc string, bad consistencyClaim))
}

var inclusionProbes = []inclusionProbe{
	{name: "proof hash bit flipped", corrupt: func(_ *fixture, c inclusionClaim, emit func(string, inclusionClaim)) {
		for i := range c.proof {
			for bit := range 8 * merkle.HashSize {
				b := c
				b.proof = replaced(c.proof, i, flipped(c.proof[i], bit))
				emit(fmt.Sprintf("proof[%d] bit %d", i, bit), b)
			}
		}
	}},
	{name: "leaf hash bit flipped", corrupt: func(_ *fixture, c inclusionClaim, emit func(string, inclusionClaim)) {
		for bit := range 8 * merkle.HashSize {
			b := c
			b.leafHash = flipped(c.leafHash, bit)
			emit(fmt.Sprintf("bit %d", bit), b)
		}
	}},
	{name: "root bit flipped", corrupt: func(_ *fixture, c inclusionClaim, emit func(string, inclusionClaim)) {
		for bit := range 8 * merkle.HashSize {
			b := c
			b.root = flipped(c.root, bit)
			emit(fmt.Sprintf("bit %d", bit), b)
		}
	}},
	// Within one tree size no two leaves have the same steps, so a changed
	// index is always rejected.
	{name: "index bit flipped", corrupt: func(_ *fixture, c inclusionClaim, emit func(string, inclusionClaim)) {
		for bit := range 64 {
			b := c
			b.index ^= 1 << bit
			emit(fmt.Sprintf("bit %d", bit), b)
		}
	}},
	{name: "index off by one", corrupt: func(_ *fixture, c inclusionClaim, emit func(string, inclusionClaim)) {
		b := c
		b.index = c.index - 1 // wraps around for leaf 0
		emit("index - 1", b)
		b.index = c.index + 1
		emit("index + 1", b)
	}},
	{name: "size bit flipped", numbers: true, corrupt: func(_ *fixture, c inclusionClaim, emit func(string, inclusionClaim)) {
		for bit := range 64 {
			b := c
			b.size ^= 1 << bit
			emit(fmt.Sprintf("bit %d", bit), b)
		}
	}},
	{name: "size off by one", numbers: true, corrupt: func(_ *fixture, c inclusionClaim, emit func(string, inclusionClaim)) {
		b := c
		b.size = c.size - 1
		emit("size - 1", b)
		b.size = c.size + 1
		emit("size + 1", b)
	}},
	{name: "size halved or doubled", numbers: true, corrupt: func(_ *fixture, c inclusionClaim, emit func(string, inclusionClaim)) {
		b := c
		b.size = c.size / 2
		emit("size / 2", b)
		b.size = c.size * 2
		emit("size * 2", b)
	}},
	{name: "hash appended", corrupt: func(_ *fixture, c inclusionClaim, emit func(string, inclusionClaim)) {
		for desc, h := range extraHashes(c.proof, "leaf hash", c.leafHash, "root", c.root) {
			b := c
			b.proof = inserted(c.proof, len(c.proof), h)
			emit(desc, b)
		}
	}},
	{name: "hash prepended", corrupt: func(_ *fixture, c inclusionClaim, emit func(string, inclusionClaim)) {
		for desc, h := range extraHashes(c.proof, "leaf hash", c.leafHash, "root", c.root) {
			b := c
			b.proof = inserted(c.proof, 0, h)
			emit(desc, b)
		}
	}},
	{name: "hash removed", corrupt: func(_ *fixture, c inclusionClaim, emit func(string, inclusionClaim)) {
		for i := range c.proof {
			b := c
			b.proof = slices.Delete(slices.Clone(c.proof), i, i+1)
			emit(fmt.Sprintf("proof[%d]", i), b)
		}
	}},
	{name: "adjacent hashes swapped", corrupt: func(_ *fixture, c inclusionClaim, emit func(string, inclusionClaim)) {
		for i := 0; i+1 < len(c.proof); i++ {
			b := c
			b.proof = slices.Clone(c.proof)
			b.proof[i], b.proof[i+1] = b.proof[i+1], b.proof[i]
			emit(fmt.Sprintf("proof[%d] and proof[%d]", i, i+1), b)
		}
	}},
	{name: "hash truncated or extended", corrupt: func(_ *fixture, c inclusionClaim, emit func(string, inclusionClaim)) {
		for desc, resize := range resizings() {
			for i := range c.proof {
				b := c
				b.proof = replaced(c.proof, i, resize(c.proof[i]))
				emit(fmt.Sprintf("proof[%d] %s", i, desc), b)
			}
			b := c
			b.leafHash = resize(c.leafHash)
			emit("leaf hash "+desc, b)
			b = c
			b.root = resize(c.root)
			emit("root "+desc, b)
		}
	}},
	{name: "proof emptied", corrupt: func(_ *fixture, c inclusionClaim, emit func(string, inclusionClaim)) {
		b := c
		b.proof = nil
		emit("nil", b)
	}},
	{name: "leaf hash and root swapped", corrupt: func(_ *fixture, c inclusionClaim, emit func(string, inclusionClaim)) {
		b := c
		b.leafHash, b.root = c.root, c.leafHash
		emit("swapped", b)
	}},
	{name: "leaf data for leaf hash", corrupt: func(_ *fixture, c inclusionClaim, emit func(string, inclusionClaim)) {
		b := c
		b.leafHash = merkle.LeafHash(c.leafHash) // hashed twice
		emit("LeafHash(leaf hash)", b)
	}},
	{name: "proof of a neighbouring leaf", corrupt: func(fx *fixture, c inclusionClaim, emit func(string, inclusionClaim)) {
		for _, other := range []uint64{c.index - 1, c.index + 1} {
			if other >= c.size {
				continue
			}
			b := c
			b.proof = fx.ref.path(int(other), fx.leaves[:c.size])
			emit(fmt.Sprintf("proof of leaf %d", other), b)
		}
	}},
}

var consistencyProbes = []consistencyProbe{
	{name: "proof hash bit flipped", corrupt: func(_ *fixture, c consistencyClaim, emit func(string, consistencyClaim)) {
		for i := range c.proof {
			for bit := range 8 * merkle.HashSize {
				b := c
				b.proof = replaced(c.proof, i, flipped(c.proof[i], bit))
				emit(fmt.Sprintf("proof[%d] bit %d", i, bit), b)
			}
		}
	}},
	{name: "root1 bit flipped", corrupt: func(_ *fixture, c consistencyClaim, emit func(string, consistencyClaim)) {
		for bit := range 8 * merkle.HashSize {
			b := c
			b.root1 = flipped(c.root1, bit)
			emit(fmt.Sprintf("bit %d", bit), b)
		}
	}},
	{name: "root2 bit flipped", corrupt: func(_ *fixture, c consistencyClaim, emit func(string, consistencyClaim)) {
		for bit := range 8 * merkle.HashSize {
			b := c
			b.root2 = flipped(c.root2, bit)
			emit(fmt.Sprintf("bit %d", bit), b)
		}
	}},
	{name: "size1 bit flipped", numbers: true, corrupt: func(_ *fixture, c consistencyClaim, emit func(string, consistencyClaim)) {
		for bit := range 64 {
			b := c
			b.size1 ^= 1 << bit
			emit(fmt.Sprintf("bit %d", bit), b)
		}
	}},
	{name: "size2 bit flipped", numbers: true, corrupt: func(_ *fixture, c consistencyClaim, emit func(string, consistencyClaim)) {
		for bit := range 64 {
			b := c
			b.size2 ^= 1 << bit
			emit(fmt.Sprintf("bit %d", bit), b)
		}
	}},
	{name: "size off by one", numbers: true, corrupt: func(_ *fixture, c consistencyClaim, emit func(string, consistencyClaim)) {
		for _, d := range []struct {
			desc   string
			s1, s2 uint64
		}{
			{"size1 - 1", c.size1 - 1, c.size2},
			{"size1 + 1", c.size1 + 1, c.size2},
			{"size2 - 1", c.size1, c.size2 - 1},
			{"size2 + 1", c.size1, c.size2 + 1},
		} {
			b := c
			b.size1, b.size2 = d.s1, d.s2
			emit(d.desc, b)
		}
	}},
	{name: "size halved or doubled", numbers: true, corrupt: func(_ *fixture, c consistencyClaim, emit func(string, consistencyClaim)) {
		for _, d := range []struct {
			desc   string
			s1, s2 uint64
		}{
			{"size1 / 2", c.size1 / 2, c.size2},
			{"size1 * 2", c.size1 * 2, c.size2},
			{"size2 / 2", c.size1, c.size2 / 2},
			{"size2 * 2", c.size1, c.size2 * 2},
		} {
			b := c
			b.size1, b.size2 = d.s1, d.s2
			emit(d.desc, b)
		}
	}},
	{name: "sizes swapped", numbers: true, corrupt: func(_ *fixture, c consistencyClaim, emit func(string, consistencyClaim)) {
		b := c
		b.size1, b.size2 = c.size2, c.size1
		emit("swapped", b)
	}},
	{name: "roots swapped or repeated", corrupt: func(_ *fixture, c consistencyClaim, emit func(string, consistencyClaim)) {
		b := c
		b.root1, b.root2 = c.root2, c.root1
		emit("swapped", b)
		b = c
		b.root1 = c.root2
		emit("root2 as root1", b)
		b = c
		b.root2 = c.root1
		emit("root1 as root2", b)
	}},
	{name: "hash appended", corrupt: func(_ *fixture, c consistencyClaim, emit func(string, consistencyClaim)) {
		for desc, h := range extraHashes(c.proof, "root1", c.root1, "root2", c.root2) {
			b := c
			b.proof = inserted(c.proof, len(c.proof), h)
			emit(desc, b)
		}
	}},
	{name: "hash prepended", corrupt: func(_ *fixture, c consistencyClaim, emit func(string, consistencyClaim)) {
		for desc, h := range extraHashes(c.proof, "root1", c.root1, "root2", c.root2) {
			b := c
			b.proof = inserted(c.proof, 0, h)
			emit(desc, b)
		}
	}},
	{name: "hash removed", corrupt: func(_ *fixture, c consistencyClaim, emit func(string, consistencyClaim)) {
		for i := range c.proof {
			b := c
			b.proof = slices.Delete(slices.Clone(c.proof), i, i+1)
			emit(fmt.Sprintf("proof[%d]", i), b)
		}
	}},
	{name: "adjacent hashes swapped", corrupt: func(_ *fixture, c consistencyClaim, emit func(string, consistencyClaim)) {
		for i := 0; i+1 < len(c.proof); i++ {
			b := c
			b.proof = slices.Clone(c.proof)
			b.proof[i], b.proof[i+1] = b.proof[i+1], b.proof[i]
			emit(fmt.Sprintf("proof[%d] and proof[%d]", i, i+1), b)
		}
	}},
	{name: "hash truncated or extended", corrupt: func(_ *fixture, c consistencyClaim, emit func(string, consistencyClaim)) {
		for desc, resize := range resizings() {
			for i := range c.proof {
				b := c
				b.proof = replaced(c.proof, i, resize(c.proof[i]))
				emit(fmt.Sprintf("proof[%d] %s", i, desc), b)
			}
			b := c
			b.root1 = resize(c.root1)
			emit("root1 "+desc, b)
			b = c
			b.root2 = resize(c.root2)
			emit("root2 "+desc, b)
		}
	}},
	{name: "proof emptied", corrupt: func(_ *fixture, c consistencyClaim, emit func(string, consistencyClaim)) {
		b := c
		b.proof = nil
		emit("nil", b)
	}},
	{name: "proof of a neighbouring pair", corrupt: func(fx *fixture, c consistencyClaim, emit func(string, consistencyClaim)) {
		for _, p := range [][2]uint64{{c.size1 - 1, c.size2}, {c.size1 + 1, c.size2}, {c.size1, c.size2 - 1}, {c.size1, c.size2 + 1}} {
			if p[0] < 1 || p[0] > p[1] || p[1] > fixtureSize {
				continue
			}
			b := c
			b.proof = fx.ref.proof(int(p[0]), fx.leaves[:p[1]])
			emit(fmt.Sprintf("proof of %d to %d", p[0], p[1]), b)
		}
	}},
}

// TestInclusionProbes runs every inclusion probe kind on the claims described
// at the top of this file.
func TestInclusionProbes(t *testing.T) {
	t.Parallel()
	fx := sharedFixture()
	var claims []inclusionClaim
	add := func(index, size uint64) {
		p, err := merkle.Inclusion(t.Context(), fx.store, index, size)
		if err != nil {
			t.Fatalf("Inclusion(%d, %d): %v", index, size, err)
		}
		claims = append(claims, inclusionClaim{index, size, fx.hashes[index], p, fx.root(size)})
	}
	for size := uint64(1); size <= probeAllUpTo; size++ {
		for index := range size {
			add(index, size)
		}
	}
	rng := rand.New(rand.NewPCG(6962, 9162))
	for range probeSampled {
		size := probeAllUpTo + 1 + rng.Uint64N(fixtureSize-probeAllUpTo)
		add(rng.Uint64N(size), size)
	}

	accepted := make(map[string]int) // numbers probes accepted, by kind
	probes := make(map[string]int)   // probes made, by kind
	fails := 0
	for _, c := range claims {
		checkVerdict(t, merkle.VerifyInclusion(c.index, c.size, c.leafHash, c.proof, c.root), true)
		steps, _ := pathShape(c.index, c.size)
		for _, kind := range inclusionProbes {
			kind.corrupt(fx, c, func(desc string, b inclusionClaim) {
				if sameInclusionClaim(b, c) {
					return // this probe changes nothing for this claim
				}
				probes[kind.name]++
				err := merkle.VerifyInclusion(b.index, b.size, b.leafHash, b.proof, b.root)
				accept := false
				if kind.numbers {
					s, ok := pathShape(b.index, b.size)
					accept = ok && s == steps
				}
				if msg := verdictMismatch(err, accept); msg != "" {
					fails++
					t.Errorf("leaf %d of %d, %s (%s): %s", c.index, c.size, kind.name, desc, msg)
					if fails > 20 {
						t.FailNow()
					}
				}
				if err == nil {
					accepted[kind.name]++
				}
			})
		}
	}
	for _, kind := range inclusionProbes {
		if probes[kind.name] == 0 {
			t.Errorf("probe kind %q made no probe", kind.name)
		}
	}
	// The example of reference_test.go must be among them: leaf 1 of 7 read
	// as leaf 1 of 6.
	if accepted["size off by one"] == 0 {
		t.Error("no size-off-by-one probe was accepted; the same-steps rule was never exercised")
	}
	t.Logf("%d claims, probes by kind %v; accepted (numbers only, same steps) %v", len(claims), probes, accepted)
}

// TestConsistencyProbes runs every consistency probe kind on the claims
// described at the top of this file.
func TestConsistencyProbes(t *testing.T) {
	t.Parallel()
	fx := sharedFixture()
	var claims []consistencyClaim
	add := func(m, n uint64) {
		p, err := merkle.Consistency(t.Context(), fx.store, m, n)
		if err != nil {
			t.Fatalf("Consistency(%d, %d): %v", m, n, err)
		}
		claims = append(claims, consistencyClaim{m, n, p, fx.root(m), fx.root(n)})
	}
	for n := uint64(1); n <= probeAllUpTo; n++ {
		for m := uint64(1); m <= n; m++ {
			add(m, n)
		}
	}
	rng := rand.New(rand.NewPCG(9162, 6962))
	for range probeSampled {
		n := probeAllUpTo + 1 + rng.Uint64N(fixtureSize-probeAllUpTo)
		add(1+rng.Uint64N(n), n)
	}

	accepted := make(map[string]int)
	probes := make(map[string]int)
	fails := 0
	for _, c := range claims {
		checkVerdict(t, merkle.VerifyConsistency(c.size1, c.size2, c.proof, c.root1, c.root2), true)
		steps, _ := proofShape(c.size1, c.size2)
		for _, kind := range consistencyProbes {
			kind.corrupt(fx, c, func(desc string, b consistencyClaim) {
				if sameConsistencyClaim(b, c) {
					return
				}
				probes[kind.name]++
				err := merkle.VerifyConsistency(b.size1, b.size2, b.proof, b.root1, b.root2)
				accept := false
				if kind.numbers {
					s, ok := proofShape(b.size1, b.size2)
					accept = ok && s == steps
				}
				if msg := verdictMismatch(err, accept); msg != "" {
					fails++
					t.Errorf("%d to %d, %s (%s): %s", c.size1, c.size2, kind.name, desc, msg)
					if fails > 20 {
						t.FailNow()
					}
				}
				if err == nil {
					accepted[kind.name]++
				}
			})
		}
	}
	for _, kind := range consistencyProbes {
		if probes[kind.name] == 0 {
			t.Errorf("probe kind %q made no probe", kind.name)
		}
	}
	if accepted["size off by one"] == 0 {
		t.Error("no size-off-by-one probe was accepted; the same-steps rule was never exercised")
	}
	t.Logf("%d claims, probes by kind %v; accepted (numbers only, same steps) %v", len(claims), probes, accepted)
}

// TestSizeNotBoundByProof pins the example of reference_test.go with real
// hashes: the same proof and root pass for two sizes, which is why a
// verifier takes the size from the signed tree head together with the root.
func TestSizeNotBoundByProof(t *testing.T) {
	fx := sharedFixture()
	p, err := merkle.Inclusion(t.Context(), fx.store, 1, 7)
	if err != nil {
		t.Fatal(err)
	}
	checkVerdict(t, merkle.VerifyInclusion(1, 7, fx.hashes[1], p, fx.root(7)), true)
	checkVerdict(t, merkle.VerifyInclusion(1, 6, fx.hashes[1], p, fx.root(7)), true)
	// Under the right root for 6 leaves, the proof for 7 fails.
	checkVerdict(t, merkle.VerifyInclusion(1, 6, fx.hashes[1], p, fx.root(6)), false)
}

// verdictMismatch describes how err differs from the wanted verdict, or
// returns "" if it does not.
func verdictMismatch(err error, accept bool) string {
	switch {
	case accept && err != nil:
		return fmt.Sprintf("rejected (%v), but the verifier's steps are unchanged", err)
	case !accept && err == nil:
		return "accepted"
	case !accept && !errors.Is(err, merkle.ErrInvalidProof):
		return fmt.Sprintf("rejected with %v, which does not wrap ErrInvalidProof", err)
	}
	return ""
}

func sameInclusionClaim(a, b inclusionClaim) bool {
	return a.index == b.index && a.size == b.size && bytes.Equal(a.leafHash, b.leafHash) &&
		bytes.Equal(a.root, b.root) && equalHashes(a.proof, b.proof)
}

func sameConsistencyClaim(a, b consistencyClaim) bool {
	return a.size1 == b.size1 && a.size2 == b.size2 && bytes.Equal(a.root1, b.root1) &&
		bytes.Equal(a.root2, b.root2) && equalHashes(a.proof, b.proof)
}

// flipped returns a copy of h with one bit inverted.
func flipped(h []byte, bit int) []byte {
	c := bytes.Clone(h)
	c[bit/8] ^= 1 << (bit % 8)
	return c
}

// replaced returns a copy of the proof with hash i replaced.
func replaced(p [][]byte, i int, h []byte) [][]byte {
	c := slices.Clone(p)
	c[i] = h
	return c
}

// inserted returns a copy of the proof with h inserted before hash i.
func inserted(p [][]byte, i int, h []byte) [][]byte {
	return slices.Insert(slices.Clone(p), i, h)
}

// extraHashes are the hashes the appended and prepended probes add: zeros,
// an empty one, the two named hashes of the claim, and a repeat of the
// proof's first and last hash.
func extraHashes(p [][]byte, nameA string, a []byte, nameB string, b []byte) map[string][]byte {
	m := map[string][]byte{
		"zero hash": make([]byte, merkle.HashSize),
		"empty":     {},
		nameA:       a,
		nameB:       b,
	}
	if len(p) > 0 {
		m["repeat of proof[0]"] = p[0]
		m["repeat of last"] = p[len(p)-1]
	}
	return m
}

// resizings are the ways the truncated-or-extended probes change a hash.
func resizings() map[string]func([]byte) []byte {
	return map[string]func([]byte) []byte{
		"cut to 31 bytes": func(h []byte) []byte { return h[:len(h)-1] },
		"cut to 0 bytes":  func(h []byte) []byte { return h[:0] },
		"extended by one": func(h []byte) []byte { return append(bytes.Clone(h), 0) },
		"nil":             func([]byte) []byte { return nil },
	}
}
