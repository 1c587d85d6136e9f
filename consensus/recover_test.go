package consensus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestRecoverAfterQuorumLoss: a three-node court acknowledges submissions,
// all nodes stop, two lose their data for good. RecoverCluster on the
// survivor makes it a one-node court holding every acknowledged entry
// exactly once; it takes new submissions, and a fresh node added to it
// catches up.
func TestRecoverAfterQuorumLoss(t *testing.T) {
	c := inmemCluster(t, 3)
	c.registerPlatform("esign.example")
	leader := c.waitLeader()
	acked := map[uint64]string{}
	for i := 0; i < 40; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		res, err := leader.Submit(ctx, []SignedSubmission{c.submission("esign.example", fmt.Sprintf("q%d", i), []byte(fmt.Sprint(i)))})
		cancel()
		if err != nil || res[0].Err != nil {
			t.Fatalf("submit: %v %v", err, res)
		}
		acked[res[0].Receipt.Entry.Index] = res[0].Receipt.Entry.EvidenceID
	}
	c.waitConverged(40)
	// The survivor is a follower: recovery must not depend on having led.
	survivor := ""
	for _, l := range c.all() {
		if l != leader {
			survivor = l.cfg.NodeID
		}
	}
	for _, l := range c.all() {
		c.stop(l.cfg.NodeID)
	}
	for id, dir := range c.dirs {
		if id != survivor {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Refusals first: they change nothing.
	if err := RecoverCluster(RecoverConfig{Dir: c.dirs[survivor], Court: testCourt, NodeID: survivor,
		Servers: []Server{{ID: "someone-else", Address: "x"}}}); !errors.Is(err, ErrRecover) {
		t.Fatalf("membership without the survivor: %v", err)
	}
	if err := RecoverCluster(RecoverConfig{Dir: filepath.Join(t.TempDir(), "empty"), Court: testCourt, NodeID: survivor,
		Servers: []Server{{ID: survivor, Address: survivor}}}); !errors.Is(err, ErrRecover) {
		t.Fatalf("directory without state: %v", err)
	}

	if err := RecoverCluster(RecoverConfig{Dir: c.dirs[survivor], Court: testCourt, NodeID: survivor,
		Servers: []Server{{ID: survivor, Address: survivor}}}); err != nil {
		t.Fatalf("recover: %v", err)
	}
	trans := map[string]*raft.InmemTransport{}
	_, trans[survivor] = raft.NewInmemTransport(raft.ServerAddress(survivor))
	l := c.start(survivor, trans[survivor], nil)
	waitFor(t, "the survivor leads alone", func() (bool, string) { return l.IsLeader(), "" })
	if got := l.Size(); got != 40 {
		t.Fatalf("recovered ledger has %d entries, want the 40 acknowledged", got)
	}
	for idx, id := range acked {
		e, err := l.Entry(idx)
		if err != nil || e.EvidenceID != id {
			t.Fatalf("entry %d: %v %v, want %s", idx, e, err, id)
		}
		byID, err := l.EntryByEvidenceID(id)
		if err != nil || byID.Index != idx {
			t.Fatalf("evidence %s found at %v (%v), want only index %d", id, byID, err, idx)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := l.Submit(ctx, []SignedSubmission{c.submission("esign.example", "after-recovery", []byte("new"))})
	if err != nil || res[0].Err != nil || res[0].Receipt.Entry.Index != 40 {
		t.Fatalf("submit after recovery: %v %+v", err, res)
	}
	// The recovered evidence index still knows every request ID: reusing
	// one (with another signed-at) is refused, not filed a second time.
	res, err = l.Submit(ctx, []SignedSubmission{c.submission("esign.example", "q7", []byte("7"))})
	if err != nil || res[0].Err == nil || l.Size() != 41 {
		t.Fatalf("reused request ID after recovery: %v %+v, size %d", err, res, l.Size())
	}

	// A fresh node joins and catches up.
	fresh := "fresh"
	c.dirs[fresh] = filepath.Join(t.TempDir(), fresh)
	_, trans[fresh] = raft.NewInmemTransport(raft.ServerAddress(fresh))
	trans[fresh].Connect(raft.ServerAddress(survivor), trans[survivor])
	trans[survivor].Connect(raft.ServerAddress(fresh), trans[fresh])
	c.start(fresh, trans[fresh], nil)
	if err := l.AddVoter(ctx, Server{ID: fresh, Address: fresh}); err != nil {
		t.Fatalf("add voter: %v", err)
	}
	c.waitConverged(41)
}
