package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/courtledger/courtledger/bench"
)

// output is the shared --dir and --json handling.
type output struct {
	dir      string
	json     bool
	keep     bool
	command  string
	workDir  string
	cleanup  func(failed bool)
	Report   report
	problems bool
}

type report struct {
	Command string       `json:"command"`
	Machine machine      `json:"machine"`
	Started time.Time    `json:"started"`
	Rows    []row        `json:"rows,omitempty"`
	Ratios  []ratio      `json:"ratios,omitempty"`
	Growth  []growthRow  `json:"growth,omitempty"`
	Flood   *floodResult `json:"flood,omitempty"`
}

type machine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Go         string `json:"go"`
	Etcd       string `json:"etcd,omitempty"`
}

// row is one level of one system.
type row struct {
	System        string  `json:"system"`
	Clients       int     `json:"clients"`
	PerSecond     float64 `json:"per_second"`
	P50ms         float64 `json:"p50_ms"`
	P99ms         float64 `json:"p99_ms"`
	MaxMs         float64 `json:"max_ms"`
	Acked         int     `json:"acked"`
	Errors        int     `json:"errors"`
	SlowestSecond int     `json:"slowest_second"` // fewest acknowledgements in one second of the window
	WindowSeconds float64 `json:"window_seconds"`
	Truncated     bool    `json:"truncated,omitempty"`
	Verified      int     `json:"receipts_verified,omitempty"`
	VerifyFailed  int     `json:"receipts_failed,omitempty"`
	FollowerLagMs float64 `json:"follower_lag_ms,omitempty"`
	// IntegrationLagMs is, for Tessera, how long after the window its
	// published checkpoint took to cover every entry acknowledged: until
	// then an acknowledged entry has an index but no proof.
	IntegrationLagMs float64 `json:"integration_lag_ms,omitempty"`
	PerRaftEntry     float64 `json:"submissions_per_raft_entry,omitempty"` // the mean batch, warm-up included
	// DiskBytesPerSub is what every node (member) together wrote to storage
	// per submission recorded (put), warm-up included: write_bytes of
	// /proc/PID/io.
	DiskBytesPerSub float64 `json:"disk_bytes_per_submission,omitempty"`
	// CPUusPerOp is the CPU time (utime+stime) of the system's processes
	// over the measured window per operation acknowledged in it: all
	// nodes or members together; for the in-process court, benchcourt's
	// whole process, its clients included. ClientCPUusPerOp is
	// benchcourt's own, when the system runs apart from it.
	CPUusPerOp       float64 `json:"cpu_us_per_op,omitempty"`
	ClientCPUusPerOp float64 `json:"client_cpu_us_per_op,omitempty"`
	// WindowDiskBytesPerOp is write_bytes of the system's processes over
	// the measured window per operation acknowledged in it;
	// DiskUnreadable says /proc/PID/io could not be read (then it is not
	// zero but unknown).
	WindowDiskBytesPerOp float64  `json:"window_disk_bytes_per_op,omitempty"`
	DiskUnreadable       bool     `json:"disk_unreadable,omitempty"`
	ResourceNotes        []string `json:"resource_notes,omitempty"`
	// Deployment is how the court ran: "in-process" or "processes"; Batch
	// the entries per call when it was driven with SubmitBatch.
	Deployment   string   `json:"deployment,omitempty"`
	Batch        int      `json:"batch,omitempty"`
	ErrorSamples []string `json:"error_samples,omitempty"`
	Problems     []string `json:"problems,omitempty"`
}

func rowOf(system string, r *bench.Result) row {
	out := row{
		System: system, Clients: r.Clients, PerSecond: r.Rate(),
		P50ms: ms(r.Percentile(0.50)), P99ms: ms(r.Percentile(0.99)), MaxMs: ms(r.Max()),
		Acked: r.Acked, Errors: r.Errors, SlowestSecond: r.SlowestSecond,
		WindowSeconds: r.Window.Seconds(), Truncated: r.Truncated, ErrorSamples: r.ErrorSamples,
	}
	if r.Truncated {
		out.Problems = append(out.Problems, "ran out of pre-signed requests before the window ended; raise --max-rate")
	}
	if r.Errors > 0 {
		out.Problems = append(out.Problems, fmt.Sprintf("%d requests failed", r.Errors))
	}
	return out
}

// ratio is court/etcd, and court/Tessera if it ran, at one level.
type ratio struct {
	Clients      int     `json:"clients"`
	Court        float64 `json:"court_per_second"`
	Etcd         float64 `json:"etcd_per_second"`
	Ratio        float64 `json:"court_over_etcd"`
	CourtP99ms   float64 `json:"court_p99_ms"`
	EtcdP99ms    float64 `json:"etcd_p99_ms"`
	Tessera      float64 `json:"tessera_per_second,omitempty"`
	RatioTessera float64 `json:"court_over_tessera,omitempty"`
	TesseraP99ms float64 `json:"tessera_p99_ms,omitempty"`
}

func addOutputFlags(f *pflag.FlagSet, o *output) {
	f.StringVar(&o.dir, "dir", "", "data and logs directory (default: a temporary one, removed afterwards unless the run fails)")
	f.BoolVar(&o.json, "json", false, "print the report as JSON instead of a table")
}

// start makes the working directory and notes the machine.
func (o *output) start(cmd *cobra.Command, withEtcd string) error {
	o.command = strings.Join(os.Args, " ")
	o.Report = report{Command: o.command, Started: time.Now().UTC(),
		Machine: machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version()}}
	if withEtcd != "" {
		if v, err := exec.CommandContext(cmd.Context(), withEtcd, "--version").Output(); err == nil {
			o.Report.Machine.Etcd = strings.SplitN(strings.TrimSpace(string(v)), "\n", 2)[0]
		}
	}
	if o.dir != "" {
		if err := os.MkdirAll(o.dir, 0o700); err != nil {
			return err
		}
		o.workDir, o.cleanup = o.dir, func(bool) {}
		return nil
	}
	d, err := os.MkdirTemp("", "benchcourt-")
	if err != nil {
		return err
	}
	o.workDir = d
	o.cleanup = func(failed bool) {
		if failed {
			progress("kept %s for inspection (logs: court.log, etcd/m*.log)", d)
			return
		}
		os.RemoveAll(d)
	}
	return nil
}

// finish prints the report and removes a temporary directory; err is the
// run's outcome.
func (o *output) finish(err error) error {
	for _, r := range o.Report.Rows {
		if len(r.Problems) > 0 {
			o.problems = true
		}
	}
	if o.cleanup != nil {
		// An interrupted run leaves nothing worth keeping; a failed one does.
		o.cleanup((err != nil && !errors.Is(err, context.Canceled)) || o.problems)
	}
	if o.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(o.Report); jerr != nil && err == nil {
			err = jerr
		}
	} else {
		o.printTables(os.Stdout)
	}
	if err == nil && o.problems {
		err = errProblems
	}
	return err
}

func (o *output) printTables(w io.Writer) {
	m := o.Report.Machine
	fmt.Fprintf(w, "# %s\n# %d CPUs, GOMAXPROCS %d, %s", o.command, m.CPUs, m.GOMAXPROCS, m.Go)
	if m.Etcd != "" {
		fmt.Fprintf(w, ", %s", m.Etcd)
	}
	fmt.Fprintln(w)
	if len(o.Report.Rows) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "system\tclients\tper second\tp50 ms\tp99 ms\tmax ms\tacked\terrors\tslowest 1s\tper batch\tdisk B/sub\tCPU µs/op\tclient CPU µs/op\tdisk B/op\treceipts ok\tproof after ms\t")
		for _, r := range o.Report.Rows {
			receipts, batch, disk, proof := "-", "-", fmt.Sprintf("%.0f", r.DiskBytesPerSub), "-"
			cpu, clientCPU, wdisk := fmtRes(r.CPUusPerOp), fmtRes(r.ClientCPUusPerOp), fmtRes(r.WindowDiskBytesPerOp)
			if r.DiskUnreadable {
				wdisk = "unreadable"
			}
			switch r.System {
			case "court", "court-procs":
				receipts = fmt.Sprintf("%d/%d", r.Verified-r.VerifyFailed, r.Verified)
				batch = fmt.Sprintf("%.1f", r.PerRaftEntry)
				proof = "0"
			case "tessera":
				proof = fmt.Sprintf("%.0f", r.IntegrationLagMs)
			}
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.System, r.Clients, r.PerSecond,
				r.P50ms, r.P99ms, r.MaxMs, r.Acked, r.Errors, r.SlowestSecond, batch, disk, cpu, clientCPU, wdisk, receipts, proof)
		}
		tw.Flush()
		for _, r := range o.Report.Rows {
			for _, p := range r.Problems {
				fmt.Fprintf(w, "problem: %s at %d clients: %s\n", r.System, r.Clients, p)
			}
			for _, n := range r.ResourceNotes {
				fmt.Fprintf(w, "note: %s at %d clients: %s\n", r.System, r.Clients, n)
			}
			for _, e := range r.ErrorSamples {
				fmt.Fprintf(w, "error: %s at %d clients: %s\n", r.System, r.Clients, e)
			}
		}
	}
	if len(o.Report.Ratios) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		withTessera := o.Report.Ratios[0].Tessera > 0
		head := "clients\tcourt/s\tetcd/s\tcourt/etcd\tcourt p99 ms\tetcd p99 ms\t"
		if withTessera {
			head += "tessera/s\tcourt/tessera\ttessera p99 ms\t"
		}
		fmt.Fprintln(tw, head)
		for _, r := range o.Report.Ratios {
			fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t", r.Clients, r.Court, r.Etcd, r.Ratio, r.CourtP99ms, r.EtcdP99ms)
			if withTessera {
				fmt.Fprintf(tw, "%.0f\t%.2f\t%.2f\t", r.Tessera, r.RatioTessera, r.TesseraP99ms)
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
	}
	if o.Report.Flood != nil {
		printFlood(w, o.Report.Flood)
	}
	if len(o.Report.Growth) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "entries\tbuild s\tbuild/s\tproof hashes\tproof p50 µs\tproof p99 µs\tRSS MiB\tanon MiB\tfile MiB\theap MiB\tledger MiB\traft.db MiB\tdisk B/entry\trestart s\t")
		for _, g := range o.Report.Growth {
			restart := "-"
			if g.RestartSeconds > 0 {
				restart = fmt.Sprintf("%.1f", g.RestartSeconds)
			}
			fmt.Fprintf(tw, "%d\t%.1f\t%.0f\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t%s\t\n", g.Size, g.BuildSeconds, g.BuildRate,
				g.ProofLen, g.ProofP50us, g.ProofP99us, g.RSSMiB, g.AnonMiB, g.FileMiB, g.HeapMiB, g.LedgerMiB, g.RaftLogMiB, g.DiskPerEntry, restart)
		}
		tw.Flush()
		for _, g := range o.Report.Growth {
			if !g.Reached {
				fmt.Fprintf(w, "note: build time ran out at %d of %d entries\n", g.Size, g.Target)
			}
			if g.BuildErrors > 0 {
				fmt.Fprintf(w, "problem: %d submissions failed while building to %d\n", g.BuildErrors, g.Target)
			}
		}
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// fmtRes prints a resource figure, "-" where none was taken.
func fmtRes(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}
