package court

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"

	"github.com/courtledger/courtledger/consensus"
)

// Readiness: a node is ready only while a leader is known and its ledger
// is current, writable and intact (DESIGN.md, "Ready means current").
// /readyz, the gRPC health service, the cluster status and the metrics all
// read the one verdict below, and clients skip a node that is not ready.

// readiness remembers what the alarm and the log need between looks.
type readiness struct {
	mu       sync.Mutex
	corrupt  time.Time // when the ledger was first seen corrupt
	notReady string    // the last reason logged, to log changes only
}

// ledgerState is the node's ledger health (consensus.Ledger.Health, which
// already counts the moment between commit and apply as current), noting
// when the ledger was first seen corrupt, for the alarm.
func (n *Node) ledgerState() consensus.Health {
	h := n.ledgerHealth()
	r := &n.readiness
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case h.State != consensus.HealthCorrupt:
		r.corrupt = time.Time{}
	case r.corrupt.IsZero():
		r.corrupt = n.now()
	}
	return h
}

// ledgerHealth asks the ledger; tests may put another source of health in
// n.healthOf.
func (n *Node) ledgerHealth() consensus.Health {
	if f := n.healthOf.Load(); f != nil {
		return (*f)()
	}
	return n.ledger.Health()
}

// corruptSince is when this node first saw its ledger corrupt, zero if it
// is not.
func (n *Node) corruptSince() time.Time {
	n.readiness.mu.Lock()
	defer n.readiness.mu.Unlock()
	return n.readiness.corrupt
}

// ready reports whether the node may serve and, if not, why.
func (n *Node) ready() (bool, string) {
	if id, _ := n.ledger.Leader(); id == "" {
		return false, "no leader known"
	}
	if h := n.ledgerState(); !h.Ready() {
		return false, fmt.Sprintf("ledger %s: %s", h.State, h.Reason)
	}
	return true, ""
}

func (n *Node) readyz(w http.ResponseWriter, _ *http.Request) {
	if ok, why := n.ready(); !ok {
		http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// watchHealth mirrors readiness into the gRPC health service, which
// clients ask before they use a node, and logs each change.
func (n *Node) watchHealth() {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		ok, why := n.ready()
		st := healthpb.HealthCheckResponse_NOT_SERVING
		if ok {
			st = healthpb.HealthCheckResponse_SERVING
		}
		n.health.SetServingStatus("", st)
		n.logReadiness(ok, why)
		select {
		case <-n.done:
			return
		case <-t.C:
		}
	}
}

func (n *Node) logReadiness(ok bool, why string) {
	r := &n.readiness
	r.mu.Lock()
	changed := why != r.notReady
	r.notReady = why
	r.mu.Unlock()
	switch {
	case !changed:
	case ok:
		n.log.Info("node ready")
	case strings.HasPrefix(why, "ledger"):
		n.log.Warn("node not ready", "reason", why)
	default:
		n.log.Info("node not ready", "reason", why)
	}
}

// peerHealthTimeout bounds the health check of each other node in the
// cluster status: a paused node must not hold the answer up.
const peerHealthTimeout = time.Second

// clusterHealth fills in each node's readiness in a cluster status: this
// node's from its own verdict, the others' from their gRPC health
// services, asked in parallel.
func (n *Node) clusterHealth(ctx context.Context, out *pb.GetClusterStatusResponse) {
	ctx, cancel := context.WithTimeout(ctx, peerHealthTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, nd := range out.Nodes {
		if nd.NodeId == n.cfg.NodeID {
			nd.Ready, nd.Health, nd.Reason = out.Ready, out.Health, out.Reason
			continue
		}
		if nd.ApiAddress == "" {
			nd.Health, nd.Reason = "unknown", "no API address known for the node"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			nd.Ready, nd.Health, nd.Reason = n.peerHealth(ctx, nd.NodeId, nd.ApiAddress)
		}()
	}
	wg.Wait()
}

// peerHealth asks another node's gRPC health service whether it serves.
func (n *Node) peerHealth(ctx context.Context, id, addr string) (ready bool, state, reason string) {
	c, err := n.peerConn(id, addr)
	if err != nil {
		return false, "unreachable", err.Error()
	}
	resp, err := healthpb.NewHealthClient(c.cc).Check(n.nodeContext(ctx), &healthpb.HealthCheckRequest{})
	switch {
	case err != nil:
		return false, "unreachable", status.Convert(err).Message()
	case resp.Status == healthpb.HealthCheckResponse_SERVING:
		return true, "serving", ""
	default:
		return false, "not_serving", "its health service says " + resp.Status.String() + "; ask the node itself for why"
	}
}

// ledgerReads are the calls answered from this node's ledger. A node whose
// ledger is not current and intact refuses them rather than answer from
// what it holds: a ledger being rebuilt would say NOT RECORDED of recorded
// evidence, and one behind would serve an old head as the newest. Calls
// that report on the node itself (cluster status, alarms) stay open, so an
// operator can see why.
var ledgerReads = map[string]bool{
	"/courtledger.v1.EvidenceService/GetEvidence":         true,
	"/courtledger.v1.EvidenceService/LookupFingerprint":   true,
	"/courtledger.v1.EvidenceService/GetInclusionProof":   true,
	"/courtledger.v1.EvidenceService/GetConsistencyProof": true,
	"/courtledger.v1.EvidenceService/GetLatestTreeHead":   true,
	"/courtledger.v1.EvidenceService/VerifyFingerprint":   true,
	"/courtledger.v1.CertificateService/GetCertificate":   true,
	"/courtledger.v1.CertificateService/VerifyEvidence":   true,
	"/courtledger.v1.SyncService/GetCheckpoint":           true,
	"/courtledger.v1.SyncService/GetConsistency":          true,
	"/courtledger.v1.SyncService/StreamEntries":           true,
}

// readGate refuses a ledger read while the ledger is not ready; the
// client's next node answers instead.
func (n *Node) readGate(method string) error {
	if !ledgerReads[method] {
		return nil
	}
	h := n.ledgerState()
	if h.Ready() {
		return nil
	}
	if h.State == consensus.HealthCorrupt {
		return consensus.ErrCorrupt // mapped to LEDGER_CORRUPT without the node's paths
	}
	return &Problem{Code: codes.Unavailable, Reason: "NODE_NOT_READY",
		Message: fmt.Sprintf("this node's ledger is %s, so it does not answer from it; another node of the court can serve the request", h.State)}
}

func (n *Node) gateUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := n.readGate(info.FullMethod); err != nil {
		return nil, toStatus(err)
	}
	resp, err := handler(ctx, req)
	if ledgerReads[info.FullMethod] && denies(resp, err) {
		// A follower learns of a commit from the leader's next
		// AppendEntries: before it says something is not there, it
		// catches up with what the court had committed when the call
		// came, and asks its ledger again. Without this, a client that
		// filed at the leader and then asked a follower was told NOT
		// RECORDED (the docs test caught it).
		n.ledger.CatchUp(ctx)
		resp, err = handler(ctx, req)
	}
	return resp, err
}

// denies reports whether a read's answer says something is not recorded:
// the answers a lagging follower could give wrongly.
func denies(resp any, err error) bool {
	if err != nil {
		return status.Code(err) == codes.NotFound
	}
	switch r := resp.(type) {
	case *pb.VerifyFingerprintResponse:
		return !r.GetRecorded()
	case *pb.LookupFingerprintResponse:
		return len(r.GetEntries()) == 0
	case *pb.VerifyEvidenceResponse:
		return r.GetVerdict() == pb.Verdict_VERDICT_NOT_RECORDED
	}
	return false
}

func (n *Node) gateStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := n.readGate(info.FullMethod); err != nil {
		return toStatus(err)
	}
	return handler(srv, ss)
}
