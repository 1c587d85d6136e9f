package consensus

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// The wrapper keeps the wrapped transport's optional interfaces, turns
// pipelining off and refuses votes and election orders when told to.
func TestGuardTransport(t *testing.T) {
	var refuse atomic.Bool
	no := func() error {
		if refuse.Load() {
			return errors.New("rebuilding")
		}
		return nil
	}
	var candidateLast atomic.Uint64
	noVote := func(last uint64) error {
		candidateLast.Store(last)
		return no()
	}
	var seen atomic.Uint64
	addrA, innerA := raft.NewInmemTransport("")
	addrB, innerB := raft.NewInmemTransport("")
	innerA.Connect(addrB, innerB)
	innerB.Connect(addrA, innerA)
	guard, b := wrapTransport(innerB, noVote, no, func(i uint64) { seen.Store(i) })
	t.Cleanup(func() { guard.closeInner() })
	if _, ok := b.(raft.WithPreVote); !ok {
		t.Error("lost raft.WithPreVote")
	}
	if _, ok := b.(raft.WithPeers); !ok {
		t.Error("lost raft.WithPeers")
	}
	if _, ok := b.(raft.WithClose); !ok {
		t.Error("lost raft.WithClose")
	}
	if _, err := b.AppendEntriesPipeline("a", addrA); !errors.Is(err, raft.ErrPipelineReplicationNotSupported) {
		t.Errorf("pipeline: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: &tcpLayer{ln}, MaxPool: 1,
		Timeout: time.Second, Logger: hclog.New(&hclog.LoggerOptions{Output: io.Discard})})
	g2, wrapped := wrapTransport(tcp, noVote, no, func(uint64) {})
	if _, ok := wrapped.(raft.WithPreVote); !ok {
		t.Error("network transport: lost raft.WithPreVote")
	}
	if _, ok := wrapped.(raft.WithPeers); ok {
		t.Error("network transport: gained raft.WithPeers")
	}
	// Raft's Shutdown closes its transport; the Ledger closes it itself.
	wrapped.(raft.WithClose).Close()
	if _, err := net.Dial("tcp", ln.Addr().String()); err != nil {
		t.Errorf("Raft's Close closed the transport: %v", err)
	}
	g2.closeInner()

	// B's Raft side answers whatever reaches it.
	go func() {
		for rpc := range b.Consumer() {
			switch rpc.Command.(type) {
			case *raft.RequestVoteRequest:
				rpc.Respond(&raft.RequestVoteResponse{Granted: true}, nil)
			case *raft.AppendEntriesRequest:
				rpc.Respond(&raft.AppendEntriesResponse{Success: true}, nil)
			default:
				rpc.Respond(nil, errors.New("unexpected"))
			}
		}
	}()
	vote := func() error {
		var resp raft.RequestVoteResponse
		return innerA.RequestVote("b", addrB, &raft.RequestVoteRequest{Term: 2, LastLogIndex: 7}, &resp)
	}
	if err := vote(); err != nil {
		t.Fatalf("vote while ready: %v", err)
	}
	if got := candidateLast.Load(); got != 7 {
		t.Fatalf("the guard was told the candidate's last index %d, want 7", got)
	}
	refuse.Store(true)
	if err := vote(); err == nil {
		t.Fatal("vote granted while rebuilding")
	}
	var resp raft.TimeoutNowResponse
	if err := innerA.TimeoutNow("b", addrB, &raft.TimeoutNowRequest{}, &resp); err == nil {
		t.Fatal("election order accepted while not ready")
	}
	var ae raft.AppendEntriesResponse
	if err := innerA.AppendEntries("b", addrB, &raft.AppendEntriesRequest{LeaderCommitIndex: 42}, &ae); err != nil || !ae.Success {
		t.Fatalf("append entries while rebuilding: %v %+v", err, ae)
	}
	if seen.Load() != 42 {
		t.Fatalf("leader's commit index seen: %d, want 42", seen.Load())
	}
}

// tcpLayer is a raft.StreamLayer over a plain listener.
type tcpLayer struct{ net.Listener }

func (l *tcpLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(addr), timeout)
}
