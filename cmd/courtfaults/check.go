package main

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/evidence"
)

// result is what one fault's run found.
type result struct {
	name        string
	acked       int           // submissions acknowledged
	unacked     int           // given up on at the end of the run (not acknowledged, not refused)
	refused     int           // refused for good (a clear error: the submitter moved on)
	lost        int           // acknowledged, missing on at least one node
	doubled     int           // acknowledged, twice or more on at least one node
	moved       int           // acknowledged at an index where a node holds another entry
	badReceipts int           // receipts that do not verify offline
	forks       int           // two signed heads of one size with different roots
	badHeads    int           // heads served that do not verify
	regressions int           // a node answered found, later not found
	stale       int           // not found at a node after the acknowledgement (follower lag)
	linearized  string        // porcupine's verdict on submissions and found reads
	stall       time.Duration // longest time without an acknowledgement
	recovery    time.Duration // from the heal to every node current and equal
	converged   bool
	elapsed     time.Duration
	problems    []string // failed checks
	notes       []string // worth knowing, not failures
	skipped     string
}

func (r *result) problem(format string, args ...any) {
	if len(r.problems) < 12 {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

// ok is the verdict: every check held.
func (r *result) ok() bool {
	return r.skipped == "" && r.converged && r.lost == 0 && r.doubled == 0 && r.moved == 0 && r.badReceipts == 0 &&
		r.forks == 0 && r.badHeads == 0 && r.regressions == 0 && r.linearized == string(porcupine.Ok) && len(r.problems) == 0
}

// nodeState is a node's latest head as it answers it.
type nodeState struct {
	size uint64
	root []byte
}

// converge waits, up to ctx's end, until every node of the court is
// running, ready and holds the same head, of at least minSize entries. It
// returns how long that took.
func converge(ctx context.Context, ld *load, minSize uint64) (time.Duration, error) {
	start := time.Now()
	var last string
	for {
		ok := true
		var states []string
		var first *nodeState
		for _, nc := range ld.clients {
			st, why := nc.current(ctx)
			if why != "" {
				ok = false
				states = append(states, nc.node.id+": "+why)
				continue
			}
			states = append(states, fmt.Sprintf("%s: size %d root %.12x", nc.node.id, st.size, st.root))
			if st.size < minSize {
				ok = false
			}
			if first == nil {
				first = st
			} else if first.size != st.size || !bytes.Equal(first.root, st.root) {
				ok = false
			}
		}
		last = strings.Join(states, "; ")
		if ok {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("not converged (want every node ready, equal, size >= %d): %s", minSize, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// current is the node's head if it is running and ready, or why not.
func (nc *nodeClients) current(ctx context.Context) (*nodeState, string) {
	if !nc.node.running() {
		return nil, "process not running"
	}
	if !nc.node.ready() {
		return nil, "not ready"
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := nc.judge.GetLatestTreeHead(rctx, &pb.GetLatestTreeHeadRequest{})
	if err != nil {
		return nil, fmt.Sprintf("head: %v", err)
	}
	return &nodeState{size: resp.TreeHead.GetSize(), root: resp.TreeHead.GetRoot()}, ""
}

// nodeLog is what one node holds, read back whole.
type nodeLog struct {
	node    string
	entries [][]byte
	byRID   map[string][]uint64
}

// readLog streams every entry the node holds and checks that they hash to
// the root of the node's latest head.
func readLog(ctx context.Context, nc *nodeClients, h *history, r *result) *nodeLog {
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	nl := &nodeLog{node: nc.node.id, byRID: map[string][]uint64{}}
	resp, err := nc.judge.GetLatestTreeHead(rctx, &pb.GetLatestTreeHeadRequest{})
	if err != nil {
		r.problem("%s: latest head: %v", nc.node.id, err)
		return nil
	}
	h.head([]byte(resp.TreeHead.GetNote()), nc.node.id)
	size := resp.TreeHead.GetSize()
	rng := merkle.NewRange()
	for at := uint64(0); at < size; at += 50_000 {
		raws, err := nc.entries(rctx, h, at, min(at+50_000, size))
		if err != nil || uint64(len(raws)) != min(50_000, size-at) {
			r.problem("%s: read entries from %d: %v (%d entries)", nc.node.id, at, err, len(raws))
			return nil
		}
		for _, raw := range raws {
			i := uint64(len(nl.entries))
			e, err := evidence.UnmarshalEntry(raw)
			if err != nil || e.Index != i {
				r.problem("%s: entry %d does not decode as itself: %v", nc.node.id, i, err)
				return nil
			}
			nl.entries = append(nl.entries, raw)
			nl.byRID[e.Submission.RequestID] = append(nl.byRID[e.Submission.RequestID], i)
			rng.Append(merkle.LeafHash(raw), nil)
		}
	}
	if !bytes.Equal(rng.Root(), resp.TreeHead.GetRoot()) {
		r.problem("%s: its %d entries hash to %x, its head says %x", nc.node.id, size, rng.Root(), resp.TreeHead.GetRoot())
	}
	return nl
}

// readLogHealed reads a node's log back; a node that refuses to serve it
// (it found a damaged record while reading, or is not ready) is given time
// to heal, as a client would ask another node meanwhile, and read again.
// What it refused is noted, not counted as a failure: refusing is the
// answer the design asks of a damaged ledger.
func readLogHealed(ctx context.Context, nc *nodeClients, h *history, r *result) *nodeLog {
	for try := 0; ; try++ {
		tr := &result{}
		nl := readLog(ctx, nc, h, tr)
		if nl != nil || try == 2 || !refusedAsNotReady(tr.problems) {
			r.problems = append(r.problems, tr.problems...)
			return nl
		}
		r.notes = append(r.notes, fmt.Sprintf("%s refused the read-back (%s); read again once ready", nc.node.id, strings.Join(tr.problems, "; ")))
		waitFor(ctx, 30*time.Second, func() bool { _, why := nc.current(ctx); return why == "" })
	}
}

func refusedAsNotReady(problems []string) bool {
	for _, p := range problems {
		if strings.Contains(p, "code = Unavailable") {
			return true
		}
	}
	return false
}

// checkCourt runs every check of the history against what the nodes hold.
func checkCourt(ctx context.Context, ld *load, r *result) {
	h := ld.h
	var logs []*nodeLog
	for _, nc := range ld.clients {
		if nl := readLogHealed(ctx, nc, h, r); nl != nil {
			logs = append(logs, nl)
		}
	}
	acked := h.acked()
	r.acked = len(acked)
	for _, a := range acked {
		if _, err := a.rc.Verify(h.court.verifier); err != nil {
			r.badReceipts++
			r.problem("receipt of %s does not verify offline: %v", a.rid, err)
		}
		lost, doubled, moved := false, false, false
		for _, nl := range logs {
			at := nl.byRID[a.rid]
			switch {
			case len(at) == 0:
				lost = true
				r.problem("%s (acknowledged at %d) missing on %s", a.rid, a.index, nl.node)
			case len(at) > 1:
				doubled = true
				r.problem("%s recorded %d times on %s", a.rid, len(at), nl.node)
			}
			if a.index >= uint64(len(nl.entries)) || !bytes.Equal(nl.entries[a.index], a.entry) {
				moved = true
			}
		}
		r.lost += b2i(lost)
		r.doubled += b2i(doubled)
		r.moved += b2i(moved && !lost)
	}
	if len(logs) < len(ld.clients) {
		r.problem("read back the logs of %d of %d nodes", len(logs), len(ld.clients))
	}
	h.mu.Lock()
	r.forks, r.badHeads = len(h.forks), len(h.badSigs)
	for _, f := range h.forks {
		r.problem("fork: %s", f)
	}
	for _, b := range h.badSigs {
		r.problem("%s", b)
	}
	r.badReceipts += len(h.served)
	for _, b := range h.served {
		r.problem("%s", b)
	}
	pending := maps2slice(h.pending)
	ops := slices.Clone(h.ops)
	h.mu.Unlock()
	r.refused = h.nRefused
	r.unacked = len(pending) - h.nRefused
	if len(h.refused) > 0 {
		r.notes = append(r.notes, fmt.Sprintf("%d submissions refused, e.g. %s", h.nRefused, h.refused[0]))
	}
	r.regressions, r.stale = readRegressions(ops)
	if r.regressions > 0 {
		r.problem("%d reads found nothing on a node that had answered found before", r.regressions)
	}
	r.linearized = linearizable(ops, pending, logs, h.now())
	r.stall = longestStall(h)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func maps2slice(m map[string]*pb.SignedSubmission) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// longestStall is the longest time between two acknowledgements, or from
// the last one to when the submitters stopped (a court that stopped
// acknowledging at all).
func longestStall(h *history) time.Duration {
	h.mu.Lock()
	acks := slices.Clone(h.acks)
	end := h.end
	h.mu.Unlock()
	slices.Sort(acks)
	var worst time.Duration
	if len(acks) > 0 && end > acks[len(acks)-1] {
		worst = end - acks[len(acks)-1]
	}
	for i := 1; i < len(acks); i++ {
		worst = max(worst, acks[i]-acks[i-1])
	}
	return worst
}
