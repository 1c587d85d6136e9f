package evidence

import (
	"encoding/hex"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
)

// Bounds on a submission. They keep an entry under MaxEntrySize, so a batch
// of entries has a size known in advance.
const (
	MaxPlatformIDLen = 64
	MaxRequestIDLen  = 128
	MaxTitleBytes    = 768 // 256 CJK characters
	MaxMetadataPairs = 32
	MaxMetadataKey   = 64
	MaxMetadataValue = 1024
	MaxMetadataBytes = 8 << 10 // all keys and values together
	maxCategoryLen   = 32
)

// Timestamps must lie in [2000-01-01, 10000-01-01) UTC; beyond that they are
// typing errors, not times.
var (
	minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Submission encodings. Version 1 names no court, so a signed version 1
// submission could be replayed by anyone to another court where the platform
// is registered; courts refuse it now (CheckCourt) and read it only in
// entries recorded before version 2.
const (
	submissionTagV1 = "evidence-submission/v1"
	submissionTag   = "evidence-submission/v2"
)

// Fingerprint is the SM3 digest of an evidence file.
type Fingerprint = sm3.Digest

// ParseFingerprint parses 64 hexadecimal digits (either case).
func ParseFingerprint(s string) (Fingerprint, error) {
	var fp Fingerprint
	if len(s) != 2*len(fp) {
		return fp, fieldErr("fingerprint", ErrFingerprintLength, "%d characters", len(s))
	}
	if _, err := hex.Decode(fp[:], []byte(s)); err != nil {
		return Fingerprint{}, fieldErr("fingerprint", ErrFingerprintHex, "%v", err)
	}
	return fp, nil
}

// FingerprintFromBytes checks that b is 32 bytes and returns it.
func FingerprintFromBytes(b []byte) (Fingerprint, error) {
	var fp Fingerprint
	if len(b) != len(fp) {
		return fp, fieldErr("fingerprint", ErrFingerprintLength, "%d bytes", len(b))
	}
	copy(fp[:], b)
	return fp, nil
}

// Submission is what a platform asks a court to record, and what it signs.
// The evidence file itself never leaves the platform: only its fingerprint.
type Submission struct {
	Court       string            // the court it is filed with; empty only in version 1
	Platform    string            // the platform's registered ID
	RequestID   string            // the platform's idempotency key
	Fingerprint Fingerprint       // SM3 of the evidence file
	Category    Category          // one of Categories()
	Title       string            // for people: what the evidence is
	Metadata    map[string]string // bounded key/value pairs, e.g. contract number
	SignedAt    time.Time         // when the platform signed; kept to the millisecond
}

// Marshal returns the canonical bytes of s (see the package comment). It
// encodes whatever s holds; call Validate to know it is acceptable.
func (s *Submission) Marshal() []byte {
	e := encoder{b: make([]byte, 0, 256)}
	s.encode(&e)
	return e.b
}

// Version is 2 for a submission that names its court, 1 for one that does
// not (recorded before courts were named).
func (s *Submission) Version() int {
	if s.Court == "" {
		return 1
	}
	return 2
}

func (s *Submission) encode(e *encoder) {
	if s.Court == "" {
		e.str(submissionTagV1)
	} else {
		e.str(submissionTag)
		e.str(s.Court)
	}
	e.str(s.Platform)
	e.str(s.RequestID)
	e.bytes(s.Fingerprint[:])
	e.str(string(s.Category))
	e.str(s.Title)
	keys := make([]string, 0, len(s.Metadata))
	for k := range s.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.u32(uint32(len(keys)))
	for _, k := range keys {
		e.str(k)
		e.str(s.Metadata[k])
	}
	e.u64(uint64(s.SignedAt.UnixMilli()))
}

// UnmarshalSubmission decodes canonical submission bytes and validates their
// format. It does not apply the rules only filing applies (see Validate), so
// that a submission recorded before such a rule still decodes.
func UnmarshalSubmission(b []byte) (*Submission, error) {
	d := decoder{b: b}
	s := decodeSubmission(&d)
	if err := d.finish(); err != nil {
		return nil, err
	}
	if err := s.validateFormat(); err != nil {
		return nil, err
	}
	return s, nil
}

func decodeSubmission(d *decoder) *Submission {
	s := &Submission{}
	switch tag := d.str("tag", len(submissionTag)); {
	case d.err != nil:
	case tag == submissionTag:
		// Version 2 always names a court: an empty one would re-encode as
		// version 1, so it is not canonical.
		if s.Court = d.str("court", MaxCourtIDLen); d.err == nil && s.Court == "" {
			d.fail("version 2 submission with an empty court")
		}
	case tag == submissionTagV1:
	default:
		d.fail("tag %q, want %q or %q", tag, submissionTag, submissionTagV1)
	}
	s.Platform = d.str("platform", MaxPlatformIDLen)
	s.RequestID = d.str("request ID", MaxRequestIDLen)
	if fp := d.bytes("fingerprint", len(s.Fingerprint)); d.err == nil {
		if len(fp) != len(s.Fingerprint) {
			d.fail("fingerprint of %d bytes", len(fp))
		}
		copy(s.Fingerprint[:], fp)
	}
	s.Category = Category(d.str("category", maxCategoryLen))
	s.Title = d.str("title", MaxTitleBytes)
	n := d.u32("metadata count")
	if n > MaxMetadataPairs {
		d.fail("%d metadata pairs, at most %d", n, MaxMetadataPairs)
	}
	if d.err == nil && n > 0 {
		s.Metadata = make(map[string]string, n)
		prev := ""
		for i := uint32(0); i < n && d.err == nil; i++ {
			k := d.str("metadata key", MaxMetadataKey)
			v := d.str("metadata value", MaxMetadataValue)
			if i > 0 && k <= prev {
				d.fail("metadata key %q after %q: keys must be strictly increasing", k, prev)
			}
			s.Metadata[k], prev = v, k
		}
	}
	s.SignedAt = msTime(d.u64("signed-at"))
	return s
}

// msTime turns an encoded u64 of milliseconds into a time; values beyond
// int64 become negative and fail the timestamp check.
func msTime(ms uint64) time.Time { return time.UnixMilli(int64(ms)).UTC() }

// Validate checks every field's format and bound, and the rules for filing:
// a title with a visible character, and no invisible or direction-changing
// characters in the title or metadata (ErrInvisibleChar). It does not check
// the signature or the time against a clock: see Check.
func (s *Submission) Validate() error {
	if err := s.validateFormat(); err != nil {
		return err
	}
	return s.checkFiling()
}

// checkFiling applies the rules a court applies to what it accepts from
// now on but not to what it recorded before them, so entries already in a
// ledger keep decoding, verifying and printing (with their invisible
// characters shown as code points, see evidence/certpdf).
func (s *Submission) checkFiling() error {
	if strings.TrimSpace(s.Title) == "" {
		return fieldErr("title", ErrTitleEmpty, "only white space; give a title a reader can see, such as the file's name")
	}
	if err := checkVisible("title", s.Title); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(s.Metadata)) {
		if err := checkVisible("metadata["+k+"]", s.Metadata[k]); err != nil {
			return err
		}
	}
	return nil
}

// invisibleNames names the format characters most often pasted into text by
// accident or on purpose; others are named by their code point alone.
var invisibleNames = map[rune]string{
	0x00AD: "SOFT HYPHEN",
	0x061C: "ARABIC LETTER MARK",
	0x200B: "ZERO WIDTH SPACE", 0x200C: "ZERO WIDTH NON-JOINER", 0x200D: "ZERO WIDTH JOINER",
	0x200E: "LEFT-TO-RIGHT MARK", 0x200F: "RIGHT-TO-LEFT MARK",
	0x202A: "LEFT-TO-RIGHT EMBEDDING", 0x202B: "RIGHT-TO-LEFT EMBEDDING", 0x202C: "POP DIRECTIONAL FORMATTING",
	0x202D: "LEFT-TO-RIGHT OVERRIDE", 0x202E: "RIGHT-TO-LEFT OVERRIDE",
	0x2060: "WORD JOINER",
	0x2066: "LEFT-TO-RIGHT ISOLATE", 0x2067: "RIGHT-TO-LEFT ISOLATE", 0x2068: "FIRST STRONG ISOLATE", 0x2069: "POP DIRECTIONAL ISOLATE",
	0xFEFF: "ZERO WIDTH NO-BREAK SPACE (byte-order mark)",
}

// checkVisible refuses Unicode format characters (category Cf): zero-width
// spaces and joiners, direction marks, embeddings, overrides and isolates,
// the byte-order mark, the soft hyphen. They print as nothing or reorder the
// characters around them, so a certificate would show a title other than
// the one filed (U+202E turns "txt.exe" into "exe.txt"; a zero-width space
// hides inside 不同意).
func checkVisible(field, s string) error {
	for i, r := range s {
		if unicode.Is(unicode.Cf, r) {
			name := invisibleNames[r]
			if name == "" {
				name = "format character"
			}
			return fieldErr(field, ErrInvisibleChar, "U+%04X %s at byte %d", r, name, i)
		}
	}
	return nil
}

// validateFormat checks every field's format and bound: what any stored
// submission satisfies.
func (s *Submission) validateFormat() error {
	if s.Court != "" && !ValidCourtID(s.Court) {
		return fieldErr("court", ErrCourtID, "%q", clip(s.Court))
	}
	if !ValidPlatformID(s.Platform) {
		return fieldErr("platform", ErrPlatformID, "%q", clip(s.Platform))
	}
	if !validRequestID(s.RequestID) {
		return fieldErr("request_id", ErrRequestID, "%q", clip(s.RequestID))
	}
	if !s.Category.Valid() {
		return fieldErr("category", ErrCategory, "%q; accepted: %v", clip(string(s.Category)), Categories())
	}
	if s.Title == "" {
		return fieldErr("title", ErrTitleEmpty, "")
	}
	if err := checkText("title", s.Title, MaxTitleBytes); err != nil {
		return err
	}
	if err := checkMetadata(s.Metadata); err != nil {
		return err
	}
	return checkTime("signed_at", s.SignedAt)
}

func checkMetadata(m map[string]string) error {
	if len(m) > MaxMetadataPairs {
		return fieldErr("metadata", ErrMetadataCount, "%d pairs, at most %d", len(m), MaxMetadataPairs)
	}
	total := 0
	// In the order of the encoding, not of map iteration, so the same
	// submission is always rejected for the same reason.
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		if !validMetadataKey(k) {
			return fieldErr("metadata", ErrMetadataKey, "key %q", clip(k))
		}
		if err := checkText("metadata["+k+"]", v, MaxMetadataValue); err != nil {
			return err
		}
		total += len(k) + len(v)
	}
	if total > MaxMetadataBytes {
		return fieldErr("metadata", ErrMetadataSize, "%d bytes, at most %d", total, MaxMetadataBytes)
	}
	return nil
}

// checkText accepts valid UTF-8 without control characters, so that what a
// certificate prints is what was signed.
func checkText(field, s string, max int) error {
	if len(s) > max {
		return fieldErr(field, ErrTooLong, "%d bytes, at most %d", len(s), max)
	}
	if !utf8.ValidString(s) {
		return fieldErr(field, ErrInvalidUTF8, "")
	}
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		return fieldErr(field, ErrControlChar, "at byte %d", i)
	}
	return nil
}

func checkTime(field string, t time.Time) error {
	if t.Before(minTime) || !t.Before(maxTime) {
		return fieldErr(field, ErrTimestamp, "%s", t.Format(time.RFC3339Nano))
	}
	return nil
}

// clip shortens what an error echoes back, so a huge input does not make a
// huge error.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// Sign validates s and returns the platform's SM2 signature over its bytes.
// It signs only version 2, which names the court: a court refuses version 1.
func (s *Submission) Sign(key *sm2.PrivateKey) ([]byte, error) {
	if s.Court == "" {
		return nil, fieldErr("court", ErrCourtMissing, "set Submission.Court to the ID of the court it is filed with")
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return key.Sign(s.Marshal())
}

// TimePolicy bounds how far a submission's signed-at may be from the court's
// clock. Zero fields take the defaults.
type TimePolicy struct {
	MaxSkew time.Duration // how far in the future; default 5 minutes
	MaxAge  time.Duration // how far in the past; default 24 hours
}

// DefaultTimePolicy is used for zero fields of a TimePolicy.
var DefaultTimePolicy = TimePolicy{MaxSkew: 5 * time.Minute, MaxAge: 24 * time.Hour}

func (p TimePolicy) orDefault() TimePolicy {
	if p.MaxSkew <= 0 {
		p.MaxSkew = DefaultTimePolicy.MaxSkew
	}
	if p.MaxAge <= 0 {
		p.MaxAge = DefaultTimePolicy.MaxAge
	}
	return p
}

// CheckCourt refuses a submission that is not for the court named court: one
// signed for another court (a replay there of what the platform filed
// elsewhere) or of version 1, which names none.
func (s *Submission) CheckCourt(court string) error {
	if s.Court == "" {
		return fieldErr("court", ErrCourtMissing,
			"submission version 1 does not name a court; sign version 2 with court=%s", court)
	}
	if s.Court != court {
		return fieldErr("court", ErrWrongCourt,
			"signed for court %q, sent to court %q; sign it with court=%s to file it here",
			clip(s.Court), court, court)
	}
	return nil
}

// Check is everything a court checks before it accepts a submission: format
// and bounds, that it is for this court (court), signed-at against its clock
// now, and the platform's signature sig under pub, the key registered for
// s.Platform.
func Check(s *Submission, sig []byte, pub *sm2.PublicKey, court string, now time.Time, p TimePolicy) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if err := s.CheckCourt(court); err != nil {
		return err
	}
	if err := p.check("signed_at", s.SignedAt, now); err != nil {
		return err
	}
	return VerifySignature(s, sig, pub)
}

// VerifySignature checks the platform's signature over s's bytes.
func VerifySignature(s *Submission, sig []byte, pub *sm2.PublicKey) error {
	if len(sig) == 0 || len(sig) > sm2.MaxSignatureSize {
		return fieldErr("signature", ErrSignatureMissing, "%d bytes", len(sig))
	}
	if err := pub.Verify(s.Marshal(), sig); err != nil {
		return fieldErr("signature", ErrSignature, "platform %q", s.Platform)
	}
	return nil
}
