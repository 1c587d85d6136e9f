// Package checkpoint is a court's signed tree head: a C2SP tlog-checkpoint
// (https://c2sp.org/tlog-checkpoint) signed as a C2SP signed note
// (https://c2sp.org/signed-note) with the court's SM2 key.
//
// The note text of a tree head is exactly four lines, each ending in "\n":
//
//	<origin>                       the court's log name, also its key name
//	<size>                         decimal, no leading zeros
//	<root>                         standard base64 of the 32-byte SM3 root
//	time-ms <milliseconds>         extension line: Unix time of the head, ms
//
// and then, after a blank line, one signature line per signer:
//
//	— <key name> base64(key ID[4] || SM2 signature, ASN.1 DER)
//
// The SM2 signature is over the note text (the four lines, final newline
// included) with SM3 and the GM/T 0009 default user ID, so OpenSSL 3 verifies
// it with `openssl pkeyutl -verify -rawin -digest sm3 -pkeyopt
// distid:1234567812345678`. C2SP assigns no signature type to SM2, so the key
// ID follows its rule for unassigned algorithms, type byte 0xff followed by
// the identifier "sm2-sm3":
//
//	key ID = SHA-256(key name || 0x0A || 0xff || "sm2-sm3" || SPKI DER)[:4]
//
// The same bytes, base64 after the name and key ID, make the verifier key
// string "<name>+<key ID hex>+base64(0xff || "sm2-sm3" || SPKI DER)" that a
// trust file holds.
package checkpoint

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/courtledger/courtledger/crypto/merkle"
)

// MaxNoteSize bounds a signed tree head with its signatures and cosignatures.
const MaxNoteSize = 16 << 10

// MaxOriginLen bounds the origin line.
const MaxOriginLen = 128

const timeExt = "time-ms "

// Errors callers can act on with errors.Is.
var (
	ErrMalformed    = errors.New("checkpoint: malformed tree head")
	ErrNotCanonical = errors.New("checkpoint: tree head is not in canonical form")
	ErrOrigin       = errors.New("checkpoint: origin mismatch")
	ErrSignature    = errors.New("checkpoint: no valid signature by the court's key")
	ErrTooLarge     = errors.New("checkpoint: signed tree head too large")
)

// TreeHead is a court's statement of its log at one moment.
type TreeHead struct {
	Origin string    // the court's log name; also the signing key's name
	Size   uint64    // number of entries
	Root   []byte    // merkle.HashSize bytes
	Time   time.Time // when the head was made; kept to the millisecond
}

// ValidOrigin reports whether s can name a log and a key: non-empty, at most
// MaxOriginLen bytes, valid UTF-8, no spaces, no '+', no control characters.
func ValidOrigin(s string) bool {
	if s == "" || len(s) > MaxOriginLen || !utf8.ValidString(s) || strings.Contains(s, "+") {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) < 0
}

func (h TreeHead) check() error {
	switch {
	case !ValidOrigin(h.Origin):
		return fmt.Errorf("%w: origin %q", ErrMalformed, h.Origin)
	case len(h.Root) != merkle.HashSize:
		return fmt.Errorf("%w: root of %d bytes", ErrMalformed, len(h.Root))
	case h.Time.UnixMilli() < 0:
		return fmt.Errorf("%w: time %v before 1970", ErrMalformed, h.Time)
	}
	return nil
}

// Marshal returns the note text of h (see the package comment). It fails
// only if h cannot be represented: bad origin, root length or time.
func (h TreeHead) Marshal() ([]byte, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	cp := log.Checkpoint{Origin: h.Origin, Size: h.Size, Hash: h.Root}
	b := cp.Marshal()
	b = append(b, timeExt...)
	b = strconv.AppendInt(b, h.Time.UnixMilli(), 10)
	return append(b, '\n'), nil
}

// ParseText parses the note text of a tree head without checking any
// signature. It accepts only the canonical form: what Marshal would write.
func ParseText(text []byte) (TreeHead, error) {
	var cp log.Checkpoint
	rest, err := cp.Unmarshal(text)
	if err != nil {
		return TreeHead{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return fromCheckpoint(text, cp, rest)
}

func fromCheckpoint(text []byte, cp log.Checkpoint, rest []byte) (TreeHead, error) {
	line, ok := bytes.CutPrefix(rest, []byte(timeExt))
	if !ok || len(line) < 2 || line[len(line)-1] != '\n' {
		return TreeHead{}, fmt.Errorf("%w: want one %q extension line", ErrMalformed, strings.TrimSpace(timeExt))
	}
	ms, err := strconv.ParseInt(string(line[:len(line)-1]), 10, 64)
	if err != nil {
		return TreeHead{}, fmt.Errorf("%w: time: %w", ErrMalformed, err)
	}
	h := TreeHead{Origin: cp.Origin, Size: cp.Size, Root: cp.Hash, Time: time.UnixMilli(ms).UTC()}
	canon, err := h.Marshal()
	if err != nil {
		return TreeHead{}, err
	}
	if !bytes.Equal(canon, text) {
		return TreeHead{}, ErrNotCanonical
	}
	return h, nil
}

// Sign returns the signed note of h, signed by s (the court's key, whose
// name must be h.Origin) and then by each of cosigners, if any.
func Sign(h TreeHead, s note.Signer, cosigners ...note.Signer) ([]byte, error) {
	if s.Name() != h.Origin {
		return nil, fmt.Errorf("%w: key %q signing head of %q", ErrOrigin, s.Name(), h.Origin)
	}
	text, err := h.Marshal()
	if err != nil {
		return nil, err
	}
	signed, err := note.Sign(&note.Note{Text: string(text)}, append([]note.Signer{s}, cosigners...)...)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: sign: %w", err)
	}
	return signed, nil
}

// Open verifies that signed is a tree head of the log named by v's key
// name, signed by v, and returns it together with the parsed note, whose
// Sigs lists every signature that verified (v's and any of others', e.g.
// witness cosignatures) and whose UnverifiedSigs lists the rest. A note
// carrying a bad signature by any known key is rejected whole, as C2SP
// signed-note advises.
func Open(signed []byte, v note.Verifier, others ...note.Verifier) (TreeHead, *note.Note, error) {
	return OpenAny(signed, []note.Verifier{v}, others...)
}

// OpenAny is Open for a court that has had several keys: court lists them
// (all under the court's name), and a signature by any one of them makes
// the head the court's. A court keeps old keys here after rotating its key
// (docs/security.md, "Key rotation"), since every head it signed before
// keeps its old signature. Open's strictness holds for each key: a bad
// signature by any of them, or by others, rejects the note.
func OpenAny(signed []byte, court []note.Verifier, others ...note.Verifier) (TreeHead, *note.Note, error) {
	if len(court) == 0 {
		return TreeHead{}, nil, fmt.Errorf("%w: no key of the court given", ErrSignature)
	}
	name := court[0].Name()
	for _, v := range court[1:] {
		if v.Name() != name {
			return TreeHead{}, nil, fmt.Errorf("%w: keys of %q and %q given as one court's", ErrOrigin, name, v.Name())
		}
	}
	if len(signed) > MaxNoteSize {
		return TreeHead{}, nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(signed), MaxNoteSize)
	}
	n, err := note.Open(signed, note.VerifierList(append(slices.Clone(court), others...)...))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		if errors.As(err, &unverified) || errors.As(err, &invalid) {
			return TreeHead{}, nil, fmt.Errorf("%w: %w", ErrSignature, err)
		}
		return TreeHead{}, nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if !SignedByAny(n, court) {
		return TreeHead{}, n, fmt.Errorf("%w: only cosignatures verified", ErrSignature)
	}
	h, err := ParseText([]byte(n.Text))
	if err != nil {
		return TreeHead{}, n, err
	}
	if h.Origin != name {
		return TreeHead{}, n, fmt.Errorf("%w: head of %q signed by key %q", ErrOrigin, h.Origin, name)
	}
	return h, n, nil
}

// SignedByAny reports whether one of the verified signatures of n is by
// one of keys (same name and key ID).
func SignedByAny(n *note.Note, keys []note.Verifier) bool {
	for _, s := range n.Sigs {
		for _, k := range keys {
			if s.Name == k.Name() && s.Hash == k.KeyHash() {
				return true
			}
		}
	}
	return false
}

// ParseUnverified reads the tree head of a signed note without checking any
// signature: for a ledger reading back heads it verified or made itself.
// Anything else that receives a head must use Open.
func ParseUnverified(signed []byte) (TreeHead, error) {
	text, _, ok := bytes.Cut(signed, []byte("\n\n"))
	if !ok {
		return TreeHead{}, fmt.Errorf("%w: not a signed note", ErrMalformed)
	}
	return ParseText(append(bytes.Clone(text), '\n'))
}
