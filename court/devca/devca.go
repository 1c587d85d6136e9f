// Package devca is a development certificate authority: it issues the TLS
// certificates of a demo's or a test's nodes and callers, with courtledger
// identities in their URI SANs. Production courts use their own PKI.
package devca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/courtledger/courtledger/court/access"
)

// CA is a development certificate authority: it issues the node and
// client certificates of a demo or a test, with courtledger identities in
// their URI SANs. Production courts use their own PKI; nothing here is
// needed at run time.
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// CertPEM is the CA certificate, the file nodes and clients trust.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// New makes a CA valid for ten years.
func New(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: name, Organization: []string{"courtledger development"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("dev CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, key: key}, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

// IssueOptions shape one certificate; zero values give one valid from an
// hour ago for a year, for 127.0.0.1 and localhost.
type IssueOptions struct {
	NotBefore, NotAfter time.Time
	Hosts               []string // DNS names or IP addresses, for clients that check them (curl)
}

// Issue makes a certificate for id, good for TLS servers and clients, and
// returns it and its key as one PEM (certificate first).
func (ca *CA) Issue(id access.Identity, o IssueOptions) ([]byte, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	now := time.Now()
	if o.NotBefore.IsZero() {
		o.NotBefore = now.Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = now.AddDate(1, 0, 0)
	}
	if o.Hosts == nil {
		o.Hosts = []string{"127.0.0.1", "localhost"}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: id.String()},
		NotBefore: o.NotBefore, NotAfter: o.NotAfter, URIs: []*url.URL{id.URI()},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range o.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("issue %s: %w", id, err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})...), nil
}

// LoadOrCreate keeps a CA in dir (ca.pem, ca.key 0600), making it on
// first use, so a demo restarted keeps trusting the certificates it made.
func LoadOrCreate(dir string) (*CA, error) {
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	certPEM, err := os.ReadFile(certFile)
	if errors.Is(err, os.ErrNotExist) {
		ca, err := New("courtledger development CA")
		if err != nil {
			return nil, err
		}
		kder, err := x509.MarshalPKCS8PrivateKey(ca.key)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
			return nil, err
		}
		return ca, os.WriteFile(certFile, ca.CertPEM(), 0o644)
	}
	if err != nil {
		return nil, err
	}
	if err := access.CheckKeyFileMode(keyFile); err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("dev CA in %s: bad PEM", dir)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("dev CA key is %T", k)
	}
	return &CA{Cert: cert, key: ek}, nil
}

// IssueFile writes id's certificate and key to dir/name.pem (0600) unless
// it exists, and returns the path. The one file serves as TLSConfig's
// CertFile and KeyFile, and as evidencectl's --cert.
func (ca *CA) IssueFile(dir, name string, id access.Identity) (string, error) {
	path := filepath.Join(dir, name+".pem")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	b, err := ca.Issue(id, IssueOptions{})
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return path, os.WriteFile(path, b, 0o600)
}

// NodeTLS issues node's certificate of court into dir (with the CA's
// certificate beside it, as ca.pem) unless they are there, and returns the
// node's TLS configuration: what tests and the demo run with.
func (ca *CA) NodeTLS(dir, court, node string) (access.TLSConfig, error) {
	caFile := filepath.Join(dir, "ca.pem")
	if _, err := os.Stat(caFile); err != nil {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return access.TLSConfig{}, err
		}
		if err := os.WriteFile(caFile, ca.CertPEM(), 0o644); err != nil {
			return access.TLSConfig{}, err
		}
	}
	f, err := ca.IssueFile(dir, "node-"+node, access.NodeIdentity(court, node))
	if err != nil {
		return access.TLSConfig{}, err
	}
	return access.TLSConfig{CertFile: f, KeyFile: f, CAFile: caFile}, nil
}
