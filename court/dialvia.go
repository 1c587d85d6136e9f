package court

import (
	"context"
	"errors"
	"fmt"
	"net"

	"google.golang.org/grpc"
)

// A dial_via entry sends this node's connections to another node's or
// court's address through a relay instead: the fault suite
// (cmd/courtfaults) puts a userspace proxy with delay, loss and partitions
// on each link this way. Raft addresses are shared through Raft's own
// configuration, so they cannot differ per node; dial_via changes only
// where this node's sockets go, never the address it dials by, so the
// identity checks (the Raft peer's node ID by address, TLS identities) are
// the same as without it. It applies to Raft (mutual TLS mode), to
// forwarding to the leader and to cross-court sync.

// via returns where to dial for addr: its dial_via relay, or addr itself.
func (c *Config) via(addr string) string {
	if v, ok := c.DialVia[addr]; ok {
		return v
	}
	return addr
}

// viaDialer dials through the dial_via relays; nil when there are none.
func (c *Config) viaDialer() func(ctx context.Context, addr string) (net.Conn, error) {
	if len(c.DialVia) == 0 {
		return nil
	}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", c.via(addr))
	}
}

// viaOptions are the gRPC dial options of a call to another node: through
// its relay, if it has one.
func (c *Config) viaOptions() []grpc.DialOption {
	if d := c.viaDialer(); d != nil {
		return []grpc.DialOption{grpc.WithContextDialer(d)}
	}
	return nil
}

// applyDialVia routes cross-court sync through the relays too, unless a
// test set its own dialer.
func (c *Config) applyDialVia() error {
	if len(c.DialVia) == 0 {
		return nil
	}
	if c.Security.Insecure {
		// consensus's plain TCP transport dials Raft itself.
		return errors.New("court: config: dial_via needs TLS")
	}
	for addr, v := range c.DialVia {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("court: config: dial_via %q: %w", addr, err)
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			return fmt.Errorf("court: config: dial_via %q via %q: %w", addr, v, err)
		}
	}
	if c.Sync.Dial == nil {
		c.Sync.Dial = c.viaDialer()
	}
	return nil
}
