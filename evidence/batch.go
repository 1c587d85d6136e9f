package evidence

import (
	"bytes"
	"context"
	"time"

	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
)

// Batch signing (issue 14): a platform filing many submissions signs once,
// over a batch header whose root is the Merkle tree of their bytes, instead
// of once per submission. The court verifies that one signature and, per
// submission, its path to the signed root; each submission is still
// recorded as its own entry, which carries the header, the signature and
// its path, so it is provable alone.
const (
	batchTag = "evidence-batch/v1"

	// MaxBatchSubmissions bounds the submissions of one signed batch, as
	// the API bounds SubmitBatch.
	MaxBatchSubmissions = 1024
	// MaxBatchIDLen bounds a batch ID, which has a request ID's format.
	MaxBatchIDLen = MaxRequestIDLen
	// maxBatchPath is the longest path in a tree of MaxBatchSubmissions
	// leaves.
	maxBatchPath = 10

	maxBatchHeaderSize = 4 + len(batchTag) + 4 + MaxCourtIDLen + 4 + MaxPlatformIDLen + 4 + MaxBatchIDLen +
		8 + 4 + 4 + sm3.Size
	// maxBatchFilingSize bounds what an entry of version 2 adds to one of
	// version 1: header, signature, leaf index and path.
	maxBatchFilingSize = 4 + maxBatchHeaderSize + 4 + sm2.MaxSignatureSize + 4 + 4 + maxBatchPath*sm3.Size
)

// BatchHeader is what a platform signs for a batch of submissions: their
// number and the root of the RFC 6962 tree (SM3, package merkle) whose
// leaves are their canonical bytes, in order.
type BatchHeader struct {
	Court    string    // the court the batch is filed with
	Platform string    // the platform's registered ID
	BatchID  string    // chosen by the platform; a request ID's format
	SignedAt time.Time // when the platform signed; kept to the millisecond
	Count    uint32    // number of submissions, 1..MaxBatchSubmissions
	Root     []byte    // SM3 Merkle root of the submissions' bytes, 32 bytes
}

// Marshal returns the canonical bytes of h, what the platform signs:
//
//	bytes  "evidence-batch/v1"
//	bytes  court ID
//	bytes  platform ID
//	bytes  batch ID
//	u64    signed-at, Unix time in milliseconds
//	u32    number of submissions n
//	bytes  root, 32 bytes
func (h *BatchHeader) Marshal() []byte {
	e := encoder{b: make([]byte, 0, 160)}
	h.encode(&e)
	return e.b
}

func (h *BatchHeader) encode(e *encoder) {
	e.str(batchTag)
	e.str(h.Court)
	e.str(h.Platform)
	e.str(h.BatchID)
	e.u64(uint64(h.SignedAt.UnixMilli()))
	e.u32(h.Count)
	e.bytes(h.Root)
}

// UnmarshalBatchHeader decodes canonical batch header bytes and validates
// their format.
func UnmarshalBatchHeader(b []byte) (*BatchHeader, error) {
	d := decoder{b: b}
	h := decodeBatchHeader(&d)
	if err := d.finish(); err != nil {
		return nil, err
	}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	return h, nil
}

func decodeBatchHeader(d *decoder) *BatchHeader {
	h := &BatchHeader{}
	d.tag(batchTag)
	h.Court = d.str("batch court", MaxCourtIDLen)
	h.Platform = d.str("batch platform", MaxPlatformIDLen)
	h.BatchID = d.str("batch ID", MaxBatchIDLen)
	h.SignedAt = msTime(d.u64("batch signed-at"))
	h.Count = d.u32("batch count")
	h.Root = bytes.Clone(d.bytes("batch root", sm3.Size))
	return h
}

// Validate checks the format and bounds of every field.
func (h *BatchHeader) Validate() error {
	if !ValidCourtID(h.Court) {
		return fieldErr("batch.court", ErrCourtID, "%q", clip(h.Court))
	}
	if !ValidPlatformID(h.Platform) {
		return fieldErr("batch.platform", ErrPlatformID, "%q", clip(h.Platform))
	}
	if !validRequestID(h.BatchID) {
		return fieldErr("batch.batch_id", ErrBatchID, "%q", clip(h.BatchID))
	}
	if err := checkTime("batch.signed_at", h.SignedAt); err != nil {
		return err
	}
	if h.Count == 0 || h.Count > MaxBatchSubmissions {
		return fieldErr("batch.count", ErrBatchCount, "%d submissions, want 1 to %d", h.Count, MaxBatchSubmissions)
	}
	if len(h.Root) != sm3.Size {
		return fieldErr("batch.root", ErrBatchPath, "root of %d bytes, want %d", len(h.Root), sm3.Size)
	}
	return nil
}

// Sign validates h and returns the platform's SM2 signature over its bytes.
func (h *BatchHeader) Sign(key *sm2.PrivateKey) ([]byte, error) {
	if err := h.Validate(); err != nil {
		return nil, err
	}
	return key.Sign(h.Marshal())
}

// VerifySignature checks the platform's signature over h's bytes.
func (h *BatchHeader) VerifySignature(sig []byte, pub *sm2.PublicKey) error {
	if len(sig) == 0 || len(sig) > sm2.MaxSignatureSize {
		return fieldErr("batch.signature", ErrSignatureMissing, "%d bytes", len(sig))
	}
	if err := pub.Verify(h.Marshal(), sig); err != nil {
		return fieldErr("batch.signature", ErrSignature, "batch %q of platform %q", clip(h.BatchID), h.Platform)
	}
	return nil
}

// Check is what a court checks of a header before anything of the batch:
// its format, that it is for this court (court), that it announces count
// submissions (as many as were sent), and its signed-at against the court's
// clock now. The signature is checked apart (VerifySignature), once the
// platform's key is known.
func (h *BatchHeader) Check(court string, count int, now time.Time, p TimePolicy) error {
	if err := h.Validate(); err != nil {
		return err
	}
	if h.Court != court {
		return fieldErr("batch.court", ErrWrongCourt,
			"batch signed for court %q, sent to court %q; sign it with court=%s to file it here", clip(h.Court), court, court)
	}
	if int(h.Count) != count {
		return fieldErr("batch.count", ErrBatchCount, "header says %d submissions, %d were sent", h.Count, count)
	}
	return p.check("batch.signed_at", h.SignedAt, now)
}

// BatchFiling is how an entry of a batch-signed submission is signed: the
// batch's header and signature, and where the submission is in the batch.
type BatchFiling struct {
	Header    BatchHeader
	Signature []byte   // the platform's SM2 signature over Header.Marshal()
	Leaf      uint32   // index of the submission in the batch, from 0
	Path      [][]byte // inclusion path of leaf Leaf in the tree of Header.Count leaves
}

// CheckSubmission checks that s belongs to the batch: it names the header's
// court and platform, and its bytes are leaf f.Leaf of the signed root.
func (f *BatchFiling) CheckSubmission(s *Submission) error {
	if s.Court != f.Header.Court {
		return fieldErr("court", ErrBatchMismatch, "submission for court %q in a batch for court %q", clip(s.Court), clip(f.Header.Court))
	}
	if s.Platform != f.Header.Platform {
		return fieldErr("platform", ErrBatchMismatch, "submission of platform %q in a batch of platform %q", clip(s.Platform), clip(f.Header.Platform))
	}
	if f.Leaf >= f.Header.Count {
		return fieldErr("batch.leaf", ErrBatchPath, "leaf %d of a batch of %d", f.Leaf, f.Header.Count)
	}
	if len(f.Path) > maxBatchPath {
		return fieldErr("batch.path", ErrBatchPath, "%d hashes, at most %d", len(f.Path), maxBatchPath)
	}
	if err := merkle.VerifyInclusion(uint64(f.Leaf), uint64(f.Header.Count), merkle.LeafHash(s.Marshal()), f.Path, f.Header.Root); err != nil {
		return fieldErr("batch.path", ErrBatchPath, "submission %q at leaf %d: %v", clip(s.RequestID), f.Leaf, err)
	}
	return nil
}

// SignedBatch is a platform's batch as it is filed: the signed header and
// the submissions, each with its path to the header's root.
type SignedBatch struct {
	Header      BatchHeader
	Signature   []byte
	Submissions []Submission
	Paths       [][][]byte // Paths[i] is the inclusion path of Submissions[i]
}

// Filing returns how submission i of b is signed.
func (b *SignedBatch) Filing(i int) BatchFiling {
	return BatchFiling{Header: b.Header, Signature: b.Signature, Leaf: uint32(i), Path: b.Paths[i]}
}

// SignBatch builds and signs a batch of subs, which must all be valid,
// name header's court and platform and have distinct request IDs. It sets
// header's count and root from subs; the rest of header is the caller's.
func SignBatch(key *sm2.PrivateKey, header BatchHeader, subs []Submission) (*SignedBatch, error) {
	if len(subs) == 0 || len(subs) > MaxBatchSubmissions {
		return nil, fieldErr("batch.count", ErrBatchCount, "%d submissions, want 1 to %d", len(subs), MaxBatchSubmissions)
	}
	if err := CheckBatchSubmissions(header.Court, header.Platform, subs); err != nil {
		return nil, err
	}
	store := merkle.NewMemStore()
	for i := range subs {
		store.AppendLeaf(subs[i].Marshal())
	}
	header.Count = uint32(len(subs))
	header.Root = store.Root()
	header.SignedAt = header.SignedAt.Truncate(time.Millisecond).UTC()
	sig, err := header.Sign(key)
	if err != nil {
		return nil, err
	}
	b := &SignedBatch{Header: header, Signature: sig, Submissions: subs, Paths: make([][][]byte, len(subs))}
	for i := range subs {
		if b.Paths[i], err = merkle.Inclusion(context.Background(), store, uint64(i), store.Size()); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// CheckBatchSubmissions checks what a platform checks before it signs a
// batch: every submission valid, for court and of platform, and no request
// ID twice (each is recorded as its own evidence, so a second would be a
// conflict or a duplicate of the first).
func CheckBatchSubmissions(court, platform string, subs []Submission) error {
	seen := make(map[string]int, len(subs))
	for i := range subs {
		s := &subs[i]
		if err := s.Validate(); err != nil {
			return err
		}
		if s.Court != court || s.Platform != platform {
			return fieldErr("court", ErrBatchMismatch, "submission %d is for court %q and platform %q, the batch for %q and %q",
				i, clip(s.Court), clip(s.Platform), clip(court), clip(platform))
		}
		if j, dup := seen[s.RequestID]; dup {
			return fieldErr("request_id", ErrBatchDuplicate, "%q at submissions %d and %d", clip(s.RequestID), j, i)
		}
		seen[s.RequestID] = i
	}
	return nil
}

// check bounds t against the court's clock now.
func (p TimePolicy) check(field string, t, now time.Time) error {
	p = p.orDefault()
	if t.After(now.Add(p.MaxSkew)) {
		return fieldErr(field, ErrTimestampFuture, "%s is more than %s after the court's %s",
			t.Format(time.RFC3339Nano), p.MaxSkew, now.UTC().Format(time.RFC3339Nano))
	}
	if t.Before(now.Add(-p.MaxAge)) {
		return fieldErr(field, ErrTimestampStale, "%s is more than %s before the court's %s",
			t.Format(time.RFC3339Nano), p.MaxAge, now.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// CheckBatched is Check for a submission of a batch whose header and
// signature the court has verified: format, court, signed-at against the
// clock, and its place in the batch (f) instead of its own signature.
func CheckBatched(s *Submission, f *BatchFiling, court string, now time.Time, p TimePolicy) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if err := s.CheckCourt(court); err != nil {
		return err
	}
	if err := p.check("signed_at", s.SignedAt, now); err != nil {
		return err
	}
	return f.CheckSubmission(s)
}
