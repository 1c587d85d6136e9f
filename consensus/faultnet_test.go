package consensus

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// faultNet is a real TCP network on 127.0.0.1 whose links the test can cut:
// an isolated node can neither dial nor be dialed, and its open connections
// are closed at once, as when its cable is pulled.
type faultNet struct {
	mu       sync.Mutex
	isolated map[string]bool // by Raft address
	layers   map[string]*faultLayer
}

func newFaultNet() *faultNet {
	return &faultNet{isolated: map[string]bool{}, layers: map[string]*faultLayer{}}
}

var errPartitioned = errors.New("faultnet: partitioned")

// transport listens on a fresh loopback port and returns a Raft transport
// over it.
func (n *faultNet) transport() (raft.Transport, string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	return n.transportOn(ln)
}

func (n *faultNet) transportOn(ln net.Listener) (raft.Transport, string) {
	l := &faultLayer{net: n, ln: ln, addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	n.mu.Lock()
	n.layers[l.addr] = l
	n.mu.Unlock()
	t := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  l,
		MaxPool: 3,
		Timeout: 2 * time.Second,
		Logger:  hclog.New(&hclog.LoggerOptions{Output: io.Discard}),
	})
	return t, l.addr
}

// isolate cuts addr off from everyone until heal.
func (n *faultNet) isolate(addr string) {
	n.mu.Lock()
	n.isolated[addr] = true
	l := n.layers[addr]
	n.mu.Unlock()
	if l != nil {
		l.closeConns()
	}
}

func (n *faultNet) heal(addr string) {
	n.mu.Lock()
	delete(n.isolated, addr)
	n.mu.Unlock()
}

func (n *faultNet) cut(a, b string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.isolated[a] || n.isolated[b]
}

type faultLayer struct {
	net  *faultNet
	ln   net.Listener
	addr string

	mu    sync.Mutex
	conns map[net.Conn]bool
}

func (l *faultLayer) track(c net.Conn) net.Conn {
	l.mu.Lock()
	l.conns[c] = true
	l.mu.Unlock()
	return &faultConn{Conn: c, layer: l}
}

func (l *faultLayer) closeConns() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		c.Close()
	}
	l.conns = map[net.Conn]bool{}
}

func (l *faultLayer) Accept() (net.Conn, error) {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return nil, err
		}
		if l.net.cut(l.addr, "") {
			c.Close()
			continue
		}
		return l.track(c), nil
	}
}

func (l *faultLayer) Close() error   { l.closeConns(); return l.ln.Close() }
func (l *faultLayer) Addr() net.Addr { return l.ln.Addr() }

func (l *faultLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if l.net.cut(l.addr, string(addr)) {
		return nil, fmt.Errorf("%w: %s -> %s", errPartitioned, l.addr, addr)
	}
	c, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil {
		return nil, err
	}
	return l.track(c), nil
}

// faultConn fails reads and writes once its node is cut off, even on a
// connection the peer has not noticed closing yet.
type faultConn struct {
	net.Conn
	layer *faultLayer
}

func (c *faultConn) Read(p []byte) (int, error) {
	if c.layer.net.cut(c.layer.addr, "") {
		return 0, errPartitioned
	}
	return c.Conn.Read(p)
}

func (c *faultConn) Write(p []byte) (int, error) {
	if c.layer.net.cut(c.layer.addr, "") {
		return 0, errPartitioned
	}
	return c.Conn.Write(p)
}

func (c *faultConn) Close() error {
	c.layer.mu.Lock()
	delete(c.layer.conns, c.Conn)
	c.layer.mu.Unlock()
	return c.Conn.Close()
}
