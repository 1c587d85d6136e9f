package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

// previousRelease is the last commit whose CI passed and that landed
// before the trusted-time and web releases (issues 15 and 16): the build a
// court would be running when it upgrades to this one. Move it forward
// when a release lands.
const previousRelease = "67440a1"

// buildPreviousRelease builds courtd at previousRelease from this
// repository's history (git archive, so the work tree is not touched).
// A checkout without that commit (a shallow clone) skips the test, saying
// so: the release cannot be built from nothing.
func buildPreviousRelease(t *testing.T) string {
	t.Helper()
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("rolling upgrade: not a git checkout, so release %s cannot be built: %v", previousRelease, err)
	}
	repo := strings.TrimSpace(string(top))
	if err := exec.Command("git", "-C", repo, "cat-file", "-e", previousRelease+"^{commit}").Run(); err != nil {
		t.Skipf("rolling upgrade: commit %s is not in this checkout (shallow clone?), so the previous release cannot be built", previousRelease)
	}
	src := t.TempDir()
	archive := exec.Command("sh", "-c", fmt.Sprintf("git -C %q archive --format=tar %s | tar -x -C %q", repo, previousRelease, src))
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("extract %s: %v\n%s", previousRelease, err, out)
	}
	bin := filepath.Join(t.TempDir(), "courtd-"+previousRelease)
	build := exec.Command("go", "build", "-o", bin, "./cmd/courtd")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build courtd at %s: %v\n%s", previousRelease, err, out)
	}
	return bin
}

// A court of three nodes of the previous release is upgraded to this
// build one node at a time while a platform keeps filing: every filing
// acknowledged before, during and after is on every node exactly once,
// under the index its receipt gave, and each receipt verifies.
func TestRollingUpgradeFromThePreviousRelease(t *testing.T) {
	current, _ := binaries(t)
	old := buildPreviousRelease(t)
	ec := startCourtProcessesWith(t, old)

	c := ec.platformClient(t)

	// A platform files all along, one at a time, retrying as its client
	// does; acked holds what the court acknowledged.
	var (
		mu     sync.Mutex
		acked  = map[string]*evidence.Receipt{}
		failed []string
		// The longest wait between two acknowledgements: how long the
		// court stopped filing while a node was replaced (a measurement,
		// not asserted: it is an election timeout or so, and timing on
		// busy cores varies).
		lastAck time.Time
		maxGap  time.Duration
	)
	file := func(name string) {
		s, err := c.Sign(evidence.Submission{RequestID: name, Fingerprint: sm3.Sum([]byte(name)), Category: evidence.CategoryContract, Title: name})
		if err != nil {
			t.Error(err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		r, _, err := c.Submit(ctx, s)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", name, err))
			return
		}
		acked[name] = r
		if now := time.Now(); !lastAck.IsZero() {
			maxGap = max(maxGap, now.Sub(lastAck))
			lastAck = now
		} else {
			lastAck = now
		}
	}
	for i := 0; i < 5; i++ {
		file(fmt.Sprintf("before-%d", i))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			file(fmt.Sprintf("during-%d", i))
			time.Sleep(20 * time.Millisecond)
		}
	}()

	// One node at a time: stop the old build, start this one on the same
	// data directory and configuration, wait until it is ready.
	for _, n := range ec.nodes {
		n.proc.cmd.Process.Signal(syscall.SIGTERM)
		n.proc.cmd.Wait()
		n.proc = startProc(t, current, "run", "--config", n.config)
		ec.waitReady(t, n)
		mu.Lock()
		t.Logf("%s upgraded; %d filings acknowledged so far", n.id, len(acked))
		mu.Unlock()
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	for i := 0; i < 5; i++ {
		file(fmt.Sprintf("after-%d", i))
	}
	if len(failed) > 0 {
		// Not a loss: an unacknowledged filing may or may not be in the
		// log; the client retried for a minute, so say so.
		t.Errorf("%d filings were not acknowledged within a minute of retries during the upgrade: %v", len(failed), failed)
	}
	if len(acked) < 15 {
		t.Fatalf("only %d filings were acknowledged", len(acked))
	}

	// Every acknowledged filing, on every node: found once, at its index.
	for _, n := range ec.nodes {
		nc := courtClient(t, ec, access.RoleJudge, n.grpc) // a judge looks up any filing
		for name, r := range acked {
			var (
				got  []*evidence.Receipt
				last error
			)
			deadline := time.Now().Add(60 * time.Second)
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				got, _, last = nc.Verify(ctx, sm3.Sum([]byte(name)))
				cancel()
				if last == nil && len(got) > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s (acknowledged at index %d) on %s: %d records, %v\n%s said:\n%s", name, r.Entry.Index, n.id, len(got), last, n.id, tail(n.proc.output(), 3000))
				}
				time.Sleep(100 * time.Millisecond)
			}
			if len(got) != 1 || got[0].Entry.Index != r.Entry.Index || got[0].Entry.Submission.RequestID != name {
				t.Fatalf("%s on %s: %d records (first at %d), acknowledged once at index %d", name, n.id, len(got), got[0].Entry.Index, r.Entry.Index)
			}
		}
	}
	t.Logf("%d filings acknowledged across the upgrade from %s, each on all 3 nodes once; the longest wait between two acknowledgements was %v",
		len(acked), previousRelease, maxGap.Round(time.Millisecond))
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
