package court

import (
	"context"
	"errors"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/court/apierr"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/evidence"
)

// evidenceServer serves platforms, judges and lawyers. Writes run on the
// leader (a follower forwards them); reads are served by any node from what
// it has applied.
type evidenceServer struct {
	pb.UnimplementedEvidenceServiceServer
	ledger evidenceLedger
	logs   courtLogs
	fwd    forwarder
}

// evidenceLedger is what the evidence server writes to, and where it finds
// the court's newest head and the witnesses' cosignatures on a head;
// *consensus.Ledger is one.
type evidenceLedger interface {
	Submit(ctx context.Context, subs []consensus.SignedSubmission) ([]consensus.Result, error)
	SubmitSignedBatch(ctx context.Context, b *evidence.SignedBatch) ([]consensus.Result, error)
	LatestHead() (consensus.SignedHead, error)
	Cosignatures(size uint64) ([][]byte, error)
}

func (s *evidenceServer) Submit(ctx context.Context, req *pb.SubmitRequest) (*pb.SubmitResponse, error) {
	sub, err := submissionFromPB("submission", req.GetSubmission())
	if err != nil {
		return nil, toStatus(err)
	}
	// A submission carries its request ID: a forwarded copy may be sent
	// again to a new leader without making a second entry.
	return onLeaderRetry(ctx, s.fwd, func(c *leaderConn, ctx context.Context) (*pb.SubmitResponse, error) {
		return c.evidence.Submit(ctx, req)
	}, func() (*pb.SubmitResponse, error) {
		res, err := s.ledger.Submit(ctx, []consensus.SignedSubmission{sub})
		if err != nil {
			return nil, toStatus(err)
		}
		if res[0].Err != nil {
			return nil, toStatus(res[0].Err)
		}
		r, err := receiptToPB(res[0].Receipt, res[0].Duplicate)
		if err != nil {
			return nil, toStatus(err)
		}
		// A receipt is issued before any head covering it is stamped:
		// the trusted time comes later (GetEvidence, the certificate).
		r.TimestampPending = s.logs.stamping
		return &pb.SubmitResponse{Receipt: r}, nil
	})
}

func (s *evidenceServer) SubmitBatch(ctx context.Context, req *pb.SubmitBatchRequest) (*pb.SubmitBatchResponse, error) {
	if n := len(req.GetSubmissions()); n == 0 || n > consensus.MaxBatchEntries {
		return nil, toStatus(invalid("submissions", "BATCH_SIZE", "a batch holds 1 to %d submissions, got %d", consensus.MaxBatchEntries, n))
	}
	return onLeaderRetry(ctx, s.fwd, func(c *leaderConn, ctx context.Context) (*pb.SubmitBatchResponse, error) {
		return c.evidence.SubmitBatch(ctx, req)
	}, func() (*pb.SubmitBatchResponse, error) {
		out := &pb.SubmitBatchResponse{Results: make([]*pb.SubmitResult, len(req.Submissions))}
		var subs []consensus.SignedSubmission
		var at []int
		for i, in := range req.Submissions {
			sub, err := submissionFromPB("submissions", in)
			if err != nil {
				out.Results[i] = problemResult(err)
				continue
			}
			subs = append(subs, sub)
			at = append(at, i)
		}
		if len(subs) > 0 {
			res, err := s.ledger.Submit(ctx, subs)
			if err != nil {
				return nil, toStatus(err)
			}
			for j, r := range res {
				out.Results[at[j]] = s.submitResult(r)
			}
		}
		return out, nil
	})
}

// SubmitSignedBatch files a batch the platform signed once. A request
// that does not parse, or that the ledger refuses whole (header,
// signature, count, a request ID twice), is the call's error; otherwise
// each submission has its receipt or problem.
func (s *evidenceServer) SubmitSignedBatch(ctx context.Context, req *pb.SubmitSignedBatchRequest) (*pb.SubmitBatchResponse, error) {
	if n := len(req.GetSubmissions()); n == 0 || n > evidence.MaxBatchSubmissions {
		return nil, toStatus(invalid("submissions", "BATCH_SIZE", "a signed batch holds 1 to %d submissions, got %d", evidence.MaxBatchSubmissions, n))
	}
	b, err := signedBatchFromPB(req)
	if err != nil {
		return nil, toStatus(err)
	}
	return onLeaderRetry(ctx, s.fwd, func(c *leaderConn, ctx context.Context) (*pb.SubmitBatchResponse, error) {
		return c.evidence.SubmitSignedBatch(ctx, req)
	}, func() (*pb.SubmitBatchResponse, error) {
		res, err := s.ledger.SubmitSignedBatch(ctx, b)
		if err != nil {
			return nil, toStatus(err)
		}
		out := &pb.SubmitBatchResponse{Results: make([]*pb.SubmitResult, len(res))}
		for i, r := range res {
			out.Results[i] = s.submitResult(r)
		}
		return out, nil
	})
}

func (s *evidenceServer) submitResult(r consensus.Result) *pb.SubmitResult {
	if r.Err != nil {
		return problemResult(r.Err)
	}
	rc, err := receiptToPB(r.Receipt, r.Duplicate)
	if err != nil {
		return problemResult(err)
	}
	rc.TimestampPending = s.logs.stamping
	return &pb.SubmitResult{Outcome: &pb.SubmitResult_Receipt{Receipt: rc}}
}

func problemResult(err error) *pb.SubmitResult {
	p := problemOf(err)
	return &pb.SubmitResult{Outcome: &pb.SubmitResult_Problem{Problem: &pb.Problem{
		Code: p.Code.String(), Reason: p.Reason, Message: p.Message, Field: p.Field,
	}}}
}

func (s *evidenceServer) GetEvidence(ctx context.Context, req *pb.GetEvidenceRequest) (*pb.GetEvidenceResponse, error) {
	if len(req.EvidenceId) != evidence.EvidenceIDLen {
		return nil, toStatus(invalid("evidence_id", "INVALID_EVIDENCE_ID", "evidence ID must be %d hex digits, got %d characters", evidence.EvidenceIDLen, len(req.EvidenceId)))
	}
	// Evidence IDs are derived from the court's ID, so at most one log holds
	// it; the court's own is asked first.
	for _, log := range s.logs.all() {
		e, err := log.EntryByEvidenceID(req.EvidenceId)
		if errors.Is(err, consensus.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, toStatus(err)
		}
		rc, err := s.logs.receipt(log, e.Index)
		if err != nil {
			return nil, toStatus(err)
		}
		return &pb.GetEvidenceResponse{Receipt: rc}, nil
	}
	// As for another platform's evidence (access.ScopeResponse): nothing
	// tells a caller which IDs exist.
	return nil, toStatus(apierr.ErrNoEvidence)
}

func (s *evidenceServer) LookupFingerprint(ctx context.Context, req *pb.LookupFingerprintRequest) (*pb.LookupFingerprintResponse, error) {
	fp, err := evidence.ParseFingerprint(req.Fingerprint)
	if err != nil {
		return nil, toStatus(err)
	}
	limit := int(req.Limit)
	if limit == 0 {
		limit = 100
	}
	if limit > consensus.MaxLookup {
		return nil, toStatus(invalid("limit", "LIMIT_TOO_LARGE", "limit is at most %d, got %d", consensus.MaxLookup, limit))
	}
	out := &pb.LookupFingerprintResponse{}
	for _, log := range s.logs.all() {
		if len(out.Entries) >= limit {
			break
		}
		entries, err := log.Lookup(fp, limit-len(out.Entries))
		if errors.Is(err, consensus.ErrNotFound) {
			continue // nothing of that court mirrored yet
		}
		if err != nil {
			return nil, toStatus(err)
		}
		for _, e := range entries {
			out.Entries = append(out.Entries, entryToPB(e))
		}
	}
	return out, nil
}

// latestSize resolves a tree size of 0 to the latest head's.
func latestSize(log *consensus.LogView, size uint64) (uint64, error) {
	if size != 0 {
		return size, nil
	}
	h, err := log.LatestHead()
	if err != nil {
		return 0, err
	}
	return h.Head.Size, nil
}

func (s *evidenceServer) GetInclusionProof(ctx context.Context, req *pb.GetInclusionProofRequest) (*pb.GetInclusionProofResponse, error) {
	log, err := s.logs.of(req.Court)
	if err != nil {
		return nil, toStatus(err)
	}
	size, err := latestSize(log, req.TreeSize)
	if err != nil {
		return nil, toStatus(err)
	}
	p, err := log.InclusionProof(req.Index, size)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.GetInclusionProofResponse{Index: req.Index, TreeSize: size, Proof: p}, nil
}

func (s *evidenceServer) GetConsistencyProof(ctx context.Context, req *pb.GetConsistencyProofRequest) (*pb.GetConsistencyProofResponse, error) {
	log, err := s.logs.of(req.Court)
	if err != nil {
		return nil, toStatus(err)
	}
	second, err := latestSize(log, req.Second)
	if err != nil {
		return nil, toStatus(err)
	}
	p, err := log.ConsistencyProof(req.First, second)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.GetConsistencyProofResponse{First: req.First, Second: second, Proof: p}, nil
}

func (s *evidenceServer) GetLatestTreeHead(ctx context.Context, req *pb.GetLatestTreeHeadRequest) (*pb.GetLatestTreeHeadResponse, error) {
	log, err := s.logs.of(req.Court)
	if err != nil {
		return nil, toStatus(err)
	}
	h, err := log.LatestHead()
	if err != nil {
		return nil, toStatus(err)
	}
	signed := h.Note
	if log.Own() {
		// The witnesses' cosignatures on this head, as receipts carry them.
		lines, err := s.ledger.Cosignatures(h.Head.Size)
		if err != nil {
			return nil, toStatus(err)
		}
		if signed, err = checkpoint.WithSignatures(h.Note, lines...); err != nil {
			return nil, toStatus(err)
		}
	}
	return &pb.GetLatestTreeHeadResponse{TreeHead: headToPB(h.Head, signed)}, nil
}

func (s *evidenceServer) VerifyFingerprint(ctx context.Context, req *pb.VerifyFingerprintRequest) (*pb.VerifyFingerprintResponse, error) {
	fp, err := evidence.ParseFingerprint(req.Fingerprint)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.VerifyFingerprintResponse{}
	const maxReceipts = 100
	for _, log := range s.logs.all() {
		if len(out.Receipts) >= maxReceipts {
			break
		}
		entries, err := log.Lookup(fp, maxReceipts-len(out.Receipts))
		if errors.Is(err, consensus.ErrNotFound) {
			continue // nothing of that court mirrored yet
		}
		if err != nil {
			return nil, toStatus(err)
		}
		for _, e := range entries {
			rc, err := s.logs.receipt(log, e.Index)
			if err != nil {
				return nil, toStatus(err)
			}
			out.Receipts = append(out.Receipts, rc)
		}
	}
	out.Recorded = len(out.Receipts) > 0
	if h, err := s.ledger.LatestHead(); err == nil {
		out.TreeHead = headToPB(h.Head, h.Note)
	}
	return out, nil
}
