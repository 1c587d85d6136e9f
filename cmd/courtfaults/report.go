package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

const (
	beginResults = "<!-- courtfaults results: begin -->"
	endResults   = "<!-- courtfaults results: end -->"
)

// resultsTable is the markdown table of a run, with how it was made.
func resultsTable(rs []result, p plan, args string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s, `go run ./cmd/courtfaults %s`, %d CPUs, %d submitters, %d readers, faults held %v.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), args, runtime.NumCPU(), p.load.submitters, p.load.readers, p.hold)
	b.WriteString("| fault | verdict | acknowledged | lost | doubled | refused | unacked at end | longest write stall | recovery | linearizable | what was seen |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n")
	for _, r := range rs {
		verdict := "pass"
		switch {
		case r.skipped != "":
			verdict = "skipped"
		case !r.ok():
			verdict = "**FAIL**"
		}
		rec := "not recovered"
		if r.recovery >= 0 {
			rec = r.recovery.Round(10 * time.Millisecond).String()
		}
		var seen []string
		for _, c := range []struct {
			n    int
			what string
		}{{r.moved, "moved"}, {r.forks, "forks"}, {r.badReceipts, "bad receipts"}, {r.badHeads, "heads not verifying"},
			{r.regressions, "read regressions"}, {r.stale, "stale follower reads"}} {
			if c.n > 0 {
				seen = append(seen, fmt.Sprintf("%s %d", c.what, c.n))
			}
		}
		seen = append(seen, r.problems...)
		seen = append(seen, r.notes...)
		probs := strings.Join(seen, "; ")
		if r.skipped != "" {
			probs = r.skipped
		}
		probs = strings.ReplaceAll(probs, "|", "\\|")
		if len(probs) > 600 {
			probs = probs[:600] + "…"
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d | %v | %s | %s | %s |\n", r.name, verdict, r.acked, r.lost, r.doubled,
			r.refused, r.unacked, r.stall.Round(10*time.Millisecond), rec, r.linearized, probs)
	}
	return b.String()
}

// writeResults puts table between the results markers of the markdown
// file at path.
func writeResults(path, table string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	i, j := strings.Index(s, beginResults), strings.Index(s, endResults)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %q ... %q markers", path, beginResults, endResults)
	}
	s = s[:i+len(beginResults)] + "\n" + table + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}
