package main

import (
	"context"
	"encoding/json"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"

	"google.golang.org/grpc"
)

// node add and node remove say what the court refused and why, never an
// empty answer (issue 13, item 5): an unknown node, an address nothing
// answers on, the court's last voter.
func TestNodeCommandsSayWhatHappened(t *testing.T) {
	c := startOneNodeCourt(t, []byte("seed"))
	srv := []string{"--server", c.addr}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"node", "remove", "hz-9"}, []string{"NotFound", `node "hz-9" is not a member of this court`}},
		{[]string{"node", "add", "hz-1", "--raft-addr", loopback(t), "--api-addr", loopback(t)},
			[]string{"FailedPrecondition", "does not answer", "start it before adding it"}},
		{[]string{"node", "remove", "hz-0"}, []string{"FailedPrecondition", "last voter"}},
	} {
		out, _, err := as(t, "tok-admin", append(tc.args, srv...)...)
		if err == nil {
			t.Errorf("%v: no error; printed %q", tc.args, out)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %q does not say %q", tc.args, err, w)
			}
		}
		if code, _ := exitCode(err); code == exitOK || code == exitUsage {
			t.Errorf("%v: exit code %d for a refusal by the court", tc.args, code)
		}
	}
}

// fakeAdmin answers membership changes as a court that takes them would.
type fakeAdmin struct {
	pb.UnimplementedAdminServiceServer
	mu    sync.Mutex
	nodes []*pb.Node
}

func (f *fakeAdmin) GetClusterStatus(context.Context, *pb.GetClusterStatusRequest) (*pb.GetClusterStatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &pb.GetClusterStatusResponse{Court: certTestCourt, NodeId: "hz-0", LeaderId: "hz-0", Ready: true, Nodes: slices.Clone(f.nodes)}, nil
}

func (f *fakeAdmin) AddNode(_ context.Context, req *pb.AddNodeRequest) (*pb.AddNodeResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := req.GetNode()
	f.nodes = append(f.nodes, &pb.Node{NodeId: n.NodeId, RaftAddress: n.RaftAddress, ApiAddress: n.ApiAddress, Health: "ok"})
	return &pb.AddNodeResponse{}, nil
}

func (f *fakeAdmin) RemoveNode(_ context.Context, req *pb.RemoveNodeRequest) (*pb.RemoveNodeResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nodes = slices.DeleteFunc(f.nodes, func(n *pb.Node) bool { return n.NodeId == req.NodeId })
	return &pb.RemoveNodeResponse{}, nil
}

// A change the court took is reported with the court's nodes as they now
// are, in text and in --json, not as an empty answer.
func TestNodeCommandsPrintTheCourtAfter(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterAdminServiceServer(srv, &fakeAdmin{nodes: []*pb.Node{{NodeId: "hz-0", RaftAddress: "127.0.0.1:7100", ApiAddress: "127.0.0.1:9100", Health: "ok"}}})
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	t.Setenv("EVIDENCECTL_INSECURE", "1")
	args := []string{"--server", ln.Addr().String()}

	out, _, err := as(t, "tok-admin", append([]string{"node", "add", "hz-1", "--raft-addr", "127.0.0.1:7101", "--api-addr", "127.0.0.1:9101"}, args...)...)
	if err != nil || !strings.Contains(out, "node hz-1 added") || !strings.Contains(out, "127.0.0.1:7101") || !strings.Contains(out, "hz-0") {
		t.Fatalf("node add: %v\n%s", err, out)
	}
	out, _, err = as(t, "tok-admin", append([]string{"node", "remove", "hz-1", "--json"}, args...)...)
	var v struct {
		Action string `json:"action"`
		NodeID string `json:"node_id"`
		Nodes  []struct {
			NodeID string `json:"node_id"`
		} `json:"nodes"`
	}
	if err != nil || json.Unmarshal([]byte(out), &v) != nil || v.Action != "removed" || v.NodeID != "hz-1" || len(v.Nodes) != 1 || v.Nodes[0].NodeID != "hz-0" {
		t.Fatalf("node remove --json: %v\n%s", err, out)
	}
}
