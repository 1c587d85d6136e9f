package court

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/devca"
	"github.com/courtledger/courtledger/court/witness"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

// network is several courts in this process, joined by a sync dialer that
// can partition any court from any other: connections are cut and new
// ones refused until healed.
type network struct {
	t      *testing.T
	ca     *devca.CA // every court's certificates, as across a real network
	courts map[string]*netCourt
	owner  map[string]string // gRPC address -> court ID

	mu      sync.Mutex
	blocked map[[2]string]bool // {from, to} court IDs
	conns   map[[2]string][]net.Conn
}

type netCourt struct {
	id       string
	extra    []witness.OtherCourt
	key      *sm2.PrivateKey
	previous []*sm2.PublicKey // keys it signed with before key
	// trusts, if it has an entry for a court, lists the keys this court is
	// configured with for it; by default the court's key and previous keys.
	trusts   map[string][]*sm2.PublicKey
	peers    []Peer
	dirs     []string
	nodes    []*Node // nil while stopped
	platform *sm2.PrivateKey
	net      *network
}

var errPartitioned = errors.New("test network: partitioned")

// extra, if not nil, adds courts outside the network (test doubles) to a
// court's configuration.
func newNetwork(t *testing.T, ca *devca.CA, ids []string, nodesPerCourt int, extra func(court string) []witness.OtherCourt) *network {
	t.Helper()
	if ca == nil {
		ca = testCA(t)
	}
	nw := &network{t: t, ca: ca, courts: map[string]*netCourt{}, owner: map[string]string{},
		blocked: map[[2]string]bool{}, conns: map[[2]string][]net.Conn{}}
	for ci, id := range ids {
		key, _ := sm2.GenerateKey()
		platform, _ := sm2.GenerateKey()
		c := &netCourt{id: id, key: key, platform: platform, net: nw}
		if extra != nil {
			c.extra = extra(id)
		}
		for i := 0; i < nodesPerCourt; i++ {
			p := Peer{NodeID: fmt.Sprintf("c%d-n%d", ci, i), RaftAddr: freeAddr(t), GRPCAddr: freeAddr(t)}
			c.peers = append(c.peers, p)
			c.dirs = append(c.dirs, filepath.Join(t.TempDir(), p.NodeID))
			nw.owner[p.GRPCAddr] = id
		}
		c.nodes = make([]*Node, nodesPerCourt)
		nw.courts[id] = c
	}
	for _, c := range nw.courts {
		for i := range c.nodes {
			c.start(i)
		}
	}
	t.Cleanup(func() {
		for _, c := range nw.courts {
			for i := range c.nodes {
				c.stop(i)
			}
		}
	})
	for _, c := range nw.courts {
		c.waitLeader()
		waitAllReady(t, c.nodes)
		c.register("esign.example", c.platform)
	}
	return nw
}

func (c *netCourt) config(i int) Config {
	var others []witness.OtherCourt
	for _, o := range c.net.courts {
		if o.id == c.id {
			continue
		}
		oc := witness.OtherCourt{Court: o.id, Key: o.key.Public(), Keys: o.previous}
		if keys, ok := c.trusts[o.id]; ok {
			oc.Key, oc.Keys = nil, keys
		}
		for _, p := range o.peers {
			oc.Endpoints = append(oc.Endpoints, p.GRPCAddr)
		}
		others = append(others, oc)
	}
	others = append(others, c.extra...)
	var peerCourts []string
	for _, o := range others {
		peerCourts = append(peerCourts, o.Court)
	}
	p := c.peers[i]
	sec, err := devNodeSecurity(c.net.ca, filepath.Join(c.dirs[i], "..", p.NodeID+"-pki"), c.id, p.NodeID, testTokenRules(), peerCourts)
	if err != nil {
		c.net.t.Fatal(err)
	}
	// The tests read thousands of receipts as one judge; rate limits are
	// tested in security_test.go.
	sec.Rate = access.RateConfig{PerSecond: 1e6, Burst: 1 << 20}
	return Config{
		Court: c.id, NodeID: p.NodeID, DataDir: c.dirs[i], RaftAddr: p.RaftAddr, GRPCAddr: p.GRPCAddr,
		HTTPAddr: "127.0.0.1:0", CourtKey: c.key, PreviousKeys: c.previous, Peers: c.peers, Bootstrap: true, Fast: true,
		Courts: others, Security: sec,
		Sync: witness.Config{Interval: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
			ChunkBytes: 64 << 10, Dial: c.net.dialer(c.id)},
		Logger: testLogger(),
	}
}

// testLogger discards logs unless COURT_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("COURT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func (c *netCourt) start(i int) {
	c.net.t.Helper()
	n, err := Start(c.config(i))
	if err != nil {
		c.net.t.Fatalf("start %s: %v", c.peers[i].NodeID, err)
	}
	c.nodes[i] = n
}

// stop shuts a node down (its data stays).
func (c *netCourt) stop(i int) {
	if c.nodes[i] == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.nodes[i].Shutdown(ctx)
	c.nodes[i] = nil
}

func (c *netCourt) leader() *Node {
	for _, n := range c.nodes {
		if n != nil && n.ledger.IsLeader() {
			return n
		}
	}
	return nil
}

func (c *netCourt) any() *Node {
	for _, n := range c.nodes {
		if n != nil {
			return n
		}
	}
	return nil
}

func (c *netCourt) waitLeader() *Node {
	c.net.t.Helper()
	var l *Node
	eventually(c.net.t, 30*time.Second, "a leader of "+c.id, func() bool { l = c.leader(); return l != nil })
	return l
}

// register registers a platform as an admin would: at the leader, asking
// again while the court has no leader (nine nodes starting on two loaded
// cores may hold an election or two more after all said ready).
func (c *netCourt) register(platform string, key *sm2.PrivateKey) {
	c.net.t.Helper()
	var err error
	for try, deadline := 0, time.Now().Add(30*time.Second); time.Now().Before(deadline); try, _ = try+1, <-time.After(100*time.Millisecond) {
		_, ad := c.net.dial(c.waitLeader().GRPCAddr())
		_, err = ad.RegisterPlatform(context.Background(), &pb.RegisterPlatformRequest{
			PlatformId: platform, PublicKeyPem: string(key.Public().MarshalPEM())})
		if try > 0 && status.Code(err) == codes.AlreadyExists {
			err = nil // an earlier try was committed, its answer lost
		}
		if status.Code(err) != codes.Unavailable {
			break
		}
	}
	if err != nil {
		c.net.t.Fatalf("register platform at %s: %v", c.id, err)
	}
}

// file records n items at the court through SubmitBatch and returns their
// receipts' evidence IDs in order.
func (c *netCourt) file(prefix string, n int) []string {
	c.net.t.Helper()
	var ids []string
	for done := 0; done < n; {
		batch := min(n-done, 1000)
		req := &pb.SubmitBatchRequest{}
		for i := 0; i < batch; i++ {
			rid := fmt.Sprintf("%s-%d", prefix, done+i)
			s := evidence.Submission{Court: c.id, Platform: "esign.example", RequestID: rid, Fingerprint: sm3.Sum([]byte(rid)),
				Category: evidence.CategoryContract, Title: "合同 " + rid, SignedAt: time.Now().UTC().Truncate(time.Millisecond)}
			sig, err := s.Sign(c.platform)
			if err != nil {
				c.net.t.Fatal(err)
			}
			req.Submissions = append(req.Submissions, &pb.SignedSubmission{Submission: client.ToPB(&s), Signature: sig})
		}
		// Like a platform's client: items refused as unavailable (a leader
		// change mid-batch) are sent again, signed as before.
		got := make([]string, batch)
		pending := make([]int, batch)
		for i := range pending {
			pending[i] = i
		}
		eventually(c.net.t, 60*time.Second, "a batch filed at "+c.id, func() bool {
			l := c.leader()
			if l == nil {
				return false
			}
			ev := pb.NewEvidenceServiceClient(dialToken(c.net.t, c.net.ca, l.GRPCAddr(), tokenFor(access.RolePlatform)))
			retry := &pb.SubmitBatchRequest{}
			for _, i := range pending {
				retry.Submissions = append(retry.Submissions, req.Submissions[i])
			}
			resp, err := ev.SubmitBatch(context.Background(), retry)
			if err != nil {
				return false
			}
			var again []int
			for j, r := range resp.Results {
				i := pending[j]
				if rc := r.GetReceipt(); rc != nil {
					got[i] = rc.Entry.EvidenceId
					continue
				}
				if r.GetProblem().GetCode() != "Unavailable" {
					c.net.t.Fatalf("submission %d at %s: %v", done+i, c.id, r.GetProblem())
				}
				again = append(again, i)
			}
			pending = again
			return len(pending) == 0
		})
		ids = append(ids, got...)
		done += batch
	}
	return ids
}

// partition cuts a and b apart, both ways.
func (nw *network) partition(a, b string) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	for _, k := range [][2]string{{a, b}, {b, a}} {
		nw.blocked[k] = true
		for _, c := range nw.conns[k] {
			c.Close()
		}
		nw.conns[k] = nil
	}
}

func (nw *network) heal(a, b string) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	delete(nw.blocked, [2]string{a, b})
	delete(nw.blocked, [2]string{b, a})
}

func (nw *network) dialer(from string) func(ctx context.Context, addr string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		to := nw.owner[addr]
		k := [2]string{from, to}
		nw.mu.Lock()
		if nw.blocked[k] {
			nw.mu.Unlock()
			return nil, errPartitioned
		}
		nw.mu.Unlock()
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		nw.mu.Lock()
		defer nw.mu.Unlock()
		if nw.blocked[k] {
			c.Close()
			return nil, errPartitioned
		}
		nw.conns[k] = append(nw.conns[k], c)
		return c, nil
	}
}

func eventually(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dial connects to a node as a judge (evidence) and as an admin.
func (nw *network) dial(addr string) (pb.EvidenceServiceClient, pb.AdminServiceClient) {
	nw.t.Helper()
	return pb.NewEvidenceServiceClient(dialToken(nw.t, nw.ca, addr, tokenFor(access.RoleJudge))),
		pb.NewAdminServiceClient(dialToken(nw.t, nw.ca, addr, tokenFor(access.RoleAdmin)))
}
