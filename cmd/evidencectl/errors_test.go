package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
