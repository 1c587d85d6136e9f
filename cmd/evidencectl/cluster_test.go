package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/courtledger/courtledger/internal/clusterstatus"
)

// cluster status shows every node of the court, each as it sees itself,
// and a stopped node as a row that says it could not be reached.
func TestClusterStatusTable(t *testing.T) {
	nw := startNetwork(t)
	hz := nw.courts[hzCourt]
	status := func() (clusterstatus.View, string) {
		t.Helper()
		out, errs, err := as(t, tokAdmin, "cluster", "status", "--json", "--server", hz.grpc())
		if err != nil {
			t.Fatalf("cluster status: %v\n%s", err, errs)
		}
		var v clusterstatus.View
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("--json: %v\n%s", err, out)
		}
		return v, out
	}
	// Stop a follower, so that the court keeps its leader.
	v, out := status()
	for deadline := time.Now().Add(20 * time.Second); v.Leader == "" && time.Now().Before(deadline); v, out = status() {
		time.Sleep(100 * time.Millisecond)
	}
	stopped := ""
	for i, p := range hz.peers {
		if p.NodeID != v.Leader && stopped == "" {
			stopped = p.NodeID
			hz.stop(i)
		}
	}
	v, out = status()
	if len(v.Nodes) != 3 || v.Court != hz.id || v.Leader == "" {
		t.Fatalf("court %q leader %q with %d rows, want %s, a leader, 3 rows:\n%s", v.Court, v.Leader, len(v.Nodes), hz.id, out)
	}
	leaders := 0
	for _, n := range v.Nodes {
		if n.Node == stopped {
			if !strings.Contains(n.Error, "unreachable") || n.Ready {
				t.Errorf("the stopped node %s: %+v, want an unreachable row", stopped, n)
			}
			continue
		}
		if n.Error != "" || !n.Ready || n.Term == 0 || n.AppliedIndex == 0 || n.CommitIndex < n.AppliedIndex ||
			n.LedgerBytes == 0 || n.DiskFreeBytes <= 0 || n.Endpoint == "" {
			t.Errorf("running node %s: %+v", n.Node, n)
		}
		if n.Role == "Leader" {
			leaders++
		}
	}
	if leaders != 1 {
		t.Errorf("%d rows say Leader, want 1:\n%s", leaders, out)
	}

	text, _, err := as(t, tokAdmin, "cluster", "status", "--server", hz.grpc())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NODE", "ROLE", "TERM", "APPLIED", "COMMIT", "HEAD AGE", "DISK FREE", "READY", stopped, "unreachable"} {
		if !strings.Contains(text, want) {
			t.Errorf("the table does not show %q:\n%s", want, text)
		}
	}
	t.Logf("\n%s", text)
}
