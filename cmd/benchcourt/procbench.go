package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/bench"
	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/evidence"
)

func addProcFlags(f *pflag.FlagSet, o *procOptions) {
	f.BoolVar(&o.on, "court-procs", false,
		"run the court as three courtd processes with TLS, driven through gRPC by api/client, as deployed (default: three nodes in this process)")
	f.StringVar(&o.bin, "courtd-bin", "", "with --court-procs: the courtd binary (default: go build ./cmd/courtd into the work directory)")
	f.IntVar(&o.batch, "batch", 0, "with --court-procs: entries per SubmitBatch call (0: Submit, one submission per call)")
	f.StringVar(&o.endpoints, "court-endpoints", "leader",
		"with --court-procs: the nodes the client is given: leader (as etcd's clients are) or all (as a platform is; followers forward to the leader)")
	f.IntVar(&o.perConn, "court-clients-per-conn", 16, "with --court-procs: client goroutines sharing one api/client.Client (as --clients-per-conn for etcd)")
	f.BoolVar(&o.signed, "signed-batch", false, "with --court-procs and --batch: the platform signs each batch once (SubmitSignedBatch) instead of each entry (SubmitBatch)")
	f.IntVar(&o.maxPending, "max-pending", 0, "with --court-procs: courtd's max_pending, the leader's admission bound (0: its default, 4096)")
}

func (o procOptions) check() error {
	if !o.on {
		if o.bin != "" || o.batch != 0 || o.maxPending != 0 || o.endpoints != "leader" || o.signed {
			return fmt.Errorf("%w: --courtd-bin, --batch, --signed-batch, --max-pending and --court-endpoints need --court-procs", errUsage)
		}
		return nil
	}
	if o.signed && o.batch < 1 {
		return fmt.Errorf("%w: --signed-batch needs --batch N, the entries each batch signs", errUsage)
	}
	if o.batch < 0 || o.batch > 1024 || o.perConn < 1 || o.maxPending < 0 {
		return fmt.Errorf("%w: --batch must be 0 to 1024, --court-clients-per-conn positive, --max-pending not negative", errUsage)
	}
	if o.endpoints != "leader" && o.endpoints != "all" {
		return fmt.Errorf("%w: --court-endpoints %q: want leader or all", errUsage, o.endpoints)
	}
	return nil
}

// checkProcs refuses the in-process court's knobs with --court-procs,
// where they would be silently ignored: courtd runs three nodes with
// production Raft timings and its own batching.
func (o submitOptions) checkProcs() error {
	if err := o.procs.check(); err != nil {
		return err
	}
	if o.procs.on && (o.nodes != 3 || o.fast || o.batch != (consensus.BatchConfig{})) {
		return fmt.Errorf("%w: --nodes, --fast-raft and --batch-* set the in-process court; with --court-procs the court is three courtd processes (--max-pending sets its bound)", errUsage)
	}
	return nil
}

// leveler runs one concurrency level of a system.
type leveler interface {
	level(ctx context.Context, clients int) (row, error)
}

// startCourtBench starts the court as opt asks, in this process or as
// courtd processes, and returns what drives it level by level.
func startCourtBench(ctx context.Context, workDir string, opt submitOptions) (leveler, func(), error) {
	if opt.procs.on {
		progress("court: starting 3 courtd processes in %s", filepath.Join(workDir, "court"))
		c, err := startProcCourt(ctx, filepath.Join(workDir, "court"), opt.procs)
		if err != nil {
			return nil, nil, err
		}
		return &procBench{c: c, opt: opt}, c.close, nil
	}
	logf, logs, err := openCourtLog(workDir)
	if err != nil {
		return nil, nil, err
	}
	progress("court: starting %d nodes in this process", opt.nodes)
	c, err := startCourt(ctx, filepath.Join(workDir, "court"), opt.nodes, opt.fast, opt.batch, logs)
	if err != nil {
		logf.Close()
		return nil, nil, err
	}
	return &courtBench{c: c, opt: opt}, func() { c.close(); logf.Close() }, nil
}

// procBench drives a court of courtd processes level by level.
type procBench struct {
	c    *procCourt
	opt  submitOptions
	pool []*pb.SignedSubmission // signed, not yet submitted
	// signedPool holds batches signed once (--signed-batch), not yet submitted.
	signedPool []*evidence.SignedBatch
}

func (b *procBench) system() string {
	if b.opt.procs.signed {
		return fmt.Sprintf("court-procs-signedbatch%d", b.opt.procs.batch)
	}
	if b.opt.procs.batch > 0 {
		return fmt.Sprintf("court-procs-batch%d", b.opt.procs.batch)
	}
	return "court-procs"
}

// tally counts the results of one batch call.
func (b *procBench) tally(res []client.BatchResult, err error, acked, dups, refused, unverified *atomic.Int64) error {
	if err != nil {
		return err
	}
	var bad error
	for _, r := range res {
		switch {
		case r.Problem != nil:
			refused.Add(1)
			bad = fmt.Errorf("an entry was refused: %s: %s", r.Problem.GetReason(), r.Problem.GetMessage())
		case r.Err != nil:
			unverified.Add(1)
			bad = r.Err
		default:
			if r.Duplicate {
				dups.Add(1)
			}
			acked.Add(1)
		}
	}
	return bad
}

// signBatchesAhead tops the pool of signed batches up to n, each of
// --batch submissions signed once.
func (b *procBench) signBatchesAhead(n int) error {
	if len(b.signedPool) >= n {
		return nil
	}
	progress("court: signing %d batches of %d ahead", n-len(b.signedPool), b.opt.procs.batch)
	t0 := time.Now()
	rng := rand.New(rand.NewChaCha8(seed()))
	for len(b.signedPool) < n {
		sb, err := b.c.subs.batch(rng, b.opt.procs.batch)
		if err != nil {
			return err
		}
		b.signedPool = append(b.signedPool, sb)
	}
	progress("court: signed in %v", time.Since(t0).Round(time.Millisecond))
	return nil
}

// signAhead tops the pool up to n submissions, signed on all cores before
// the level, so no client signs while timed.
func (b *procBench) signAhead(ctx context.Context, n int) error {
	if len(b.pool) >= n {
		return nil
	}
	progress("court: signing %d submissions ahead", n-len(b.pool))
	t0 := time.Now()
	more, err := b.c.subs.sign(ctx, n-len(b.pool))
	if err != nil {
		return err
	}
	for i := range more {
		b.pool = append(b.pool, &pb.SignedSubmission{Submission: client.ToPB(&more[i].Submission), Signature: more[i].Signature})
	}
	progress("court: signed in %v", time.Since(t0).Round(time.Millisecond))
	return nil
}

// level runs one concurrency level: each client goroutine calls Submit
// (or SubmitBatch of --batch) through api/client, one call at a time.
func (b *procBench) level(ctx context.Context, clients int) (row, error) {
	per := max(1, b.opt.procs.batch)
	rate := min(b.opt.maxRate, clients*b.opt.perClient*per)
	want := int(float64(rate)*(b.opt.load.warmup+b.opt.load.duration).Seconds()) + clients*per
	if b.opt.procs.signed {
		if err := b.signBatchesAhead(want / per); err != nil {
			return row{}, err
		}
	} else if err := b.signAhead(ctx, want); err != nil {
		return row{}, err
	}
	leader, before, err := b.c.leader(ctx, 30*time.Second)
	if err != nil {
		return row{}, err
	}
	endpoints := []string{leader.grpc}
	if b.opt.procs.endpoints == "all" {
		endpoints = b.c.grpcAddrs()
	}
	conns := (clients + b.opt.procs.perConn - 1) / b.opt.procs.perConn
	clis := make([]*client.Client, conns)
	defer func() {
		for _, c := range clis {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range clis {
		// The client's defaults, as a platform runs it: 8 attempts, 2 s
		// each, retries of a submission carry its request ID.
		if clis[i], err = b.c.newClient(endpoints, 0, 0); err != nil {
			return row{}, err
		}
	}
	wroteBefore := readUsage(b.c.pids())

	var next, acked, dups, refused, unverified, nextSigned atomic.Int64
	pool, signedPool := b.pool, b.signedPool
	op := func(ctx context.Context, cl int) error {
		cli := clis[cl/b.opt.procs.perConn]
		var (
			res []client.BatchResult
			err error
		)
		if b.opt.procs.signed {
			j := int(nextSigned.Add(1) - 1)
			if j >= len(signedPool) {
				return bench.ErrStop
			}
			res, err = cli.SubmitSignedBatch(ctx, signedPool[j])
			return b.tally(res, err, &acked, &dups, &refused, &unverified)
		}
		i := int(next.Add(int64(per)) - int64(per))
		if i+per > len(pool) {
			return bench.ErrStop
		}
		if b.opt.procs.batch == 0 {
			_, dup, err := cli.Submit(ctx, pool[i])
			var ue *client.UnverifiedError
			if errors.As(err, &ue) {
				unverified.Add(1)
			}
			if err != nil {
				return err
			}
			if dup {
				dups.Add(1)
			}
			acked.Add(1)
			return nil
		}
		res, err = cli.SubmitBatch(ctx, pool[i:i+per])
		return b.tally(res, err, &acked, &dups, &refused, &unverified)
	}
	progress("court: %d clients on %d api/client connections to %v, %s, %v warm-up, %v measured",
		clients, conns, endpoints, map[bool]string{true: fmt.Sprintf("SubmitBatch of %d", per), false: "Submit"}[per > 1],
		b.opt.load.warmup, b.opt.load.duration)
	var res bench.Result
	m := meter{pids: b.c.pids(), ops: acked.Load}
	use := m.measure(b.opt.load, func() {
		b.opt.load.profiled(b.system(), clients, func() { res = bench.Run(ctx, b.opt.load.config(clients), op) })
	})
	used := min(int(next.Load()), len(pool))
	b.pool = append([]*pb.SignedSubmission(nil), pool[used:]...)
	b.signedPool = signedPool[min(int(nextSigned.Load()), len(signedPool)):]
	if err := ctx.Err(); err != nil {
		return row{}, err
	}
	if err := b.c.exited(); err != nil {
		return row{}, err
	}

	r := rowOf(b.system(), &res)
	r.Deployment, r.Batch = "processes", b.opt.procs.batch
	use.set(&r)
	if per > 1 && res.Window > 0 {
		// A row's rate and acknowledgements are of submissions, as the
		// other rows'; latency is of calls.
		r.PerSecond, r.Acked = float64(use.Ops)/res.Window.Seconds(), int(use.Ops)
	}
	r.Verified, r.VerifyFailed = int(acked.Load()+unverified.Load()), int(unverified.Load())
	if n := dups.Load(); n > 0 {
		// A retried submission (the client's, after a timeout) that had
		// been recorded comes back as a duplicate: not recorded twice, but
		// said, since fresh ones should not need it.
		r.Problems = append(r.Problems, fmt.Sprintf("%d fresh submissions came back as duplicates: the client tried again after its 2 s attempt timeout, and the first try had been recorded", n))
	}
	if n := refused.Load(); n > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d entries of batches were refused", n))
	}
	leader2, after, err := b.c.leader(ctx, 30*time.Second)
	if err != nil {
		return row{}, err
	}
	if after.Term != before.Term || leader2 != leader {
		r.Problems = append(r.Problems, fmt.Sprintf("the leader changed during the level: %s term %d → %s term %d", leader.id, before.Term, leader2.id, after.Term))
	}
	// Every submission of the pool is distinct and acknowledged once, a
	// duplicate answer included (its first try was recorded, its answer
	// lost): the ledger grows by exactly what was acknowledged.
	grew := after.Size - before.Size
	if grew != uint64(acked.Load()) {
		r.Problems = append(r.Problems, fmt.Sprintf("ledger grew by %d but %d submissions were acknowledged", grew, acked.Load()))
	}
	if entries := after.AppliedIndex - before.AppliedIndex; entries > 0 {
		r.PerRaftEntry = float64(grew) / float64(entries)
	}
	if wrote := readUsage(b.c.pids()); wrote.ioErr == nil && wroteBefore.ioErr == nil && grew > 0 {
		r.DiskBytesPerSub = float64(wrote.wrote-wroteBefore.wrote) / float64(grew)
	}
	lag, err := b.c.converge(ctx, after.Size)
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
	}
	r.FollowerLagMs = ms(lag)
	return r, nil
}

// converge waits until every node has applied size entries.
func (c *procCourt) converge(ctx context.Context, size uint64) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		behind := ""
		for _, n := range c.nodes {
			st, err := c.status(ctx, n)
			if err != nil {
				behind += fmt.Sprintf(" %s=(%v)", n.id, err)
			} else if st.Size < size {
				behind += fmt.Sprintf(" %s=%d", n.id, st.Size)
			}
		}
		if behind == "" {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("nodes not at size %d:%s: %w", size, behind, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
