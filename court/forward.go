package court

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
)

// Forwarding: writes sent to a follower go to the leader. A leader can
// stop answering without closing its connections (a paused process, a
// one-way partition), so an idempotent write is forwarded with a deadline
// per try shorter than an election (Config.ForwardTimeout) and, when the
// try times out, the leader changes or the leader says it cannot take it,
// sent again to whoever leads then, until the caller's deadline.

// forwardBudget bounds a forwarded write whose caller set no deadline
// (REST calls without Grpc-Timeout): a few elections.
const forwardBudget = 10 * time.Second

// leaderConn is a client connection to the leader's gRPC API.
type leaderConn struct {
	cc       *grpc.ClientConn
	evidence pb.EvidenceServiceClient
	admin    pb.AdminServiceClient
	sync     pb.SyncServiceClient
}

const forwardedKey = "x-courtledger-forwarded"

// leaderClient returns nil if this node leads and should handle a write
// itself; otherwise a client of the leader to forward it to, or an error
// if no leader is known or the call was already forwarded once (a second
// hop would mean the cluster's view is changing; the first hop retries).
func (n *Node) leaderClient(ctx context.Context) (*leaderConn, error) {
	if n.ledger.IsLeader() {
		return nil, nil
	}
	if isForwarded(ctx) {
		return nil, &consensus.NotLeaderError{}
	}
	id, raftAddr := n.ledger.Leader()
	addr := n.peerAPI(id)
	if id == "" || addr == "" || id == n.cfg.NodeID {
		return nil, &consensus.NotLeaderError{LeaderID: id, LeaderAddr: raftAddr}
	}
	return n.peerConn(id, addr)
}

// isForwarded reports whether a call came from another node of the court,
// forwarded to this one as the leader.
func isForwarded(ctx context.Context) bool {
	md, ok := metadata.FromIncomingContext(ctx)
	return ok && len(md.Get(forwardedKey)) > 0
}

// peerConn returns the (cached) connection to another node's gRPC API.
func (n *Node) peerConn(id, addr string) (*leaderConn, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c, ok := n.conns[addr]; ok {
		return c, nil
	}
	cc, err := grpc.NewClient(addr, append(n.cfg.viaOptions(), n.dialNode(id), // security hook: mutual TLS to the node
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(n.cfg.MaxRequestBytes), grpc.MaxCallSendMsgSize(n.cfg.MaxRequestBytes)))...)
	if err != nil {
		return nil, fmt.Errorf("court: connect to node %s at %s: %w", id, addr, err)
	}
	c := &leaderConn{cc: cc, evidence: pb.NewEvidenceServiceClient(cc), admin: pb.NewAdminServiceClient(cc), sync: pb.NewSyncServiceClient(cc)}
	n.conns[addr] = c
	return c, nil
}

// forwarder is what a server needs to run a write on the leader: the way
// to it, the caller's credentials to carry along, and when to give up on a
// try. *Node is one.
type forwarder interface {
	leaderClient(ctx context.Context) (*leaderConn, error)
	forwardContext(ctx context.Context) context.Context
	leaderChanged() <-chan struct{}
	forwardTimeout() time.Duration
	logger() *slog.Logger
}

func (n *Node) leaderChanged() <-chan struct{} { return n.leaders.changed() }
func (n *Node) forwardTimeout() time.Duration  { return n.cfg.ForwardTimeout }
func (n *Node) logger() *slog.Logger           { return n.log }

// onLeader runs a write here if this node leads, or forwards the request to
// the leader with remote, once: for writes that must not be sent twice
// (membership and platform changes), whose caller decides about a retry.
func onLeader[Resp any](ctx context.Context, n forwarder, remote func(*leaderConn, context.Context) (Resp, error), local func() (Resp, error)) (Resp, error) {
	c, err := n.leaderClient(ctx)
	if err != nil {
		var zero Resp
		return zero, toStatus(err)
	}
	if c != nil {
		return remote(c, n.forwardContext(ctx)) // security hook: the caller goes along
	}
	return local()
}

// onLeaderRetry is onLeader for idempotent writes: submissions, which
// carry the platform's request ID, so that a second copy returns the first
// one's receipt and never makes a second entry. Each forwarded try gets
// Config.ForwardTimeout and is abandoned early when the leader changes; a
// try that timed out, was abandoned or was refused as Unavailable (the
// leader lost leadership, could not be reached) is sent again to the
// leader of the moment, until ctx ends. While no leader is known it waits
// for one rather than failing at once.
func onLeaderRetry[Resp any](ctx context.Context, n forwarder, remote func(*leaderConn, context.Context) (Resp, error), local func() (Resp, error)) (Resp, error) {
	var zero Resp
	if isForwarded(ctx) {
		// Already the second hop: answer now; the first hop retries.
		return onLeader(ctx, n, remote, local)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, forwardBudget)
		defer cancel()
	}
	var last error
	for try := 1; ; try++ {
		changed := n.leaderChanged()
		c, err := n.leaderClient(ctx)
		var nl *consensus.NotLeaderError
		switch {
		case errors.As(err, &nl):
			// No leader, or this node won and is not ready yet: wait
			// for the next change of leader.
			last = err
			if werr := waitChange(ctx, changed, 100*time.Millisecond); werr != nil {
				return zero, toStatus(fmt.Errorf("%w (waiting for a leader: %v)", werr, last))
			}
			continue
		case err != nil:
			return zero, toStatus(err)
		case c == nil:
			return local()
		}
		resp, err := forwardOnce(ctx, n, c, changed, remote)
		if err == nil || !retryForward(ctx, err) {
			return resp, err
		}
		last = err
		n.logger().Debug("forwarded write not answered; trying the leader of the moment", "try", try, "err", err)
		if werr := waitChange(ctx, changed, 50*time.Millisecond); werr != nil {
			return zero, toStatus(fmt.Errorf("%w (last forwarded try: %v)", werr, last))
		}
	}
}

// forwardOnce sends one try to the leader, bounded by ForwardTimeout and
// abandoned if the leader changes meanwhile.
func forwardOnce[Resp any](ctx context.Context, n forwarder, c *leaderConn, changed <-chan struct{}, remote func(*leaderConn, context.Context) (Resp, error)) (Resp, error) {
	actx, cancel := context.WithTimeout(ctx, n.forwardTimeout())
	defer cancel()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-changed:
			cancel()
		case <-stop:
		}
	}()
	return remote(c, n.forwardContext(actx)) // security hook: the caller goes along
}

// retryForward reports whether a forwarded try may be sent again: the
// caller still waits, and the try ran out of its own time, was abandoned
// for a new leader, or the leader (or the way to it) was unavailable.
func retryForward(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}

// waitChange waits until the leader changes, at most max, or ctx ends.
func waitChange(ctx context.Context, changed <-chan struct{}, max time.Duration) error {
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-changed:
	case <-t.C:
	}
	return nil
}

// leaderWatch tells forwarded writes when the leader changes, so that a
// try sent to a leader that has since been replaced is abandoned at once.
type leaderWatch struct {
	mu     sync.Mutex
	id     string
	change chan struct{} // closed at the next change
}

// changed returns a channel closed at the next change of leader.
func (w *leaderWatch) changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.change == nil {
		w.change = make(chan struct{})
	}
	return w.change
}

func (w *leaderWatch) set(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if id == w.id {
		return
	}
	w.id = id
	if w.change != nil {
		close(w.change)
	}
	w.change = make(chan struct{})
}

// watchLeader follows Raft's view of the leader (and whether this node is
// ready to lead) for leaderWatch. The ledger signals each change; the
// slow tick only bounds what a missed signal could cost.
func (n *Node) watchLeader() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		changed := n.ledger.LeaderChanged() // before reading: no change is missed
		id, _ := n.ledger.Leader()
		if n.ledger.IsLeader() {
			id += " (ready)"
		}
		n.leaders.set(id)
		select {
		case <-n.done:
			return
		case <-changed:
		case <-t.C:
		}
	}
}
