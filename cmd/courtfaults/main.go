// Command courtfaults is the fault suite: it runs courts of three real
// courtd processes on 127.0.0.1 (mutual TLS, every link between processes
// through a userspace proxy), puts retrying submitters and readers on
// them, injects one named fault at a time, heals it, and checks that
// every acknowledged submission is on every node exactly once, that
// roots agree, that every receipt verifies offline, that no node signed
// two heads of one size with different roots, and that the history of
// submissions and reads is linearizable (porcupine, per request ID and
// per index). See docs/reliability.md.
//
//	go run ./cmd/courtfaults                      every fault, the long plan
//	go run ./cmd/courtfaults -faults leader-kill,link-loss -short
//	go run ./cmd/courtfaults -out docs/reliability.md   results into the doc's table
//
// Exit status: 0 if every fault run passed (or was skipped), 1 if any
// failed, 2 on a bad command line.
//
// `go test ./cmd/courtfaults` runs the short plan over the faults listed in
// shortFaults; COURTFAULTS=name,name selects others (or "all").
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"
)

func main() {
	var (
		names = flag.String("faults", "all", "comma-separated fault names, or all")
		short = flag.Bool("short", false, "the short plan (8 submitters, 4 s faults) instead of the long one")
		out   = flag.String("out", "", "write the results table into this markdown file, between its results markers")
		dir   = flag.String("dir", "", "working directory (default: a new temporary one)")
		keep  = flag.Bool("keep", false, "keep every lab's logs and data, not only failed ones'")
		list  = flag.Bool("list", false, "list the faults and exit")
		runs  = flag.Int("repeat", 1, "run each fault this many times (some outcomes depend on timing)")
	)
	flag.Parse()
	if *list {
		for _, f := range faults {
			fmt.Printf("%-26s %s\n", f.name, f.what)
		}
		return
	}
	chosen, err := selectFaults(*names)
	if err != nil {
		fmt.Fprintln(os.Stderr, "courtfaults:", err)
		os.Exit(2)
	}
	p := longPlan
	if *short {
		p = shortPlan
	}
	p.keep = *keep
	if *dir == "" {
		if *dir, err = os.MkdirTemp("", "courtfaults"); err != nil {
			fmt.Fprintln(os.Stderr, "courtfaults:", err)
			os.Exit(1)
		}
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	bin, err := buildCourtd(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "courtfaults:", err)
		os.Exit(1)
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
	}
	var results []result
	failed := false
	for _, f := range chosen {
		for i := 1; i <= *runs && ctx.Err() == nil; i++ {
			logf("%s: %s", f.name, f.what)
			r := runFault(ctx, fmt.Sprintf("%s/%s-%d", *dir, f.name, i), bin, f, p, logf)
			results = append(results, r)
			failed = failed || (r.skipped == "" && !r.ok())
		}
	}
	table := resultsTable(results, p, strings.Join(os.Args[1:], " "))
	fmt.Print(table)
	if *out != "" {
		if err := writeResults(*out, table); err != nil {
			fmt.Fprintln(os.Stderr, "courtfaults:", err)
			os.Exit(1)
		}
	}
	if failed {
		os.Exit(1)
	}
}

// selectFaults parses a list of names ("all" for every fault).
func selectFaults(names string) ([]fault, error) {
	if names == "all" || names == "" {
		return faults, nil
	}
	var out []fault
	for _, n := range strings.Split(names, ",") {
		f, ok := faultByName(strings.TrimSpace(n))
		if !ok {
			return nil, fmt.Errorf("no fault %q (-list lists them)", n)
		}
		out = append(out, f)
	}
	return out, nil
}
