package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

const testCourt = "hangzhou.court.example/evidence"

// testCluster is a court of nodes in one process. Transports are built by
// newTransport, so tests choose in-memory or TCP with fault injection.
type testCluster struct {
	t        testing.TB
	signer   *checkpoint.Signer
	platform *sm2.PrivateKey
	dirs     map[string]string
	nodes    map[string]*Ledger
	addrs    map[string]string
	mkTrans  func(id string) (raft.Transport, string)
	edit     func(*Config) // if set, changes each node's configuration
	mu       sync.Mutex
}

func newTestCluster(t testing.TB, n int, mkTrans func(id string) (raft.Transport, string)) *testCluster {
	return newTestClusterWith(t, n, mkTrans, nil)
}

func newTestClusterWith(t testing.TB, n int, mkTrans func(id string) (raft.Transport, string), edit func(*Config)) *testCluster {
	t.Helper()
	k, err := sm2.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := checkpoint.NewSigner(testCourt, k)
	if err != nil {
		t.Fatal(err)
	}
	p, err := sm2.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	c := &testCluster{t: t, signer: s, platform: p, dirs: map[string]string{}, nodes: map[string]*Ledger{},
		addrs: map[string]string{}, mkTrans: mkTrans, edit: edit}
	var boot []Server
	trans := map[string]raft.Transport{}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("node%d", i)
		c.dirs[id] = filepath.Join(t.TempDir(), id)
		tr, addr := mkTrans(id)
		trans[id], c.addrs[id] = tr, addr
		boot = append(boot, Server{ID: id, Address: addr})
	}
	for id := range c.dirs {
		c.start(id, trans[id], boot)
	}
	t.Cleanup(func() {
		for _, l := range c.all() {
			l.Close()
		}
	})
	c.waitLeader()
	return c
}

func (c *testCluster) config(id string, tr raft.Transport, boot []Server) Config {
	cfg := Config{
		NodeID:    id,
		Court:     testCourt,
		Dir:       c.dirs[id],
		Transport: tr,
		Bootstrap: boot,
		Signer:    c.signer,
		Fast:      true,
		// Few trailing logs, so that a node far behind needs the snapshot.
		TrailingLogs: 16,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if c.edit != nil {
		c.edit(&cfg)
	}
	return cfg
}

func (c *testCluster) start(id string, tr raft.Transport, boot []Server) *Ledger {
	c.t.Helper()
	l, err := Open(c.config(id, tr, boot))
	if err != nil {
		c.t.Fatalf("open %s: %v", id, err)
	}
	c.mu.Lock()
	c.nodes[id] = l
	c.mu.Unlock()
	return l
}

func (c *testCluster) all() []*Ledger {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Ledger
	for _, l := range c.nodes {
		out = append(out, l)
	}
	return out
}

func (c *testCluster) node(id string) *Ledger {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// stop closes a node and forgets it.
func (c *testCluster) stop(id string) {
	c.mu.Lock()
	l := c.nodes[id]
	delete(c.nodes, id)
	c.mu.Unlock()
	if l != nil {
		l.Close()
	}
}

// waitFor polls cond until it holds, failing with what was last seen after
// a long backstop; no test sleeps for a fixed time.
func waitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ok, seen := cond()
		if ok {
			return
		}
		last = seen
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last seen: %s", what, last)
}

func (c *testCluster) waitLeader() *Ledger {
	c.t.Helper()
	var leader *Ledger
	waitFor(c.t, "a ready leader", func() (bool, string) {
		for _, l := range c.all() {
			if l.IsLeader() {
				leader = l
				return true, ""
			}
		}
		return false, "no ready leader"
	})
	return leader
}

func (c *testCluster) registerPlatform(id string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.waitLeader().RegisterPlatform(ctx, id, c.platform.Public()); err != nil {
		c.t.Fatalf("register platform: %v", err)
	}
}

func (c *testCluster) submission(platform, requestID string, file []byte) SignedSubmission {
	c.t.Helper()
	s := evidence.Submission{
		Court:       testCourt,
		Platform:    platform,
		RequestID:   requestID,
		Fingerprint: sm3.Sum(file),
		Category:    evidence.CategoryContract,
		Title:       "合同 " + requestID,
		SignedAt:    time.Now(),
	}
	sig, err := s.Sign(c.platform)
	if err != nil {
		c.t.Fatal(err)
	}
	return SignedSubmission{Submission: s, Signature: sig}
}

// waitConverged waits until every node has applied the same size and root.
func (c *testCluster) waitConverged(size uint64) []byte {
	c.t.Helper()
	var root []byte
	waitFor(c.t, fmt.Sprintf("all nodes at size %d with one root", size), func() (bool, string) {
		var seen string
		root = nil
		for _, l := range c.all() {
			h, err := l.LatestHead()
			if err != nil {
				return false, fmt.Sprintf("%s: %v", l.cfg.NodeID, err)
			}
			seen += fmt.Sprintf("%s=%d ", l.cfg.NodeID, h.Head.Size)
			if h.Head.Size != size || (root != nil && string(root) != string(h.Head.Root)) {
				return false, seen
			}
			root = h.Head.Root
		}
		return true, seen
	})
	return root
}

// inmemCluster is a court on Raft's in-memory transport, for fast tests.
func inmemCluster(t testing.TB, n int) *testCluster { return inmemClusterWith(t, n, nil) }

// inmemClusterWith is inmemCluster with each node's configuration changed
// by edit.
func inmemClusterWith(t testing.TB, n int, edit func(*Config)) *testCluster {
	transports := map[string]*raft.InmemTransport{}
	return newTestClusterWith(t, n, func(id string) (raft.Transport, string) {
		addr, tr := raft.NewInmemTransport(raft.ServerAddress(id))
		for _, other := range transports {
			tr.Connect(other.LocalAddr(), other)
			other.Connect(addr, tr)
		}
		transports[id] = tr
		return tr, string(addr)
	}, edit)
}

func TestInmemClusterSubmitAndRead(t *testing.T) {
	c := inmemCluster(t, 3)
	c.registerPlatform("esign.example")
	leader := c.waitLeader()
	ctx := context.Background()

	var subs []SignedSubmission
	for i := 0; i < 50; i++ {
		subs = append(subs, c.submission("esign.example", fmt.Sprintf("req-%d", i), []byte{byte(i)}))
	}
	results, err := leader.Submit(ctx, subs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if r.Err != nil {
			t.Fatalf("submission %d: %v", i, r.Err)
		}
		if _, err := r.Receipt.Verify(c.signer.Verifier()); err != nil {
			t.Fatalf("receipt %d: %v", i, err)
		}
	}
	root := c.waitConverged(50)
	if !bytes.Equal(root, mustRootOf(t, c.all()[0])) {
		t.Fatal("stored root differs from recomputation")
	}

	// A retry returns the original receipt, to any node's leader, and adds nothing.
	again, err := leader.Submit(ctx, subs[:5])
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range again {
		if r.Err != nil || !r.Duplicate || r.Receipt.Entry.Index != results[i].Receipt.Entry.Index ||
			string(r.Receipt.SignedHead) != string(results[i].Receipt.SignedHead) {
			t.Fatalf("retry %d: %+v", i, r)
		}
	}
	// The same request ID with a different file is a conflict.
	conflict := c.submission("esign.example", "req-0", []byte("other file"))
	res, err := leader.Submit(ctx, []SignedSubmission{conflict})
	if err != nil || !errors.Is(res[0].Err, ErrRequestConflict) {
		t.Fatalf("reused request ID: %v %v", err, res[0].Err)
	}
	c.waitConverged(50)

	// A linearizable read goes through the leader.
	if err := leader.ReadBarrier(ctx); err != nil {
		t.Fatalf("leader read barrier: %v", err)
	}
	if h, err := leader.LatestHead(); err != nil || h.Head.Size != 50 {
		t.Fatalf("leader head after barrier: %v %+v", err, h.Head)
	}

	// Reads on a follower.
	for _, l := range c.all() {
		if l == leader {
			continue
		}
		if err := l.ReadBarrier(ctx); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("follower read barrier: %v, want ErrNotLeader", err)
		}
		e, err := l.EntryByEvidenceID(results[7].Receipt.Entry.EvidenceID)
		if err != nil || e.Index != 7 {
			t.Fatalf("follower get by evidence ID: %v %+v", err, e)
		}
		found, err := l.Lookup(subs[7].Submission.Fingerprint, 10)
		if err != nil || len(found) != 1 || found[0].Index != 7 {
			t.Fatalf("follower lookup: %v %+v", err, found)
		}
		r, err := l.Receipt(7)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Verify(c.signer.Verifier()); err != nil {
			t.Fatalf("follower receipt: %v", err)
		}
		if _, err := l.Submit(ctx, subs[:1]); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("follower submit: %v, want ErrNotLeader", err)
		}
	}
}

func mustRootOf(t *testing.T, l *Ledger) []byte {
	t.Helper()
	var leaves [][]byte
	for i := uint64(0); i < l.Size(); i++ {
		e, err := l.Entry(i)
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, e.Marshal())
	}
	return merkle.RootOf(leaves)
}

func TestBadSubmissionsChangeNothing(t *testing.T) {
	c := inmemCluster(t, 3)
	c.registerPlatform("esign.example")
	leader := c.waitLeader()
	ctx := context.Background()
	if err := leader.RegisterPlatform(ctx, "esign.example", c.platform.Public()); !errors.Is(err, ErrPlatformExists) {
		t.Fatalf("second registration: %v, want ErrPlatformExists", err)
	}
	if err := leader.RegisterPlatform(ctx, "Bad Name", c.platform.Public()); !errors.Is(err, evidence.ErrPlatformID) {
		t.Fatalf("bad platform ID: %v", err)
	}

	good := c.submission("esign.example", "ok-1", []byte("x"))
	unknown := c.submission("other.example", "u-1", []byte("y"))
	badSig := c.submission("esign.example", "sig-1", []byte("z"))
	badSig.Signature = append([]byte(nil), good.Signature...)
	stale := c.submission("esign.example", "old-1", []byte("w"))
	stale.Submission.SignedAt = time.Now().Add(-48 * time.Hour)
	stale.Signature, _ = stale.Submission.Sign(c.platform)
	noTitle := c.submission("esign.example", "nt-1", []byte("v"))
	noTitle.Submission.Title = ""
	// Signed by a platform that does not validate: the court refuses the
	// zero-width space that would hide inside 不同意 on the certificate.
	hidden := c.submission("esign.example", "zw-1", []byte("u"))
	hidden.Submission.Title = "甲方不\u200B同意解除合同"
	hidden.Signature, _ = c.platform.Sign(hidden.Submission.Marshal())
	// Validly signed by the platform, but for another court where it is
	// registered too: a replay there of what it filed elsewhere.
	elsewhere := c.submission("esign.example", "elsewhere-1", []byte("e"))
	elsewhere.Submission.Court = "beijing.court.example/evidence"
	elsewhere.Signature, _ = elsewhere.Submission.Sign(c.platform)
	// Version 1 names no court, so it could be replayed anywhere.
	v1 := c.submission("esign.example", "v1-1", []byte("1"))
	v1.Submission.Court = ""
	v1.Signature, _ = c.platform.Sign(v1.Submission.Marshal())

	res, err := leader.Submit(ctx, []SignedSubmission{good, unknown, badSig, stale, noTitle, hidden, elsewhere, v1})
	if err != nil {
		t.Fatal(err)
	}
	want := []error{nil, ErrUnknownPlatform, evidence.ErrSignature, evidence.ErrTimestampStale, evidence.ErrTitleEmpty,
		evidence.ErrInvisibleChar, evidence.ErrWrongCourt, evidence.ErrCourtMissing}
	for i, w := range want {
		if (w == nil && res[i].Err != nil) || (w != nil && !errors.Is(res[i].Err, w)) {
			t.Fatalf("submission %d: %v, want %v", i, res[i].Err, w)
		}
	}
	// The field reaches the API: court's problemOf maps a FieldError to
	// InvalidArgument with the field in the ErrorInfo.
	if fe := (*evidence.FieldError)(nil); !errors.As(res[5].Err, &fe) || fe.Field != "title" {
		t.Fatalf("hidden character: %v, want a FieldError on title", res[5].Err)
	}
	c.waitConverged(1)

	if err := leader.RevokePlatform(ctx, "esign.example"); err != nil {
		t.Fatal(err)
	}
	res, err = leader.Submit(ctx, []SignedSubmission{c.submission("esign.example", "after-revoke", []byte("r"))})
	if err != nil || !errors.Is(res[0].Err, ErrUnknownPlatform) {
		t.Fatalf("after revocation: %v %v", err, res[0].Err)
	}
	// Its evidence stays provable.
	for _, l := range c.all() {
		if _, err := l.Receipt(0); err != nil {
			t.Fatalf("%s: receipt after revocation: %v", l.cfg.NodeID, err)
		}
	}
	c.waitConverged(1)
	if _, err := leader.Submit(ctx, make([]SignedSubmission, MaxBatchEntries+1)); !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("oversized call: %v", err)
	}
}
