package court

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/devca"
)

func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.Reason
		}
	}
	return ""
}

// registered starts a one-node court with esign.example registered.
func registered(t *testing.T, edit func(*Config)) *testCourtNodes {
	t.Helper()
	return registerPlatform(t, startCourtWith(t, 1, edit))
}

func registeredF(f *testing.F) *testCourtNodes {
	f.Helper()
	// Fuzzing calls far faster than any caller may.
	return registerPlatform(f, startCourtWith(f, 1, func(cfg *Config) { cfg.Security.Rate = access.RateConfig{PerSecond: 1e6, Burst: 1e6} }))
}

func registerPlatform(t testing.TB, c *testCourtNodes) *testCourtNodes {
	t.Helper()
	_, admin := c.dial(t, c.nodes[0].GRPCAddr())
	if _, err := admin.RegisterPlatform(context.Background(), &pb.RegisterPlatformRequest{PlatformId: "esign.example",
		PublicKeyPem: string(c.platform.Public().MarshalPEM())}); err != nil {
		t.Fatal(err)
	}
	return c
}

// Each kind of bad credential is refused with its code and reason, and the
// submission it carried changes nothing.
func TestBadCredentials(t *testing.T) {
	c := registered(t, nil)
	addr := c.nodes[0].GRPCAddr()
	other := testCA(t)
	wrongCA, _ := other.Issue(access.Identity{Role: access.RolePlatform, ID: "esign.example"}, devca.IssueOptions{})
	expired, _ := c.ca.Issue(access.Identity{Role: access.RolePlatform, ID: "esign.example"}, devca.IssueOptions{
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	otherCourt, _ := c.ca.Issue(access.NodeIdentity("shanghai.court.example/evidence", "sh-1"), devca.IssueOptions{})
	strangerNode, _ := c.ca.Issue(access.NodeIdentity(testCourt, "hz-99"), devca.IssueOptions{})
	goodCert, _ := c.ca.Issue(access.Identity{Role: access.RolePlatform, ID: "esign.example"}, devca.IssueOptions{})

	cases := []struct {
		name   string
		conn   *grpc.ClientConn
		code   codes.Code
		reason string
	}{
		{"no credentials", dialToken(t, c.ca, addr, ""), codes.Unauthenticated, "NO_CREDENTIALS"},
		{"unknown token", dialToken(t, c.ca, addr, "tok-guessed"), codes.Unauthenticated, "UNKNOWN_TOKEN"},
		{"certificate of another CA", dialCert(t, c.ca, addr, wrongCA), codes.Unauthenticated, "CERT_UNTRUSTED"},
		{"expired certificate", dialCert(t, c.ca, addr, expired), codes.Unauthenticated, "CERT_EXPIRED"},
		{"node of an unconfigured court", dialCert(t, c.ca, addr, otherCourt), codes.Unauthenticated, "UNKNOWN_COURT"},
		{"node not in the court", dialCert(t, c.ca, addr, strangerNode), codes.Unauthenticated, "UNKNOWN_NODE"},
		{"judge's token", dialToken(t, c.ca, addr, tokenFor(access.RoleJudge)), codes.PermissionDenied, "ROLE_NOT_ALLOWED"},
		{"peer court's token", dialToken(t, c.ca, addr, tokenFor(access.RolePeer)), codes.PermissionDenied, "ROLE_NOT_ALLOWED"},
		{"another platform's token", dialToken(t, c.ca, addr, "tok-other-platform"), codes.PermissionDenied, "NOT_OWN_PLATFORM"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := pb.NewEvidenceServiceClient(tc.conn).Submit(context.Background(),
				&pb.SubmitRequest{Submission: c.signed(t, fmt.Sprintf("bad-%d", i), []byte(tc.name))})
			if status.Code(err) != tc.code || reasonOf(err) != tc.reason {
				t.Fatalf("%v (%s), want %v (%s)", status.Code(err), reasonOf(err), tc.code, tc.reason)
			}
		})
	}
	t.Run("certificate and token naming different callers", func(t *testing.T) {
		cc := dialCert(t, c.ca, addr, goodCert)
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tokenFor(access.RoleJudge))
		_, err := pb.NewEvidenceServiceClient(cc).GetLatestTreeHead(ctx, &pb.GetLatestTreeHeadRequest{})
		if reasonOf(err) != "AMBIGUOUS_CREDENTIALS" {
			t.Fatalf("%v", err)
		}
	})
	t.Run("client forging the forwarding metadata", func(t *testing.T) {
		ev, _ := c.dial(t, addr)
		ctx := metadata.AppendToOutgoingContext(context.Background(), access.MDOnBehalfOf, "judge judge-wang token")
		_, err := ev.VerifyFingerprint(ctx, &pb.VerifyFingerprintRequest{Fingerprint: strings.Repeat("ab", 32)})
		if status.Code(err) != codes.PermissionDenied || reasonOf(err) != "NOT_A_NODE" {
			t.Fatalf("%v", err)
		}
	})
	t.Run("revoked platform key", func(t *testing.T) {
		ev, admin := c.dial(t, addr)
		if _, err := admin.RevokePlatform(context.Background(), &pb.RevokePlatformRequest{PlatformId: "esign.example"}); err != nil {
			t.Fatal(err)
		}
		_, err := ev.Submit(context.Background(), &pb.SubmitRequest{Submission: c.signed(t, "after-revoke", []byte("x"))})
		if status.Code(err) != codes.PermissionDenied || reasonOf(err) != "PLATFORM_NOT_REGISTERED" {
			t.Fatalf("%v", err)
		}
	})
	t.Run("the platform's own certificate works", func(t *testing.T) {
		_, err := pb.NewAdminServiceClient(dialCert(t, c.ca, addr, goodCert)).GetClusterStatus(context.Background(), &pb.GetClusterStatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
	})
	if size := c.nodes[0].ledger.Size(); size != 0 {
		t.Fatalf("ledger has %d entries after refused calls", size)
	}
}

// A client that does not trust the court's CA does not talk to it, and a
// plain-text client gets nowhere.
func TestServerIdentity(t *testing.T) {
	c := startCourt(t, 1)
	cc, err := grpc.NewClient(c.nodes[0].GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: caPool(testCA(t))})))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	_, err = pb.NewEvidenceServiceClient(cc).GetLatestTreeHead(context.Background(), &pb.GetLatestTreeHeadRequest{})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("client of another CA: %v", err)
	}
	if _, err := http.Get("http://" + c.nodes[0].HTTPAddr() + "/v1/tree-head"); err == nil {
		// Go's client gets a 400 from a TLS server; either way no data.
		t.Log("plain HTTP answered (with an error page)")
	}
}

// A platform sees its own evidence only; a judge sees all.
func TestPlatformSeesOwnEvidence(t *testing.T) {
	c := registered(t, nil)
	addr := c.nodes[0].GRPCAddr()
	ev, _ := c.dial(t, addr)
	resp, err := ev.Submit(context.Background(), &pb.SubmitRequest{Submission: c.signed(t, "own-1", []byte("own file"))})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.Receipt.Entry.EvidenceId
	fp := resp.Receipt.Entry.Submission.Fingerprint
	other := pb.NewEvidenceServiceClient(dialToken(t, c.ca, addr, "tok-other-platform"))
	if _, err := other.GetEvidence(context.Background(), &pb.GetEvidenceRequest{EvidenceId: id}); status.Code(err) != codes.NotFound {
		t.Fatalf("another platform reads the evidence: %v", err)
	}
	if l, err := other.LookupFingerprint(context.Background(), &pb.LookupFingerprintRequest{Fingerprint: fp}); err != nil || len(l.Entries) != 0 {
		t.Fatalf("another platform's lookup: %v %v", err, l)
	}
	if _, err := ev.GetEvidence(context.Background(), &pb.GetEvidenceRequest{EvidenceId: id}); err != nil {
		t.Fatalf("own evidence: %v", err)
	}
	judge := pb.NewEvidenceServiceClient(dialToken(t, c.ca, addr, tokenFor(access.RoleJudge)))
	if l, err := judge.LookupFingerprint(context.Background(), &pb.LookupFingerprintRequest{Fingerprint: fp}); err != nil || len(l.Entries) != 1 {
		t.Fatalf("judge's lookup: %v %v", err, l)
	}
}

// A replayed submission gets the original receipt, never a second entry;
// the same request ID with other content is refused, and so is a
// submission signed outside the time window.
func TestReplay(t *testing.T) {
	c := registered(t, nil)
	ev, _ := c.dial(t, c.nodes[0].GRPCAddr())
	ctx := context.Background()
	s := c.signed(t, "replay-1", []byte("file"))
	first, err := ev.Submit(ctx, &pb.SubmitRequest{Submission: s})
	if err != nil {
		t.Fatal(err)
	}
	again, err := ev.Submit(ctx, &pb.SubmitRequest{Submission: s})
	if err != nil || !again.Receipt.Duplicate || again.Receipt.Entry.Index != first.Receipt.Entry.Index {
		t.Fatalf("replay: %v %v", err, again)
	}
	_, err = ev.Submit(ctx, &pb.SubmitRequest{Submission: c.signed(t, "replay-1", []byte("other file"))})
	if status.Code(err) != codes.AlreadyExists {
		t.Fatalf("same request ID, other file: %v", err)
	}
	old := c.signed(t, "old-1", []byte("old"))
	old.Submission.SignedAt.Seconds -= 7 * 24 * 3600
	if _, err := ev.Submit(ctx, &pb.SubmitRequest{Submission: old}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("stale submission: %v", err)
	}
	if size := c.nodes[0].ledger.Size(); size != 1 {
		t.Fatalf("ledger has %d entries, want 1", size)
	}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

// The rate limit is reached, answered with ResourceExhausted and a retry
// delay (429 and Retry-After on REST), and released as time passes. Other
// callers are not affected.
func TestRateLimit(t *testing.T) {
	clock := &fakeClock{now: time.Now()}
	c := startCourtWith(t, 1, func(cfg *Config) {
		cfg.Security.Rate = access.RateConfig{PerSecond: 0.5, Burst: 2}
		cfg.Security.Clock = clock.Now
	})
	addr := c.nodes[0].GRPCAddr()
	judge := pb.NewEvidenceServiceClient(dialToken(t, c.ca, addr, tokenFor(access.RoleJudge)))
	ctx := context.Background()
	call := func() error {
		_, err := judge.GetInclusionProof(ctx, &pb.GetInclusionProofRequest{Index: 0, TreeSize: 1})
		return err
	}
	for i := 0; i < 2; i++ {
		if err := call(); status.Code(err) == codes.ResourceExhausted {
			t.Fatalf("call %d within the burst: %v", i, err)
		}
	}
	err := call()
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("over the limit: %v", err)
	}
	var delay time.Duration
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			delay = ri.RetryDelay.AsDuration()
		}
	}
	if delay <= 0 || delay > 2*time.Second {
		t.Fatalf("retry delay %v, want (0, 2s]", delay)
	}
	// REST, same caller: 429 with Retry-After.
	hr, err := newREST(c.ca, tokenFor(access.RoleJudge)).Get("https://" + c.nodes[0].HTTPAddr() + "/v1/proofs/inclusion?index=0&tree_size=1")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, hr.Body)
	hr.Body.Close()
	if hr.StatusCode != http.StatusTooManyRequests || hr.Header.Get("Retry-After") != "2" {
		t.Fatalf("REST over the limit: %d Retry-After %q", hr.StatusCode, hr.Header.Get("Retry-After"))
	}
	// Another caller is unaffected.
	if _, err := pb.NewEvidenceServiceClient(dialToken(t, c.ca, addr, tokenFor(access.RoleLawyer))).GetInclusionProof(ctx,
		&pb.GetInclusionProofRequest{Index: 0, TreeSize: 1}); status.Code(err) == codes.ResourceExhausted {
		t.Fatalf("lawyer limited by the judge's calls: %v", err)
	}
	clock.advance(delay)
	if err := call(); status.Code(err) == codes.ResourceExhausted {
		t.Fatalf("after the delay: %v", err)
	}
}

// Oversized messages and metadata are refused before they cost anything.
func TestOversized(t *testing.T) {
	c := startCourtWith(t, 1, func(cfg *Config) { cfg.MaxRequestBytes = 64 << 10 })
	ev, _ := c.dial(t, c.nodes[0].GRPCAddr())
	big := c.signed(t, "big-1", []byte("x"))
	big.Submission.Title = strings.Repeat("長", 40<<10)
	_, err := ev.Submit(context.Background(), &pb.SubmitRequest{Submission: big})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversized message: %v", err)
	}
	ctx := metadata.AppendToOutgoingContext(context.Background(), "x-padding", strings.Repeat("p", 32<<10))
	if _, err := ev.GetLatestTreeHead(ctx, &pb.GetLatestTreeHeadRequest{}); err == nil || status.Code(err) == codes.NotFound {
		t.Fatalf("oversized metadata accepted: %v", err)
	}
	body, _ := protojson.Marshal(big)
	hr, err := newREST(c.ca, tokenFor(access.RolePlatform)).Post("https://"+c.nodes[0].HTTPAddr()+"/v1/evidence", "", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	hr.Body.Close()
	if hr.StatusCode != http.StatusBadRequest {
		t.Fatalf("oversized REST body: %d", hr.StatusCode)
	}
	if size := c.nodes[0].ledger.Size(); size != 0 {
		t.Fatalf("ledger has %d entries", size)
	}
}

// Reads on any node are recorded, once, in the replicated audit log, which
// the admin can query and nobody else can.
func TestAuditTrail(t *testing.T) {
	c := startCourtWith(t, 3, func(cfg *Config) { cfg.Security.Audit.FlushEvery = 20 * time.Millisecond })
	f := c.follower()
	judge := pb.NewEvidenceServiceClient(dialToken(t, c.ca, f.GRPCAddr(), tokenFor(access.RoleJudge)))
	fp := strings.Repeat("cd", 32)
	if _, err := judge.VerifyFingerprint(context.Background(), &pb.VerifyFingerprintRequest{Fingerprint: fp}); err != nil {
		t.Fatal(err)
	}
	audit := pb.NewAuditServiceClient(dialToken(t, c.ca, c.leader().GRPCAddr(), tokenFor(access.RoleAdmin)))
	var got []*pb.AuditRecord
	deadline := time.Now().Add(20 * time.Second)
	for len(got) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the judge's verification never reached the audit log")
		}
		r, err := audit.QueryAudit(context.Background(), &pb.QueryAuditRequest{Caller: "judge-wang", Target: fp})
		if err != nil {
			t.Fatal(err)
		}
		got = r.Records
		time.Sleep(20 * time.Millisecond)
	}
	r := got[0]
	if len(got) != 1 || r.Role != "judge" || r.Method != "/courtledger.v1.EvidenceService/VerifyFingerprint" ||
		r.NodeId != f.cfg.NodeID || r.Code != "OK" || r.Via != "token" || !strings.HasPrefix(r.RemoteAddr, "127.0.0.1") {
		t.Fatalf("audit records: %v", got)
	}
	_, err := pb.NewAuditServiceClient(dialToken(t, c.ca, f.GRPCAddr(), tokenFor(access.RoleJudge))).QueryAudit(context.Background(), &pb.QueryAuditRequest{})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("judge queries the audit log: %v", err)
	}
	_, err = pb.NewAuditServiceClient(dialToken(t, c.ca, f.GRPCAddr(), tokenFor(access.RoleAdmin))).AppendAudit(context.Background(),
		&pb.AppendAuditRequest{Records: []*pb.AuditRecord{{Caller: "forged"}}})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("admin appends to the audit log: %v", err)
	}
}
