package evidence

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// wantDecodeError asserts that a rejection is a FieldError with a Reason, as
// every caller of a decoder expects.
func wantDecodeError(t *testing.T, err error) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Reason == nil || fe.Field == "" || !errors.Is(err, fe.Reason) {
		t.Fatalf("rejection %v (%T) is not a FieldError with a Reason", err, err)
	}
}

func FuzzUnmarshalEntry(f *testing.F) {
	e := validEntry(f)
	b := e.Marshal()
	f.Add(b)
	maximal := maximalEntry(f)
	f.Add(maximal.Marshal())
	maximalV1 := maximalEntryV1(f)
	f.Add(maximalV1.Marshal())
	batched := validBatchEntry(f)
	bb := batched.Marshal()
	f.Add(bb)
	f.Add(bb[:len(bb)-1])
	f.Add(append(bytes.Clone(bb), 0))
	batched.Batch.Path = batched.Batch.Path[1:]
	f.Add(batched.Marshal())
	e.Submission.Metadata = nil
	f.Add(e.Marshal())
	e.Submission.Court = "" // an entry recorded before version 2
	f.Add(e.Marshal())
	f.Add(b[:len(b)-1])
	f.Add(append(bytes.Clone(b), 0))
	for _, huge := range hugeLengths(f) {
		f.Add(huge)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := UnmarshalEntry(b)
		if err != nil {
			if e != nil {
				t.Fatalf("returned an entry with error %v", err)
			}
			wantDecodeError(t, err)
			return
		}
		// Decoding accepts only what encoding produces.
		if again := e.Marshal(); !bytes.Equal(again, b) {
			t.Fatalf("accepted bytes that re-marshal differently:\n  in %x\n out %x", b, again)
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("accepted an entry that does not validate: %v", err)
		}
		if got, want := e.LeafHash(), refLeafHash(b); !bytes.Equal(got, want) {
			t.Fatalf("LeafHash = %x, want %x", got, want)
		}
	})
}

func FuzzUnmarshalSubmission(f *testing.F) {
	s := validSubmission(f)
	b := s.Marshal()
	f.Add(b)
	maximal := maximalSubmission(f)
	f.Add(maximal.Marshal())
	s.Metadata = nil
	f.Add(s.Marshal())
	f.Add(b[:len(b)-1])
	f.Add(append(bytes.Clone(b), 0))
	out := refSubmissionOf(validSubmission(f))
	out.pairs[0], out.pairs[1] = out.pairs[1], out.pairs[0]
	f.Add(out.encode())
	s.Title = "甲方不\u200B同意"
	f.Add(s.Marshal())
	v1 := validSubmission(f)
	v1.Court = "" // version 1, as entries recorded before version 2 hold it
	f.Add(v1.Marshal())
	noCourt := refSubmissionOf(validSubmission(f))
	noCourt.court = "" // version 2 with an empty court: not canonical
	f.Add(noCourt.encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := UnmarshalSubmission(b)
		if err != nil {
			if s != nil {
				t.Fatalf("returned a submission with error %v", err)
			}
			wantDecodeError(t, err)
			return
		}
		if again := s.Marshal(); !bytes.Equal(again, b) {
			t.Fatalf("accepted bytes that re-marshal differently:\n  in %x\n out %x", b, again)
		}
		// Decoding skips only the rules filing applies alone.
		if err := s.Validate(); err != nil && !errors.Is(err, ErrInvisibleChar) &&
			!(errors.Is(err, ErrTitleEmpty) && strings.TrimSpace(s.Title) == "") {
			t.Fatalf("accepted a submission that does not validate: %v", err)
		}
	})
}

func FuzzParseFingerprint(f *testing.F) {
	const abc = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
	for _, s := range []string{abc, strings.ToUpper(abc), "0x" + abc, abc[:63], abc + "0", "g" + abc[1:], strings.Repeat("证", 21) + "0", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fp, err := ParseFingerprint(s)
		if err != nil {
			wantDecodeError(t, err)
			if len(s) != 64 && !errors.Is(err, ErrFingerprintLength) {
				t.Fatalf("%d characters rejected as %v, want %s", len(s), err, ErrFingerprintLength.Code())
			}
			if len(s) == 64 && !errors.Is(err, ErrFingerprintHex) {
				t.Fatalf("64 characters rejected as %v, want %s", err, ErrFingerprintHex.Code())
			}
			return
		}
		if got := hex.EncodeToString(fp[:]); got != strings.ToLower(s) {
			t.Fatalf("ParseFingerprint(%q) = %s", s, got)
		}
	})
}
