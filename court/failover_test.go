package court

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/courtledger/courtledger/api/client"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

// pausedEndpoint is what a SIGSTOPped node looks like from outside: the
// kernel still accepts TCP connections into the listen backlog, and
// nothing ever answers. It returns the address.
func pausedEndpoint(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // held open, never read or written
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// clientAs is a Go client of the court c with a role's token over TLS.
func (c *testCourtNodes) clientAs(t *testing.T, role access.Role, endpoints ...string) *client.Client {
	t.Helper()
	v, err := checkpoint.NewVerifier(testCourt, c.key.Public())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(client.Config{Endpoints: endpoints, Court: v, Platform: "esign.example", Key: c.platform,
		DialOptions: []grpc.DialOption{
			grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: caPool(c.ca)})),
			grpc.WithPerRPCCredentials(client.Token(tokenFor(role), false)),
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// A paused node first in a client's list costs at most a short attempt,
// not the caller's whole deadline: the client moves on to the next node
// (issue 11, state 4). On the unchanged client the first call waited on
// the paused node until the caller's 12 s deadline ran out.
func TestClientSkipsPausedNode(t *testing.T) {
	c := registerPlatform(t, startCourt(t, 3))
	paused := pausedEndpoint(t)
	platform := c.clientAs(t, access.RolePlatform, paused, c.follower().GRPCAddr(), c.leader().GRPCAddr())
	judge := c.clientAs(t, access.RoleJudge, paused, c.leader().GRPCAddr())

	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
	defer cancel()
	start := time.Now()
	s, err := platform.Sign(evidence.Submission{RequestID: "paused-1", Fingerprint: sm3.Sum([]byte("paused-1")),
		Category: evidence.CategoryChat, Title: "paused-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := platform.Submit(ctx, s); err != nil {
		t.Fatalf("submit with a paused node first, after %v: %v", time.Since(start), err)
	}
	submitTook := time.Since(start)
	start = time.Now()
	rcs, _, err := judge.Verify(ctx, sm3.Sum([]byte("paused-1")))
	if err != nil || len(rcs) != 1 {
		t.Fatalf("verify with a paused node first, after %v: %d receipts, %v", time.Since(start), len(rcs), err)
	}
	verifyTook := time.Since(start)
	t.Logf("with a paused node first: submit %v, verify %v", submitTook, verifyTook)
	// A default attempt is 2 s; 6 s leaves room for a loaded machine and
	// is still half of the deadline the unchanged client used up.
	if submitTook > 6*time.Second || verifyTook > 6*time.Second {
		t.Fatalf("a paused node first cost submit %v, verify %v; want each well under the 12 s deadline", submitTook, verifyTook)
	}
}

// lonelyNode starts a node of c's court that can never elect a leader (its
// two other voters do not exist), so its ledger stays empty and it is
// never ready; it still answers calls.
func lonelyNode(t *testing.T, c *testCourtNodes) *Node {
	t.Helper()
	peers := []Peer{{NodeID: "hz-lonely", RaftAddr: freeAddr(t), GRPCAddr: freeAddr(t)},
		{NodeID: "hz-ghost-1", RaftAddr: freeAddr(t), GRPCAddr: freeAddr(t)},
		{NodeID: "hz-ghost-2", RaftAddr: freeAddr(t), GRPCAddr: freeAddr(t)}}
	n, err := Start(Config{Court: testCourt, NodeID: "hz-lonely", DataDir: filepath.Join(t.TempDir(), "hz-lonely"),
		RaftAddr: peers[0].RaftAddr, GRPCAddr: peers[0].GRPCAddr, HTTPAddr: "127.0.0.1:0", CourtKey: c.key,
		Peers: peers, Bootstrap: true, Fast: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Security: testSecurity(t, c.ca, testCourt, "hz-lonely")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.Shutdown(ctx)
	})
	return n
}

// A node that is not ready (here: no leader, an empty ledger) first in a
// client's list is skipped, so a judge is not told "not recorded" about
// recorded evidence. The unchanged client asked it and got that answer.
func TestClientSkipsNotReadyNode(t *testing.T) {
	c := registerPlatform(t, startCourt(t, 3))
	lonely := lonelyNode(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
	defer cancel()
	platform := c.clientAs(t, access.RolePlatform, c.leader().GRPCAddr())
	s, err := platform.Sign(evidence.Submission{RequestID: "skip-1", Fingerprint: sm3.Sum([]byte("skip-1")),
		Category: evidence.CategoryChat, Title: "skip-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := platform.Submit(ctx, s); err != nil {
		t.Fatal(err)
	}
	judge := c.clientAs(t, access.RoleJudge, lonely.GRPCAddr(), c.leader().GRPCAddr())
	start := time.Now()
	rcs, resp, err := judge.Verify(ctx, sm3.Sum([]byte("skip-1")))
	if err != nil {
		t.Fatalf("verify with a not-ready node first: %v", err)
	}
	if len(rcs) != 1 || !resp.Recorded {
		t.Fatalf("verify with a not-ready node first answered recorded=%v with %d receipts, want the recorded entry", resp.Recorded, len(rcs))
	}
	if took := time.Since(start); took > 6*time.Second {
		t.Fatalf("skipping a not-ready node took %v", took)
	}
}
