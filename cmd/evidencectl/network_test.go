package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	grpccreds "google.golang.org/grpc/credentials"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/devca"
	"github.com/courtledger/courtledger/court/witness"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
)

// Three courts in this process, as `courtd demo` runs them: TLS from a
// development CA, users with bearer tokens, each court mirroring and
// cosigning the others. Hangzhou has three nodes (for failover), the
// others one. (Plain text is no use here: in insecure mode a court's sync
// calls to another court carry no credential, see the report of issue 13.)
const (
	hzCourt = "hangzhou.court.example/evidence"
	bjCourt = "beijing.court.example/evidence"
	gzCourt = "guangzhou.court.example/evidence"
	// The tokens of the test's users, accepted by every court.
	tokPlatform, tokJudge, tokAdmin, tokLawyer = "net-platform", "net-judge", "net-admin", "net-lawyer"
	netPlatform                                = "esign.example"
)

type testCourt struct {
	id    string
	key   *sm2.PrivateKey
	peers []court.Peer
	dirs  []string
	https []string // the nodes' REST and web addresses; the first is the court's public_url
	nodes []*court.Node
	cfgs  []court.Config
}

// grpc is --server for the court: its nodes' gRPC addresses.
func (c *testCourt) grpc() string {
	var out []string
	for _, p := range c.peers {
		out = append(out, p.GRPCAddr)
	}
	return strings.Join(out, ",")
}

func (c *testCourt) stop(i int) {
	if c.nodes[i] == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.nodes[i].Shutdown(ctx)
	c.nodes[i] = nil
}

type testNetwork struct {
	courts      map[string]*testCourt
	trust       string // trust file of the three courts' keys
	platformKey string // the platform's private key file
	platform    *sm2.PrivateKey
	verifiers   map[string][]*checkpoint.Verifier
	dir         string
	rules       []access.TokenRule
	ca          string // the CA file
	tls         *tls.Config
}

func startNetwork(t testing.TB) *testNetwork {
	t.Helper()
	return startNetworkWith(t, nil)
}

// startNetworkWith lets a test change each node's Config before it starts.
func startNetworkWith(t testing.TB, edit func(*court.Config)) *testNetwork {
	t.Helper()
	nw := &testNetwork{courts: map[string]*testCourt{}, dir: t.TempDir(), verifiers: map[string][]*checkpoint.Verifier{}}
	nw.rules = []access.TokenRule{
		{Hash: access.TokenHash(tokJudge), Identity: access.Identity{Role: access.RoleJudge, ID: "judge-wang"}},
		{Hash: access.TokenHash(tokAdmin), Identity: access.Identity{Role: access.RoleAdmin, ID: "admin"}},
		{Hash: access.TokenHash(tokPlatform), Identity: access.Identity{Role: access.RolePlatform, ID: netPlatform}},
		{Hash: access.TokenHash(tokLawyer), Identity: access.Identity{Role: access.RoleLawyer, ID: "lawyer-li"}},
	}
	ca, err := devca.New("test CA")
	if err != nil {
		t.Fatal(err)
	}
	nw.ca = filepath.Join(nw.dir, "ca.pem")
	if err := os.WriteFile(nw.ca, ca.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	if nw.tls, err = (client.TLSFiles{CAFile: nw.ca}).Config(); err != nil {
		t.Fatal(err)
	}
	var trust []string
	for _, s := range []struct {
		id    string
		nodes int
	}{{hzCourt, 3}, {bjCourt, 1}, {gzCourt, 1}} {
		key, _ := sm2.GenerateKey()
		c := &testCourt{id: s.id, key: key, nodes: make([]*court.Node, s.nodes)}
		for i := 0; i < s.nodes; i++ {
			id := fmt.Sprintf("%s-%d", strings.SplitN(s.id, ".", 2)[0][:2], i)
			c.peers = append(c.peers, court.Peer{NodeID: id, RaftAddr: loopback(t), GRPCAddr: loopback(t)})
			c.dirs = append(c.dirs, filepath.Join(nw.dir, id))
			c.https = append(c.https, loopback(t))
		}
		v, _ := checkpoint.NewVerifier(s.id, key.Public())
		nw.verifiers[s.id] = []*checkpoint.Verifier{v}
		trust = append(trust, v.String())
		nw.courts[s.id] = c
	}
	for _, c := range nw.courts {
		var others []witness.OtherCourt
		var peerCourts []string
		for _, o := range nw.courts {
			if o.id == c.id {
				continue
			}
			oc := witness.OtherCourt{Court: o.id, Key: o.key.Public()}
			for _, p := range o.peers {
				oc.Endpoints = append(oc.Endpoints, p.GRPCAddr)
			}
			others = append(others, oc)
			peerCourts = append(peerCourts, o.id)
		}
		for i, p := range c.peers {
			tc, err := ca.NodeTLS(c.dirs[i]+"-pki", c.id, p.NodeID)
			if err != nil {
				t.Fatal(err)
			}
			sec := court.Security{TLS: &tc, Tokens: nw.rules, PeerCourts: peerCourts}
			cfg := court.Config{Court: c.id, NodeID: p.NodeID, DataDir: c.dirs[i], RaftAddr: p.RaftAddr, GRPCAddr: p.GRPCAddr,
				HTTPAddr: c.https[i], PublicURL: "https://" + c.https[0], CourtKey: c.key, Peers: c.peers, Bootstrap: true, Fast: true, Courts: others,
				Logger: quiet(), Sync: witness.Config{Interval: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond},
				Security: sec}
			if edit != nil {
				edit(&cfg)
			}
			n, err := court.Start(cfg)
			if err != nil {
				t.Fatalf("start %s: %v", p.NodeID, err)
			}
			c.nodes[i], c.cfgs = n, append(c.cfgs, cfg)
		}
	}
	t.Cleanup(func() {
		for _, c := range nw.courts {
			for i := range c.nodes {
				c.stop(i)
			}
		}
	})
	nw.trust = filepath.Join(nw.dir, "trust.txt")
	if err := os.WriteFile(nw.trust, []byte(strings.Join(trust, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	nw.platform, _ = sm2.GenerateKey()
	pemBytes, _ := nw.platform.MarshalPEM()
	nw.platformKey = filepath.Join(nw.dir, "platform.key.pem")
	if err := os.WriteFile(nw.platformKey, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, c := range nw.courts {
		admin := nw.client(t, c, tokAdmin)
		for {
			_, err := admin.Admin().RegisterPlatform(ctx, &pb.RegisterPlatformRequest{PlatformId: netPlatform, PublicKeyPem: string(nw.platform.Public().MarshalPEM())})
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("register the platform at %s: %v", c.id, err)
			}
			time.Sleep(50 * time.Millisecond) // no leader yet
		}
	}
	t.Setenv("EVIDENCECTL_CA", nw.ca)
	t.Setenv("EVIDENCECTL_TRUST", nw.trust)
	return nw
}

// client is a Go client of court c as the token's holder, trusting every
// court of the network.
func (nw *testNetwork) client(t testing.TB, c *testCourt, token string) *client.Client {
	t.Helper()
	cl, err := client.New(client.Config{Endpoints: strings.Split(c.grpc(), ","), Trust: nw.verifiers,
		Platform: netPlatform, Key: nw.platform, Attempts: 100,
		DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(grpccreds.NewTLS(nw.tls)), grpc.WithPerRPCCredentials(client.Token(token, false))}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func quiet() *slog.Logger {
	if os.Getenv("COURT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// as runs evidencectl with a user's token; stdout and stderr apart.
func as(t testing.TB, token string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	t.Setenv("EVIDENCECTL_TOKEN", token)
	root := newRoot()
	var out, errs bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errs)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errs.String(), err
}

// eventually retries f until it succeeds or d passes.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
