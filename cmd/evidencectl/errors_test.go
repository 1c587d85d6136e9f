package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Every mistake a person is likely to make gets a message that names it
// and the fix, and a call that never reached a court never says "court
// says". One table, against a real network (TLS, as deployed).
func TestErrorsNameTheFix(t *testing.T) {
	nw := startNetwork(t)
	hz := nw.courts[hzCourt]
	grpcAddr, httpAddr := hz.peers[0].GRPCAddr, hz.nodes[0].HTTPAddr()
	dir := t.TempDir()
	file := filepath.Join(dir, "f.txt")
	mkFile(t, file, "a file")
	out, errs, err := as(t, tokPlatform, "submit", file, "--server", grpcAddr, "--platform", netPlatform, "--key", nw.platformKey, "--json")
	var res submitResult
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || len(res.Filed) != 1 {
		t.Fatalf("submit: %v\n%s%s", err, out, errs)
	}
	id := res.Filed[0].EvidenceID
	pdf := filepath.Join(dir, "cert.pdf")
	eventually(t, 10*time.Second, "cert get --out-pdf", func() error { // node 0 may be a follower a moment behind
		_, _, err := as(t, tokJudge, "cert", "get", id, "--server", grpcAddr, "--out-pdf", pdf)
		return err
	})
	trust, _ := os.ReadFile(nw.trust)
	pasted := filepath.Join(dir, "pasted-trust.txt")
	mkFile(t, pasted, "trust line:  "+strings.ReplaceAll(strings.TrimSpace(string(trust)), "\n", "\ntrust line:  ")+"\n")
	garbled := filepath.Join(dir, "garbled-trust.txt")
	mkFile(t, garbled, "# courts\nhangzhou.court.example/evidence+1234\n")
	dead := loopback(t)

	for _, tc := range []struct {
		name string
		args []string
		exit int      // 0: it works
		want []string // in the error
	}{
		{"REST port given as --server", []string{"head", "--server", httpAddr}, exitError,
			[]string{"REST/HTTPS port", "use the node's gRPC port"}},
		{"https:// URL as --server", []string{"head", "--server", "https://" + grpcAddr + "/"}, 0, nil},
		{"not HOST:PORT", []string{"head", "--server", "hangzhou-node-1"}, exitUsage, []string{"--server", "HOST:PORT"}},
		{"trust lines pasted with their label", []string{"head", "--court", hzCourt, "--server", grpcAddr, "--trust", pasted}, 0, nil},
		{"a line that is not a key", []string{"head", "--server", grpcAddr, "--trust", garbled}, exitError,
			[]string{"line 2 is not a court key", "courtd keygen"}},
		{"a PDF to cert verify", []string{"cert", "verify", pdf, "--file", file}, 0, nil},
		{"no node answers", []string{"head", "--server", dead, "--timeout", "3s"}, exitError, []string{"could not reach the court", "check --server"}},
		{"the court's NotFound", []string{"get", "0123456789abcdef0123456789abcdef", "--server", grpcAddr}, exitError,
			[]string{"court says NotFound"}},
		{"a proof past the log", []string{"proof", "inclusion", "--index", "99999", "--server", grpcAddr}, exitError, []string{"court says"}},
		{"cert get's old --json FILE", []string{"cert", "get", id, "--json", filepath.Join(dir, "c.json"), "--server", grpcAddr}, exitUsage,
			[]string{"--out-json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, err := as(t, tokJudge, tc.args...)
			code, _ := exitCode(err)
			if code != tc.exit {
				t.Fatalf("exit %d (%v), want %d\n%s%s", code, err, tc.exit, out, errs)
			}
			if err == nil {
				return
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			if strings.Contains(msg, "consensus:") || strings.Contains(msg, "rpc error:") {
				t.Errorf("error %q leaks internal wording", msg)
			}
			if code == exitError && !strings.Contains(strings.Join(tc.want, " "), "court says") && strings.Contains(msg, "court says") {
				t.Errorf("error %q says the court said it, but no court was reached", msg)
			}
			fmt.Fprintln(os.Stderr, tc.name+": "+msg)
		})
	}
}

// describe's wording, case by case: a court's answer is "court says", with
// internal package names dropped; an error of this side never is.
func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		err       error
		want, not string
	}{
		{status.Error(codes.PermissionDenied, "consensus: platform not registered or revoked"),
			"court says PermissionDenied: platform not registered or revoked", "consensus"},
		{status.Error(codes.NotFound, "court: unknown court: nowhere"), "court says NotFound: unknown court: nowhere", "court: unknown"},
		{status.Error(codes.Unavailable, "client: no node is ready: 127.0.0.1:1: no answer in 2s: connection error: desc = \"transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused\""),
			"could not reach the court", "court says"},
		{fmt.Errorf("client: 8 attempts failed: %w", status.Error(codes.Unavailable, "connection error: desc = \"transport: authentication handshake failed: credentials: cannot check peer: missing selected ALPN property. If you upgraded from a grpc-go version earlier than 1.67, ...\"")),
			"REST/HTTPS port", "If you upgraded"},
		{status.Error(codes.Unavailable, "connection error: desc = \"transport: authentication handshake failed: tls: first record does not look like a TLS handshake\""),
			"--insecure", "court says"},
		{status.Error(codes.Unavailable, "connection error: desc = \"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority\""),
			"--ca", "court says"},
		{status.Error(codes.Unavailable, "not ready: ledger behind"), "court says Unavailable: not ready: ledger behind", "consensus"},
		{fmt.Errorf("%w (last error: %v)", context.DeadlineExceeded, "rpc error: code = Unavailable desc = not leader"), "no answer within --timeout", "rpc error"},
	} {
		got := describe(tc.err).Error()
		if !strings.Contains(got, tc.want) || strings.Contains(got, tc.not) {
			t.Errorf("describe(%v)\n = %q\nwant it to say %q and not %q", tc.err, got, tc.want, tc.not)
		}
	}
}
