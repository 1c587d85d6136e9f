package court

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/crypto/sm2"
)

// adminServer manages the court's nodes and platforms. Changes run on the
// leader; a follower forwards them.
type adminServer struct {
	pb.UnimplementedAdminServiceServer
	n *Node
}

// GetClusterStatus answers with this node's view of the court, its own
// readiness and that of every node it can ask (clusterHealth).
func (s *adminServer) GetClusterStatus(ctx context.Context, _ *pb.GetClusterStatusRequest) (*pb.GetClusterStatusResponse, error) {
	st := s.n.ledger.Status()
	ready, why := s.n.ready()
	h := s.n.ledgerState()
	out := &pb.GetClusterStatusResponse{
		Court: s.n.cfg.Court, NodeId: st.NodeID, State: st.State, LeaderId: st.LeaderID, Term: st.Term,
		CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex, Size: st.Size,
		Ready: ready, Health: string(h.State), Reason: why, Corruptions: s.n.ledger.Corruptions(),
		HeadAgeSeconds: -1, DiskFreeBytes: int64(diskFree(s.n.cfg.DataDir)),
	}
	if fi, err := os.Stat(filepath.Join(s.n.cfg.DataDir, "ledger.db")); err == nil {
		out.LedgerBytes = diskBytes(fi)
	}
	if head, err := s.n.ledger.LatestHead(); err == nil && !head.Head.Time.IsZero() {
		out.HeadAgeSeconds = time.Since(head.Head.Time).Seconds()
	}
	servers, err := s.n.ledger.Servers()
	if err != nil {
		return nil, toStatus(err)
	}
	for _, sv := range servers {
		out.Nodes = append(out.Nodes, &pb.Node{NodeId: sv.ID, RaftAddress: sv.Address, ApiAddress: s.n.peerAPI(sv.ID)})
	}
	s.n.clusterHealth(ctx, out)
	return out, nil
}

// AddNode adds a voter. The request is checked on the node it reached
// and again on the leader, which also checks the membership it would
// make (checkAddNode).
func (s *adminServer) AddNode(ctx context.Context, req *pb.AddNodeRequest) (*pb.AddNodeResponse, error) {
	nd := req.GetNode()
	if nd.GetNodeId() == "" || nd.GetRaftAddress() == "" {
		return nil, toStatus(invalid("node", "MISSING_FIELD", "node_id and raft_address are required"))
	}
	if err := checkNodeID("node.node_id", nd.NodeId); err != nil {
		return nil, toStatus(err)
	}
	if err := checkHostPort("node.raft_address", nd.RaftAddress); err != nil {
		return nil, toStatus(err)
	}
	if nd.ApiAddress != "" {
		if err := checkHostPort("node.api_address", nd.ApiAddress); err != nil {
			return nil, toStatus(err)
		}
	}
	return onLeader(ctx, s.n, func(c *leaderConn, ctx context.Context) (*pb.AddNodeResponse, error) {
		return c.admin.AddNode(ctx, req)
	}, func() (*pb.AddNodeResponse, error) {
		srv := consensus.Server{ID: nd.NodeId, Address: nd.RaftAddress}
		if err := s.n.checkAddNode(ctx, srv); err != nil {
			return nil, toStatus(err)
		}
		if err := s.n.ledger.AddVoter(ctx, srv); err != nil {
			return nil, toStatus(err)
		}
		if nd.ApiAddress != "" {
			s.n.setPeerAPI(nd.NodeId, nd.ApiAddress)
		}
		return &pb.AddNodeResponse{}, nil
	})
}

// RemoveNode removes a member; the leader refuses an unknown one and a
// removal that leaves no quorum of voters that answer (checkRemoveNode).
func (s *adminServer) RemoveNode(ctx context.Context, req *pb.RemoveNodeRequest) (*pb.RemoveNodeResponse, error) {
	if req.NodeId == "" {
		return nil, toStatus(invalid("node_id", "MISSING_FIELD", "node_id is required"))
	}
	if err := checkNodeID("node_id", req.NodeId); err != nil {
		return nil, toStatus(err)
	}
	return onLeader(ctx, s.n, func(c *leaderConn, ctx context.Context) (*pb.RemoveNodeResponse, error) {
		return c.admin.RemoveNode(ctx, req)
	}, func() (*pb.RemoveNodeResponse, error) {
		if err := s.n.checkRemoveNode(ctx, req.NodeId); err != nil {
			return nil, toStatus(err)
		}
		if err := s.n.ledger.RemoveServer(ctx, req.NodeId); err != nil {
			return nil, toStatus(err)
		}
		return &pb.RemoveNodeResponse{}, nil
	})
}

func (s *adminServer) RegisterPlatform(ctx context.Context, req *pb.RegisterPlatformRequest) (*pb.RegisterPlatformResponse, error) {
	pub, err := sm2.ParsePublicKeyPEM([]byte(req.PublicKeyPem))
	if err != nil {
		return nil, toStatus(invalid("public_key_pem", "INVALID_PUBLIC_KEY", "public_key_pem: %v", err))
	}
	return onLeader(ctx, s.n, func(c *leaderConn, ctx context.Context) (*pb.RegisterPlatformResponse, error) {
		return c.admin.RegisterPlatform(ctx, req)
	}, func() (*pb.RegisterPlatformResponse, error) {
		if err := s.n.ledger.RegisterPlatform(ctx, req.PlatformId, pub); err != nil {
			return nil, toStatus(err)
		}
		return &pb.RegisterPlatformResponse{Platform: &pb.Platform{
			PlatformId: req.PlatformId, PublicKeyPem: string(pub.MarshalPEM()),
		}}, nil
	})
}

func (s *adminServer) RevokePlatform(ctx context.Context, req *pb.RevokePlatformRequest) (*pb.RevokePlatformResponse, error) {
	return onLeader(ctx, s.n, func(c *leaderConn, ctx context.Context) (*pb.RevokePlatformResponse, error) {
		return c.admin.RevokePlatform(ctx, req)
	}, func() (*pb.RevokePlatformResponse, error) {
		if err := s.n.ledger.RevokePlatform(ctx, req.PlatformId); err != nil {
			if problemOf(err).Reason == "PLATFORM_NOT_REGISTERED" {
				err = &Problem{Code: codes.NotFound, Reason: "PLATFORM_NOT_FOUND", Message: err.Error(), Field: "platform_id"}
			}
			return nil, toStatus(err)
		}
		return &pb.RevokePlatformResponse{}, nil
	})
}

func (s *adminServer) ListPlatforms(ctx context.Context, _ *pb.ListPlatformsRequest) (*pb.ListPlatformsResponse, error) {
	ps, err := s.n.ledger.Platforms()
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pb.ListPlatformsResponse{}
	for _, p := range ps {
		pp := &pb.Platform{PlatformId: p.ID, PublicKeyPem: string(p.Key.MarshalPEM()), Revoked: p.Revoked,
			RegisteredAt: timestamppb.New(p.RegisteredAt)}
		if p.Revoked {
			pp.RevokedAt = timestamppb.New(p.RevokedAt)
		}
		out.Platforms = append(out.Platforms, pp)
	}
	return out, nil
}
