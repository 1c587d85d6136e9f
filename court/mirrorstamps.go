package court

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/evidence/certificate"
)

// Trusted time in the mirrors (issue 16): the leader asks each other court
// for the TSA tokens of its heads (GetCheckpoint with_timestamps) and
// records those it can check, so that a certificate this court issues from
// its mirror carries the origin's trusted time. A token is recorded only if
// the head it stamps is signed by that court, agrees with the tree this
// court mirrors at that size, and the token verifies under this court's own
// TSA roots: a court cannot vouch for a TSA it does not trust, and a token
// that would fail its certificates' check is better left out.

// mirrorStampInterval is how often the leader looks for tokens to fetch.
// It asks a court only while this court mirrors entries of it that no
// recorded token covers yet, and backs off to mirrorStampMaxWait while the
// answers bring nothing new: each call is audited at the other court, so
// an idle pair of courts must not call every interval (an idle spell
// costs each court's Raft log a few audit records, TestDemoIdleSyncIsCheapButPrompt).
const (
	mirrorStampInterval = 2 * time.Second
	mirrorStampMaxWait  = 30 * time.Second
)

// courtConn is the connection to one node of another court; a failed call
// moves on to the next of the court's endpoints.
type courtConn struct {
	cc   *grpc.ClientConn
	next int

	// due and wait pace the calls; seen is the mirror's size when wait
	// was last reset (a grown mirror is worth asking about at once).
	due  time.Time
	wait time.Duration
	seen uint64
}

func (n *Node) runMirrorStamps(ctx context.Context, check certificate.TimestampChecker) {
	conns := map[string]*courtConn{}
	defer func() {
		for _, c := range conns {
			if c.cc != nil {
				c.cc.Close()
			}
		}
	}()
	t := time.NewTicker(mirrorStampInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !n.ledger.IsLeader() {
			continue
		}
		for _, oc := range n.cfg.Courts {
			if err := n.mirrorStamps(ctx, oc.Court, oc.Endpoints, conns, check); err != nil && ctx.Err() == nil {
				n.log.Debug("mirror timestamps", "court", oc.Court, "err", err)
			}
		}
	}
}

func (n *Node) mirrorStamps(ctx context.Context, court string, endpoints []string, conns map[string]*courtConn, check certificate.TimestampChecker) error {
	verifiers, ok := n.courts.HeadVerifiers(court)
	if !ok || len(endpoints) == 0 {
		return nil
	}
	after, err := n.ledger.LastMirrorStamped(court)
	if err != nil {
		return err
	}
	log := n.ledger.Log(court)
	size := log.Size()
	if size <= after {
		return nil // every mirrored entry is covered by a recorded token
	}
	c := conns[court]
	if c == nil {
		c = &courtConn{}
		conns[court] = c
	}
	now := time.Now()
	if size != c.seen {
		c.seen, c.wait, c.due = size, 0, now
	}
	if now.Before(c.due) {
		return nil
	}
	// Until a call records a token, each next call waits twice as long.
	c.wait = min(max(2*c.wait, mirrorStampInterval), mirrorStampMaxWait)
	c.due = now.Add(c.wait)
	if c.cc == nil {
		if c.cc, err = grpc.NewClient(endpoints[c.next%len(endpoints)], n.DialCourt(court)); err != nil {
			return err
		}
	}
	cctx, cancel := context.WithTimeout(n.courtCallContext(ctx, court), 10*time.Second)
	defer cancel()
	resp, err := pb.NewSyncServiceClient(c.cc).GetCheckpoint(cctx, &pb.GetCheckpointRequest{FromCourt: n.cfg.Court, WithTimestamps: true, TimestampsAfter: after})
	if err != nil {
		// That node is down or lags: the next of the court's nodes, next time.
		c.cc.Close()
		c.cc, c.next = nil, c.next+1
		return err
	}
	recorded := false
	defer func() {
		if recorded {
			c.wait, c.due = 0, time.Now()
		}
	}()
	for _, st := range resp.Timestamps {
		if st.Size <= after || st.Size > size {
			continue // not beyond what is held yet, or not mirrored yet
		}
		h, _, err := checkpoint.OpenAny([]byte(st.Note), verifiers)
		if err != nil || h.Origin != court || h.Size != st.Size {
			return fmt.Errorf("the head stamped at size %d is not %s's: %v", st.Size, court, err)
		}
		root, err := log.RootAt(st.Size)
		if err != nil {
			return err
		}
		if !bytes.Equal(root, h.Root) {
			return fmt.Errorf("the head stamped at size %d disagrees with the mirror's tree", st.Size)
		}
		text, err := certificate.StampedText([]byte(st.Note))
		if err != nil {
			return err
		}
		if _, err := check(st.Token, text, h.Time); err != nil {
			return fmt.Errorf("the token of %s's head at size %d does not verify under this court's TSA roots: %w", court, st.Size, err)
		}
		if err := n.ledger.AddMirrorTimestamp(ctx, court, st.Size, st.Tsa, st.Token, []byte(st.Note)); err != nil {
			return err
		}
		after, recorded = st.Size, true
	}
	return nil
}

// startMirrorStamps runs the loop while the node runs, if the court checks
// tokens (it has TSAs configured); stop ends it and waits.
func (n *Node) startMirrorStamps() (stop func()) {
	check := tsaChecker(n.cfg.TSA)
	if check == nil || len(n.cfg.Courts) == 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); n.runMirrorStamps(ctx, check) }()
	return func() { cancel(); wg.Wait() }
}
