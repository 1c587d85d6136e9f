package court

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/courtledger/courtledger/court/access"
)

// raftTLS is a raft.StreamLayer over mutual TLS: both ends present node
// certificates of this court, and a dialer checks that the node it reached
// is the one the address belongs to, when the configuration says.
type raftTLS struct {
	net.Listener
	m      *access.Material
	court  string
	nodeOf func(addr string) string // node ID at a Raft address, "" if unknown
	nodes  func(id string) bool     // node IDs admitted to the court
	via    func(addr string) string // where to dial for addr (dial_via); nil: addr
}

const raftHandshakeTimeout = 10 * time.Second

func (r *raftTLS) Accept() (net.Conn, error) {
	c, err := r.Listener.Accept()
	if err != nil {
		return nil, err
	}
	conf := r.m.MutualTLS(func(id access.Identity) error {
		if err := access.NodeOfCourt(r.court, "")(id); err != nil {
			return err
		}
		if _, n := id.CourtAndNode(); r.nodes != nil && !r.nodes(n) {
			return fmt.Errorf("node %q is not a member of this court", n)
		}
		return nil
	})
	// The handshake runs on first use, in the connection's own goroutine,
	// so a slow or silent client cannot stall Raft's accept loop.
	return &lazyHandshake{Conn: tls.Server(c, conf)}, nil
}

func (r *raftTLS) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	target := string(addr)
	if r.via != nil {
		target = r.via(target) // the identity check below still goes by addr
	}
	c, err := d.Dial("tcp", target)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(c, r.m.ClientTLS(access.NodeOfCourt(r.court, r.nodeOf(string(addr)))))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("raft TLS to %s: %w", addr, err)
	}
	return tc, nil
}

type lazyHandshake struct {
	*tls.Conn
	once sync.Once
	err  error
}

func (l *lazyHandshake) handshake() error {
	l.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), raftHandshakeTimeout)
		defer cancel()
		l.err = l.Conn.HandshakeContext(ctx)
	})
	return l.err
}

func (l *lazyHandshake) Read(p []byte) (int, error) {
	if err := l.handshake(); err != nil {
		return 0, err
	}
	return l.Conn.Read(p)
}

func (l *lazyHandshake) Write(p []byte) (int, error) {
	if err := l.handshake(); err != nil {
		return 0, err
	}
	return l.Conn.Write(p)
}

// newRaftTLSTransport listens on bind for Raft over mutual TLS.
func newRaftTLSTransport(bind string, m *access.Material, court string, nodeOf func(string) string, nodes func(string) bool, via func(string) string, log *slog.Logger) (raft.Transport, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("court: Raft listener: %w", err)
	}
	layer := &raftTLS{Listener: ln, m: m, court: court, nodeOf: nodeOf, nodes: nodes, via: via}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: layer, MaxPool: 3, Timeout: 10 * time.Second,
		Logger: hclog.New(&hclog.LoggerOptions{Name: "raft-tls", Level: hclog.Warn, Output: slogLines{log}}),
	}), nil
}

// slogLines passes hclog's lines to slog.
type slogLines struct{ log *slog.Logger }

func (s slogLines) Write(p []byte) (int, error) {
	s.log.Warn(string(trimNL(p)))
	return len(p), nil
}

func trimNL(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}

var _ io.Writer = slogLines{}
