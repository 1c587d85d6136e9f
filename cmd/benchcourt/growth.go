package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/courtledger/courtledger/bench"
	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/evidence"
)

// growthOptions are the growth run's knobs.
type growthOptions struct {
	sizes      []int
	batch      int           // submissions per Submit call, at most consensus.MaxBatchEntries
	submitters int           // concurrent Submit calls while building
	samples    int           // inclusion proofs timed at each size
	maxBuild   time.Duration // total time allowed for building
	// signedBatch builds with batch-signed filing (one platform signature
	// per call) instead of a signature per submission.
	signedBatch bool
}

// growthRow is one size of the growth run.
type growthRow struct {
	Target       int     `json:"target"`
	Size         uint64  `json:"size"`
	BuildSeconds float64 `json:"build_seconds"` // to grow from the previous size
	BuildRate    float64 `json:"build_per_second"`
	BuildErrors  int     `json:"build_errors"`
	ProofLen     int     `json:"proof_hashes"` // of the last sampled proof, about log2(size)
	ProofP50us   float64 `json:"proof_p50_us"`
	ProofP99us   float64 `json:"proof_p99_us"`
	ProofMaxUs   float64 `json:"proof_max_us"`
	RSSMiB       float64 `json:"rss_mib"`
	AnonMiB      float64 `json:"rss_anon_mib"`
	FileMiB      float64 `json:"rss_file_mib"` // mapped ledger and raft files
	HeapMiB      float64 `json:"heap_inuse_mib"`
	LedgerMiB    float64 `json:"ledger_file_mib"`
	RaftLogMiB   float64 `json:"raft_file_mib"`
	DiskPerEntry float64 `json:"disk_bytes_per_entry"` // both files over the entries
	// RestartSeconds, at the last size only: close the node and open it
	// again, until it says ready (the start-up checks read the file).
	RestartSeconds float64 `json:"restart_seconds,omitempty"`
	Reached        bool    `json:"reached"` // false if the build time ran out first
}

// runGrowth grows a one-node court through opt.sizes and measures proofs,
// memory and files at each.
func runGrowth(ctx context.Context, dir string, opt growthOptions, logs *logCounter, emit func(growthRow)) error {
	if opt.batch < 1 || opt.batch > consensus.MaxBatchEntries {
		return fmt.Errorf("--batch must be 1..%d", consensus.MaxBatchEntries)
	}
	c, err := startCourt(ctx, dir, 1, false, consensus.BatchConfig{}, logs)
	if err != nil {
		return err
	}
	defer c.close()
	l := c.nodes[0]
	buildCtx, cancel := context.WithTimeout(ctx, opt.maxBuild)
	defer cancel()
	for _, target := range opt.sizes {
		t0, before := time.Now(), l.Size()
		progress("growth: building to %d entries", target)
		errs := buildTo(buildCtx, c, uint64(target), opt)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r := growthRow{Target: target, Size: l.Size(), BuildErrors: errs}
		r.BuildSeconds = time.Since(t0).Seconds()
		r.BuildRate = float64(r.Size-before) / r.BuildSeconds
		r.Reached = r.Size >= uint64(target)
		if err := measureGrowth(l, c.dirs[0], opt.samples, &r); err != nil {
			return err
		}
		if last := target == opt.sizes[len(opt.sizes)-1]; last || !r.Reached {
			rctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
			d, err := c.restart(rctx, 0)
			cancel()
			if err != nil {
				return err
			}
			l = c.nodes[0]
			r.RestartSeconds = d.Seconds()
		}
		emit(r)
		if !r.Reached {
			progress("growth: build time (--max-build %v) ran out at %d entries", opt.maxBuild, r.Size)
			break
		}
	}
	return nil
}

// buildTo submits signed batches until the ledger holds target entries or
// ctx ends. Signing runs on all cores beside the submitters, pipelined; it
// is not what is measured here. It returns how many submissions failed.
func buildTo(ctx context.Context, c *court, target uint64, opt growthOptions) int {
	l := c.nodes[0]
	var failed atomic.Int64
	for l.Size() < target && ctx.Err() == nil {
		need := int64(target - l.Size())
		type call struct {
			subs   []consensus.SignedSubmission
			signed *evidence.SignedBatch
		}
		batches := make(chan call, opt.submitters)
		var (
			produced atomic.Int64
			signers  sync.WaitGroup
			submits  sync.WaitGroup
		)
		for w := 0; w < runtime.GOMAXPROCS(0); w++ {
			signers.Add(1)
			go func() {
				defer signers.Done()
				rng := rand.New(rand.NewChaCha8(seed()))
				for ctx.Err() == nil {
					first := produced.Add(int64(opt.batch)) - int64(opt.batch)
					n := min(int64(opt.batch), need-first)
					if n <= 0 {
						return
					}
					var batch call
					if opt.signedBatch {
						b, err := c.subs.batch(rng, int(n))
						if err != nil {
							failed.Add(n)
							continue
						}
						batch.signed = b
					}
					for i := int64(0); i < n && !opt.signedBatch; i++ {
						s, err := c.subs.one(rng)
						if err != nil {
							failed.Add(1)
							continue
						}
						batch.subs = append(batch.subs, s)
					}
					select {
					case batches <- batch:
					case <-ctx.Done():
						return
					}
				}
			}()
		}
		go func() { signers.Wait(); close(batches) }()
		for s := 0; s < opt.submitters; s++ {
			submits.Add(1)
			go func() {
				defer submits.Done()
				for batch := range batches {
					submit := func() ([]consensus.Result, error) {
						if batch.signed != nil {
							return l.SubmitSignedBatch(ctx, batch.signed)
						}
						return l.Submit(ctx, batch.subs)
					}
					res, err := submit()
					// More submitters than the leader admits at once
					// (BatchConfig.MaxPending) are told to come back.
					var busy *consensus.BusyError
					for errors.As(err, &busy) && ctx.Err() == nil {
						time.Sleep(busy.RetryAfter)
						res, err = submit()
					}
					if err != nil {
						failed.Add(int64(len(batch.subs)))
						if batch.signed != nil {
							failed.Add(int64(len(batch.signed.Submissions)))
						}
						continue
					}
					for _, r := range res {
						if r.Err != nil {
							failed.Add(1)
						}
					}
				}
			}()
		}
		submits.Wait()
		if failed.Load() > int64(target) {
			break // something is badly wrong; the row shows it
		}
	}
	return int(failed.Load())
}

// measureGrowth times opt.samples inclusion proofs of random entries in
// the whole tree and reads memory and file sizes.
func measureGrowth(l *consensus.Ledger, dir string, samples int, r *growthRow) error {
	size := l.Size()
	if size == 0 {
		return errors.New("growth: ledger is empty")
	}
	rng := rand.New(rand.NewPCG(size, 1))
	lat := make([]time.Duration, 0, samples)
	for range samples {
		i := rng.Uint64N(size)
		t0 := time.Now()
		p, err := l.InclusionProof(i, size)
		lat = append(lat, time.Since(t0))
		if err != nil {
			return fmt.Errorf("growth: proof of %d in %d: %w", i, size, err)
		}
		r.ProofLen = len(p)
	}
	slices.Sort(lat)
	res := bench.Result{Latencies: lat}
	r.ProofP50us, r.ProofP99us, r.ProofMaxUs = us(res.Percentile(0.5)), us(res.Percentile(0.99)), us(res.Max())
	m, err := bench.ReadMemory()
	if err != nil {
		return err
	}
	r.RSSMiB, r.AnonMiB, r.FileMiB, r.HeapMiB = mib(m.RSS), mib(m.Anon), mib(m.File), mib(m.HeapInuse)
	r.LedgerMiB = mib(fileSize(filepath.Join(dir, "ledger.db")))
	r.RaftLogMiB = mib(fileSize(filepath.Join(dir, "raft.db")))
	r.DiskPerEntry = float64(fileSize(filepath.Join(dir, "ledger.db"))+fileSize(filepath.Join(dir, "raft.db"))) / float64(size)
	return nil
}

func fileSize(path string) uint64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return uint64(st.Size())
}

func mib(b uint64) float64       { return float64(b) / (1 << 20) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
