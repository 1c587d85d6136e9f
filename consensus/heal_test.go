package consensus

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
)

// heads returns every signed head a node stores, by size, as their roots.
func heads(t *testing.T, l *Ledger) map[uint64][]byte {
	t.Helper()
	out := map[uint64][]byte{}
	err := l.fsm.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHeads).ForEach(func(k, v []byte) error {
			h, err := parseHead(v)
			if err != nil {
				return err
			}
			out[getU64(k)] = bytes.Clone(h.Root)
			return nil
		})
	})
	if err != nil {
		t.Fatalf("%s: heads: %v", l.cfg.NodeID, err)
	}
	return out
}

// checkNoFork fails if two nodes, or one node and what it served, hold
// heads of one size with different roots: two histories under one key.
func checkNoFork(t *testing.T, c *testCluster, served ...map[uint64][]byte) {
	t.Helper()
	seen := map[uint64][]byte{}
	from := map[uint64]string{}
	all := append([]map[uint64][]byte(nil), served...)
	names := make([]string, len(served))
	for i := range served {
		names[i] = fmt.Sprintf("served set %d", i)
	}
	for _, l := range c.all() {
		all = append(all, heads(t, l))
		names = append(names, l.cfg.NodeID)
	}
	for i, hs := range all {
		for size, root := range hs {
			if prev, ok := seen[size]; ok && !bytes.Equal(prev, root) {
				t.Fatalf("fork: heads of size %d differ between %s and %s", size, from[size], names[i])
			}
			seen[size], from[size] = root, names[i]
		}
	}
}

// followerOf returns a node ID other than the leader's.
func followerOf(c *testCluster) string {
	leader := c.leaderID()
	for id := range c.dirs {
		if id != leader {
			return id
		}
	}
	panic("no follower")
}

// waitRebuilt waits until node id holds want entries and says it is ready,
// failing at once if it ever says ready with fewer: a node must never be
// ready while its ledger is behind what the court had when it started.
func waitRebuilt(t *testing.T, c *testCluster, id string, want uint64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s to rebuild to %d entries and be ready", id, want), func() (bool, string) {
		l := c.node(id)
		h, size := l.Health(), l.Size()
		if h.Ready() && size < want {
			t.Fatalf("%s reports ready (%+v) with %d entries, the court has %d", id, h, size, want)
		}
		return h.Ready() && size >= want, fmt.Sprintf("health %+v size %d", h, size)
	})
}

// leadFrom moves leadership to node id and waits until it takes writes.
func leadFrom(t *testing.T, c *testCluster, id string) {
	t.Helper()
	waitFor(t, id+" to lead", func() (bool, string) {
		if c.node(id).IsLeader() {
			return true, ""
		}
		leader := c.waitLeader()
		if leader.cfg.NodeID != id {
			err := leader.raftNode().LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(c.addrs[id])).Error()
			return false, fmt.Sprintf("transfer from %s: %v", leader.cfg.NodeID, err)
		}
		return false, "leader but not ready"
	})
}

// A follower loses its ledger file while its Raft state stays (issue 11,
// state 1). It must not say ready while empty, must rebuild to the court's
// ledger, and once it leads, it signs only continuations of the court's
// history.
func TestLostLedgerRebuilds(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node fault test")
	}
	brokenKept := func(t *testing.T, l *Ledger) {
		if m, _ := filepath.Glob(filepath.Join(l.cfg.Dir, "ledger.db.broken-*")); len(m) != 1 {
			t.Fatalf("the other court's ledger was not kept aside: %v", m)
		}
	}
	fromLeader := func(t *testing.T, l *Ledger) {
		if got := l.raftNode().Stats()["last_snapshot_index"]; got == "0" {
			t.Fatalf("rebuilt without the leader's snapshot (last_snapshot_index %s)", got)
		}
	}
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, dir string)
		check  func(t *testing.T, l *Ledger)
	}{
		{"ledger removed", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "ledger.db")); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"ledger and snapshots removed", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "ledger.db")); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(filepath.Join(dir, "snapshots")); err != nil {
				t.Fatal(err)
			}
		}, fromLeader},
		{"ledger of another court", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "ledger.db")
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			f, err := openFSM(path, "beijing.court.example/evidence", discardLogger())
			if err != nil {
				t.Fatal(err)
			}
			f.close()
		}, brokenKept},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, fn := tcpCluster(t, 3)
			c.registerPlatform("esign.example")
			acks := runSubmitters(t, c, "a", 4, 10, nil)
			for _, l := range c.all() {
				if err := l.Snapshot(); err != nil {
					t.Fatalf("%s: snapshot: %v", l.cfg.NodeID, err)
				}
			}
			acks = append(acks, runSubmitters(t, c, "b", 4, 10, nil)...)
			want := c.waitLeader().Size()
			c.waitConverged(want)

			victim := followerOf(c)
			c.kill(fn, victim)
			tc.break_(t, c.dirs[victim])
			c.restart(fn, victim)
			waitRebuilt(t, c, victim, want)
			checkNoFork(t, c)
			if tc.check != nil {
				tc.check(t, c.node(victim))
			}

			acks = append(acks, runSubmitters(t, c, "c", 4, 5, nil)...)
			checkLedger(t, c, acks)

			// The fork of the issue: the rebuilt node leads and signs.
			leadFrom(t, c, victim)
			acks = append(acks, runSubmitters(t, c, "d", 4, 5, nil)...)
			checkLedger(t, c, acks)
			checkNoFork(t, c)
			if got := c.leaderID(); got != victim {
				t.Logf("leadership moved on to %s meanwhile", got)
			}
		})
	}
}
