package court

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"

	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/court/access"
)

// Security is a node's transport security, callers and abuse bounds
// (issue 7). The zero value is refused: a node needs TLS, or Insecure set
// on purpose.
type Security struct {
	// TLS is the node's certificate and the CAs it trusts. Every listener
	// serves TLS; Raft and calls between nodes are mutual TLS, the peer's
	// certificate naming a node of this court that the configuration or
	// Raft membership knows.
	TLS *access.TLSConfig
	// Insecure serves plain text everywhere, for debugging on one machine
	// only; Start logs a warning. Callers still need tokens.
	Insecure bool
	// Tokens are the bearer tokens this court accepts, by SHA-256.
	Tokens []access.TokenRule
	// NodeToken is this node's own token, sent to its peers in plain-text
	// mode (its hash must be among every node's Tokens with role node).
	// Unused with TLS, where the node certificate speaks for it.
	NodeToken string
	// PeerCourts are the other courts whose nodes may call SyncService.
	PeerCourts []string
	// PeerTokens are, in plain-text mode, the bearer token this court
	// presents to each other court (by court ID) when it syncs with it;
	// that court holds its hash with the identity court:<this court>
	// (role "court"). A token per court, not the node token: a court must
	// not be able to act as this court's node. Unused with TLS, where the
	// node certificate speaks for the court.
	PeerTokens map[string]string

	Rate   access.RateConfig
	Limits access.Limits
	Audit  access.AuditConfig

	// MaxConcurrentStreams bounds the calls in flight on one connection
	// (default 128); MaxHeaderBytes bounds metadata and HTTP headers
	// (default 16 KiB).
	MaxConcurrentStreams uint32
	MaxHeaderBytes       int

	Clock func() time.Time // default time.Now; tests move it
}

func (s *Security) withDefaults() {
	if s.MaxConcurrentStreams == 0 {
		s.MaxConcurrentStreams = 128
	}
	if s.MaxHeaderBytes <= 0 {
		s.MaxHeaderBytes = 16 << 10
	}
	if s.Clock == nil {
		s.Clock = time.Now
	}
	s.Limits = s.Limits.WithDefaults()
}

// setupSecurity loads the TLS material and builds the guard's parts; it
// runs before any listener or the Raft transport exists.
func (n *Node) setupSecurity() error {
	sec := &n.cfg.Security
	sec.withDefaults()
	switch {
	case sec.TLS == nil && !sec.Insecure:
		return errors.New("court: config: TLS is required (set Security.Insecure, --insecure, for plain text)")
	case sec.TLS != nil && sec.Insecure:
		return errors.New("court: config: TLS and Insecure are exclusive")
	case sec.Insecure:
		n.log.Warn("INSECURE: serving plain text; credentials and evidence cross the network unprotected")
	}
	if sec.TLS != nil {
		m, err := access.LoadTLS(*sec.TLS)
		if err != nil {
			return err
		}
		if want := access.NodeIdentity(n.cfg.Court, n.cfg.NodeID); m.Self() != want {
			return fmt.Errorf("court: TLS certificate names %s, this node is %s", m.Self(), want)
		}
		n.tls = m
	}
	a := access.AuthenticatorConfig{Court: n.cfg.Court, PeerCourts: sec.PeerCourts, Tokens: sec.Tokens,
		Nodes: n.isMember, Clock: sec.Clock}
	if n.tls != nil {
		a.ClientCAs = n.tls.Pool()
	}
	auth, err := access.NewAuthenticator(a)
	if err != nil {
		return err
	}
	n.auth = auth
	n.guard = access.NewGuard(access.GuardConfig{Node: n.cfg.NodeID, Auth: auth, Rate: sec.Rate, Limits: sec.Limits,
		Clock: sec.Clock, HTTPGate: n.readGate, WriteHTTPError: writeError})
	return nil
}

// isMember: a node is admitted if the configuration names it, if Raft's
// membership has it (added later by AddNode), or while this node has no
// membership yet (a new node waiting to be added by the leader).
func (n *Node) isMember(id string) bool {
	if slices.ContainsFunc(n.cfg.Peers, func(p Peer) bool { return p.NodeID == id }) || n.peerAPI(id) != "" {
		return true
	}
	l := n.opened.Load()
	if l == nil {
		return false
	}
	servers, err := l.Servers()
	if err != nil {
		return false
	}
	return len(servers) == 0 || slices.ContainsFunc(servers, func(s consensus.Server) bool { return s.ID == id })
}

// raftTransport is Raft over mutual TLS, or nil for consensus's own TCP
// transport in plain-text mode.
func (n *Node) raftTransport() (raft.Transport, error) {
	if n.tls == nil {
		return nil, nil
	}
	byAddr := map[string]string{}
	for _, p := range n.cfg.Peers {
		byAddr[p.RaftAddr] = p.NodeID
	}
	return newRaftTLSTransport(n.cfg.RaftAddr, n.tls, n.cfg.Court, func(a string) string { return byAddr[a] }, n.isMember, n.cfg.via, n.log)
}

// serverOptions bound what one connection and one call may take, and put
// the guard in front of every service.
func (n *Node) serverOptions() []grpc.ServerOption {
	sec := n.cfg.Security
	var tc credentials.TransportCredentials
	if n.tls != nil {
		tc = credentials.NewTLS(n.tls.ServerTLS())
	}
	return []grpc.ServerOption{
		grpc.Creds(access.ServerCredentials(tc, gatewayNetwork)),
		grpc.MaxRecvMsgSize(n.cfg.MaxRequestBytes),
		grpc.MaxConcurrentStreams(sec.MaxConcurrentStreams),
		grpc.MaxHeaderListSize(uint32(sec.MaxHeaderBytes)),
		grpc.ConnectionTimeout(10 * time.Second),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: 5 * time.Minute, Time: time.Minute, Timeout: 20 * time.Second,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		// The guard first: who may ask comes before whether this node
		// can answer.
		grpc.ChainUnaryInterceptor(n.guard.UnaryInterceptor(), n.gateUnary),
		grpc.ChainStreamInterceptor(n.guard.StreamInterceptor(), n.gateStream),
	}
}

// httpListener serves TLS on the REST listener, asking for a client
// certificate that the guard verifies (tokens need none).
func (n *Node) httpListener(ln net.Listener) net.Listener {
	if n.tls == nil {
		return ln
	}
	return tls.NewListener(ln, n.tls.ServerTLS())
}

// dialNode is the transport of a call to another node of this court.
func (n *Node) dialNode(id string) grpc.DialOption {
	if n.tls == nil {
		return grpc.WithTransportCredentials(insecure.NewCredentials())
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(n.tls.ClientTLS(access.NodeOfCourt(n.cfg.Court, id))))
}

// DialCourt is the transport of a call to a node of another court (issue
// 5's sync clients): mutual TLS, the server's certificate naming a node of
// that court. Plain text in insecure mode.
func (n *Node) DialCourt(court string) grpc.DialOption {
	if n.tls == nil {
		return grpc.WithTransportCredentials(insecure.NewCredentials())
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(n.tls.ClientTLS(access.NodeOfCourt(court, ""))))
}

// nodeContext is the outgoing context of a node's own call to another
// node of the court; with TLS the node's certificate speaks for it, in
// plain text its node token does.
func (n *Node) nodeContext(ctx context.Context) context.Context {
	ctx = metadata.NewOutgoingContext(ctx, metadata.MD{})
	if n.tls == nil && n.cfg.Security.NodeToken != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, access.BearerMetadata(n.cfg.Security.NodeToken)...)
	}
	return ctx
}

// courtCallContext is the outgoing context of a sync call to another
// court (witness.Options.CallContext): with TLS nothing is added, the node
// certificate names this court; in plain text, the token configured for
// that court, without which it answers Unauthenticated.
func (n *Node) courtCallContext(ctx context.Context, court string) context.Context {
	if tok := n.cfg.Security.PeerTokens[court]; n.tls == nil && tok != "" {
		return metadata.AppendToOutgoingContext(ctx, access.BearerMetadata(tok)...)
	}
	return ctx
}

// forwardContext is the outgoing context of a call forwarded to the
// leader: the node authenticates as itself and passes on the caller it
// authenticated, with that caller's credential (access.ForwardMetadata).
func (n *Node) forwardContext(ctx context.Context) context.Context {
	out := metadata.AppendToOutgoingContext(n.nodeContext(ctx), forwardedKey, "1")
	if kv := access.ForwardMetadata(ctx); kv != nil {
		out = metadata.AppendToOutgoingContext(out, kv...)
	}
	return out
}
