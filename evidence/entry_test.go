package evidence

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	gmsm3 "github.com/emmansun/gmsm/sm3"
)

// The reference encoder below is written from the package comment alone,
// with encoding/binary and emmansun/gmsm's SM3, and shares no code with the
// package: if it and Marshal agree, a third party can reproduce the bytes
// from the documentation.

// refBytes appends a "bytes" field: u32 big-endian length, then the bytes.
func refBytes(dst []byte, b string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// refSubmission holds a submission's fields as written, metadata pairs in
// the order given, so tests can also write what the encoder never would.
type refSubmission struct {
	tag, court          string // court is written only under the version 2 tag
	platform, requestID string
	fingerprint         string // raw bytes, normally 32
	category, title     string
	pairs               [][2]string
	signedAtMs          uint64
}

func refSubmissionOf(s Submission) refSubmission {
	keys := make([]string, 0, len(s.Metadata))
	for k := range s.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys) // Go compares strings bytewise
	pairs := make([][2]string, len(keys))
	for i, k := range keys {
		pairs[i] = [2]string{k, s.Metadata[k]}
	}
	tag := "evidence-submission/v2"
	if s.Court == "" {
		tag = "evidence-submission/v1"
	}
	return refSubmission{
		tag:         tag,
		court:       s.Court,
		platform:    s.Platform,
		requestID:   s.RequestID,
		fingerprint: string(s.Fingerprint[:]),
		category:    string(s.Category),
		title:       s.Title,
		pairs:       pairs,
		signedAtMs:  uint64(s.SignedAt.UnixMilli()),
	}
}

func (r refSubmission) encode() []byte {
	var b []byte
	b = refBytes(b, r.tag)
	if r.tag == "evidence-submission/v2" {
		b = refBytes(b, r.court)
	}
	b = refBytes(b, r.platform)
	b = refBytes(b, r.requestID)
	b = refBytes(b, r.fingerprint)
	b = refBytes(b, r.category)
	b = refBytes(b, r.title)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.pairs)))
	for _, p := range r.pairs {
		b = refBytes(b, p[0])
		b = refBytes(b, p[1])
	}
	return binary.BigEndian.AppendUint64(b, r.signedAtMs)
}

type refEntry struct {
	tag, court   string
	index        uint64
	evidenceID   string
	acceptedAtMs uint64
	submission   []byte
	signature    []byte
	batch        []byte // version 2: header, signature, leaf, path, encoded
}

// refBatchOf encodes what a version 2 entry has in place of the signature.
func refBatchOf(f *BatchFiling) []byte {
	h := f.Header
	var hb []byte
	hb = refBytes(hb, "evidence-batch/v1")
	hb = refBytes(hb, h.Court)
	hb = refBytes(hb, h.Platform)
	hb = refBytes(hb, h.BatchID)
	hb = binary.BigEndian.AppendUint64(hb, uint64(h.SignedAt.UnixMilli()))
	hb = binary.BigEndian.AppendUint32(hb, h.Count)
	hb = refBytes(hb, string(h.Root))
	var b []byte
	b = refBytes(b, string(hb))
	b = refBytes(b, string(f.Signature))
	b = binary.BigEndian.AppendUint32(b, f.Leaf)
	var path []byte
	for _, p := range f.Path {
		path = append(path, p...)
	}
	return refBytes(b, string(path))
}

func refEntryOf(e Entry) refEntry {
	if e.Batch != nil {
		return refEntry{
			tag:          "evidence-entry/v2",
			court:        e.Court,
			index:        e.Index,
			evidenceID:   e.EvidenceID,
			acceptedAtMs: uint64(e.AcceptedAt.UnixMilli()),
			submission:   refSubmissionOf(e.Submission).encode(),
			batch:        refBatchOf(e.Batch),
		}
	}
	return refEntry{
		tag:          "evidence-entry/v1",
		court:        e.Court,
		index:        e.Index,
		evidenceID:   e.EvidenceID,
		acceptedAtMs: uint64(e.AcceptedAt.UnixMilli()),
		submission:   refSubmissionOf(e.Submission).encode(),
		signature:    e.Signature,
	}
}

func (r refEntry) encode() []byte {
	var b []byte
	b = refBytes(b, r.tag)
	b = refBytes(b, r.court)
	b = binary.BigEndian.AppendUint64(b, r.index)
	b = refBytes(b, r.evidenceID)
	b = binary.BigEndian.AppendUint64(b, r.acceptedAtMs)
	b = refBytes(b, string(r.submission))
	if r.tag == "evidence-entry/v2" {
		return append(b, r.batch...)
	}
	return refBytes(b, string(r.signature))
}

func refEvidenceID(court, platform, requestID string) string {
	var b []byte
	b = refBytes(b, "evidence-id/v1")
	b = refBytes(b, court)
	b = refBytes(b, platform)
	b = refBytes(b, requestID)
	sum := gmsm3.Sum(b)
	return hex.EncodeToString(sum[:16])
}

func refLeafHash(entry []byte) []byte {
	sum := gmsm3.Sum(append([]byte{0x00}, entry...))
	return sum[:]
}

const testCourt = "court-a.example/evidence"

// testAcceptedAt is when the court accepted validEntry: with a
// sub-millisecond part that the entry does not keep.
var testAcceptedAt = testNow.Add(1500*time.Millisecond + 250*time.Microsecond)

// validEntry returns the entry at index 7 of testCourt's log for
// validSubmission, signed by a fresh platform key.
func validEntry(tb testing.TB) Entry {
	tb.Helper()
	s := validSubmission(tb)
	e := NewEntry(testCourt, 7, testAcceptedAt, s, sign(tb, s, newKey(tb)))
	if err := e.Validate(); err != nil {
		tb.Fatalf("validEntry does not validate: %v", err)
	}
	return e
}

// maximalCourt is the longest court ID.
var maximalCourt = "c" + strings.Repeat("o", MaxCourtIDLen-1)

// maximalSubmission is valid with every field at its bound.
func maximalSubmission(tb testing.TB) Submission {
	tb.Helper()
	s := validSubmission(tb)
	s.Court = maximalCourt
	s.Platform = strings.Repeat("p", MaxPlatformIDLen)
	s.RequestID = strings.Repeat("R", MaxRequestIDLen)
	for _, c := range Categories() {
		if len(c) > len(s.Category) {
			s.Category = c
		}
	}
	s.Title = strings.Repeat("证", MaxTitleBytes/3)
	s.Metadata = make(map[string]string, MaxMetadataPairs)
	valueLen := MaxMetadataBytes/MaxMetadataPairs - MaxMetadataKey
	for i := range MaxMetadataPairs {
		s.Metadata[fmt.Sprintf("k%0*d", MaxMetadataKey-1, i)] = strings.Repeat("v", valueLen)
	}
	if err := s.Validate(); err != nil {
		tb.Fatalf("maximalSubmission does not validate: %v", err)
	}
	return s
}

// maximalEntryV1 is valid with every field at its bound. Its signature is
// the longest DER an SM2 signature can be, but signs nothing: entries are
// not verified on decoding.
func maximalEntryV1(tb testing.TB) Entry {
	tb.Helper()
	e := NewEntry(maximalCourt, math.MaxUint64, testAcceptedAt, maximalSubmission(tb), bytes.Repeat([]byte{0x30}, 72))
	if err := e.Validate(); err != nil {
		tb.Fatalf("maximalEntryV1 does not validate: %v", err)
	}
	return e
}

// maximalEntry is the largest valid entry: version 2, with every field at
// its bound, in a batch of MaxBatchSubmissions whose path is the longest.
// Its batch signature signs nothing, as maximalEntryV1's.
func maximalEntry(tb testing.TB) Entry {
	tb.Helper()
	s := maximalSubmission(tb)
	f := maximalFiling(s)
	e := NewBatchEntry(maximalCourt, math.MaxUint64, testAcceptedAt, s, f)
	if err := e.Validate(); err != nil {
		tb.Fatalf("maximalEntry does not validate: %v", err)
	}
	return e
}

var evidenceIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestEvidenceIDFollowsTheDocumentedFormula(t *testing.T) {
	tests := []struct{ name, court, platform, requestID string }{
		{"typical", testCourt, "esign.example", "req-2026-0001"},
		{"CJK-free minimal", "a", "b", "c"},
		{"at the bounds", strings.Repeat("c", MaxCourtIDLen), strings.Repeat("p", MaxPlatformIDLen), strings.Repeat("R", MaxRequestIDLen)},
		{"empty (not valid, still derived)", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EvidenceID(tt.court, tt.platform, tt.requestID)
			if !evidenceIDRe.MatchString(got) || len(got) != EvidenceIDLen {
				t.Errorf("EvidenceID = %q, want %d lowercase hex digits", got, EvidenceIDLen)
			}
			if want := refEvidenceID(tt.court, tt.platform, tt.requestID); got != want {
				t.Errorf("EvidenceID = %s, the documented formula gives %s", got, want)
			}
		})
	}
}

func TestEvidenceIDDependsOnEveryInput(t *testing.T) {
	base := EvidenceID(testCourt, "esign.example", "req-1")
	tests := []struct{ name, court, platform, requestID string }{
		{"another court", "court-b.example/evidence", "esign.example", "req-1"},
		{"another platform", testCourt, "esign2.example", "req-1"},
		{"another request ID", testCourt, "esign.example", "req-2"},
		{"request ID differing in case", testCourt, "esign.example", "REQ-1"},
		// Length prefixes keep the boundaries between the inputs.
		{"a character moved from platform to request ID", testCourt, "esign.exampl", "ereq-1"},
		{"a character moved from court to platform", testCourt[:len(testCourt)-1], "eesign.example", "req-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EvidenceID(tt.court, tt.platform, tt.requestID); got == base {
				t.Errorf("EvidenceID(%q, %q, %q) = %s, same as for (%q, %q, %q)",
					tt.court, tt.platform, tt.requestID, got, testCourt, "esign.example", "req-1")
			}
		})
	}
}

func TestNewEntry(t *testing.T) {
	s := validSubmission(t)
	sig := []byte{0x30, 0x01, 0x02}
	cst := time.FixedZone("CST", 8*60*60)
	e := NewEntry(testCourt, 42, testAcceptedAt.In(cst), s, sig)
	if e.Court != testCourt || e.Index != 42 || !bytes.Equal(e.Signature, sig) {
		t.Errorf("NewEntry = %+v", e)
	}
	if want := refEvidenceID(testCourt, s.Platform, s.RequestID); e.EvidenceID != want {
		t.Errorf("EvidenceID = %s, want %s", e.EvidenceID, want)
	}
	if want := testAcceptedAt.Truncate(time.Millisecond); !e.AcceptedAt.Equal(want) || e.AcceptedAt.Location() != time.UTC {
		t.Errorf("AcceptedAt = %v, want %v in UTC", e.AcceptedAt, want)
	}
	if !bytes.Equal(e.Submission.Marshal(), s.Marshal()) {
		t.Errorf("NewEntry changed the submission")
	}
}

func TestEntryMarshalMatchesSpec(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Entry)
	}{
		{"typical", func(*Entry) {}},
		{"index 0", func(e *Entry) { e.Index = 0 }},
		{"largest index", func(e *Entry) { e.Index = math.MaxUint64 }},
		{"no metadata", func(e *Entry) { e.Submission.Metadata = nil }},
		{"empty metadata map", func(e *Entry) { e.Submission.Metadata = map[string]string{} }},
		{"metadata keys in bytewise order", func(e *Entry) {
			// '-' < '.' < '0' < '_' < 'a' in ASCII; "a" < "a-" < "ab".
			e.Submission.Metadata = map[string]string{"a": "1", "ab": "2", "a-": "3", "a.": "4", "a0": "5", "a_": "6", "b": ""}
		}},
		{"CJK title and metadata", func(e *Entry) {
			e.Submission.Title = "《借款合同》及补充协议（第二版）"
			e.Submission.Metadata = map[string]string{"parties": "甲方：张三；乙方：李四"}
		}},
		{"version 1 submission", func(e *Entry) { e.Submission.Court = "" }},
		{"sub-millisecond signed-at", func(e *Entry) { e.Submission.SignedAt = e.Submission.SignedAt.Add(999 * time.Microsecond) }},
		{"maximal", func(e *Entry) { *e = maximalEntry(t) }},
		{"maximal version 1", func(e *Entry) { *e = maximalEntryV1(t) }},
		{"batch-filed", func(e *Entry) { *e = validBatchEntry(t) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := validEntry(t)
			e.Submission = cloneSubmission(e.Submission)
			tt.change(&e)
			ref := refEntryOf(e)
			if got, want := e.Submission.Marshal(), ref.submission; !bytes.Equal(got, want) {
				t.Errorf("Submission.Marshal:\n got %x\nwant %x", got, want)
			}
			got, want := e.Marshal(), ref.encode()
			if !bytes.Equal(got, want) {
				t.Fatalf("Entry.Marshal:\n got %x\nwant %x", got, want)
			}
			if got, want := e.LeafHash(), refLeafHash(want); !bytes.Equal(got, want) {
				t.Errorf("LeafHash = %x, want SM3(0x00 || entry) = %x", got, want)
			}
		})
	}
}

// The first bytes of every entry, spelled out: a reader of the spec can
// check the reference encoder itself against this.
func TestEntryMarshalPrefix(t *testing.T) {
	e := validEntry(t)
	e.Index = 0x0102030405060708
	want := "00000011" + hex.EncodeToString([]byte("evidence-entry/v1")) +
		"00000018" + hex.EncodeToString([]byte(testCourt)) +
		"0102030405060708" +
		"00000020" + hex.EncodeToString([]byte(e.EvidenceID))
	if got := hex.EncodeToString(e.Marshal()); !strings.HasPrefix(got, want) {
		t.Errorf("entry starts\n %s\nwant\n %s", got[:len(want)], want)
	}
}

func TestEntryRoundTrip(t *testing.T) {
	for name, e := range map[string]Entry{"typical": validEntry(t), "maximal": maximalEntry(t), "maximal version 1": maximalEntryV1(t), "batch-filed": validBatchEntry(t)} {
		t.Run(name, func(t *testing.T) {
			b := e.Marshal()
			want := bytes.Clone(b)
			got, err := UnmarshalEntry(b)
			if err != nil {
				t.Fatalf("UnmarshalEntry: %v", err)
			}
			if got.Court != e.Court || got.Index != e.Index || got.EvidenceID != e.EvidenceID ||
				!got.AcceptedAt.Equal(e.AcceptedAt) || !bytes.Equal(got.Signature, e.Signature) ||
				!maps.Equal(got.Submission.Metadata, e.Submission.Metadata) ||
				!bytes.Equal(got.Submission.Marshal(), e.Submission.Marshal()) {
				t.Errorf("decoded %+v\nwant %+v", got, e)
			}
			// Decoded values never alias the input: a bbolt value is
			// reused after its transaction.
			for i := range b {
				b[i] = 0xAA
			}
			if again := got.Marshal(); !bytes.Equal(again, want) {
				t.Errorf("decoded entry changed with its input bytes")
			}
		})
	}
}

// MaxEntrySize bounds every valid entry, and is tight up to the longest
// category name the bound allows for.
func TestMaxEntrySize(t *testing.T) {
	e := maximalEntry(t)
	n := len(e.Marshal())
	if n > MaxEntrySize {
		t.Fatalf("maximal entry is %d bytes, MaxEntrySize is %d", n, MaxEntrySize)
	}
	if slack := maxCategoryLen - len(e.Submission.Category); n != MaxEntrySize-slack {
		t.Errorf("maximal entry is %d bytes, want MaxEntrySize-%d = %d", n, slack, MaxEntrySize-slack)
	}
	if _, err := UnmarshalEntry(e.Marshal()); err != nil {
		t.Errorf("UnmarshalEntry(maximal): %v", err)
	}
	// The metadata bound is on keys and values together; shorter keys
	// leave room for longer values, not for a longer entry.
	e.Submission.Metadata = metadataOf(8, 1024-3)
	if m := len(e.Marshal()); m > MaxEntrySize {
		t.Errorf("entry with 8 KiB of values is %d bytes, MaxEntrySize is %d", m, MaxEntrySize)
	}
}

// TestUnmarshalEntryTruncated cuts a valid encoding at every byte.
func TestUnmarshalEntryTruncated(t *testing.T) {
	e := validEntry(t)
	b := e.Marshal()
	for n := range len(b) {
		if _, err := UnmarshalEntry(b[:n]); err == nil {
			t.Fatalf("accepted the first %d of %d bytes", n, len(b))
		} else {
			wantFieldError(t, err, ErrMalformed, "encoding")
			if t.Failed() {
				t.Fatalf("first %d of %d bytes", n, len(b))
			}
		}
	}
}

// setU32 returns a copy of b with the u32 at off replaced.
func setU32(b []byte, off int, v uint32) []byte {
	b = bytes.Clone(b)
	binary.BigEndian.PutUint32(b[off:], v)
	return b
}

// lengthAt returns the offset of the length prefix of the field holding
// value, found by its bytes, which must occur once in b.
func lengthAt(tb testing.TB, b []byte, value []byte) int {
	tb.Helper()
	i := bytes.Index(b, value)
	if i < 4 || bytes.Index(b[i+1:], value) >= 0 {
		tb.Fatalf("%q is not in the encoding exactly once", value)
	}
	return i - 4
}

func TestUnmarshalEntryRejected(t *testing.T) {
	e := validEntry(t)
	good := refEntryOf(e)
	b := good.encode()
	subOff := lengthAt(t, b, good.submission)
	sigOff := len(b) - len(e.Signature) - 4
	withSub := func(change func(*refSubmission)) []byte {
		s := refSubmissionOf(e.Submission)
		change(&s)
		r := good
		r.submission = s.encode()
		return r.encode()
	}
	with := func(change func(*refEntry)) []byte {
		r := good
		change(&r)
		return r.encode()
	}
	over := append(bytes.Clone(b), make([]byte, MaxEntrySize+1-len(b))...)

	tests := []struct {
		name   string
		in     []byte
		reason *Reason
		field  string
	}{
		{"a trailing byte", append(bytes.Clone(b), 0), ErrMalformed, "encoding"},
		{"a second entry appended", append(bytes.Clone(b), b...), ErrMalformed, "encoding"},
		{"tag of another version", with(func(r *refEntry) { r.tag = "evidence-entry/v2" }), ErrMalformed, "encoding"},
		{"tag empty", with(func(r *refEntry) { r.tag = "" }), ErrMalformed, "encoding"},
		{"tag of a submission", with(func(r *refEntry) { r.tag = "evidence-submission/v1" }), ErrMalformed, "encoding"},
		{"a submission, not an entry", good.submission, ErrMalformed, "encoding"},
		{"court invalid", with(func(r *refEntry) { r.court = "Court-A" }), ErrCourtID, "court"},
		{"court empty", with(func(r *refEntry) { r.court = "" }), ErrCourtID, "court"},
		{"court of 129 characters", with(func(r *refEntry) { r.court = strings.Repeat("c", MaxCourtIDLen+1) }), ErrMalformed, "encoding"},
		{"evidence ID of another request", with(func(r *refEntry) { r.evidenceID = EvidenceID(testCourt, e.Submission.Platform, "req-other") }), ErrEvidenceID, "evidence_id"},
		{"evidence ID of another court", with(func(r *refEntry) {
			r.evidenceID = EvidenceID("court-b.example/evidence", e.Submission.Platform, e.Submission.RequestID)
		}), ErrEvidenceID, "evidence_id"},
		{"evidence ID in uppercase", with(func(r *refEntry) { r.evidenceID = strings.ToUpper(r.evidenceID) }), ErrEvidenceID, "evidence_id"},
		{"evidence ID empty", with(func(r *refEntry) { r.evidenceID = "" }), ErrEvidenceID, "evidence_id"},
		{"evidence ID of 33 characters", with(func(r *refEntry) { r.evidenceID += "0" }), ErrMalformed, "encoding"},
		{"accepted at the epoch", with(func(r *refEntry) { r.acceptedAtMs = 0 }), ErrTimestamp, "accepted_at"},
		{"accepted at year 10000", with(func(r *refEntry) { r.acceptedAtMs = uint64(maxTime.UnixMilli()) }), ErrTimestamp, "accepted_at"},
		{"accepted at beyond int64", with(func(r *refEntry) { r.acceptedAtMs = math.MaxUint64 }), ErrTimestamp, "accepted_at"},
		{"submission for another court", withSub(func(s *refSubmission) { s.court = "court-b.example/evidence" }), ErrWrongCourt, "court"},
		{"submission court invalid", withSub(func(s *refSubmission) { s.court = "Court-A" }), ErrCourtID, "court"},
		{"submission of version 2 with an empty court", withSub(func(s *refSubmission) { s.court = "" }), ErrMalformed, "encoding"},
		{"submission invalid", withSub(func(s *refSubmission) { s.category = "Contract" }), ErrCategory, "category"},
		{"submission signed at beyond int64", withSub(func(s *refSubmission) { s.signedAtMs = 1 << 63 }), ErrTimestamp, "signed_at"},
		{"submission with a trailing byte", with(func(r *refEntry) { r.submission = append(bytes.Clone(r.submission), 0) }), ErrMalformed, "encoding"},
		{"submission one byte short", with(func(r *refEntry) { r.submission = r.submission[:len(r.submission)-1] }), ErrMalformed, "encoding"},
		{"submission metadata out of order", withSub(func(s *refSubmission) { s.pairs[0], s.pairs[1] = s.pairs[1], s.pairs[0] }), ErrMalformed, "encoding"},
		{"submission metadata key repeated", withSub(func(s *refSubmission) { s.pairs[1] = s.pairs[0] }), ErrMalformed, "encoding"},
		{"submission length beyond the input", setU32(b, subOff, uint32(len(good.submission)+1+len(e.Signature)+4)), ErrMalformed, "encoding"},
		{"submission length short, the rest read as signature", setU32(b, subOff, uint32(len(good.submission)-8)), ErrMalformed, "encoding"},
		{"signature empty", with(func(r *refEntry) { r.signature = nil }), ErrSignatureMissing, "signature"},
		{"signature of 73 bytes", with(func(r *refEntry) { r.signature = make([]byte, 73) }), ErrMalformed, "encoding"},
		{"signature length one beyond the input", setU32(b, sigOff, uint32(len(e.Signature)+1)), ErrMalformed, "encoding"},
		{"signature length one short", setU32(b, sigOff, uint32(len(e.Signature)-1)), ErrMalformed, "encoding"},
		{"longer than MaxEntrySize", over, ErrMalformed, "encoding"},
		{"empty", nil, ErrMalformed, "encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UnmarshalEntry(tt.in)
			if got != nil {
				t.Errorf("UnmarshalEntry returned an entry with its error")
			}
			wantFieldError(t, err, tt.reason, tt.field)
		})
	}
}

// hugeLengths are valid encodings with one length prefix replaced by
// 0xFFFFFFFF: a decoder that allocated before checking would ask for 4 GiB.
func hugeLengths(tb testing.TB) map[string][]byte {
	tb.Helper()
	e := validEntry(tb)
	good := refEntryOf(e)
	b := good.encode()
	const huge = math.MaxUint32
	withSub := func(sub []byte) []byte {
		r := good
		r.submission = sub
		return r.encode()
	}
	sub := good.submission
	countOff := lengthAt(tb, sub, []byte(e.Submission.Title)) + 4 + len(e.Submission.Title)
	value := []byte(e.Submission.Metadata["contract_no"])
	return map[string][]byte{
		"tag":               setU32(b, 0, huge),
		"court":             setU32(b, 4+len("evidence-entry/v1"), huge),
		"submission court":  withSub(setU32(sub, 4+len("evidence-submission/v2"), huge)),
		"evidence ID":       setU32(b, lengthAt(tb, b, []byte(e.EvidenceID)), huge),
		"submission":        setU32(b, lengthAt(tb, b, sub), huge),
		"signature":         setU32(b, len(b)-len(e.Signature)-4, huge),
		"title":             withSub(setU32(sub, lengthAt(tb, sub, []byte(e.Submission.Title)), huge)),
		"metadata count":    withSub(setU32(sub, countOff, huge)),
		"metadata value":    withSub(setU32(sub, lengthAt(tb, sub, value), huge)),
		"fingerprint":       withSub(setU32(sub, lengthAt(tb, sub, e.Submission.Fingerprint[:]), huge)),
		"submission length": setU32(b, lengthAt(tb, b, sub), uint32(MaxEntrySize)),
	}
}

func TestUnmarshalEntryHugeLength(t *testing.T) {
	for name, in := range hugeLengths(t) {
		t.Run(name, func(t *testing.T) {
			var err error
			var before, after runtime.MemStats
			const runs = 50
			runtime.ReadMemStats(&before)
			for range runs {
				_, err = UnmarshalEntry(in)
			}
			runtime.ReadMemStats(&after)
			wantFieldError(t, err, ErrMalformed, "encoding")
			// A rejected entry costs a few small allocations for the
			// error and the fields read before it; never the claimed length.
			if perRun := (after.TotalAlloc - before.TotalAlloc) / runs; perRun > 16<<10 {
				t.Errorf("UnmarshalEntry allocated %d bytes per call", perRun)
			}
		})
	}
}
