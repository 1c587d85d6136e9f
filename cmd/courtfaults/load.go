package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

// The load: submitters that file evidence and retry each submission with
// the same signed bytes (so the same request ID) until it is acknowledged,
// readers that look evidence up by ID and entries up by index on single
// nodes, and a poller of every node's latest head. Everything they see
// goes into the history, which check.go judges.

// opKind is what an operation of the history did.
type opKind int

const (
	opSubmit    opKind = iota // Submit: acknowledged with Index
	opReadID                  // GetEvidence at Node: Found at Index, or not
	opReadIndex               // StreamEntries [Index, Index+1) at Node: Found RID, or not
)

// op is one completed operation. Times are since the history's start.
type op struct {
	kind   opKind
	rid    string
	index  uint64
	node   string
	found  bool
	call   time.Duration
	ret    time.Duration
	rc     *evidence.Receipt // opSubmit: the verified receipt
	entry  []byte            // opSubmit: the receipt's canonical entry
	signed *pb.SignedSubmission
}

// headSeen is a signed head some node served.
type headSeen struct {
	root string
	from string
}

// history is what the load saw, for one court.
type history struct {
	court *courtProcs
	start time.Time

	mu       sync.Mutex
	ops      []op
	pending  map[string]*pb.SignedSubmission // submitted, never acknowledged
	heads    map[uint64]headSeen             // by size
	forks    []string
	badSigs  []string
	refused  []string // the first few refusals
	nRefused int
	served   []string        // records served that do not verify
	acks     []time.Duration // when each acknowledgement came
	end      time.Duration   // when the last submitter stopped
}

func newHistory(c *courtProcs) *history {
	return &history{court: c, start: time.Now(), pending: map[string]*pb.SignedSubmission{}, heads: map[uint64]headSeen{}}
}

func (h *history) now() time.Duration { return time.Since(h.start) }

func (h *history) add(o op) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, o)
	if o.kind == opSubmit {
		h.acks = append(h.acks, o.ret)
		delete(h.pending, o.rid)
	}
}

// head records a signed head that node served: its signature must verify
// under the court's key, and no other head of its size may have another
// root.
func (h *history) head(note []byte, node string) {
	if len(note) == 0 {
		return
	}
	th, _, err := checkpoint.Open(note, h.court.verifier)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		if len(h.badSigs) < 20 {
			h.badSigs = append(h.badSigs, fmt.Sprintf("%s served a head that does not verify: %v", node, err))
		}
		return
	}
	root := fmt.Sprintf("%x", th.Root)
	if prev, ok := h.heads[th.Size]; ok {
		if prev.root != root && len(h.forks) < 20 {
			h.forks = append(h.forks, fmt.Sprintf("size %d: root %.16s… from %s, root %.16s… from %s", th.Size, prev.root, prev.from, root, node))
		}
		return
	}
	h.heads[th.Size] = headSeen{root: root, from: node}
}

// acked returns the acknowledged submissions so far.
func (h *history) acked() []op {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []op
	for _, o := range h.ops {
		if o.kind == opSubmit {
			out = append(out, o)
		}
	}
	return out
}

// nodeClients are long-lived connections to one node, per role.
type nodeClients struct {
	node     *nodeProc
	conns    []*grpc.ClientConn
	platform *client.Client // one endpoint: the submitter picks the node
	judge    pb.EvidenceServiceClient
	auditor  pb.SyncServiceClient
}

// quickReconnect keeps gRPC from backing off for minutes from a node that
// was down for seconds.
var quickReconnect = grpc.WithConnectParams(grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
	MinConnectTimeout: 2 * time.Second,
})

func dialNode(n *nodeProc) (*nodeClients, error) {
	l := n.lab
	nc := &nodeClients{node: n}
	pc, err := client.New(client.Config{Endpoints: []string{n.grpc}, Court: n.court.verifier, Platform: platformID,
		Key: l.platformKey, Attempts: 1, DialOptions: []grpc.DialOption{l.dialUser[access.RolePlatform], quickReconnect}})
	if err != nil {
		return nil, err
	}
	nc.platform = pc
	for _, role := range []access.Role{access.RoleJudge, access.RolePeer} {
		cc, err := grpc.NewClient(n.grpc, l.dialUser[role], quickReconnect)
		if err != nil {
			nc.close()
			return nil, err
		}
		nc.conns = append(nc.conns, cc)
	}
	nc.judge = pb.NewEvidenceServiceClient(nc.conns[0])
	nc.auditor = pb.NewSyncServiceClient(nc.conns[1])
	return nc, nil
}

func (nc *nodeClients) close() {
	if nc.platform != nil {
		nc.platform.Close()
	}
	for _, c := range nc.conns {
		c.Close()
	}
}

// entryAt reads one entry by index at this node: nil, nil if the node
// holds fewer entries. Heads on the page go to h.
func (nc *nodeClients) entryAt(ctx context.Context, h *history, i uint64) (*evidence.Entry, error) {
	entries, err := nc.entries(ctx, h, i, i+1)
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	return evidence.UnmarshalEntry(entries[0])
}

// entries streams the raw entries [start, end) from this node; none if
// the node holds fewer than end.
func (nc *nodeClients) entries(ctx context.Context, h *history, start, end uint64) ([][]byte, error) {
	st, err := nc.auditor.StreamEntries(ctx, &pb.StreamEntriesRequest{Start: start, End: end, PageSize: 1000})
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for {
		p, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if status.Code(err) == codes.NotFound {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, p.Entries...)
		for _, n := range p.Heads {
			h.head([]byte(n), nc.node.id)
		}
	}
}

// loadConfig bounds the load.
type loadConfig struct {
	submitters int
	readers    int
	attempt    time.Duration // one try at one node
}

// load runs the submitters, readers and head poller of one court.
type load struct {
	cfg     loadConfig
	h       *history
	clients []*nodeClients
	tag     string

	stopNew context.Context // no new submissions after it ends
	hard    context.Context // no more retries after it ends
	wg      sync.WaitGroup
	readWG  sync.WaitGroup
	stopRd  context.CancelFunc

	// reregister registers the platform again, as the operator
	// did when a node that had lost its ledger led and refused the
	// platform as unknown; at most every 2 s.
	reregister func(context.Context) error
	regMu      sync.Mutex
	regLast    time.Time
	reRegs     int
}

func startLoad(c *courtProcs, h *history, cfg loadConfig, tag string, stopNew, hard context.Context) (*load, error) {
	ld := &load{cfg: cfg, h: h, tag: tag, stopNew: stopNew, hard: hard}
	for _, n := range c.nodes {
		nc, err := dialNode(n)
		if err != nil {
			ld.closeClients()
			return nil, err
		}
		ld.clients = append(ld.clients, nc)
	}
	for w := 0; w < cfg.submitters; w++ {
		ld.wg.Add(1)
		go func() { defer ld.wg.Done(); ld.submitter(w) }()
	}
	rctx, cancel := context.WithCancel(hard)
	ld.stopRd = cancel
	for w := 0; w < cfg.readers; w++ {
		ld.readWG.Add(1)
		go func() { defer ld.readWG.Done(); ld.reader(rctx) }()
	}
	ld.readWG.Add(1)
	go func() { defer ld.readWG.Done(); ld.pollHeads(rctx) }()
	return ld, nil
}

// wait returns when every submitter has finished (acknowledged its last
// submission or given up at hard's end), then stops the readers.
func (ld *load) wait() {
	ld.wg.Wait()
	ld.h.mu.Lock()
	ld.h.end = ld.h.now()
	ld.h.mu.Unlock()
	ld.stopRd()
	ld.readWG.Wait()
}

func (ld *load) closeClients() {
	for _, c := range ld.clients {
		c.close()
	}
}

func (ld *load) submitter(w int) {
	k := rand.IntN(len(ld.clients)) // the node to try first; moves on after a failure
	for seq := 0; ld.stopNew.Err() == nil; seq++ {
		rid := fmt.Sprintf("%s-w%d-%d", ld.tag, w, seq)
		s, err := ld.clients[0].platform.Sign(evidence.Submission{RequestID: rid, Fingerprint: sm3.Sum([]byte(rid)),
			Category: evidence.CategoryChat, Title: titleOf(rid)})
		if err != nil {
			ld.h.refuse(rid, err)
			return
		}
		ld.h.mu.Lock()
		ld.h.pending[rid] = s
		ld.h.mu.Unlock()
		call := ld.h.now()
		for {
			nc := ld.clients[k%len(ld.clients)]
			ctx, cancel := context.WithTimeout(ld.hard, ld.cfg.attempt)
			rc, _, err := nc.platform.Submit(ctx, s)
			cancel()
			if err == nil {
				ld.h.add(op{kind: opSubmit, rid: rid, index: rc.Entry.Index, node: nc.node.id, found: true,
					call: call, ret: ld.h.now(), rc: rc, entry: rc.Entry.Marshal(), signed: s})
				ld.h.head(rc.SignedHead, nc.node.id)
				break
			}
			if ld.hard.Err() != nil {
				return // stays pending: check.go looks for it in the logs
			}
			if status.Code(err) == codes.PermissionDenied && strings.Contains(err.Error(), "not registered") && ld.reregister != nil {
				ld.registerAgain()
				k++
				continue // the same submission: a refusal changed nothing
			}
			if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded && c != codes.ResourceExhausted &&
				c != codes.Aborted && c != codes.Canceled && c != codes.Internal && c != codes.Unknown && c != codes.FailedPrecondition {
				ld.h.refuse(rid, err)
				break
			}
			k++
			select {
			case <-ld.hard.Done():
				return
			case <-time.After(20*time.Millisecond + rand.N(30*time.Millisecond)):
			}
		}
	}
}

// titleOf is a submission's title: distinct from its request ID, so a
// fault can find the entry's bytes in a ledger file.
func titleOf(rid string) string { return "title of " + rid + "." }

func (h *history) badServed(node, rid string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.served = append(h.served, fmt.Sprintf("%s served %s with a receipt that does not verify: %v", node, rid, err))
}

func (ld *load) registerAgain() {
	ld.regMu.Lock()
	defer ld.regMu.Unlock()
	if time.Since(ld.regLast) < 2*time.Second {
		return
	}
	ld.regLast = time.Now()
	ld.reRegs++
	ctx, cancel := context.WithTimeout(ld.hard, 5*time.Second)
	defer cancel()
	ld.reregister(ctx)
}

func (h *history) refuse(rid string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// It stays pending: a refusal after a try whose answer was lost does
	// not mean nothing was recorded.
	h.nRefused++
	if len(h.refused) < 20 {
		h.refused = append(h.refused, fmt.Sprintf("%s: %v", rid, err))
	}
}

// reader looks up, at a random node, an acknowledged or pending request
// ID, or an entry by index up to a little past the highest acknowledged.
func (ld *load) reader(ctx context.Context) {
	for ctx.Err() == nil {
		nc := ld.clients[rand.IntN(len(ld.clients))]
		acked := ld.h.acked()
		var maxIndex uint64
		for _, a := range acked {
			maxIndex = max(maxIndex, a.index)
		}
		rctx, cancel := context.WithTimeout(ctx, ld.cfg.attempt)
		call := ld.h.now()
		if len(acked) > 0 && rand.IntN(2) == 0 {
			rid := acked[rand.IntN(len(acked))].rid
			if rand.IntN(4) == 0 {
				rid = ld.somePending(rid)
			}
			id := evidence.EvidenceID(ld.h.court.id, platformID, rid)
			resp, err := nc.judge.GetEvidence(rctx, &pb.GetEvidenceRequest{EvidenceId: id})
			switch {
			case err == nil && resp.Receipt.GetEntry() != nil:
				if _, verr := client.VerifyReceipt(resp.Receipt, ld.h.court.verifier); verr != nil {
					ld.h.badServed(nc.node.id, rid, verr)
				}
				ld.h.add(op{kind: opReadID, rid: rid, node: nc.node.id, found: true, index: resp.Receipt.Entry.Index, call: call, ret: ld.h.now()})
				ld.h.head([]byte(resp.Receipt.GetTreeHead().GetNote()), nc.node.id)
			case status.Code(err) == codes.NotFound:
				ld.h.add(op{kind: opReadID, rid: rid, node: nc.node.id, call: call, ret: ld.h.now()})
			}
		} else {
			i := uint64(rand.N(maxIndex + 8))
			e, err := nc.entryAt(rctx, ld.h, i)
			if err == nil {
				o := op{kind: opReadIndex, index: i, node: nc.node.id, call: call, ret: ld.h.now()}
				if e != nil {
					o.found, o.rid = true, e.Submission.RequestID
				}
				ld.h.add(o)
			}
		}
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (ld *load) somePending(otherwise string) string {
	ld.h.mu.Lock()
	defer ld.h.mu.Unlock()
	for rid := range ld.h.pending {
		return rid
	}
	return otherwise
}

// pollHeads asks every node for its latest head, a few times a second.
func (ld *load) pollHeads(ctx context.Context) {
	for ctx.Err() == nil {
		for _, nc := range ld.clients {
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			if resp, err := nc.judge.GetLatestTreeHead(rctx, &pb.GetLatestTreeHeadRequest{}); err == nil {
				ld.h.head([]byte(resp.TreeHead.GetNote()), nc.node.id)
			}
			cancel()
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}
