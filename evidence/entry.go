package evidence

import (
	"bytes"
	"encoding/hex"
	"strings"
	"time"

	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
)

const (
	entryTag   = "evidence-entry/v1"
	entryTagV2 = "evidence-entry/v2" // a batch-signed submission (batch.go)
	// entryTagPrefix begins every version's tag; maxTagLen bounds a tag
	// read, long enough for later versions'.
	entryTagPrefix = "evidence-entry/v"
	maxTagLen      = 64
	evidenceIDTag  = "evidence-id/v1"

	// MaxCourtIDLen bounds a court ID, which is also its log's origin.
	MaxCourtIDLen = 128
	// EvidenceIDLen is the length of an evidence ID in hex digits.
	EvidenceIDLen = 32
	// MaxEntrySize bounds the encoding of any valid entry.
	MaxEntrySize = 4 + len(entryTagV2) + 4 + MaxCourtIDLen + 8 + 4 + EvidenceIDLen + 8 +
		4 + maxSubmissionSize + maxBatchFilingSize
	maxSubmissionSize = 4 + len(submissionTag) + 4 + MaxCourtIDLen + 4 + MaxPlatformIDLen + 4 + MaxRequestIDLen +
		4 + sm3.Size + 4 + maxCategoryLen + 4 + MaxTitleBytes + 4 +
		MaxMetadataPairs*8 + MaxMetadataBytes + 8
)

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
	// Signature is the platform's SM2 signature over Submission.Marshal()
	// (version 1); empty when the submission was filed in a signed batch.
	Signature []byte
	// Batch is how a submission filed in a signed batch is signed (version
	// 2); nil for one signed alone.
	Batch *BatchFiling
}

// Version is the entry's encoding version: 2 when it was filed in a
// signed batch, else 1.
func (e *Entry) Version() int {
	if e.Batch != nil {
		return 2
	}
	return 1
}

// NewBatchEntry builds the entry a court records for a checked submission
// of a signed batch.
func NewBatchEntry(court string, index uint64, acceptedAt time.Time, s Submission, f BatchFiling) Entry {
	e := NewEntry(court, index, acceptedAt, s, nil)
	e.Batch = &f
	return e
}

// VerifySignature checks the platform's signature on the entry's
// submission under pub: its own (version 1), or its batch's header
// signature (version 2; the path from the submission to the header's root
// is checked by Validate).
func (e *Entry) VerifySignature(pub *sm2.PublicKey) error {
	if e.Batch != nil {
		return e.Batch.Header.VerifySignature(e.Batch.Signature, pub)
	}
	return VerifySignature(&e.Submission, e.Signature, pub)
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
	if e.Batch != nil {
		enc.str(entryTagV2)
	} else {
		enc.str(entryTag)
	}
	enc.str(e.Court)
	enc.u64(e.Index)
	enc.str(e.EvidenceID)
	enc.u64(uint64(e.AcceptedAt.UnixMilli()))
	start := len(enc.b)
	enc.u32(0) // length of the submission, patched below
	e.Submission.encode(&enc)
	n := len(enc.b) - start - 4
	enc.b[start], enc.b[start+1], enc.b[start+2], enc.b[start+3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	if e.Batch == nil {
		enc.bytes(e.Signature)
		return enc.b
	}
	b := e.Batch
	enc.bytes(b.Header.Marshal())
	enc.bytes(b.Signature)
	enc.u32(b.Leaf)
	enc.u32(uint32(len(b.Path) * sm3.Size))
	for _, h := range b.Path {
		enc.b = append(enc.b, h...)
	}
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
	var batched bool
	switch tag := d.str("tag", maxTagLen); {
	case d.err != nil:
	case tag == entryTag:
	case tag == entryTagV2:
		batched = true
	case strings.HasPrefix(tag, entryTagPrefix):
		// A later version of this format: this build must not take it for
		// a damaged or forged entry (and skip it while other nodes record
		// it), but say that it is too old to read it.
		return nil, fieldErr("encoding", ErrNewerVersion, "entry tag %q; this build reads %q and %q", clip(tag), entryTag, entryTagV2)
	default:
		d.fail("tag %q, want %q or %q", tag, entryTag, entryTagV2)
	}
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
	if batched {
		e.Batch = decodeBatchFiling(&d)
	} else {
		e.Signature = bytes.Clone(d.bytes("signature", sm2.MaxSignatureSize))
	}
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
	if e.Batch != nil {
		return e.validateBatch()
	}
	if len(e.Signature) == 0 || len(e.Signature) > sm2.MaxSignatureSize {
		return fieldErr("signature", ErrSignatureMissing, "%d bytes", len(e.Signature))
	}
	return nil
}

// validateBatch checks a version 2 entry's batch: a valid header for the
// entry's court, a signature of an SM2 signature's size, none of its own,
// and the submission at its leaf under the header's root. It does not
// verify the signature, which needs the platform's key.
func (e *Entry) validateBatch() error {
	b := e.Batch
	if len(e.Signature) != 0 {
		return fieldErr("signature", ErrMalformed, "a batch-filed entry is signed by its batch, not by a signature of its own")
	}
	if err := b.Header.Validate(); err != nil {
		return err
	}
	if b.Header.Court != e.Court {
		return fieldErr("batch.court", ErrWrongCourt, "entry of court %q holds a batch for court %q", clip(e.Court), clip(b.Header.Court))
	}
	if len(b.Signature) == 0 || len(b.Signature) > sm2.MaxSignatureSize {
		return fieldErr("batch.signature", ErrSignatureMissing, "%d bytes", len(b.Signature))
	}
	return b.CheckSubmission(&e.Submission)
}

// decodeBatchFiling reads what a version 2 entry has in place of the
// signature: bytes(header), bytes(signature), u32 leaf, bytes(path), the
// path being its hashes concatenated.
func decodeBatchFiling(d *decoder) *BatchFiling {
	f := &BatchFiling{}
	hd := decoder{b: d.bytes("batch header", maxBatchHeaderSize)}
	if d.err == nil {
		f.Header = *decodeBatchHeader(&hd)
		if err := hd.finish(); err != nil && d.err == nil {
			d.err = err
		}
	}
	f.Signature = bytes.Clone(d.bytes("batch signature", sm2.MaxSignatureSize))
	f.Leaf = d.u32("batch leaf")
	path := d.bytes("batch path", maxBatchPath*sm3.Size)
	if d.err == nil && len(path)%sm3.Size != 0 {
		d.fail("batch path of %d bytes, not a multiple of %d", len(path), sm3.Size)
	}
	if d.err == nil {
		f.Path = make([][]byte, 0, len(path)/sm3.Size)
		for i := 0; i < len(path); i += sm3.Size {
			f.Path = append(f.Path, bytes.Clone(path[i:i+sm3.Size]))
		}
	}
	return f
}
