package court

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/witness"
)

// syncServer serves this court's log to the other courts. Any node answers
// reads from what it has applied; cosignatures and gossip, which may write,
// go to the leader.
type syncServer struct {
	pb.UnimplementedSyncServiceServer
	ledger syncLedger
	courts *witness.Courts
	gossip gossiper
	fwd    forwarder
	// done closes when the node stops: open watches end then, so that
	// GracefulStop, which waits for every stream, is not held up.
	done <-chan struct{}
	// watchers counts the WatchHeads streams open, at most
	// witness.MaxWatchers.
	watchers atomic.Int64
}

// syncLedger is what the sync service reads of the court's own log and
// writes (cosignatures); *consensus.Ledger is one.
type syncLedger interface {
	LatestHead() (consensus.SignedHead, error)
	HeadAt(size uint64) (consensus.SignedHead, error)
	ConsistencyProof(size1, size2 uint64) ([][]byte, error)
	Log(court string) *consensus.LogView
	AddCosignature(ctx context.Context, size uint64, line []byte) error
	// Grown returns a channel closed the next time the court's own log
	// grows on this node.
	Grown() <-chan struct{}
	// Timestamps are the TSA tokens of the court's own heads (issue 16).
	Timestamps(after uint64, limit int) ([]consensus.StampRecord, error)
}

// maxStampsPerCall bounds the tokens one GetCheckpoint answers.
const maxStampsPerCall = 16

// gossiper checks the heads another court gossips and says which this
// court holds; *witness.Syncer is one.
type gossiper interface {
	CheckGossip(ctx context.Context, note []byte, source string)
	HeldHeads() []string
}

func (s *syncServer) GetCheckpoint(ctx context.Context, req *pb.GetCheckpointRequest) (*pb.GetCheckpointResponse, error) {
	h, err := s.ledger.LatestHead()
	if errors.Is(err, consensus.ErrEmpty) {
		return &pb.GetCheckpointResponse{}, nil
	}
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.GetCheckpointResponse{Note: string(h.Note)}
	if req.WithTimestamps {
		stamps, err := s.ledger.Timestamps(req.TimestampsAfter, maxStampsPerCall)
		if err != nil {
			return nil, toStatus(err)
		}
		for _, st := range stamps {
			out.Timestamps = append(out.Timestamps, &pb.HeadTimestamp{Size: st.Size, Tsa: st.TSA, Token: st.Token, Note: string(st.Note)})
		}
	}
	return out, nil
}

func (s *syncServer) GetConsistency(ctx context.Context, req *pb.GetConsistencyRequest) (*pb.GetConsistencyResponse, error) {
	if req.FromSize == 0 || req.FromSize > req.ToSize {
		return nil, toStatus(invalid("from_size", "INVALID_RANGE", "want 0 < from_size <= to_size, got %d, %d", req.FromSize, req.ToSize))
	}
	p, err := s.ledger.ConsistencyProof(req.FromSize, req.ToSize)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.GetConsistencyResponse{Proof: p}, nil
}

func (s *syncServer) StreamEntries(req *pb.StreamEntriesRequest, stream grpc.ServerStreamingServer[pb.EntriesPage]) error {
	page := int(req.PageSize)
	switch {
	case page == 0:
		page = witness.DefaultPage
	case page > witness.MaxPage:
		return toStatus(invalid("page_size", "PAGE_TOO_LARGE", "page_size is at most %d, got %d", witness.MaxPage, page))
	}
	if req.Start >= req.End || req.End-req.Start > witness.MaxRange {
		return toStatus(invalid("end", "INVALID_RANGE", "want start < end <= start+%d, got [%d, %d)", witness.MaxRange, req.Start, req.End))
	}
	log := s.ledger.Log(s.courts.Self())
	if size := log.Size(); req.End > size {
		return toStatus(fmt.Errorf("%w: entries up to %d asked, %d held", consensus.ErrNotFound, req.End, size))
	}
	for at := req.Start; at < req.End; {
		end := min(at+uint64(page), req.End)
		raws, err := log.RawEntries(at, end, page)
		if err != nil {
			return toStatus(err)
		}
		heads, err := log.Heads(at, end, consensus.MaxMirrorHeads)
		if err != nil {
			return toStatus(err)
		}
		p := &pb.EntriesPage{Start: at, Entries: raws}
		for _, h := range heads {
			p.Heads = append(p.Heads, string(h.Note))
		}
		if err := stream.Send(p); err != nil {
			return err
		}
		at = end
	}
	return nil
}

func (s *syncServer) AddCosignature(ctx context.Context, req *pb.AddCosignatureRequest) (*pb.AddCosignatureResponse, error) {
	if !s.courts.Known(req.Witness) {
		return nil, toStatus(unknownCourt("witness", req.Witness))
	}
	if err := callerIs(ctx, req.Witness); err != nil {
		return nil, toStatus(err)
	}
	h, line, err := s.courts.Cosignature(req.Witness, []byte(req.CosignedNote), func(size uint64) ([]byte, error) {
		mine, err := s.ledger.HeadAt(size)
		return mine.Note, err
	})
	var ce *witness.CosignatureError
	if errors.As(err, &ce) {
		return nil, toStatus(invalid("cosigned_note", ce.Reason, "%s", ce.Detail))
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return onLeader(ctx, s.fwd,
		func(c *leaderConn, ctx context.Context) (*pb.AddCosignatureResponse, error) {
			return c.sync.AddCosignature(ctx, req)
		},
		func() (*pb.AddCosignatureResponse, error) {
			if err := s.ledger.AddCosignature(ctx, h.Size, line); err != nil {
				return nil, toStatus(err)
			}
			return &pb.AddCosignatureResponse{}, nil
		})
}

func (s *syncServer) ExchangeHeads(ctx context.Context, req *pb.ExchangeHeadsRequest) (*pb.ExchangeHeadsResponse, error) {
	if !s.courts.Known(req.FromCourt) {
		return nil, toStatus(unknownCourt("from_court", req.FromCourt))
	}
	if err := callerIs(ctx, req.FromCourt); err != nil {
		return nil, toStatus(err)
	}
	if len(req.Heads) > witness.MaxGossip {
		return nil, toStatus(invalid("heads", "TOO_MANY_HEADS", "at most %d heads, got %d", witness.MaxGossip, len(req.Heads)))
	}
	return onLeader(ctx, s.fwd,
		func(c *leaderConn, ctx context.Context) (*pb.ExchangeHeadsResponse, error) {
			return c.sync.ExchangeHeads(ctx, req)
		},
		func() (*pb.ExchangeHeadsResponse, error) {
			for _, h := range req.Heads {
				s.gossip.CheckGossip(ctx, []byte(h), req.FromCourt)
			}
			return &pb.ExchangeHeadsResponse{Heads: s.gossip.HeldHeads()}, nil
		})
}

// WatchHeads sends the newest head at once, then the newest again each
// time the log grows: a watcher slower than the heads gets the newest when
// it next reads, never a backlog. While nothing changes it sends the
// newest every witness.WatchHeartbeat, so the watcher can tell a quiet
// court from a dead connection.
func (s *syncServer) WatchHeads(req *pb.WatchHeadsRequest, stream grpc.ServerStreamingServer[pb.WatchHeadsResponse]) error {
	if n := s.watchers.Add(1); n > witness.MaxWatchers {
		s.watchers.Add(-1)
		return toStatus(&Problem{Code: codes.ResourceExhausted, Reason: "TOO_MANY_WATCHERS",
			Message: fmt.Sprintf("this node already serves %d watches of its heads, its limit; watch another node of the court, or poll GetCheckpoint", witness.MaxWatchers)})
	}
	defer s.watchers.Add(-1)
	ctx := stream.Context()
	beat := time.NewTicker(witness.WatchHeartbeat)
	defer beat.Stop()
	var sent uint64
	for first, again := true, false; ; {
		grown := s.ledger.Grown() // taken before the head is read: no growth is missed
		h, err := s.ledger.LatestHead()
		if err != nil && !errors.Is(err, consensus.ErrEmpty) {
			return toStatus(err)
		}
		if first || again || h.Head.Size > sent {
			if err := stream.Send(&pb.WatchHeadsResponse{Note: string(h.Note)}); err != nil {
				return err
			}
			sent, first, again = h.Head.Size, false, false
		}
		select {
		case <-grown:
		case <-beat.C:
			again = true
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.done:
			return nil
		}
	}
}

// callerIs checks that a court calling as a peer speaks for itself: its
// certificate (or token) must name the court the request names.
func callerIs(ctx context.Context, court string) error {
	c, ok := access.CallerOf(ctx)
	if ok && c.Role == access.RolePeer && c.ID != court {
		return &access.DeniedError{Reason: "NOT_THAT_COURT", Detail: fmt.Sprintf("court %s may not speak for %s", c.ID, court)}
	}
	return nil
}
