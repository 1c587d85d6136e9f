package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

// A second demo, whose ports are taken, fails before it writes anything:
// no keys, no CA, no data beside the first demo's.
func TestDemoPortsTakenWritesNothing(t *testing.T) {
	base := freeDemoBase(t)
	_, grpc, _ := demoPorts(base, 1, 2) // one port in the middle: Beijing's third node's gRPC
	ln, err := net.Listen("tcp", grpc)
	if err != nil {
		t.Skipf("port %s: %v", grpc, err)
	}
	defer ln.Close()
	dir := filepath.Join(t.TempDir(), "demo")
	d, err := startDemo(dir, base, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		d.stop()
		t.Fatal("the demo started with one of its ports taken")
	}
	for _, want := range []string{grpc, "--base-port", "another courtd demo"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, serr := os.Stat(dir); !errors.Is(serr, os.ErrNotExist) {
		entries, _ := os.ReadDir(dir)
		t.Fatalf("the failed demo wrote %s: %v", dir, entries)
	}
}

// freeDemoBase picks a base port whose demo ports are all free now. The
// bases lie below Linux's ephemeral range (32768 and up), where the
// outgoing connections of other tests on a busy machine take ports too.
func freeDemoBase(t *testing.T) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		base := 22000 + rand.IntN(400)*20
		if checkDemoPorts(base) == nil {
			return base
		}
	}
	t.Skip("no free range of demo ports found")
	return 0
}

func TestDemoBasePortOutOfRange(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	for _, base := range []int{0, 80, 65000} {
		d, err := startDemo(dir, base, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err == nil {
			d.stop()
		}
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), fmt.Sprintf("--base-port %d", base)) {
			t.Errorf("base %d: %v, want a usage error naming --base-port", base, err)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused demo wrote %s", dir)
	}
}

// An idle demo syncs little: its courts' Raft logs grow by a few records
// in ten seconds, not by a freshness record every 2 s per mirror and an
// audit record of each of the calls a sync round a second makes. Yet a
// new filing is still mirrored at once: the filing court's new head ends
// the others' idle wait.
func TestDemoIdleSyncIsCheapButPrompt(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo for 40 s")
	}
	dir := t.TempDir()
	base := freeDemoBase(t)
	d, err := startDemo(dir, base, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.stop()
	key, err := loadOrMakeKey(filepath.Join(dir, "keys", "platform.key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	leader := func(courtID string) *consensus.Ledger {
		for _, n := range d.nodes {
			if n.court == courtID && n.node.Ledger().IsLeader() {
				return n.node.Ledger()
			}
		}
		return nil
	}
	file := func(courtID, req string) {
		t.Helper()
		s := evidence.Submission{Court: courtID, Platform: demoPlatform, RequestID: req, Fingerprint: sm3.Sum([]byte(req)),
			Category: evidence.CategoryContract, Title: req, SignedAt: time.Now()}
		sig, err := s.Sign(key)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := leader(courtID).Submit(ctx, []consensus.SignedSubmission{{Submission: s, Signature: sig}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("file at %s: %v %v", courtID, err, res)
		}
	}
	// mirrored reports whether every court's leader mirrors size entries of
	// court (and the first entry of the others).
	mirrored := func(court string, size uint64) bool {
		for _, c := range demoCourts {
			l := leader(c.id)
			if l == nil {
				return false
			}
			for _, o := range demoCourts {
				want := uint64(1)
				if o.id == court {
					want = size
				}
				if st, err := l.Mirror(o.id); o.id != c.id && (err != nil || st.Size < want) {
					return false
				}
			}
		}
		return true
	}
	for _, c := range demoCourts {
		file(c.id, "idle-first-"+c.prefix)
	}
	waitFor(t, 30*time.Second, "every court to mirror the others", func() bool { return mirrored("", 0) })

	// Idle: sync rounds back off to one per pair of courts every 15 s.
	time.Sleep(20 * time.Second)
	commits := func() (sum uint64) {
		for _, c := range demoCourts {
			sum += leader(c.id).Status().CommitIndex
		}
		return sum
	}
	before := commits()
	time.Sleep(10 * time.Second)
	if grew := commits() - before; grew > 30 {
		t.Errorf("idle for 10 s, the three courts' Raft logs grew by %d records", grew)
	} else {
		t.Logf("idle for 10 s, the three courts' Raft logs grew by %d records", grew)
	}

	// A filing at Hangzhou reaches the others well within the idle wait.
	// The last rounds that changed something ran when everything was
	// mirrored, at T: the next are at T+1, 3, 7, 15, 30 and 45 s. Filed at
	// T+37, a filing waiting for a round would take some 8 s.
	time.Sleep(7 * time.Second)
	start := time.Now()
	file(demoCourts[0].id, "idle-second")
	waitFor(t, 15*time.Second, "the others to mirror Hangzhou's new filing", func() bool { return mirrored(demoCourts[0].id, 2) })
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a filing after an idle spell took %v to be mirrored", took)
	} else {
		t.Logf("a filing after an idle spell was mirrored everywhere in %v", took)
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Every demo node serves /metrics in plain HTTP on the address the demo
// prints, its own metrics (court and node labels), for a Prometheus
// server to scrape (docs/operations.md, "Dashboard").
func TestDemoServesMetrics(t *testing.T) {
	dir := t.TempDir()
	base := freeDemoBase(t)
	d, err := startDemo(dir, base, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.stop()
	var printed strings.Builder
	d.print(&printed)
	for _, n := range d.nodes {
		url := "http://" + n.metrics + "/metrics"
		if !strings.Contains(printed.String(), url) {
			t.Errorf("the demo does not print %s's metrics address %s:\n%s", n.id, url, printed.String())
		}
		resp, err := http.Get(url)
		if err != nil {
			t.Errorf("%s: %v", n.id, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := fmt.Sprintf(`courtledger_ledger_size{court=%q,node=%q}`, n.court, n.id)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("%s: GET %s: %s, no %s in:\n%.500s", n.id, url, resp.Status, want, body)
		}
	}
}
