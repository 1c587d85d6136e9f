package court

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/devca"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

const testCourt = "hangzhou.court.example/evidence"

// handedOut holds every address freeAddr returned in this test binary:
// the kernel may give a port that was just closed again at the next
// listen, and two nodes of one court on one address make Raft refuse the
// configuration ("found duplicate address").
var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

func freeAddr(t testing.TB) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if !handedOut.addrs[addr] {
			handedOut.addrs[addr] = true
			return addr
		}
	}
	t.Fatal("no free loopback port not handed out before")
	return ""
}

type testCourtNodes struct {
	nodes    []*Node
	key      *sm2.PrivateKey
	platform *sm2.PrivateKey
	ca       *devca.CA // issued the nodes' TLS certificates (testsecurity_test.go)
}

func startCourt(t *testing.T, n int) *testCourtNodes {
	t.Helper()
	return startCourtWith(t, n, nil)
}

// startCourtWith lets a test change each node's Config before it starts.
func startCourtWith(t testing.TB, n int, edit func(*Config)) *testCourtNodes {
	t.Helper()
	key, _ := sm2.GenerateKey()
	platform, _ := sm2.GenerateKey()
	var peers []Peer
	for i := 0; i < n; i++ {
		peers = append(peers, Peer{NodeID: fmt.Sprintf("hz-%d", i), RaftAddr: freeAddr(t), GRPCAddr: freeAddr(t)})
	}
	c := &testCourtNodes{key: key, platform: platform, ca: testCA(t)}
	for _, p := range peers {
		cfg := Config{
			Court: testCourt, NodeID: p.NodeID, DataDir: filepath.Join(t.TempDir(), p.NodeID),
			RaftAddr: p.RaftAddr, GRPCAddr: p.GRPCAddr, HTTPAddr: "127.0.0.1:0", CourtKey: key,
			Peers: peers, Bootstrap: true, Fast: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Security: testSecurity(t, c.ca, testCourt, p.NodeID),
		}
		if edit != nil {
			edit(&cfg)
		}
		node, err := Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, node)
	}
	t.Cleanup(func() {
		for _, node := range c.nodes {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			node.Shutdown(ctx)
			cancel()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for c.leader() == nil {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitAllReady(t, c.nodes)
	return c
}

// waitAllReady waits until every running node is ready (a leader known and
// its ledger current): until then a node answers no ledger reads.
func waitAllReady(t testing.TB, nodes []*Node) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range nodes {
		if n == nil {
			continue
		}
		for {
			ok, why := n.ready()
			if ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %s not ready: %s", n.cfg.NodeID, why)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func (c *testCourtNodes) leader() *Node {
	for _, n := range c.nodes {
		if n.ledger.IsLeader() {
			return n
		}
	}
	return nil
}

func (c *testCourtNodes) follower() *Node {
	for _, n := range c.nodes {
		if !n.ledger.IsLeader() {
			return n
		}
	}
	return nil
}

// dial returns the evidence service as the platform esign.example and the
// admin service as an admin, over TLS.
func (c *testCourtNodes) dial(t testing.TB, addr string) (pb.EvidenceServiceClient, pb.AdminServiceClient) {
	t.Helper()
	return pb.NewEvidenceServiceClient(dialToken(t, c.ca, addr, tokenFor(access.RolePlatform))),
		pb.NewAdminServiceClient(dialToken(t, c.ca, addr, tokenFor(access.RoleAdmin)))
}

func (c *testCourtNodes) signed(t testing.TB, requestID string, file []byte) *pb.SignedSubmission {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	s := evidence.Submission{Court: testCourt, Platform: "esign.example", RequestID: requestID, Fingerprint: sm3.Sum(file),
		Category: evidence.CategoryContract, Title: "合同", SignedAt: now}
	sig, err := s.Sign(c.platform)
	if err != nil {
		t.Fatal(err)
	}
	return &pb.SignedSubmission{Submission: client.ToPB(&s), Signature: sig}
}

func verifyReceipt(t *testing.T, key *sm2.PrivateKey, r *pb.Receipt) {
	t.Helper()
	e, err := evidence.UnmarshalEntry(r.Entry.Canonical)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := checkpoint.NewVerifier(testCourt, key.Public())
	rc := evidence.Receipt{Entry: *e, Proof: r.InclusionProof, SignedHead: []byte(r.TreeHead.Note)}
	if _, err := rc.Verify(v); err != nil {
		t.Fatalf("receipt does not verify: %v", err)
	}
}

func TestCourtOverGRPCAndREST(t *testing.T) {
	c := startCourt(t, 3)
	ctx := context.Background()
	fEv, fAdmin := c.dial(t, c.follower().GRPCAddr())

	// Writes sent to a follower reach the leader.
	pemKey := string(c.platform.Public().MarshalPEM())
	if _, err := fAdmin.RegisterPlatform(ctx, &pb.RegisterPlatformRequest{PlatformId: "esign.example", PublicKeyPem: pemKey}); err != nil {
		t.Fatalf("register via follower: %v", err)
	}
	resp, err := fEv.Submit(ctx, &pb.SubmitRequest{Submission: c.signed(t, "g-1", []byte("grpc file"))})
	if err != nil {
		t.Fatalf("submit via follower: %v", err)
	}
	verifyReceipt(t, c.key, resp.Receipt)

	// REST, on another node.
	base := "https://" + c.nodes[2].HTTPAddr()
	body, _ := protojson.Marshal(c.signed(t, "r-1", []byte("rest file")))
	hr, err := newREST(c.ca, tokenFor(access.RolePlatform)).Post(base+"/v1/evidence", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	if hr.StatusCode != 200 {
		t.Fatalf("REST submit: %d %s", hr.StatusCode, raw)
	}
	var rec pb.Receipt
	if err := protojson.Unmarshal(raw, &rec); err != nil {
		t.Fatalf("REST receipt: %v: %s", err, raw)
	}
	verifyReceipt(t, c.key, &rec)

	// A judge verifies the file over REST on any node.
	fp := sm3.Sum([]byte("rest file"))
	waitREST(t, newREST(c.ca, tokenFor(access.RoleJudge)), fmt.Sprintf("%s/v1/verify/%x", "https://"+c.nodes[0].HTTPAddr(), fp), func(b []byte) bool {
		return bytes.Contains(b, []byte(`"recorded":true`))
	})
	for _, path := range []string{"/healthz", "/readyz", "/openapi.json", "/v1/tree-head", "/v1/admin/cluster"} {
		hr, err := newREST(c.ca, tokenFor(access.RoleAdmin)).Get(base + path)
		if err != nil || hr.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", path, err, hr.Status)
		}
		hr.Body.Close()
	}
}

func waitREST(t *testing.T, rc *restClient, url string, ok func([]byte) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last []byte
	for time.Now().Before(deadline) {
		if hr, err := rc.Get(url); err == nil {
			last, _ = io.ReadAll(hr.Body)
			hr.Body.Close()
			if hr.StatusCode == 200 && ok(last) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("GET %s never satisfied; last: %s", url, last)
}

// Bad requests get the documented status and reason, and change nothing.
func TestBadRequests(t *testing.T) {
	c := startCourt(t, 1)
	ctx := context.Background()
	ev, admin := c.dial(t, c.nodes[0].GRPCAddr())
	if _, err := admin.RegisterPlatform(ctx, &pb.RegisterPlatformRequest{PlatformId: "esign.example",
		PublicKeyPem: string(c.platform.Public().MarshalPEM())}); err != nil {
		t.Fatal(err)
	}
	base := "https://" + c.nodes[0].HTTPAddr()
	good, _ := protojson.Marshal(c.signed(t, "ok-1", []byte("x")))
	mutate := func(f func(m map[string]any)) string {
		var m map[string]any
		json.Unmarshal(good, &m)
		f(m["submission"].(map[string]any))
		b, _ := json.Marshal(m)
		return string(b)
	}
	rest := []struct {
		name   string
		path   string
		body   string
		status int
		reason string
	}{
		{"malformed JSON", "/v1/evidence", `{"submission":`, 400, ""},
		{"wrong type", "/v1/evidence", mutate(func(m map[string]any) { m["title"] = 5 }), 400, ""},
		{"unknown field", "/v1/evidence", mutate(func(m map[string]any) { m["colour"] = "red" }), 400, ""},
		{"bad hex", "/v1/evidence", mutate(func(m map[string]any) { m["fingerprint"] = strings.Repeat("zz", 32) }), 400, "FINGERPRINT_HEX"},
		{"short fingerprint", "/v1/evidence", mutate(func(m map[string]any) { m["fingerprint"] = "abcd" }), 400, "FINGERPRINT_LENGTH"},
		{"unknown category", "/v1/evidence", mutate(func(m map[string]any) { m["category"] = "gossip" }), 400, "UNKNOWN_CATEGORY"},
		{"another platform's name", "/v1/evidence", mutate(func(m map[string]any) { m["platform"] = "other.example" }), 403, "NOT_OWN_PLATFORM"},
		{"bad signature", "/v1/evidence", mutate(func(m map[string]any) { m["title"] = "altered" }), 400, "SIGNATURE_INVALID"},
		{"oversized body", "/v1/evidence", `{"submission":{"title":"` + strings.Repeat("x", 9<<20) + `"}}`, 400, ""},
		{"unknown evidence", "/v1/evidence/" + strings.Repeat("0", 32), "", 404, "NOT_FOUND"},
		{"bad evidence ID", "/v1/evidence/xyz", "", 400, "INVALID_EVIDENCE_ID"},
		{"bad fingerprint lookup", "/v1/fingerprints/123", "", 400, "FINGERPRINT_LENGTH"},
		{"unknown court", "/v1/tree-head?court=nowhere.court.example", "", 404, "UNKNOWN_COURT"},
		{"unknown court's proof", "/v1/proofs/inclusion?court=nowhere.court.example&index=0", "", 404, "UNKNOWN_COURT"},
	}
	for _, tc := range rest {
		t.Run("REST "+tc.name, func(t *testing.T) {
			var hr *http.Response
			var err error
			if tc.body == "" {
				hr, err = newREST(c.ca, tokenFor(access.RoleJudge)).Get(base + tc.path)
			} else {
				hr, err = newREST(c.ca, tokenFor(access.RolePlatform)).Post(base+tc.path, "application/json", strings.NewReader(tc.body))
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(hr.Body)
			hr.Body.Close()
			if hr.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", hr.StatusCode, tc.status, b)
			}
			if tc.reason != "" && !bytes.Contains(b, []byte(`"reason":"`+tc.reason+`"`)) {
				t.Fatalf("body lacks reason %s: %s", tc.reason, b)
			}
		})
	}

	grpcCases := []struct {
		name   string
		req    *pb.SubmitRequest
		code   codes.Code
		reason string
	}{
		{"missing submission", &pb.SubmitRequest{}, codes.InvalidArgument, "MISSING_FIELD"},
		{"wrong fingerprint length", &pb.SubmitRequest{Submission: &pb.SignedSubmission{Submission: &pb.Submission{Fingerprint: "ab"}}}, codes.InvalidArgument, "FINGERPRINT_LENGTH"},
		{"missing time", func() *pb.SubmitRequest {
			s := c.signed(t, "nt-1", []byte("y"))
			s.Submission.SignedAt = nil
			return &pb.SubmitRequest{Submission: s}
		}(), codes.InvalidArgument, "MISSING_FIELD"},
		{"future time", func() *pb.SubmitRequest {
			s := c.signed(t, "ft-1", []byte("y"))
			s.Submission.SignedAt = timestamppb.New(time.Now().Add(time.Hour))
			return &pb.SubmitRequest{Submission: s}
		}(), codes.InvalidArgument, "TIMESTAMP_IN_FUTURE"},
	}
	t.Run("gRPC unknown court", func(t *testing.T) {
		_, err := ev.GetConsistencyProof(ctx, &pb.GetConsistencyProofRequest{Court: "nowhere.court.example", First: 1})
		if st := status.Convert(err); st.Code() != codes.NotFound || !strings.Contains(st.Message(), "nowhere.court.example") {
			t.Fatalf("got %v, want NotFound naming the court", err)
		}
	})
	for _, tc := range grpcCases {
		t.Run("gRPC "+tc.name, func(t *testing.T) {
			_, err := ev.Submit(ctx, tc.req)
			st := status.Convert(err)
			if st.Code() != tc.code {
				t.Fatalf("code %v, want %v (%v)", st.Code(), tc.code, err)
			}
			var reason string
			for _, d := range st.Details() {
				if info, ok := d.(*errdetails.ErrorInfo); ok {
					reason = info.Reason
				}
			}
			if reason != tc.reason {
				t.Fatalf("reason %q, want %q", reason, tc.reason)
			}
		})
	}
	// Nothing above changed the ledger.
	if size := c.nodes[0].ledger.Size(); size != 0 {
		t.Fatalf("ledger has %d entries after bad requests", size)
	}
	hr, err := newREST(c.ca, tokenFor(access.RoleJudge)).Get(base + "/v1/tree-head")
	if err != nil || hr.StatusCode != 404 {
		t.Fatalf("empty ledger's head: %v %v", err, hr.Status)
	}
}
