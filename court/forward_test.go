package court

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/devca"
	"github.com/courtledger/courtledger/crypto/sm2"
)

// chainMD is a certificate PEM (as DevCA.Issue makes) in the form a
// forwarding node passes it: base64 DER, leaf first.
func chainMD(t *testing.T, certPEM []byte) string {
	t.Helper()
	var parts []string
	for rest := certPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "CERTIFICATE" {
			parts = append(parts, base64.StdEncoding.EncodeToString(b.Bytes))
		}
	}
	if len(parts) == 0 {
		t.Fatal("no certificate in PEM")
	}
	return strings.Join(parts, ",")
}

// waitAudit polls the leader's audit log until ok accepts what a query
// returns, and fails with the last records seen.
func waitAudit(t *testing.T, audit pb.AuditServiceClient, q *pb.QueryAuditRequest, ok func([]*pb.AuditRecord) bool) []*pb.AuditRecord {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last []*pb.AuditRecord
	for {
		r, err := audit.QueryAudit(context.Background(), q)
		if err == nil {
			last = r.Records
			if ok(last) {
				return last
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit query %v never satisfied; last error %v, records:\n%s", q, err, fmtRecords(last))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fmtRecords(rs []*pb.AuditRecord) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "  node=%s role=%s caller=%s via=%s method=%s code=%s target=%s\n", r.NodeId, r.Role, r.Caller, r.Via, r.Method, r.Code, r.Target)
	}
	return b.String()
}

// A node of the court that names a caller it cannot prove is refused: it
// registers no platform and files nothing as anyone, and each attempt is
// in the audit log under the node's own name.
func TestForwardWithoutProofRefused(t *testing.T) {
	c := registered(t, func(cfg *Config) { cfg.Security.Audit.FlushEvery = 20 * time.Millisecond })
	leader := c.leader()
	nodePEM, err := c.ca.Issue(access.NodeIdentity(testCourt, leader.cfg.NodeID), devca.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	otherPlatform, _ := c.ca.Issue(access.Identity{Role: access.RolePlatform, ID: "other.example"}, devca.IssueOptions{})
	cc := dialCert(t, c.ca, leader.GRPCAddr(), nodePEM)
	ev, admin := pb.NewEvidenceServiceClient(cc), pb.NewAdminServiceClient(cc)
	mallory, _ := sm2.GenerateKey()
	register := func(ctx context.Context) error {
		_, err := admin.RegisterPlatform(ctx, &pb.RegisterPlatformRequest{PlatformId: "evil.example",
			PublicKeyPem: string(mallory.Public().MarshalPEM())})
		return err
	}
	submit := func(ctx context.Context) error {
		_, err := ev.Submit(ctx, &pb.SubmitRequest{Submission: c.signed(t, "forged-"+t.Name(), []byte("forged"))})
		return err
	}
	obo := func(who string, kv ...string) context.Context {
		return metadata.AppendToOutgoingContext(context.Background(), append([]string{access.MDOnBehalfOf, who}, kv...)...)
	}
	cases := []struct {
		name   string
		call   func(context.Context) error
		ctx    context.Context
		code   codes.Code
		reason string
	}{
		{"register as admin mallory, no proof", register, obo("admin mallory token"), codes.Unauthenticated, "FORWARD_UNPROVEN"},
		{"submit as the platform, no proof", submit, obo("platform esign.example cert"), codes.Unauthenticated, "FORWARD_UNPROVEN"},
		{"register as admin mallory with the admin's token", register,
			obo("admin mallory token", access.MDForwardToken, "Bearer "+tokenFor(access.RoleAdmin)), codes.PermissionDenied, "FORWARD_IDENTITY_MISMATCH"},
		{"submit as the platform with another platform's certificate", submit,
			obo("platform esign.example cert", access.MDForwardCert, chainMD(t, otherPlatform)), codes.PermissionDenied, "FORWARD_IDENTITY_MISMATCH"},
		{"register with a token the court does not know", register,
			obo("admin mallory token", access.MDForwardToken, "Bearer tok-mallory"), codes.Unauthenticated, "UNKNOWN_TOKEN"},
		{"proof without naming the caller", register,
			metadata.AppendToOutgoingContext(context.Background(), access.MDForwardToken, "Bearer "+tokenFor(access.RoleAdmin)), codes.Unauthenticated, "BAD_METADATA"},
		{"a read, which nodes never forward", func(ctx context.Context) error {
			_, err := ev.VerifyFingerprint(ctx, &pb.VerifyFingerprintRequest{Fingerprint: strings.Repeat("ab", 32)})
			return err
		}, obo("judge judge-wang token", access.MDForwardToken, "Bearer "+tokenFor(access.RoleJudge)), codes.PermissionDenied, "NOT_FORWARDED"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(tc.ctx)
			if status.Code(err) != tc.code || reasonOf(err) != tc.reason {
				t.Fatalf("%v (%s), want %v (%s)", err, reasonOf(err), tc.code, tc.reason)
			}
		})
	}
	// Nothing changed.
	ps, err := c.nodes[0].ledger.Platforms()
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].ID != "esign.example" {
		t.Fatalf("platforms after refused forwards: %v", ps)
	}
	if size := c.nodes[0].ledger.Size(); size != 0 {
		t.Fatalf("ledger has %d entries after refused forwards", size)
	}
	// Every attempt is audited, under the node that made it.
	nodeID := access.NodeIdentity(testCourt, leader.cfg.NodeID).ID
	audit := pb.NewAuditServiceClient(dialToken(t, c.ca, leader.GRPCAddr(), tokenFor(access.RoleAdmin)))
	recs := waitAudit(t, audit, &pb.QueryAuditRequest{Caller: nodeID}, func(rs []*pb.AuditRecord) bool { return len(rs) >= len(cases) })
	for _, r := range recs {
		if r.Role != "node" || r.Code == "OK" || !strings.Contains(r.Via, "claims ") {
			t.Fatalf("audit record of a refused forward: %s", fmtRecords([]*pb.AuditRecord{r}))
		}
	}
	if !strings.Contains(fmtRecords(recs), "claims admin:mallory") {
		t.Fatalf("the claimed caller is not in the audit:\n%s", fmtRecords(recs))
	}
}

// restCert calls the REST gateway over TLS with a client certificate.
func restCert(ca *devca.CA, certPEM []byte) (*http.Client, error) {
	cert, err := tls.X509KeyPair(certPEM, certPEM)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool(ca), Certificates: []tls.Certificate{cert}}}}, nil
}

func post(t *testing.T, hc interface {
	Do(*http.Request) (*http.Response, error)
}, url, token string, body []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hr, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	if hr.StatusCode != 200 {
		t.Fatalf("POST %s: %d %s", url, hr.StatusCode, raw)
	}
}

// Writes sent to a follower, over gRPC and REST, with a certificate or a
// token, reach the leader, which proves the caller again and records the
// call with both identities: the caller and the node that forwarded it.
func TestForwardedCallsProvenAndAudited(t *testing.T) {
	c := startCourtWith(t, 3, func(cfg *Config) { cfg.Security.Audit.FlushEvery = 20 * time.Millisecond })
	ctx := context.Background()
	f, l := c.follower(), c.leader()
	adminPEM, _ := c.ca.Issue(access.Identity{Role: access.RoleAdmin, ID: "admin-qian"}, devca.IssueOptions{})
	platformPEM, _ := c.ca.Issue(access.Identity{Role: access.RolePlatform, ID: "esign.example"}, devca.IssueOptions{})
	pemKey := string(c.platform.Public().MarshalPEM())

	// gRPC: an admin by certificate registers, the platform by token files.
	if _, err := pb.NewAdminServiceClient(dialCert(t, c.ca, f.GRPCAddr(), adminPEM)).RegisterPlatform(ctx,
		&pb.RegisterPlatformRequest{PlatformId: "esign.example", PublicKeyPem: pemKey}); err != nil {
		t.Fatalf("register by certificate via follower: %v", err)
	}
	fEv, _ := c.dial(t, f.GRPCAddr())
	if _, err := fEv.Submit(ctx, &pb.SubmitRequest{Submission: c.signed(t, "fw-grpc", []byte("grpc file"))}); err != nil {
		t.Fatalf("submit by token via follower: %v", err)
	}
	// REST: the platform by certificate files, an admin by token registers.
	base := "https://" + f.HTTPAddr()
	hc, err := restCert(c.ca, platformPEM)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := protojson.Marshal(c.signed(t, "fw-rest", []byte("rest file")))
	post(t, hc, base+"/v1/evidence", "", body)
	other, _ := sm2.GenerateKey()
	body, _ = protojson.Marshal(&pb.RegisterPlatformRequest{PlatformId: "other.example", PublicKeyPem: string(other.Public().MarshalPEM())})
	post(t, newREST(c.ca, "").hc, base+"/v1/admin/platforms", tokenFor(access.RoleAdmin), body)

	if !l.ledger.IsLeader() {
		t.Skip("leadership moved during the test; the calls were not all forwarded")
	}
	fwdVia := "forwarded:" + access.NodeIdentity(testCourt, f.cfg.NodeID).ID + ":"
	audit := pb.NewAuditServiceClient(dialToken(t, c.ca, l.GRPCAddr(), tokenFor(access.RoleAdmin)))
	for _, want := range []struct{ caller, method, via, target string }{
		{"admin-qian", "/courtledger.v1.AdminService/RegisterPlatform", "cert", "esign.example"},
		{"esign.example", "/courtledger.v1.EvidenceService/Submit", "token", "fw-grpc"},
		{"esign.example", "/courtledger.v1.EvidenceService/Submit", "cert", "fw-rest"},
		{"admin-zhao", "/courtledger.v1.AdminService/RegisterPlatform", "token", "other.example"},
	} {
		waitAudit(t, audit, &pb.QueryAuditRequest{Caller: want.caller, Method: want.method, Target: want.target}, func(rs []*pb.AuditRecord) bool {
			var atFollower, atLeader bool
			for _, r := range rs {
				atFollower = atFollower || (r.NodeId == f.cfg.NodeID && r.Via == want.via && r.Code == "OK")
				atLeader = atLeader || (r.NodeId == l.cfg.NodeID && r.Via == fwdVia+want.via && r.Code == "OK")
			}
			return atFollower && atLeader
		})
	}
	if size := l.ledger.Size(); size != 2 {
		t.Fatalf("ledger has %d entries, want 2", size)
	}
}

// In plain-text mode a follower authenticates to the leader with its node
// token, and the caller's token goes along beside it.
func TestForwardedCallsInsecureMode(t *testing.T) {
	nodeTok := func(id string) string { return "tok-node-" + id }
	c := startCourtWith(t, 3, func(cfg *Config) {
		rules := testTokenRules()
		for i := 0; i < 3; i++ {
			id := fmt.Sprintf("hz-%d", i)
			rules = append(rules, access.TokenRule{Hash: access.TokenHash(nodeTok(id)), Identity: access.NodeIdentity(testCourt, id)})
		}
		cfg.Security = Security{Insecure: true, Tokens: rules, NodeToken: nodeTok(cfg.NodeID),
			Audit: access.AuditConfig{FlushEvery: 20 * time.Millisecond}}
	})
	f, l := c.follower(), c.leader()
	dial := func(addr, token string) *grpc.ClientConn {
		cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(client.Token(token, true)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		return cc
	}
	ctx := context.Background()
	if _, err := pb.NewAdminServiceClient(dial(f.GRPCAddr(), tokenFor(access.RoleAdmin))).RegisterPlatform(ctx, &pb.RegisterPlatformRequest{
		PlatformId: "esign.example", PublicKeyPem: string(c.platform.Public().MarshalPEM())}); err != nil {
		t.Fatalf("register via follower: %v", err)
	}
	if _, err := pb.NewEvidenceServiceClient(dial(f.GRPCAddr(), tokenFor(access.RolePlatform))).Submit(ctx,
		&pb.SubmitRequest{Submission: c.signed(t, "plain-1", []byte("plain file"))}); err != nil {
		t.Fatalf("submit via follower: %v", err)
	}
	// A node token naming a caller without its token is refused here too.
	_, err := pb.NewAdminServiceClient(dial(l.GRPCAddr(), nodeTok(f.cfg.NodeID))).RegisterPlatform(
		metadata.AppendToOutgoingContext(ctx, access.MDOnBehalfOf, "admin mallory token"),
		&pb.RegisterPlatformRequest{PlatformId: "evil.example", PublicKeyPem: string(c.platform.Public().MarshalPEM())})
	if status.Code(err) != codes.Unauthenticated || reasonOf(err) != "FORWARD_UNPROVEN" {
		t.Fatalf("node token forwarding without proof: %v", err)
	}
	if !l.ledger.IsLeader() {
		t.Skip("leadership moved; the calls were not all forwarded")
	}
	audit := pb.NewAuditServiceClient(dial(l.GRPCAddr(), tokenFor(access.RoleAdmin)))
	waitAudit(t, audit, &pb.QueryAuditRequest{Caller: "esign.example", Target: "plain-1"}, func(rs []*pb.AuditRecord) bool {
		return slices.ContainsFunc(rs, func(r *pb.AuditRecord) bool {
			return r.NodeId == l.cfg.NodeID && r.Code == "OK" && r.Via == "forwarded:"+access.NodeIdentity(testCourt, f.cfg.NodeID).ID+":token"
		})
	})
}
