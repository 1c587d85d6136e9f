package court

import (
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
	in := s.Submission
	fp, err := evidence.ParseFingerprint(in.Fingerprint)
	if err != nil {
		return consensus.SignedSubmission{}, err
	}
	if in.SignedAt == nil {
		return consensus.SignedSubmission{}, invalid(field+".signed_at", "MISSING_FIELD", "signed_at is required")
	}
	if err := in.SignedAt.CheckValid(); err != nil {
		return consensus.SignedSubmission{}, invalid(field+".signed_at", "INVALID_TIMESTAMP", "signed_at: %v", err)
	}
	return consensus.SignedSubmission{
		Submission: evidence.Submission{
			Court:       in.Court,
			Platform:    in.Platform,
			RequestID:   in.RequestId,
			Fingerprint: fp,
			Category:    evidence.Category(in.Category),
			Title:       in.Title,
			Metadata:    in.Metadata,
			SignedAt:    in.SignedAt.AsTime().Truncate(time.Millisecond),
		},
		Signature: s.Signature,
	}, nil
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
