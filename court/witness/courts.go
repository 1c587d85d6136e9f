// Package witness is cross-court sync: it keeps this court's verified
// mirrors of the other courts, cosigns each head it has checked, exchanges
// heads with them (gossip) and raises an alarm when a court's history
// forks or is rewritten. See docs/sync-protocol.md.
package witness

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/mod/sumdb/note"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/evidence"
)

// OtherCourt is another court of the network: this court mirrors its log,
// witnesses its heads, and trusts nothing of it but what its keys sign.
type OtherCourt struct {
	Court     string
	Endpoints []string       // gRPC addresses of its nodes; any of them serves sync
	Key       *sm2.PublicKey // its court key: the trust anchor
	// Keys are more keys of the court, trusted as Key is: the ones it
	// signed with before rotating its key (its old heads keep their
	// signatures), or the next one, added before it rotates
	// (docs/security.md, "Key rotation"). Key may be nil if Keys is not.
	Keys []*sm2.PublicKey
}

// otherCourt is an OtherCourt with its verifiers: one per key, as a head
// signer and as a witness.
type otherCourt struct {
	OtherCourt
	verifiers      []note.Verifier
	cosigVerifiers []note.Verifier
}

func newOtherCourt(c OtherCourt) (*otherCourt, error) {
	if !evidence.ValidCourtID(c.Court) {
		return nil, fmt.Errorf("court %q: not a valid court ID", c.Court)
	}
	keys := c.Keys
	if c.Key != nil {
		keys = append([]*sm2.PublicKey{c.Key}, keys...)
	}
	if len(keys) == 0 || len(c.Endpoints) == 0 {
		return nil, fmt.Errorf("court %q: a key and at least one endpoint are required", c.Court)
	}
	vs, cvs, err := courtVerifiers(c.Court, keys)
	if err != nil {
		return nil, fmt.Errorf("court %q: %w", c.Court, err)
	}
	return &otherCourt{OtherCourt: c, verifiers: vs, cosigVerifiers: cvs}, nil
}

// courtVerifiers returns the head and cosignature verifiers of a court's
// keys. A key given twice is refused: a note verifier would find it
// ambiguous and reject every head.
func courtVerifiers(court string, keys []*sm2.PublicKey) (heads, cosigs []note.Verifier, err error) {
	for i, k := range keys {
		if k == nil {
			return nil, nil, fmt.Errorf("key %d is missing", i)
		}
		if slices.ContainsFunc(keys[:i], k.Equal) {
			return nil, nil, fmt.Errorf("key %d is listed twice", i)
		}
		v, err := checkpoint.NewVerifier(court, k)
		if err != nil {
			return nil, nil, err
		}
		cv, err := checkpoint.NewCosignatureVerifier(court, k)
		if err != nil {
			return nil, nil, err
		}
		heads, cosigs = append(heads, v), append(cosigs, cv)
	}
	return heads, cosigs, nil
}

// hasKey reports whether one of keys has the key ID id.
func hasKey(keys []note.Verifier, id uint32) bool {
	return slices.ContainsFunc(keys, func(k note.Verifier) bool { return k.KeyHash() == id })
}

// Courts is the network as this court knows it: its own keys and the
// other courts it mirrors, with the verifiers of their heads and of their
// cosignatures.
type Courts struct {
	self                      string
	verifiers, cosigVerifiers []note.Verifier // this court's: its key, then its previous keys
	others                    map[string]*otherCourt
}

// ErrPreviousKeys wraps a problem with this court's own keys.
var ErrPreviousKeys = errors.New("previous keys")

// NewCourts checks the configuration of the network: self's keys (the
// current one first) and the other courts, each listed once and none of
// them self.
func NewCourts(self string, keys []*sm2.PublicKey, others []OtherCourt) (*Courts, error) {
	c := &Courts{self: self, others: map[string]*otherCourt{}}
	var err error
	if c.verifiers, c.cosigVerifiers, err = courtVerifiers(self, keys); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPreviousKeys, err)
	}
	for _, o := range others {
		oc, err := newOtherCourt(o)
		if err != nil {
			return nil, err
		}
		if oc.Court == self {
			return nil, fmt.Errorf("court %q lists itself among the other courts", o.Court)
		}
		if _, dup := c.others[oc.Court]; dup {
			return nil, fmt.Errorf("court %q listed twice", o.Court)
		}
		c.others[oc.Court] = oc
	}
	return c, nil
}

// Self is this court's ID.
func (c *Courts) Self() string { return c.self }

// Known reports whether court is one this court mirrors.
func (c *Courts) Known(court string) bool { _, ok := c.others[court]; return ok }

// Others lists the courts this court mirrors, sorted by ID.
func (c *Courts) Others() []string {
	ids := make([]string, 0, len(c.others))
	for id := range c.others {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// OwnVerifiers check heads signed by this court, with any of its keys.
func (c *Courts) OwnVerifiers() []note.Verifier { return c.verifiers }

// HeadVerifiers returns the verifiers of another court's heads.
func (c *Courts) HeadVerifiers(court string) ([]note.Verifier, bool) {
	o, ok := c.others[court]
	if !ok {
		return nil, false
	}
	return o.verifiers, true
}

// Witnesses lists the courts whose cosignatures on a head of origin verify
// under the keys this court holds (its own included, old keys too).
func (c *Courts) Witnesses(origin string, signed []byte) []string {
	court := c.verifiers
	if oc, ok := c.others[origin]; ok {
		court = oc.verifiers
	}
	others := slices.Clone(c.cosigVerifiers)
	for _, oc := range c.others {
		others = append(others, oc.cosigVerifiers...)
	}
	_, nt, err := checkpoint.OpenAny(signed, court, others...)
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range nt.Sigs {
		if s.Name != origin || !hasKey(court, s.Hash) {
			out = append(out, s.Name)
		}
	}
	slices.Sort(out)
	// A witness that rotated its key may have cosigned the head with both.
	return slices.Compact(out)
}

// Cosignature checks a head of this court that witness sends back
// cosigned, and returns the head and the witness's cosignature line. The
// head may be one this court signed before rotating its key, and the
// cosignature by any of the witness's keys. mine is the note of this
// court's head at the same size, which the cosigned one must be.
func (c *Courts) Cosignature(witness string, cosigned []byte, headAt func(size uint64) ([]byte, error)) (checkpoint.TreeHead, []byte, error) {
	peer, ok := c.others[witness]
	if !ok {
		return checkpoint.TreeHead{}, nil, fmt.Errorf("%w: %q", ErrUnknownCourt, witness)
	}
	h, n, err := checkpoint.OpenAny(cosigned, c.verifiers, peer.cosigVerifiers...)
	if err != nil {
		return h, nil, &CosignatureError{"BAD_COSIGNED_NOTE", err.Error()}
	}
	var line []byte
	for _, sig := range n.Sigs {
		if sig.Name == witness && hasKey(peer.cosigVerifiers, sig.Hash) {
			line = []byte("— " + sig.Name + " " + sig.Base64 + "\n")
		}
	}
	if line == nil {
		return h, nil, &CosignatureError{"NO_COSIGNATURE", fmt.Sprintf("no valid cosignature by %q on the note", witness)}
	}
	mine, err := headAt(h.Size)
	if err != nil {
		return h, nil, err
	}
	if text, _, _ := bytes.Cut(mine, []byte("\n\n")); string(text)+"\n" != n.Text {
		return h, nil, &CosignatureError{"UNKNOWN_HEAD", fmt.Sprintf("the cosigned head at size %d is not the one this court signed", h.Size)}
	}
	return h, line, nil
}

// ErrUnknownCourt is a court this court neither is nor mirrors.
var ErrUnknownCourt = errors.New("court not known here")

// CosignatureError is a cosigned note that this court cannot accept; the
// server answers it as an invalid cosigned_note with Reason.
type CosignatureError struct {
	Reason string
	Detail string
}

func (e *CosignatureError) Error() string { return e.Detail }
