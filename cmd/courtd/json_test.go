package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --json means one JSON document on every courtd command that prints a
// result, as on evidencectl; the two that print none refuse it as a usage
// error (exit 2) rather than ignore it (issue 13, item 6).
func TestCourtdJSON(t *testing.T) {
	dir := t.TempDir()
	out, err := courtd(t, "keygen", "--json", "--court", "hangzhou.court.example/evidence", filepath.Join(dir, "court"))
	var key map[string]string
	if err != nil || json.Unmarshal([]byte(out), &key) != nil || key["private_key"] != filepath.Join(dir, "court.key.pem") ||
		!strings.HasPrefix(key["trust_line"], "hangzhou.court.example/evidence+") {
		t.Fatalf("keygen --json: %v\n%s", err, out)
	}
	out, err = courtd(t, "token", "--json", "judge", "wang")
	var tok map[string]string
	if err != nil || json.Unmarshal([]byte(out), &tok) != nil || len(tok["token"]) != 64 || !strings.Contains(tok["config"], tok["sha256"]) {
		t.Fatalf("token --json: %v\n%s", err, out)
	}
	pki := filepath.Join(dir, "pki")
	out, err = courtd(t, "devca", "--json", "--dir", pki, "judge/wang", "platform/esign.example")
	var ca struct {
		CA           string `json:"ca"`
		Certificates []struct {
			Identity string `json:"identity"`
			File     string `json:"file"`
		} `json:"certificates"`
	}
	if err != nil || json.Unmarshal([]byte(out), &ca) != nil || len(ca.Certificates) != 2 || ca.Certificates[1].Identity != "platform/esign.example" {
		t.Fatalf("devca --json: %v\n%s", err, out)
	}
	for _, c := range ca.Certificates {
		if _, err := os.Stat(c.File); err != nil {
			t.Errorf("devca --json names %s: %v", c.File, err)
		}
	}
	demoDir := filepath.Join(dir, "demo")
	for _, args := range [][]string{{"demo", "--json", "--dir", demoDir}, {"run", "--json"}} {
		if _, err := courtd(t, args...); !errors.Is(err, errUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	if _, err := os.Stat(demoDir); !os.IsNotExist(err) {
		t.Errorf("demo --json wrote %s before refusing", demoDir)
	}
}
