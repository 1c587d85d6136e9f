package court

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/devca"
	"github.com/courtledger/courtledger/court/witness"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

// restartWith stops node i of c and starts it again on the same data with
// its Config changed by edit.
func restartWith(t *testing.T, c *netCourt, i int, edit func(*Config)) {
	t.Helper()
	c.stop(i)
	cfg := c.config(i)
	edit(&cfg)
	n, err := Start(cfg)
	if err != nil {
		t.Fatalf("restart %s: %v", c.peers[i].NodeID, err)
	}
	c.nodes[i] = n
}

// A filing at Hangzhou is mirrored at Beijing long before Beijing's next
// poll, because Hangzhou pushes its new head down Beijing's watch. The
// other prompt path, Hangzhou's own follower gossiping its new head to
// Beijing, is cut: Hangzhou cannot reach Beijing (one-way reachability,
// as behind a firewall that takes no calls in). With the watch off, the
// same filing waits for the poll, 30 s (TestWatchOffWaitsForPoll).
func TestWatchMirrorsBeforeThePoll(t *testing.T) {
	took := watchScenario(t, false, 15*time.Second)
	t.Logf("mirrored at Beijing %v after the filing at Hangzhou was acknowledged", took)
}

// The control of TestWatchMirrorsBeforeThePoll: without the watch the
// same filing is not mirrored within 15 s (it is at the poll, 30 s).
func TestWatchOffWaitsForPoll(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 15 s to see nothing happen")
	}
	if took := watchScenario(t, true, 0); took >= 0 {
		t.Fatalf("with the watch off, mirrored in %v, before the poll: the test no longer tells the watch apart", took)
	}
}

// watchScenario runs two one-node courts that poll each other every 30 s,
// Hangzhou unable to call Beijing, files one item at Hangzhou and waits
// up to limit (15 s if limit is 0) for Beijing to hold it with a receipt
// that verifies under Hangzhou's key. It returns how long that took, or -1
// if it did not happen within 15 s and limit was 0; it fails the test if
// it did not happen within a non-zero limit.
func watchScenario(t *testing.T, noWatch bool, limit time.Duration) time.Duration {
	nw := newNetwork(t, nil, []string{hz, bj}, 1, nil)
	H, B := nw.courts[hz], nw.courts[bj]
	H.file("before", 3)
	eventually(t, 30*time.Second, "Beijing to mirror Hangzhou's first filings", func() bool { return mirrorSize(B.any(), hz) == 3 })
	nw.mu.Lock()
	nw.blocked[[2]string{hz, bj}] = true
	for _, c := range nw.conns[[2]string{hz, bj}] {
		c.Close()
	}
	nw.conns[[2]string{hz, bj}] = nil
	nw.mu.Unlock()
	slow := func(cfg *Config) {
		cfg.Sync.Interval, cfg.Sync.IdleInterval, cfg.Sync.NoWatch = 30*time.Second, 60*time.Second, noWatch
	}
	// Hangzhou first, so that Beijing's watch finds it serving.
	restartWith(t, H, 0, slow)
	H.waitLeader()
	restartWith(t, B, 0, slow)
	B.waitLeader()
	waitAllReady(t, []*Node{B.nodes[0], H.nodes[0]})
	// Let Beijing's first round after its restart pass, and its watch
	// start.
	time.Sleep(3 * time.Second)

	start := time.Now()
	id := H.file("watched", 1)[0]
	ev, _ := nw.dial(B.nodes[0].GRPCAddr())
	wait := limit
	if wait == 0 {
		wait = 15 * time.Second
	}
	for time.Since(start) < wait {
		if mirrorSize(B.nodes[0], hz) >= 4 {
			took := time.Since(start)
			r, err := getWhileBehind(context.Background(), ev, id)
			if err != nil {
				t.Fatalf("Beijing mirrors the filing but GetEvidence says %v", err)
			}
			if !r.Receipt.Provenance.Mirrored || r.Receipt.Provenance.OriginCourt != hz {
				t.Fatalf("provenance %+v", r.Receipt.Provenance)
			}
			verifyCourtReceipt(t, hz, H, r.Receipt)
			return took
		}
		time.Sleep(20 * time.Millisecond)
	}
	if limit != 0 {
		t.Fatalf("Beijing did not mirror Hangzhou's filing within %v (its poll is 30 s away)", limit)
	}
	return -1
}

// silentCourt is a court of an older version: it serves the sync calls
// but not WatchHeads, and counts the watches asked of it.
type silentCourt struct {
	*fakeCourt
	watches atomic.Int64
}

func (s *silentCourt) WatchHeads(*pb.WatchHeadsRequest, grpc.ServerStreamingServer[pb.WatchHeadsResponse]) error {
	s.watches.Add(1)
	return status.Error(codes.Unimplemented, "method WatchHeads not implemented")
}

// A court that does not offer WatchHeads is followed by polling, as
// before; the watch is asked again, with backoff, not at every round.
func TestWatchUnimplementedFallsBackToPolling(t *testing.T) {
	l, ca := newLiar(t), testCA(t)
	grown := newHistory(t, l.signer, l.platform, "a", 80, 8)
	first := &history{entries: grown.entries[:40], heads: map[uint64][]byte{}, store: merkle.NewMemStore(), last: 40}
	for i, raw := range first.entries {
		first.store.AppendLeaf(raw)
		if note, ok := grown.heads[uint64(i+1)]; ok {
			first.heads[uint64(i+1)] = note
		}
	}
	fake := &silentCourt{fakeCourt: &fakeCourt{hist: first}}
	srv := startSilent(t, ca, fake)
	nw := newNetwork(t, ca, []string{bj}, 1, func(string) []witness.OtherCourt {
		return []witness.OtherCourt{{Court: liar, Endpoints: []string{srv}, Key: l.key.Public()}}
	})
	B := nw.courts[bj]
	eventually(t, 30*time.Second, "Beijing to mirror the court's 40 entries", func() bool { return mirrorSize(B.any(), liar) == 40 })
	fake.serve(grown) // the same log, grown
	eventually(t, 30*time.Second, "Beijing to mirror the court's 80 entries by polling", func() bool { return mirrorSize(B.any(), liar) == 80 })
	time.Sleep(2 * time.Second)
	asked := fake.watches.Load()
	if asked == 0 {
		t.Fatal("Beijing never asked the court for a watch")
	}
	// Rounds are 100 ms apart here; the watch backs off from 100 ms to
	// IdleInterval (1.5 s), so the several seconds of this test see a
	// dozen asks or so, not one per round.
	if asked > 30 {
		t.Fatalf("Beijing asked for a watch %d times in a few seconds: it does not back off", asked)
	}
	t.Logf("watch asked %d times", asked)
	if alarms, _ := B.any().ledger.Alarms(true); len(alarms) != 0 {
		t.Fatalf("alarms: %+v", alarms)
	}
}

// startSilent serves s as startFake serves a fakeCourt and returns its
// address.
func startSilent(t *testing.T, ca *devca.CA, s *silentCourt) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := ca.Issue(access.NodeIdentity(liar, "liar-1"), devca.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, certPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))
	pb.RegisterSyncServiceServer(srv, s)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// A node serves at most witness.MaxWatchers watches: the next is refused
// with ResourceExhausted, and one closed makes room. A watch sends the
// newest head at once and each newer one as the log grows.
func TestWatchHeadsBoundAndPush(t *testing.T) {
	c := startCourt(t, 1)
	n := c.nodes[0]
	ctx := context.Background()
	if err := n.ledger.RegisterPlatform(ctx, "esign.example", c.platform.Public()); err != nil {
		t.Fatal(err)
	}
	file := func(rid string) uint64 {
		t.Helper()
		s := evidence.Submission{Court: testCourt, Platform: "esign.example", RequestID: rid, Fingerprint: sm3.Sum([]byte(rid)),
			Category: evidence.CategoryContract, Title: "合同", SignedAt: time.Now().UTC().Truncate(time.Millisecond)}
		sig, err := s.Sign(c.platform)
		if err != nil {
			t.Fatal(err)
		}
		res, err := n.ledger.Submit(ctx, []consensus.SignedSubmission{{Submission: s, Signature: sig}})
		if err != nil || res[0].Err != nil {
			t.Fatalf("file: %v %v", err, res)
		}
		return n.ledger.Size()
	}
	file("one")
	sc := pb.NewSyncServiceClient(dialToken(t, c.ca, n.GRPCAddr(), tokenFor(access.RolePeer)))
	v, _ := checkpoint.NewVerifier(testCourt, c.key.Public())
	size := func(r *pb.WatchHeadsResponse) uint64 {
		t.Helper()
		h, _, err := checkpoint.Open([]byte(r.Note), v)
		if err != nil {
			t.Fatalf("pushed head does not verify: %v\n%s", err, r.Note)
		}
		return h.Size
	}

	wctx, cancelAll := context.WithCancel(ctx)
	defer cancelAll()
	var streams []grpc.ServerStreamingClient[pb.WatchHeadsResponse]
	cancels := make([]context.CancelFunc, witness.MaxWatchers)
	for i := range witness.MaxWatchers {
		sctx, cancel := context.WithCancel(wctx)
		cancels[i] = cancel
		s, err := sc.WatchHeads(sctx, &pb.WatchHeadsRequest{FromCourt: bj})
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Recv() // the newest head, at once
		if err != nil {
			t.Fatalf("watch %d: %v", i, err)
		}
		if got := size(r); got != 1 {
			t.Fatalf("watch %d starts at size %d, want 1", i, got)
		}
		streams = append(streams, s)
	}
	over, err := sc.WatchHeads(wctx, &pb.WatchHeadsRequest{FromCourt: bj})
	if err == nil {
		_, err = over.Recv()
	}
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("watch %d: %v, want ResourceExhausted", witness.MaxWatchers+1, err)
	}

	// Growth reaches every watch, the newest head first.
	want := file("two")
	for i, s := range streams {
		r, err := s.Recv()
		if err != nil {
			t.Fatalf("watch %d after a filing: %v", i, err)
		}
		if got := size(r); got != want {
			t.Fatalf("watch %d pushed size %d, want %d", i, got, want)
		}
	}

	// One closed makes room for another.
	cancels[0]()
	eventually(t, 10*time.Second, "room for a watch after one closed", func() bool {
		s, err := sc.WatchHeads(wctx, &pb.WatchHeadsRequest{FromCourt: bj})
		if err != nil {
			return false
		}
		if _, err := s.Recv(); err != nil {
			if status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("watch after one closed: %v", err)
			}
			return false
		}
		return true
	})
}

// Stopping a node ends its open watches cleanly and at once: GracefulStop
// waits for every stream, so a watch that outlived the node's done would
// hold Shutdown until its deadline, and the watcher would see the
// connection cut instead of the end of the stream.
func TestShutdownEndsWatches(t *testing.T) {
	c := startCourt(t, 1)
	n := c.nodes[0]
	sc := pb.NewSyncServiceClient(dialToken(t, c.ca, n.GRPCAddr(), tokenFor(access.RolePeer)))
	s, err := sc.WatchHeads(context.Background(), &pb.WatchHeadsRequest{FromCourt: bj})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() {
		for {
			if _, err := s.Recv(); err != nil {
				ended <- err
				return
			}
		}
	}()
	const deadline = 20 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); n.Shutdown(ctx) }()
	wg.Wait()
	took := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("Shutdown ran into its %v deadline with a watch open (took %v)", deadline, took)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("the watch ended with %v, want the end of the stream", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watch is still open after the node stopped")
	}
	t.Logf("Shutdown with a watch open took %v", took)
}
