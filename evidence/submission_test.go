package evidence

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
)

// testNow is the court's clock in these tests; submissions are signed at it.
var testNow = time.Date(2026, 3, 14, 9, 26, 53, 589_000_000, time.UTC)

// validSubmission returns a submission that passes Validate. Each test
// changes one thing in its own copy.
func validSubmission(tb testing.TB) Submission {
	tb.Helper()
	s := Submission{
		Court:       testCourt,
		Platform:    "esign.example",
		RequestID:   "req-2026-0001",
		Fingerprint: sm3.Sum([]byte("the evidence file")),
		Category:    CategoryContract,
		Title:       "房屋租赁合同",
		Metadata:    map[string]string{"contract_no": "HZ-2026-001", "parties": "2"},
		SignedAt:    testNow,
	}
	if err := s.Validate(); err != nil {
		tb.Fatalf("validSubmission does not validate: %v", err)
	}
	return s
}

// cloneSubmission copies s deeply enough that changing its metadata leaves s
// alone.
func cloneSubmission(s Submission) Submission {
	s.Metadata = maps.Clone(s.Metadata)
	return s
}

func newKey(tb testing.TB) *sm2.PrivateKey {
	tb.Helper()
	k, err := sm2.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func sign(tb testing.TB, s Submission, k *sm2.PrivateKey) []byte {
	tb.Helper()
	sig, err := s.Sign(k)
	if err != nil {
		tb.Fatalf("Sign: %v", err)
	}
	return sig
}

// wantFieldError asserts that err names field and reason, both through
// errors.Is on the Reason and through errors.As on the FieldError.
func wantFieldError(tb testing.TB, err error, reason *Reason, field string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error, want %s on %q", reason.Code(), field)
	}
	if !errors.Is(err, reason) {
		tb.Errorf("error %q is not %s", err, reason.Code())
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		tb.Fatalf("error %q (%T) is not a *FieldError", err, err)
	}
	if fe.Reason != reason || fe.Field != field {
		tb.Errorf("FieldError{Field: %q, Reason: %s}, want {Field: %q, Reason: %s} (%v)",
			fe.Field, fe.Reason.Code(), field, reason.Code(), err)
	}
}

// metadataOf returns n pairs "k00".."kNN" with values of valueLen bytes.
func metadataOf(n, valueLen int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m[fmt.Sprintf("k%02d", i)] = strings.Repeat("v", valueLen)
	}
	return m
}

func TestSubmissionRoundTrip(t *testing.T) {
	cst := time.FixedZone("CST", 8*60*60)
	tests := []struct {
		name   string
		change func(*Submission)
	}{
		{"as is", func(*Submission) {}},
		{"no metadata", func(s *Submission) { s.Metadata = nil }},
		{"empty metadata map", func(s *Submission) { s.Metadata = map[string]string{} }},
		{"empty metadata value", func(s *Submission) { s.Metadata["note"] = "" }},
		{"every category", func(s *Submission) { s.Category = CategoryIP }},
		{"version 1, naming no court", func(s *Submission) { s.Court = "" }},
		{"signed at in another zone", func(s *Submission) { s.SignedAt = s.SignedAt.In(cst) }},
		{"signed at with sub-millisecond part", func(s *Submission) { s.SignedAt = s.SignedAt.Add(999_999 * time.Nanosecond) }},
		{"first valid instant", func(s *Submission) { s.SignedAt = minTime }},
		{"last valid millisecond", func(s *Submission) { s.SignedAt = maxTime.Add(-time.Millisecond) }},
		{"maximal", func(s *Submission) { *s = maximalSubmission(t) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := cloneSubmission(validSubmission(t))
			tt.change(&s)
			b := s.Marshal()
			got, err := UnmarshalSubmission(b)
			if err != nil {
				t.Fatalf("UnmarshalSubmission: %v", err)
			}
			if got.Court != s.Court || got.Platform != s.Platform || got.RequestID != s.RequestID || got.Fingerprint != s.Fingerprint ||
				got.Category != s.Category || got.Title != s.Title {
				t.Errorf("decoded %+v, want %+v", got, s)
			}
			// A nil and an empty map encode alike: both are "no metadata".
			if !maps.Equal(got.Metadata, s.Metadata) {
				t.Errorf("metadata %v, want %v", got.Metadata, s.Metadata)
			}
			// Only milliseconds are encoded; the decoded time is in UTC.
			if want := s.SignedAt.Truncate(time.Millisecond); !got.SignedAt.Equal(want) || got.SignedAt.Location() != time.UTC {
				t.Errorf("signed at %v, want %v in UTC", got.SignedAt, want)
			}
			if again := got.Marshal(); !bytes.Equal(again, b) {
				t.Errorf("re-marshalled bytes differ:\n got %x\nwant %x", again, b)
			}
		})
	}
}

// Go randomizes map iteration; the encoding must not depend on it.
func TestSubmissionMarshalIgnoresMapOrder(t *testing.T) {
	s := validSubmission(t)
	s.Metadata = metadataOf(MaxMetadataPairs, 8)
	want := s.Marshal()
	for i := range 50 {
		rebuilt := make(map[string]string)
		for j := MaxMetadataPairs - 1; j >= 0; j-- { // inserted in reverse
			k := fmt.Sprintf("k%02d", j)
			rebuilt[k] = s.Metadata[k]
		}
		s.Metadata = rebuilt
		if got := s.Marshal(); !bytes.Equal(got, want) {
			t.Fatalf("encoding %d differs from the first", i)
		}
	}
}

func TestSubmissionAccepted(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Submission)
	}{
		{"platform of one character", func(s *Submission) { s.Platform = "a" }},
		{"platform of 64 characters", func(s *Submission) { s.Platform = strings.Repeat("p", MaxPlatformIDLen) }},
		{"platform with dots and hyphens inside", func(s *Submission) { s.Platform = "e-sign.co.example9" }},
		{"platform starting with a digit", func(s *Submission) { s.Platform = "9e" }},
		{"request ID of one character", func(s *Submission) { s.RequestID = "A" }},
		{"request ID of 128 characters", func(s *Submission) { s.RequestID = strings.Repeat("R", MaxRequestIDLen) }},
		{"request ID with every punctuation allowed", func(s *Submission) { s.RequestID = "Req_1.2:3-" }},
		{"title of exactly MaxTitleBytes in CJK", func(s *Submission) { s.Title = strings.Repeat("证", MaxTitleBytes/3) }},
		{"title with spaces and emoji", func(s *Submission) { s.Title = "合同 第1页 📄" }},
		// Visible look-alikes of the refused format characters.
		{"title with an ideographic space", func(s *Submission) { s.Title = "甲方\u3000同意解除合同" }},
		{"title with a no-break space", func(s *Submission) { s.Title = "No.\u00a05" }},
		{"title with a combining accent", func(s *Submission) { s.Title = "Cafe\u0301 contract" }},
		{"title with a CJK Extension B character", func(s *Submission) { s.Title = "\U00020BB7野家合同" }},
		{"title in Arabic, right to left without controls", func(s *Submission) { s.Title = "عقد إيجار" }},
		{"32 metadata pairs", func(s *Submission) { s.Metadata = metadataOf(MaxMetadataPairs, 1) }},
		{"metadata key of 64 characters", func(s *Submission) { s.Metadata = map[string]string{"k" + strings.Repeat("0", MaxMetadataKey-1): "v"} }},
		{"metadata key with every punctuation allowed", func(s *Submission) { s.Metadata = map[string]string{"a_b.c-d9": "v"} }},
		{"metadata value of 1024 bytes", func(s *Submission) { s.Metadata = map[string]string{"note": strings.Repeat("v", MaxMetadataValue)} }},
		{"metadata of exactly 8 KiB", func(s *Submission) { s.Metadata = metadataOf(8, 1024-3) }}, // keys "k00".."k07" are 3 bytes
		{"signed at 2000-01-01T00:00:00Z", func(s *Submission) { s.SignedAt = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"signed at the last millisecond of 9999", func(s *Submission) { s.SignedAt = time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := cloneSubmission(validSubmission(t))
			tt.change(&s)
			if err := s.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if _, err := UnmarshalSubmission(s.Marshal()); err != nil {
				t.Fatalf("UnmarshalSubmission: %v", err)
			}
		})
	}
}

// badSubmissions each break one rule. decoderBound marks a case that the
// decoder's length bound rejects before Validate sees it: UnmarshalSubmission
// then says ErrMalformed instead.
var badSubmissions = []struct {
	name         string
	change       func(*Submission)
	reason       *Reason
	field        string
	decoderBound bool
}{
	{"court invalid", func(s *Submission) { s.Court = "Court A" }, ErrCourtID, "court", false},
	{"court too long", func(s *Submission) { s.Court = "c" + strings.Repeat("o", MaxCourtIDLen) }, ErrCourtID, "court", true},
	{"platform empty", func(s *Submission) { s.Platform = "" }, ErrPlatformID, "platform", false},
	{"platform uppercase", func(s *Submission) { s.Platform = "ESign.example" }, ErrPlatformID, "platform", false},
	{"platform starting with '-'", func(s *Submission) { s.Platform = "-esign" }, ErrPlatformID, "platform", false},
	{"platform ending with '.'", func(s *Submission) { s.Platform = "esign." }, ErrPlatformID, "platform", false},
	{"platform of 65 characters", func(s *Submission) { s.Platform = strings.Repeat("p", MaxPlatformIDLen+1) }, ErrPlatformID, "platform", true},
	{"platform with a space", func(s *Submission) { s.Platform = "e sign" }, ErrPlatformID, "platform", false},
	{"platform with '_'", func(s *Submission) { s.Platform = "e_sign" }, ErrPlatformID, "platform", false},
	{"platform with a trailing newline", func(s *Submission) { s.Platform = "esign\n" }, ErrPlatformID, "platform", false},

	{"request ID empty", func(s *Submission) { s.RequestID = "" }, ErrRequestID, "request_id", false},
	{"request ID of 129 characters", func(s *Submission) { s.RequestID = strings.Repeat("R", MaxRequestIDLen+1) }, ErrRequestID, "request_id", true},
	{"request ID with '/'", func(s *Submission) { s.RequestID = "req/1" }, ErrRequestID, "request_id", false},
	{"request ID starting with '.'", func(s *Submission) { s.RequestID = ".req" }, ErrRequestID, "request_id", false},
	{"request ID starting with '_'", func(s *Submission) { s.RequestID = "_req" }, ErrRequestID, "request_id", false},
	{"request ID in Chinese", func(s *Submission) { s.RequestID = "请求1" }, ErrRequestID, "request_id", false},
	{"request ID with a fullwidth digit", func(s *Submission) { s.RequestID = "req１" }, ErrRequestID, "request_id", false},

	{"category unknown", func(s *Submission) { s.Category = "music" }, ErrCategory, "category", false},
	{"category empty", func(s *Submission) { s.Category = "" }, ErrCategory, "category", false},
	{"category capitalized", func(s *Submission) { s.Category = "Contract" }, ErrCategory, "category", false},
	{"category by its Chinese name", func(s *Submission) { s.Category = "电子合同" }, ErrCategory, "category", false},

	{"title empty", func(s *Submission) { s.Title = "" }, ErrTitleEmpty, "title", false},
	{"title of 257 CJK characters", func(s *Submission) { s.Title = strings.Repeat("证", MaxTitleBytes/3+1) }, ErrTooLong, "title", true},
	{"title crossing the bound inside a character", func(s *Submission) { s.Title = strings.Repeat("a", MaxTitleBytes-1) + "证" }, ErrTooLong, "title", true},
	{"title with a byte that is not UTF-8", func(s *Submission) { s.Title = "合同\xff" }, ErrInvalidUTF8, "title", false},
	{"title ending in half a character", func(s *Submission) { s.Title = "合同" + "证"[:2] }, ErrInvalidUTF8, "title", false},
	{"title with a UTF-8 encoded surrogate", func(s *Submission) { s.Title = "a\xed\xa0\x80" }, ErrInvalidUTF8, "title", false},
	{"title with a newline", func(s *Submission) { s.Title = "合同\n附件" }, ErrControlChar, "title", false},
	{"title with NUL", func(s *Submission) { s.Title = "合同\x00" }, ErrControlChar, "title", false},
	{"title with a tab", func(s *Submission) { s.Title = "\t合同" }, ErrControlChar, "title", false},
	{"title with DEL", func(s *Submission) { s.Title = "a\x7f" }, ErrControlChar, "title", false},
	// unicode.IsControl covers C1 too: U+0085 NEXT LINE is a line break to
	// some renderers.
	{"title with U+0085", func(s *Submission) { s.Title = "合同\u0085附件" }, ErrControlChar, "title", false},
	{"title with U+009B", func(s *Submission) { s.Title = "a\u009b" }, ErrControlChar, "title", false},

	{"33 metadata pairs", func(s *Submission) { s.Metadata = metadataOf(MaxMetadataPairs+1, 1) }, ErrMetadataCount, "metadata", true},
	{"metadata key uppercase", func(s *Submission) { s.Metadata["Contract_no"] = "x" }, ErrMetadataKey, "metadata", false},
	{"metadata key empty", func(s *Submission) { s.Metadata[""] = "x" }, ErrMetadataKey, "metadata", false},
	{"metadata key starting with a digit", func(s *Submission) { s.Metadata["1st"] = "x" }, ErrMetadataKey, "metadata", false},
	{"metadata key starting with '_'", func(s *Submission) { s.Metadata["_x"] = "x" }, ErrMetadataKey, "metadata", false},
	{"metadata key of 65 characters", func(s *Submission) { s.Metadata["k"+strings.Repeat("0", MaxMetadataKey)] = "x" }, ErrMetadataKey, "metadata", true},
	{"metadata key with a space", func(s *Submission) { s.Metadata["contract no"] = "x" }, ErrMetadataKey, "metadata", false},
	{"metadata key in Chinese", func(s *Submission) { s.Metadata["合同号"] = "x" }, ErrMetadataKey, "metadata", false},
	{"metadata value of 1025 bytes", func(s *Submission) { s.Metadata["note"] = strings.Repeat("v", MaxMetadataValue+1) }, ErrTooLong, "metadata[note]", true},
	{"metadata value not UTF-8", func(s *Submission) { s.Metadata["note"] = "\xc3\x28" }, ErrInvalidUTF8, "metadata[note]", false},
	{"metadata value with CR LF", func(s *Submission) { s.Metadata["note"] = "a\r\nb" }, ErrControlChar, "metadata[note]", false},
	{"metadata value with NUL", func(s *Submission) { s.Metadata["note"] = "\x00" }, ErrControlChar, "metadata[note]", false},
	{"metadata value with U+0085", func(s *Submission) { s.Metadata["note"] = "\u0085" }, ErrControlChar, "metadata[note]", false},
	{"metadata over 8 KiB, each value legal", func(s *Submission) { s.Metadata = metadataOf(9, 1000) }, ErrMetadataSize, "metadata", false},
	{"metadata one byte over 8 KiB", func(s *Submission) { s.Metadata = metadataOf(8, 1024-3); s.Metadata["k00"] += "v" }, ErrMetadataSize, "metadata", false},

	{"signed at zero time", func(s *Submission) { s.SignedAt = time.Time{} }, ErrTimestamp, "signed_at", false},
	{"signed at the Unix epoch", func(s *Submission) { s.SignedAt = time.UnixMilli(0) }, ErrTimestamp, "signed_at", false},
	{"signed at the last millisecond of 1999", func(s *Submission) { s.SignedAt = time.Date(1999, 12, 31, 23, 59, 59, 999_000_000, time.UTC) }, ErrTimestamp, "signed_at", false},
	{"signed at 10000-01-01", func(s *Submission) { s.SignedAt = maxTime }, ErrTimestamp, "signed_at", false},
	{"signed at year 20000", func(s *Submission) { s.SignedAt = time.Date(20000, 6, 1, 0, 0, 0, 0, time.UTC) }, ErrTimestamp, "signed_at", false},
}

func TestSubmissionRejected(t *testing.T) {
	key := newKey(t)
	for _, tt := range badSubmissions {
		t.Run(tt.name, func(t *testing.T) {
			s := cloneSubmission(validSubmission(t))
			tt.change(&s)

			wantFieldError(t, s.Validate(), tt.reason, tt.field)

			sig, err := s.Sign(key)
			if sig != nil {
				t.Errorf("Sign returned a signature for an invalid submission")
			}
			wantFieldError(t, err, tt.reason, tt.field)

			// Check validates before it looks at time or signature.
			wantFieldError(t, Check(&s, []byte{1}, key.Public(), testCourt, testNow, TimePolicy{}), tt.reason, tt.field)

			// Decoding accepts only what Validate accepts.
			_, err = UnmarshalSubmission(s.Marshal())
			if tt.decoderBound {
				wantFieldError(t, err, ErrMalformed, "encoding")
			} else {
				wantFieldError(t, err, tt.reason, tt.field)
			}
		})
	}
}

// filingOnly each break a rule that filing applies (Sign, Check, Validate)
// but decoding does not, so that an entry recorded before the rule still
// decodes, verifies and prints: one row per class of invisible or
// direction-changing character (Unicode format characters, category Cf), in
// the title and in metadata, and a title of white space only.
var filingOnly = []struct {
	name   string
	change func(*Submission)
	reason *Reason
	field  string
	detail string // what the error must say
}{
	{"title with U+200B ZERO WIDTH SPACE", func(s *Submission) { s.Title = "甲方不\u200B同意解除合同" }, ErrInvisibleChar, "title", "U+200B ZERO WIDTH SPACE at byte 9"},
	{"title ending in U+200B", func(s *Submission) { s.Title = "房屋租赁合同\u200B" }, ErrInvisibleChar, "title", "U+200B"},
	{"title with U+200C ZERO WIDTH NON-JOINER", func(s *Submission) { s.Title = "a\u200Cb" }, ErrInvisibleChar, "title", "U+200C"},
	{"title with U+200D ZERO WIDTH JOINER", func(s *Submission) { s.Title = "a\u200Db" }, ErrInvisibleChar, "title", "U+200D"},
	{"title with U+200E LEFT-TO-RIGHT MARK", func(s *Submission) { s.Title = "合同\u200E" }, ErrInvisibleChar, "title", "U+200E LEFT-TO-RIGHT MARK"},
	{"title with U+200F RIGHT-TO-LEFT MARK", func(s *Submission) { s.Title = "合同\u200F" }, ErrInvisibleChar, "title", "U+200F"},
	{"title with U+202A LEFT-TO-RIGHT EMBEDDING", func(s *Submission) { s.Title = "\u202A合同" }, ErrInvisibleChar, "title", "U+202A"},
	{"title with U+202B RIGHT-TO-LEFT EMBEDDING", func(s *Submission) { s.Title = "\u202B合同" }, ErrInvisibleChar, "title", "U+202B"},
	{"title with U+202C POP DIRECTIONAL FORMATTING", func(s *Submission) { s.Title = "合同\u202C" }, ErrInvisibleChar, "title", "U+202C"},
	{"title with U+202D LEFT-TO-RIGHT OVERRIDE", func(s *Submission) { s.Title = "\u202D合同" }, ErrInvisibleChar, "title", "U+202D"},
	{"title with U+202E RIGHT-TO-LEFT OVERRIDE", func(s *Submission) { s.Title = "invoice\u202Efdp.exe" }, ErrInvisibleChar, "title", "U+202E RIGHT-TO-LEFT OVERRIDE at byte 7"},
	{"title with U+2066 LEFT-TO-RIGHT ISOLATE", func(s *Submission) { s.Title = "\u2066合同\u2069" }, ErrInvisibleChar, "title", "U+2066"},
	{"title with U+2067 RIGHT-TO-LEFT ISOLATE", func(s *Submission) { s.Title = "\u2067合同" }, ErrInvisibleChar, "title", "U+2067"},
	{"title with U+2068 FIRST STRONG ISOLATE", func(s *Submission) { s.Title = "\u2068合同" }, ErrInvisibleChar, "title", "U+2068"},
	{"title with U+2069 POP DIRECTIONAL ISOLATE", func(s *Submission) { s.Title = "合同\u2069" }, ErrInvisibleChar, "title", "U+2069"},
	{"title with U+FEFF byte-order mark", func(s *Submission) { s.Title = "\uFEFF合同" }, ErrInvisibleChar, "title", "U+FEFF ZERO WIDTH NO-BREAK SPACE (byte-order mark) at byte 0"},
	{"title with U+2060 WORD JOINER", func(s *Submission) { s.Title = "a\u2060b" }, ErrInvisibleChar, "title", "U+2060"},
	{"title with U+00AD SOFT HYPHEN", func(s *Submission) { s.Title = "con\u00ADtract" }, ErrInvisibleChar, "title", "U+00AD"},
	{"title with a tag character", func(s *Submission) { s.Title = "a\U000E0041" }, ErrInvisibleChar, "title", "U+E0041 format character"},
	{"metadata value with U+202E", func(s *Submission) { s.Metadata["note"] = "abc\u202Edef" }, ErrInvisibleChar, "metadata[note]", "U+202E"},
	{"metadata value with U+200B", func(s *Submission) { s.Metadata["note"] = "\u200B" }, ErrInvisibleChar, "metadata[note]", "U+200B"},
	{"metadata value with U+2066", func(s *Submission) { s.Metadata["note"] = "\u2066x" }, ErrInvisibleChar, "metadata[note]", "U+2066"},
	{"metadata value with U+FEFF", func(s *Submission) { s.Metadata["note"] = "\uFEFF" }, ErrInvisibleChar, "metadata[note]", "U+FEFF"},
	{"title of spaces only", func(s *Submission) { s.Title = "   " }, ErrTitleEmpty, "title", "white space"},
	{"title of an ideographic space only", func(s *Submission) { s.Title = "\u3000" }, ErrTitleEmpty, "title", "white space"},
}

func TestSubmissionRefusedAtFiling(t *testing.T) {
	key := newKey(t)
	for _, tt := range filingOnly {
		t.Run(tt.name, func(t *testing.T) {
			s := cloneSubmission(validSubmission(t))
			tt.change(&s)

			err := s.Validate()
			wantFieldError(t, err, tt.reason, tt.field)
			if err != nil && !strings.Contains(err.Error(), tt.detail) {
				t.Errorf("error %q does not say %q", err, tt.detail)
			}
			if sig, err := s.Sign(key); sig != nil {
				t.Errorf("Sign returned a signature for a submission filing refuses")
			} else {
				wantFieldError(t, err, tt.reason, tt.field)
			}
			wantFieldError(t, Check(&s, []byte{1}, key.Public(), testCourt, testNow, TimePolicy{}), tt.reason, tt.field)

			// Recorded before the rule: it still decodes, as a submission
			// and inside an entry.
			if _, err := UnmarshalSubmission(s.Marshal()); err != nil {
				t.Errorf("UnmarshalSubmission: %v", err)
			}
			sig, err := key.Sign(s.Marshal())
			if err != nil {
				t.Fatal(err)
			}
			e := NewEntry(testCourt, 7, testAcceptedAt, s, sig)
			if _, err := UnmarshalEntry(e.Marshal()); err != nil {
				t.Errorf("UnmarshalEntry: %v", err)
			}
		})
	}
}

// Which rule a submission breaks first must not depend on map iteration
// order: a platform retrying the same submission gets the same answer.
func TestSubmissionMetadataErrorIsDeterministic(t *testing.T) {
	s := validSubmission(t)
	s.Metadata = map[string]string{
		"a": "\x00",
		"b": "\xff",
		"c": strings.Repeat("v", MaxMetadataValue+1),
		"d": "fine",
		"e": "\n",
	}
	for range 100 {
		// The first key in bytewise order, the order of the encoding.
		wantFieldError(t, s.Validate(), ErrControlChar, "metadata[a]")
		if t.Failed() {
			return
		}
	}
}

// Errors echo what was rejected, clipped, so a huge input cannot make a huge
// error (or log line).
func TestErrorsClipHugeInput(t *testing.T) {
	const huge = 1 << 20
	tests := []struct {
		name   string
		change func(*Submission)
		filler string
		reason *Reason
		field  string
	}{
		{"platform", func(s *Submission) { s.Platform = strings.Repeat("x", huge) }, "x", ErrPlatformID, "platform"},
		{"request ID", func(s *Submission) { s.RequestID = strings.Repeat("Y", huge) }, "Y", ErrRequestID, "request_id"},
		{"request ID in CJK", func(s *Submission) { s.RequestID = strings.Repeat("证", huge) }, "证", ErrRequestID, "request_id"},
		{"category", func(s *Submission) { s.Category = Category(strings.Repeat("Q", huge)) }, "Q", ErrCategory, "category"},
		{"metadata key", func(s *Submission) { s.Metadata = map[string]string{strings.Repeat("K", huge): "v"} }, "K", ErrMetadataKey, "metadata"},
		{"title", func(s *Submission) { s.Title = strings.Repeat("T", huge) }, "T", ErrTooLong, "title"},
		{"metadata value", func(s *Submission) { s.Metadata = map[string]string{"note": strings.Repeat("V", huge)} }, "V", ErrTooLong, "metadata[note]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := cloneSubmission(validSubmission(t))
			tt.change(&s)
			err := s.Validate()
			wantFieldError(t, err, tt.reason, tt.field)
			msg := err.Error()
			if n := strings.Count(msg, tt.filler); n*len(tt.filler) > 80 {
				t.Errorf("error echoes %d bytes of the input, want at most 80", n*len(tt.filler))
			}
			if len(msg) > 400 {
				t.Errorf("error is %d bytes long: %.100s…", len(msg), msg)
			}
			if !utf8.ValidString(msg) {
				t.Errorf("error is not valid UTF-8: %q", msg)
			}
		})
	}
}

func TestParseFingerprint(t *testing.T) {
	digest := sm3.Sum([]byte("abc"))
	// GB/T 32905-2016 Appendix A.1: SM3("abc").
	const abc = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
	tests := []struct {
		name   string
		in     string
		want   Fingerprint
		reason *Reason
	}{
		{"lowercase", abc, digest, nil},
		{"uppercase", strings.ToUpper(abc), digest, nil},
		{"mixed case", "66C7f0F4" + abc[8:], digest, nil},
		{"all zero", strings.Repeat("0", 64), Fingerprint{}, nil},
		{"empty", "", Fingerprint{}, ErrFingerprintLength},
		{"63 digits", abc[:63], Fingerprint{}, ErrFingerprintLength},
		{"65 digits", abc + "0", Fingerprint{}, ErrFingerprintLength},
		{"128 digits", abc + abc, Fingerprint{}, ErrFingerprintLength},
		{"0x prefix on 64 digits", "0x" + abc, Fingerprint{}, ErrFingerprintLength},
		{"0x prefix on 62 digits", "0x" + abc[:62], Fingerprint{}, ErrFingerprintHex},
		{"non-hex letter", "g" + abc[1:], Fingerprint{}, ErrFingerprintHex},
		{"non-hex at the end", abc[:63] + "z", Fingerprint{}, ErrFingerprintHex},
		{"space inside", abc[:31] + " " + abc[32:], Fingerprint{}, ErrFingerprintHex},
		{"trailing newline in place of a digit", abc[:63] + "\n", Fingerprint{}, ErrFingerprintHex},
		// Length counts bytes: 21 CJK characters and a digit are 64 bytes.
		{"64 bytes of CJK", strings.Repeat("证", 21) + "0", Fingerprint{}, ErrFingerprintHex},
		{"fullwidth digits", strings.Repeat("０", 21) + "0", Fingerprint{}, ErrFingerprintHex},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFingerprint(tt.in)
			if tt.reason != nil {
				wantFieldError(t, err, tt.reason, "fingerprint")
				if got != (Fingerprint{}) {
					t.Errorf("rejected input returned %x, want zero", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFingerprint: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %x, want %x", got, tt.want)
			}
		})
	}
}

func TestFingerprintFromBytes(t *testing.T) {
	digest := sm3.Sum([]byte("abc"))
	tests := []struct {
		name   string
		in     []byte
		reason *Reason
	}{
		{"32 bytes", digest[:], nil},
		{"nil", nil, ErrFingerprintLength},
		{"31 bytes", digest[:31], ErrFingerprintLength},
		{"33 bytes", append(digest[:], 0), ErrFingerprintLength},
		{"SHA-512 sized", make([]byte, 64), ErrFingerprintLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FingerprintFromBytes(tt.in)
			if tt.reason != nil {
				wantFieldError(t, err, tt.reason, "fingerprint")
				return
			}
			if err != nil || got != digest {
				t.Fatalf("got %x, %v; want %x", got, err, digest)
			}
			in := bytes.Clone(tt.in)
			got, _ = FingerprintFromBytes(in)
			in[0] ^= 1 // the fingerprint is a copy
			if got != digest {
				t.Errorf("fingerprint aliases its input")
			}
		})
	}
}

func TestCheckTime(t *testing.T) {
	key := newKey(t)
	tests := []struct {
		name     string
		signedAt time.Time
		policy   TimePolicy
		reason   *Reason // nil: accepted
	}{
		{"at the court's clock", testNow, TimePolicy{}, nil},
		{"5 minutes ahead", testNow.Add(5 * time.Minute), TimePolicy{}, nil},
		{"5 minutes and 1 ms ahead", testNow.Add(5*time.Minute + time.Millisecond), TimePolicy{}, ErrTimestampFuture},
		{"6 minutes ahead", testNow.Add(6 * time.Minute), TimePolicy{}, ErrTimestampFuture},
		{"24 hours old", testNow.Add(-24 * time.Hour), TimePolicy{}, nil},
		{"24 hours and 1 ms old", testNow.Add(-24*time.Hour - time.Millisecond), TimePolicy{}, ErrTimestampStale},
		{"25 hours old", testNow.Add(-25 * time.Hour), TimePolicy{}, ErrTimestampStale},
		{"custom skew: 2 minutes ahead of 1", testNow.Add(2 * time.Minute), TimePolicy{MaxSkew: time.Minute, MaxAge: time.Hour}, ErrTimestampFuture},
		{"custom age: 2 hours old of 1", testNow.Add(-2 * time.Hour), TimePolicy{MaxSkew: time.Minute, MaxAge: time.Hour}, ErrTimestampStale},
		{"custom age: 30 minutes old of 1 hour", testNow.Add(-30 * time.Minute), TimePolicy{MaxSkew: time.Minute, MaxAge: time.Hour}, nil},
		{"custom age: 25 hours old of 48", testNow.Add(-25 * time.Hour), TimePolicy{MaxAge: 48 * time.Hour}, nil},
		{"custom skew: 6 minutes ahead of 10", testNow.Add(6 * time.Minute), TimePolicy{MaxSkew: 10 * time.Minute}, nil},
		{"zero age takes the default", testNow.Add(-25 * time.Hour), TimePolicy{MaxSkew: time.Minute}, ErrTimestampStale},
		{"zero skew takes the default", testNow.Add(6 * time.Minute), TimePolicy{MaxAge: time.Hour}, ErrTimestampFuture},
		{"negative age takes the default", testNow.Add(-23 * time.Hour), TimePolicy{MaxAge: -time.Hour}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSubmission(t)
			s.SignedAt = tt.signedAt
			sig := sign(t, s, key)
			err := Check(&s, sig, key.Public(), testCourt, testNow, tt.policy)
			if tt.reason == nil {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			wantFieldError(t, err, tt.reason, "signed_at")
		})
	}
}

func TestCheckSignature(t *testing.T) {
	key, other := newKey(t), newKey(t)
	s := validSubmission(t)
	// DER signatures are 70 to 72 bytes; one with room for a trailing byte
	// under the bound tests that the DER decoding is strict.
	sig := sign(t, s, key)
	for len(sig) == sm2.MaxSignatureSize {
		sig = sign(t, s, key)
	}
	tests := []struct {
		name   string
		sig    []byte
		pub    *sm2.PublicKey
		reason *Reason // nil: accepted
	}{
		{"platform's key", sig, key.Public(), nil},
		{"another platform's key", sig, other.Public(), ErrSignature},
		{"nil signature", nil, key.Public(), ErrSignatureMissing},
		{"empty signature", []byte{}, key.Public(), ErrSignatureMissing},
		{"73 bytes", make([]byte, sm2.MaxSignatureSize+1), key.Public(), ErrSignatureMissing},
		{"72 bytes of zeros", make([]byte, sm2.MaxSignatureSize), key.Public(), ErrSignature},
		{"one bit flipped", flipLastBit(sig), key.Public(), ErrSignature},
		{"a trailing byte", append(bytes.Clone(sig), 0), key.Public(), ErrSignature},
		{"the last byte cut", sig[:len(sig)-1], key.Public(), ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for fn, err := range map[string]error{
				"Check":           Check(&s, tt.sig, tt.pub, testCourt, testNow, TimePolicy{}),
				"VerifySignature": VerifySignature(&s, tt.sig, tt.pub),
			} {
				if tt.reason == nil {
					if err != nil {
						t.Errorf("%s: %v", fn, err)
					}
					continue
				}
				wantFieldError(t, err, tt.reason, "signature")
			}
		})
	}
}

func flipLastBit(b []byte) []byte {
	b = bytes.Clone(b)
	b[len(b)-1] ^= 1
	return b
}

// The signature covers every field: change any one of them, keeping the
// submission valid, and it no longer verifies.
func TestSignatureCoversEveryField(t *testing.T) {
	key := newKey(t)
	signed := validSubmission(t)
	sig := sign(t, signed, key)
	tests := []struct {
		name   string
		change func(*Submission)
	}{
		{"court", func(s *Submission) { s.Court = "court-b.example/evidence" }},
		{"court removed (version 1)", func(s *Submission) { s.Court = "" }},
		{"platform", func(s *Submission) { s.Platform = "esign.example2" }},
		{"request ID", func(s *Submission) { s.RequestID = "req-2026-0002" }},
		{"first fingerprint byte", func(s *Submission) { s.Fingerprint[0] ^= 1 }},
		{"last fingerprint byte", func(s *Submission) { s.Fingerprint[31] ^= 0x80 }},
		{"category", func(s *Submission) { s.Category = CategoryChat }},
		{"title", func(s *Submission) { s.Title = "房屋买卖合同" }},
		{"a metadata value", func(s *Submission) { s.Metadata["parties"] = "3" }},
		{"a metadata key", func(s *Submission) { s.Metadata["party"] = s.Metadata["parties"]; delete(s.Metadata, "parties") }},
		{"a metadata pair added", func(s *Submission) { s.Metadata["note"] = "" }},
		{"a metadata pair removed", func(s *Submission) { delete(s.Metadata, "parties") }},
		{"signed at one millisecond later", func(s *Submission) { s.SignedAt = s.SignedAt.Add(time.Millisecond) }},
		{"signed at one millisecond earlier", func(s *Submission) { s.SignedAt = s.SignedAt.Add(-time.Millisecond) }},
		// Length prefixes keep field boundaries: moving bytes from one
		// field to the next changes the signed bytes.
		{"a byte moved from platform to request ID", func(s *Submission) { s.Platform = "esign.exampl"; s.RequestID = "ereq-2026-0001" }},
		{"text moved from a key to its value", func(s *Submission) { s.Metadata = map[string]string{"contract": "_noHZ-2026-001", "parties": "2"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := cloneSubmission(signed)
			tt.change(&s)
			if err := s.Validate(); err != nil {
				t.Fatalf("the changed submission must stay valid: %v", err)
			}
			wantFieldError(t, VerifySignature(&s, sig, key.Public()), ErrSignature, "signature")
		})
	}

	// What is not encoded is not signed: below a millisecond, and the zone.
	s := cloneSubmission(signed)
	s.SignedAt = s.SignedAt.Add(999 * time.Microsecond).In(time.FixedZone("CST", 8*60*60))
	if err := Check(&s, sig, key.Public(), testCourt, testNow, TimePolicy{}); err != nil {
		t.Errorf("sub-millisecond change of signed-at: %v", err)
	}
}

func TestReasonCodes(t *testing.T) {
	reasons := []*Reason{ErrMalformed, ErrPlatformID, ErrRequestID, ErrFingerprintLength, ErrFingerprintHex,
		ErrCategory, ErrTitleEmpty, ErrTooLong, ErrInvalidUTF8, ErrControlChar, ErrInvisibleChar, ErrMetadataCount,
		ErrMetadataKey, ErrMetadataSize, ErrTimestamp, ErrTimestampFuture, ErrTimestampStale,
		ErrSignatureMissing, ErrSignature, ErrCourtID, ErrEvidenceID, ErrReceiptHead, ErrReceiptProof,
		ErrReceiptMismatch, ErrCourtMissing, ErrWrongCourt}
	seen := make(map[string]bool)
	for _, r := range reasons {
		if r.Code() == "" || strings.ToUpper(r.Code()) != r.Code() || r.Error() == "" {
			t.Errorf("reason %q: code %q", r.Error(), r.Code())
		}
		if seen[r.Code()] {
			t.Errorf("code %q used twice", r.Code())
		}
		seen[r.Code()] = true
	}
	// A reason wrapped with context still matches, and only itself.
	err := fmt.Errorf("submission 3: %w", &FieldError{Field: "title", Reason: ErrTitleEmpty})
	if !errors.Is(err, ErrTitleEmpty) || errors.Is(err, ErrTooLong) {
		t.Errorf("errors.Is through wrapping is wrong for %v", err)
	}
	if got, want := err.Error(), "submission 3: title: "+ErrTitleEmpty.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestUnmarshalSubmissionTruncated(t *testing.T) {
	s := validSubmission(t)
	b := s.Marshal()
	for n := range len(b) {
		_, err := UnmarshalSubmission(b[:n])
		wantFieldError(t, err, ErrMalformed, "encoding")
		if t.Failed() {
			t.Fatalf("first %d of %d bytes", n, len(b))
		}
	}
}

// TestUnmarshalSubmissionRejected writes encodings by hand (with the
// reference encoder of entry_test.go) that Marshal never would.
func TestUnmarshalSubmissionRejected(t *testing.T) {
	good := refSubmissionOf(validSubmission(t))
	with := func(change func(*refSubmission)) []byte {
		r := good
		r.pairs = append([][2]string(nil), good.pairs...)
		change(&r)
		return r.encode()
	}
	b := good.encode()
	countOff := lengthAt(t, b, []byte(good.title)) + 4 + len(good.title)
	tests := []struct {
		name   string
		in     []byte
		reason *Reason
		field  string
	}{
		{"a trailing byte", append(bytes.Clone(b), 0), ErrMalformed, "encoding"},
		{"tag of a version to come", with(func(r *refSubmission) { r.tag = "evidence-submission/v3" }), ErrMalformed, "encoding"},
		{"version 2 with an empty court", with(func(r *refSubmission) { r.court = "" }), ErrMalformed, "encoding"},
		{"version 2 with a court of 129 characters", with(func(r *refSubmission) { r.court = strings.Repeat("c", MaxCourtIDLen+1) }), ErrMalformed, "encoding"},
		{"version 2 with an invalid court", with(func(r *refSubmission) { r.court = "Court A" }), ErrCourtID, "court"},
		{"tag of an entry", with(func(r *refSubmission) { r.tag = "evidence-entry/v1" }), ErrMalformed, "encoding"},
		{"fingerprint of 31 bytes", with(func(r *refSubmission) { r.fingerprint = r.fingerprint[:31] }), ErrMalformed, "encoding"},
		{"fingerprint of 33 bytes", with(func(r *refSubmission) { r.fingerprint += "\x00" }), ErrMalformed, "encoding"},
		{"fingerprint empty", with(func(r *refSubmission) { r.fingerprint = "" }), ErrMalformed, "encoding"},
		{"category longer than any", with(func(r *refSubmission) { r.category = strings.Repeat("c", 33) }), ErrMalformed, "encoding"},
		{"metadata keys out of order", with(func(r *refSubmission) { r.pairs[0], r.pairs[1] = r.pairs[1], r.pairs[0] }), ErrMalformed, "encoding"},
		{"metadata key repeated, same value", with(func(r *refSubmission) { r.pairs[1] = r.pairs[0] }), ErrMalformed, "encoding"},
		{"metadata key repeated, other value", with(func(r *refSubmission) { r.pairs[1] = [2]string{r.pairs[0][0], "x"} }), ErrMalformed, "encoding"},
		{"metadata empty key first", with(func(r *refSubmission) { r.pairs[0][0] = "" }), ErrMetadataKey, "metadata"},
		{"33 metadata pairs", with(func(r *refSubmission) {
			r.pairs = nil
			for i := range MaxMetadataPairs + 1 {
				r.pairs = append(r.pairs, [2]string{fmt.Sprintf("k%02d", i), "v"})
			}
		}), ErrMalformed, "encoding"},
		{"metadata count one more than written", setU32(b, countOff, uint32(len(good.pairs)+1)), ErrMalformed, "encoding"},
		{"metadata count one less than written", setU32(b, countOff, uint32(len(good.pairs)-1)), ErrMalformed, "encoding"},
		{"metadata count 0xFFFFFFFF", setU32(b, countOff, math.MaxUint32), ErrMalformed, "encoding"},
		{"signed-at missing", b[:len(b)-8], ErrMalformed, "encoding"},
		{"signed-at beyond int64", with(func(r *refSubmission) { r.signedAtMs = math.MaxUint64 }), ErrTimestamp, "signed_at"},
		{"empty", nil, ErrMalformed, "encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UnmarshalSubmission(tt.in)
			if got != nil {
				t.Errorf("UnmarshalSubmission returned a submission with its error")
			}
			wantFieldError(t, err, tt.reason, tt.field)
		})
	}
}

// A submission is bound to the court it names (issue 13, item 10): signed for
// court A, it is refused at court B even with a valid signature, and a
// version 1 submission, which names no court, is refused everywhere. Before
// version 2, Check had no court to compare and accepted both.
func TestCheckCourt(t *testing.T) {
	key := newKey(t)
	const courtB = "court-b.example/evidence"
	s := validSubmission(t)
	sig := sign(t, s, key)
	if err := Check(&s, sig, key.Public(), testCourt, testNow, TimePolicy{}); err != nil {
		t.Fatalf("at the court it names: %v", err)
	}

	err := Check(&s, sig, key.Public(), courtB, testNow, TimePolicy{})
	wantFieldError(t, err, ErrWrongCourt, "court")
	for _, want := range []string{testCourt, courtB, "court=" + courtB} {
		if err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("replay refused with %q, which does not say %q", err, want)
		}
	}

	v1 := s
	v1.Court = ""
	if v1.Version() != 1 || s.Version() != 2 {
		t.Errorf("versions %d and %d, want 1 and 2", v1.Version(), s.Version())
	}
	v1sig, err := key.Sign(v1.Marshal()) // as a client of version 1 signed
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifySignature(&v1, v1sig, key.Public()); err != nil {
		t.Fatalf("a version 1 signature still verifies (entries recorded before): %v", err)
	}
	err = Check(&v1, v1sig, key.Public(), testCourt, testNow, TimePolicy{})
	wantFieldError(t, err, ErrCourtMissing, "court")
	if want := "submission version 1 does not name a court; sign version 2 with court=" + testCourt; err != nil && !strings.Contains(err.Error(), want) {
		t.Errorf("version 1 refused with %q, want it to say %q", err, want)
	}

	// Sign makes only version 2.
	got, err := v1.Sign(key)
	if got != nil {
		t.Errorf("Sign signed a submission that names no court")
	}
	wantFieldError(t, err, ErrCourtMissing, "court")
}
