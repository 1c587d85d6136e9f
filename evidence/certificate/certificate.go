package certificate

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

const (
	// Format is the value of the "format" member of every certificate.
	Format = "courtledger.certificate/v1"
	// IDLen is the length of a certificate ID in hex digits.
	IDLen = 32
	// MaxSize bounds the JSON of a certificate: the largest entry in base64,
	// the longest proof and the largest signed head fit with room to spare.
	MaxSize = 64 << 10

	idTag = "certificate-id/v1"
)

// ErrMalformed is wrapped by every decoding failure.
var ErrMalformed = errors.New("certificate: malformed")

// Certificate is a proof certificate. Build one with Issue or Unmarshal;
// both check that its parts fit together, so the fields of a Certificate
// in hand are consistent (though not yet verified against any key).
type Certificate struct {
	ID         string    // derived from the rest, see the package comment
	IssuedBy   string    // the court that issued it
	IssuedAt   time.Time // UTC, to the millisecond
	Entry      evidence.Entry
	EntryBytes []byte   // canonical bytes of Entry, the leaf data
	Proof      [][]byte // inclusion proof of Entry.Index under Head
	SignedHead []byte   // the origin court's signed note, with cosignature lines
	Head       checkpoint.TreeHead

	rep repeated // as decoded, for checkRepeated; zero for an issued certificate
}

// Input is what a court feeds Issue: values read from its own ledger or,
// for another court's evidence, from its mirror of that court's log.
type Input struct {
	Entry      []byte   // canonical entry bytes
	Index      uint64   // the entry's index in the origin court's log
	Proof      [][]byte // inclusion proof of Index in the tree of the head's size
	SignedHead []byte   // the origin court's signed tree head, 0..n cosignature lines
	IssuedBy   string   // court ID of the issuer
	IssuedAt   time.Time
}

// Issue builds a certificate from in. It checks that the parts fit (the
// entry decodes, its index and court match the head, the proof leads to the
// head's root) so that a court never hands out a certificate that fails for
// its own fault; it does not check signatures, which the issuer made or
// checked when it stored the head.
func Issue(in Input) (*Certificate, error) {
	if !evidence.ValidCourtID(in.IssuedBy) {
		return nil, fmt.Errorf("certificate: issuer %q is not a court ID", in.IssuedBy)
	}
	c, err := assemble(in.IssuedBy, in.IssuedAt.UTC().Truncate(time.Millisecond), in.Entry, in.Index, in.Proof, in.SignedHead)
	if err != nil {
		return nil, fmt.Errorf("certificate: issue: %w", err)
	}
	if err := c.checkProof(); err != nil {
		return nil, fmt.Errorf("certificate: issue: %w", err)
	}
	c.ID = c.computeID()
	c.rep = repeated{c.ID, c.Entry.EvidenceID, hex.EncodeToString(c.Entry.Submission.Fingerprint[:])}
	return c, nil
}

// assemble decodes and cross-checks the parts without verifying anything
// cryptographic.
func assemble(issuer string, at time.Time, entry []byte, index uint64, proof [][]byte, signed []byte) (*Certificate, error) {
	e, err := evidence.UnmarshalEntry(entry)
	if err != nil {
		return nil, fmt.Errorf("%w: entry: %w", ErrMalformed, err)
	}
	if e.Index != index {
		return nil, fmt.Errorf("%w: proof is for index %d, entry is at %d", ErrMalformed, index, e.Index)
	}
	if len(proof) > merkle.MaxProofLen {
		return nil, fmt.Errorf("%w: %d proof hashes, at most %d", ErrMalformed, len(proof), merkle.MaxProofLen)
	}
	for i, h := range proof {
		if len(h) != merkle.HashSize {
			return nil, fmt.Errorf("%w: proof hash %d has %d bytes", ErrMalformed, i, len(h))
		}
	}
	head, err := checkpoint.ParseUnverified(signed)
	if err != nil {
		return nil, fmt.Errorf("%w: tree head: %w", ErrMalformed, err)
	}
	if _, err := checkpoint.Signatures(signed); err != nil {
		return nil, fmt.Errorf("%w: tree head: %w", ErrMalformed, err)
	}
	if len(signed) > checkpoint.MaxNoteSize {
		return nil, fmt.Errorf("%w: tree head of %d bytes", ErrMalformed, len(signed))
	}
	return &Certificate{
		IssuedBy: issuer, IssuedAt: at, Entry: *e, EntryBytes: bytes.Clone(entry),
		Proof: cloneHashes(proof), SignedHead: bytes.Clone(signed), Head: head,
	}, nil
}

func cloneHashes(p [][]byte) [][]byte {
	out := make([][]byte, len(p))
	for i, h := range p {
		out[i] = bytes.Clone(h)
	}
	return out
}

// Errors of the proof check, so Verify can tell its verdicts apart.
var (
	errCourtMismatch = errors.New("entry and tree head are of different courts")
	errNotCovered    = errors.New("tree head does not cover the entry")
)

func (c *Certificate) checkProof() error {
	if c.Entry.Court != c.Head.Origin {
		return fmt.Errorf("%w: entry of %q under head of %q", errCourtMismatch, c.Entry.Court, c.Head.Origin)
	}
	if c.Entry.Index >= c.Head.Size {
		return fmt.Errorf("%w: position %d in a log of %d entries", errNotCovered, c.Entry.Index, c.Head.Size)
	}
	return merkle.VerifyInclusion(c.Entry.Index, c.Head.Size, merkle.LeafHash(c.EntryBytes), c.Proof, c.Head.Root)
}

// TlogProof returns the proof part as C2SP tlog-proof text.
func (c *Certificate) TlogProof() []byte {
	return marshalTlogProof(c.Entry.Index, c.Proof, c.SignedHead)
}

func (c *Certificate) computeID() string {
	return computeID(c.IssuedBy, c.IssuedAt, c.EntryBytes, c.TlogProof())
}

func computeID(issuer string, at time.Time, entry, proof []byte) string {
	b := make([]byte, 0, 64+len(issuer)+len(entry)+len(proof))
	b = appendBytes(b, []byte(idTag))
	b = appendBytes(b, []byte(issuer))
	b = binary.BigEndian.AppendUint64(b, uint64(at.UnixMilli()))
	b = appendBytes(b, entry)
	b = appendBytes(b, proof)
	sum := sm3.Sum(b)
	return hex.EncodeToString(sum[:IDLen/2])
}

func appendBytes(b, p []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
	return append(b, p...)
}

// jsonCertificate fixes the members and their order.
type jsonCertificate struct {
	Format        string `json:"format"`
	CertificateID string `json:"certificate_id"`
	IssuedBy      string `json:"issued_by"`
	IssuedAt      string `json:"issued_at"`
	EvidenceID    string `json:"evidence_id"`
	Fingerprint   string `json:"fingerprint"`
	Entry         string `json:"entry"`
	TlogProof     string `json:"tlog_proof"`
}

// formatTime writes t as protojson writes a google.protobuf.Timestamp of
// whole milliseconds: no fraction when there is none, else three digits.
func formatTime(t time.Time) string {
	t = t.UTC()
	if ms := t.Nanosecond() / 1e6; ms != 0 {
		return t.Format("2006-01-02T15:04:05") + fmt.Sprintf(".%03dZ", ms)
	}
	return t.Format("2006-01-02T15:04:05Z")
}

// Marshal returns the certificate's JSON (see the package comment): the
// same bytes for the same certificate, indented for people, ending in a
// newline.
func (c *Certificate) Marshal() []byte {
	j := jsonCertificate{
		Format:        Format,
		CertificateID: c.ID,
		IssuedBy:      c.IssuedBy,
		IssuedAt:      formatTime(c.IssuedAt),
		EvidenceID:    c.Entry.EvidenceID,
		Fingerprint:   hex.EncodeToString(c.Entry.Submission.Fingerprint[:]),
		Entry:         base64.StdEncoding.EncodeToString(c.EntryBytes),
		TlogProof:     string(c.TlogProof()),
	}
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		// Only strings, which always marshal.
		panic("certificate: marshal: " + err.Error())
	}
	return append(b, '\n')
}

// Unmarshal decodes a certificate's JSON and checks that its parts fit
// together and that the repeated members (certificate ID, evidence ID,
// fingerprint) agree with the entry. It verifies no signature and no proof:
// that is Verify's job. Every failure wraps ErrMalformed, except a
// mismatch of the repeated members, which wraps ErrAltered.
func Unmarshal(b []byte) (*Certificate, error) {
	c, err := decode(b)
	if err != nil {
		return nil, err
	}
	if err := c.checkRepeated(); err != nil {
		return nil, err
	}
	return c, nil
}

// ErrAltered says a certificate's derived members disagree with its
// contents: it was edited after it was issued.
var ErrAltered = errors.New("certificate: altered after issue")

// repeated holds the members of the JSON that repeat or derive from the
// rest, kept by decode for checkRepeated.
type repeated struct{ id, evidenceID, fingerprint string }

// decode parses the JSON and assembles its parts; the repeated members are
// kept, unchecked, so that Verify can first say what the cryptography says.
func decode(b []byte) (*Certificate, error) {
	c, rep, err := decodeParts(b)
	if err != nil {
		return nil, err
	}
	c.ID, c.rep = rep.id, rep
	return c, nil
}

func decodeParts(b []byte) (*Certificate, repeated, error) {
	if len(b) > MaxSize {
		return nil, repeated{}, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(b), MaxSize)
	}
	var j jsonCertificate
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, repeated{}, fmt.Errorf("%w: JSON: %w", ErrMalformed, err)
	}
	if dec.More() {
		return nil, repeated{}, fmt.Errorf("%w: data after the JSON object", ErrMalformed)
	}
	if j.Format != Format {
		return nil, repeated{}, fmt.Errorf("%w: format %q, want %q", ErrMalformed, clip(j.Format), Format)
	}
	if !evidence.ValidCourtID(j.IssuedBy) {
		return nil, repeated{}, fmt.Errorf("%w: issued_by %q is not a court ID", ErrMalformed, clip(j.IssuedBy))
	}
	at, err := time.Parse(time.RFC3339Nano, j.IssuedAt)
	if err != nil || !strings.HasSuffix(j.IssuedAt, "Z") || at.Nanosecond()%1e6 != 0 {
		return nil, repeated{}, fmt.Errorf("%w: issued_at %q is not an RFC 3339 UTC time in milliseconds", ErrMalformed, clip(j.IssuedAt))
	}
	entry, err := base64.StdEncoding.Strict().DecodeString(j.Entry)
	if err != nil {
		return nil, repeated{}, fmt.Errorf("%w: entry is not standard base64: %w", ErrMalformed, err)
	}
	index, proof, signed, err := parseTlogProof([]byte(j.TlogProof))
	if err != nil {
		return nil, repeated{}, err
	}
	c, err := assemble(j.IssuedBy, at.UTC(), entry, index, proof, signed)
	if err != nil {
		return nil, repeated{}, err
	}
	return c, repeated{j.CertificateID, j.EvidenceID, j.Fingerprint}, nil
}

func (c *Certificate) checkRepeated() error {
	switch fp := hex.EncodeToString(c.Entry.Submission.Fingerprint[:]); {
	case c.rep.evidenceID != c.Entry.EvidenceID:
		return fmt.Errorf("%w: evidence_id %q, the entry's is %q", ErrAltered, clip(c.rep.evidenceID), c.Entry.EvidenceID)
	case c.rep.fingerprint != fp:
		return fmt.Errorf("%w: fingerprint %q, the entry's is %q", ErrAltered, clip(c.rep.fingerprint), fp)
	case c.rep.id != c.computeID():
		return fmt.Errorf("%w: certificate_id %q does not match its contents (%s)", ErrAltered, clip(c.rep.id), c.computeID())
	}
	return nil
}

// clip shortens untrusted text quoted in an error.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
