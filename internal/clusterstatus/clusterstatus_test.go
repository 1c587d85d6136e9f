package clusterstatus

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
)

// selfReport answers GetClusterStatus as a node does: its own view.
type selfReport struct {
	pb.UnimplementedAdminServiceServer
	st *pb.GetClusterStatusResponse
}

func (s selfReport) GetClusterStatus(context.Context, *pb.GetClusterStatusRequest) (*pb.GetClusterStatusResponse, error) {
	return s.st, nil
}

func serve(t *testing.T, st *pb.GetClusterStatusResponse) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterAdminServiceServer(srv, selfReport{st: st})
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// Each row is what its node says of itself; the node that listed the
// members is not asked again; a node that does not answer, or has no
// address, is a row saying why.
func TestAskAndPrint(t *testing.T) {
	follower := serve(t, &pb.GetClusterStatusResponse{Court: "c", NodeId: "n2", State: "Follower", Term: 7, AppliedIndex: 40,
		CommitIndex: 41, Size: 12, LedgerBytes: 3 << 20, HeadAgeSeconds: 2.4, DiskFreeBytes: 5 << 30, Ready: false, Reason: "ledger behind"})
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	asked := &pb.GetClusterStatusResponse{Court: "c", NodeId: "n1", LeaderId: "n1", State: "Leader", Term: 7, AppliedIndex: 41,
		CommitIndex: 41, Size: 12, LedgerBytes: 100, HeadAgeSeconds: -1, DiskFreeBytes: -1, Ready: true,
		Nodes: []*pb.Node{{NodeId: "n1", ApiAddress: "127.0.0.1:1"}, {NodeId: "n2", ApiAddress: follower},
			{NodeId: "n3", ApiAddress: deadAddr}, {NodeId: "n4"}}}
	v := Ask(context.Background(), asked, []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, 2*time.Second)
	if v.Court != "c" || v.Leader != "n1" || v.Asked != "n1" || len(v.Nodes) != 4 {
		t.Fatalf("%+v", v)
	}
	n1, n2, n3, n4 := v.Nodes[0], v.Nodes[1], v.Nodes[2], v.Nodes[3]
	if n1.Role != "Leader" || !n1.Ready || n1.Error != "" || n1.Endpoint != "127.0.0.1:1" {
		t.Errorf("the asked node, from its own answer: %+v", n1)
	}
	if n2.Role != "Follower" || n2.Ready || n2.Reason != "ledger behind" || n2.AppliedIndex != 40 || n2.DiskFreeBytes != 5<<30 {
		t.Errorf("the follower, as it sees itself: %+v", n2)
	}
	if !strings.HasPrefix(n3.Error, "unreachable") || n3.Ready {
		t.Errorf("the stopped node: %+v", n3)
	}
	if n4.Error != "no API address known for this node" {
		t.Errorf("the node without an address: %+v", n4)
	}

	var out strings.Builder
	if err := Print(&out, v); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := [][]string{
		{"court c, leader n1 (members as node n1 lists them)"},
		{"NODE", "ENDPOINT", "ROLE", "TERM", "APPLIED", "COMMIT", "SIZE", "LEDGER", "HEAD AGE", "DISK FREE", "READY"},
		{"n1", "Leader", "41", "100 B", " - ", "?", "yes"},
		{"n2", "Follower", "40", "41", "3.0 MiB", "2s", "5.0 GiB", "NO: ledger behind"},
		{"n3", deadAddr, "unreachable"},
		{"n4", "no API address known"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, w := range want {
		for _, s := range w {
			if !strings.Contains(lines[i], s) {
				t.Errorf("line %d %q lacks %q", i, lines[i], s)
			}
		}
	}
}

func TestSizeOf(t *testing.T) {
	for _, tc := range []struct {
		in   uint64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {5 << 30, "5.0 GiB"}, {1 << 62, "4.0 EiB"},
	} {
		if got := sizeOf(tc.in); got != tc.want {
			t.Errorf("sizeOf(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
