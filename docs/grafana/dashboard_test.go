// Package grafana_test checks the Grafana dashboard shipped in docs/grafana.
package grafana_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

type dashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// The dashboard is JSON; every panel has a query; each query parses as
// PromQL (promtool checks it as a recording rule: Grafana itself is not
// available here) and uses only metrics docs/operations.md lists, which
// court/metrics_test.go checks against a running node.
func TestDashboard(t *testing.T) {
	raw, err := os.ReadFile("courtledger.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("courtledger.json: %v", err)
	}
	doc, err := os.ReadFile("../operations.md")
	if err != nil {
		t.Fatal(err)
	}
	metric := regexp.MustCompile(`\b(courtledger|grpc_server)_[a-z_]+`)
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, p := range d.Panels {
		if len(p.Targets) == 0 || p.Targets[0].Expr == "" {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			q, _ := json.Marshal(tg.Expr)
			fmt.Fprintf(&rules, "      - record: dashboard:panel%d\n        expr: %s\n", i, q)
			for _, name := range metric.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
				if !strings.Contains(string(doc), "| `"+base+"` |") {
					t.Errorf("panel %q uses %s, which docs/operations.md does not list", p.Title, name)
				}
			}
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install Debian's prometheus package (apt-get install prometheus), as .ci/run does")
	}
	file := filepath.Join(t.TempDir(), "dashboard.yml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Errorf("a dashboard query does not parse: %v\n%s", err, out)
	}
}
