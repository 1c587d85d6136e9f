package court

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court/access"
)

func serverIDs(t *testing.T, n *Node) []string {
	t.Helper()
	servers, err := n.ledger.Servers()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range servers {
		ids = append(ids, s.ID)
	}
	slices.Sort(ids)
	return ids
}

// AddNode and RemoveNode refuse malformed node IDs and addresses, on the
// leader and on a follower, and the membership does not change.
func TestAddNodeRefusesBadIDsAndAddresses(t *testing.T) {
	c := startCourt(t, 3)
	ok := "127.0.0.1:7101"
	cases := []struct {
		name, id, raft, api, reason string
	}{
		{"path in the ID", "../../x", ok, "", "INVALID_NODE_ID"},
		{"slash in the ID", "hz/1", ok, "", "INVALID_NODE_ID"},
		{"dot-dot in the ID", "hz..1", ok, "", "INVALID_NODE_ID"},
		{"leading dot", ".hz", ok, "", "INVALID_NODE_ID"},
		{"space in the ID", "hz 1", ok, "", "INVALID_NODE_ID"},
		{"ID of 65 characters", strings.Repeat("a", 65), ok, "", "INVALID_NODE_ID"},
		{"a file path as address", "hz-3", "/etc/passwd", "", "INVALID_ADDRESS"},
		{"a file path with a port", "hz-3", "/etc/passwd:7101", "", "INVALID_ADDRESS"},
		{"no port", "hz-3", "10.0.0.3", "", "INVALID_ADDRESS"},
		{"port 0", "hz-3", "10.0.0.3:0", "", "INVALID_ADDRESS"},
		{"port 65536", "hz-3", "10.0.0.3:65536", "", "INVALID_ADDRESS"},
		{"named port", "hz-3", "10.0.0.3:raft", "", "INVALID_ADDRESS"},
		{"signed port", "hz-3", "10.0.0.3:+7101", "", "INVALID_ADDRESS"},
		{"unspecified host", "hz-3", "0.0.0.0:7101", "", "INVALID_ADDRESS"},
		{"URL", "hz-3", "http://10.0.0.3:7101/", "", "INVALID_ADDRESS"},
		{"bad host name", "hz-3", "-hz3.example:7101", "", "INVALID_ADDRESS"},
		{"bad API address", "hz-3", ok, "/etc/passwd", "INVALID_ADDRESS"},
	}
	before := serverIDs(t, c.leader())
	for _, target := range []*Node{c.leader(), c.follower()} {
		_, admin := c.dial(t, target.GRPCAddr())
		for _, tc := range cases {
			t.Run(target.cfg.NodeID+"/"+tc.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				_, err := admin.AddNode(ctx, &pb.AddNodeRequest{Node: &pb.Node{NodeId: tc.id, RaftAddress: tc.raft, ApiAddress: tc.api}})
				if status.Code(err) != codes.InvalidArgument || reasonOf(err) != tc.reason {
					t.Fatalf("AddNode(%q, %q, %q): %v (%s), want InvalidArgument (%s)", tc.id, tc.raft, tc.api, err, reasonOf(err), tc.reason)
				}
			})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err := admin.RemoveNode(ctx, &pb.RemoveNodeRequest{NodeId: "../../x"})
		cancel()
		if status.Code(err) != codes.InvalidArgument || reasonOf(err) != "INVALID_NODE_ID" {
			t.Fatalf("RemoveNode(../../x): %v", err)
		}
	}
	if after := serverIDs(t, c.leader()); !slices.Equal(before, after) {
		t.Fatalf("membership changed from %v to %v", before, after)
	}
}

// With one node of three down, the leader refuses a new voter that does
// not answer and a removal that would leave no quorum that answers; it
// allows removing the node that is down, and adding a node that runs,
// forwarded by a follower and audited on the leader with both identities.
func TestMembershipKeepsQuorum(t *testing.T) {
	c := startCourtWith(t, 3, func(cfg *Config) { cfg.Security.Audit.FlushEvery = 20 * time.Millisecond })
	l := c.leader()
	var down, up *Node
	for _, n := range c.nodes {
		if n == l {
			continue
		}
		if down == nil {
			down = n
		} else {
			up = n
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	down.Shutdown(sctx)
	cancel()
	_, admin := c.dial(t, l.GRPCAddr())
	call := func(f func(ctx context.Context) error) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return f(ctx)
	}
	addNode := func(admin pb.AdminServiceClient, id, raft, api string) error {
		return call(func(ctx context.Context) error {
			_, err := admin.AddNode(ctx, &pb.AddNodeRequest{Node: &pb.Node{NodeId: id, RaftAddress: raft, ApiAddress: api}})
			return err
		})
	}
	removeNode := func(id string) error {
		return call(func(ctx context.Context) error {
			_, err := admin.RemoveNode(ctx, &pb.RemoveNodeRequest{NodeId: id})
			return err
		})
	}
	start := time.Now()
	if err := addNode(admin, "hz-3", freeAddr(t), ""); status.Code(err) != codes.FailedPrecondition || reasonOf(err) != "NODE_UNREACHABLE" {
		t.Fatalf("adding a voter nobody answers for: %v (%s)", err, reasonOf(err))
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("refusing the unreachable voter took %v", d)
	}
	if err := removeNode("hz-9"); status.Code(err) != codes.NotFound || reasonOf(err) != "NODE_NOT_FOUND" {
		t.Fatalf("removing an unknown node: %v (%s)", err, reasonOf(err))
	}
	if err := removeNode(up.cfg.NodeID); status.Code(err) != codes.FailedPrecondition || reasonOf(err) != "QUORUM_AT_RISK" ||
		!strings.Contains(err.Error(), down.cfg.NodeID) {
		t.Fatalf("removing the other live node: %v (%s)", err, reasonOf(err))
	}
	if ids := serverIDs(t, l); len(ids) != 3 {
		t.Fatalf("membership after refused changes: %v", ids)
	}
	// Healing: the node that is down goes, a running one comes in.
	if err := removeNode(down.cfg.NodeID); err != nil {
		t.Fatalf("removing the node that is down: %v", err)
	}
	peers := append([]Peer(nil), l.cfg.Peers...)
	np := Peer{NodeID: "hz-3", RaftAddr: freeAddr(t), GRPCAddr: freeAddr(t)}
	peers = append(peers, np)
	cfg := l.cfg
	cfg.NodeID, cfg.RaftAddr, cfg.GRPCAddr, cfg.HTTPAddr = np.NodeID, np.RaftAddr, np.GRPCAddr, "127.0.0.1:0"
	cfg.DataDir, cfg.Peers, cfg.Bootstrap = filepath.Join(t.TempDir(), np.NodeID), peers, false
	cfg.Security = testSecurity(t, c.ca, testCourt, np.NodeID)
	cfg.Security.Audit.FlushEvery = 20 * time.Millisecond
	nn, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.nodes = append(c.nodes, nn)
	_, upAdmin := c.dial(t, up.GRPCAddr())
	if err := addNode(upAdmin, np.NodeID, np.RaftAddr, np.GRPCAddr); err != nil {
		t.Fatalf("adding a running node through a follower: %v", err)
	}
	want := []string{l.cfg.NodeID, up.cfg.NodeID, np.NodeID}
	slices.Sort(want)
	if ids := serverIDs(t, l); !slices.Equal(ids, want) {
		t.Fatalf("membership %v, want %v", ids, want)
	}
	eventually(t, 20*time.Second, "the new node follows the leader", func() bool {
		id, _ := nn.ledger.Leader()
		return id == l.cfg.NodeID
	})
	if !l.ledger.IsLeader() {
		t.Skip("leadership moved; the forwarded AddNode's audit record may be another node's")
	}
	audit := pb.NewAuditServiceClient(dialToken(t, c.ca, l.GRPCAddr(), tokenFor(access.RoleAdmin)))
	waitAudit(t, audit, &pb.QueryAuditRequest{Method: "/courtledger.v1.AdminService/AddNode", Target: "node_id=hz-3 raft_address=" + np.RaftAddr},
		func(rs []*pb.AuditRecord) bool {
			for _, r := range rs {
				if r.NodeId == l.cfg.NodeID && r.Caller == "admin-zhao" && r.Code == "OK" &&
					r.Via == fmt.Sprintf("forwarded:%s:token", access.NodeIdentity(testCourt, up.cfg.NodeID).ID) {
					return true
				}
			}
			return false
		})
	// The refused changes are in the audit log too.
	waitAudit(t, audit, &pb.QueryAuditRequest{Method: "/courtledger.v1.AdminService/RemoveNode", Target: "node_id=" + up.cfg.NodeID},
		func(rs []*pb.AuditRecord) bool {
			return slices.ContainsFunc(rs, func(r *pb.AuditRecord) bool { return r.Code == codes.FailedPrecondition.String() })
		})
}

// The configuration holds node IDs to the rule AddNode does.
func TestConfigRefusesBadNodeIDs(t *testing.T) {
	base := FileConfig{Court: testCourt, NodeID: "hz-1", DataDir: "d", RaftAddr: ":7101", GRPCAddr: ":9101",
		HTTPAddr: ":8101", CourtKeyFile: "k", FileSecurity: FileSecurity{Insecure: true}}
	if err := base.validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, id := range []string{"../../x", "hz/1", "a..b"} {
		fc := base
		fc.NodeID = id
		if err := fc.validate(); err == nil || !strings.Contains(err.Error(), "not a valid node ID") {
			t.Errorf("node_id %q: %v", id, err)
		}
		fc = base
		fc.Peers = []FilePeer{{NodeID: "hz-1", RaftAddr: "a:1", GRPCAddr: "a:2"}, {NodeID: id, RaftAddr: "b:1", GRPCAddr: "b:2"}}
		if err := fc.validate(); err == nil || !strings.Contains(err.Error(), "not a valid node ID") {
			t.Errorf("peer node_id %q: %v", id, err)
		}
	}
}
