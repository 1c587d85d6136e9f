package evidence

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
)

// batchKey is the platform key of the batches of these tests.
var batchKey = func() *sm2.PrivateKey {
	k, err := sm2.GenerateKey()
	if err != nil {
		panic(err)
	}
	return k
}()

// batchSubmissions are n valid submissions of testCourt by esign.example.
func batchSubmissions(tb testing.TB, n int) []Submission {
	tb.Helper()
	subs := make([]Submission, n)
	for i := range subs {
		s := validSubmission(tb)
		s.RequestID = fmt.Sprintf("req-%04d", i)
		s.Fingerprint = sm3.Sum([]byte(s.RequestID))
		subs[i] = s
	}
	return subs
}

func validBatch(tb testing.TB, n int) *SignedBatch {
	tb.Helper()
	b, err := SignBatch(batchKey, BatchHeader{Court: testCourt, Platform: "esign.example", BatchID: "batch-0001", SignedAt: testNow},
		batchSubmissions(tb, n))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// validBatchEntry is the entry of leaf 2 of a batch of 5, at index 7.
func validBatchEntry(tb testing.TB) Entry {
	tb.Helper()
	b := validBatch(tb, 5)
	e := NewBatchEntry(testCourt, 7, testAcceptedAt, b.Submissions[2], b.Filing(2))
	if err := e.Validate(); err != nil {
		tb.Fatalf("validBatchEntry does not validate: %v", err)
	}
	return e
}

// maximalFiling places s as leaf 0 of a batch of MaxBatchSubmissions with
// every header field at its bound; the path's hashes are arbitrary and the
// root is computed from them, as leaf 0 is the left child at every level.
func maximalFiling(s Submission) BatchFiling {
	h := merkle.LeafHash(s.Marshal())
	var path [][]byte
	for i := range maxBatchPath {
		sib := sm3.Sum([]byte{byte(i)})
		path = append(path, sib[:])
		h = merkle.NodeHash(h, sib[:])
	}
	return BatchFiling{
		Header: BatchHeader{Court: s.Court, Platform: s.Platform, BatchID: strings.Repeat("B", MaxBatchIDLen),
			SignedAt: testNow, Count: MaxBatchSubmissions, Root: h},
		Signature: bytes.Repeat([]byte{0x30}, sm2.MaxSignatureSize),
		Leaf:      0,
		Path:      path,
	}
}

func TestSignBatchEveryEntryVerifies(t *testing.T) {
	for _, n := range []int{1, 2, 5, 8, 13} {
		b := validBatch(t, n)
		leaves := make([][]byte, n)
		for i := range b.Submissions {
			leaves[i] = b.Submissions[i].Marshal()
		}
		if !bytes.Equal(b.Header.Root, merkle.RootOf(leaves)) || b.Header.Count != uint32(n) {
			t.Fatalf("n=%d: header %+v does not commit to the submissions", n, b.Header)
		}
		other, _ := sm2.GenerateKey()
		for i := range b.Submissions {
			e := NewBatchEntry(testCourt, uint64(i), testAcceptedAt, b.Submissions[i], b.Filing(i))
			got, err := UnmarshalEntry(e.Marshal())
			if err != nil {
				t.Fatalf("n=%d leaf %d: %v", n, i, err)
			}
			if !bytes.Equal(got.Marshal(), e.Marshal()) || got.Version() != 2 || got.Batch.Leaf != uint32(i) {
				t.Fatalf("n=%d leaf %d: round trip differs", n, i)
			}
			if err := got.VerifySignature(batchKey.Public()); err != nil {
				t.Fatalf("n=%d leaf %d: %v", n, i, err)
			}
			if err := got.VerifySignature(other.Public()); !errors.Is(err, ErrSignature) {
				t.Fatalf("n=%d leaf %d under another key: %v", n, i, err)
			}
		}
	}
}

func TestSignBatchRefuses(t *testing.T) {
	hdr := BatchHeader{Court: testCourt, Platform: "esign.example", BatchID: "b", SignedAt: testNow}
	for _, tc := range []struct {
		name string
		subs func() []Submission
		hdr  func(h *BatchHeader)
		want *Reason
	}{
		{"empty", func() []Submission { return nil }, nil, ErrBatchCount},
		{"too many", func() []Submission { return make([]Submission, MaxBatchSubmissions+1) }, nil, ErrBatchCount},
		{"duplicate request ID", func() []Submission {
			s := batchSubmissions(t, 3)
			s[2].RequestID = s[0].RequestID
			return s
		}, nil, ErrBatchDuplicate},
		{"submission for another court", func() []Submission {
			s := batchSubmissions(t, 3)
			s[1].Court = "court-b.example/evidence"
			return s
		}, nil, ErrBatchMismatch},
		{"submission of another platform", func() []Submission {
			s := batchSubmissions(t, 3)
			s[1].Platform = "other.example"
			return s
		}, nil, ErrBatchMismatch},
		{"invalid submission", func() []Submission {
			s := batchSubmissions(t, 3)
			s[1].Title = " "
			return s
		}, nil, ErrTitleEmpty},
		{"invalid batch ID", func() []Submission { return batchSubmissions(t, 2) }, func(h *BatchHeader) { h.BatchID = "-x" }, ErrBatchID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := hdr
			if tc.hdr != nil {
				tc.hdr(&h)
			}
			b, err := SignBatch(batchKey, h, tc.subs())
			if b != nil || !errors.Is(err, tc.want) {
				t.Fatalf("SignBatch: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestBatchHeaderCheck(t *testing.T) {
	p := TimePolicy{MaxSkew: time.Minute, MaxAge: time.Hour}
	for _, tc := range []struct {
		name  string
		edit  func(h *BatchHeader)
		count int
		want  *Reason
	}{
		{"valid", func(h *BatchHeader) {}, 5, nil},
		{"wrong court", func(h *BatchHeader) { h.Court = "court-b.example/evidence" }, 5, ErrWrongCourt},
		{"fewer sent than signed", func(h *BatchHeader) {}, 4, ErrBatchCount},
		{"more sent than signed", func(h *BatchHeader) {}, 6, ErrBatchCount},
		{"count zero", func(h *BatchHeader) { h.Count = 0 }, 0, ErrBatchCount},
		{"count over the bound", func(h *BatchHeader) { h.Count = MaxBatchSubmissions + 1 }, MaxBatchSubmissions + 1, ErrBatchCount},
		{"in the future", func(h *BatchHeader) { h.SignedAt = testNow.Add(2 * time.Minute) }, 5, ErrTimestampFuture},
		{"too old", func(h *BatchHeader) { h.SignedAt = testNow.Add(-2 * time.Hour) }, 5, ErrTimestampStale},
		{"year 1999", func(h *BatchHeader) { h.SignedAt = time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC) }, 5, ErrTimestamp},
		{"short root", func(h *BatchHeader) { h.Root = h.Root[:31] }, 5, ErrBatchPath},
		{"invalid platform", func(h *BatchHeader) { h.Platform = "Esign" }, 5, ErrPlatformID},
		{"invalid batch ID", func(h *BatchHeader) { h.BatchID = "" }, 5, ErrBatchID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := validBatch(t, 5).Header
			tc.edit(&h)
			err := h.Check(testCourt, tc.count, testNow, p)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Check: %v, want %v", err, tc.want)
			}
			if err != nil {
				wantDecodeError(t, err)
			}
		})
	}
}

func TestCheckBatched(t *testing.T) {
	p := TimePolicy{MaxSkew: time.Minute, MaxAge: time.Hour}
	for _, tc := range []struct {
		name string
		edit func(s *Submission, f *BatchFiling)
		want *Reason
	}{
		{"valid", func(s *Submission, f *BatchFiling) {}, nil},
		{"path with a changed byte", func(s *Submission, f *BatchFiling) { f.Path[0] = flip(f.Path[0], 3) }, ErrBatchPath},
		{"path of another leaf", func(s *Submission, f *BatchFiling) { f.Leaf = 3 }, ErrBatchPath},
		{"leaf beyond the batch", func(s *Submission, f *BatchFiling) { f.Leaf = 5 }, ErrBatchPath},
		{"path too short", func(s *Submission, f *BatchFiling) { f.Path = f.Path[1:] }, ErrBatchPath},
		{"path too long", func(s *Submission, f *BatchFiling) { f.Path = append(f.Path, make([][]byte, 10)...) }, ErrBatchPath},
		{"submission changed", func(s *Submission, f *BatchFiling) { s.Title = "another title" }, ErrBatchPath},
		{"submission of another platform", func(s *Submission, f *BatchFiling) { s.Platform = "other.example" }, ErrBatchMismatch},
		{"batch of another platform", func(s *Submission, f *BatchFiling) { f.Header.Platform = "other.example" }, ErrBatchMismatch},
		{"submission for another court", func(s *Submission, f *BatchFiling) { s.Court = "court-b.example/evidence" }, ErrWrongCourt},
		{"submission too old", func(s *Submission, f *BatchFiling) { s.SignedAt = testNow.Add(-2 * time.Hour) }, ErrTimestampStale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := validBatch(t, 5)
			s, f := b.Submissions[2], b.Filing(2)
			f.Path = append([][]byte(nil), f.Path...)
			tc.edit(&s, &f)
			err := CheckBatched(&s, &f, testCourt, testNow, p)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("CheckBatched: %v, want %v", err, tc.want)
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

// Changing any byte of a batch-filed entry's header, signature, leaf or
// path makes it fail: decoding (format, path to the root) or the signature.
func TestBatchEntryAnyByteChangedFails(t *testing.T) {
	e := validBatchEntry(t)
	b := e.Marshal()
	// From the length of the header field: u32 length, then the header,
	// which starts with the u32 length of its tag.
	start := bytes.Index(b, []byte(batchTag)) - 8
	if start <= 0 {
		t.Fatal("header not found in the entry")
	}
	for i := start; i < len(b); i++ {
		c := bytes.Clone(b)
		c[i] ^= 0x01
		got, err := UnmarshalEntry(c)
		if err == nil {
			err = got.VerifySignature(batchKey.Public())
		}
		if err == nil {
			t.Fatalf("byte %d of %d changed: the entry still verifies", i, len(b))
		}
	}
}

func TestBatchEntryValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(e *Entry)
		want *Reason
	}{
		// Not encodable: Validate alone sees it.
		{"own signature beside the batch's", func(e *Entry) { e.Signature = []byte{0x30} }, ErrMalformed},
		{"batch of another court", func(e *Entry) { e.Batch.Header.Court = "court-b.example/evidence" }, ErrWrongCourt},
		{"no batch signature", func(e *Entry) { e.Batch.Signature = nil }, ErrSignatureMissing},
		{"batch of another platform", func(e *Entry) { e.Batch.Header.Platform = "other.example" }, ErrBatchMismatch},
		{"root of another batch", func(e *Entry) { e.Batch.Header.Root = make([]byte, 32) }, ErrBatchPath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := validBatchEntry(t)
			tc.edit(&e)
			if err := e.Validate(); !errors.Is(err, tc.want) {
				t.Fatalf("Validate: %v, want %v", err, tc.want)
			}
			if e.Signature != nil {
				return
			}
			if _, err := UnmarshalEntry(e.Marshal()); !errors.Is(err, tc.want) {
				t.Fatalf("UnmarshalEntry: %v, want %v", err, tc.want)
			}
		})
	}
}

func FuzzUnmarshalBatchHeader(f *testing.F) {
	h := validBatch(f, 5).Header
	b := h.Marshal()
	f.Add(b)
	max := maximalFiling(maximalSubmission(f)).Header
	f.Add(max.Marshal())
	f.Add(b[:len(b)-1])
	f.Add(append(bytes.Clone(b), 0))
	for _, huge := range hugeLengths(f) {
		f.Add(huge)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := UnmarshalBatchHeader(b)
		if err != nil {
			if h != nil {
				t.Fatalf("returned a header with error %v", err)
			}
			wantDecodeError(t, err)
			return
		}
		if again := h.Marshal(); !bytes.Equal(again, b) {
			t.Fatalf("accepted bytes that re-marshal differently:\n  in %x\n out %x", b, again)
		}
		if len(b) > maxBatchHeaderSize {
			t.Fatalf("accepted %d bytes, more than maxBatchHeaderSize %d", len(b), maxBatchHeaderSize)
		}
	})
}
