package access_test

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/devca"
)

func leafOf(t *testing.T, pemBytes []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(pemBytes)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A chain verified once is not verified again on each call (it was a third
// of a leader's CPU), but what the cache answers still follows the clock
// and the court's membership, and a chain that differs by a byte is
// verified on its own.
func TestAuthenticatorRemembersVerifiedChains(t *testing.T) {
	ca, err := devca.New("test")
	if err != nil {
		t.Fatal(err)
	}
	other, err := devca.New("other")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	const court = "hangzhou.court.example/evidence"
	now := time.Now()
	member := true
	a, err := access.NewAuthenticator(access.AuthenticatorConfig{Court: court, ClientCAs: pool,
		Clock: func() time.Time { return now }, Nodes: func(string) bool { return member }})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(c *devca.CA, id access.Identity, notAfter time.Time) *x509.Certificate {
		p, err := c.Issue(id, devca.IssueOptions{NotAfter: notAfter})
		if err != nil {
			t.Fatal(err)
		}
		return leafOf(t, p)
	}
	platform := access.Identity{Role: access.RolePlatform, ID: "esign.example"}
	good := issue(ca, platform, now.Add(time.Hour))
	for i := range 3 {
		id, err := a.FromCertificates([]*x509.Certificate{good})
		if err != nil || id != platform {
			t.Fatalf("call %d: %v %v", i, id, err)
		}
	}
	// Same identity, another CA: verified on its own, refused.
	if _, err := a.FromCertificates([]*x509.Certificate{issue(other, platform, now.Add(time.Hour))}); !isAuth(err, "CERT_UNTRUSTED") {
		t.Fatalf("another CA's certificate after a good one: %v", err)
	}
	// The remembered chain expires with its certificate.
	now = now.Add(2 * time.Hour)
	if _, err := a.FromCertificates([]*x509.Certificate{good}); !isAuth(err, "CERT_EXPIRED") {
		t.Fatalf("remembered chain after its certificate expired: %v", err)
	}
	// A node removed from the court is refused though its chain is known.
	now = time.Now()
	node := issue(ca, access.NodeIdentity(court, "hz-2"), now.Add(time.Hour))
	if _, err := a.FromCertificates([]*x509.Certificate{node}); err != nil {
		t.Fatal(err)
	}
	member = false
	if _, err := a.FromCertificates([]*x509.Certificate{node}); !isAuth(err, "UNKNOWN_NODE") {
		t.Fatalf("removed node with a remembered chain: %v", err)
	}
}

func isAuth(err error, reason string) bool {
	var ae *access.AuthError
	return errors.As(err, &ae) && ae.Reason == reason
}

func BenchmarkFromCertificates(b *testing.B) {
	ca, err := devca.New("bench")
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	a, err := access.NewAuthenticator(access.AuthenticatorConfig{Court: "hangzhou.court.example/evidence", ClientCAs: pool})
	if err != nil {
		b.Fatal(err)
	}
	p, err := ca.Issue(access.Identity{Role: access.RolePlatform, ID: "esign.example"}, devca.IssueOptions{})
	if err != nil {
		b.Fatal(err)
	}
	blk, _ := pem.Decode(p)
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := a.FromCertificates([]*x509.Certificate{leaf}); err != nil {
			b.Fatal(err)
		}
	}
}
