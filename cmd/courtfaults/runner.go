package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court/access"
)

// plan bounds one fault's run.
type plan struct {
	load     loadConfig
	warmup   int           // acknowledgements before the fault
	hold     time.Duration // how long the fault lasts
	after    time.Duration // load after the heal
	drain    time.Duration // to acknowledge what is in flight after the load stops
	converge time.Duration // for every node to be ready and equal
	keep     bool          // keep the lab's directory (logs, data)
}

var shortPlan = plan{load: loadConfig{submitters: 8, readers: 2, attempt: 15 * time.Second},
	warmup: 30, hold: 4 * time.Second, after: time.Second, drain: 20 * time.Second, converge: 30 * time.Second}

var longPlan = plan{load: loadConfig{submitters: 32, readers: 4, attempt: 15 * time.Second},
	warmup: 200, hold: 10 * time.Second, after: 5 * time.Second, drain: 30 * time.Second, converge: 60 * time.Second}

// buildCourtd builds courtd (without -race: the suite measures the
// service, not the detector) into dir.
func buildCourtd(dir string) (string, error) {
	bin := filepath.Join(dir, "courtd")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/courtledger/courtledger/cmd/courtd").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build courtd: %v\n%s", err, out)
	}
	return bin, nil
}

// runFault runs one fault in a lab of its own under dir and checks
// everything afterwards. logf reports progress.
func runFault(ctx context.Context, dir, courtd string, f fault, p plan, logf func(string, ...any)) (r result) {
	r.name = f.name
	start := time.Now()
	defer func() { r.elapsed = time.Since(start) }()
	if f.opts.tmpfs {
		if err := canMountTmpfs(dir); err != nil {
			r.skipped = err.Error()
			return r
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute+max(p.hold, f.hold)+p.drain+p.converge)
	defer cancel()
	l, err := newLab(ctx, dir, courtd, f.opts)
	if err != nil {
		r.problem("lab: %v", err)
		return r
	}
	defer func() {
		l.close()
		if !p.keep && r.ok() {
			os.RemoveAll(dir)
		} else {
			logf("%s: logs and data kept in %s", f.name, dir)
		}
	}()
	c := l.courts[0]
	h := newHistory(c)
	stopNew, stop := context.WithCancel(ctx)
	hard, hardStop := context.WithCancel(ctx)
	defer hardStop()
	ld, err := startLoad(c, h, p.load, "f", stopNew, hard)
	if err != nil {
		stop()
		r.problem("load: %v", err)
		return r
	}
	defer ld.closeClients()
	ld.reregister = func(ctx context.Context) error { return l.registerPlatform(ctx, c) }
	if err := waitFor(ctx, 60*time.Second, func() bool { return len(h.acked()) >= p.warmup }); err != nil {
		r.problem("warm-up: %d acknowledged: %v", len(h.acked()), err)
	}
	logf("%s: %d acknowledged before the fault", f.name, len(h.acked()))
	fr := &faultRun{lab: l, court: c, hist: h}
	d := p.hold
	if f.hold > 0 {
		d = f.hold
	}
	if err := f.run(ctx, fr, d); err != nil {
		r.problem("fault: %v", err)
	}
	healed := time.Now()
	target := maxIndex(h) + 1
	recovered := make(chan time.Duration, 1)
	go func() { recovered <- recoveryTime(ctx, ld, target, healed, p.converge+p.after+p.drain) }()
	if err := hold(ctx, p.after); err != nil {
		r.problem("after: %v", err)
	}
	stop()
	drained := make(chan struct{})
	go func() { ld.wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(p.drain):
		hardStop()
		<-drained
		r.problem("submissions still unacknowledged %v after the load stopped", p.drain)
	}
	cctx, ccancel := context.WithTimeout(ctx, p.converge)
	_, err = converge(cctx, ld, maxIndex(h)+1)
	ccancel()
	r.converged = err == nil
	if err != nil {
		r.problem("%v", err)
	}
	r.recovery = <-recovered
	if r.recovery < 0 {
		r.problem("not recovered: a node never caught up to what was acknowledged before the heal")
	}
	checkCourt(ctx, ld, &r)
	if ld.reRegs > 0 {
		r.notes = append(r.notes, fmt.Sprintf("the platform was refused as not registered and registered again %d times", ld.reRegs))
	}
	if f.maxStall > 0 && r.stall > f.maxStall {
		r.problem("writes stalled %v, more than the %v an election and a retry take", r.stall.Round(10*time.Millisecond), f.maxStall)
	}
	for _, c := range l.courts {
		for _, n := range c.nodes {
			if !n.running() {
				r.problem("%s exited: %s", n.id, n.lastWords())
			}
		}
	}
	if len(l.courts) > 1 {
		checkMirrors(ctx, l, &r)
	}
	logf("%s: %s", f.name, r.summary())
	return r
}

func maxIndex(h *history) uint64 {
	var m uint64
	for _, a := range h.acked() {
		m = max(m, a.index)
	}
	return m
}

// recoveryTime is how long after healed every node was ready and held at
// least target entries; -1 if that did not happen within limit.
func recoveryTime(ctx context.Context, ld *load, target uint64, healed time.Time, limit time.Duration) time.Duration {
	err := waitFor(ctx, limit, func() bool {
		for _, nc := range ld.clients {
			st, why := nc.current(ctx)
			if why != "" || st.size < target {
				return false
			}
		}
		return true
	})
	if err != nil {
		return -1
	}
	return time.Since(healed)
}

// waitFor polls cond until it holds, or fails after limit.
func waitFor(ctx context.Context, limit time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// checkMirrors waits until every node of the other courts mirrors the
// loaded court's final head.
func checkMirrors(ctx context.Context, l *lab, r *result) {
	origin := l.courts[0]
	var want *pb.SignedTreeHead
	for _, n := range origin.nodes {
		if st, err := headOf(ctx, n, origin.id); err == nil {
			want = st
			break
		}
	}
	if want == nil {
		r.problem("mirrors: no head of %s", origin.id)
		return
	}
	for _, c := range l.courts[1:] {
		for _, n := range c.nodes {
			var last string
			err := waitFor(ctx, 60*time.Second, func() bool {
				st, err := headOf(ctx, n, origin.id)
				if err != nil {
					last = err.Error()
					return false
				}
				last = fmt.Sprintf("size %d", st.Size)
				return st.Size == want.Size && string(st.Root) == string(want.Root)
			})
			if err != nil {
				r.problem("%s's mirror of %s: %s, want size %d", n.id, origin.id, last, want.Size)
			}
		}
	}
}

func headOf(ctx context.Context, n *nodeProc, courtID string) (*pb.SignedTreeHead, error) {
	cc, err := n.conn(access.RoleJudge)
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := pb.NewEvidenceServiceClient(cc).GetLatestTreeHead(ctx, &pb.GetLatestTreeHeadRequest{Court: courtID})
	if err != nil {
		return nil, err
	}
	return resp.TreeHead, nil
}

func (r *result) summary() string {
	if r.skipped != "" {
		return "SKIPPED: " + r.skipped
	}
	verdict := "PASS"
	if !r.ok() {
		verdict = "FAIL"
	}
	rec := "never"
	if r.recovery >= 0 {
		rec = r.recovery.Round(10 * time.Millisecond).String()
	}
	return fmt.Sprintf("%s acked=%d refused=%d unacked=%d lost=%d doubled=%d moved=%d forks=%d bad-receipts=%d regressions=%d stale=%d linearizable=%s stall=%v recovery=%s",
		verdict, r.acked, r.refused, r.unacked, r.lost, r.doubled, r.moved, r.forks, r.badReceipts, r.regressions, r.stale, r.linearized,
		r.stall.Round(10*time.Millisecond), rec)
}
