package evidence

import (
	"golang.org/x/mod/sumdb/note"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
)

// Receipt is what a court returns for an accepted submission: the entry, a
// tree head signed by the court that covers it, and the inclusion proof that
// connects the two. With the court's public key alone, anyone can check it.
type Receipt struct {
	Entry      Entry
	Proof      [][]byte // inclusion proof of Entry.Index in the tree of the head's size
	SignedHead []byte   // the court's signed tree head, a C2SP signed note
}

// Verify checks r against the court's note verifier (its origin and SM2 key):
// the head is signed by the court, the entry is valid and belongs to that
// court's log, and the proof leads from the entry's leaf to the signed root.
// It returns the verified head. A court that rotated its key has several
// verifiers, all of its name; a head signed by any of them is the court's.
func (r *Receipt) Verify(court ...note.Verifier) (checkpoint.TreeHead, error) {
	head, _, err := checkpoint.OpenAny(r.SignedHead, court)
	if err != nil {
		return checkpoint.TreeHead{}, fieldErr("signed_head", ErrReceiptHead, "%v", err)
	}
	if err := r.VerifyUnder(head); err != nil {
		return checkpoint.TreeHead{}, err
	}
	return head, nil
}

// VerifyUnder checks r against head, which the caller has verified to be
// r.SignedHead opened with the court's keys (receipts of one batch share a
// few heads, and a head's signature need not be checked for each): the
// entry is valid and belongs to the head's log, and the proof leads from
// the entry's leaf to the head's root.
func (r *Receipt) VerifyUnder(head checkpoint.TreeHead) error {
	if err := r.Entry.Validate(); err != nil {
		return err
	}
	if r.Entry.Court != head.Origin {
		return fieldErr("entry.court", ErrReceiptMismatch, "entry of %q under head of %q", r.Entry.Court, head.Origin)
	}
	if r.Entry.Index >= head.Size {
		return fieldErr("entry.index", ErrReceiptMismatch, "index %d in tree of size %d", r.Entry.Index, head.Size)
	}
	if err := merkle.VerifyInclusion(r.Entry.Index, head.Size, r.Entry.LeafHash(), r.Proof, head.Root); err != nil {
		return fieldErr("proof", ErrReceiptProof, "%v", err)
	}
	return nil
}
