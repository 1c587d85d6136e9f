package court

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/evidence"
)

// submissionFromPB turns a request into the domain's submission. It checks
// only what the wire format cannot: presence and parseability; everything
// else is evidence.Validate's.
func submissionFromPB(field string, s *pb.SignedSubmission) (consensus.SignedSubmission, error) {
	if s == nil || s.Submission == nil {
		return consensus.SignedSubmission{}, invalid(field, "MISSING_FIELD", "%s: submission is required", field)
	}
	sub, err := submissionOf(field, s.Submission)
	if err != nil {
		return consensus.SignedSubmission{}, err
	}
	return consensus.SignedSubmission{Submission: sub, Signature: s.Signature}, nil
}

// submissionOf is submissionFromPB for a submission without its signature.
func submissionOf(field string, in *pb.Submission) (evidence.Submission, error) {
	fp, err := evidence.ParseFingerprint(in.Fingerprint)
	if err != nil {
		return evidence.Submission{}, err
	}
	if in.SignedAt == nil {
		return evidence.Submission{}, invalid(field+".signed_at", "MISSING_FIELD", "signed_at is required")
	}
	if err := in.SignedAt.CheckValid(); err != nil {
		return evidence.Submission{}, invalid(field+".signed_at", "INVALID_TIMESTAMP", "signed_at: %v", err)
	}
	return evidence.Submission{
		Court:       in.Court,
		Platform:    in.Platform,
		RequestID:   in.RequestId,
		Fingerprint: fp,
		Category:    evidence.Category(in.Category),
		Title:       in.Title,
		Metadata:    in.Metadata,
		SignedAt:    in.SignedAt.AsTime().Truncate(time.Millisecond),
	}, nil
}

func timestampFromPB(field string, t *timestamppb.Timestamp) error {
	if t == nil {
		return invalid(field, "MISSING_FIELD", "%s is required", field)
	}
	if err := t.CheckValid(); err != nil {
		return invalid(field, "INVALID_TIMESTAMP", "%s: %v", field, err)
	}
	return nil
}

// signedBatchFromPB turns a signed batch request into the domain's. A
// submission that does not parse refuses the whole batch: its bytes, and
// so its place in the signed tree, cannot be known.
func signedBatchFromPB(req *pb.SubmitSignedBatchRequest) (*evidence.SignedBatch, error) {
	h := req.GetHeader()
	if h == nil {
		return nil, invalid("header", "MISSING_FIELD", "header is required: the batch header the platform signed")
	}
	if err := timestampFromPB("header.signed_at", h.SignedAt); err != nil {
		return nil, err
	}
	b := &evidence.SignedBatch{
		Header: evidence.BatchHeader{
			Court: h.Court, Platform: h.Platform, BatchID: h.BatchId,
			SignedAt: h.SignedAt.AsTime().Truncate(time.Millisecond), Count: h.Count, Root: h.Root,
		},
		Signature:   req.Signature,
		Submissions: make([]evidence.Submission, len(req.Submissions)),
		Paths:       make([][][]byte, len(req.Submissions)),
	}
	for i, in := range req.Submissions {
		field := fmt.Sprintf("submissions[%d]", i)
		if in.GetSubmission() == nil {
			return nil, invalid(field, "MISSING_FIELD", "%s: submission is required", field)
		}
		s, err := submissionOf(field, in.Submission)
		var fe *evidence.FieldError
		if errors.As(err, &fe) {
			return nil, &evidence.FieldError{Field: field + "." + fe.Field, Reason: fe.Reason, Detail: fe.Detail}
		}
		if err != nil {
			return nil, err
		}
		b.Submissions[i], b.Paths[i] = s, in.Path
	}
	return b, nil
}

func entryToPB(e *evidence.Entry) *pb.Entry {
	return &pb.Entry{
		Court:      e.Court,
		Index:      e.Index,
		EvidenceId: e.EvidenceID,
		AcceptedAt: timestamppb.New(e.AcceptedAt),
		Submission: client.ToPB(&e.Submission),
		Signature:  e.Signature,
		Canonical:  e.Marshal(),
		Batch:      client.BatchFilingToPB(e.Batch),
	}
}

func headToPB(h checkpoint.TreeHead, note []byte) *pb.SignedTreeHead {
	return &pb.SignedTreeHead{Origin: h.Origin, Size: h.Size, Root: h.Root, Time: timestamppb.New(h.Time), Note: string(note)}
}

func receiptToPB(r *evidence.Receipt, duplicate bool) (*pb.Receipt, error) {
	h, err := checkpoint.ParseUnverified(r.SignedHead)
	if err != nil {
		return nil, err
	}
	return &pb.Receipt{
		Entry:          entryToPB(&r.Entry),
		InclusionProof: r.Proof,
		TreeHead:       headToPB(h, r.SignedHead),
		Duplicate:      duplicate,
	}, nil
}

func timestampOf(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }
