package access

import (
	"crypto/x509"
	"net/url"
	"strings"
	"testing"
)

// Tokens the fuzz targets are configured with.
var fuzzIdentities = map[string]Identity{
	"tok-platform": {RolePlatform, "esign.example"},
	"tok-judge":    {RoleJudge, "judge-wang"},
	"tok-admin":    {RoleAdmin, "admin-zhao"},
	"tok-peer":     {RolePeer, "beijing.court.example/evidence"},
}

func fuzzTokenRules() []TokenRule {
	var rules []TokenRule
	for tok, id := range fuzzIdentities {
		rules = append(rules, TokenRule{Hash: TokenHash(tok), Identity: id})
	}
	return rules
}

// Any Authorization header is either a configured token's identity or an
// AuthError; never a panic, never another identity.
func FuzzAuthorizationHeader(f *testing.F) {
	a, err := NewAuthenticator(AuthenticatorConfig{Court: "hangzhou.court.example/evidence", Tokens: fuzzTokenRules()})
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
		if want, ok := fuzzIdentities[strings.TrimSpace(tok)]; !ok || want != id {
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
		id, err := ParseIdentityURI(u)
		if err != nil {
			return
		}
		back, err := ParseIdentityURI(id.URI())
		if err != nil || back != id {
			t.Fatalf("%q → %v → %v (%v)", s, id, back, err)
		}
		_, _ = IdentityOfCert(&x509.Certificate{URIs: []*url.URL{u}})
	})
}
