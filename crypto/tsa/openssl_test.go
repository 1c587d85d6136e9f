package tsa_test

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/courtledger/courtledger/court/devtsa"
	"github.com/courtledger/courtledger/crypto/tsa"
)

// openssl runs openssl in dir and returns its exit status and output.
func openssl(t *testing.T, dir string, args ...string) (ok bool, out string) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is not installed: the interoperability tests need it (.ci/run installs it; apt-get install openssl)")
	}
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	if _, exited := err.(*exec.ExitError); err != nil && !exited {
		t.Fatal(err)
	}
	return err == nil, string(b)
}

func write(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// verifyCommand is the issue's, and docs/timestamps.md's, command.
var verifyCommand = strings.Fields("ts -verify -data head.txt -in token.tsr -CAfile tsa-root.pem")

// TestOpenSSLVerifiesToken: stock OpenSSL 3 verifies what Stamp returns,
// with the command a third party runs, and refuses it for other data.
func TestOpenSSLVerifiesToken(t *testing.T) {
	f := newFixture(t)
	tok := f.stamp(t, head)
	dir := t.TempDir()
	write(t, dir, "head.txt", head)
	write(t, dir, "token.tsr", tok)
	write(t, dir, "tsa-root.pem", f.tsa.RootPEM())
	if ok, out := openssl(t, dir, verifyCommand...); !ok || !strings.Contains(out, "Verification: OK") {
		t.Fatalf("openssl %s: ok=%v\n%s", strings.Join(verifyCommand, " "), ok, out)
	}

	// The same serial number as OpenSSL reads it.
	info, err := tsa.Verify(tok, head, f.opts())
	if err != nil {
		t.Fatal(err)
	}
	_, text := openssl(t, dir, "ts", "-reply", "-in", "token.tsr", "-text")
	for _, want := range []string{"Serial number: " + info.Serial, "Policy OID: " + info.Policy, "Status: Granted."} {
		if !strings.Contains(text, want) {
			t.Errorf("openssl ts -reply -text does not say %q:\n%s", want, text)
		}
	}

	write(t, dir, "head.txt", []byte("another head\n"))
	if ok, out := openssl(t, dir, verifyCommand...); ok || !strings.Contains(out, "Verification: FAILED") {
		t.Fatalf("openssl verified the token over other data: ok=%v\n%s", ok, out)
	}
}

// TestOpenSSLAgreesOnFaults: what Verify refuses for its certificate,
// OpenSSL refuses too.
func TestOpenSSLAgreesOnFaults(t *testing.T) {
	f := newFixture(t)
	other, err := devtsa.New("another TSA")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		faults devtsa.Faults
		root   []byte
		reason string // OpenSSL 3.0's
	}{
		{"expired TSA certificate", devtsa.Faults{ExpiredCert: true}, nil, "certificate has expired"},
		{"no EKU", devtsa.Faults{NoEKU: true}, nil, "unsuitable certificate purpose"},
		{"non-critical EKU", devtsa.Faults{NonCriticalEKU: true}, nil, "unsuitable certificate purpose"},
		{"untrusted root", devtsa.Faults{}, other.RootPEM(), "unable to get local issuer certificate"},
		{"another certificate for the TSA's key", devtsa.Faults{}, nil, "signer certificate not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.faults(t, tc.faults)
			defer f.faults(t, devtsa.Faults{})
			tok := f.tsa.Respond(query(t, head, true))
			if tc.reason == "signer certificate not found" {
				tok = swapCert(t, f, tok)
			}
			root := f.tsa.RootPEM()
			if tc.root != nil {
				root = tc.root
			}
			a, _ := tsa.ParseAnchors(root)
			o := f.opts()
			o.Anchors = a
			if _, err := tsa.Verify(tok, head, o); err == nil {
				t.Fatal("Verify accepted it")
			}
			dir := t.TempDir()
			write(t, dir, "head.txt", head)
			write(t, dir, "token.tsr", tok)
			write(t, dir, "tsa-root.pem", root)
			if ok, out := openssl(t, dir, verifyCommand...); ok || !strings.Contains(out, tc.reason) {
				t.Fatalf("openssl: ok=%v, want a refusal saying %q:\n%s", ok, tc.reason, out)
			}
		})
	}
}

// TestOpenSSLQueryToDevTSA: the development TSA answers a query OpenSSL
// makes, and OpenSSL and Verify accept the reply.
func TestOpenSSLQueryToDevTSA(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	write(t, dir, "head.txt", head)
	write(t, dir, "tsa-root.pem", f.tsa.RootPEM())
	if ok, out := openssl(t, dir, "ts", "-query", "-data", "head.txt", "-sha256", "-cert", "-out", "q.tsq"); !ok {
		t.Fatalf("openssl ts -query:\n%s", out)
	}
	q, err := os.ReadFile(filepath.Join(dir, "q.tsq"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(f.srv.URL, tsa.QueryType, bytes.NewReader(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var reply bytes.Buffer
	reply.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tsa.ReplyType {
		t.Fatalf("POST: %s, %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	write(t, dir, "token.tsr", reply.Bytes())
	if ok, out := openssl(t, dir, verifyCommand...); !ok || !strings.Contains(out, "Verification: OK") {
		t.Fatalf("openssl ts -verify of the dev TSA's reply to openssl's query:\n%s", out)
	}
	// -queryfile checks the reply against the query itself, nonce included.
	if ok, out := openssl(t, dir, "ts", "-verify", "-queryfile", "q.tsq", "-in", "token.tsr", "-CAfile", "tsa-root.pem"); !ok || !strings.Contains(out, "Verification: OK") {
		t.Fatalf("openssl ts -verify -queryfile:\n%s", out)
	}
	if _, err := tsa.Verify(reply.Bytes(), head, f.opts()); err != nil {
		t.Fatal(err)
	}
}
