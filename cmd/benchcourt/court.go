package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/evidence"
)

const (
	benchCourt    = "bench.court.example/ledger"
	benchPlatform = "bench-platform.example"
)

// court is a court's ledger of n nodes in this process, on loopback TCP.
type court struct {
	nodes    []*consensus.Ledger
	dirs     []string
	verifier *checkpoint.Verifier
	subs     *submissionSigner
	logs     *logCounter
	leader   atomic.Pointer[consensus.Ledger]
	cfgs     []consensus.Config // as each node was opened, for restart
}

// startCourt opens n nodes under dir, bootstrapped together, waits for a
// ready leader and registers the benchmark's platform with it.
func startCourt(ctx context.Context, dir string, n int, fast bool, batch consensus.BatchConfig, logs *logCounter) (*court, error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("court directory %s is not empty; remove it or choose another --dir", dir)
	}
	courtKey, err := sm2.GenerateKey()
	if err != nil {
		return nil, err
	}
	signer, err := checkpoint.NewSigner(benchCourt, courtKey)
	if err != nil {
		return nil, err
	}
	platformKey, err := sm2.GenerateKey()
	if err != nil {
		return nil, err
	}
	subs, err := newSubmissionSigner(platformKey)
	if err != nil {
		return nil, err
	}
	addrs, err := freeAddrs(n)
	if err != nil {
		return nil, err
	}
	var boot []consensus.Server
	for i, a := range addrs {
		boot = append(boot, consensus.Server{ID: fmt.Sprintf("node%d", i), Address: a})
	}
	c := &court{verifier: signer.Verifier(), subs: subs, logs: logs}
	for i, s := range boot {
		d := filepath.Join(dir, s.ID)
		cfg := consensus.Config{
			NodeID:    s.ID,
			Court:     benchCourt,
			Dir:       d,
			BindAddr:  s.Address,
			Bootstrap: boot,
			Signer:    signer,
			Fast:      fast,
			Batch:     batch,
			Logger:    slog.New(logs).With("node", boot[i].ID),
		}
		l, err := consensus.Open(cfg)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("open %s: %w", s.ID, err)
		}
		c.nodes, c.dirs, c.cfgs = append(c.nodes, l), append(c.dirs, d), append(c.cfgs, cfg)
	}
	leader, err := c.waitLeader(ctx, time.Minute)
	if err != nil {
		c.close()
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := leader.RegisterPlatform(rctx, benchPlatform, platformKey.Public()); err != nil {
		c.close()
		return nil, fmt.Errorf("register platform: %w", err)
	}
	return c, nil
}

// waitLeader polls until a node is ready to take writes.
func (c *court) waitLeader(ctx context.Context, backstop time.Duration) (*consensus.Ledger, error) {
	ctx, cancel := context.WithTimeout(ctx, backstop)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, l := range c.nodes {
			if l.IsLeader() {
				c.leader.Store(l)
				return l, nil
			}
		}
		select {
		case <-ctx.Done():
			var seen []string
			for _, l := range c.nodes {
				st := l.Status()
				seen = append(seen, fmt.Sprintf("%s=%s", st.NodeID, st.State))
			}
			return nil, fmt.Errorf("no ready leader (%v): %w", seen, ctx.Err())
		case <-tick.C:
		}
	}
}

// restart closes node i and opens it again on its directory, and returns
// how long it took from the open until the node said ready (Health).
func (c *court) restart(ctx context.Context, i int) (time.Duration, error) {
	c.nodes[i].Close()
	t0 := time.Now()
	l, err := consensus.Open(c.cfgs[i])
	if err != nil {
		return 0, fmt.Errorf("open %s again: %w", c.cfgs[i].NodeID, err)
	}
	c.nodes[i] = l
	c.leader.Store(nil)
	for !l.Health().Ready() {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%s not ready after a restart: %s", c.cfgs[i].NodeID, l.Health().Reason)
		case <-time.After(10 * time.Millisecond):
		}
	}
	return time.Since(t0), nil
}

func (c *court) close() {
	var wg sync.WaitGroup
	for _, l := range c.nodes {
		wg.Add(1)
		go func() { defer wg.Done(); l.Close() }()
	}
	wg.Wait()
}

// converge waits until every node has applied size entries and reports how
// long that took after the leader acknowledged them: the followers' lag.
func (c *court) converge(ctx context.Context, size uint64) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		behind := ""
		for _, l := range c.nodes {
			if s := l.Size(); s < size {
				behind += fmt.Sprintf(" %s=%d", l.Status().NodeID, s)
			}
		}
		if behind == "" {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("nodes not at size %d:%s: %w", size, behind, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// submissionSigner makes distinct, validly signed submissions of the
// benchmark's platform: a run-unique request ID, a random fingerprint.
type submissionSigner struct {
	key    *sm2.PrivateKey
	prefix string
	seq    atomic.Uint64
}

func newSubmissionSigner(key *sm2.PrivateKey) (*submissionSigner, error) {
	var p [4]byte
	if _, err := crand.Read(p[:]); err != nil {
		return nil, err
	}
	return &submissionSigner{key: key, prefix: "bench-" + hex.EncodeToString(p[:])}, nil
}

// sign makes n submissions on all cores.
func (s *submissionSigner) sign(ctx context.Context, n int) ([]consensus.SignedSubmission, error) {
	out := make([]consensus.SignedSubmission, n)
	workers := min(n, runtime.GOMAXPROCS(0))
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		firstErr error
		once     sync.Once
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewChaCha8(seed()))
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if ctx.Err() != nil {
					once.Do(func() { firstErr = ctx.Err() })
					return
				}
				sub, err := s.one(rng)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				out[i] = sub
			}
		}()
	}
	wg.Wait()
	return out, firstErr
}

func (s *submissionSigner) one(rng *rand.Rand) (consensus.SignedSubmission, error) {
	sub := s.unsigned(rng)
	sig, err := sub.Sign(s.key)
	if err != nil {
		return consensus.SignedSubmission{}, fmt.Errorf("sign submission: %w", err)
	}
	return consensus.SignedSubmission{Submission: sub, Signature: sig}, nil
}

// batch makes n distinct submissions signed once, as a batch
// (docs/formats.md, "Batch-signed filing").
func (s *submissionSigner) batch(rng *rand.Rand, n int) (*evidence.SignedBatch, error) {
	subs := make([]evidence.Submission, n)
	for i := range subs {
		subs[i] = s.unsigned(rng)
	}
	h := evidence.BatchHeader{Court: benchCourt, Platform: benchPlatform,
		BatchID: s.prefix + "-b" + strconv.FormatUint(s.seq.Add(1), 10), SignedAt: subs[0].SignedAt}
	b, err := evidence.SignBatch(s.key, h, subs)
	if err != nil {
		return nil, fmt.Errorf("sign batch: %w", err)
	}
	return b, nil
}

// unsigned makes the next distinct submission.
func (s *submissionSigner) unsigned(rng *rand.Rand) evidence.Submission {
	n := s.seq.Add(1)
	var fp evidence.Fingerprint
	for i := 0; i < len(fp); i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8; j++ {
			fp[i+j] = byte(v >> (8 * j))
		}
	}
	sub := evidence.Submission{
		Court:       benchCourt,
		Platform:    benchPlatform,
		RequestID:   s.prefix + "-" + strconv.FormatUint(n, 10),
		Fingerprint: fp,
		Category:    evidence.CategoryContract,
		Title:       "买卖合同 " + strconv.FormatUint(n, 10),
		SignedAt:    time.Now().UTC().Truncate(time.Millisecond), // as api/client signs: the API carries milliseconds
	}
	return sub
}

func seed() [32]byte {
	var s [32]byte
	_, _ = crand.Read(s[:])
	return s
}

// freeAddrs returns n distinct loopback addresses with ports free now.
func freeAddrs(n int) ([]string, error) {
	var (
		out []string
		lns []net.Listener
	)
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	return out, nil
}
