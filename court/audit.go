package court

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
)

// AuditConfig bounds the node's audit buffer.
//
// Every call a node serves becomes an audit record. Records wait in a
// buffer on the node and go through Raft in batches, every FlushEvery or
// as soon as FlushRecords are waiting, so auditing a read costs no Raft
// round trip of its own. A follower hands its batches to the leader
// (AuditService.AppendAudit).
//
// What a crash loses: the records buffered and not yet committed, at most
// FlushEvery's worth in normal running, more if the leader was
// unreachable. The buffer is bounded by MaxBuffered; when it is full the
// node refuses further calls with Unavailable (AUDIT_BACKLOG) rather than
// serve evidence unrecorded. A batch that was committed but whose answer
// was lost (a leader change mid-flush) is sent again, so a record can
// appear twice; never zero times once committed.
type AuditConfig struct {
	FlushEvery   time.Duration // default 100 ms
	FlushRecords int           // default 256
	MaxBuffered  int           // default 65536
}

func (c AuditConfig) withDefaults() AuditConfig {
	if c.FlushEvery <= 0 {
		c.FlushEvery = 100 * time.Millisecond
	}
	if c.FlushRecords <= 0 || c.FlushRecords > consensus.MaxAuditBatch {
		c.FlushRecords = 256
	}
	if c.MaxBuffered <= 0 {
		c.MaxBuffered = 65536
	}
	return c
}

var errAuditBacklog = errors.New("audit log backlog is full; the court accepts no calls until it drains")

// auditSink proposes a batch of records to the court's audit log: through
// the local ledger on the leader, through the leader's API on a follower.
type auditSink func(ctx context.Context, recs []consensus.AuditRecord) error

type auditor struct {
	cfg  AuditConfig
	sink auditSink
	log  *slog.Logger

	mu   sync.Mutex
	buf  []consensus.AuditRecord
	kick chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
}

func newAuditor(cfg AuditConfig, sink auditSink, log *slog.Logger) *auditor {
	a := &auditor{cfg: cfg.withDefaults(), sink: sink, log: log, kick: make(chan struct{}, 1), done: make(chan struct{})}
	a.wg.Add(1)
	go a.run()
	return a
}

// admit refuses a call that could not be recorded.
func (a *auditor) admit() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.buf) >= a.cfg.MaxBuffered {
		return errAuditBacklog
	}
	return nil
}

// record buffers one record. A record arriving over the bound (calls
// admitted together) is still kept: the bound is enforced at admission.
func (a *auditor) record(r consensus.AuditRecord) {
	a.mu.Lock()
	a.buf = append(a.buf, r)
	n := len(a.buf)
	a.mu.Unlock()
	if n >= a.cfg.FlushRecords {
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
}

func (a *auditor) run() {
	defer a.wg.Done()
	t := time.NewTicker(a.cfg.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-a.done:
			a.flush() // best effort: what is left is lost, as on a crash
			return
		case <-t.C:
		case <-a.kick:
		}
		a.flush()
	}
}

// flush sends the buffer in batches until it is empty or a batch fails;
// a failed batch stays at the head of the buffer for the next try.
func (a *auditor) flush() {
	for {
		a.mu.Lock()
		n := min(len(a.buf), a.cfg.FlushRecords)
		batch := a.buf[:n:n]
		a.mu.Unlock()
		if n == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := a.sink(ctx, batch)
		cancel()
		if err != nil {
			a.log.Warn("audit flush failed; will retry", "records", n, "err", err)
			return
		}
		a.mu.Lock()
		a.buf = append(a.buf[:0:0], a.buf[n:]...)
		a.mu.Unlock()
	}
}

func (a *auditor) close() {
	select {
	case <-a.done:
	default:
		close(a.done)
	}
	a.wg.Wait()
}

// buffered is how many records wait, for tests and status.
func (a *auditor) buffered() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.buf)
}

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
	n *Node
}

func (s *auditServer) QueryAudit(ctx context.Context, req *pb.QueryAuditRequest) (*pb.QueryAuditResponse, error) {
	limit := int(req.Limit)
	if limit == 0 {
		limit = 100
	}
	if limit > 1000 {
		return nil, toStatus(invalid("limit", "LIMIT_TOO_LARGE", "limit is at most 1000, got %d", limit))
	}
	recs, next, err := s.n.ledger.Audit(req.After, limit, consensus.AuditFilter{Caller: req.Caller, Method: req.Method, Target: req.Target})
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
	if !s.n.ledger.IsLeader() {
		// No second hop: the follower retries with whoever leads next.
		return nil, toStatus(&consensus.NotLeaderError{})
	}
	if err := s.n.ledger.AppendAudit(ctx, recs); err != nil {
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
