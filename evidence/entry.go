package evidence

import (
	"bytes"
	"encoding/hex"
	"regexp"
	"time"

	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
)

const (
	entryTag      = "evidence-entry/v1"
	evidenceIDTag = "evidence-id/v1"

	// MaxCourtIDLen bounds a court ID, which is also its log's origin.
	MaxCourtIDLen = 128
	// EvidenceIDLen is the length of an evidence ID in hex digits.
	EvidenceIDLen = 32
	// MaxEntrySize bounds the encoding of any valid entry.
	MaxEntrySize = 4 + len(entryTag) + 4 + MaxCourtIDLen + 8 + 4 + EvidenceIDLen + 8 +
		4 + maxSubmissionSize + 4 + sm2.MaxSignatureSize
	maxSubmissionSize = 4 + len(submissionTag) + 4 + MaxCourtIDLen + 4 + MaxPlatformIDLen + 4 + MaxRequestIDLen +
		4 + sm3.Size + 4 + maxCategoryLen + 4 + MaxTitleBytes + 4 +
		MaxMetadataPairs*8 + MaxMetadataBytes + 8
)

// courtIDRe admits names usable as a C2SP log origin and key name.
var courtIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9./-]{0,127}$`)

// ValidCourtID reports whether id can name a court and its log.
func ValidCourtID(id string) bool { return courtIDRe.MatchString(id) }

// EvidenceID derives the ID of the evidence a platform files at a court under
// a request ID (see the package comment).
func EvidenceID(court, platform, requestID string) string {
	e := encoder{}
	e.str(evidenceIDTag)
	e.str(court)
	e.str(platform)
	e.str(requestID)
	sum := sm3.Sum(e.b)
	return hex.EncodeToString(sum[:EvidenceIDLen/2])
}

// Entry is one record of a court's log: the platform's signed submission as
// the court accepted it.
type Entry struct {
	Court      string    // the court's ID, its log's origin
	Index      uint64    // position in the court's log, from 0
	EvidenceID string    // EvidenceID(Court, Submission.Platform, Submission.RequestID)
	AcceptedAt time.Time // decided by the court's leader; kept to the millisecond
	Submission Submission
	Signature  []byte // the platform's SM2 signature over Submission.Marshal()
}

// NewEntry builds the entry a court records for a checked submission.
func NewEntry(court string, index uint64, acceptedAt time.Time, s Submission, sig []byte) Entry {
	return Entry{
		Court:      court,
		Index:      index,
		EvidenceID: EvidenceID(court, s.Platform, s.RequestID),
		AcceptedAt: acceptedAt.Truncate(time.Millisecond).UTC(),
		Submission: s,
		Signature:  sig,
	}
}

// Marshal returns the canonical bytes of e, the data of its Merkle leaf.
func (e *Entry) Marshal() []byte {
	enc := encoder{b: make([]byte, 0, 512)}
	enc.str(entryTag)
	enc.str(e.Court)
	enc.u64(e.Index)
	enc.str(e.EvidenceID)
	enc.u64(uint64(e.AcceptedAt.UnixMilli()))
	start := len(enc.b)
	enc.u32(0) // length of the submission, patched below
	e.Submission.encode(&enc)
	n := len(enc.b) - start - 4
	enc.b[start], enc.b[start+1], enc.b[start+2], enc.b[start+3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	enc.bytes(e.Signature)
	return enc.b
}

// LeafHash returns SM3(0x00 || Marshal()), the entry's leaf in the court's log.
func (e *Entry) LeafHash() []byte { return merkle.LeafHash(e.Marshal()) }

// UnmarshalEntry decodes canonical entry bytes and validates them. It does
// not verify the platform's signature, which needs the platform's key.
func UnmarshalEntry(b []byte) (*Entry, error) {
	if len(b) > MaxEntrySize {
		return nil, fieldErr("encoding", ErrMalformed, "%d bytes, at most %d", len(b), MaxEntrySize)
	}
	d := decoder{b: b}
	e := &Entry{}
	d.tag(entryTag)
	e.Court = d.str("court", MaxCourtIDLen)
	e.Index = d.u64("index")
	e.EvidenceID = d.str("evidence ID", EvidenceIDLen)
	e.AcceptedAt = msTime(d.u64("accepted-at"))
	sub := decoder{b: d.bytes("submission", maxSubmissionSize)}
	if d.err == nil {
		e.Submission = *decodeSubmission(&sub)
		if err := sub.finish(); err != nil {
			return nil, err
		}
	}
	// Copied: b may be memory the caller does not own for long, such as a
	// bbolt value valid only during its transaction.
	e.Signature = bytes.Clone(d.bytes("signature", sm2.MaxSignatureSize))
	if err := d.finish(); err != nil {
		return nil, err
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return e, nil
}

// Validate checks the entry's own fields and its submission's format (not
// the rules only filing applies: an entry recorded before them is valid).
func (e *Entry) Validate() error {
	if !ValidCourtID(e.Court) {
		return fieldErr("court", ErrCourtID, "%q", clip(e.Court))
	}
	if err := e.Submission.validateFormat(); err != nil {
		return err
	}
	// A version 2 submission is recorded only by the court it names.
	if c := e.Submission.Court; c != "" && c != e.Court {
		return fieldErr("court", ErrWrongCourt, "entry of court %q holds a submission for court %q", clip(e.Court), clip(c))
	}
	if want := EvidenceID(e.Court, e.Submission.Platform, e.Submission.RequestID); e.EvidenceID != want {
		return fieldErr("evidence_id", ErrEvidenceID, "%q, want %q", clip(e.EvidenceID), want)
	}
	if err := checkTime("accepted_at", e.AcceptedAt); err != nil {
		return err
	}
	if len(e.Signature) == 0 || len(e.Signature) > sm2.MaxSignatureSize {
		return fieldErr("signature", ErrSignatureMissing, "%d bytes", len(e.Signature))
	}
	return nil
}
