package main

// visibility measures cross-court visibility: how long after a filing is
// acknowledged at one court (the origin) a judge at another court (the
// mirror) gets a receipt of it that verifies under the origin's key.
//
//	go build -o /tmp/benchcourt ./cmd/benchcourt
//	/tmp/benchcourt visibility --duration 8s --rate 2000
//
// It starts two courts of --nodes nodes each in this process, on loopback
// TCP with mutual TLS from a development CA under --dir (default a
// temporary directory), each mirroring the other with the default sync
// settings (poll Interval 1 s, IdleInterval 15 s), and runs for each mode
// (watch: the default; poll: witness Config.NoWatch, the follower polls
// and is woken only by gossip) two phases of --duration:
//
//   - idle: one filing every --idle-every (200 ms), each one sampled;
//   - loaded: filings at --rate a second, in one Submit call every 10 ms,
//     one filing sampled every --sample-every (50 ms).
//
// Filings are submitted in process to the origin's leader, signed ahead;
// a filing is acknowledged when Submit returns its receipt. For each
// sample, one goroutine watches the mirror court's leader (in process,
// every millisecond) until its mirror of the origin holds the entry, then
// asks that node (any node of the court with --read-at-any-node: a
// follower learns of the mirror's commit up to about 100 ms later at rest,
// and catches up before it answers) for the evidence over gRPC as a judge
// (api/client, the origin's key in Config.Trust) and verifies the receipt
// with VerifyReceipt; the time from the acknowledgement to that verified
// receipt is the sample. A sample not verified within --timeout is
// counted as missed. It prints p50, p99 and max per mode and phase, with
// the filing rate reached.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
	courtnode "github.com/courtledger/courtledger/court"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/devca"
	"github.com/courtledger/courtledger/court/witness"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

const (
	visOrigin   = "origin.court.example/evidence"
	visMirror   = "mirror.court.example/evidence"
	visPlatform = "esign.example"
)

type visibilityOptions struct {
	dir         string
	nodes       int
	fast        bool
	readAny     bool
	modes       []string
	duration    time.Duration
	idleEvery   time.Duration
	rate        int
	sampleEvery time.Duration
	timeout     time.Duration
}

func (o visibilityOptions) check() error {
	if o.nodes < 1 || o.duration <= 0 || o.idleEvery <= 0 || o.sampleEvery <= 0 || o.timeout <= 0 || o.rate < 0 {
		return fmt.Errorf("%w: --nodes, --duration, --idle-every, --sample-every and --timeout must be positive, --rate not negative", errUsage)
	}
	if o.rate > 100*consensus.MaxBatchEntries {
		return fmt.Errorf("%w: --rate %d: at most %d (one Submit call of up to %d every 10 ms)", errUsage, o.rate, 100*consensus.MaxBatchEntries, consensus.MaxBatchEntries)
	}
	if len(o.modes) == 0 {
		return fmt.Errorf("%w: --modes: name watch, poll or both", errUsage)
	}
	for _, m := range o.modes {
		if m != "watch" && m != "poll" {
			return fmt.Errorf("%w: --modes %q: want watch or poll", errUsage, m)
		}
	}
	return nil
}

func visibilityCmd() *cobra.Command {
	var o visibilityOptions
	cmd := &cobra.Command{
		Use:   "visibility",
		Short: "Time from a filing's acknowledgement at one court to a verified receipt of it at another, with and without the watch",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check(); err != nil {
				return err
			}
			return runVisibility(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "", "data directory (default: a temporary directory, removed afterwards)")
	f.IntVar(&o.nodes, "nodes", 1, "nodes per court")
	f.BoolVar(&o.readAny, "read-at-any-node", false, "the judge reads at any node of the mirror court (api/client's choice), not at its leader")
	f.BoolVar(&o.fast, "fast-raft", false, "shorten Raft's timeouts as the tests do (default: production timings)")
	f.StringSliceVar(&o.modes, "modes", []string{"watch", "poll"}, "watch (the default sync), poll (witness Config.NoWatch), or both")
	f.DurationVar(&o.duration, "duration", 8*time.Second, "length of each phase (idle, loaded) per mode")
	f.DurationVar(&o.idleEvery, "idle-every", 200*time.Millisecond, "idle phase: one filing this often")
	f.IntVar(&o.rate, "rate", 2000, "loaded phase: filings per second (0 skips the phase)")
	f.DurationVar(&o.sampleEvery, "sample-every", 50*time.Millisecond, "loaded phase: sample one filing this often")
	f.DurationVar(&o.timeout, "timeout", 20*time.Second, "a sample not verified at the mirror within this is missed")
	return cmd
}

// visResult is one phase of one mode.
type visResult struct {
	mode, phase string
	filed       int
	rate        float64 // filings acknowledged per second
	lat         []time.Duration
	missed      int
	errs        int
}

func runVisibility(ctx context.Context, o visibilityOptions, out, progress io.Writer) error {
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "benchcourt-visibility-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	var results []visResult
	for _, mode := range o.modes {
		fmt.Fprintf(progress, "visibility: %s: starting two courts of %d nodes\n", mode, o.nodes)
		p, err := startPair(ctx, filepath.Join(dir, mode), o.nodes, o.fast, mode == "poll", o.readAny)
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		rs, err := p.measure(ctx, mode, o, progress)
		p.close()
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		results = append(results, rs...)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tphase\tfiled/s\tsamples\tp50 ms\tp99 ms\tmax ms\tmissed\terrors\t")
	var problems bool
	for _, r := range results {
		slices.Sort(r.lat)
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%d\t%s\t%s\t%s\t%d\t%d\t\n", r.mode, r.phase, r.rate, len(r.lat),
			msOf(quantile(r.lat, 0.50)), msOf(quantile(r.lat, 0.99)), msOf(quantile(r.lat, 1)), r.missed, r.errs)
		problems = problems || r.missed > 0 || r.errs > 0
	}
	tw.Flush()
	if problems {
		return errProblems
	}
	return nil
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return -1
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func msOf(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
}

// pair is the origin and the mirror court, in this process.
type pair struct {
	nodes    map[string][]*courtnode.Node
	platform *sm2.PrivateKey
	judge    *client.Client // at the mirror court, trusting the origin's key
	seq      atomic.Uint64
}

// startPair starts both courts, each mirroring the other, waits for their
// leaders, and registers the platform at the origin.
func startPair(ctx context.Context, dir string, nodes int, fast, noWatch, readAny bool) (*pair, error) {
	pki := filepath.Join(dir, "pki")
	ca, err := devca.New("benchcourt visibility")
	if err != nil {
		return nil, err
	}
	keys := map[string]*sm2.PrivateKey{}
	for _, id := range []string{visOrigin, visMirror} {
		if keys[id], err = sm2.GenerateKey(); err != nil {
			return nil, err
		}
	}
	platform, err := sm2.GenerateKey()
	if err != nil {
		return nil, err
	}
	addrs, err := freeAddrs(4 * nodes)
	if err != nil {
		return nil, err
	}
	peers := map[string][]courtnode.Peer{}
	for ci, id := range []string{visOrigin, visMirror} {
		for i := range nodes {
			k := 2 * (ci*nodes + i)
			peers[id] = append(peers[id], courtnode.Peer{NodeID: fmt.Sprintf("c%d-n%d", ci, i), RaftAddr: addrs[k], GRPCAddr: addrs[k+1]})
		}
	}
	other := func(id string) string {
		if id == visOrigin {
			return visMirror
		}
		return visOrigin
	}
	p := &pair{nodes: map[string][]*courtnode.Node{}, platform: platform}
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, id := range []string{visOrigin, visMirror} {
		o := other(id)
		oc := witness.OtherCourt{Court: o, Key: keys[o].Public()}
		for _, peer := range peers[o] {
			oc.Endpoints = append(oc.Endpoints, peer.GRPCAddr)
		}
		for _, peer := range peers[id] {
			tc, err := ca.NodeTLS(pki, id, peer.NodeID)
			if err != nil {
				p.close()
				return nil, err
			}
			n, err := courtnode.Start(courtnode.Config{
				Court: id, NodeID: peer.NodeID, DataDir: filepath.Join(dir, peer.NodeID),
				RaftAddr: peer.RaftAddr, GRPCAddr: peer.GRPCAddr, HTTPAddr: "127.0.0.1:0", CourtKey: keys[id],
				Peers: peers[id], Bootstrap: true, Fast: fast, Logger: discard, Courts: []witness.OtherCourt{oc},
				// The judge reads hundreds of receipts a second; rate
				// limits are not what is measured.
				Security: courtnode.Security{TLS: &tc, PeerCourts: []string{o}, Rate: access.RateConfig{PerSecond: 1e6, Burst: 1 << 20}},
				Sync:     witness.Config{NoWatch: noWatch},
			})
			if err != nil {
				p.close()
				return nil, fmt.Errorf("start %s: %w", peer.NodeID, err)
			}
			p.nodes[id] = append(p.nodes[id], n)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	origin, err := p.leader(wctx, visOrigin)
	var mirror *courtnode.Node
	if err == nil {
		mirror, err = p.leader(wctx, visMirror)
	}
	if err == nil {
		err = origin.Ledger().RegisterPlatform(wctx, visPlatform, platform.Public())
	}
	if err != nil {
		p.close()
		return nil, err
	}
	judgeFile, err := ca.IssueFile(pki, "judge", access.Identity{Role: access.RoleJudge, ID: "judge-bench"})
	if err != nil {
		p.close()
		return nil, err
	}
	tlsOpt, err := client.DialTLS(client.TLSFiles{CAFile: filepath.Join(pki, "ca.pem"), CertFile: judgeFile})
	if err != nil {
		p.close()
		return nil, err
	}
	ov, err := checkpoint.NewVerifier(visOrigin, keys[visOrigin].Public())
	if err != nil {
		p.close()
		return nil, err
	}
	eps := []string{mirror.GRPCAddr()}
	if readAny {
		eps = nil
		for _, peer := range peers[visMirror] {
			eps = append(eps, peer.GRPCAddr)
		}
	}
	p.judge, err = client.New(client.Config{Endpoints: eps, Trust: map[string][]*checkpoint.Verifier{visOrigin: {ov}},
		DialOptions: []grpc.DialOption{tlsOpt}})
	if err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// leader waits for a leader of court.
func (p *pair) leader(ctx context.Context, id string) (*courtnode.Node, error) {
	for {
		for _, n := range p.nodes[id] {
			if n.Ledger().IsLeader() {
				return n, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no leader of %s: %w", id, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (p *pair) close() {
	if p.judge != nil {
		p.judge.Close()
	}
	var wg sync.WaitGroup
	for _, ns := range p.nodes {
		for _, n := range ns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				n.Shutdown(ctx)
			}()
		}
	}
	wg.Wait()
}

// sign makes n submissions to the origin, signed ahead of the phase.
func (p *pair) sign(n int) ([]consensus.SignedSubmission, error) {
	out := make([]consensus.SignedSubmission, n)
	for i := range out {
		rid := "vis-" + strconv.FormatUint(p.seq.Add(1), 10)
		s := evidence.Submission{Court: visOrigin, Platform: visPlatform, RequestID: rid, Fingerprint: sm3.Sum([]byte(rid)),
			Category: evidence.CategoryContract, Title: "合同 " + rid, SignedAt: time.Now()}
		sig, err := s.Sign(p.platform)
		if err != nil {
			return nil, err
		}
		out[i] = consensus.SignedSubmission{Submission: s, Signature: sig}
	}
	return out, nil
}

// measure runs the idle phase, then the loaded one, on the pair.
func (p *pair) measure(ctx context.Context, mode string, o visibilityOptions, progress io.Writer) ([]visResult, error) {
	// One filing mirrored first: both courts' sync is under way.
	warm, err := p.phase(ctx, progress, mode, "warm-up", o, time.Second, 1, 1, 0)
	if err != nil {
		return nil, err
	}
	if len(warm.lat) == 0 {
		return nil, fmt.Errorf("the warm-up filing was not verified at the mirror within %v", o.timeout)
	}
	fmt.Fprintf(progress, "visibility: %s: idle, one filing every %v for %v\n", mode, o.idleEvery, o.duration)
	idle, err := p.phase(ctx, progress, mode, fmt.Sprintf("idle (1 per %v)", o.idleEvery), o, o.idleEvery, 1, int(o.duration/o.idleEvery), 0)
	if err != nil {
		return nil, err
	}
	rs := []visResult{idle}
	if o.rate > 0 {
		const tick = 10 * time.Millisecond
		per := max(1, o.rate/100)
		fmt.Fprintf(progress, "visibility: %s: loaded, %d filings/s for %v\n", mode, per*100, o.duration)
		loaded, err := p.phase(ctx, progress, mode, fmt.Sprintf("loaded (%d/s)", per*100), o, tick, per, int(o.duration/tick), o.sampleEvery)
		if err != nil {
			return nil, err
		}
		rs = append(rs, loaded)
	}
	return rs, nil
}

// sample is one sampled filing: its evidence ID, index in the origin's
// log and when the origin acknowledged it.
type sample struct {
	id    string
	index uint64
	acked time.Time
}

// phase files per submissions every tick, ticks times, one call at a
// time per tick (calls overlap if the court is slower than the tick), and
// samples one filing every sampleEvery (every filing if 0).
func (p *pair) phase(ctx context.Context, progress io.Writer, mode, name string, o visibilityOptions, tick time.Duration, per, ticks int, sampleEvery time.Duration) (visResult, error) {
	res := visResult{mode: mode, phase: name}
	subs, err := p.sign(per * ticks)
	if err != nil {
		return res, err
	}
	origin, err := p.leader(ctx, visOrigin)
	if err != nil {
		return res, err
	}
	var (
		mu       sync.Mutex
		samples  = make(chan sample, 1<<16)
		lastPick time.Time
		filed    atomic.Int64
		errs     atomic.Int64
		calls    sync.WaitGroup
		firstErr sync.Once
	)
	failed := func(err error) {
		errs.Add(1)
		firstErr.Do(func() {
			fmt.Fprintf(progress, "visibility: %s: %s: a filing failed (the first; the rest are counted): %v\n", mode, name, err)
		})
	}
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		res.lat, res.missed, res.errs = p.watchSamples(ctx, progress, samples, o.timeout)
	}()

	start := time.Now()
	t := time.NewTicker(tick)
	for i := 0; i < ticks && ctx.Err() == nil; i++ {
		batch := subs[i*per : (i+1)*per]
		calls.Add(1)
		go func() {
			defer calls.Done()
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			rs, err := origin.Ledger().Submit(cctx, batch)
			acked := time.Now()
			if err != nil {
				for range batch {
					failed(err)
				}
				return
			}
			for _, r := range rs {
				if r.Err != nil {
					failed(r.Err)
					continue
				}
				filed.Add(1)
			}
			r := rs[0]
			if r.Err != nil {
				return
			}
			mu.Lock()
			pick := sampleEvery == 0 || acked.Sub(lastPick) >= sampleEvery
			if pick {
				lastPick = acked
			}
			mu.Unlock()
			if pick {
				samples <- sample{id: r.Receipt.Entry.EvidenceID, index: r.Receipt.Entry.Index, acked: acked}
			}
		}()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	t.Stop()
	calls.Wait()
	took := time.Since(start)
	close(samples)
	<-watched
	res.filed = int(filed.Load())
	res.rate = float64(res.filed) / took.Seconds()
	res.errs += int(errs.Load())
	return res, ctx.Err()
}

// watchSamples waits, for each sample, until the mirror court's leader
// holds its entry in its mirror of the origin, then reads the evidence
// there as a judge and verifies the receipt under the origin's key. It
// returns the time from acknowledgement to verified receipt of each,
// with the samples missed (not verified within timeout) and the errors.
func (p *pair) watchSamples(ctx context.Context, progress io.Writer, in <-chan sample, timeout time.Duration) (lat []time.Duration, missed, errs int) {
	var (
		mu      sync.Mutex
		pending []sample
		reads   sync.WaitGroup
		closed  bool
	)
	record := func(d time.Duration, miss, bad bool) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case bad:
			errs++
		case miss:
			missed++
		default:
			lat = append(lat, d)
		}
	}
	verify := func(s sample) {
		defer reads.Done()
		for ctx.Err() == nil {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			r, err := p.judge.Evidence().GetEvidence(rctx, &pb.GetEvidenceRequest{EvidenceId: s.id})
			cancel()
			if err == nil {
				if _, err := p.judge.VerifyReceipt(r.Receipt); err != nil {
					fmt.Fprintf(progress, "visibility: the receipt of %s at the mirror does not verify: %v\n", s.id, err)
					record(0, false, true)
					return
				}
				record(time.Since(s.acked), false, false)
				return
			}
			if time.Since(s.acked) > timeout {
				record(0, true, false)
				return
			}
			time.Sleep(time.Millisecond)
		}
		record(0, true, false)
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case s, ok := <-in:
			if !ok {
				in, closed = nil, true
				break
			}
			pending = append(pending, s)
		case <-tick.C:
		case <-ctx.Done():
			reads.Wait()
			return lat, missed + len(pending), errs
		}
		if len(pending) > 0 {
			var size uint64
			if m, err := p.leader(ctx, visMirror); err == nil {
				if st, err := m.Ledger().Mirror(visOrigin); err == nil {
					size = st.Size
				}
			}
			rest := pending[:0]
			for _, s := range pending {
				switch {
				case s.index < size:
					reads.Add(1)
					go verify(s)
				case time.Since(s.acked) > timeout:
					record(0, true, false)
				default:
					rest = append(rest, s)
				}
			}
			pending = rest
		}
		if closed && len(pending) == 0 {
			reads.Wait()
			return lat, missed, errs
		}
	}
}
