package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// The lab's network: one userspace TCP proxy per directed link (node A's
// connections to node B, per kind: raft, grpc forwarding, cross-court
// sync). This machine's kernel has no netem, so the proxy makes the
// faults itself, per direction of the byte stream:
//
//   - delay and jitter: each chunk read is written after delay plus a
//     uniform jitter, never before the chunk ahead of it (TCP keeps order);
//   - loss: TCP cannot lose bytes, it retransmits; so a chunk is "lost"
//     with probability loss and then arrives one retransmission timeout
//     (lossRTO, Linux's minimum RTO) late, holding up what follows as a
//     real lost segment does; and with probability loss/50 a chunk resets
//     the connection, as a middlebox dropping a flow would;
//   - partition: bytes from a blocked source to a blocked destination are
//     read and discarded, so connections stall (no RST, as with a cable
//     pulled); a one-way partition blocks one direction only. When the
//     block is lifted, every connection that lost bytes is closed, since
//     its stream can never be whole again; the nodes reconnect.
//
// Clients (the submitters and readers) reach the nodes directly: a
// partitioned node can still be called, which is what tests that it
// acknowledges nothing it cannot commit.

// lossRTO is the extra delay of a "lost" chunk: Linux's minimum TCP
// retransmission timeout.
const lossRTO = 200 * time.Millisecond

// shape is a link's impairment in one direction.
type shape struct {
	delay, jitter time.Duration
	loss          float64 // 0..1, per chunk
}

func (s shape) add(o shape) shape {
	return shape{s.delay + o.delay, s.jitter + o.jitter, s.loss + o.loss}
}

type network struct {
	mu      sync.Mutex
	links   []*link
	blocked map[[2]string]bool // [src, dst] node IDs whose bytes are dropped
	impair  func(src, dst, kind string) shape
	conns   map[*proxyConn]struct{}
}

func newNetwork() *network {
	return &network{blocked: map[[2]string]bool{}, conns: map[*proxyConn]struct{}{}}
}

// link starts the proxy for from's connections of kind to target and
// returns its address. base is the link's own one-way delay (the WAN
// between courts), in both directions.
func (nw *network) link(from, to, kind, target string, base time.Duration) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("proxy listener: %v", err)) // loopback ports: nothing to recover
	}
	l := &link{nw: nw, from: from, to: to, kind: kind, target: target, ln: ln,
		base: shape{delay: base, jitter: base / 4}}
	nw.mu.Lock()
	nw.links = append(nw.links, l)
	nw.mu.Unlock()
	go l.serve()
	return ln.Addr().String()
}

// block drops bytes from src to dst (one way) until heal.
func (nw *network) block(src, dst string) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.blocked[[2]string{src, dst}] = true
}

// isolate partitions node from every other node, both ways.
func (nw *network) isolate(node string, others []string) {
	for _, o := range others {
		if o != node {
			nw.block(node, o)
			nw.block(o, node)
		}
	}
}

// setImpair adds f's shape to every link (nil: none).
func (nw *network) setImpair(f func(src, dst, kind string) shape) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.impair = f
}

// heal lifts every block and impairment and closes the connections that
// lost bytes.
func (nw *network) heal() {
	nw.mu.Lock()
	nw.blocked = map[[2]string]bool{}
	nw.impair = nil
	var damaged []*proxyConn
	for c := range nw.conns {
		if c.damaged() {
			damaged = append(damaged, c)
		}
	}
	nw.mu.Unlock()
	for _, c := range damaged {
		c.close()
	}
}

// rule returns what happens now to bytes from src to dst on a link.
func (nw *network) rule(l *link, src, dst string) (blocked bool, s shape) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	s = l.base
	if nw.impair != nil {
		s = s.add(nw.impair(src, dst, l.kind))
	}
	return nw.blocked[[2]string{src, dst}], s
}

func (nw *network) close() {
	nw.mu.Lock()
	links := nw.links
	var conns []*proxyConn
	for c := range nw.conns {
		conns = append(conns, c)
	}
	nw.mu.Unlock()
	for _, l := range links {
		l.ln.Close()
	}
	for _, c := range conns {
		c.close()
	}
}

// link is one proxy: from's connections of kind to target.
type link struct {
	nw             *network
	from, to, kind string
	target         string
	ln             net.Listener
	base           shape
}

func (l *link) serve() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.DialTimeout("tcp", l.target, 5*time.Second)
		if err != nil {
			c.Close() // the node is down: refuse, as its port would
			continue
		}
		pc := &proxyConn{a: c, b: up}
		l.nw.mu.Lock()
		l.nw.conns[pc] = struct{}{}
		l.nw.mu.Unlock()
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); pc.pump(l, l.from, l.to, c, up) }()
		go func() { defer wg.Done(); pc.pump(l, l.to, l.from, up, c) }()
		go func() {
			wg.Wait()
			l.nw.mu.Lock()
			delete(l.nw.conns, pc)
			l.nw.mu.Unlock()
		}()
	}
}

// proxyConn is one proxied connection: a (the dialer's side) to b.
type proxyConn struct {
	a, b net.Conn
	mu   sync.Mutex
	lost bool // some bytes were dropped: the stream is broken
	once sync.Once
}

func (pc *proxyConn) damaged() bool {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.lost
}

func (pc *proxyConn) close() {
	pc.once.Do(func() { pc.a.Close(); pc.b.Close() })
}

type chunk struct {
	b   []byte
	due time.Time
}

// pump copies in to out for bytes travelling from src to dst, applying
// the network's rule to each chunk.
func (pc *proxyConn) pump(l *link, src, dst string, in, out net.Conn) {
	defer pc.close()
	q := make(chan chunk, 256)
	done := make(chan struct{})
	go func() { // writer
		defer close(done)
		for c := range q {
			if d := time.Until(c.due); d > 0 {
				time.Sleep(d) // a network delay, not a wait for a condition
			}
			if _, err := out.Write(c.b); err != nil {
				pc.close()
				for range q {
				}
				return
			}
		}
	}()
	var last time.Time
	buf := make([]byte, 32<<10)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			blocked, s := l.nw.rule(l, src, dst)
			switch {
			case blocked:
				pc.mu.Lock()
				pc.lost = true
				pc.mu.Unlock()
			case s.loss > 0 && rand.Float64() < s.loss/50:
				pc.close()
			default:
				due := time.Now().Add(s.delay)
				if s.jitter > 0 {
					due = due.Add(rand.N(s.jitter))
				}
				if s.loss > 0 && rand.Float64() < s.loss {
					due = due.Add(lossRTO)
				}
				if due.Before(last) {
					due = last
				}
				last = due
				q <- chunk{append([]byte(nil), buf[:n]...), due}
			}
		}
		if err != nil {
			break
		}
	}
	close(q)
	<-done
	if err := closeWrite(out); err != nil {
		pc.close()
	}
}

func closeWrite(c net.Conn) error {
	if tc, ok := c.(*net.TCPConn); ok {
		return tc.CloseWrite()
	}
	return io.EOF
}
