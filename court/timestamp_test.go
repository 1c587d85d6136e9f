package court

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court/stamp"
	"github.com/courtledger/courtledger/crypto/sm2"
)

// gatedTSA issues tokens "sha256(data)|unix ms" once its gate is open;
// until then every request hangs, as a TSA that accepted the connection
// and never answers.
type gatedTSA struct {
	gate  chan struct{}
	once  sync.Once
	mu    sync.Mutex
	calls int
}

func (g *gatedTSA) Name() string { return "tsa.test" }
func (g *gatedTSA) open()        { g.once.Do(func() { close(g.gate) }) }

func (g *gatedTSA) Stamp(ctx context.Context, data []byte) ([]byte, error) {
	g.mu.Lock()
	g.calls++
	g.mu.Unlock()
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return fmt.Appendf(nil, "%x|%d", sha256.Sum256(data), time.Now().UnixMilli()), nil
}

func (g *gatedTSA) requested() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls > 0
}

func gatedVerify(tsr, data []byte, headTime time.Time) (stamp.Info, error) {
	imprint, ms, _ := strings.Cut(string(tsr), "|")
	if imprint != fmt.Sprintf("%x", sha256.Sum256(data)) {
		return stamp.Info{}, errors.New("token for other data")
	}
	var at int64
	fmt.Sscan(ms, &at)
	if d := time.UnixMilli(at).Sub(headTime); d > time.Minute || d < -time.Minute {
		return stamp.Info{}, fmt.Errorf("token time %v from the head's", d)
	}
	return stamp.Info{Time: time.UnixMilli(at), TSA: "tsa.test"}, nil
}

// waitStamped waits until every node in nodes holds a token for the
// court's newest head, which must be at least size.
func waitStamped(t *testing.T, nodes []*Node, size uint64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var seen []string
		done := true
		for _, n := range nodes {
			last, err := n.ledger.LastStamped()
			h, herr := n.ledger.LatestHead()
			if err != nil || herr != nil || last < size || last != h.Head.Size {
				done = false
			}
			seen = append(seen, fmt.Sprintf("%s stamped %d head %d", n.cfg.NodeID, last, h.Head.Size))
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("heads not stamped on every node (want >= %d): %v", size, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The leader stamps its heads off the acknowledgement path: with the TSA
// hanging, evidence is still filed; once it answers, one token covers
// every entry, and every node holds it. When the leader dies, the new one
// goes on stamping.
func TestCourtStampsHeads(t *testing.T) {
	tsa := &gatedTSA{gate: make(chan struct{})}
	c := startCourtWith(t, 3, func(cfg *Config) {
		cfg.TSAs = []stamp.TSA{tsa}
		cfg.TSAVerify = gatedVerify
	})
	defer tsa.open()
	ctx := context.Background()
	leader := c.leader()
	ev, admin := c.dial(t, leader.GRPCAddr())
	if _, err := admin.RegisterPlatform(ctx, &pb.RegisterPlatformRequest{PlatformId: "esign.example", PublicKeyPem: string(c.platform.Public().MarshalPEM())}); err != nil {
		t.Fatal(err)
	}
	if _, err := ev.Submit(ctx, &pb.SubmitRequest{Submission: c.signed(t, "first", []byte("first file"))}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the leader to ask the TSA for the first head", func() (bool, string) { return tsa.requested(), "" })

	// The TSA hangs; submissions are acknowledged regardless.
	submitSome := func(tag string) string {
		var lat []time.Duration
		for i := 0; i < 20; i++ {
			start := time.Now()
			resp, err := ev.Submit(ctx, &pb.SubmitRequest{Submission: c.signed(t, fmt.Sprintf("%s-%d", tag, i), []byte(fmt.Sprint(tag, i)))})
			if err != nil {
				t.Fatalf("submission %d (%s): %v", i, tag, err)
			}
			lat = append(lat, time.Since(start))
			verifyReceipt(t, c.key, resp.Receipt)
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		return fmt.Sprintf("median %v, max %v", lat[len(lat)/2], lat[len(lat)-1])
	}
	hanging := submitSome("hang")
	if last, _ := leader.ledger.LastStamped(); last != 0 {
		t.Fatalf("stamped %d while the TSA hangs", last)
	}
	waitFor(t, "the leader to count the unstamped heads", func() (bool, string) {
		heads, since := leader.stamper.Behind()
		return heads > 1 && !since.IsZero(), fmt.Sprint(heads)
	})

	mfs, err := leader.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exposed := false
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if mf.GetName() == "courtledger_tsa_behind_heads" && labels["node"] == leader.cfg.NodeID && m.GetGauge().GetValue() > 1 {
				exposed = true
			}
		}
	}
	if !exposed {
		t.Fatal("the node's metrics do not show it behind (courtledger_tsa_behind_heads with its node label)")
	}

	tsa.open()
	h, err := leader.ledger.LatestHead()
	if err != nil {
		t.Fatal(err)
	}
	waitStamped(t, c.nodes, h.Head.Size)
	for _, n := range c.nodes {
		// The request that hung was for the first head (entry 0); the
		// next stamp, of the newest head, covers everything filed while
		// the TSA hung.
		if size, _, _, ok, err := n.ledger.TimestampCovering(0); err != nil || !ok || size != 1 {
			t.Fatalf("%s: token covering entry 0: size %d %v %v, want the first head's", n.cfg.NodeID, size, ok, err)
		}
		size, name, tok, ok, err := n.ledger.TimestampCovering(1)
		if err != nil || !ok || name != "tsa.test" || size != h.Head.Size || len(tok) == 0 {
			t.Fatalf("%s: token covering entry 1: size %d %q %v %v, want the newest head's (%d)", n.cfg.NodeID, size, name, ok, err, h.Head.Size)
		}
		sh, err := n.ledger.HeadAt(size)
		if err != nil {
			t.Fatal(err)
		}
		text, err := stamp.Imprinted(sh.Note)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := gatedVerify(tok, text, sh.Head.Time); err != nil {
			t.Fatalf("%s: the recorded token does not verify over the head's text: %v", n.cfg.NodeID, err)
		}
	}

	// Measured, not asserted: what a submission costs while the TSA hangs
	// and while it answers at once.
	t.Logf("20 submissions, one at a time, while the TSA hangs: %s; while it answers: %s", hanging, submitSome("answering"))

	// The leader dies; the new one stamps what is filed next.
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	leader.Shutdown(sctx)
	cancel()
	var rest []*Node
	for _, n := range c.nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	var next *Node
	waitFor(t, "a new leader", func() (bool, string) {
		for _, n := range rest {
			if n.ledger.IsLeader() {
				next = n
				return true, ""
			}
		}
		return false, "none"
	})
	ev2, _ := c.dial(t, next.GRPCAddr())
	var resp *pb.SubmitResponse
	waitFor(t, "a submission to the new leader", func() (bool, string) {
		resp, err = ev2.Submit(ctx, &pb.SubmitRequest{Submission: c.signed(t, "after", []byte("after failover"))})
		return err == nil, fmt.Sprint(err)
	})
	waitStamped(t, rest, resp.Receipt.Entry.Index+1)
	if size, _, _, ok, _ := next.ledger.TimestampCovering(resp.Receipt.Entry.Index); !ok || size <= resp.Receipt.Entry.Index {
		t.Fatalf("entry %d filed after the failover has no covering token (size %d)", resp.Receipt.Entry.Index, size)
	}
}

// TSAs without a verifier are refused at start: a token is recorded only
// once it verifies. The node releases what it opened.
func TestStartRefusesTSAsWithoutVerify(t *testing.T) {
	key, _ := sm2.GenerateKey()
	ca := testCA(t)
	p := Peer{NodeID: "hz-0", RaftAddr: freeAddr(t), GRPCAddr: freeAddr(t)}
	cfg := Config{
		Court: testCourt, NodeID: p.NodeID, DataDir: filepath.Join(t.TempDir(), p.NodeID),
		RaftAddr: p.RaftAddr, GRPCAddr: p.GRPCAddr, HTTPAddr: "127.0.0.1:0", CourtKey: key,
		Peers: []Peer{p}, Bootstrap: true, Fast: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Security: testSecurity(t, ca, testCourt, p.NodeID),
		TSAs:     []stamp.TSA{&gatedTSA{gate: make(chan struct{})}},
	}
	if n, err := Start(cfg); err == nil || !strings.Contains(err.Error(), "Verify is required") {
		if n != nil {
			n.Shutdown(context.Background())
		}
		t.Fatalf("Start with TSAs and no TSAVerify: %v, want an error naming Verify", err)
	}
	// Nothing stays open: the same node starts once configured properly.
	cfg.TSAVerify = gatedVerify
	n, err := Start(cfg)
	if err != nil {
		t.Fatalf("start after the refusal: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n.Shutdown(ctx)
}
