package consensus

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// The bound is kept: calls are admitted while the submissions held stay
// within it, refused whole beyond it with a delay that grows with what is
// pending and shrinks with the rate it drains at; a call larger than the
// bound still gets in when nothing else is held.
func TestAdmission(t *testing.T) {
	now := time.Unix(0, 0)
	a := newAdmission(100, func() time.Time { return now })
	if err := a.take(60); err != nil {
		t.Fatal(err)
	}
	if err := a.take(40); err != nil {
		t.Fatalf("up to the bound: %v", err)
	}
	var busy *BusyError
	if err := a.take(1); !errors.As(err, &busy) || busy.Pending != 100 || busy.RetryAfter != time.Second {
		t.Fatalf("over the bound, no rate known yet: %v, want BusyError with 100 pending and 1 s", err)
	}
	if a.pending.Load() != 100 {
		t.Fatalf("a refused call changed the count: %d", a.pending.Load())
	}
	now = now.Add(time.Second)
	a.release(50) // 50 answered in a second
	err := a.take(60)
	if !errors.As(err, &busy) || busy.RetryAfter != time.Second {
		t.Fatalf("50 pending at 50/s: %v, want a retry after 1 s", err)
	}
	if err := a.take(50); err != nil {
		t.Fatalf("back to the bound: %v", err)
	}
	a.release(100)
	if err := a.take(250); err != nil {
		t.Fatalf("a call larger than the bound, nothing pending: %v", err)
	}
	if err := a.take(1); err == nil {
		t.Fatal("admitted beside an oversized call")
	}
	now = now.Add(time.Second)
	a.release(250) // 100 + 250 answered in this second
	a.take(100)
	rate := 350.0
	if err := a.take(1); !errors.As(err, &busy) || busy.RetryAfter != time.Duration(100/rate*float64(time.Second)) {
		t.Fatalf("100 pending at 350/s: %v, want 286 ms", err)
	}
}

// A flood of 16,384 submissions outstanding at once through 256 batch
// calls (issue 14: it cost the leader its leadership twice and nothing was
// acknowledged): the leader stays leader, every call is either recorded
// whole or refused with a delay to retry after, and the ledger grows by
// exactly what was acknowledged.
func TestFloodIsRefusedNotFatal(t *testing.T) {
	if raceDetector {
		// The race detector slows this process several times over: on two
		// cores three nodes in one process then miss a 500 ms lease
		// whatever the court does. .ci/run runs this test without it.
		t.Skip("a timing claim: run without -race (.ci/run does)")
	}
	// Loopback TCP (Raft's network transport, whose heartbeats do not
	// queue behind large appends) and Raft's production timeouts (a 500 ms
	// lease), not the tests' Fast ones: a court as deployed.
	fn := newFaultNet()
	c := newTestClusterWith(t, 3, func(string) (raft.Transport, string) { return fn.transport() }, func(cfg *Config) { cfg.Fast = false })
	c.registerPlatform("esign.example")
	const calls, per = 256, 64
	batches := make([][]SignedSubmission, calls)
	// Signed on as many goroutines as cores, before the flood: signing
	// them all at once would itself starve the court's Raft.
	var next atomic.Int64
	var signing sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		signing.Go(func() {
			for i := int(next.Add(1) - 1); i < calls; i = int(next.Add(1) - 1) {
				for j := 0; j < per; j++ {
					batches[i] = append(batches[i], c.submission("esign.example", fmt.Sprintf("flood-%d-%d", i, j), []byte(fmt.Sprintf("file %d %d", i, j))))
				}
			}
		})
	}
	signing.Wait()
	leader := c.waitLeader()
	before := leader.Size()
	term := leader.raftNode().CurrentTerm()
	var (
		mu                sync.Mutex
		acked, refused    int
		wg                sync.WaitGroup
		start             = make(chan struct{})
		ctx, cancel       = context.WithTimeout(context.Background(), 2*time.Minute)
		unexpected        []error
		minRetry, maxWait time.Duration = time.Hour, 0
	)
	defer cancel()
	for i := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := leader.Submit(ctx, batches[i])
			mu.Lock()
			defer mu.Unlock()
			var busy *BusyError
			switch {
			case errors.As(err, &busy):
				refused++
				minRetry, maxWait = min(minRetry, busy.RetryAfter), max(maxWait, busy.RetryAfter)
			case err != nil:
				unexpected = append(unexpected, err)
			default:
				for _, r := range res {
					if r.Err != nil {
						unexpected = append(unexpected, r.Err)
						continue
					}
					acked++
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(unexpected) > 0 {
		t.Fatalf("%d submissions neither recorded nor refused as busy, e.g. %v", len(unexpected), unexpected[0])
	}
	if refused == 0 || acked == 0 {
		t.Fatalf("acknowledged %d, refused %d calls: the bound did not bite, or nothing got through", acked, refused)
	}
	if minRetry < minRetryAfter || maxWait > maxRetryAfter {
		t.Errorf("retry delays %v..%v outside [%v, %v]", minRetry, maxWait, minRetryAfter, maxRetryAfter)
	}
	if !leader.IsLeader() || leader.raftNode().CurrentTerm() != term {
		t.Fatalf("the flood cost the leader its leadership: leader %v, term %d → %d", leader.IsLeader(), term, leader.raftNode().CurrentTerm())
	}
	if grew := leader.Size() - before; grew != uint64(acked) {
		t.Fatalf("ledger grew by %d, %d acknowledged", grew, acked)
	}
	c.waitConverged(before + uint64(acked))
	t.Logf("%d calls of %d: %d submissions acknowledged, %d calls refused (retry after %v..%v)", calls, per, acked, refused, minRetry, maxWait)
}
