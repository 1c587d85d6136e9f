package certificate

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/evidence"
)

// Verdict is the outcome of checking a certificate.
type Verdict int

// The verdicts, from the one a court hopes for to the worst-formed input.
const (
	// Valid: the court's signed log holds the entry, and the file (if
	// given) is the one recorded.
	Valid Verdict = iota
	// Tampered: the certificate is sound, but the file at hand has another
	// fingerprint than the one recorded.
	Tampered
	// NotRecorded: the court's signed tree does not contain the entry (its
	// position lies beyond the tree), or, at trial, the ledger holds no such
	// fingerprint or evidence ID.
	NotRecorded
	// Untrusted: the tree head is not signed by a court key in the trust
	// file, or too few trusted witnesses cosigned it.
	Untrusted
	// InvalidProof: a signature by a trusted key does not verify, or the
	// inclusion proof does not lead from the entry to the signed root.
	InvalidProof
	// Malformed: not a certificate: truncated, not JSON, bad encodings, or
	// derived members that disagree with its contents.
	Malformed
)

var verdictNames = [...]struct{ en, zh string }{
	Valid:        {"VALID", "有效"},
	Tampered:     {"TAMPERED", "文件已被篡改"},
	NotRecorded:  {"NOT RECORDED", "未存证"},
	Untrusted:    {"UNTRUSTED", "签名密钥不受信任"},
	InvalidProof: {"INVALID PROOF", "证明无效"},
	Malformed:    {"MALFORMED", "格式错误"},
}

func (v Verdict) String() string {
	if v < 0 || int(v) >= len(verdictNames) {
		return fmt.Sprintf("Verdict(%d)", int(v))
	}
	return verdictNames[v].en
}

// Chinese is the verdict as a Chinese court reads it.
func (v Verdict) Chinese() string {
	if v < 0 || int(v) >= len(verdictNames) {
		return ""
	}
	return verdictNames[v].zh
}

// ParseVerdict is the inverse of String.
func ParseVerdict(s string) (Verdict, error) {
	for v, n := range verdictNames {
		if n.en == s {
			return Verdict(v), nil
		}
	}
	return 0, fmt.Errorf("certificate: unknown verdict %q", s)
}

// Witness is one cosignature line on the certificate's tree head.
type Witness struct {
	Court      string    `json:"court"`
	KeyID      string    `json:"key_id"`               // 8 hex digits
	CosignedAt time.Time `json:"cosigned_at,omitzero"` // when the witness checked the head; zero for a line that is no cosignature
	// Trusted: the witness's key is in the trust file and its cosignature
	// verifies. An untrusted witness is reported, never counted.
	Trusted bool `json:"trusted"`
}

// Details are what a certificate says, filled in as far as it could be
// decoded; they are proven only if the verdict is Valid or Tampered, and
// IssuedBy, IssuedAt and PlatformKey only if IssuerVerified as well.
type Details struct {
	CertificateID string    `json:"certificate_id,omitempty"`
	IssuedBy      string    `json:"issued_by,omitempty"`
	IssuedAt      time.Time `json:"issued_at,omitzero"`
	// IssuerVerified: the issuing court's signature over the certificate
	// verifies under its key in the trust file. Otherwise IssuerNote says
	// why not, and issued_by and issued_at are what the file claims.
	IssuerVerified bool   `json:"issuer_verified"`
	IssuerNote     string `json:"issuer_note,omitempty"`
	// PlatformKey is where the filer's key comes from, as the issuer
	// states it; PlatformSigned: the platform's signature over the
	// submission verifies under it.
	PlatformKey    *PlatformKeyDetails `json:"platform_key,omitempty"`
	PlatformSigned bool                `json:"platform_signed"`
	// Batch is set when the submission was filed in a signed batch: the
	// platform signed the batch's header, whose root the submission's path
	// leads to (checked on decoding), not the submission alone.
	Batch       *BatchDetails `json:"batch,omitempty"`
	Court       string        `json:"court,omitempty"` // origin court of the entry
	EvidenceID  string        `json:"evidence_id,omitempty"`
	Index       uint64        `json:"index"`
	TreeSize    uint64        `json:"tree_size,omitempty"`
	HeadTime    time.Time     `json:"head_time,omitzero"`
	RecordedAt  time.Time     `json:"recorded_at,omitzero"` // the entry's accepted-at
	Platform    string        `json:"platform,omitempty"`
	RequestID   string        `json:"request_id,omitempty"`
	Category    string        `json:"category,omitempty"`
	Title       string        `json:"title,omitempty"`
	Fingerprint string        `json:"fingerprint,omitempty"`
	Witnesses   []Witness     `json:"witnesses,omitempty"`
	// Timestamp is the certificate's trusted time, if it carries one.
	Timestamp *TimestampDetails `json:"timestamp,omitempty"`
}

// BatchDetails is the signed batch a submission was filed in.
type BatchDetails struct {
	BatchID  string    `json:"batch_id"`
	Leaf     uint32    `json:"leaf"`  // the submission's place in the batch, from 0
	Count    uint32    `json:"count"` // submissions in the batch
	SignedAt time.Time `json:"signed_at"`
	Root     string    `json:"root"` // hex
}

// PlatformKeyDetails is a platform's registration as a certificate states it.
type PlatformKeyDetails struct {
	Court        string    `json:"court"`
	RegisteredAt time.Time `json:"registered_at"`
	SPKI         string    `json:"spki"` // standard base64 of the SubjectPublicKeyInfo DER
}

// Result is the outcome of Verify: a verdict a program acts on, a reason a
// person reads, the error behind it (nil if Valid) and the details.
type Result struct {
	Verdict Verdict `json:"-"`
	Reason  string  `json:"reason"`
	Err     error   `json:"-"`
	Details Details `json:"details"`
}

// Policy says what one Verify call checks beyond the certificate itself.
type Policy struct {
	// Fingerprint, if set, is the SM3 of the file presented: it must be the
	// recorded fingerprint, or the verdict is Tampered.
	Fingerprint *evidence.Fingerprint
	// MinWitnesses is how many trusted witnesses (other courts in the trust
	// file) must have cosigned the head; fewer gives Untrusted.
	MinWitnesses int
}

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	Trust *Trust // required: the courts' keys
	// Timestamps checks RFC 3161 tokens against the TSA anchors; nil
	// reports a certificate's timestamp without checking it.
	Timestamps TimestampChecker
}

// Verifier checks certificates against one trust file.
type Verifier struct {
	trust *Trust
	// courts and cosigners hold every trusted court's keys, as head keys
	// and as witness keys.
	courts     map[string][]note.Verifier
	cosigners  map[string][]note.Verifier
	timestamps TimestampChecker
}

// NewVerifier returns a verifier trusting cfg.Trust.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Trust == nil {
		return nil, errors.New("certificate: verifier: Trust is required")
	}
	v := &Verifier{trust: cfg.Trust, courts: map[string][]note.Verifier{}, cosigners: map[string][]note.Verifier{}, timestamps: cfg.Timestamps}
	for _, id := range cfg.Trust.Courts() {
		keys, _ := cfg.Trust.Court(id)
		for _, k := range keys {
			cv, err := checkpoint.NewCosignatureVerifier(id, k.PublicKey())
			if err != nil {
				return nil, fmt.Errorf("certificate: verifier: %w", err)
			}
			v.courts[id] = append(v.courts[id], k)
			v.cosigners[id] = append(v.cosigners[id], cv)
		}
	}
	return v, nil
}

// Verify decodes a certificate's JSON and checks it under p; it never
// panics and never does I/O.
func (v *Verifier) Verify(certJSON []byte, p Policy) Result {
	c, err := decode(certJSON)
	if err != nil {
		return Result{Verdict: Malformed, Reason: "not a valid certificate: " + err.Error(), Err: err}
	}
	return v.VerifyCertificate(c, p)
}

// VerifyCertificate checks a decoded certificate under p. The checks run
// in the order of the verdicts' gravity for a court: first whether the
// court's log (under a trusted key) proves the entry, then whether the
// certificate was edited after issue, then whether the file at hand is the
// recorded one.
func (v *Verifier) VerifyCertificate(c *Certificate, p Policy) Result {
	r := Result{Details: detailsOf(c)}
	fail := func(verdict Verdict, err error, reason string, args ...any) Result {
		r.Verdict, r.Err, r.Reason = verdict, err, fmt.Sprintf(reason, args...)
		return r
	}
	origin := c.Head.Origin
	court, ok := v.courts[origin]
	if !ok {
		return fail(Untrusted, fmt.Errorf("court %q not in trust file", origin),
			"the tree head is signed as court %s, whose key is not in the trust file", origin)
	}
	var others []note.Verifier
	for id, cvs := range v.cosigners {
		if id != origin {
			others = append(others, cvs...)
		}
	}
	_, n, err := checkpoint.OpenAny(c.SignedHead, court, others...)
	if err != nil {
		var bad *note.InvalidSignatureError
		switch {
		case errors.As(err, &bad) && bad.Name == origin:
			return fail(InvalidProof, err, "the signature of court %s on the tree head does not verify", origin)
		case errors.As(err, &bad):
			return fail(InvalidProof, err, "the cosignature of witness %s on the tree head does not verify", bad.Name)
		case errors.Is(err, checkpoint.ErrSignature):
			return fail(Untrusted, err, "the tree head is not signed with court %s's key in the trust file (key ID %s)", origin, keyIDs(court))
		default:
			return fail(Malformed, err, "the tree head cannot be read: %v", err)
		}
	}
	r.Details.Witnesses = witnesses(c, n)
	if err := c.checkProof(); err != nil {
		switch {
		case errors.Is(err, errNotCovered):
			return fail(NotRecorded, err, "court %s's signed log of %d entries does not contain position %d", origin, c.Head.Size, c.Entry.Index)
		case errors.Is(err, errCourtMismatch):
			return fail(InvalidProof, err, "the entry is of court %s but the tree head is of court %s", c.Entry.Court, origin)
		default:
			return fail(InvalidProof, err, "the inclusion proof does not lead from the entry to the root signed by court %s", origin)
		}
	}
	if err := c.checkRepeated(); err != nil {
		return fail(Malformed, err, "the certificate was edited after it was issued: %v", err)
	}
	if err := v.checkIssuer(c, &r.Details); err != nil {
		return fail(InvalidProof, err, "%v", err)
	}
	if err := v.checkTimestamp(c, &r.Details); err != nil {
		return fail(InvalidProof, err, "%v", err)
	}
	if r.Details.IssuerVerified && c.Platform != nil {
		if err := c.Entry.VerifySignature(c.Platform.Key); err != nil {
			what := "the submission"
			if b := c.Entry.Batch; b != nil {
				what = fmt.Sprintf("batch %s, which holds the submission as entry %d of %d,", b.Header.BatchID, b.Leaf+1, b.Header.Count)
			}
			return fail(InvalidProof, err, "the platform %s's signature over %s does not verify under the key court %s states was registered at %s",
				c.Entry.Submission.Platform, what, c.IssuedBy, c.Platform.Court)
		}
		r.Details.PlatformSigned = true
	}
	// A court counts once, even if it cosigned the head with two of its keys
	// (before and after rotating).
	trustedBy := map[string]bool{}
	for _, w := range r.Details.Witnesses {
		if w.Trusted {
			trustedBy[w.Court] = true
		}
	}
	trusted := len(trustedBy)
	if trusted < p.MinWitnesses {
		return fail(Untrusted, fmt.Errorf("%d trusted witnesses, policy needs %d", trusted, p.MinWitnesses),
			"%d trusted witness court(s) cosigned the tree head, %d required", trusted, p.MinWitnesses)
	}
	if fp := c.Entry.Submission.Fingerprint; p.Fingerprint != nil && *p.Fingerprint != fp {
		return fail(Tampered, fmt.Errorf("fingerprint %x, recorded %x", p.Fingerprint[:], fp[:]),
			"the file's SM3 fingerprint %x differs from the recorded %x", p.Fingerprint[:], fp[:])
	}
	r.Verdict = Valid
	r.Reason = fmt.Sprintf("recorded by court %s at position %d on %s, in its signed log of %d entries",
		origin, c.Entry.Index, c.Entry.AcceptedAt.Format(time.RFC3339), c.Head.Size)
	if p.Fingerprint != nil {
		r.Reason = "the file is the one " + r.Reason
	}
	if t := r.Details.Timestamp; t != nil && t.Verified {
		r.Reason += fmt.Sprintf("; timestamped by %s at %s", t.Signer, t.Time.UTC().Format(time.RFC3339))
	}
	return r
}

// checkIssuer checks the issuing court's signature. A certificate whose
// issuer or issuer key is unknown to the trust file, or of version 1
// (unsigned), still proves its entry; only its issued_by, issued_at and
// platform key stay unverified. A signature that fails under a trusted key
// of the named issuer is an error: the certificate was changed after it
// was issued, or the issuer named is not the one who signed.
func (v *Verifier) checkIssuer(c *Certificate, d *Details) error {
	if c.Version == 1 {
		d.IssuerNote = "a " + FormatV1 + " certificate is not signed by its issuer"
		return nil
	}
	keys, ok := v.trust.Court(c.IssuedBy)
	if !ok {
		d.IssuerNote = fmt.Sprintf("court %s, named as issuer, is not in the trust file", c.IssuedBy)
		return nil
	}
	for _, k := range keys {
		if k.KeyHash() != c.IssuerKeyID {
			continue
		}
		if err := k.PublicKey().Verify(c.SignedBytes(), c.IssuerSignature); err != nil {
			return fmt.Errorf("the signature of the issuing court %s (key %08x) on the certificate does not verify: issued_by, issued_at or the platform's key were changed after issue", c.IssuedBy, c.IssuerKeyID)
		}
		d.IssuerVerified = true
		return nil
	}
	// As with a tree head, an unknown key (one retired before this trust
	// file was written, or none of the court's) cannot vouch; it is not
	// proof of a change either.
	d.IssuerNote = fmt.Sprintf("the certificate is signed with key %08x, which is not one of court %s's keys in the trust file (%s)",
		c.IssuerKeyID, c.IssuedBy, verifierIDs(keys))
	return nil
}

func verifierIDs(keys []*checkpoint.Verifier) string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = fmt.Sprintf("%08x", k.KeyHash())
	}
	return strings.Join(ids, " or ")
}

func keyIDs(keys []note.Verifier) string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = fmt.Sprintf("%08x", k.KeyHash())
	}
	return strings.Join(ids, " or ")
}

func detailsOf(c *Certificate) Details {
	e := c.Entry
	return Details{
		CertificateID: c.ID, IssuedBy: c.IssuedBy, IssuedAt: c.IssuedAt,
		Court: e.Court, EvidenceID: e.EvidenceID, Index: e.Index,
		TreeSize: c.Head.Size, HeadTime: c.Head.Time, RecordedAt: e.AcceptedAt,
		Platform: e.Submission.Platform, RequestID: e.Submission.RequestID,
		Category: string(e.Submission.Category), Title: e.Submission.Title,
		Fingerprint: hex.EncodeToString(e.Submission.Fingerprint[:]),
		PlatformKey: platformDetails(c.Platform),
		Batch:       batchDetails(e.Batch),
	}
}

func batchDetails(b *evidence.BatchFiling) *BatchDetails {
	if b == nil {
		return nil
	}
	return &BatchDetails{BatchID: b.Header.BatchID, Leaf: b.Leaf, Count: b.Header.Count, SignedAt: b.Header.SignedAt,
		Root: hex.EncodeToString(b.Header.Root)}
}

func platformDetails(p *PlatformKey) *PlatformKeyDetails {
	if p == nil {
		return nil
	}
	return &PlatformKeyDetails{Court: p.Court, RegisteredAt: p.RegisteredAt, SPKI: base64.StdEncoding.EncodeToString(p.Key.MarshalPKIX())}
}

// Cosignatures lists the witness cosignature lines on the certificate's
// head (every signature line not by the origin court), as they read, none
// marked trusted: only VerifyCertificate can say which verify.
func (c *Certificate) Cosignatures() []Witness {
	sigs, err := checkpoint.Signatures(c.SignedHead)
	if err != nil {
		return nil // assemble checked them already
	}
	var out []Witness
	for _, s := range sigs {
		if s.Name == c.Head.Origin {
			continue
		}
		w := Witness{Court: s.Name, KeyID: fmt.Sprintf("%08x", s.KeyID)}
		// A line that is no cosignature has no time; read as one, its
		// first bytes would give a date past year 9999.
		if at, err := checkpoint.CosignedAt(s); err == nil && at.Year() <= 9999 {
			w.CosignedAt = at
		}
		out = append(out, w)
	}
	return out
}

// witnesses marks the cosignatures that verified under a trusted key. Only
// theirs has a time: the time of any other line is unsigned as far as the
// verifier knows, and is not shown as if it were proven.
func witnesses(c *Certificate, n *note.Note) []Witness {
	verified := map[string]bool{}
	for _, s := range n.Sigs {
		verified[fmt.Sprintf("%s+%08x", s.Name, s.Hash)] = true
	}
	out := c.Cosignatures()
	for i, w := range out {
		out[i].Trusted = verified[w.Court+"+"+w.KeyID]
		if !out[i].Trusted {
			out[i].CosignedAt = time.Time{}
		}
	}
	return out
}
