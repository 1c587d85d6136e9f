package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
)

// Admission under flood, as deployed: --calls concurrent SubmitBatch
// calls of --batch entries each at the leader of a court of courtd
// processes, every caller making --waves calls back to back (after a
// refusal it first waits the delay the court gave, as api/client does).
// Each call is acknowledged, refused with ResourceExhausted (COURT_BUSY,
// with a retry delay), or failed otherwise; the court must keep its
// leader and its ledger must grow by exactly what was acknowledged.

type floodOptions struct {
	procs procOptions
	calls int
	batch int
	waves int
}

// floodResult is what one flood saw.
type floodResult struct {
	Calls         int      `json:"calls"`
	BatchEntries  int      `json:"batch_entries"`
	Outstanding   int      `json:"outstanding_at_once"`
	MaxPending    int      `json:"max_pending"` // 0: courtd's default
	Acked         int      `json:"calls_acknowledged"`
	AckedEntries  int      `json:"entries_acknowledged"`
	Duplicates    int      `json:"entries_duplicate,omitempty"`
	Refused       int      `json:"calls_refused_busy"`     // ResourceExhausted with a retry delay
	RefusedNoWait int      `json:"calls_refused_no_delay"` // ResourceExhausted without one: a broken contract
	MinDelayMs    float64  `json:"retry_delay_min_ms,omitempty"`
	MaxDelayMs    float64  `json:"retry_delay_max_ms,omitempty"`
	Failed        int      `json:"calls_failed"`
	EntryProblems int      `json:"entries_refused_in_acknowledged_calls,omitempty"`
	Seconds       float64  `json:"seconds"`
	MaxCallMs     float64  `json:"slowest_call_ms"`
	TermBefore    uint64   `json:"term_before"`
	TermAfter     uint64   `json:"term_after"`
	LeaderBefore  string   `json:"leader_before"`
	LeaderAfter   string   `json:"leader_after"`
	StepDowns     int      `json:"step_downs_logged"` // "stepping down" / "lost leadership" lines in the nodes' logs
	Grew          uint64   `json:"ledger_growth"`
	CPUSeconds    float64  `json:"court_cpu_seconds"`
	ErrorSamples  []string `json:"error_samples,omitempty"`
	Problems      []string `json:"problems,omitempty"`
}

func floodCmd() *cobra.Command {
	var (
		out output
		opt floodOptions
	)
	cmd := &cobra.Command{
		Use:   "flood",
		Short: "Flood a court of courtd processes with concurrent SubmitBatch calls and check its admission",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !opt.procs.on {
				return fmt.Errorf("%w: flood runs against the court as deployed: give --court-procs", errUsage)
			}
			if err := opt.procs.check(); err != nil {
				return err
			}
			if opt.calls < 1 || opt.batch < 1 || opt.batch > 1024 || opt.waves < 1 {
				return fmt.Errorf("%w: --calls and --waves must be positive, --batch 1 to 1024", errUsage)
			}
			if err := out.start(cmd, ""); err != nil {
				return err
			}
			fr, err := runFlood(cmd.Context(), filepath.Join(out.workDir, "court"), opt)
			if fr != nil {
				out.Report.Flood = fr
				out.problems = len(fr.Problems) > 0
			}
			return out.finish(err)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opt.procs.on, "court-procs", false, "run the court as three courtd processes (required: the flood is of the court as deployed)")
	f.StringVar(&opt.procs.bin, "courtd-bin", "", "the courtd binary (default: go build ./cmd/courtd into the work directory)")
	f.IntVar(&opt.procs.maxPending, "max-pending", 0, "courtd's max_pending, the leader's admission bound (0: its default, 4096; 100000000: effectively off)")
	f.IntVar(&opt.calls, "calls", 256, "concurrent SubmitBatch calls")
	f.IntVar(&opt.batch, "batch", 64, "entries per call")
	f.IntVar(&opt.waves, "waves", 1, "calls each caller makes, one after another")
	addOutputFlags(f, &out)
	opt.procs.endpoints, opt.procs.perConn = "leader", 16
	return cmd
}

// runFlood starts a court of courtd processes in dir and floods it.
func runFlood(ctx context.Context, dir string, opt floodOptions) (*floodResult, error) {
	c, err := startProcCourt(ctx, dir, opt.procs)
	if err != nil {
		return nil, err
	}
	defer c.close()
	return c.flood(ctx, opt)
}

func (c *procCourt) flood(ctx context.Context, opt floodOptions) (*floodResult, error) {
	fr := &floodResult{Calls: opt.calls, BatchEntries: opt.batch, Outstanding: opt.calls * opt.batch, MaxPending: opt.procs.maxPending}
	total := opt.calls * opt.batch * opt.waves
	progress("flood: signing %d submissions ahead", total)
	signed, err := c.subs.sign(ctx, total)
	if err != nil {
		return nil, err
	}
	subs := make([]*pb.SignedSubmission, total)
	for i := range signed {
		subs[i] = &pb.SignedSubmission{Submission: client.ToPB(&signed[i].Submission), Signature: signed[i].Signature}
	}
	leader, before, err := c.leader(ctx, 30*time.Second)
	if err != nil {
		return nil, err
	}
	fr.TermBefore, fr.LeaderBefore = before.Term, leader.id
	logsBefore := c.stepDowns()
	// One attempt per call, so that each call's own answer is counted (the
	// client would otherwise wait the delay and try again itself), and no
	// client-side bound on it shorter than the court's: the flood measures
	// the court, not the client's patience.
	clis := make([]*client.Client, (opt.calls+15)/16)
	defer func() {
		for _, cl := range clis {
			if cl != nil {
				cl.Close()
			}
		}
	}()
	for i := range clis {
		if clis[i], err = c.newClient([]string{leader.grpc}, 1, 2*time.Minute); err != nil {
			return nil, err
		}
	}
	cpuBefore := readUsage(c.pids())
	var (
		mu                                         sync.Mutex
		acked, ackedEntries, dups, refused, noWait atomic.Int64
		failed, entryProblems                      atomic.Int64
		delays                                     []time.Duration
		slowest                                    time.Duration
		errSeen                                    []string
	)
	note := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if msg := err.Error(); len(errSeen) < 5 && !slices.Contains(errSeen, msg) {
			errSeen = append(errSeen, msg)
		}
	}
	progress("flood: %d concurrent SubmitBatch calls of %d entries (%d outstanding) at the leader %s, %d wave(s)",
		opt.calls, opt.batch, opt.calls*opt.batch, leader.id, opt.waves)
	start := time.Now()
	var wg sync.WaitGroup
	for k := 0; k < opt.calls; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cli := clis[k/16]
			for w := 0; w < opt.waves && ctx.Err() == nil; w++ {
				i := (w*opt.calls + k) * opt.batch
				t0 := time.Now()
				res, err := cli.SubmitBatch(ctx, subs[i:i+opt.batch])
				took := time.Since(t0)
				mu.Lock()
				slowest = max(slowest, took)
				mu.Unlock()
				if err != nil {
					if d, busy := busyDelay(err); busy && d > 0 {
						refused.Add(1)
						mu.Lock()
						delays = append(delays, d)
						mu.Unlock()
						select { // as api/client would
						case <-ctx.Done():
						case <-time.After(d):
						}
						continue
					} else if busy {
						noWait.Add(1)
					} else {
						failed.Add(1)
					}
					note(err)
					continue
				}
				acked.Add(1)
				for _, r := range res {
					switch {
					case r.Problem != nil:
						entryProblems.Add(1)
						note(fmt.Errorf("entry refused: %s: %s", r.Problem.GetReason(), r.Problem.GetMessage()))
					case r.Err != nil:
						entryProblems.Add(1)
						note(r.Err)
					default:
						ackedEntries.Add(1)
						if r.Duplicate {
							dups.Add(1)
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	fr.Seconds = time.Since(start).Seconds()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cpuAfter := readUsage(c.pids())
	fr.CPUSeconds = float64(cpuAfter.ticks-cpuBefore.ticks) / clockTicks
	fr.Acked, fr.AckedEntries, fr.Duplicates = int(acked.Load()), int(ackedEntries.Load()), int(dups.Load())
	fr.Refused, fr.RefusedNoWait, fr.Failed, fr.EntryProblems = int(refused.Load()), int(noWait.Load()), int(failed.Load()), int(entryProblems.Load())
	fr.MaxCallMs, fr.ErrorSamples = ms(slowest), errSeen
	if len(delays) > 0 {
		fr.MinDelayMs, fr.MaxDelayMs = ms(slices.Min(delays)), ms(slices.Max(delays))
	}
	if err := c.exited(); err != nil {
		fr.Problems = append(fr.Problems, err.Error())
		return fr, nil
	}
	leader2, after, err := c.leader(ctx, time.Minute)
	if err != nil {
		fr.Problems = append(fr.Problems, err.Error())
		return fr, nil
	}
	// The highest term any node saw: a leader that stepped down and won
	// again keeps its name but not its term.
	if term, _, err := c.terms(ctx); err == nil {
		fr.TermAfter = max(term, after.Term)
	}
	fr.LeaderAfter = leader2.id
	fr.StepDowns = c.stepDowns() - logsBefore
	if _, err := c.converge(ctx, after.Size); err != nil {
		fr.Problems = append(fr.Problems, err.Error())
	}
	fr.Grew = after.Size - before.Size
	// Every entry sent is distinct, so each acknowledged one, a duplicate
	// answer included, is one entry of the ledger.
	if fr.Grew != uint64(fr.AckedEntries) {
		fr.Problems = append(fr.Problems, fmt.Sprintf("the ledger grew by %d but %d entries were acknowledged", fr.Grew, fr.AckedEntries))
	}
	if fr.TermAfter != fr.TermBefore || fr.LeaderAfter != fr.LeaderBefore {
		fr.Problems = append(fr.Problems, fmt.Sprintf("the leader changed: %s term %d → %s term %d", fr.LeaderBefore, fr.TermBefore, fr.LeaderAfter, fr.TermAfter))
	}
	if fr.Failed > 0 || fr.RefusedNoWait > 0 || fr.EntryProblems > 0 {
		fr.Problems = append(fr.Problems, fmt.Sprintf("%d calls failed, %d were refused without a retry delay, %d entries of acknowledged calls were refused",
			fr.Failed, fr.RefusedNoWait, fr.EntryProblems))
	}
	return fr, nil
}

// busyDelay reports whether err is the court's ResourceExhausted refusal,
// and the retry delay its RetryInfo gives (0 if none).
func busyDelay(err error) (time.Duration, bool) {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.ResourceExhausted {
		return 0, false
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration(), true
		}
	}
	return 0, true
}

// stepDowns counts the lines of the nodes' logs in which Raft says a
// leader lost its place.
func (c *procCourt) stepDowns() int {
	n := 0
	for _, p := range c.nodes {
		b, err := os.ReadFile(p.log)
		if err != nil {
			continue
		}
		for _, marker := range []string{"stepping down", "lost leadership"} {
			n += strings.Count(string(b), marker)
		}
	}
	return n
}

// printFlood prints a flood's result as a table.
func printFlood(w io.Writer, fr *floodResult) {
	bound := "default (4096)"
	if fr.MaxPending > 0 {
		bound = fmt.Sprint(fr.MaxPending)
	}
	fmt.Fprintf(w, "flood: %d calls × %d entries (%d outstanding), max_pending %s, %.1f s\n", fr.Calls, fr.BatchEntries, fr.Outstanding, bound, fr.Seconds)
	fmt.Fprintf(w, "  acknowledged: %d calls, %d entries (%d duplicates)\n", fr.Acked, fr.AckedEntries, fr.Duplicates)
	fmt.Fprintf(w, "  refused busy: %d calls (retry delay %.0f–%.0f ms); refused without a delay: %d\n", fr.Refused, fr.MinDelayMs, fr.MaxDelayMs, fr.RefusedNoWait)
	fmt.Fprintf(w, "  failed otherwise: %d calls; entries refused inside acknowledged calls: %d\n", fr.Failed, fr.EntryProblems)
	fmt.Fprintf(w, "  leader: %s term %d → %s term %d; step-downs in the logs: %d\n", fr.LeaderBefore, fr.TermBefore, fr.LeaderAfter, fr.TermAfter, fr.StepDowns)
	fmt.Fprintf(w, "  ledger grew by %d; slowest call %.0f ms; court CPU %.1f s\n", fr.Grew, fr.MaxCallMs, fr.CPUSeconds)
	for _, e := range fr.ErrorSamples {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
	for _, p := range fr.Problems {
		fmt.Fprintf(w, "problem: flood: %s\n", p)
	}
}
