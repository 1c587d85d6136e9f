package court

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/court/access"
)

// Membership changes (AddNode, RemoveNode) are checked before they reach
// Raft: a malformed node ID or address, or a change that leaves the court
// without a quorum of voters that answer, would otherwise be committed
// and could cost the court its leader at the next failure.

// probeTimeout bounds the TCP dial that tells whether a voter answers.
const probeTimeout = time.Second

// checkNodeID refuses a node ID outside the rule of nodeIDRe.
func checkNodeID(field, id string) error {
	if !access.ValidNodeID(id) {
		return invalid(field, "INVALID_NODE_ID",
			"%s %q is not a node ID: 1 to 64 letters, digits, '.', '_' or '-', starting and ending with a letter or digit, no \"..\"", field, id)
	}
	return nil
}

// checkHostPort refuses an address that is not host:port with a port of
// 1 to 65535 and a host that is an IP address (not 0.0.0.0 or ::) or a
// DNS host name.
func checkHostPort(field, addr string) error {
	bad := func(format string, args ...any) error {
		return invalid(field, "INVALID_ADDRESS", "%s %q: %s", field, addr, fmt.Sprintf(format, args...))
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return bad("not host:port (%v)", err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || strings.TrimLeft(port, "0123456789") != "" {
		return bad("port must be a number from 1 to 65535")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.IsUnspecified() || ip.IsMulticast() || ip.Zone() != "" {
			return bad("%s is not an address another node can dial", host)
		}
		return nil
	}
	if !validHostname(host) {
		return bad("host must be an IP address or a DNS name")
	}
	return nil
}

// validHostname: RFC 1123 labels of letters, digits and hyphens.
func validHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// reachable probes each server's Raft address with a TCP dial of at most
// probeTimeout, in parallel; this node counts as reachable unprobed.
func (n *Node) reachable(ctx context.Context, servers []consensus.Server) map[string]bool {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
		up = map[string]bool{}
	)
	for _, s := range servers {
		if s.ID == n.cfg.NodeID {
			mu.Lock() // probes started before may be writing
			up[s.ID] = true
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", s.Address)
			if err != nil {
				return
			}
			c.Close()
			mu.Lock()
			up[s.ID] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	return up
}

// checkQuorum refuses a membership whose reachable voters are fewer than
// its quorum (a majority): Raft would commit it, and the court would
// have no leader as soon as it needed one.
func checkQuorum(change string, voters []consensus.Server, up map[string]bool) error {
	need := len(voters)/2 + 1
	var reach int
	var down []string
	for _, s := range voters {
		if up[s.ID] {
			reach++
		} else {
			down = append(down, s.ID+" ("+s.Address+")")
		}
	}
	if reach >= need {
		return nil
	}
	return &Problem{Code: codes.FailedPrecondition, Reason: "QUORUM_AT_RISK", Message: fmt.Sprintf(
		"%s would leave %d voters of which %d answer, fewer than the quorum of %d; not answering: %s. Bring those nodes back (or remove them) first",
		change, len(voters), reach, need, strings.Join(down, ", "))}
}

// checkAddNode runs on the leader before AddVoter: the new node's ID and
// address are not another member's, the new node answers on its Raft
// address (start it before adding it), and the court keeps a quorum of
// voters that answer.
func (n *Node) checkAddNode(ctx context.Context, s consensus.Server) error {
	servers, err := n.ledger.Servers()
	if err != nil {
		return fmt.Errorf("court: add node: %w", err)
	}
	after := []consensus.Server{s}
	for _, x := range servers {
		switch {
		case x.ID == s.ID:
			continue // AddVoter of a member changes its address
		case x.Address == s.Address:
			return &Problem{Code: codes.AlreadyExists, Reason: "ADDRESS_IN_USE", Field: "node.raft_address",
				Message: fmt.Sprintf("raft address %s is node %s's", s.Address, x.ID)}
		}
		after = append(after, x)
	}
	up := n.reachable(ctx, after)
	if !up[s.ID] {
		return &Problem{Code: codes.FailedPrecondition, Reason: "NODE_UNREACHABLE", Field: "node.raft_address",
			Message: fmt.Sprintf("node %s does not answer at %s within %v; start it before adding it as a voter", s.ID, s.Address, probeTimeout)}
	}
	return checkQuorum("adding node "+s.ID, after, up)
}

// checkRemoveNode runs on the leader before RemoveServer: the node is a
// member, and the voters left keep a quorum that answers.
func (n *Node) checkRemoveNode(ctx context.Context, id string) error {
	servers, err := n.ledger.Servers()
	if err != nil {
		return fmt.Errorf("court: remove node: %w", err)
	}
	var after []consensus.Server
	found := false
	for _, x := range servers {
		if x.ID == id {
			found = true
			continue
		}
		after = append(after, x)
	}
	if !found {
		return &Problem{Code: codes.NotFound, Reason: "NODE_NOT_FOUND", Field: "node_id",
			Message: fmt.Sprintf("node %q is not a member of this court", id)}
	}
	if len(after) == 0 {
		return &Problem{Code: codes.FailedPrecondition, Reason: "LAST_NODE", Field: "node_id",
			Message: fmt.Sprintf("node %q is the court's last voter", id)}
	}
	return checkQuorum("removing node "+id, after, n.reachable(ctx, after))
}
