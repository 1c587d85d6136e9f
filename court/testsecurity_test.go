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
)

// Test credentials: one bearer token per role, configured by hash at
// every test court, and a development CA per court for TLS.
var testIdentities = map[string]Identity{
	"tok-platform":       {RolePlatform, "esign.example"},
	"tok-other-platform": {RolePlatform, "other.example"},
	"tok-judge":          {RoleJudge, "judge-wang"},
	"tok-lawyer":         {RoleLawyer, "lawyer-li"},
	"tok-admin":          {RoleAdmin, "admin-zhao"},
	"tok-peer":           {RolePeer, "beijing.court.example/evidence"},
}

func testTokenRules() []TokenRule {
	var rules []TokenRule
	for tok, id := range testIdentities {
		rules = append(rules, TokenRule{Hash: TokenHash(tok), Identity: id})
	}
	return rules
}

// tokenFor returns the test token of a role (the first platform's).
func tokenFor(r Role) string {
	switch r {
	case RolePlatform:
		return "tok-platform"
	case RoleJudge:
		return "tok-judge"
	case RoleLawyer:
		return "tok-lawyer"
	case RoleAdmin:
		return "tok-admin"
	case RolePeer:
		return "tok-peer"
	}
	return ""
}

// testSecurity is a node's Security with TLS from ca, files in a temp dir.
func testSecurity(t testing.TB, ca *DevCA, court, node string) Security {
	t.Helper()
	sec, err := DevNodeSecurity(ca, filepath.Join(t.TempDir(), "pki"), court, node, testTokenRules(),
		[]string{"beijing.court.example/evidence"})
	if err != nil {
		t.Fatal(err)
	}
	return sec
}

func testCA(t testing.TB) *DevCA {
	t.Helper()
	ca, err := NewDevCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func caPool(ca *DevCA) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// dialToken connects over TLS (trusting ca) with a bearer token; "" for none.
func dialToken(t testing.TB, ca *DevCA, addr, token string) *grpc.ClientConn {
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
func dialCert(t testing.TB, ca *DevCA, addr string, certPEM []byte) *grpc.ClientConn {
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

func newREST(ca *DevCA, token string) *restClient {
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
