package consensus

import (
	"os"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// A node whose whole data directory was lost (ledger, Raft log, term and
// vote) and that is started again with the court's bootstrap list, as an
// operator would, must not vote a stale node into leadership: with its vote
// the stale node has a majority, leads without entries the court
// acknowledged, and overwrites them. It may vote only once it has caught up
// from a leader, or for a candidate with no history of its own (a new
// court's first election).
func TestWipedNodeDoesNotElectStaleCandidate(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node fault test")
	}
	c, fn := tcpCluster(t, 3)
	c.registerPlatform("esign.example")
	acks := runSubmitters(t, c, "a", 2, 5, nil)
	c.waitConverged(c.waitLeader().Size())

	leader := c.leaderID()
	var stale, wiped string
	for id := range c.dirs {
		switch {
		case id == leader:
		case stale == "":
			stale = id
		default:
			wiped = id
		}
	}
	// stale misses what is acknowledged from here on.
	fn.isolate(c.addrs[stale])
	acks = append(acks, runSubmitters(t, c, "b", 2, 5, nil)...)
	want := c.waitLeader().Size()
	waitFor(t, "the wiped-to-be node to hold every acknowledged entry", func() (bool, string) {
		return c.node(wiped).Size() == want, ""
	})

	// The one node that holds the court's history alone goes down, the
	// other loses its disk and comes back with the bootstrap list.
	c.kill(fn, leader)
	c.kill(fn, wiped)
	if err := os.RemoveAll(c.dirs[wiped]); err != nil {
		t.Fatal(err)
	}
	var boot []Server
	for id, addr := range c.addrs {
		boot = append(boot, Server{ID: id, Address: addr})
	}
	fn.heal(c.addrs[wiped])
	fn.heal(c.addrs[stale])
	c.restartWith(fn, wiped, boot)

	// With Fast timeouts an election takes well under a second: several
	// rounds fit in this window. Whoever leads must hold what was
	// acknowledged; the stale node never can.
	end := time.Now().Add(4 * time.Second)
	for time.Now().Before(end) {
		if l := c.node(stale); l.raftNode().State() == raft.Leader {
			t.Fatalf("the stale node %s was elected (size %d of %d acknowledged) with the wiped node's vote", stale, l.Size(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := c.node(wiped).Health(); got.Ready() {
		t.Fatalf("the wiped node says %s before it caught up", got.State)
	}

	c.restart(fn, leader)
	acks = append(acks, runSubmitters(t, c, "c", 2, 5, nil)...)
	checkLedger(t, c, acks)
	checkNoFork(t, c)
	waitFor(t, "the wiped node to be ready", func() (bool, string) {
		h := c.node(wiped).Health()
		return h.Ready(), string(h.State) + ": " + h.Reason
	})
}

// restartWith starts a stopped node again on its address with a bootstrap
// list, as courtd does with `bootstrap: true` in its configuration.
func (c *testCluster) restartWith(fn *faultNet, id string, boot []Server) *Ledger {
	c.t.Helper()
	fn.heal(c.addrs[id])
	tr := c.listenAgain(fn, id)
	return c.start(id, tr, boot)
}
