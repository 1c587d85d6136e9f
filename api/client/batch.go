package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/evidence"
)

// SignBatch validates subs and signs them as one batch under batchID (a
// request ID's format, chosen by the platform): one SM2 signature for all
// of them. It fills in each submission's Platform, Court (as Sign does) and,
// if zero, SignedAt. Keep the result to retry it: filing the same signed
// batch again returns the same receipts.
func (c *Client) SignBatch(batchID string, subs []evidence.Submission) (*evidence.SignedBatch, error) {
	if c.cfg.Key == nil || c.cfg.Platform == "" {
		return nil, errors.New("client: Platform and Key are required to sign")
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	court := ""
	if c.cfg.Court != nil {
		court = c.cfg.Court.Name()
	}
	subs = append([]evidence.Submission(nil), subs...)
	for i := range subs {
		s := &subs[i]
		switch {
		case court == "" && s.Court == "":
			return nil, errors.New("client: the court's ID is signed with the batch: set Config.Court (the court's key) or Submission.Court")
		case court == "":
			court = s.Court
		case s.Court == "":
			s.Court = court
		case s.Court != court:
			return nil, fmt.Errorf("client: submission %d names court %q but the batch is for court %q", i, s.Court, court)
		}
		s.Platform = c.cfg.Platform
		if s.SignedAt.IsZero() {
			s.SignedAt = now
		}
		s.SignedAt = s.SignedAt.UTC().Truncate(time.Millisecond)
	}
	return evidence.SignBatch(c.cfg.Key, evidence.BatchHeader{Court: court, Platform: c.cfg.Platform, BatchID: batchID, SignedAt: now}, subs)
}

// SubmitSignedBatch files a signed batch (SignBatch) in one call and
// returns, per submission in order, its verified receipt or the court's
// problem with it. A batch the court refuses whole (header, signature,
// count, a request ID twice) is the error.
func (c *Client) SubmitSignedBatch(ctx context.Context, b *evidence.SignedBatch) ([]BatchResult, error) {
	resp, err := c.ev.SubmitSignedBatch(ctx, SignedBatchToPB(b))
	if err != nil {
		return nil, err
	}
	n := len(b.Submissions)
	if len(resp.Results) != n {
		return nil, fmt.Errorf("client: %d results for %d submissions", len(resp.Results), n)
	}
	out := make([]BatchResult, n)
	for i, r := range resp.Results {
		if p := r.GetProblem(); p != nil {
			out[i].Problem = p
			continue
		}
		out[i].Duplicate = r.GetReceipt().GetDuplicate()
		out[i].Receipt, out[i].Err = c.verifySubmitted(r.GetReceipt())
		if out[i].Err == nil && out[i].Receipt.Entry.Submission.RequestID != b.Submissions[i].RequestID {
			out[i].Receipt, out[i].Err = nil, &UnverifiedError{EvidenceID: r.GetReceipt().GetEntry().GetEvidenceId(), Receipt: r.GetReceipt(),
				Err: fmt.Errorf("client: receipt %d is of request ID %q, not %q", i, out[i].Receipt.Entry.Submission.RequestID, b.Submissions[i].RequestID)}
		}
	}
	return out, nil
}

// SignedBatchToPB converts a signed batch to its API request.
func SignedBatchToPB(b *evidence.SignedBatch) *pb.SubmitSignedBatchRequest {
	req := &pb.SubmitSignedBatchRequest{
		Header:      BatchHeaderToPB(&b.Header),
		Signature:   b.Signature,
		Submissions: make([]*pb.BatchSubmission, len(b.Submissions)),
	}
	for i := range b.Submissions {
		var path [][]byte
		if i < len(b.Paths) {
			path = b.Paths[i]
		}
		req.Submissions[i] = &pb.BatchSubmission{Submission: ToPB(&b.Submissions[i]), Path: path}
	}
	return req
}

// BatchHeaderToPB converts a batch header to its API form.
func BatchHeaderToPB(h *evidence.BatchHeader) *pb.BatchHeader {
	return &pb.BatchHeader{
		Court:    h.Court,
		Platform: h.Platform,
		BatchId:  h.BatchID,
		SignedAt: timestamppb.New(h.SignedAt),
		Count:    h.Count,
		Root:     h.Root,
	}
}

// BatchFilingToPB converts how a batch-filed entry is signed to its API
// form; nil for an entry signed alone.
func BatchFilingToPB(f *evidence.BatchFiling) *pb.BatchFiling {
	if f == nil {
		return nil
	}
	return &pb.BatchFiling{Header: BatchHeaderToPB(&f.Header), Signature: f.Signature, Leaf: f.Leaf, Path: f.Path}
}
