package certificate

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
)

// Trusted time (issue 16). A court has its signed tree heads stamped by an
// RFC 3161 time-stamping authority; a certificate carries the token of the
// first stamped head that covers its entry, with that head and the
// entry's inclusion proof under it. The token's time is then a time by
// which the entry existed that the court alone could not have forged.
//
// The timestamp member stands outside the issuer's signature and the
// certificate ID: it proves itself (the origin court's signature on the
// stamped head, the proof, the TSA's signature on the token), and a
// certificate issued before its head was stamped gains one later without
// being reissued. Removing it takes away only the trusted time.

// MaxTimestampToken bounds a token: a TimeStampResp is a few KB.
const MaxTimestampToken = 64 << 10

// Timestamp is a TSA's token over a signed head of the entry's court
// that covers the entry.
type Timestamp struct {
	TSA        string   // the TSA as the court names it (its URL)
	Proof      [][]byte // inclusion proof of the entry under Head
	SignedHead []byte   // the stamped head as the court signed it
	Head       checkpoint.TreeHead
	Token      []byte // DER TimeStampResp, as `openssl ts -verify -in` reads it
}

// TimestampInfo is what a verified token says.
type TimestampInfo struct {
	TSA  string    // the TSA's certificate subject
	Time time.Time // genTime
}

// TimestampChecker verifies a token over data (StampedText of the stamped
// head) against the TSA trust anchors, with headTime the time the head
// states (crypto/tsa.Verify with its tolerance). The verifier takes it as
// a function so that this package links no ASN.1 or X.509 code of its own.
type TimestampChecker func(token, data []byte, headTime time.Time) (TimestampInfo, error)

// TimestampDetails is what Verify found of a certificate's timestamp.
type TimestampDetails struct {
	TSA      string    `json:"tsa"`                // as the certificate names it
	Signer   string    `json:"signer,omitempty"`   // the token's signer, once verified
	Time     time.Time `json:"time,omitzero"`      // the token's time, once verified
	HeadSize uint64    `json:"head_size"`          // the stamped head
	HeadTime time.Time `json:"head_time,omitzero"` // the time the stamped head states
	Verified bool      `json:"verified"`
	Note     string    `json:"note,omitempty"` // why not verified
}

// StampedText is what a court has stamped for a signed head: the note's
// text, without its signature lines, the file `openssl ts -verify -data`
// takes.
func StampedText(signedHead []byte) ([]byte, error) {
	i := bytes.Index(signedHead, []byte("\n\n"))
	if i < 0 {
		return nil, fmt.Errorf("%w: a signed note has a blank line before its signatures", ErrMalformed)
	}
	return signedHead[:i+1], nil
}

type jsonTimestamp struct {
	TSA   string `json:"tsa"`
	Proof string `json:"proof"` // C2SP tlog-proof text under the stamped head
	Token string `json:"token"` // standard base64 of the DER TimeStampResp
}

func (t *Timestamp) marshal(index uint64) *jsonTimestamp {
	return &jsonTimestamp{TSA: t.TSA, Proof: string(t.ProofText(index)), Token: base64.StdEncoding.EncodeToString(t.Token)}
}

// ProofText is the timestamp's proof as C2SP tlog-proof text: index, the
// inclusion proof under the stamped head, and the head.
func (t *Timestamp) ProofText(index uint64) []byte {
	return marshalTlogProof(index, t.Proof, t.SignedHead)
}

func decodeTimestamp(c *Certificate, j *jsonTimestamp) error {
	if j.TSA == "" || len(j.TSA) > 512 {
		return fmt.Errorf("%w: timestamp.tsa must name the TSA (1 to 512 characters)", ErrMalformed)
	}
	index, proof, signed, err := parseTlogProof([]byte(j.Proof))
	if err != nil {
		return fmt.Errorf("timestamp.proof: %w", err)
	}
	if index != c.Entry.Index {
		return fmt.Errorf("%w: timestamp.proof is for position %d, the entry is at %d", ErrMalformed, index, c.Entry.Index)
	}
	token, err := base64.StdEncoding.Strict().DecodeString(j.Token)
	if err != nil {
		return fmt.Errorf("%w: timestamp.token is not standard base64: %w", ErrMalformed, err)
	}
	ts, err := newTimestamp(j.TSA, proof, signed, token)
	if err != nil {
		return err
	}
	c.Timestamp = ts
	return nil
}

func newTimestamp(tsa string, proof [][]byte, signed, token []byte) (*Timestamp, error) {
	if len(token) == 0 || len(token) > MaxTimestampToken {
		return nil, fmt.Errorf("%w: timestamp token of %d bytes, want 1 to %d", ErrMalformed, len(token), MaxTimestampToken)
	}
	if len(proof) > merkle.MaxProofLen {
		return nil, fmt.Errorf("%w: %d timestamp proof hashes, at most %d", ErrMalformed, len(proof), merkle.MaxProofLen)
	}
	for i, h := range proof {
		if len(h) != merkle.HashSize {
			return nil, fmt.Errorf("%w: timestamp proof hash %d has %d bytes", ErrMalformed, i, len(h))
		}
	}
	if len(signed) > checkpoint.MaxNoteSize {
		return nil, fmt.Errorf("%w: stamped head of %d bytes", ErrMalformed, len(signed))
	}
	head, err := checkpoint.ParseUnverified(signed)
	if err != nil {
		return nil, fmt.Errorf("%w: stamped head: %w", ErrMalformed, err)
	}
	return &Timestamp{TSA: tsa, Proof: cloneHashes(proof), SignedHead: bytes.Clone(signed), Head: head, Token: bytes.Clone(token)}, nil
}

// WithTimestamp returns a copy of c carrying the timestamp of a stamped
// head of the entry's court that covers the entry. It checks that the
// parts fit (the head is of the entry's court and covers it, the proof
// leads to its root); it verifies no signature.
func (c *Certificate) WithTimestamp(tsa string, proof [][]byte, signedHead, token []byte) (*Certificate, error) {
	ts, err := newTimestamp(tsa, proof, signedHead, token)
	if err != nil {
		return nil, fmt.Errorf("certificate: timestamp: %w", err)
	}
	if err := ts.checkProof(c); err != nil {
		return nil, fmt.Errorf("certificate: timestamp: %w", err)
	}
	out := *c
	out.Timestamp = ts
	return &out, nil
}

func (t *Timestamp) checkProof(c *Certificate) error {
	if t.Head.Origin != c.Entry.Court {
		return fmt.Errorf("%w: the stamped head is of court %q, the entry of %q", errCourtMismatch, t.Head.Origin, c.Entry.Court)
	}
	if c.Entry.Index >= t.Head.Size {
		return fmt.Errorf("%w: the stamped head of %d entries does not cover position %d", errNotCovered, t.Head.Size, c.Entry.Index)
	}
	return merkle.VerifyInclusion(c.Entry.Index, t.Head.Size, merkle.LeafHash(c.EntryBytes), t.Proof, t.Head.Root)
}

// checkTimestamp verifies c's timestamp, if it has one, into d. A
// timestamp that does not verify is an error (the verdict is INVALID
// PROOF): a certificate must not show a time it cannot prove. Without a
// checker (no TSA anchors in the trust file) the token is reported, not
// checked.
func (v *Verifier) checkTimestamp(c *Certificate, d *Details) error {
	t := c.Timestamp
	if t == nil {
		return nil
	}
	td := &TimestampDetails{TSA: t.TSA, HeadSize: t.Head.Size, HeadTime: t.Head.Time}
	d.Timestamp = td
	court := v.courts[c.Head.Origin]
	if _, _, err := checkpoint.OpenAny(t.SignedHead, court); err != nil {
		return fmt.Errorf("the stamped head of %d entries is not signed by court %s under a key of the trust file: %w", t.Head.Size, c.Head.Origin, err)
	}
	if err := t.checkProof(c); err != nil {
		return fmt.Errorf("the timestamp's inclusion proof does not lead from the entry to the stamped head: %w", err)
	}
	if v.timestamps == nil {
		td.Note = "the trust file holds no TSA certificate: the timestamp token was not checked"
		return nil
	}
	text, err := StampedText(t.SignedHead)
	if err != nil {
		return err
	}
	info, err := v.timestamps(t.Token, text, t.Head.Time)
	if err != nil {
		return fmt.Errorf("the timestamp token of %s does not verify: %w", t.TSA, err)
	}
	td.Signer, td.Time, td.Verified = info.TSA, info.Time, true
	return nil
}
