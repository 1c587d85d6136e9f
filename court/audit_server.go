package court

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
)

func auditToPB(r consensus.AuditRecord) *pb.AuditRecord {
	return &pb.AuditRecord{Seq: r.Seq, Time: timestamppb.New(r.Time), NodeId: r.Node, Role: r.Role, Caller: r.Caller,
		Via: r.Via, RemoteAddr: r.Addr, Method: r.Method, Target: r.Target, Code: r.Code}
}

func auditFromPB(r *pb.AuditRecord) consensus.AuditRecord {
	return consensus.AuditRecord{Time: r.GetTime().AsTime(), Node: r.NodeId, Role: r.Role, Caller: r.Caller,
		Via: r.Via, Addr: r.RemoteAddr, Method: r.Method, Target: r.Target, Code: r.Code}
}

// auditServer serves the audit log to admins and takes followers' records.
type auditServer struct {
	pb.UnimplementedAuditServiceServer
	ledger auditLedger
}

// auditLedger holds the court's audit log; *consensus.Ledger is one.
type auditLedger interface {
	IsLeader() bool
	Audit(after uint64, limit int, f consensus.AuditFilter) ([]consensus.AuditRecord, uint64, error)
	AppendAudit(ctx context.Context, recs []consensus.AuditRecord) error
}

func (s *auditServer) QueryAudit(ctx context.Context, req *pb.QueryAuditRequest) (*pb.QueryAuditResponse, error) {
	limit := int(req.Limit)
	if limit == 0 {
		limit = 100
	}
	if limit > 1000 {
		return nil, toStatus(invalid("limit", "LIMIT_TOO_LARGE", "limit is at most 1000, got %d", limit))
	}
	recs, next, err := s.ledger.Audit(req.After, limit, consensus.AuditFilter{Caller: req.Caller, Method: req.Method, Target: req.Target})
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.QueryAuditResponse{Next: next}
	for _, r := range recs {
		out.Records = append(out.Records, auditToPB(r))
	}
	return out, nil
}

func (s *auditServer) AppendAudit(ctx context.Context, req *pb.AppendAuditRequest) (*pb.AppendAuditResponse, error) {
	if n := len(req.Records); n == 0 || n > consensus.MaxAuditBatch {
		return nil, toStatus(invalid("records", "BATCH_SIZE", "an audit batch holds 1 to %d records, got %d", consensus.MaxAuditBatch, n))
	}
	recs := make([]consensus.AuditRecord, len(req.Records))
	for i, r := range req.Records {
		recs[i] = auditFromPB(r)
	}
	if !s.ledger.IsLeader() {
		// No second hop: the follower retries with whoever leads next.
		return nil, toStatus(&consensus.NotLeaderError{})
	}
	if err := s.ledger.AppendAudit(ctx, recs); err != nil {
		return nil, toStatus(fmt.Errorf("append audit: %w", err))
	}
	return &pb.AppendAuditResponse{}, nil
}

// auditSinkOf sends a node's records to the court's audit log.
func (n *Node) auditSink(ctx context.Context, recs []consensus.AuditRecord) error {
	if n.ledger.IsLeader() {
		return n.ledger.AppendAudit(ctx, recs)
	}
	c, err := n.leaderClient(ctx)
	if err != nil {
		return err
	}
	if c == nil {
		return n.ledger.AppendAudit(ctx, recs)
	}
	req := &pb.AppendAuditRequest{}
	for _, r := range recs {
		req.Records = append(req.Records, auditToPB(r))
	}
	_, err = pb.NewAuditServiceClient(c.cc).AppendAudit(n.nodeContext(ctx), req)
	return err
}
