package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
// ready while its ledger is behind what the court had committed before the
// node started. Callers make sure no writes are in flight.
func waitRebuilt(t *testing.T, c *testCluster, id string, want uint64) {
	t.Helper()
	waitRebuiltFrom(t, c, id, want, want)
}

// waitRebuiltFrom is waitRebuilt where writes went on while the node
// rebuilt: a follower learns of the last ones a moment after the leader, so
// only being ready with fewer than floor entries fails.
func waitRebuiltFrom(t *testing.T, c *testCluster, id string, floor, want uint64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s to rebuild to %d entries and be ready", id, want), func() (bool, string) {
		l := c.node(id)
		h, size := l.Health(), l.Size()
		if h.Ready() && size < floor {
			t.Fatalf("%s reports ready (%+v) with %d entries, the court has %d", id, h, size, floor)
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
		{"older copy of the ledger", func(t *testing.T, dir string) {
			if err := os.Rename(filepath.Join(dir, "ledger.db.old"), filepath.Join(dir, "ledger.db")); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"ledger unreadable", func(t *testing.T, dir string) {
			f, err := os.OpenFile(filepath.Join(dir, "ledger.db"), os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// Both meta pages.
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, 2*os.Getpagesize()), 0); err != nil {
				t.Fatal(err)
			}
		}, brokenKept},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, fn := tcpCluster(t, 3)
			c.registerPlatform("esign.example")
			acks := runSubmitters(t, c, "a", 4, 10, nil)
			for _, l := range c.all() {
				// A consistent copy, as a backup restored later would be.
				if err := l.fsm.view(func(tx *bolt.Tx) error {
					return tx.CopyFile(filepath.Join(l.cfg.Dir, "ledger.db.old"), 0o600)
				}); err != nil {
					t.Fatal(err)
				}
			}
			acks = append(acks, runSubmitters(t, c, "a2", 4, 5, nil)...)
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
			// Leadership is ordered to it at once, as in the fork:
			// it must refuse, or lead without signing until it is rebuilt.
			for try := 0; try < 3; try++ { // the first call may meet a connection to the stopped node
				l := c.waitLeader()
				if l.cfg.NodeID == victim {
					break
				}
				err := l.raftNode().LeadershipTransferToServer(raft.ServerID(victim), raft.ServerAddress(c.addrs[victim])).Error()
				t.Logf("transfer to %s at once: %v", victim, err)
				if err == nil || !strings.Contains(err.Error(), "EOF") {
					break
				}
			}
			acks = append(acks, runSubmitters(t, c, "r", 4, 5, nil)...)
			waitRebuiltFrom(t, c, victim, want, c.waitLeader().Size())
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

// A node whose ledger writes fail (a full disk, issue 11 state 3) stops
// applying and leading, and heals by itself once writes succeed again,
// without a process restart: nothing acknowledged is lost.
func TestFailedLedgerWriteHeals(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node fault test")
	}
	c, _ := tcpCluster(t, 3)
	c.registerPlatform("esign.example")
	victim := c.waitLeader()
	var full atomic.Bool
	victim.fsm.mu.Lock()
	victim.fsm.failWrite = func() error {
		if full.Load() {
			return syscall.ENOSPC
		}
		return nil
	}
	victim.fsm.mu.Unlock()

	var (
		once   sync.Once
		broken = make(chan struct{})
	)
	acks := runSubmitters(t, c, "a", 8, 30, func(total int64) {
		if total == 60 {
			full.Store(true)
		}
		if total > 60 {
			once.Do(func() {
				go func() {
					defer close(broken)
					waitFor(t, "the leader's ledger to break and leadership to move", func() (bool, string) {
						h := victim.Health()
						return h.State == HealthBroken && !victim.IsLeader() && c.leaderID() != victim.cfg.NodeID, fmt.Sprintf("%+v", h)
					})
				}()
			})
		}
	})
	<-broken
	// More acknowledged writes while the victim stays broken.
	acks = append(acks, runSubmitters(t, c, "b", 4, 10, nil)...)
	if h := victim.Health(); h.Ready() {
		t.Fatalf("victim ready while its writes fail: %+v", h)
	}
	full.Store(false)
	waitRebuilt(t, c, victim.cfg.NodeID, c.waitLeader().Size())
	if victim.Restarts() == 0 {
		t.Fatal("the victim healed without restarting Raft")
	}
	if c.node(victim.cfg.NodeID) != victim {
		t.Fatal("the victim's process state was replaced")
	}
	acks = append(acks, runSubmitters(t, c, "c", 4, 5, nil)...)
	checkLedger(t, c, acks)
	leadFrom(t, c, victim.cfg.NodeID)
	acks = append(acks, runSubmitters(t, c, "d", 4, 5, nil)...)
	checkLedger(t, c, acks)
	checkNoFork(t, c)
}

// mountTmpfs mounts a tmpfs of size bytes on a fresh directory; it needs
// root. The caller's cleanup must close what uses it first.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	return dir
}

// fill writes a file in dir until the file system is full.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			return path
		}
	}
}

// The same on a real full disk: a follower's directory on a small tmpfs is
// filled until its writes fail, then space is freed.
func TestFullDiskHeals(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node fault test")
	}
	c, fn := tcpCluster(t, 3)
	c.registerPlatform("esign.example")
	acks := runSubmitters(t, c, "a", 4, 10, nil)

	victim := followerOf(c)
	c.kill(fn, victim)
	mnt := mountTmpfs(t, 16<<20)
	t.Cleanup(func() {
		c.stop(victim)
		if out, err := exec.Command("umount", "-l", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	dir := filepath.Join(mnt, victim)
	if out, err := exec.Command("cp", "-a", c.dirs[victim], dir).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v: %s", c.dirs[victim], err, out)
	}
	c.dirs[victim] = dir
	c.restart(fn, victim)
	waitRebuilt(t, c, victim, c.waitLeader().Size())

	filler := fill(t, mnt)
	var once sync.Once
	notReady := make(chan struct{})
	acks = append(acks, runSubmitters(t, c, "b", 8, 40, func(int64) {
		once.Do(func() {
			go func() {
				defer close(notReady)
				waitFor(t, "the full node to stop being ready", func() (bool, string) {
					h := c.node(victim).Health()
					return !h.Ready(), fmt.Sprintf("%+v", h)
				})
			}()
		})
	})...)
	<-notReady
	if h := c.node(victim).Health(); h.Ready() {
		t.Fatalf("full node ready: %+v", h)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitRebuilt(t, c, victim, c.waitLeader().Size())
	acks = append(acks, runSubmitters(t, c, "c", 4, 5, nil)...)
	checkLedger(t, c, acks)
	if m, _ := filepath.Glob(filepath.Join(dir, "snapshots", "*.tmp")); len(m) > 0 {
		t.Fatalf("failed snapshots left behind: %v", m)
	}
	t.Logf("health restarts of the full node: %d", c.node(victim).Restarts())
}

// The FSM records no applied index for entries it is handed while it lacks
// committed entries before them (Raft took a snapshot's index as applied
// while the ledger is older): rejecting them as stale, as main did, skipped
// the missing entries for good. Entries Raft never hands over (no-ops) are
// no gap.
func TestLedgerBehindRecordsNothing(t *testing.T) {
	h := newHarness(t)
	store := raft.NewInmemStore()
	put := func(l *raft.Log) {
		if err := store.StoreLog(l); err != nil {
			t.Fatal(err)
		}
	}
	first := h.batch(2, "a") // index 1
	put(first)
	h.raftIdx++ // index 2: a new leader's no-op
	put(&raft.Log{Index: h.raftIdx, Type: raft.LogNoop})
	second := h.batch(1, "b") // index 3
	put(second)

	// A ledger that has everything: the no-op is no gap.
	f := openTestFSM(t, filepath.Join(t.TempDir(), "ledger.db"))
	f.logs = store
	if r := f.Apply(first); r != nil {
		t.Fatal(r)
	}
	if r := f.Apply(second); r != nil {
		t.Fatalf("after a no-op: %v", r)
	}
	if f.size() != 3 || f.appliedIndex() != 3 {
		t.Fatalf("size %d applied %d, want 3 3", f.size(), f.appliedIndex())
	}

	// A ledger lost, Raft resuming after a snapshot at index 2.
	empty := openTestFSM(t, filepath.Join(t.TempDir(), "ledger.db"))
	empty.logs = store
	if err := store.DeleteRange(1, 2); err != nil {
		t.Fatal(err)
	}
	res, _ := empty.Apply(second).(error)
	if !errors.Is(res, ErrLedgerBehind) {
		t.Fatalf("entry after missing ones: %v, want ErrLedgerBehind", res)
	}
	if empty.appliedIndex() != 0 || empty.size() != 0 {
		t.Fatalf("a ledger missing entries recorded applied %d size %d", empty.appliedIndex(), empty.size())
	}
	// And it takes nothing more until rebuilt.
	h.raftIdx = second.Index
	third := h.batch(1, "c")
	if res, _ := empty.Apply(third).(error); !errors.Is(res, ErrLedgerBehind) {
		t.Fatalf("next entry: %v, want ErrLedgerBehind", res)
	}
}

// Never sign what you do not hold: a leader whose ledger does not end at
// the court's last signed head (here the head was lost from its file) signs
// nothing, stops being ready, hands leadership over and rebuilds.
func TestLeaderSignsOnlyContinuations(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node fault test")
	}
	c, _ := tcpCluster(t, 3)
	c.registerPlatform("esign.example")
	acks := runSubmitters(t, c, "a", 4, 10, nil)
	want := c.waitLeader().Size()
	c.waitConverged(want)
	served := []map[uint64][]byte{}
	for _, l := range c.all() {
		served = append(served, heads(t, l))
	}

	victim := c.node(followerOf(c))
	f := victim.fsm
	f.mu.Lock()
	err := f.db.Update(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketHeads).Cursor().Last()
		return tx.Bucket(bucketHeads).Delete(k)
	})
	f.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	leadFrom(t, c, victim.cfg.NodeID)
	// Its first batch finds the ledger is not the court's continuation.
	res, err := victim.Submit(context.Background(), []SignedSubmission{c.submission("esign.example", "on-victim", []byte("v"))})
	if err == nil && res[0].Err == nil {
		t.Fatalf("a leader without the court's last head signed a batch: %+v", res[0].Receipt)
	}
	waitFor(t, "the victim to stop leading", func() (bool, string) {
		return !victim.IsLeader() && c.leaderID() != victim.cfg.NodeID, fmt.Sprintf("%+v", victim.Health())
	})
	acks = append(acks, runSubmitters(t, c, "b", 4, 5, nil)...)
	waitRebuiltFrom(t, c, victim.cfg.NodeID, want, c.waitLeader().Size())
	if m, _ := filepath.Glob(filepath.Join(victim.cfg.Dir, "ledger.db.broken-*")); len(m) != 1 {
		t.Fatalf("the damaged ledger was not kept aside: %v", m)
	}
	checkLedger(t, c, acks)
	checkNoFork(t, c, served...)
}
