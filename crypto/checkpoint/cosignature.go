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
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/courtledger/courtledger/crypto/sm2"
)

// A witness cosignature follows C2SP tlog-cosignature
// (https://c2sp.org/tlog-cosignature) with SM2 in place of Ed25519. The
// witnessing court signs, with its SM2 key, the message
//
//	"cosignature/v1\n" || "time " <decimal Unix seconds> "\n" || note text
//
// and adds to the head's note the signature line
//
//	— <witness court ID> base64(key ID[4] || time[8, big-endian] || SM2 signature, DER)
//
// with a key ID of its own, so that a checkpoint signature and a cosignature
// by the same key can never be mistaken for each other:
//
//	key ID = SHA-256(witness name || 0x0A || 0xff || "sm2-sm3-cosignature/v1" || SPKI DER)[:4]
//
// The time says when the witness checked the head, not when it was made.
var algSM2Cosig = append([]byte{0xff}, "sm2-sm3-cosignature/v1"...)

// ErrCosignature reports a malformed cosignature line.
var ErrCosignature = errors.New("checkpoint: malformed cosignature")

const cosigTimeLen = 8

// CosignatureKeyID returns the key ID of a court's SM2 key as a witness.
func CosignatureKeyID(name string, pub *sm2.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n'})
	h.Write(algSM2Cosig)
	h.Write(pub.MarshalPKIX())
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func cosignedMessage(t uint64, text []byte) []byte {
	msg := make([]byte, 0, 40+len(text))
	msg = append(msg, "cosignature/v1\ntime "...)
	msg = strconv.AppendUint(msg, t, 10)
	msg = append(msg, '\n')
	return append(msg, text...)
}

// Cosigner makes witness cosignatures with a court's SM2 key. It implements
// note.Signer.
type Cosigner struct {
	name string
	id   uint32
	key  *sm2.PrivateKey
	now  func() time.Time
}

// NewCosigner returns a cosigner for key under name (the witness court's
// ID). now, if nil, is time.Now.
func NewCosigner(name string, key *sm2.PrivateKey, now func() time.Time) (*Cosigner, error) {
	if !ValidOrigin(name) {
		return nil, fmt.Errorf("%w: key name %q", ErrMalformed, name)
	}
	if now == nil {
		now = time.Now
	}
	return &Cosigner{name: name, id: CosignatureKeyID(name, key.Public()), key: key, now: now}, nil
}

func (c *Cosigner) Name() string    { return c.name }
func (c *Cosigner) KeyHash() uint32 { return c.id }

// Sign returns time || DER signature over the cosigned message of text.
func (c *Cosigner) Sign(text []byte) ([]byte, error) {
	t := uint64(c.now().Unix())
	sig, err := c.key.Sign(cosignedMessage(t, text))
	if err != nil {
		return nil, err
	}
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, cosigTimeLen+len(sig)), t), sig...), nil
}

// Verifier returns the matching verifier.
func (c *Cosigner) Verifier() *CosignatureVerifier {
	return &CosignatureVerifier{name: c.name, id: c.id, pub: c.key.Public()}
}

// CosignatureVerifier checks a witness's cosignatures. It implements
// note.Verifier.
type CosignatureVerifier struct {
	name string
	id   uint32
	pub  *sm2.PublicKey
}

// NewCosignatureVerifier returns a verifier of the cosignatures a witness
// court makes with pub under name.
func NewCosignatureVerifier(name string, pub *sm2.PublicKey) (*CosignatureVerifier, error) {
	if !ValidOrigin(name) {
		return nil, fmt.Errorf("%w: key name %q", ErrMalformed, name)
	}
	return &CosignatureVerifier{name: name, id: CosignatureKeyID(name, pub), pub: pub}, nil
}

func (v *CosignatureVerifier) Name() string    { return v.name }
func (v *CosignatureVerifier) KeyHash() uint32 { return v.id }
func (v *CosignatureVerifier) Verify(text, sig []byte) bool {
	if len(sig) <= cosigTimeLen {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:cosigTimeLen])
	return v.pub.Verify(cosignedMessage(t, text), sig[cosigTimeLen:]) == nil
}

// Cosign returns the signature line ("— name base64\n") that c adds to the
// signed head. It signs the head's text as it stands; it does not check the
// signatures already there (the caller has, with Open).
func Cosign(signed []byte, c *Cosigner) ([]byte, error) {
	text, _, ok := bytes.Cut(signed, []byte("\n\n"))
	if !ok {
		return nil, fmt.Errorf("%w: not a signed note", ErrMalformed)
	}
	text = append(bytes.Clone(text), '\n')
	out, err := note.Sign(&note.Note{Text: string(text)}, c)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: cosign: %w", err)
	}
	return out[len(text)+1:], nil
}

// Signature is one signature line of a note, parsed.
type Signature struct {
	Name  string
	KeyID uint32
	Sig   []byte // after the key ID
	Line  []byte // the whole line, "\n" included
}

// ParseSignatureLine parses one "— name base64\n" line.
func ParseSignatureLine(line []byte) (Signature, error) {
	s, ok := bytes.CutPrefix(line, []byte("— "))
	if !ok || len(line) == 0 || line[len(line)-1] != '\n' || bytes.Count(line, []byte("\n")) != 1 {
		return Signature{}, fmt.Errorf("%w: not a signature line", ErrCosignature)
	}
	name, b64, ok := strings.Cut(string(s[:len(s)-1]), " ")
	if !ok || !ValidOrigin(name) {
		return Signature{}, fmt.Errorf("%w: signer name", ErrCosignature)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || len(raw) <= 4 {
		return Signature{}, fmt.Errorf("%w: signature is not base64 of a key ID and a signature", ErrCosignature)
	}
	return Signature{Name: name, KeyID: binary.BigEndian.Uint32(raw), Sig: raw[4:], Line: bytes.Clone(line)}, nil
}

// CosignedAt returns the time a cosignature line says the witness checked
// the head.
func CosignedAt(sig Signature) (time.Time, error) {
	if len(sig.Sig) <= cosigTimeLen {
		return time.Time{}, fmt.Errorf("%w: too short for a timestamp", ErrCosignature)
	}
	t := binary.BigEndian.Uint64(sig.Sig[:cosigTimeLen])
	if t > 1<<62 {
		return time.Time{}, fmt.Errorf("%w: timestamp %d", ErrCosignature, t)
	}
	return time.Unix(int64(t), 0).UTC(), nil
}

// Signatures returns the signature lines of a signed note, in order.
func Signatures(signed []byte) ([]Signature, error) {
	_, sigs, ok := bytes.Cut(signed, []byte("\n\n"))
	if !ok {
		return nil, fmt.Errorf("%w: not a signed note", ErrMalformed)
	}
	var out []Signature
	for len(sigs) > 0 {
		i := bytes.IndexByte(sigs, '\n')
		if i < 0 {
			return nil, fmt.Errorf("%w: unterminated signature line", ErrMalformed)
		}
		s, err := ParseSignatureLine(sigs[:i+1])
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		sigs = sigs[i+1:]
	}
	return out, nil
}

// WithSignatures returns signed with the signature lines added after its
// own, skipping any line whose signer (name and key ID) already signed. The
// result must stay within MaxNoteSize.
func WithSignatures(signed []byte, lines ...[]byte) ([]byte, error) {
	have, err := Signatures(signed)
	if err != nil {
		return nil, err
	}
	type signer struct {
		name string
		id   uint32
	}
	seen := make(map[signer]bool, len(have)+len(lines))
	for _, s := range have {
		seen[signer{s.Name, s.KeyID}] = true
	}
	out := bytes.Clone(signed)
	for _, l := range lines {
		s, err := ParseSignatureLine(l)
		if err != nil {
			return nil, err
		}
		if seen[signer{s.Name, s.KeyID}] {
			continue
		}
		seen[signer{s.Name, s.KeyID}] = true
		out = append(out, l...)
	}
	if len(out) > MaxNoteSize {
		return nil, fmt.Errorf("%w: %d bytes with cosignatures, at most %d", ErrTooLarge, len(out), MaxNoteSize)
	}
	return out, nil
}
