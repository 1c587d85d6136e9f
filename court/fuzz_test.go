package court

import (
	"crypto/x509"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Any Authorization header is either a configured token's identity or an
// AuthError; never a panic, never another identity.
func FuzzAuthorizationHeader(f *testing.F) {
	a, err := NewAuthenticator(AuthenticatorConfig{Court: testCourt, Tokens: testTokenRules()})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"Bearer tok-judge", "bearer tok-admin", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer  tok-judge ", "", "Bearer \x00", strings.Repeat("A", 600)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		id, err := a.FromToken(h)
		if err != nil {
			if _, ok := err.(*AuthError); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		_, tok, _ := strings.Cut(h, " ")
		if want, ok := testIdentities[strings.TrimSpace(tok)]; !ok || want != id {
			t.Fatalf("%q authenticated as %v", h, id)
		}
	})
}

// Identity URIs parse to a valid identity or an error, and round-trip.
func FuzzIdentityURI(f *testing.F) {
	for _, s := range []string{"courtledger://platform/esign.example", "courtledger://node/hangzhou.court.example/evidence/hz-1",
		"courtledger://judge/wang", "courtledger://admin/", "https://x/y", "courtledger://court/x%2Fy"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := url.Parse(s)
		if err != nil {
			return
		}
		id, err := parseIdentityURI(u)
		if err != nil {
			return
		}
		back, err := parseIdentityURI(id.URI())
		if err != nil || back != id {
			t.Fatalf("%q → %v → %v (%v)", s, id, back, err)
		}
		_, _ = identityOfCert(&x509.Certificate{URIs: []*url.URL{u}})
	})
}

// Whatever JSON a platform posts to the REST API, the answer is a 4xx (or
// a receipt), never a server error, and without a valid signature nothing
// is recorded.
func FuzzRESTSubmitJSON(f *testing.F) {
	c := registeredF(f)
	base := "https://" + c.nodes[0].HTTPAddr()
	rc := newREST(c.ca, tokenFor(RolePlatform))
	for _, s := range []string{`{}`, `{"submission":{}}`, `{"submission":{"platform":"esign.example","fingerprint":"00"}}`,
		`{"submission":{"signed_at":"2020-01-01T00:00:00Z","metadata":{"a":"b"}},"signature":"AAAA"}`, `[`, `null`, `{"submission":{"title":5}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		hr, err := rc.Post(base+"/v1/evidence", "", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(hr.Body)
		hr.Body.Close()
		if hr.StatusCode >= 500 || hr.StatusCode == http.StatusOK {
			t.Fatalf("%q: %d %s", body, hr.StatusCode, b)
		}
	})
	if size := c.nodes[0].ledger.Size(); size != 0 {
		f.Fatalf("fuzzed JSON recorded %d entries", size)
	}
}
