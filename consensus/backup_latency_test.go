package consensus

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/courtledger/courtledger/evidence"
)

// TestBackupWriteLatency measures what a hot backup costs the writers: the
// latency of single submissions to a court of three nodes (in-memory Raft
// transport, files on disk, fsync on) whose ledger file is
// COURTLEDGER_BACKUP_LATENCY_MB MiB, first with no backup, then while
// Backup copies the leader's ledger to a file. It prints the figures
// (docs/benchmarks.md); it asserts only that writes go on during the copy.
// Skipped unless the variable is set: filling the ledger takes minutes.
//
//	COURTLEDGER_BACKUP_LATENCY_MB=256 go test -run TestBackupWriteLatency -v -timeout 30m ./consensus/
func TestBackupWriteLatency(t *testing.T) {
	mb, _ := strconv.Atoi(os.Getenv("COURTLEDGER_BACKUP_LATENCY_MB"))
	if mb <= 0 {
		t.Skip("set COURTLEDGER_BACKUP_LATENCY_MB to the ledger size to measure at")
	}
	c := inmemClusterWith(t, 3, func(cfg *Config) { cfg.Fast = false; cfg.TrailingLogs = 0 })
	c.registerPlatform("esign.example")
	leader := c.waitLeader()
	var dir string
	for id, l := range c.nodes {
		if l == leader {
			dir = c.dirs[id]
		}
	}
	ledgerBytes := func() int64 {
		fi, err := os.Stat(filepath.Join(dir, "ledger.db"))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	// Fill with full batches of entries with long titles, signed on every core.
	title := strings.Repeat("证", evidence.MaxTitleBytes/3-8)
	sub := func(req string) SignedSubmission {
		s := c.submission("esign.example", req, []byte(req))
		s.Submission.Title = title
		sig, err := s.Submission.Sign(c.platform)
		if err != nil {
			t.Fatal(err)
		}
		s.Signature = sig
		return s
	}
	start := time.Now()
	for b := 0; ledgerBytes() < int64(mb)<<20; b++ {
		batch := make([]SignedSubmission, 1024)
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(batch); i += 4 {
					batch[i] = sub(fmt.Sprintf("fill-%d-%d", b, i))
				}
			}()
		}
		wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if _, err := leader.Submit(ctx, batch); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	t.Logf("filled to %d MiB (%d entries) in %v", ledgerBytes()>>20, leader.Status().Size, time.Since(start).Round(time.Second))

	// Single submissions, one after another, for d; their latencies.
	measure := func(tag string, until func() bool) []time.Duration {
		var lat []time.Duration
		for i := 0; !until(); i++ {
			s := sub(fmt.Sprintf("%s-%d", tag, i))
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			t0 := time.Now()
			res, err := leader.Submit(ctx, []SignedSubmission{s})
			cancel()
			if err == nil {
				err = res[0].Err
			}
			if err != nil {
				t.Fatalf("%s submission %d: %v", tag, i, err)
			}
			lat = append(lat, time.Since(t0))
		}
		return lat
	}
	pct := func(lat []time.Duration, p float64) time.Duration {
		s := slices.Clone(lat)
		slices.Sort(s)
		return s[int(float64(len(s)-1)*p)]
	}
	quiet := time.Now().Add(10 * time.Second)
	base := measure("quiet", func() bool { return time.Now().After(quiet) })

	out, err := os.Create(filepath.Join(t.TempDir(), "backup"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	var (
		done     = make(chan struct{})
		took     time.Duration
		manifest BackupManifest
		berr     error
	)
	go func() {
		defer close(done)
		t0 := time.Now()
		manifest, berr = leader.Backup(context.Background(), io.Writer(out))
		if berr == nil {
			berr = out.Sync()
		}
		took = time.Since(t0)
	}()
	during := measure("during", func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
	if berr != nil {
		t.Fatal(berr)
	}
	if len(during) == 0 {
		t.Fatal("no submission was acknowledged during the backup")
	}
	t.Logf("backup of %d MiB (%d entries) took %v, %.0f MiB/s", manifest.Bytes>>20, manifest.Size, took.Round(time.Millisecond),
		float64(manifest.Bytes)/(1<<20)/took.Seconds())
	t.Logf("single submissions, no backup: n=%d p50=%v p99=%v max=%v", len(base), pct(base, .5), pct(base, .99), pct(base, 1))
	t.Logf("single submissions, during it: n=%d p50=%v p99=%v max=%v", len(during), pct(during, .5), pct(during, .99), pct(during, 1))
}
