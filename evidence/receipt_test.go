package evidence

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
)

// testLog is a court's log held in memory, as a ledger would build it.
type testLog struct {
	court   string
	signer  *checkpoint.Signer
	store   *merkle.MemStore
	entries []Entry
}

// newTestLog appends n entries of one platform to the log of court, signed
// by a fresh court key named for the court.
func newTestLog(tb testing.TB, court string, n int) *testLog {
	tb.Helper()
	signer, err := checkpoint.NewSigner(court, newKey(tb))
	if err != nil {
		tb.Fatalf("NewSigner: %v", err)
	}
	l := &testLog{court: court, signer: signer, store: merkle.NewMemStore()}
	platform := newKey(tb)
	for i := range n {
		s := validSubmission(tb)
		s.Court = court
		s.RequestID = fmt.Sprintf("req-%04d", i)
		e := NewEntry(court, uint64(i), testAcceptedAt.Add(time.Duration(i)*time.Millisecond), s, sign(tb, s, platform))
		if got := l.store.AppendLeaf(e.Marshal()); got != uint64(i) {
			tb.Fatalf("AppendLeaf returned index %d, want %d", got, i)
		}
		l.entries = append(l.entries, e)
	}
	return l
}

// head returns the tree head of the first size entries, signed by s.
func (l *testLog) head(tb testing.TB, size uint64, s *checkpoint.Signer) []byte {
	tb.Helper()
	root, err := merkle.Root(context.Background(), l.store, size)
	if err != nil {
		tb.Fatalf("Root(%d): %v", size, err)
	}
	signed, err := checkpoint.Sign(checkpoint.TreeHead{Origin: s.Name(), Size: size, Root: root, Time: testAcceptedAt.Add(time.Second)}, s)
	if err != nil {
		tb.Fatalf("checkpoint.Sign: %v", err)
	}
	return signed
}

func (l *testLog) proof(tb testing.TB, index, size uint64) [][]byte {
	tb.Helper()
	p, err := merkle.Inclusion(context.Background(), l.store, index, size)
	if err != nil {
		tb.Fatalf("Inclusion(%d, %d): %v", index, size, err)
	}
	return p
}

// receipt returns the receipt of entry index under the head of size.
func (l *testLog) receipt(tb testing.TB, index, size uint64) Receipt {
	tb.Helper()
	e := l.entries[index]
	e.Submission = cloneSubmission(e.Submission)
	return Receipt{Entry: e, Proof: l.proof(tb, index, size), SignedHead: l.head(tb, size, l.signer)}
}

func TestReceiptVerifies(t *testing.T) {
	const n = 13 // not a power of two: the tree has a ragged right edge
	l := newTestLog(t, testCourt, n)
	if !bytes.Equal(l.store.Root(), merkle.RootOf(leafData(l.entries))) {
		t.Fatalf("store root differs from the root of the entries")
	}
	for _, size := range []uint64{1, 2, 7, 8, n} {
		for i := range size {
			t.Run(fmt.Sprintf("entry %d of %d", i, size), func(t *testing.T) {
				r := l.receipt(t, i, size)
				head, err := r.Verify(l.signer.Verifier())
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				root, _ := merkle.Root(context.Background(), l.store, size)
				if head.Origin != testCourt || head.Size != size || !bytes.Equal(head.Root, root) {
					t.Errorf("Verify returned head %+v, want %s at size %d with root %x", head, testCourt, size, root)
				}
			})
		}
	}
}

func leafData(entries []Entry) [][]byte {
	var leaves [][]byte
	for _, e := range entries {
		leaves = append(leaves, e.Marshal())
	}
	return leaves
}

func TestReceiptRejected(t *testing.T) {
	const n, index, size = 13, 6, 13
	l := newTestLog(t, testCourt, n)
	other := newTestLog(t, "court-b.example/evidence", n)
	impostor, err := checkpoint.NewSigner(testCourt, newKey(t))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		change func(*Receipt)
		reason *Reason
		field  string
	}{
		{"head signed by another key of the court's name", func(r *Receipt) { r.SignedHead = l.head(t, size, impostor) }, ErrReceiptHead, "signed_head"},
		{"head of another court", func(r *Receipt) { r.SignedHead = other.head(t, size, other.signer) }, ErrReceiptHead, "signed_head"},
		{"head cut by one byte", func(r *Receipt) { r.SignedHead = r.SignedHead[:len(r.SignedHead)-1] }, ErrReceiptHead, "signed_head"},
		{"head cut after its text", func(r *Receipt) { r.SignedHead = r.SignedHead[:bytes.Index(r.SignedHead, []byte("\n\n"))+2] }, ErrReceiptHead, "signed_head"},
		{"head empty", func(r *Receipt) { r.SignedHead = nil }, ErrReceiptHead, "signed_head"},
		{"head's size changed", func(r *Receipt) {
			r.SignedHead = bytes.Replace(r.SignedHead, []byte(fmt.Sprintf("\n%d\n", size)), []byte(fmt.Sprintf("\n%d\n", size+1)), 1)
		}, ErrReceiptHead, "signed_head"},
		{"entry of another court", func(r *Receipt) { r.Entry = other.entries[index] }, ErrReceiptMismatch, "entry.court"},
		{"index at the head's size", func(r *Receipt) { r.Entry.Index = size }, ErrReceiptMismatch, "entry.index"},
		{"entry beyond an older head", func(r *Receipt) { r.SignedHead = l.head(t, index, l.signer) }, ErrReceiptMismatch, "entry.index"},
		{"title changed", func(r *Receipt) { r.Entry.Submission.Title = "房屋买卖合同" }, ErrReceiptProof, "proof"},
		{"a metadata value changed", func(r *Receipt) { r.Entry.Submission.Metadata["parties"] = "3" }, ErrReceiptProof, "proof"},
		{"fingerprint changed", func(r *Receipt) { r.Entry.Submission.Fingerprint[5] ^= 1 }, ErrReceiptProof, "proof"},
		{"accepted-at changed", func(r *Receipt) { r.Entry.AcceptedAt = r.Entry.AcceptedAt.Add(time.Millisecond) }, ErrReceiptProof, "proof"},
		{"platform signature swapped", func(r *Receipt) { r.Entry.Signature = l.entries[index+1].Signature }, ErrReceiptProof, "proof"},
		{"index changed", func(r *Receipt) { r.Entry.Index = index + 1 }, ErrReceiptProof, "proof"},
		{"another entry of the log", func(r *Receipt) { r.Entry = l.entries[index+1] }, ErrReceiptProof, "proof"},
		{"proof for the next index", func(r *Receipt) { r.Proof = l.proof(t, index+1, size) }, ErrReceiptProof, "proof"},
		{"proof for an older tree", func(r *Receipt) { r.Proof = l.proof(t, index, size-1) }, ErrReceiptProof, "proof"},
		{"proof missing its last hash", func(r *Receipt) { r.Proof = r.Proof[:len(r.Proof)-1] }, ErrReceiptProof, "proof"},
		{"proof with a hash too many", func(r *Receipt) { r.Proof = append(r.Proof, r.Proof[0]) }, ErrReceiptProof, "proof"},
		{"proof hashes swapped", func(r *Receipt) { r.Proof[0], r.Proof[1] = r.Proof[1], r.Proof[0] }, ErrReceiptProof, "proof"},
		{"proof hash cut short", func(r *Receipt) { r.Proof[0] = r.Proof[0][:31] }, ErrReceiptProof, "proof"},
		{"proof empty", func(r *Receipt) { r.Proof = nil }, ErrReceiptProof, "proof"},
		// An invalid entry fails as itself, before any proof is computed.
		{"entry without a signature", func(r *Receipt) { r.Entry.Signature = nil }, ErrSignatureMissing, "signature"},
		{"entry with a wrong evidence ID", func(r *Receipt) { r.Entry.EvidenceID = other.entries[index].EvidenceID }, ErrEvidenceID, "evidence_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := l.receipt(t, index, size)
			tt.change(&r)
			head, err := r.Verify(l.signer.Verifier())
			wantFieldError(t, err, tt.reason, tt.field)
			if head.Origin != "" || head.Size != 0 || head.Root != nil {
				t.Errorf("a rejected receipt returned head %+v", head)
			}
		})
	}
}

// Every bit of every proof hash matters.
func TestReceiptRejectsEveryFlippedProofBit(t *testing.T) {
	const index, size = 6, 13
	l := newTestLog(t, testCourt, size)
	r := l.receipt(t, index, size)
	v := l.signer.Verifier()
	for i := range r.Proof {
		for bit := range 8 * len(r.Proof[i]) {
			bad := r
			bad.Proof = append([][]byte(nil), r.Proof...)
			bad.Proof[i] = bytes.Clone(r.Proof[i])
			bad.Proof[i][bit/8] ^= 1 << (bit % 8)
			if _, err := bad.Verify(v); err == nil {
				t.Fatalf("accepted the proof with bit %d of hash %d flipped", bit, i)
			} else {
				wantFieldError(t, err, ErrReceiptProof, "proof")
			}
		}
	}
	if _, err := r.Verify(v); err != nil {
		t.Fatalf("the unflipped receipt no longer verifies: %v", err)
	}
}

// A court's verifier is all a third party needs; a verifier parsed from the
// court's published key string works as well as the court's own.
func TestReceiptVerifiesWithPublishedKey(t *testing.T) {
	l := newTestLog(t, testCourt, 3)
	v, err := checkpoint.ParseVerifier(l.signer.Verifier().String())
	if err != nil {
		t.Fatalf("ParseVerifier: %v", err)
	}
	r := l.receipt(t, 2, 3)
	if _, err := r.Verify(v); err != nil {
		t.Errorf("Verify with the published key: %v", err)
	}
}
