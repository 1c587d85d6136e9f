package client

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
)

// Only calls that may be sent twice are retried on another node: reads and
// submissions (which carry a request ID). Membership, platform and alarm
// changes are sent once.
func TestIdempotentMethods(t *testing.T) {
	for method, want := range map[string]bool{
		pb.EvidenceService_Submit_FullMethodName:            true,
		pb.EvidenceService_SubmitBatch_FullMethodName:       true,
		pb.EvidenceService_GetEvidence_FullMethodName:       true,
		pb.EvidenceService_VerifyFingerprint_FullMethodName: true,
		pb.AdminService_GetClusterStatus_FullMethodName:     true,
		pb.AdminService_ListAlarms_FullMethodName:           true,
		pb.AdminService_AddNode_FullMethodName:              false,
		pb.AdminService_RemoveNode_FullMethodName:           false,
		pb.AdminService_RegisterPlatform_FullMethodName:     false,
		pb.AdminService_RevokePlatform_FullMethodName:       false,
		pb.AdminService_ClearAlarm_FullMethodName:           false,
		pb.AuditService_AppendAudit_FullMethodName:          false,
	} {
		if got := idempotent(method); got != want {
			t.Errorf("idempotent(%s) = %v, want %v", method, got, want)
		}
	}
}

// With every node paused, a call fails within its attempts, each bounded
// by AttemptTimeout, and says which nodes did not answer, long before the
// caller's deadline.
func TestAllNodesPaused(t *testing.T) {
	var addrs []string
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0") // never accepted: a paused process
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		addrs = append(addrs, ln.Addr().String())
	}
	c, err := New(Config{Endpoints: addrs, Attempts: 2, AttemptTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err = c.Admin().GetClusterStatus(ctx, &pb.GetClusterStatusRequest{})
	took := time.Since(start)
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "no node is ready") ||
		!strings.Contains(err.Error(), addrs[0]) || !strings.Contains(err.Error(), addrs[1]) {
		t.Fatalf("GetClusterStatus with every node paused: %v", err)
	}
	// Two attempts, each asking both nodes at once for 200 ms, then again
	// the nodes found not ready; the waits between attempts are short.
	if took > 5*time.Second {
		t.Fatalf("GetClusterStatus with every node paused took %v", took)
	}
}
