package court

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/crypto/checkpoint"
)

// Bounds of the sync service.
const (
	maxSyncPage     = 1000
	defaultSyncPage = 256
	// maxSyncRange bounds the entries one StreamEntries call sends; the
	// follower asks again for the rest.
	maxSyncRange = 100_000
	maxGossip    = 64
)

// syncServer serves this court's log to the other courts. Any node answers
// reads from what it has applied; cosignatures and gossip, which may write,
// go to the leader.
type syncServer struct {
	pb.UnimplementedSyncServiceServer
	n *Node
}

func (s *syncServer) GetCheckpoint(ctx context.Context, _ *pb.GetCheckpointRequest) (*pb.GetCheckpointResponse, error) {
	h, err := s.n.ledger.LatestHead()
	if errors.Is(err, consensus.ErrEmpty) {
		return &pb.GetCheckpointResponse{}, nil
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.GetCheckpointResponse{Note: string(h.Note)}, nil
}

func (s *syncServer) GetConsistency(ctx context.Context, req *pb.GetConsistencyRequest) (*pb.GetConsistencyResponse, error) {
	if req.FromSize == 0 || req.FromSize > req.ToSize {
		return nil, toStatus(invalid("from_size", "INVALID_RANGE", "want 0 < from_size <= to_size, got %d, %d", req.FromSize, req.ToSize))
	}
	p, err := s.n.ledger.ConsistencyProof(req.FromSize, req.ToSize)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.GetConsistencyResponse{Proof: p}, nil
}

func (s *syncServer) StreamEntries(req *pb.StreamEntriesRequest, stream grpc.ServerStreamingServer[pb.EntriesPage]) error {
	page := int(req.PageSize)
	switch {
	case page == 0:
		page = defaultSyncPage
	case page > maxSyncPage:
		return toStatus(invalid("page_size", "PAGE_TOO_LARGE", "page_size is at most %d, got %d", maxSyncPage, page))
	}
	if req.Start >= req.End || req.End-req.Start > maxSyncRange {
		return toStatus(invalid("end", "INVALID_RANGE", "want start < end <= start+%d, got [%d, %d)", maxSyncRange, req.Start, req.End))
	}
	log := s.n.ledger.Log(s.n.cfg.Court)
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
	peer, ok := s.n.courts[req.Witness]
	if !ok {
		return nil, toStatus(unknownCourt("witness", req.Witness))
	}
	if err := callerIs(ctx, req.Witness); err != nil {
		return nil, toStatus(err)
	}
	note := []byte(req.CosignedNote)
	// The head may be one this court signed before rotating its key, and
	// the cosignature by any of the witness's keys.
	h, n, err := checkpoint.OpenAny(note, s.n.verifiers, peer.cosigVerifiers...)
	if err != nil {
		return nil, toStatus(invalid("cosigned_note", "BAD_COSIGNED_NOTE", "%v", err))
	}
	var line []byte
	for _, sig := range n.Sigs {
		if sig.Name == req.Witness && hasKey(peer.cosigVerifiers, sig.Hash) {
			line = []byte("— " + sig.Name + " " + sig.Base64 + "\n")
		}
	}
	if line == nil {
		return nil, toStatus(invalid("cosigned_note", "NO_COSIGNATURE", "no valid cosignature by %q on the note", req.Witness))
	}
	mine, err := s.n.ledger.HeadAt(h.Size)
	if err != nil {
		return nil, toStatus(err)
	}
	if text, _, _ := bytes.Cut(mine.Note, []byte("\n\n")); string(text)+"\n" != n.Text {
		return nil, toStatus(invalid("cosigned_note", "UNKNOWN_HEAD", "the cosigned head at size %d is not the one this court signed", h.Size))
	}
	return onLeader(ctx, s.n,
		func(c *leaderConn, ctx context.Context) (*pb.AddCosignatureResponse, error) {
			return c.sync.AddCosignature(ctx, req)
		},
		func() (*pb.AddCosignatureResponse, error) {
			if err := s.n.ledger.AddCosignature(ctx, h.Size, line); err != nil {
				return nil, toStatus(err)
			}
			return &pb.AddCosignatureResponse{}, nil
		})
}

func (s *syncServer) ExchangeHeads(ctx context.Context, req *pb.ExchangeHeadsRequest) (*pb.ExchangeHeadsResponse, error) {
	if _, ok := s.n.courts[req.FromCourt]; !ok {
		return nil, toStatus(unknownCourt("from_court", req.FromCourt))
	}
	if err := callerIs(ctx, req.FromCourt); err != nil {
		return nil, toStatus(err)
	}
	if len(req.Heads) > maxGossip {
		return nil, toStatus(invalid("heads", "TOO_MANY_HEADS", "at most %d heads, got %d", maxGossip, len(req.Heads)))
	}
	return onLeader(ctx, s.n,
		func(c *leaderConn, ctx context.Context) (*pb.ExchangeHeadsResponse, error) {
			return c.sync.ExchangeHeads(ctx, req)
		},
		func() (*pb.ExchangeHeadsResponse, error) {
			for _, h := range req.Heads {
				s.n.syncer.checkGossip(ctx, []byte(h), req.FromCourt)
			}
			return &pb.ExchangeHeadsResponse{Heads: s.n.syncer.heldHeads()}, nil
		})
}

// callerIs checks that a court calling as a peer speaks for itself: its
// certificate (or token) must name the court the request names.
func callerIs(ctx context.Context, court string) error {
	c, ok := CallerOf(ctx)
	if ok && c.Role == RolePeer && c.ID != court {
		return &DeniedError{"NOT_THAT_COURT", fmt.Sprintf("court %s may not speak for %s", c.ID, court)}
	}
	return nil
}
