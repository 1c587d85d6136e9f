package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// tcpCluster starts a court of n nodes on loopback TCP through a faultNet.
func tcpCluster(t *testing.T, n int) (*testCluster, *faultNet) {
	fn := newFaultNet()
	c := newTestCluster(t, n, func(id string) (raft.Transport, string) { return fn.transport() })
	return c, fn
}

// kill stops a node abruptly: its links are cut first, so it cannot hand
// over anything or say goodbye, then its process state is dropped.
func (c *testCluster) kill(fn *faultNet, id string) {
	fn.isolate(c.addrs[id])
	c.stop(id)
}

// restart starts a stopped node again on its data directory and address.
func (c *testCluster) restart(fn *faultNet, id string) *Ledger {
	c.t.Helper()
	fn.heal(c.addrs[id])
	return c.start(id, c.listenAgain(fn, id), nil)
}

// listenAgain returns a transport on node id's old address once it is free.
func (c *testCluster) listenAgain(fn *faultNet, id string) raft.Transport {
	var ln net.Listener
	waitFor(c.t, "the old port to be free", func() (bool, string) {
		var err error
		ln, err = net.Listen("tcp", c.addrs[id])
		return err == nil, fmt.Sprint(err)
	})
	tr, _ := fn.transportOn(ln)
	return tr
}

func (c *testCluster) leaderID() string {
	c.t.Helper()
	return c.waitLeader().cfg.NodeID
}

// submitter files its request IDs one by one, retrying each with the same
// signed submission against whichever node leads, until acknowledged.
type ack struct {
	requestID string
	result    Result
}

func runSubmitters(t *testing.T, c *testCluster, prefix string, clients, perClient int, onAck func(total int64)) []ack {
	t.Helper()
	var (
		mu    sync.Mutex
		acks  []ack
		total atomic.Int64
		wg    sync.WaitGroup
	)
	deadline := time.Now().Add(90 * time.Second)
	for w := 0; w < clients; w++ {
		subs := make([]SignedSubmission, perClient)
		for i := range subs {
			subs[i] = c.submission("esign.example", fmt.Sprintf("%sw%d-r%d", prefix, w, i), []byte(fmt.Sprintf("file %s %d %d", prefix, w, i)))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, s := range subs {
				for {
					if time.Now().After(deadline) {
						t.Errorf("request %s not acknowledged before the deadline", s.Submission.RequestID)
						return
					}
					var leader *Ledger
					for _, l := range c.all() {
						if l.IsLeader() {
							leader = l
							break
						}
					}
					if leader == nil {
						time.Sleep(20 * time.Millisecond)
						continue
					}
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					res, err := leader.Submit(ctx, []SignedSubmission{s})
					cancel()
					if err == nil && errors.Is(res[0].Err, ErrRequestConflict) {
						t.Errorf("%s: %v", s.Submission.RequestID, res[0].Err)
						return
					}
					if err != nil || res[0].Err != nil {
						time.Sleep(time.Duration(5+rand.IntN(20)) * time.Millisecond)
						continue
					}
					mu.Lock()
					acks = append(acks, ack{s.Submission.RequestID, res[0]})
					mu.Unlock()
					if onAck != nil {
						onAck(total.Add(1))
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	return acks
}

// checkLedger asserts what the issue asks after faults: every acknowledged
// request is in the ledger exactly once, nothing is duplicated, every node
// has the same size and root, and every receipt verifies against a head the
// ledger holds.
func checkLedger(t *testing.T, c *testCluster, acks []ack) {
	t.Helper()
	leader := c.waitLeader()
	size := leader.Size()
	root := c.waitConverged(size)
	for _, l := range c.all() {
		seen := map[string]uint64{}
		for i := uint64(0); i < size; i++ {
			e, err := l.Entry(i)
			if err != nil {
				t.Fatalf("%s entry %d: %v", l.cfg.NodeID, i, err)
			}
			if prev, dup := seen[e.EvidenceID]; dup {
				t.Fatalf("%s: evidence %s recorded twice, at %d and %d", l.cfg.NodeID, e.EvidenceID, prev, i)
			}
			seen[e.EvidenceID] = i
		}
		if !bytes.Equal(root, mustRootOf(t, l)) {
			t.Fatalf("%s: root of stored entries differs from its head", l.cfg.NodeID)
		}
		for _, a := range acks {
			r := a.result.Receipt
			if idx, ok := seen[r.Entry.EvidenceID]; !ok || idx != r.Entry.Index {
				t.Fatalf("%s: acknowledged %s (index %d) missing or moved (%d, %v)", l.cfg.NodeID, a.requestID, r.Entry.Index, idx, ok)
			}
			head, err := r.Verify(c.signer.Verifier())
			if err != nil {
				fresh, ferr := l.Receipt(r.Entry.Index)
				t.Logf("duplicate=%v index=%d proof=%d fresh proof=%d %v; fresh verify: %v", a.result.Duplicate, r.Entry.Index, len(r.Proof), len(fresh.Proof), ferr, func() error { _, e := fresh.Verify(c.signer.Verifier()); return e }())
				t.Logf("same head: %v same entry: %v", bytes.Equal(fresh.SignedHead, r.SignedHead), bytes.Equal(fresh.Entry.Marshal(), r.Entry.Marshal()))
				t.Fatalf("receipt of %s: %v", a.requestID, err)
			}
			held, err := l.HeadAt(head.Size)
			if err != nil || !bytes.Equal(held.Note, r.SignedHead) {
				t.Fatalf("%s: receipt head of size %d not held by the ledger: %v", l.cfg.NodeID, head.Size, err)
			}
		}
	}
}

func TestKillLeaderUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node fault test")
	}
	c, fn := tcpCluster(t, 3)
	c.registerPlatform("esign.example")
	victim := c.leaderID()
	var once sync.Once
	killed := make(chan struct{})
	acks := runSubmitters(t, c, "a", 64, 12, func(total int64) {
		if total == 200 {
			once.Do(func() { go func() { c.kill(fn, victim); close(killed) }() })
		}
	})
	<-killed
	if len(acks) != 64*12 {
		t.Fatalf("%d acknowledged, want %d", len(acks), 64*12)
	}
	if c.leaderID() == victim {
		t.Fatal("killed node still leads")
	}
	checkLedger(t, c, acks)

	// The killed node comes back on its data directory and catches up.
	c.restart(fn, victim)
	checkLedger(t, c, acks)
}

func TestWipedNodeCatchesUpFromSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node fault test")
	}
	fn := newFaultNet()
	c := newTestCluster(t, 3, func(id string) (raft.Transport, string) { return fn.transport() })
	c.registerPlatform("esign.example")
	acks := runSubmitters(t, c, "a", 8, 40, nil)
	leader := c.waitLeader()
	var victim string
	for id := range c.dirs {
		if id != leader.cfg.NodeID {
			victim = id
			break
		}
	}
	ctx := context.Background()
	if err := leader.RemoveServer(ctx, victim); err != nil {
		t.Fatal(err)
	}
	c.kill(fn, victim)
	if err := os.RemoveAll(c.dirs[victim]); err != nil {
		t.Fatal(err)
	}
	// With the log compacted the new node can only catch up by snapshot.
	if err := leader.Snapshot(); err != nil {
		t.Fatal(err)
	}
	more := runSubmitters(t, c, "b", 4, 10, nil)
	fn.heal(c.addrs[victim])
	ln, err := net.Listen("tcp", c.addrs[victim])
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := fn.transportOn(ln)
	fresh := c.start(victim, tr, nil)
	if err := c.waitLeader().AddVoter(ctx, Server{ID: victim, Address: c.addrs[victim]}); err != nil {
		t.Fatal(err)
	}
	checkLedger(t, c, append(acks, more...))
	if got := fresh.raftNode().Stats()["last_snapshot_index"]; got == "0" {
		t.Fatalf("wiped node caught up without a snapshot (last_snapshot_index %s)", got)
	}
}

func TestIsolatedLeaderRefusesWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node fault test")
	}
	c, fn := tcpCluster(t, 3)
	c.registerPlatform("esign.example")
	acks := runSubmitters(t, c, "a", 4, 5, nil)
	old := c.waitLeader()
	fn.isolate(c.addrs[old.cfg.NodeID])

	s := c.submission("esign.example", "isolated-1", []byte("isolated"))
	waitFor(t, "the isolated node to refuse writes", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		res, err := old.Submit(ctx, []SignedSubmission{s})
		if err == nil && res[0].Err != nil {
			err = res[0].Err
		}
		return errors.Is(err, ErrNotLeader), fmt.Sprint(err)
	})
	var newLeader *Ledger
	waitFor(t, "a new leader in the majority", func() (bool, string) {
		for _, l := range c.all() {
			if l != old && l.IsLeader() {
				newLeader = l
				return true, ""
			}
		}
		return false, "none"
	})
	ctx := context.Background()
	res, err := newLeader.Submit(ctx, []SignedSubmission{c.submission("esign.example", "majority-1", []byte("m"))})
	if err != nil || res[0].Err != nil {
		t.Fatalf("majority refused a write: %v %v", err, res[0].Err)
	}
	acks = append(acks, ack{"majority-1", res[0]})
	fn.heal(c.addrs[old.cfg.NodeID])
	checkLedger(t, c, acks)
}

// The leader crashes right after its ledger transaction commits and before
// Raft hears back from Apply: the client gets no acknowledgement, retries,
// and nothing is applied twice, neither on the survivors nor on the crashed
// node when it replays its log.
func TestCrashBetweenCommitAndAck(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node fault test")
	}
	c, fn := tcpCluster(t, 3)
	c.registerPlatform("esign.example")
	leader := c.waitLeader()
	victim := leader.cfg.NodeID
	var crashed atomic.Bool
	leader.fsm.mu.Lock()
	leader.fsm.afterCommit = func(uint64) {
		if leader.fsm.rng.Size() >= 20 && crashed.CompareAndSwap(false, true) {
			fn.isolate(c.addrs[victim])
			go c.stop(victim)
		}
	}
	leader.fsm.mu.Unlock()
	acks := runSubmitters(t, c, "a", 4, 15, nil)
	if !crashed.Load() {
		t.Fatal("crash was never injected")
	}
	checkLedger(t, c, acks)
	c.restart(fn, victim)
	checkLedger(t, c, acks)
}
