package main

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/sm2"
)

// One convention for every command: text by default, one JSON document
// with --json (times in RFC 3339); a wrong command line exits 2.
func TestOutputConvention(t *testing.T) {
	c := startOneNodeCourt(t, []byte("seed"))
	srv := []string{"--server", c.addr, "--trust", c.trust}
	fp := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		token string
		args  []string
	}{
		{"tok-judge", []string{"get", c.evidenceID}},
		{"tok-judge", []string{"lookup", fp}},
		{"tok-judge", []string{"head"}},
		{"tok-judge", []string{"proof", "inclusion", "--index", "0"}},
		{"tok-judge", []string{"proof", "consistency", "--first", "1"}},
		{"tok-judge", []string{"cert", "get", c.evidenceID}},
		{"tok-admin", []string{"cluster", "status"}},
		{"tok-admin", []string{"platform", "list"}},
		{"tok-admin", []string{"sync", "status"}},
		{"tok-admin", []string{"alarms"}},
		{"tok-admin", []string{"audit", "--limit", "5"}},
	} {
		name := strings.Join(tc.args[:min(2, len(tc.args))], " ")
		var text, js string
		// Reads are answered by the node from what it has applied.
		eventually(t, 10*time.Second, name, func() error {
			var err error
			if text, _, err = as(t, tc.token, append(tc.args, srv...)...); err != nil {
				return err
			}
			js, _, err = as(t, tc.token, append(tc.args, append(srv, "--json")...)...)
			return err
		})
		var v any
		if err := json.Unmarshal([]byte(js), &v); err != nil {
			t.Errorf("%s --json is not one JSON document: %v\n%s", name, err, js)
		}
		if json.Unmarshal([]byte(text), &v) == nil || strings.TrimSpace(text) == "" {
			t.Errorf("%s prints JSON (or nothing) without --json:\n%s", name, text)
		}
		if strings.Contains(js, `"seconds"`) || strings.Contains(text, "seconds:") {
			t.Errorf("%s prints a time as seconds and nanos:\n%s%s", name, text, js)
		}
	}

	for _, args := range [][]string{
		{"no-such-command"},
		{"head", "--no-such-flag"},
		{"get"},
		{"get", "a", "b"},
		{"submit", "--trust", c.trust, "x"}, // --platform and --key missing
		{"lookup", "not-a-fingerprint"},
		{"audit", "--since", "yesterday"},
		{"cert", "verify", "c.json"}, // no --trust
	} {
		t.Setenv("EVIDENCECTL_TRUST", "")
		_, _, err := as(t, "tok-judge", append(args, "--server", c.addr)...)
		if code, _ := exitCode(err); code != exitUsage {
			t.Errorf("%v: exit %d (%v), want %d", args, code, err, exitUsage)
		}
	}
}

// platform register and revoke print the platform and its new state, and
// register says how to issue its credentials; list prints times in RFC
// 3339; audit shows who did it.
func TestPlatformCommandsAndAudit(t *testing.T) {
	c := startOneNodeCourt(t, []byte("seed"))
	srv := []string{"--server", c.addr}
	k, _ := sm2.GenerateKey()
	pub := filepath.Join(t.TempDir(), "p.pub.pem")
	mkFile(t, pub, string(k.Public().MarshalPEM()))

	out, _, err := as(t, "tok-admin", append([]string{"platform", "register", "notary.example", "--public-key", pub}, srv...)...)
	if err != nil || !strings.Contains(out, "notary.example") || !strings.Contains(out, "active") ||
		!strings.Contains(out, "courtd devca --dir PKI_DIR platform/notary.example") || !strings.Contains(out, "courtd token platform notary.example") {
		t.Fatalf("platform register: %v\n%s", err, out)
	}
	out, _, err = as(t, "tok-admin", append([]string{"platform", "revoke", "notary.example", "--json"}, srv...)...)
	var p struct {
		PlatformID string `json:"platform_id"`
		Revoked    bool   `json:"revoked"`
		RevokedAt  string `json:"revoked_at"`
	}
	if err != nil || json.Unmarshal([]byte(out), &p) != nil || p.PlatformID != "notary.example" || !p.Revoked {
		t.Fatalf("platform revoke --json: %v\n%s", err, out)
	}
	if _, err := time.Parse(time.RFC3339, p.RevokedAt); err != nil {
		t.Errorf("revoked_at %q is not RFC 3339", p.RevokedAt)
	}
	out, _, err = as(t, "tok-admin", append([]string{"platform", "list"}, srv...)...)
	if err != nil || !strings.Contains(out, "PLATFORM") || !strings.Contains(out, "revoked") {
		t.Fatalf("platform list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(line); len(f) >= 3 {
			if _, err := time.Parse(time.RFC3339, f[2]); err != nil {
				t.Errorf("platform list: registered %q is not RFC 3339", f[2])
			}
		}
	}

	// The audit log holds the judge's read of the evidence (audit records
	// are flushed to the log a moment after the call).
	if _, _, err := as(t, "tok-judge", append([]string{"get", c.evidenceID, "--trust", c.trust}, srv...)...); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the judge's read in the audit log", func() error {
		out, _, err := as(t, "tok-admin", append([]string{"audit", "--caller", "judge-wang", "--method", "GetEvidence", "--evidence", c.evidenceID, "--since", "1h", "--json"}, srv...)...)
		if err != nil {
			return err
		}
		var page struct {
			Records []struct{ Caller, Method, Target, Time string }
		}
		if err := json.Unmarshal([]byte(out), &page); err != nil {
			return err
		}
		if len(page.Records) == 0 {
			return errors.New("no record yet")
		}
		for _, r := range page.Records {
			if r.Caller != "judge-wang" || !strings.HasSuffix(r.Method, "/GetEvidence") || !strings.Contains(r.Target, c.evidenceID) {
				t.Fatalf("audit filters let through %+v", r)
			}
		}
		return nil
	})
	out, _, err = as(t, "tok-admin", append([]string{"audit", "--until", "2000-01-01T00:00:00Z"}, srv...)...)
	if err != nil || !strings.Contains(out, "no audit record matches") {
		t.Fatalf("audit --until long ago: %v\n%s", err, out)
	}
}
