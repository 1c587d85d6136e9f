package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/courtledger/courtledger/crypto/sm2"
)

// algSM2 is the key-type prefix of an SM2 key in a signed note: C2SP's byte
// for unassigned algorithms followed by our identifier.
var algSM2 = append([]byte{0xff}, "sm2-sm3"...)

// ErrVerifierKey reports a malformed verifier key string.
var ErrVerifierKey = errors.New("checkpoint: malformed SM2 verifier key")

// KeyID returns the C2SP key ID of an SM2 key under a name.
func KeyID(name string, pub *sm2.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n'})
	h.Write(algSM2)
	h.Write(pub.MarshalPKIX())
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// Signer signs notes with an SM2 key. It implements note.Signer.
type Signer struct {
	name string
	id   uint32
	key  *sm2.PrivateKey
}

// NewSigner returns a note signer for key under name (a court's origin).
func NewSigner(name string, key *sm2.PrivateKey) (*Signer, error) {
	if !ValidOrigin(name) {
		return nil, fmt.Errorf("%w: key name %q", ErrMalformed, name)
	}
	return &Signer{name: name, id: KeyID(name, key.Public()), key: key}, nil
}

func (s *Signer) Name() string                    { return s.name }
func (s *Signer) KeyHash() uint32                 { return s.id }
func (s *Signer) Sign(msg []byte) ([]byte, error) { return s.key.Sign(msg) }

// Verifier returns the matching verifier.
func (s *Signer) Verifier() *Verifier { return &Verifier{name: s.name, id: s.id, pub: s.key.Public()} }

// Verifier checks SM2 note signatures. It implements note.Verifier.
type Verifier struct {
	name string
	id   uint32
	pub  *sm2.PublicKey
}

// NewVerifier returns a note verifier for pub under name.
func NewVerifier(name string, pub *sm2.PublicKey) (*Verifier, error) {
	if !ValidOrigin(name) {
		return nil, fmt.Errorf("%w: key name %q", ErrMalformed, name)
	}
	return &Verifier{name: name, id: KeyID(name, pub), pub: pub}, nil
}

func (v *Verifier) Name() string    { return v.name }
func (v *Verifier) KeyHash() uint32 { return v.id }
func (v *Verifier) Verify(msg, sig []byte) bool {
	return v.pub.Verify(msg, sig) == nil
}

// PublicKey returns the SM2 key.
func (v *Verifier) PublicKey() *sm2.PublicKey { return v.pub }

// String returns the verifier key string "<name>+<key ID hex>+<base64>".
func (v *Verifier) String() string {
	return fmt.Sprintf("%s+%08x+%s", v.name, v.id,
		base64.StdEncoding.EncodeToString(append(bytes.Clone(algSM2), v.pub.MarshalPKIX()...)))
}

// ParseVerifier parses a verifier key string made by Verifier.String and
// checks that its key ID matches its name and key.
func ParseVerifier(vkey string) (*Verifier, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	idHex, b64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || len(idHex) != 8 {
		return nil, fmt.Errorf("%w: want <name>+<8 hex digits>+<base64>", ErrVerifierKey)
	}
	id, err := strconv.ParseUint(idHex, 16, 32)
	if err != nil {
		return nil, fmt.Errorf("%w: key ID: %w", ErrVerifierKey, err)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: base64: %w", ErrVerifierKey, err)
	}
	der, ok := bytes.CutPrefix(raw, algSM2)
	if !ok {
		return nil, fmt.Errorf("%w: not an sm2-sm3 key", ErrVerifierKey)
	}
	pub, err := sm2.ParsePublicKeyDER(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrVerifierKey, err)
	}
	v, err := NewVerifier(name, pub)
	if err != nil {
		return nil, err
	}
	if v.id != uint32(id) {
		return nil, fmt.Errorf("%w: key ID %08x, computed %08x", ErrVerifierKey, id, v.id)
	}
	return v, nil
}
