package stamp

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/courtledger/courtledger/crypto/checkpoint"
)

// ErrNote is a signed head that is not a C2SP signed note of a tree head.
var ErrNote = errors.New("stamp: not a signed tree head")

// Imprinted returns exactly the bytes a court has a TSA stamp for a signed
// head: the text of its C2SP signed note, the lines the court signs (origin,
// size, root and the court's extension lines, each ending in a newline), up
// to and without the blank line and the signature lines after it.
//
// The token's message imprint is the hash of these bytes. Signatures are
// left out so that the imprint is the same for the head as first signed and
// as later cosigned by witnesses (cosignature lines are appended to the
// note), and so that a verifier hashes text it can rebuild from the head
// itself: `openssl ts -verify -data head.txt` where head.txt is this text.
func Imprinted(note []byte) ([]byte, error) {
	// As golang.org/x/mod/sumdb/note splits a note: at the last blank
	// line; the text itself never holds one.
	split := bytes.LastIndex(note, []byte("\n\n"))
	if split < 0 {
		return nil, fmt.Errorf("%w: no blank line before signatures (want the head's text, a blank line, then its signature lines)", ErrNote)
	}
	text, sigs := note[:split+1], note[split+2:]
	if len(sigs) == 0 || sigs[len(sigs)-1] != '\n' || !bytes.HasPrefix(sigs, []byte("— ")) {
		return nil, fmt.Errorf("%w: no signature lines after the blank line (each begins with \"— \" and ends with a newline)", ErrNote)
	}
	if _, err := checkpoint.ParseText(text); err != nil {
		return nil, fmt.Errorf("%w: its text: %w", ErrNote, err)
	}
	return text, nil
}
