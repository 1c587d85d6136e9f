package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/internal/clusterstatus"
)

// courtdStatus runs `courtd status` in this process.
func courtdStatus(args ...string) (string, error) {
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"status"}, args...))
	err := root.Execute()
	return out.String(), err
}

// courtd status, run with a node's node.yaml against a court of three
// courtd processes: the node's own certificate is refused with a message
// naming the credential to pass; with an admin's certificate (or token)
// every node is a row, as it sees itself; a stopped node is a row saying
// it is unreachable.
func TestStatusCommand(t *testing.T) {
	ec := startCourtProcesses(t)
	cfg := ec.nodes[0].config

	_, err := courtdStatus("--config", cfg)
	if err == nil || !strings.Contains(err.Error(), "node's own certificate") || !strings.Contains(err.Error(), "--cert") ||
		!strings.Contains(err.Error(), "PermissionDenied") {
		t.Errorf("with the node's own certificate: %v, want a refusal that names --cert", err)
	}
	if _, err := courtdStatus(); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("without --config: %v", err)
	}

	admin := ec.certOf[access.RoleAdmin]
	var v clusterstatus.View
	waitUntil(t, "a leader and three ready rows", func() bool {
		out, err := courtdStatus("--config", cfg, "--cert", admin, "--json")
		if err != nil {
			t.Fatalf("status --json: %v\n%s", err, out)
		}
		v = clusterstatus.View{}
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("--json: %v\n%s", err, out)
		}
		ready := 0
		for _, n := range v.Nodes {
			if n.Ready {
				ready++
			}
		}
		return v.Leader != "" && ready == 3
	})
	if v.Court != ec.courtID || v.Asked != ec.nodes[0].id || len(v.Nodes) != 3 {
		t.Fatalf("%+v", v)
	}
	leaders := 0
	for _, n := range v.Nodes {
		if n.Error != "" || n.Term == 0 || n.AppliedIndex == 0 || n.CommitIndex < n.AppliedIndex || n.LedgerBytes == 0 || n.DiskFreeBytes <= 0 {
			t.Errorf("row %+v", n)
		}
		if n.Role == "Leader" {
			leaders++
		}
	}
	if leaders != 1 {
		t.Errorf("%d leaders: %+v", leaders, v.Nodes)
	}

	// Credentials that cannot work are refused before any call: an empty
	// token file, a certificate and a token at once, and no token for a
	// node that serves plain text.
	empty := filepath.Join(t.TempDir(), "admin.token")
	os.WriteFile(empty, nil, 0o600)
	raw, _ := os.ReadFile(cfg)
	var plain []string
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "tls_") {
			plain = append(plain, line)
		}
	}
	plainCfg := filepath.Join(t.TempDir(), "node.yaml")
	os.WriteFile(plainCfg, []byte(strings.Join(plain, "\n")+"\ninsecure: true\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--config", cfg, "--token-file", empty}, "empty"},
		{[]string{"--config", cfg, "--token-file", empty, "--cert", admin}, "not both"},
		{[]string{"--config", plainCfg}, "--token-file"},
	} {
		if _, err := courtdStatus(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error saying %q", tc.args, err, tc.want)
		}
	}

	// A stopped follower is a row saying so.
	stopped := ""
	for _, n := range ec.nodes[1:] {
		if n.id != v.Leader {
			stopped = n.id
			n.proc.cmd.Process.Signal(syscall.SIGTERM)
			n.proc.cmd.Wait()
			break
		}
	}
	// Ask a node that stays up.
	asked := ec.nodes[0].config
	if stopped == ec.nodes[0].id {
		asked = ec.nodes[1].config
	}
	out, err := courtdStatus("--config", asked, "--cert", admin, "--node-timeout", "2s")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	for _, want := range []string{"NODE", "ROLE", "TERM", "APPLIED", "COMMIT", "HEAD AGE", "DISK FREE", "READY", "Leader", stopped + " ", "unreachable"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table does not show %q:\n%s", want, out)
		}
	}
	t.Logf("courtd status with %s stopped:\n%s", stopped, out)
}
