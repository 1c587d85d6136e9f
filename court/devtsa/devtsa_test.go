package devtsa_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"

	"github.com/courtledger/courtledger/court/devtsa"
	"github.com/courtledger/courtledger/crypto/tsa"
)

var data = []byte("a signed tree head's note text\n")

// verify stamps data with the TSA over HTTP and verifies the token with
// the given root.
func verify(t *testing.T, d *devtsa.TSA, rootPEM []byte) (tsa.Info, error) {
	t.Helper()
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	c, err := tsa.NewClient(tsa.ClientConfig{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Stamp(context.Background(), data)
	if err != nil {
		return tsa.Info{}, err
	}
	a, err := tsa.ParseAnchors(rootPEM)
	if err != nil {
		t.Fatal(err)
	}
	return tsa.Verify(tok, data, tsa.VerifyOptions{Anchors: a, Policy: devtsa.Policy, Expected: time.Now(), Tolerance: time.Minute})
}

// TestCertificateIsRFC3161: the TSA certificate's only extended key usage
// is timeStamping, in a critical extension, and the root issued it.
func TestCertificateIsRFC3161(t *testing.T) {
	d, err := devtsa.New("court TSA")
	if err != nil {
		t.Fatal(err)
	}
	c := d.Certificate()
	if len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageTimeStamping || len(c.UnknownExtKeyUsage) != 0 {
		t.Fatalf("EKU %v %v", c.ExtKeyUsage, c.UnknownExtKeyUsage)
	}
	critical := false
	for _, e := range c.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 37}) {
			critical = e.Critical
		}
	}
	if !critical {
		t.Fatal("the timeStamping EKU is not critical")
	}
	if err := c.CheckSignatureFrom(d.Root()); err != nil || c.Subject.CommonName != "court TSA" {
		t.Fatalf("issued by the root: %v; CN %q", err, c.Subject.CommonName)
	}
	// OpenSSL 3.0 verifies ECDSA P-256 tokens (and will not make SM2 ones).
	if k, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Fatalf("key %T, want ECDSA P-256", c.PublicKey)
	}
}

func TestLoadOrCreateKeepsTheTSA(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	d1, err := devtsa.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{devtsa.RootFile: 0o644, devtsa.CertFile: 0o600} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != mode {
			t.Fatalf("%s: %v, mode %v, want %v", name, err, st.Mode().Perm(), mode)
		}
	}
	root, err := os.ReadFile(filepath.Join(dir, devtsa.RootFile))
	if err != nil || !bytes.Equal(root, d1.RootPEM()) {
		t.Fatalf("tsa-root.pem is not RootPEM(): %v", err)
	}
	d2, err := devtsa.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !d2.Root().Equal(d1.Root()) || !d2.Certificate().Equal(d1.Certificate()) {
		t.Fatal("reloaded TSA has another root or certificate")
	}
	// Tokens of the reloaded TSA verify against the root file of the first.
	if _, err := verify(t, d2, root); err != nil {
		t.Fatal(err)
	}
	if err := d2.SetFaults(devtsa.Faults{NoEKU: true}); err == nil || !strings.Contains(err.Error(), "devtsa.New") {
		t.Fatalf("a loaded TSA issued a faulty certificate: %v", err)
	}
}

func TestLoadOrCreateRefuses(t *testing.T) {
	other, err := devtsa.New("other")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(dir string)
		inText string
	}{
		{"key file readable by others", func(dir string) { os.Chmod(filepath.Join(dir, devtsa.CertFile), 0o644) }, "chmod 600"},
		{"root missing", func(dir string) { os.Remove(filepath.Join(dir, devtsa.RootFile)) }, "missing"},
		{"certificate missing", func(dir string) { os.Remove(filepath.Join(dir, devtsa.CertFile)) }, "missing"},
		{"root of another TSA", func(dir string) { os.WriteFile(filepath.Join(dir, devtsa.RootFile), other.RootPEM(), 0o644) }, "not issued by"},
		{"root not PEM", func(dir string) { os.WriteFile(filepath.Join(dir, devtsa.RootFile), []byte("x"), 0o644) }, "no PEM CERTIFICATE"},
		{"no key", func(dir string) {
			os.WriteFile(filepath.Join(dir, devtsa.CertFile), other.RootPEM(), 0o600)
		}, "want a CERTIFICATE and a PRIVATE KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := devtsa.LoadOrCreate(dir); err != nil {
				t.Fatal(err)
			}
			tc.change(dir)
			before := snapshot(t, dir)
			if _, err := devtsa.LoadOrCreate(dir); err == nil || !strings.Contains(err.Error(), tc.inText) {
				t.Fatalf("LoadOrCreate = %v, want an error saying %q", err, tc.inText)
			}
			if after := snapshot(t, dir); after != before {
				t.Fatalf("the refusal changed the directory:\n%s\n%s", before, after)
			}
		})
	}
}

func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		b.WriteString(e.Name() + ":" + string(data) + "\n")
	}
	return b.String()
}

// TestHandlerRefuses: what is not an RFC 3161 query over HTTP gets an
// HTTP error or a rejection that says what is wrong.
func TestHandlerRefuses(t *testing.T) {
	d, err := devtsa.New("t")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	good, err := timestamp.CreateRequest(bytes.NewReader(data), &timestamp.RequestOptions{Certificates: true})
	if err != nil {
		t.Fatal(err)
	}
	sha1req, _ := (&timestamp.Request{HashAlgorithm: crypto.SHA1, HashedMessage: make([]byte, 20)}).Marshal()
	shortreq, _ := (&timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: make([]byte, 20)}).Marshal()
	policyreq, _ := (&timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: make([]byte, 32), TSAPolicyOID: asn1.ObjectIdentifier{1, 2, 3}}).Marshal()
	for _, tc := range []struct {
		name, method, ctype string
		body                []byte
		code                int
		failure             timestamp.FailureInfo // for a 200 answer: the rejection's
	}{
		{"GET", http.MethodGet, "", nil, http.StatusMethodNotAllowed, 0},
		{"wrong media type", http.MethodPost, "application/octet-stream", good, http.StatusUnsupportedMediaType, 0},
		{"body too large", http.MethodPost, tsa.QueryType, make([]byte, devtsa.MaxQuery+1), http.StatusRequestEntityTooLarge, 0},
		{"garbage", http.MethodPost, tsa.QueryType, []byte("hello"), http.StatusOK, timestamp.BadDataFormat},
		{"SHA-1", http.MethodPost, tsa.QueryType, sha1req, http.StatusOK, timestamp.BadAlgorithm},
		{"imprint of the wrong length", http.MethodPost, tsa.QueryType, shortreq, http.StatusOK, timestamp.BadDataFormat},
		{"policy not served", http.MethodPost, tsa.QueryType, policyreq, http.StatusOK, timestamp.UnacceptedPolicy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL, bytes.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body bytes.Buffer
			body.ReadFrom(resp.Body)
			if resp.StatusCode != tc.code {
				t.Fatalf("HTTP %d, want %d: %s", resp.StatusCode, tc.code, body.String())
			}
			if tc.code != http.StatusOK {
				return
			}
			if resp.Header.Get("Content-Type") != tsa.ReplyType {
				t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
			var r struct {
				Status struct {
					Status   int
					FailInfo asn1.BitString `asn1:"optional"`
				}
				Token asn1.RawValue `asn1:"optional"`
			}
			if _, err := asn1.Unmarshal(body.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			if r.Status.Status != int(timestamp.Rejection) || r.Status.FailInfo.At(int(tc.failure)) != 1 || len(r.Token.FullBytes) != 0 {
				t.Fatalf("status %d failInfo %v token %d bytes; want rejection, %v", r.Status.Status, r.Status.FailInfo, len(r.Token.FullBytes), tc.failure)
			}
		})
	}
}

// TestFaults: each fault makes the TSA misbehave as it says, and clearing
// it makes it behave again.
func TestFaults(t *testing.T) {
	d, err := devtsa.New("t")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		faults devtsa.Faults
		want   error
	}{
		{"down", devtsa.Faults{Down: true}, tsa.ErrUnavailable},
		{"other imprint", devtsa.Faults{OtherImprint: true}, tsa.ErrImprint},
		{"clock an hour ahead", devtsa.Faults{ClockOffset: time.Hour}, tsa.ErrTolerance},
		{"expired certificate", devtsa.Faults{ExpiredCert: true}, tsa.ErrCertificate},
		{"no EKU", devtsa.Faults{NoEKU: true}, tsa.ErrCertificate},
		{"non-critical EKU", devtsa.Faults{NonCriticalEKU: true}, tsa.ErrCertificate},
		{"another policy", devtsa.Faults{Policy: asn1.ObjectIdentifier{1, 2, 3}}, tsa.ErrPolicy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := d.SetFaults(tc.faults); err != nil {
				t.Fatal(err)
			}
			if d.Faults().Down != tc.faults.Down {
				t.Fatal("Faults() is not what was set")
			}
			if _, err := verify(t, d, d.RootPEM()); !errors.Is(err, tc.want) {
				t.Fatalf("with the fault: %v, want %v", err, tc.want)
			}
			if err := d.SetFaults(devtsa.Faults{}); err != nil {
				t.Fatal(err)
			}
			if _, err := verify(t, d, d.RootPEM()); err != nil {
				t.Fatalf("fault cleared: %v", err)
			}
		})
	}
	// Slow: a client that waits less gives up; one that waits long enough
	// gets a good token.
	if err := d.SetFaults(devtsa.Faults{Delay: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	for _, tc := range []struct {
		timeout time.Duration
		want    error
	}{{50 * time.Millisecond, tsa.ErrUnavailable}, {time.Minute, nil}} {
		c, _ := tsa.NewClient(tsa.ClientConfig{URL: srv.URL, Timeout: tc.timeout})
		if _, err := c.Stamp(context.Background(), data); !errors.Is(err, tc.want) {
			t.Errorf("delayed TSA, client timeout %v: %v, want %v", tc.timeout, err, tc.want)
		}
	}
	if err := d.SetFaults(devtsa.Faults{NoEKU: true, ExpiredCert: true}); err == nil {
		t.Fatal("two certificate faults at once were accepted")
	}
}

// TestRespondWithoutCertReq: a query without certReq gets a token without
// the TSA certificate, as RFC 3161 says.
func TestRespondWithoutCertReq(t *testing.T) {
	d, err := devtsa.New("t")
	if err != nil {
		t.Fatal(err)
	}
	q, _ := timestamp.CreateRequest(bytes.NewReader(data), &timestamp.RequestOptions{Nonce: big.NewInt(1)})
	ts, err := timestamp.ParseResponse(d.Respond(q))
	if err != nil {
		t.Fatal(err)
	}
	if len(ts.Certificates) != 0 || ts.Nonce.Int64() != 1 || !ts.Policy.Equal(devtsa.Policy) {
		t.Fatalf("certificates %d, nonce %v, policy %v", len(ts.Certificates), ts.Nonce, ts.Policy)
	}
}
