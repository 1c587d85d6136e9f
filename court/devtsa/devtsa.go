// Package devtsa is a development RFC 3161 time-stamping authority: it
// gives the demo and the tests tokens over signed tree heads with no setup,
// signed with ECDSA P-256 and SHA-256 so that stock OpenSSL 3 verifies them
// (`openssl ts -verify -data head.txt -in token.tsr -CAfile tsa-root.pem`).
// Production courts use a national TSA instead (docs/timestamps.md); nothing
// here is needed at run time.
//
// A TSA is a root certificate and a TSA certificate issued by it whose only
// extended key usage is timeStamping, critical (RFC 3161 section 2.3).
// Its Faults make it misbehave on purpose, one way at a time, for the tests
// of what a court does with a TSA that is down, whose clock is off, or whose
// certificate is unfit.
package devtsa

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/digitorus/timestamp"

	"github.com/courtledger/courtledger/court/access"
)

// Policy is the TSA policy OID of the development TSA's tokens, under the
// private enterprise number IANA reserves for documentation (32473, RFC
// 5612): it names nothing but this development TSA.
var Policy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 32473, 3161, 1}

// Accuracy is what the tokens state of the TSA's clock: the time in a
// token is in whole seconds.
const Accuracy = time.Second

// Faults make the TSA misbehave on purpose; the zero value is a TSA that
// behaves.
type Faults struct {
	Down           bool          // answer every request 503 Service Unavailable
	Delay          time.Duration // answer each request this late (or when the client gives up)
	ClockOffset    time.Duration // added to the TSA's clock
	OtherImprint   bool          // sign a token over an imprint other than the one asked for
	ExpiredCert    bool          // sign with a TSA certificate that expired a year ago
	NoEKU          bool          // sign with a TSA certificate without extended key usage
	NonCriticalEKU bool          // sign with a TSA certificate whose timeStamping usage is not critical
	// Policy, if set, is named in tokens whatever the request asked for.
	Policy asn1.ObjectIdentifier
}

func (f Faults) certFault() bool { return f.ExpiredCert || f.NoEKU || f.NonCriticalEKU }

// TSA is a development time-stamping authority. It is safe for concurrent
// use: a test may change its Faults while courts are asking it for tokens.
type TSA struct {
	root    *x509.Certificate
	rootKey *ecdsa.PrivateKey // nil for a TSA loaded from a directory: its root key was not kept
	key     *ecdsa.PrivateKey
	good    *x509.Certificate // the TSA certificate that behaves

	mu     sync.RWMutex
	faults Faults
	cert   *x509.Certificate // the one signing now: good, or a faulty one
}

// Root is the TSA's root certificate, the anchor courts trust.
func (t *TSA) Root() *x509.Certificate { return t.root }

// RootPEM is the root certificate in PEM, the tsa-root.pem to give courts.
func (t *TSA) RootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: t.root.Raw})
}

// Certificate is the TSA certificate signing tokens now.
func (t *TSA) Certificate() *x509.Certificate {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.cert
}

// New makes a TSA in memory, root and TSA certificate valid for ten years,
// the TSA certificate's common name name.
func New(name string) (*TSA, error) {
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: name + " root", Organization: []string{"courtledger development"}},
		NotBefore: devNotBefore, NotAfter: now.AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		return nil, fmt.Errorf("dev TSA root: %w", err)
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	t := &TSA{root: root, rootKey: rootKey, key: key}
	t.good, err = t.issue(name, Faults{})
	if err != nil {
		return nil, err
	}
	t.cert = t.good
	return t, nil
}

var oidExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}

// devNotBefore is when the development certificates become valid: a
// fixed date in the past, so that a worked example with fixed dates
// (docs/verify-by-hand.md) can be stamped at its own time with a clock
// offset (Faults.ClockOffset).
var devNotBefore = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// issue makes a TSA certificate for t.key, well-formed or faulty as f says.
func (t *TSA) issue(name string, f Faults) (*x509.Certificate, error) {
	if t.rootKey == nil {
		return nil, errors.New("dev TSA: a TSA loaded from a directory cannot issue faulty certificates (its root key was not kept); use devtsa.New")
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: name, Organization: []string{"courtledger development"}},
		NotBefore: devNotBefore, NotAfter: now.AddDate(10, 0, 0).Add(-time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	switch {
	case f.ExpiredCert:
		tmpl.NotBefore, tmpl.NotAfter = now.AddDate(-2, 0, 0), now.AddDate(-1, 0, 0)
	case f.NoEKU:
	case f.NonCriticalEKU:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping} // crypto/x509 marks it non-critical
	}
	if !f.NoEKU && !f.NonCriticalEKU {
		// crypto/x509 writes ExtKeyUsage non-critical; RFC 3161 wants it
		// critical, so the extension is given whole.
		v, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
		if err != nil {
			return nil, err
		}
		tmpl.ExtraExtensions = []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: v}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, t.root, &t.key.PublicKey, t.rootKey)
	if err != nil {
		return nil, fmt.Errorf("dev TSA certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

// Faults are the ways the TSA misbehaves now.
func (t *TSA) Faults() Faults {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.faults
}

// SetFaults makes the TSA misbehave as f says from the next request on; a
// zero Faults makes it behave again. A certificate fault issues a faulty
// TSA certificate from the root (the key stays), so it needs a TSA made by
// New. At most one certificate fault may be set.
func (t *TSA) SetFaults(f Faults) error {
	n := 0
	for _, b := range []bool{f.ExpiredCert, f.NoEKU, f.NonCriticalEKU} {
		if b {
			n++
		}
	}
	if n > 1 {
		return errors.New("dev TSA: set at most one of ExpiredCert, NoEKU, NonCriticalEKU")
	}
	cert := t.good
	if f.certFault() {
		var err error
		if cert, err = t.issue(t.good.Subject.CommonName, f); err != nil {
			return err
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.faults, t.cert = f, cert
	return nil
}

// Respond answers one DER TimeStampReq with a DER TimeStampResp: a token,
// or a rejection saying what is wrong with the request. It is the RFC 3161
// exchange without HTTP (the Handler's, and tests' that need a token in
// process).
func (t *TSA) Respond(query []byte) []byte {
	t.mu.RLock()
	f, cert := t.faults, t.cert
	t.mu.RUnlock()
	req, err := timestamp.ParseRequest(query)
	if err != nil {
		return reject(timestamp.BadDataFormat)
	}
	switch req.HashAlgorithm {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return reject(timestamp.BadAlgorithm)
	}
	if len(req.HashedMessage) != req.HashAlgorithm.Size() {
		return reject(timestamp.BadDataFormat)
	}
	if len(req.Extensions) > 0 {
		return reject(timestamp.UnacceptedExtension)
	}
	policy := Policy
	if req.TSAPolicyOID != nil && !req.TSAPolicyOID.Equal(Policy) && f.Policy == nil {
		return reject(timestamp.UnacceptedPolicy)
	}
	if f.Policy != nil {
		policy = f.Policy
	}
	imprint := req.HashedMessage
	if f.OtherImprint {
		h := req.HashAlgorithm.New()
		h.Write([]byte("devtsa: other imprint "))
		h.Write(imprint)
		imprint = h.Sum(nil)
	}
	ts := &timestamp.Timestamp{
		HashAlgorithm: req.HashAlgorithm, HashedMessage: imprint,
		Time:     time.Now().Add(f.ClockOffset).UTC().Truncate(time.Second),
		Accuracy: Accuracy, Policy: policy, Nonce: req.Nonce,
		AddTSACertificate: req.Certificates,
	}
	der, err := ts.CreateResponseWithOpts(cert, t.key, crypto.SHA256)
	if err != nil {
		return reject(timestamp.SystemFailure)
	}
	return der
}

func reject(fi timestamp.FailureInfo) []byte {
	der, err := timestamp.CreateErrorResponse(timestamp.Rejection, fi)
	if err != nil {
		panic(fmt.Sprintf("devtsa: encoding a rejection: %v", err)) // constant input: a bug, not bad input
	}
	return der
}

// The files LoadOrCreate keeps.
const (
	RootFile = "tsa-root.pem" // the root certificate, to give courts
	CertFile = "tsa.pem"      // the TSA certificate and its key, 0600
)

// LoadOrCreate keeps a TSA in dir (tsa-root.pem; tsa.pem, certificate and
// key, mode 0600), making it on first use, so a demo restarted keeps the
// root its courts trust. The root's key is not kept: nothing issues
// certificates from it after the first run.
func LoadOrCreate(dir string) (*TSA, error) {
	rootFile, certFile := filepath.Join(dir, RootFile), filepath.Join(dir, CertFile)
	rootPEM, rerr := os.ReadFile(rootFile)
	certPEM, cerr := os.ReadFile(certFile)
	switch {
	case errors.Is(rerr, os.ErrNotExist) && errors.Is(cerr, os.ErrNotExist):
		t, err := New("courtledger development TSA")
		if err != nil {
			return nil, err
		}
		kder, err := x509.MarshalPKCS8PrivateKey(t.key)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: t.good.Raw})
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})...)
		if err := os.WriteFile(certFile, out, 0o600); err != nil {
			return nil, err
		}
		if err := os.WriteFile(rootFile, t.RootPEM(), 0o644); err != nil {
			return nil, err
		}
		t.rootKey = nil // as a loaded one: the same TSA whether made now or read later
		return t, nil
	case errors.Is(rerr, os.ErrNotExist) || errors.Is(cerr, os.ErrNotExist):
		return nil, fmt.Errorf("dev TSA in %s: one of %s and %s is missing; remove the other to make a new TSA (courts must then trust the new %s)", dir, RootFile, CertFile, RootFile)
	case rerr != nil:
		return nil, rerr
	case cerr != nil:
		return nil, cerr
	}
	if err := access.CheckKeyFileMode(certFile); err != nil {
		return nil, err
	}
	return parse(dir, rootPEM, certPEM)
}

func parse(dir string, rootPEM, certPEM []byte) (*TSA, error) {
	bad := func(file, what string) error {
		return fmt.Errorf("dev TSA in %s: %s: %s; remove %s and %s to make a new TSA", dir, file, what, RootFile, CertFile)
	}
	rb, _ := pem.Decode(rootPEM)
	if rb == nil || rb.Type != "CERTIFICATE" {
		return nil, bad(RootFile, "no PEM CERTIFICATE")
	}
	root, err := x509.ParseCertificate(rb.Bytes)
	if err != nil {
		return nil, bad(RootFile, err.Error())
	}
	var cert *x509.Certificate
	var key *ecdsa.PrivateKey
	for rest := certPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			if cert, err = x509.ParseCertificate(b.Bytes); err != nil {
				return nil, bad(CertFile, err.Error())
			}
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
			if err != nil {
				return nil, bad(CertFile, err.Error())
			}
			var ok bool
			if key, ok = k.(*ecdsa.PrivateKey); !ok {
				return nil, bad(CertFile, fmt.Sprintf("key is %T, want ECDSA", k))
			}
		}
	}
	if cert == nil || key == nil {
		return nil, bad(CertFile, "want a CERTIFICATE and a PRIVATE KEY block")
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, bad(CertFile, "the key is not the certificate's")
	}
	if err := cert.CheckSignatureFrom(root); err != nil {
		return nil, bad(CertFile, "not issued by "+RootFile+": "+err.Error())
	}
	return &TSA{root: root, key: key, good: cert, cert: cert}, nil
}
