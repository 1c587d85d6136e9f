package court

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/court/access"
)

// waitFor polls cond until it holds, failing with what it last saw.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last seen: %s", what, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// get fetches a path of a node's HTTP server as an admin.
func get(t *testing.T, c *testCourtNodes, n *Node, path string) (int, string) {
	t.Helper()
	return getAs(t, c, n, path, access.RoleAdmin)
}

func getAs(t *testing.T, c *testCourtNodes, n *Node, path string, role access.Role) (int, string) {
	t.Helper()
	r, err := newREST(c.ca, tokenFor(role)).Get("https://" + n.HTTPAddr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(body)
}

// Ready means current (issue 11, state 4): a node whose ledger is behind,
// broken, corrupt or rebuilding says so on /readyz, in the gRPC health
// service, in the cluster status (its own and as its peers see it) and in
// its metrics; a corrupt ledger is an alarm; clients go elsewhere; and it
// is ready again once its ledger is. The ledger's verdict is set through
// the node's healthOf: the states themselves are the ledger's (consensus).
func TestReadinessFollowsLedgerHealth(t *testing.T) {
	c := registerPlatform(t, startCourt(t, 3))
	ctx := context.Background()
	leader, f := c.leader(), c.follower()
	_, fAdmin := c.dial(t, f.GRPCAddr())
	_, lAdmin := c.dial(t, leader.GRPCAddr())
	fHealth := healthpb.NewHealthClient(dialToken(t, c.ca, f.GRPCAddr(), ""))
	fJudge := pb.NewEvidenceServiceClient(dialToken(t, c.ca, f.GRPCAddr(), tokenFor(access.RoleJudge)))
	fCerts := pb.NewCertificateServiceClient(dialToken(t, c.ca, f.GRPCAddr(), tokenFor(access.RoleJudge)))
	for _, tc := range []struct {
		h    consensus.Health
		want string // in /readyz and the status's reason
	}{
		{consensus.Health{State: consensus.HealthBehind, Applied: 10, Commit: 42, Reason: "applied index 10 is behind commit index 42"},
			"not ready: ledger behind: applied index 10 is behind commit index 42"},
		{consensus.Health{State: consensus.HealthBroken, Applied: 42, Commit: 42, Reason: "write ledger: no space left on device"},
			"not ready: ledger broken: write ledger: no space left on device"},
		{consensus.Health{State: consensus.HealthCorrupt, Applied: 42, Commit: 42, Reason: "entry 17 does not match its leaf hash"},
			"not ready: ledger corrupt: entry 17 does not match its leaf hash"},
		{consensus.Health{State: consensus.HealthRebuilding, Applied: 0, Commit: 42, Reason: "restoring a snapshot from hz-0"},
			"not ready: ledger rebuilding: restoring a snapshot from hz-0"},
	} {
		t.Run(string(tc.h.State), func(t *testing.T) {
			h := tc.h
			verdict := func() consensus.Health { return h }
			f.healthOf.Store(&verdict)
			t.Cleanup(func() { f.healthOf.Store(nil) })

			if code, body := get(t, c, f, "/readyz"); code != 503 || strings.TrimSpace(body) != tc.want {
				t.Errorf("/readyz = %d %q, want 503 %q", code, body, tc.want)
			}
			waitFor(t, "the health service to say NOT_SERVING", func() (bool, string) {
				r, err := fHealth.Check(ctx, &healthpb.HealthCheckRequest{})
				return err == nil && r.Status == healthpb.HealthCheckResponse_NOT_SERVING, r.String() + errString(err)
			})
			st, err := fAdmin.GetClusterStatus(ctx, &pb.GetClusterStatusRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if st.Ready || st.Health != string(h.State) || "not ready: "+st.Reason != tc.want {
				t.Errorf("status of the node: ready %v health %q reason %q", st.Ready, st.Health, st.Reason)
			}
			if self := nodeIn(st, f.cfg.NodeID); self == nil || self.Ready || self.Health != string(h.State) {
				t.Errorf("the node's own row in its status: %v", self)
			}
			waitFor(t, "the leader to see the node not ready", func() (bool, string) {
				st, err := lAdmin.GetClusterStatus(ctx, &pb.GetClusterStatusRequest{})
				if err != nil {
					return false, err.Error()
				}
				row := nodeIn(st, f.cfg.NodeID)
				return row != nil && !row.Ready && row.Health == "not_serving" && st.Ready, st.String()
			})
			_, metrics := get(t, c, f, "/metrics")
			for _, line := range []string{"courtledger_ready{court=\"" + testCourt + "\",node=\"" + f.cfg.NodeID + "\"} 0",
				"courtledger_ledger_health{court=\"" + testCourt + "\",node=\"" + f.cfg.NodeID + "\",state=\"" + string(h.State) + "\"} 1",
				"courtledger_ledger_health{court=\"" + testCourt + "\",node=\"" + f.cfg.NodeID + "\",state=\"ok\"} 0"} {
				if !strings.Contains(metrics, line) {
					t.Errorf("metrics lack %s", line)
				}
			}
			alarms, err := fAdmin.ListAlarms(ctx, &pb.ListAlarmsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			corruptAlarm := len(alarms.Alarms) == 1 && alarms.Alarms[0].Kind == string(AlarmLedgerCorrupt) &&
				strings.Contains(alarms.Alarms[0].Detail, h.Reason) && alarms.Alarms[0].Court == testCourt
			if (h.State == consensus.HealthCorrupt) != corruptAlarm {
				t.Errorf("alarms with the ledger %s: %v", h.State, alarms.Alarms)
			}

			// It does not answer from its ledger: an empty or stale ledger
			// would say NOT RECORDED of recorded evidence.
			wantReason := "NODE_NOT_READY"
			if h.State == consensus.HealthCorrupt {
				wantReason = "LEDGER_CORRUPT"
			}
			_, err = fJudge.VerifyFingerprint(ctx, &pb.VerifyFingerprintRequest{Fingerprint: strings.Repeat("ab", 32)})
			if status.Code(err) != codes.Unavailable || reasonOf(err) != wantReason {
				t.Errorf("VerifyFingerprint on the %s node: %v, want Unavailable %s", h.State, err, wantReason)
			}
			_, err = fJudge.GetLatestTreeHead(ctx, &pb.GetLatestTreeHeadRequest{})
			if status.Code(err) != codes.Unavailable || reasonOf(err) != wantReason {
				t.Errorf("GetLatestTreeHead on the %s node: %v, want Unavailable %s", h.State, err, wantReason)
			}
			_, err = fCerts.VerifyEvidence(ctx, &pb.VerifyEvidenceRequest{Fingerprint: strings.Repeat("ab", 32)})
			if status.Code(err) != codes.Unavailable || reasonOf(err) != wantReason {
				t.Errorf("VerifyEvidence on the %s node: %v, want Unavailable %s", h.State, err, wantReason)
			}
			if code, body := getAs(t, c, f, "/v1/evidence/00000000000000000000000000000000/certificate.pdf", access.RoleJudge); code != 503 || !strings.Contains(body, wantReason) {
				t.Errorf("certificate PDF on the %s node: %d %s, want 503 %s", h.State, code, body, wantReason)
			}

			// A client given the node first goes to another node.
			cl := c.clientAs(t, access.RoleAdmin, f.GRPCAddr(), leader.GRPCAddr())
			if st, err := cl.Admin().GetClusterStatus(ctx, &pb.GetClusterStatusRequest{}); err != nil || st.NodeId == f.cfg.NodeID {
				t.Errorf("a client given the not-ready node first was answered by %q (%v)", st.GetNodeId(), err)
			}
		})
	}
	// Healed, it is ready again and its alarm is gone.
	waitFor(t, "the node ready again", func() (bool, string) {
		code, body := get(t, c, f, "/readyz")
		return code == 200, body
	})
	if alarms, err := fAdmin.ListAlarms(ctx, &pb.ListAlarmsRequest{}); err != nil || len(alarms.Alarms) != 0 {
		t.Errorf("alarms after healing: %v %v", alarms, err)
	}
}

func nodeIn(st *pb.GetClusterStatusResponse, id string) *pb.Node {
	for _, n := range st.Nodes {
		if n.NodeId == id {
			return n
		}
	}
	return nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return " " + err.Error()
}
