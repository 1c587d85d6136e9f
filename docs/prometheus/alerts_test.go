// Package prometheus_test checks the alert rules shipped in docs/prometheus
// with promtool (Debian's prometheus package; .ci/run installs it).
package prometheus_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// The rules parse, and each alert fires and stays quiet as
// alerts_test.yml says. Without promtool the test fails: CI installs it.
func TestAlertRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install Debian's prometheus package (apt-get install prometheus), as .ci/run does")
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// Every courtledger metric an alert uses is in docs/operations.md's table,
// which court/metrics_test.go checks against a running node.
func TestAlertMetricsExist(t *testing.T) {
	rules, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../operations.md")
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`courtledger_[a-z_]+`).FindAllString(string(rules), -1)
	if len(used) == 0 {
		t.Fatal("alerts.yml uses no courtledger metric")
	}
	for _, name := range used {
		if !strings.Contains(string(doc), "| `"+name+"` |") {
			t.Errorf("alerts.yml uses %s, which docs/operations.md does not list", name)
		}
	}
}
