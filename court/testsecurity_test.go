package court

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/courtledger/courtledger/api/client"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/devca"
)

// Test credentials: one bearer token per role, configured by hash at
// every test court, and a development CA per court for TLS.
var testIdentities = map[string]access.Identity{
	"tok-platform":       {Role: access.RolePlatform, ID: "esign.example"},
	"tok-other-platform": {Role: access.RolePlatform, ID: "other.example"},
	"tok-judge":          {Role: access.RoleJudge, ID: "judge-wang"},
	"tok-lawyer":         {Role: access.RoleLawyer, ID: "lawyer-li"},
	"tok-admin":          {Role: access.RoleAdmin, ID: "admin-zhao"},
	"tok-peer":           {Role: access.RolePeer, ID: "beijing.court.example/evidence"},
}

func testTokenRules() []access.TokenRule {
	var rules []access.TokenRule
	for tok, id := range testIdentities {
		rules = append(rules, access.TokenRule{Hash: access.TokenHash(tok), Identity: id})
	}
	return rules
}

// tokenFor returns the test token of a role (the first platform's).
func tokenFor(r access.Role) string {
	switch r {
	case access.RolePlatform:
		return "tok-platform"
	case access.RoleJudge:
		return "tok-judge"
	case access.RoleLawyer:
		return "tok-lawyer"
	case access.RoleAdmin:
		return "tok-admin"
	case access.RolePeer:
		return "tok-peer"
	}
	return ""
}

// testSecurity is a node's Security with TLS from ca, files in a temp dir.
func testSecurity(t testing.TB, ca *devca.CA, court, node string) Security {
	t.Helper()
	sec, err := devNodeSecurity(ca, filepath.Join(t.TempDir(), "pki"), court, node, testTokenRules(),
		[]string{"beijing.court.example/evidence"})
	if err != nil {
		t.Fatal(err)
	}
	return sec
}

func testCA(t testing.TB) *devca.CA {
	t.Helper()
	ca, err := devca.New("test CA")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func caPool(ca *devca.CA) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// dialToken connects over TLS (trusting ca) with a bearer token; "" for none.
func dialToken(t testing.TB, ca *devca.CA, addr, token string) *grpc.ClientConn {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: caPool(ca)}))}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(client.Token(token, false)))
	}
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// dialCert connects over TLS presenting a client certificate (PEM of
// certificate and key, as DevCA.Issue makes).
func dialCert(t testing.TB, ca *devca.CA, addr string, certPEM []byte) *grpc.ClientConn {
	t.Helper()
	cert, err := tls.X509KeyPair(certPEM, certPEM)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: caPool(ca), Certificates: []tls.Certificate{cert}})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// restClient calls the REST gateway over TLS with a role's token.
type restClient struct {
	hc    *http.Client
	token string
}

func newREST(ca *devca.CA, token string) *restClient {
	return &restClient{hc: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool(ca)}}}, token: token}
}

func (r *restClient) do(method, url string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	return r.hc.Do(req)
}

func (r *restClient) Get(url string) (*http.Response, error) { return r.do("GET", url, nil) }
func (r *restClient) Post(url, _ string, body io.Reader) (*http.Response, error) {
	return r.do("POST", url, body)
}

// devNodeSecurity is the Security of a node whose certificate ca issues
// into dir.
func devNodeSecurity(ca *devca.CA, dir, court, node string, tokens []access.TokenRule, peerCourts []string) (Security, error) {
	tc, err := ca.NodeTLS(dir, court, node)
	return Security{TLS: &tc, Tokens: tokens, PeerCourts: peerCourts}, err
}
