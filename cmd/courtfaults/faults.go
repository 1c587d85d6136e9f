package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// fault is one named fault: inject, hold, heal, while the load runs.
type fault struct {
	name string
	what string // for the results table
	opts labOptions
	// hold, if set, is the fault's duration in every plan.
	hold time.Duration
	// maxStall, if set, bounds the longest time without an
	// acknowledgement: what a client of a court with a new leader should
	// wait at most.
	maxStall time.Duration
	// run injects the fault, holds it for d, and heals; it returns the
	// moment of the heal.
	run func(ctx context.Context, fr *faultRun, d time.Duration) error
}

// faultRun is what a fault acts on.
type faultRun struct {
	lab   *lab
	court *courtProcs // the court under load
	hist  *history
}

// hold keeps a fault in place for d: a fault's duration, not a wait for
// a condition.
func hold(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func (fr *faultRun) leader(ctx context.Context) (*nodeProc, error) {
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return fr.court.waitLeader(wctx)
}

func (fr *faultRun) nodeIDs() []string {
	var out []string
	for _, c := range fr.lab.courts {
		for _, n := range c.nodes {
			out = append(out, n.id)
		}
	}
	return out
}

var oneCourt = labOptions{courts: 1}

// electionStall is how long writes may stall when a leader is lost: an
// election (hashicorp/raft's defaults: 1 s heartbeat and election
// timeouts, so about 1-3 s) plus a retry at the new leader. A submitter
// waits up to plan.load.attempt for one try at one node, much longer, so
// a longer stall is the court's, not the submitter's.
const electionStall = 6 * time.Second

// faults is the catalogue, in the order the long run takes them.
var faults = []fault{
	{name: "leader-kill", what: "SIGKILL the leader, restart it", opts: oneCourt,
		run: func(ctx context.Context, fr *faultRun, d time.Duration) error {
			ld, err := fr.leader(ctx)
			if err != nil {
				return err
			}
			if err := ld.kill(syscall.SIGKILL); err != nil {
				return err
			}
			if err := hold(ctx, d); err != nil {
				return err
			}
			return ld.start()
		}},
	{name: "leader-pause", what: "SIGSTOP the leader for 10 s, SIGCONT it", opts: oneCourt, hold: 10 * time.Second, maxStall: electionStall,
		run: func(ctx context.Context, fr *faultRun, d time.Duration) error {
			ld, err := fr.leader(ctx)
			if err != nil {
				return err
			}
			return pauseFor(ctx, ld, d)
		}},
	{name: "follower-pause", what: "SIGSTOP a follower, SIGCONT it", opts: oneCourt,
		run: func(ctx context.Context, fr *faultRun, d time.Duration) error {
			ld, err := fr.leader(ctx)
			if err != nil {
				return err
			}
			return pauseFor(ctx, fr.court.follower(ld), d)
		}},
	{name: "kill-all", what: "SIGKILL all three nodes at once, restart them", opts: oneCourt,
		run: func(ctx context.Context, fr *faultRun, d time.Duration) error {
			for _, n := range fr.court.nodes {
				if err := n.kill(syscall.SIGKILL); err != nil {
					return err
				}
			}
			if err := hold(ctx, d/2); err != nil {
				return err
			}
			for _, n := range fr.court.nodes {
				if err := n.start(); err != nil {
					return err
				}
			}
			return nil
		}},
	{name: "follower-ledger-removed", what: "a follower's ledger.db removed (Raft store kept), restarted; then leaders killed until it leads", opts: oneCourt,
		run: func(ctx context.Context, fr *faultRun, d time.Duration) error {
			return onStoppedFollower(ctx, fr, d, func(n *nodeProc) error {
				return os.Remove(filepath.Join(n.dataDir, "ledger.db"))
			})
		}},
	{name: "follower-dir-wiped", what: "a follower's whole data directory removed (ledger, Raft log, term, vote), restarted with the bootstrap list; once ready, leaders killed until it leads", opts: oneCourt,
		run: func(ctx context.Context, fr *faultRun, d time.Duration) error {
			return onStoppedFollowerThen(ctx, fr, d, func(n *nodeProc) error {
				return os.RemoveAll(n.dataDir)
			}, func(ctx context.Context, n *nodeProc) error {
				// It votes only once it has caught up: killing a leader
				// before then leaves the court without a quorum of voters,
				// as it should.
				for !n.ready() {
					if err := hold(ctx, 100*time.Millisecond); err != nil {
						return fmt.Errorf("%s never became ready after its directory was wiped: %w", n.id, err)
					}
				}
				return nil
			})
		}},
	{name: "follower-ledger-altered", what: "one acknowledged entry's title changed by a byte in a follower's ledger.db, restarted", opts: oneCourt,
		run: func(ctx context.Context, fr *faultRun, d time.Duration) error {
			acked := fr.hist.acked()
			if len(acked) == 0 {
				return errors.New("nothing acknowledged to alter")
			}
			title := []byte(titleOf(acked[len(acked)/2].rid))
			return onStoppedFollower(ctx, fr, d, func(n *nodeProc) error {
				return alterFile(filepath.Join(n.dataDir, "ledger.db"), func(b []byte) error {
					// Every copy: bbolt's copy-on-write leaves old ones in free pages.
					found := 0
					for i := bytes.Index(b, title); i >= 0; i = bytes.Index(b, title) {
						b[i+len(title)-1] = '!'
						found++
					}
					if found == 0 {
						return fmt.Errorf("title %q not in the ledger file", title)
					}
					return nil
				})
			})
		}},
	{name: "follower-ledger-flipped", what: "64 bytes flipped in a follower's ledger.db, at the head of each page that holds one acknowledged entry, restarted", opts: oneCourt,
		run: func(ctx context.Context, fr *faultRun, d time.Duration) error {
			acked := fr.hist.acked()
			if len(acked) == 0 {
				return errors.New("nothing acknowledged to damage")
			}
			title := []byte(titleOf(acked[len(acked)/2].rid))
			return onStoppedFollower(ctx, fr, d, func(n *nodeProc) error {
				return alterFile(filepath.Join(n.dataDir, "ledger.db"), func(b []byte) error {
					// The page headers of every copy (bbolt's copy-on-write
					// leaves old ones in free pages): the live one among them.
					// Flipping "mid-file" as the issue did hits a free page as
					// often as not.
					pages := map[int]bool{}
					for at := 0; ; {
						i := bytes.Index(b[at:], title)
						if i < 0 {
							break
						}
						pages[(at+i)/os.Getpagesize()*os.Getpagesize()] = true // bbolt's page size is the OS's
						at += i + len(title)
					}
					if len(pages) == 0 {
						return fmt.Errorf("title %q not in the ledger file", title)
					}
					for p := range pages {
						for k := p; k < p+64 && k < len(b); k++ {
							b[k] ^= 0xff
						}
					}
					return nil
				})
			})
		}},
	{name: "leader-disk-full", what: "the leader's data disk (tmpfs) filled, freed after the hold", opts: labOptions{courts: 1, tmpfs: true},
		run: func(ctx context.Context, fr *faultRun, d time.Duration) error {
			ld, err := fr.leader(ctx)
			if err != nil {
				return err
			}
			return fillFor(ctx, ld, d)
		}},
	{name: "follower-disk-full", what: "a follower's data disk (tmpfs) filled, freed after the hold", opts: labOptions{courts: 1, tmpfs: true},
		run: func(ctx context.Context, fr *faultRun, d time.Duration) error {
			ld, err := fr.leader(ctx)
			if err != nil {
				return err
			}
			return fillFor(ctx, fr.court.follower(ld), d)
		}},
	{name: "leader-clock-step", what: "the leader's clock stepped back 1 h, then forward again", opts: oneCourt,
		run: func(ctx context.Context, fr *faultRun, d time.Duration) error {
			ld, err := fr.leader(ctx)
			if err != nil {
				return err
			}
			if err := ld.setClock(-time.Hour); err != nil {
				return err
			}
			if err := hold(ctx, d); err != nil {
				return err
			}
			return ld.setClock(0)
		}},
	{name: "link-delay", what: "every link between the court's nodes: 30 ms ± 10 ms one way", opts: oneCourt,
		run: func(ctx context.Context, fr *faultRun, d time.Duration) error {
			return impairFor(ctx, fr, d, shape{delay: 30 * time.Millisecond, jitter: 20 * time.Millisecond})
		}},
	{name: "link-loss", what: "every link between the court's nodes: 30 ms and 5% loss (lost chunk: +200 ms; 0.1% resets)", opts: oneCourt,
		run: func(ctx context.Context, fr *faultRun, d time.Duration) error {
			return impairFor(ctx, fr, d, shape{delay: 30 * time.Millisecond, jitter: 10 * time.Millisecond, loss: 0.05})
		}},
	{name: "partition-leader", what: "the leader cut off from both followers, both ways", opts: oneCourt, maxStall: electionStall,
		run: func(ctx context.Context, fr *faultRun, d time.Duration) error {
			ld, err := fr.leader(ctx)
			if err != nil {
				return err
			}
			fr.lab.net.isolate(ld.id, fr.nodeIDs())
			return healAfter(ctx, fr, d)
		}},
	{name: "partition-follower", what: "a follower cut off from the others, both ways", opts: oneCourt,
		run: func(ctx context.Context, fr *faultRun, d time.Duration) error {
			ld, err := fr.leader(ctx)
			if err != nil {
				return err
			}
			fr.lab.net.isolate(fr.court.follower(ld).id, fr.nodeIDs())
			return healAfter(ctx, fr, d)
		}},
	{name: "partition-leader-oneway", what: "the leader's outgoing bytes to the followers dropped (it still hears them)", opts: oneCourt, maxStall: electionStall,
		run: func(ctx context.Context, fr *faultRun, d time.Duration) error {
			ld, err := fr.leader(ctx)
			if err != nil {
				return err
			}
			for _, n := range fr.court.nodes {
				if n != ld {
					fr.lab.net.block(ld.id, n.id)
				}
			}
			return healAfter(ctx, fr, d)
		}},
	{name: "courts-partition", what: "Hangzhou and Beijing (30 ms RTT apart) cut off from each other; Beijing's mirror must catch up", opts: labOptions{courts: 2, wan: 15 * time.Millisecond},
		run: func(ctx context.Context, fr *faultRun, d time.Duration) error {
			for _, a := range fr.lab.courts[0].nodes {
				for _, b := range fr.lab.courts[1].nodes {
					fr.lab.net.block(a.id, b.id)
					fr.lab.net.block(b.id, a.id)
				}
			}
			return healAfter(ctx, fr, d)
		}},
	{name: "courts-wan-loss", what: "Hangzhou and Beijing 30 ms RTT apart, their sync links at 5% loss; Beijing's mirror must keep up", opts: labOptions{courts: 2, wan: 15 * time.Millisecond},
		run: func(ctx context.Context, fr *faultRun, d time.Duration) error {
			fr.lab.net.setImpair(func(src, dst, kind string) shape {
				if kind != "sync" {
					return shape{}
				}
				return shape{loss: 0.05}
			})
			return healAfter(ctx, fr, d)
		}},
}

func faultByName(name string) (fault, bool) {
	for _, f := range faults {
		if f.name == name {
			return f, true
		}
	}
	return fault{}, false
}

func pauseFor(ctx context.Context, n *nodeProc, d time.Duration) error {
	if err := n.pause(); err != nil {
		return err
	}
	err := hold(ctx, d)
	return errors.Join(err, n.resume())
}

func healAfter(ctx context.Context, fr *faultRun, d time.Duration) error {
	err := hold(ctx, d)
	fr.lab.net.heal()
	return err
}

func impairFor(ctx context.Context, fr *faultRun, d time.Duration, s shape) error {
	fr.lab.net.setImpair(func(src, dst, kind string) shape {
		if kind == "sync" {
			return shape{}
		}
		return s
	})
	return healAfter(ctx, fr, d)
}

// onStoppedFollower stops a follower, changes its files, starts it again,
// and then kills and restarts leaders until the changed node wins an
// election (the state 1 needed it to lead).
func onStoppedFollower(ctx context.Context, fr *faultRun, d time.Duration, change func(*nodeProc) error) error {
	return onStoppedFollowerThen(ctx, fr, d, change, nil)
}

// onStoppedFollowerThen is onStoppedFollower with a wait (if not nil) for
// the changed node before the leaders are killed.
func onStoppedFollowerThen(ctx context.Context, fr *faultRun, d time.Duration, change func(*nodeProc) error, before func(context.Context, *nodeProc) error) error {
	ld, err := fr.leader(ctx)
	if err != nil {
		return err
	}
	f := fr.court.follower(ld)
	// A snapshot first, as a node that has run a while has one: a node
	// restarted without its ledger resumes applying after its index.
	for _, n := range []*nodeProc{ld, f} {
		if err := n.snapshot(ctx); err != nil {
			return err
		}
	}
	if err := f.kill(syscall.SIGTERM); err != nil {
		return err
	}
	if err := change(f); err != nil {
		return err
	}
	if err := f.start(); err != nil {
		return err
	}
	if err := hold(ctx, d/2); err != nil {
		return err
	}
	if before != nil {
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err := before(wctx, f)
		cancel()
		if err != nil {
			return err
		}
	}
	// The changed node is to lead: kill whichever node leads and start it
	// again, until the changed node wins an election (each is a coin
	// toss between the two others; at most a few tries).
	for try := 0; try < 6 && f.running(); try++ { // a node that could not start cannot lead
		cur, err := fr.leader(ctx)
		if err != nil {
			return err
		}
		if cur == f {
			break
		}
		if err := cur.kill(syscall.SIGKILL); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		next, werr := fr.court.waitLeader(wctx)
		cancel()
		if err := cur.start(); err != nil {
			return err
		}
		if werr != nil {
			return werr
		}
		if next == f {
			break
		}
	}
	return hold(ctx, d/2)
}

func alterFile(path string, change func([]byte) error) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := change(b); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, b, 0o600)
}

// fillFor fills the node's data disk until the file system says it is
// full, holds, and frees the space.
func fillFor(ctx context.Context, n *nodeProc, d time.Duration) error {
	filler := filepath.Join(n.dataDir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		return err
	}
	chunk := make([]byte, 1<<20)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				f.Close()
				return fmt.Errorf("fill %s: %w", n.dataDir, err)
			}
			break
		}
	}
	// The last bytes: what a 1 MiB write could not take.
	for {
		if _, err := f.Write(chunk[:4096]); err != nil {
			break
		}
	}
	f.Close()
	err = hold(ctx, d)
	return errors.Join(err, os.Remove(filler))
}
