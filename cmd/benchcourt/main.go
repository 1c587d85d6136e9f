// Command benchcourt measures one court's ledger under load, beside etcd
// (DESIGN.md, "Peers to measure against"): etcd is the same Raft + bbolt
// write path without any of the court's work, so the ratio court/etcd at
// each concurrency says what that work costs.
//
// The commands behind docs/benchmarks.md, from the repository's root:
//
//	apt-get update && apt-get install -y etcd-server   # /usr/bin/etcd, for etcd and both
//	go build -o /tmp/benchcourt ./cmd/benchcourt
//	/tmp/benchcourt submit --clients 1,16,256 --duration 10s --nodes 3
//	/tmp/benchcourt etcd   --clients 1,16,256 --duration 10s --value-size 256
//	/tmp/benchcourt both   --clients 1,16,256 --duration 10s --value-size 256 --json > both.json
//	go install github.com/transparency-dev/tessera/cmd/conformance/posix@v1.0.4   # for tessera and all
//	/tmp/benchcourt tessera --clients 1,16,256 --duration 10s --value-size 256
//	/tmp/benchcourt all    --clients 1,16,256 --duration 10s --value-size 256 --json > all.json
//	/tmp/benchcourt growth --sizes 10000,100000,1000000 --json > growth.json
//	go build -o /tmp/courtd ./cmd/courtd   # for --court-procs and flood (else built into --dir)
//	/tmp/benchcourt both   --court-procs --courtd-bin /tmp/courtd --clients 1,16,256 --duration 5s --warmup 1s
//	/tmp/benchcourt submit --court-procs --courtd-bin /tmp/courtd --batch 64 --clients 1,16,64 --max-rate 8000
//	/tmp/benchcourt flood  --court-procs --courtd-bin /tmp/courtd [--max-pending 100000000] [--waves 3]
//
// A short trial: benchcourt both --clients 1,16 --duration 3s --warmup 1s.
//
// submit starts a court of --nodes nodes in this process on loopback TCP
// (free ports), its data under --dir (default a temporary directory,
// removed afterwards unless the run fails), with a fresh court key and
// platform key, production Raft timings and the default BatchConfig (change
// with --fast-raft, --batch-in-flight, --batch-max-entries, --batch-linger). Before each
// level it signs enough submissions that no client signs while timed (a
// level that still runs out ends its window there and says so); then each
// of the level's clients calls the leader's Submit with one submission at
// a time, as independent platform requests would, for --warmup (not
// counted) and --duration (counted). It reports acknowledged submissions
// per second, latency p50, p99 and max, errors, the slowest second, the
// mean batch (submissions per Raft entry) and the bytes all nodes wrote to
// storage per submission; and it checks afterwards that the ledger grew by
// exactly what was acknowledged, that every node caught up, and that a
// sample of receipts verifies with the court's key alone.
//
// etcd starts --members etcd processes on loopback (data and logs under
// --dir), waits until they are healthy, and drives puts of --value-size
// bytes to distinct keys the same way, through go.etcd.io/etcd/client/v3,
// one client per --clients-per-conn goroutines, to the leader (or to all
// members with --all-endpoints). The processes are stopped on every exit:
// SIGTERM, SIGKILL 5 s later, and SIGKILL from the kernel if benchcourt
// itself dies (Pdeathsig).
//
// both starts a court and an etcd cluster side by side and, at each level,
// runs the court, then etcd, then prints court/etcd. Both share the
// machine's CPUs and one disk among all their nodes. The court is called in
// process, etcd through gRPC on loopback: the client side favours the court.
//
// --court-procs (submit, both, all) runs the court as deployed instead:
// three `courtd run` processes on loopback (--courtd-bin, or built with go
// build into the work directory), mutual TLS everywhere from a development
// CA (court/devca), the benchmark's platform registered through the admin
// API, and each client goroutine calling Submit, one pre-signed submission
// at a time, through the project's Go client (api/client) with its
// defaults, which verifies every receipt; --batch N sends SubmitBatch calls
// of N instead (the row's rate is of submissions, its latency of calls).
// The client is given the leader only (--court-endpoints leader, as etcd's
// clients are) or every node (all, as a platform is; followers forward).
// Its rows are court-procs[-batchN]; the in-process rows stay "court",
// comparable with earlier runs.
//
// Every load row also gives what each acknowledged operation cost, over
// the measured window only: CPU µs/op, utime+stime of the system's
// processes (all courtd processes or etcd members; for the in-process court
// benchcourt's own, its clients included, as the output notes) from
// /proc/PID/stat; client CPU µs/op, benchcourt's own when the system runs
// apart; and disk B/op, write_bytes of /proc/PID/io ("unreadable", never 0,
// when it cannot be read). disk B/sub is the older figure, warm-up included.
//
// flood --court-procs starts the process court and sends --calls (256)
// concurrent SubmitBatch calls of --batch (64) entries, 16,384 outstanding,
// at its leader, --waves times per caller (a refused caller first waits
// the delay it was given). api/client makes one attempt per call, so each
// call is counted as acknowledged, refused with ResourceExhausted and a
// retry delay (COURT_BUSY), or failed otherwise; it reports the Raft term
// and leader before and after (GetClusterStatus through the admin API) and
// the step-downs in the nodes' logs, and checks that the ledger grew by
// exactly what was acknowledged. --max-pending sets courtd's max_pending
// (a very large value turns admission off, to show what it prevents).
//
// tessera starts Tessera's POSIX conformance log (--tessera-bin, by default
// $GOPATH/bin/posix) on loopback with a fresh checkpoint key, and drives
// its /add endpoint with entries of --value-size distinct bytes the same
// way. An add is acknowledged once the entry is sequenced, with its index;
// its proof exists only when a checkpoint covering it is published, which
// the server does asynchronously, at most once a second: after each level
// benchcourt waits for that and reports the wait ("proof after ms"). The
// server is one process, replicates nothing, checks no signature on what it
// is given and batches up to 256 entries or 1 s, so a lone client waits
// about a second per add. bench/tessera-hammer.sh measures the same server
// with Tessera's own load tool.
//
// all is both with Tessera beside them, and prints court/tessera too.
//
// growth grows a one-node court through --sizes with batches of --batch
// submissions from --submitters concurrent callers, and at each size times
// --samples inclusion proofs of random entries in the whole tree, and reads
// the process's resident memory (after a GC) and the ledger's file sizes.
// Resident memory is shown whole and split: anon (Go heap, stacks), which
// must not grow with the ledger, and file (pages of the memory-mapped bbolt
// files this process has touched), which the kernel reclaims as it needs.
// The build stops after --max-build; the last row then says how far it got.
//
// --cpuprofile PREFIX writes a CPU and a mutex profile of each measured
// window: go tool pprof benchcourt PREFIX-court-256.pprof.
//
// Every run listens on 127.0.0.1 only, stops by itself, and stops early on
// SIGINT or SIGTERM. Progress goes to stderr, the table (or --json) to stdout.
// Exit codes: 0 done; 1 an error or a problem found; 2 a wrong command line.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/courtledger/courtledger/bench"
)

var errUsage = errors.New("usage")

// errProblems ends a run that finished but found something wrong.
var errProblems = errors.New("the run found problems; they are listed with the results")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = errors.New("interrupted")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcourt:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "benchcourt",
		Short:         "Measure a court's ledger under load, beside etcd",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fmt.Errorf("%w: %w", errUsage, err) })
	root.AddCommand(submitCmd(), etcdCmd(), tesseraCmd(), bothCmd(), allCmd(), growthCmd(), floodCmd(), visibilityCmd())
	return root
}

// loadOptions shape every level of a load run.
type loadOptions struct {
	clients  []int
	warmup   time.Duration
	duration time.Duration
	timeout  time.Duration
	profile  string // file name prefix for profiles of the windows; empty for none
}

func (o loadOptions) config(clients int) bench.Config {
	return bench.Config{Clients: clients, Warmup: o.warmup, Duration: o.duration, Timeout: o.timeout}
}

func addLoadFlags(f *pflag.FlagSet, o *loadOptions) {
	f.IntSliceVar(&o.clients, "clients", []int{1, 16, 256}, "concurrency levels, each a number of clients with one request outstanding")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per level")
	f.DurationVar(&o.warmup, "warmup", 1500*time.Millisecond, "unmeasured time before each level")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "per-request timeout")
	f.StringVar(&o.profile, "cpuprofile", "",
		"write CPU and mutex profiles of each measured window (every in-process node, not the signing ahead) to PREFIX-SYSTEM-CLIENTS[.mutex].pprof")
}

func (o loadOptions) check() error {
	if len(o.clients) == 0 || o.duration <= 0 || o.warmup < 0 {
		return fmt.Errorf("%w: need --clients, a positive --duration and a non-negative --warmup", errUsage)
	}
	for _, c := range o.clients {
		if c < 1 {
			return fmt.Errorf("%w: --clients %d", errUsage, c)
		}
	}
	return nil
}

func addCourtFlags(f *pflag.FlagSet, o *submitOptions) {
	f.IntVar(&o.nodes, "nodes", 3, "court nodes")
	f.BoolVar(&o.fast, "fast-raft", false, "shorten Raft's timeouts as the tests do (default: production timings)")
	f.IntVar(&o.maxRate, "max-rate", 30000, "submissions/s to sign ahead for, at most; a level that runs out ends early and says so")
	f.IntVar(&o.perClient, "per-client-rate", 2000, "submissions/s to sign ahead for, per client")
	f.IntVar(&o.verify, "verify", 1000, "receipts per level to verify after it")
	f.IntVar(&o.batch.MaxEntries, "batch-max-entries", 0, "consensus BatchConfig.MaxEntries (0: its default)")
	f.IntVar(&o.batch.MaxInFlight, "batch-in-flight", 0, "consensus BatchConfig.MaxInFlight (0: its default)")
	f.DurationVar(&o.batch.Linger, "batch-linger", 0, "consensus BatchConfig.Linger (0: its default; negative: never wait)")
	addProcFlags(f, &o.procs)
}

func (o submitOptions) check() error {
	if err := o.load.check(); err != nil {
		return err
	}
	if o.nodes < 1 || o.maxRate < 1 || o.perClient < 1 || o.verify < 0 {
		return fmt.Errorf("%w: --nodes, --max-rate and --per-client-rate must be positive, --verify not negative", errUsage)
	}
	return o.checkProcs()
}

func addEtcdFlags(f *pflag.FlagSet, o *etcdOptions) {
	f.StringVar(&o.bin, "etcd-bin", "etcd", "etcd binary (Debian's etcd-server package installs /usr/bin/etcd)")
	f.IntVar(&o.members, "members", 3, "etcd members")
	f.IntVar(&o.valueSize, "value-size", 256, "bytes per put")
	f.IntVar(&o.clientsPerConn, "clients-per-conn", 16, "client goroutines sharing one etcd client")
	f.BoolVar(&o.allEndpoints, "all-endpoints", false, "connect to every member (followers forward to the leader) instead of the leader only")
}

func submitCmd() *cobra.Command {
	var (
		out output
		opt submitOptions
	)
	cmd := &cobra.Command{
		Use:   "submit",
		Short: "Drive a court of --nodes nodes in this process with single-submission calls",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opt.check(); err != nil {
				return err
			}
			if err := out.start(cmd, ""); err != nil {
				return err
			}
			return out.finish(runSubmit(cmd.Context(), &out, opt))
		},
	}
	addLoadFlags(cmd.Flags(), &opt.load)
	addCourtFlags(cmd.Flags(), &opt)
	addOutputFlags(cmd.Flags(), &out)
	return cmd
}

func runSubmit(ctx context.Context, out *output, opt submitOptions) error {
	b, closeCourt, err := startCourtBench(ctx, out.workDir, opt)
	if err != nil {
		return err
	}
	defer closeCourt()
	for _, n := range opt.load.clients {
		r, err := b.level(ctx, n)
		if err != nil {
			return err
		}
		progress("court: %d clients: %.0f/s p50 %.2f ms p99 %.2f ms", n, r.PerSecond, r.P50ms, r.P99ms)
		out.Report.Rows = append(out.Report.Rows, r)
	}
	return nil
}

func etcdCmd() *cobra.Command {
	var (
		out output
		opt etcdOptions
	)
	cmd := &cobra.Command{
		Use:   "etcd",
		Short: "Drive a cluster of etcd processes with puts, for comparison",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opt.load.check(); err != nil {
				return err
			}
			if err := opt.check(); err != nil {
				return err
			}
			if err := out.start(cmd, opt.bin); err != nil {
				return err
			}
			return out.finish(runEtcd(cmd.Context(), &out, opt))
		},
	}
	addLoadFlags(cmd.Flags(), &opt.load)
	addEtcdFlags(cmd.Flags(), &opt)
	addOutputFlags(cmd.Flags(), &out)
	return cmd
}

func (o etcdOptions) check() error {
	if o.members < 1 || o.valueSize < 0 || o.clientsPerConn < 1 {
		return fmt.Errorf("%w: --members and --clients-per-conn must be positive, --value-size not negative", errUsage)
	}
	return nil
}

func startEtcdIn(ctx context.Context, workDir string, opt etcdOptions) (*etcdCluster, error) {
	dir := filepath.Join(workDir, "etcd")
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("etcd directory %s is not empty; remove it or choose another --dir", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	progress("etcd: starting %d members in %s", opt.members, dir)
	return startEtcd(ctx, opt.bin, dir, opt.members)
}

func runEtcd(ctx context.Context, out *output, opt etcdOptions) error {
	e, err := startEtcdIn(ctx, out.workDir, opt)
	if err != nil {
		return err
	}
	defer e.stop()
	b, err := newEtcdBench(e, opt)
	if err != nil {
		return err
	}
	for _, n := range opt.load.clients {
		r, err := b.level(ctx, n)
		if err != nil {
			return err
		}
		progress("etcd: %d clients: %.0f/s p50 %.2f ms p99 %.2f ms", n, r.PerSecond, r.P50ms, r.P99ms)
		out.Report.Rows = append(out.Report.Rows, r)
	}
	return nil
}

func bothCmd() *cobra.Command {
	var (
		out  output
		copt submitOptions
		eopt etcdOptions
	)
	cmd := &cobra.Command{
		Use:   "both",
		Short: "Run the court and etcd side by side, level by level, and print court/etcd",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := copt.check(); err != nil {
				return err
			}
			if err := eopt.check(); err != nil {
				return err
			}
			eopt.load = copt.load
			if err := out.start(cmd, eopt.bin); err != nil {
				return err
			}
			return out.finish(runBoth(cmd.Context(), &out, copt, eopt, nil))
		},
	}
	addLoadFlags(cmd.Flags(), &copt.load)
	addCourtFlags(cmd.Flags(), &copt)
	addEtcdFlags(cmd.Flags(), &eopt)
	addOutputFlags(cmd.Flags(), &out)
	return cmd
}

func tesseraCmd() *cobra.Command {
	var (
		out output
		opt tesseraOptions
	)
	cmd := &cobra.Command{
		Use:   "tessera",
		Short: "Drive Tessera's POSIX conformance log with adds, for comparison",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opt.load.check(); err != nil {
				return err
			}
			if opt.valueSize < 0 {
				return fmt.Errorf("%w: --value-size not negative", errUsage)
			}
			if err := out.start(cmd, ""); err != nil {
				return err
			}
			return out.finish(runTessera(cmd.Context(), &out, opt))
		},
	}
	addLoadFlags(cmd.Flags(), &opt.load)
	addTesseraFlags(cmd.Flags(), &opt)
	cmd.Flags().IntVar(&opt.valueSize, "value-size", 256, "bytes per entry")
	addOutputFlags(cmd.Flags(), &out)
	return cmd
}

func allCmd() *cobra.Command {
	var (
		out  output
		copt submitOptions
		eopt etcdOptions
		topt tesseraOptions
	)
	cmd := &cobra.Command{
		Use:   "all",
		Short: "Run the court, etcd and Tessera side by side, level by level, and print court/etcd and court/tessera",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := copt.check(); err != nil {
				return err
			}
			if err := eopt.check(); err != nil {
				return err
			}
			eopt.load, topt.load, topt.valueSize = copt.load, copt.load, eopt.valueSize
			if err := out.start(cmd, eopt.bin); err != nil {
				return err
			}
			return out.finish(runBoth(cmd.Context(), &out, copt, eopt, &topt))
		},
	}
	addLoadFlags(cmd.Flags(), &copt.load)
	addCourtFlags(cmd.Flags(), &copt)
	addEtcdFlags(cmd.Flags(), &eopt)
	addTesseraFlags(cmd.Flags(), &topt)
	addOutputFlags(cmd.Flags(), &out)
	return cmd
}

// runBoth measures the court beside etcd and, if topt is set, Tessera.
func runBoth(ctx context.Context, out *output, copt submitOptions, eopt etcdOptions, topt *tesseraOptions) error {
	e, err := startEtcdIn(ctx, out.workDir, eopt)
	if err != nil {
		return err
	}
	defer e.stop()
	eb, err := newEtcdBench(e, eopt)
	if err != nil {
		return err
	}
	var tb *tesseraBench
	if topt != nil {
		t, err := startTesseraIn(ctx, out.workDir, *topt)
		if err != nil {
			return err
		}
		defer t.stop()
		tb = &tesseraBench{t: t, opt: *topt}
	}
	cb, closeCourt, err := startCourtBench(ctx, out.workDir, copt)
	if err != nil {
		return err
	}
	defer closeCourt()
	for _, n := range copt.load.clients {
		cr, err := cb.level(ctx, n)
		if err != nil {
			return err
		}
		progress("court: %d clients: %.0f/s p50 %.2f ms p99 %.2f ms", n, cr.PerSecond, cr.P50ms, cr.P99ms)
		er, err := eb.level(ctx, n)
		if err != nil {
			return err
		}
		progress("etcd: %d clients: %.0f/s p50 %.2f ms p99 %.2f ms", n, er.PerSecond, er.P50ms, er.P99ms)
		out.Report.Rows = append(out.Report.Rows, cr, er)
		rt := ratio{Clients: n, Court: cr.PerSecond, Etcd: er.PerSecond, CourtP99ms: cr.P99ms, EtcdP99ms: er.P99ms}
		if er.PerSecond > 0 {
			rt.Ratio = cr.PerSecond / er.PerSecond
		}
		if tb != nil {
			tr, err := tb.level(ctx, n)
			if err != nil {
				return err
			}
			progress("tessera: %d clients: %.0f/s p50 %.2f ms p99 %.2f ms, checkpoint %.0f ms later", n, tr.PerSecond, tr.P50ms, tr.P99ms, tr.IntegrationLagMs)
			out.Report.Rows = append(out.Report.Rows, tr)
			rt.Tessera, rt.TesseraP99ms = tr.PerSecond, tr.P99ms
			if tr.PerSecond > 0 {
				rt.RatioTessera = cr.PerSecond / tr.PerSecond
			}
		}
		out.Report.Ratios = append(out.Report.Ratios, rt)
	}
	return nil
}

func growthCmd() *cobra.Command {
	var (
		out output
		opt growthOptions
	)
	cmd := &cobra.Command{
		Use:   "growth",
		Short: "Grow a one-node court and measure proof time, memory and file sizes at each size",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(opt.sizes) == 0 || opt.samples < 1 || opt.submitters < 1 {
				return fmt.Errorf("%w: need --sizes, positive --samples and --submitters", errUsage)
			}
			if err := out.start(cmd, ""); err != nil {
				return err
			}
			return out.finish(func() error {
				logf, logs, err := openCourtLog(out.workDir)
				if err != nil {
					return err
				}
				defer logf.Close()
				return runGrowth(cmd.Context(), filepath.Join(out.workDir, "growth"), opt, logs, func(g growthRow) {
					progress("growth: %d entries: proof p50 %.1f µs p99 %.1f µs, RSS %.1f MiB, ledger %.1f MiB",
						g.Size, g.ProofP50us, g.ProofP99us, g.RSSMiB, g.LedgerMiB)
					out.Report.Growth = append(out.Report.Growth, g)
				})
			}())
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&opt.sizes, "sizes", []int{10000, 100000, 1000000}, "ledger sizes to measure at, ascending")
	f.IntVar(&opt.batch, "batch", 1024, "submissions per Submit call while building")
	f.IntVar(&opt.submitters, "submitters", 8, "concurrent Submit calls while building")
	f.IntVar(&opt.samples, "samples", 2000, "inclusion proofs timed at each size")
	f.DurationVar(&opt.maxBuild, "max-build", 5*time.Minute, "time allowed for building, in all")
	f.BoolVar(&opt.signedBatch, "signed-batch", false, "build with batch-signed filing: one platform signature per call of --batch")
	addOutputFlags(f, &out)
	return cmd
}
