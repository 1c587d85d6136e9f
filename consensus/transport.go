package consensus

import (
	"sync"

	"github.com/hashicorp/raft"
)

// guardTransport is the Raft transport as this node's Raft sees it. It
// wraps the configured one for three reasons:
//
//   - A node whose ledger is being rebuilt after its Raft log was removed
//     no longer holds what it once acknowledged, so its vote could elect a
//     candidate that lacks committed entries: it refuses RequestVote and
//     RequestPreVote while refuseVote says so. A node that must not lead
//     (refuseLead) also refuses TimeoutNow, the leadership transfer's order
//     to start an election at once.
//   - Healing restarts Raft in the process on the same transport (heal.go),
//     and Raft's Shutdown closes a transport that has Close: raft's Close
//     here is a no-op, and the Ledger closes the transport itself, once.
//   - Pipelined replication is off: a pipeline stuck in
//     netPipeline.AppendEntries stalled a follower for minutes
//     (hashicorp/raft#612, issue 11). Without it the leader sends one
//     AppendEntries at a time per follower and waits for each answer.
//
// wrapTransport keeps the optional interfaces of the wrapped transport
// (raft.WithPreVote, raft.WithPeers), so Raft behaves as it would on it.
type guardTransport struct {
	raft.Transport
	refuseVote func(candidateLast uint64) error // non-nil: refuse the vote, with this reason
	refuseLead func() error                     // non-nil: refuse TimeoutNow, with this reason
	// sawCommit is told the commit index each leader's AppendEntries
	// carries: a follower whose own log is stuck (its disk is full) knows
	// no more than its log holds, and would think itself current.
	sawCommit func(index uint64)

	out       chan raft.RPC
	stop      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// wrapTransport wraps inner; the returned transport is what Raft gets.
func wrapTransport(inner raft.Transport, refuseVote func(uint64) error, refuseLead func() error, sawCommit func(uint64)) (*guardTransport, raft.Transport) {
	g := &guardTransport{Transport: inner, refuseVote: refuseVote, refuseLead: refuseLead, sawCommit: sawCommit,
		out: make(chan raft.RPC), stop: make(chan struct{})}
	g.wg.Add(1)
	go g.filter(inner.Consumer())
	pv, hasPV := inner.(raft.WithPreVote)
	pe, hasPeers := inner.(raft.WithPeers)
	switch {
	case hasPV && hasPeers:
		return g, &struct {
			*guardTransport
			raft.WithPreVote
			raft.WithPeers
		}{g, pv, pe}
	case hasPV:
		return g, &struct {
			*guardTransport
			raft.WithPreVote
		}{g, pv}
	case hasPeers:
		return g, &struct {
			*guardTransport
			raft.WithPeers
		}{g, pe}
	}
	return g, g
}

// Consumer implements raft.Transport: the wrapped transport's requests,
// less the votes and election orders this node refuses.
func (g *guardTransport) Consumer() <-chan raft.RPC { return g.out }

func (g *guardTransport) filter(in <-chan raft.RPC) {
	defer g.wg.Done()
	for {
		select {
		case <-g.stop:
			return
		case rpc := <-in:
			if err := g.refusal(rpc.Command); err != nil {
				rpc.Respond(nil, err)
				continue
			}
			select {
			case g.out <- rpc:
			case <-g.stop:
				rpc.Respond(nil, raft.ErrTransportShutdown)
				return
			}
		}
	}
}

func (g *guardTransport) refusal(cmd any) error {
	switch c := cmd.(type) {
	case *raft.AppendEntriesRequest:
		g.sawCommit(c.LeaderCommitIndex)
	case *raft.RequestVoteRequest:
		return g.refuseVote(c.LastLogIndex)
	case *raft.RequestPreVoteRequest:
		return g.refuseVote(c.LastLogIndex)
	case *raft.TimeoutNowRequest:
		return g.refuseLead()
	}
	return nil
}

// AppendEntriesPipeline implements raft.Transport: pipelining is off (see
// guardTransport), so Raft replicates with plain AppendEntries calls.
func (g *guardTransport) AppendEntriesPipeline(raft.ServerID, raft.ServerAddress) (raft.AppendPipeline, error) {
	return nil, raft.ErrPipelineReplicationNotSupported
}

// Close implements raft.WithClose as a no-op: Raft closes its transport on
// Shutdown, and healing starts a new Raft on this one. closeInner closes it.
func (g *guardTransport) Close() error { return nil }

// closeInner stops the filter and closes the wrapped transport, for good.
func (g *guardTransport) closeInner() error {
	g.stopFilter()
	if c, ok := g.Transport.(raft.WithClose); ok {
		return c.Close()
	}
	return nil
}

// stopFilter stops passing requests on; the wrapped transport stays open.
func (g *guardTransport) stopFilter() {
	g.closeOnce.Do(func() {
		close(g.stop)
		g.wg.Wait()
	})
}
