package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/courtledger/courtledger/bench"
	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/evidence"
)

// submitOptions are the court side's knobs.
type submitOptions struct {
	load      loadOptions
	nodes     int
	fast      bool
	maxRate   int // bounds how many submissions are signed ahead of a level
	perClient int // ... as does this many per client per second
	batch     consensus.BatchConfig
	verify    int // receipts to verify after each level
	procs     procOptions
}

// courtBench drives one court level by level, signing ahead of each.
type courtBench struct {
	c    *court
	opt  submitOptions
	pool []consensus.SignedSubmission // signed, not yet submitted
}

// poolFor is how many submissions to sign before a level: more than the
// level can take at the rate bounds, so signing never happens while timed.
// If a level does run out, its window ends there and the row says so.
func (b *courtBench) poolFor(clients int) int {
	rate := min(b.opt.maxRate, clients*b.opt.perClient)
	return int(float64(rate) * (b.opt.load.warmup + b.opt.load.duration).Seconds())
}

// level runs one concurrency level against the leader.
func (b *courtBench) level(ctx context.Context, clients int) (row, error) {
	want := b.poolFor(clients)
	if len(b.pool) < want {
		progress("court: signing %d submissions ahead of %d clients", want-len(b.pool), clients)
		t0 := time.Now()
		more, err := b.c.subs.sign(ctx, want-len(b.pool))
		if err != nil {
			return row{}, err
		}
		b.pool = append(b.pool, more...)
		progress("court: signed in %v", time.Since(t0).Round(time.Millisecond))
	}
	leader, err := b.c.waitLeader(ctx, 30*time.Second)
	if err != nil {
		return row{}, err
	}
	sizeBefore, raftBefore := leader.Size(), leader.Status().AppliedIndex
	wroteBefore, _ := bench.WrittenBytes(0)
	warnsBefore, _ := b.c.logs.warnings()

	lv := &courtLevel{c: b.c, pool: b.pool, samples: make([]reservoir, clients)}
	keep := max(1, b.opt.verify/clients+1)
	for i := range lv.samples {
		lv.samples[i] = reservoir{keep: keep, rng: rand.New(rand.NewPCG(uint64(i), uint64(clients)))}
	}
	progress("court: %d clients, %v warm-up, %v measured", clients, b.opt.load.warmup, b.opt.load.duration)
	var res bench.Result
	m := meter{pids: []int{0}, inProcess: true, ops: lv.acked.Load}
	use := m.measure(b.opt.load, func() {
		b.opt.load.profiled("court", clients, func() { res = bench.Run(ctx, b.opt.load.config(clients), lv.submit) })
	})

	used := min(int(lv.next.Load()), len(lv.pool))
	// The rest stay valid for the next level; copied so the used ones can go.
	defer func() { b.pool = append([]consensus.SignedSubmission(nil), lv.pool[used:]...) }()
	if err := ctx.Err(); err != nil {
		return row{}, err
	}

	r := rowOf("court", &res)
	r.Deployment = "in-process"
	use.set(&r)
	// Everything acknowledged must be in the ledger, once, on every node.
	leader = b.c.leader.Load()
	if got := leader.Size() - sizeBefore; got != uint64(lv.acked.Load()) {
		r.Problems = append(r.Problems, fmt.Sprintf("ledger grew by %d but %d submissions were acknowledged", got, lv.acked.Load()))
	}
	if entries := leader.Status().AppliedIndex - raftBefore; entries > 0 {
		r.PerRaftEntry = float64(leader.Size()-sizeBefore) / float64(entries)
	}
	if wrote, err := bench.WrittenBytes(0); err == nil && leader.Size() > sizeBefore {
		r.DiskBytesPerSub = float64(wrote-wroteBefore) / float64(leader.Size()-sizeBefore)
	}
	if n := lv.dups.Load(); n > 0 {
		r.Problems = append(r.Problems, fmt.Sprintf("%d fresh submissions came back as duplicates", n))
	}
	lag, err := b.c.converge(ctx, leader.Size())
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
	}
	r.FollowerLagMs = ms(lag)
	for _, smp := range lv.samples {
		for j, rc := range smp.kept {
			r.Verified++
			if err := checkReceipt(b.c, rc, smp.subs[j]); err != nil {
				r.VerifyFailed++
				if r.VerifyFailed <= 3 {
					r.Problems = append(r.Problems, fmt.Sprintf("receipt %d: %v", rc.Entry.Index, err))
				}
			}
		}
	}
	if warns, first := b.c.logs.warnings(); warns > warnsBefore {
		r.Problems = append(r.Problems, fmt.Sprintf("nodes logged %d warnings, first: %q", warns-warnsBefore, first))
	}
	return r, nil
}

// checkReceipt verifies a receipt with the court's key alone, and that it
// records what was submitted.
func checkReceipt(c *court, rc *evidence.Receipt, sent *consensus.SignedSubmission) error {
	if _, err := rc.Verify(c.verifier); err != nil {
		return err
	}
	got, want := rc.Entry.Submission, sent.Submission
	if got.RequestID != want.RequestID || got.Fingerprint != want.Fingerprint {
		return fmt.Errorf("receipt records %s, submitted %s", got.RequestID, want.RequestID)
	}
	return nil
}

// reservoir keeps a uniform sample of one client's receipts.
type reservoir struct {
	keep int
	seen int
	rng  *rand.Rand
	kept []*evidence.Receipt
	subs []*consensus.SignedSubmission
}

func (r *reservoir) offer(rc *evidence.Receipt, sent *consensus.SignedSubmission) {
	r.seen++
	if len(r.kept) < r.keep {
		r.kept, r.subs = append(r.kept, rc), append(r.subs, sent)
		return
	}
	if i := r.rng.IntN(r.seen); i < r.keep {
		r.kept[i], r.subs[i] = rc, sent
	}
}

// courtLevel is one level's shared state: the pool its clients take
// submissions from, in order, and what came back.
type courtLevel struct {
	c                 *court
	pool              []consensus.SignedSubmission
	next, acked, dups atomic.Int64
	samples           []reservoir // by client
}

// submit sends the next pre-signed submission, alone, to the leader.
func (lv *courtLevel) submit(ctx context.Context, client int) error {
	i := lv.next.Add(1) - 1
	if i >= int64(len(lv.pool)) {
		return bench.ErrStop
	}
	out, err := lv.c.leader.Load().Submit(ctx, lv.pool[i:i+1])
	if err == nil {
		err = out[0].Err
	}
	if err != nil {
		if errors.Is(err, consensus.ErrNotLeader) {
			_, _ = lv.c.waitLeader(ctx, time.Second)
		}
		return err
	}
	if out[0].Duplicate {
		lv.dups.Add(1)
	}
	lv.acked.Add(1)
	lv.samples[client].offer(out[0].Receipt, &lv.pool[i])
	return nil
}
