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
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

const (
	// Format is the value of the "format" member of a certificate issued
	// now: signed by its issuer.
	Format = "courtledger.certificate/v2"
	// FormatV1 is the format of certificates issued before they were
	// signed; they are still verified, their issuer and time of issue
	// reported as unverified.
	FormatV1 = "courtledger.certificate/v1"
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
	Version    int       // 2, or 1 for a certificate of FormatV1 (unsigned)
	ID         string    // derived from the rest, see the package comment
	IssuedBy   string    // the court that issued it
	IssuedAt   time.Time // UTC, to the millisecond
	Entry      evidence.Entry
	EntryBytes []byte   // canonical bytes of Entry, the leaf data
	Proof      [][]byte // inclusion proof of Entry.Index under Head
	SignedHead []byte   // the origin court's signed note, with cosignature lines
	Head       checkpoint.TreeHead
	// Platform is where the filer's key comes from, as the issuer states it
	// (version 2; nil if the issuer does not hold the registration, as for
	// another court's evidence it mirrors).
	Platform *PlatformKey
	// IssuerKeyID and IssuerSignature are the issuing court's SM2 signature
	// over SignedBytes (version 2): the key ID of its trust file line and the
	// DER signature.
	IssuerKeyID     uint32
	IssuerSignature []byte
	// Timestamp is a TSA's token over a stamped head covering the entry,
	// if the court had one when it issued the certificate (timestamp.go);
	// it stands outside SignedBytes and the ID.
	Timestamp *Timestamp

	rep repeated // as decoded, for checkRepeated; zero for an issued certificate
}

// PlatformKey is a platform's registration at a court: the key its
// submissions there are signed with.
type PlatformKey struct {
	Court        string         // where the platform registered: the entry's court
	RegisteredAt time.Time      // to the millisecond
	Key          *sm2.PublicKey // the registered SM2 key
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
	// Signer is the issuing court's key, the one its trust file line
	// holds; required: it signs the certificate.
	Signer *sm2.PrivateKey
	// PlatformKeyOf, if set, returns the registration of the platform that
	// filed the entry at the entry's court, or nil if the issuer does not
	// hold it (another court's registry). It is stated in the certificate
	// only if the entry's signature verifies under its key.
	PlatformKeyOf func(court, platform string) (*PlatformKey, error)
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
	if in.Signer == nil {
		return nil, errors.New("certificate: issue: no Signer: a certificate is signed by the court that issues it")
	}
	c, err := assemble(in.IssuedBy, in.IssuedAt.UTC().Truncate(time.Millisecond), in.Entry, in.Index, in.Proof, in.SignedHead)
	if err != nil {
		return nil, fmt.Errorf("certificate: issue: %w", err)
	}
	if err := c.checkProof(); err != nil {
		return nil, fmt.Errorf("certificate: issue: %w", err)
	}
	c.Version = 2
	if in.PlatformKeyOf != nil {
		pk, err := in.PlatformKeyOf(c.Entry.Court, c.Entry.Submission.Platform)
		if err != nil {
			return nil, fmt.Errorf("certificate: issue: platform %q: %w", c.Entry.Submission.Platform, err)
		}
		// Stated only if it is the key the entry was signed with: a
		// platform revoked and registered again since has another.
		if pk != nil && pk.Key != nil && pk.Court == c.Entry.Court &&
			c.Entry.VerifySignature(pk.Key) == nil {
			c.Platform = &PlatformKey{Court: pk.Court, RegisteredAt: pk.RegisteredAt.UTC().Truncate(time.Millisecond), Key: pk.Key}
		}
	}
	v, err := checkpoint.NewVerifier(in.IssuedBy, in.Signer.Public())
	if err != nil {
		return nil, fmt.Errorf("certificate: issue: %w", err)
	}
	c.IssuerKeyID = v.KeyHash()
	if c.IssuerSignature, err = in.Signer.Sign(c.SignedBytes()); err != nil {
		return nil, fmt.Errorf("certificate: issue: sign: %w", err)
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
	if c.Version == 1 {
		return computeID(c.IssuedBy, c.IssuedAt, c.EntryBytes, c.TlogProof())
	}
	sum := sm3.Sum(c.SignedBytes())
	return hex.EncodeToString(sum[:IDLen/2])
}

// SignedBytes are what the issuer signs (version 2; see the package
// comment): every member of the certificate but the ID, which derives from
// them, and the issuer's key ID and signature.
func (c *Certificate) SignedBytes() []byte {
	proof := c.TlogProof()
	b := make([]byte, 0, 256+len(c.IssuedBy)+len(c.EntryBytes)+len(proof))
	b = appendBytes(b, []byte(Format))
	b = appendBytes(b, []byte(c.IssuedBy))
	b = binary.BigEndian.AppendUint64(b, uint64(c.IssuedAt.UnixMilli()))
	b = appendBytes(b, c.EntryBytes)
	b = appendBytes(b, proof)
	var (
		court string
		at    uint64
		spki  []byte
	)
	if p := c.Platform; p != nil {
		court, at, spki = p.Court, uint64(p.RegisteredAt.UnixMilli()), p.Key.MarshalPKIX()
	}
	b = appendBytes(b, []byte(court))
	b = binary.BigEndian.AppendUint64(b, at)
	return appendBytes(b, spki)
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

// jsonCertificate fixes the members and their order. The members after
// tlog_proof are version 2's; the platform's are left out when the issuer
// does not state the registration (as protojson leaves out empty fields).
type jsonCertificate struct {
	Format               string  `json:"format"`
	CertificateID        string  `json:"certificate_id"`
	IssuedBy             string  `json:"issued_by"`
	IssuedAt             string  `json:"issued_at"`
	EvidenceID           string  `json:"evidence_id"`
	Fingerprint          string  `json:"fingerprint"`
	Entry                string  `json:"entry"`
	TlogProof            string  `json:"tlog_proof"`
	PlatformCourt        *string `json:"platform_court,omitempty"`
	PlatformRegisteredAt *string `json:"platform_registered_at,omitempty"`
	PlatformKey          *string `json:"platform_key,omitempty"`
	IssuerKeyID          *string `json:"issuer_key_id,omitempty"`
	IssuerSignature      *string `json:"issuer_signature,omitempty"`
	// Timestamp (issue 16) is outside the signed bytes: see timestamp.go.
	Timestamp *jsonTimestamp `json:"timestamp,omitempty"`
}

func ptr(s string) *string { return &s }

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
		Format:        FormatV1,
		CertificateID: c.ID,
		IssuedBy:      c.IssuedBy,
		IssuedAt:      formatTime(c.IssuedAt),
		EvidenceID:    c.Entry.EvidenceID,
		Fingerprint:   hex.EncodeToString(c.Entry.Submission.Fingerprint[:]),
		Entry:         base64.StdEncoding.EncodeToString(c.EntryBytes),
		TlogProof:     string(c.TlogProof()),
	}
	if c.Version != 1 {
		j.Format = Format
		if p := c.Platform; p != nil {
			j.PlatformCourt = ptr(p.Court)
			j.PlatformRegisteredAt = ptr(formatTime(p.RegisteredAt))
			j.PlatformKey = ptr(base64.StdEncoding.EncodeToString(p.Key.MarshalPKIX()))
		}
		j.IssuerKeyID = ptr(fmt.Sprintf("%08x", c.IssuerKeyID))
		j.IssuerSignature = ptr(base64.StdEncoding.EncodeToString(c.IssuerSignature))
	}
	if c.Timestamp != nil {
		j.Timestamp = c.Timestamp.marshal(c.Entry.Index)
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
	version := 2
	switch j.Format {
	case Format:
	case FormatV1:
		version = 1
		if j.PlatformCourt != nil || j.PlatformRegisteredAt != nil || j.PlatformKey != nil || j.IssuerKeyID != nil || j.IssuerSignature != nil {
			return nil, repeated{}, fmt.Errorf("%w: a %s certificate has no platform or issuer signature members", ErrMalformed, FormatV1)
		}
	default:
		return nil, repeated{}, fmt.Errorf("%w: format %q, want %q (or %q)", ErrMalformed, clip(j.Format), Format, FormatV1)
	}
	if !evidence.ValidCourtID(j.IssuedBy) {
		return nil, repeated{}, fmt.Errorf("%w: issued_by %q is not a court ID", ErrMalformed, clip(j.IssuedBy))
	}
	at, err := parseTime(j.IssuedAt)
	if err != nil {
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
	c.Version = version
	if version == 2 {
		if err := decodeV2(c, &j); err != nil {
			return nil, repeated{}, err
		}
	}
	if j.Timestamp != nil {
		if err := decodeTimestamp(c, j.Timestamp); err != nil {
			return nil, repeated{}, err
		}
	}
	return c, repeated{j.CertificateID, j.EvidenceID, j.Fingerprint}, nil
}

// decodeV2 reads version 2's members: the platform's registration (all
// three or none) and the issuer's key ID and signature (required).
func decodeV2(c *Certificate, j *jsonCertificate) error {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	court, regAt, key := str(j.PlatformCourt), str(j.PlatformRegisteredAt), str(j.PlatformKey)
	switch {
	case court == "" && regAt == "" && key == "":
	case court == "" || regAt == "" || key == "":
		return fmt.Errorf("%w: platform_court, platform_registered_at and platform_key go together", ErrMalformed)
	default:
		if !evidence.ValidCourtID(court) {
			return fmt.Errorf("%w: platform_court %q is not a court ID", ErrMalformed, clip(court))
		}
		at, err := parseTime(regAt)
		if err != nil {
			return fmt.Errorf("%w: platform_registered_at %q is not an RFC 3339 UTC time in milliseconds", ErrMalformed, clip(regAt))
		}
		der, err := base64.StdEncoding.Strict().DecodeString(key)
		if err != nil {
			return fmt.Errorf("%w: platform_key is not standard base64: %w", ErrMalformed, err)
		}
		pub, err := sm2.ParsePublicKeyDER(der)
		if err != nil {
			return fmt.Errorf("%w: platform_key: %w", ErrMalformed, err)
		}
		// Only the canonical DER, so the signed bytes are what was decoded.
		if !bytes.Equal(pub.MarshalPKIX(), der) {
			return fmt.Errorf("%w: platform_key is not a canonical SubjectPublicKeyInfo", ErrMalformed)
		}
		c.Platform = &PlatformKey{Court: court, RegisteredAt: at, Key: pub}
	}
	kid, sig := str(j.IssuerKeyID), str(j.IssuerSignature)
	if kid == "" || sig == "" {
		return fmt.Errorf("%w: a %s certificate must carry issuer_key_id and issuer_signature", ErrMalformed, Format)
	}
	raw, err := hex.DecodeString(kid)
	if err != nil || len(raw) != 4 || kid != strings.ToLower(kid) {
		return fmt.Errorf("%w: issuer_key_id %q is not 8 lowercase hex digits", ErrMalformed, clip(kid))
	}
	c.IssuerKeyID = binary.BigEndian.Uint32(raw)
	if c.IssuerSignature, err = base64.StdEncoding.Strict().DecodeString(sig); err != nil {
		return fmt.Errorf("%w: issuer_signature is not standard base64: %w", ErrMalformed, err)
	}
	if len(c.IssuerSignature) > sm2.MaxSignatureSize {
		return fmt.Errorf("%w: issuer_signature of %d bytes, at most %d", ErrMalformed, len(c.IssuerSignature), sm2.MaxSignatureSize)
	}
	return nil
}

// parseTime reads an RFC 3339 UTC time of whole milliseconds.
func parseTime(s string) (time.Time, error) {
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || !strings.HasSuffix(s, "Z") || at.Nanosecond()%1e6 != 0 {
		return time.Time{}, fmt.Errorf("not an RFC 3339 UTC time in milliseconds")
	}
	return at.UTC(), nil
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
