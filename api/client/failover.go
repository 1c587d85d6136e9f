package client

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// Failover: every call goes to a node that said, within HealthInterval,
// that it is ready (the court's gRPC health service: a leader is known and
// the node's ledger is current, writable and intact). Each try on a node is
// bounded by AttemptTimeout, so a paused node costs one short try, never
// the caller's whole deadline, and the next try goes to the next node.

// maxQuiet is the longest a node found not ready is left unasked while
// other nodes serve.
const maxQuiet = 30 * time.Second

// endpoint is one node and what the client last learned of it.
type endpoint struct {
	addr   string
	cc     *grpc.ClientConn
	health healthpb.HealthClient

	mu      sync.Mutex
	checked time.Time     // when it last answered ready
	badAt   time.Time     // when it was last found not ready; zero if ready
	quiet   time.Duration // how long to leave it alone after badAt
	why     string        // why it is not ready
}

// fresh reports whether the node answered ready within interval.
func (e *endpoint) fresh(now time.Time, interval time.Duration) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.badAt.IsZero() && now.Sub(e.checked) < interval
}

// resting reports whether the node was found not ready so recently that
// it is better left alone while another node may serve.
func (e *endpoint) resting(now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return !e.badAt.IsZero() && now.Sub(e.badAt) < e.quiet
}

func (e *endpoint) markReady(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.checked, e.badAt, e.quiet, e.why = now, time.Time{}, 0, ""
}

func (e *endpoint) markBad(now time.Time, why string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.badAt, e.why = now, why
	e.quiet = min(max(2*e.quiet, time.Second), maxQuiet)
}

func (e *endpoint) reason() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.why
}

// check asks the node's health service whether it serves. A server
// without a health service is taken as ready: it cannot say otherwise.
func (c *Client) check(ctx context.Context, e *endpoint) error {
	now := time.Now()
	if e.fresh(now, c.cfg.HealthInterval) {
		return nil
	}
	actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	resp, err := e.health.Check(actx, &healthpb.HealthCheckRequest{})
	switch {
	case status.Code(err) == codes.Unimplemented:
	case err != nil:
		if ctx.Err() != nil {
			return err
		}
		e.markBad(time.Now(), fmt.Sprintf("no answer in %v: %v", c.cfg.AttemptTimeout, status.Convert(err).Message()))
		return status.Errorf(codes.Unavailable, "client: node %s: %s", e.addr, e.reason())
	case resp.Status != healthpb.HealthCheckResponse_SERVING:
		e.markBad(time.Now(), "not ready ("+resp.Status.String()+")")
		return status.Errorf(codes.Unavailable, "client: node %s: %s", e.addr, e.reason())
	}
	e.markReady(time.Now())
	return nil
}

// pick returns a ready node. The node tried last is used while its
// health answer is fresh; otherwise every node not known to be unready is
// asked at once and the first to answer ready is used, so a paused node
// costs nothing while another answers. Nodes found not ready a moment ago
// are asked only when no other node is ready.
func (c *Client) pick(ctx context.Context) (*endpoint, error) {
	start := int(c.next.Load() % int64(len(c.eps)))
	now := time.Now()
	var ask, resting []int
	for k := range c.eps {
		i := (start + k) % len(c.eps)
		switch e := c.eps[i]; {
		case e.fresh(now, c.cfg.HealthInterval):
			if len(ask) == 0 { // nothing before it needs asking
				c.next.Store(int64(i))
				return e, nil
			}
			ask = append(ask, i)
		case e.resting(now):
			resting = append(resting, i)
		default:
			ask = append(ask, i)
		}
	}
	var whys []string
	for _, group := range [][]int{ask, resting} {
		if len(group) == 0 {
			continue
		}
		i, err := c.firstReady(ctx, group)
		if err == nil {
			c.next.Store(int64(i))
			return c.eps[i], nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		for _, i := range group {
			whys = append(whys, c.eps[i].addr+": "+c.eps[i].reason())
		}
	}
	return nil, status.Errorf(codes.Unavailable, "client: no node is ready: %s", strings.Join(whys, "; "))
}

// firstReady checks the nodes at once and returns the first that answers
// ready; the other checks finish on their own, within AttemptTimeout, and
// leave what they learned for the next call.
func (c *Client) firstReady(ctx context.Context, group []int) (int, error) {
	type result struct {
		i   int
		err error
	}
	results := make(chan result, len(group))
	for _, i := range group {
		go func() { results <- result{i, c.check(ctx, c.eps[i])} }()
	}
	var err error
	for range group {
		r := <-results
		if r.err == nil {
			return r.i, nil
		}
		err = r.err
	}
	return 0, err
}

// retryable reports whether a call may be sent again, to any node, without
// risk: the server did not answer, or said it could not take the call now.
// A retried submission carries the same request ID, so the court returns
// the original receipt if the first try was recorded after all.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		return true
	}
	return false
}

// retryAfter is the delay a ResourceExhausted answer asks for in its
// RetryInfo.
func retryAfter(err error) (time.Duration, bool) {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.ResourceExhausted {
		return 0, false
	}
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay().AsDuration() > 0 {
			return ri.GetRetryDelay().AsDuration(), true
		}
	}
	return 0, false
}

// misdialed reports that no node could be asked because the connection
// itself is wrong (a TLS handshake that fails: not a gRPC port, or TLS to
// a plain-text node): trying again cannot help, the caller must fix it.
func misdialed(err error) bool {
	msg, ok := strings.CutPrefix(status.Convert(err).Message(), "client: no node is ready: ")
	if !ok {
		return false
	}
	for _, why := range strings.Split(msg, "; ") { // every node's
		if !strings.Contains(why, "authentication handshake failed") {
			return false
		}
	}
	return true
}

// idempotent reports whether a method may be sent twice: reads, and
// submissions, which carry the platform's request ID (a second copy
// returns the first one's receipt). Changes of membership, platforms and
// alarms are sent once; a caller that does not know their outcome looks.
func idempotent(method string) bool {
	_, name, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	switch name {
	case "Submit", "SubmitBatch", "SubmitSignedBatch":
		return true
	}
	for _, read := range []string{"Get", "List", "Lookup", "Verify", "Query", "Stream"} {
		if strings.HasPrefix(name, read) {
			return true
		}
	}
	return false
}

// invoke sends one unary call to a ready node, and again to the next one
// while it fails in a way that is safe to retry.
func (c *Client) invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	once := !idempotent(method)
	wait := 50 * time.Millisecond
	var err error
	for attempt := 0; attempt < c.cfg.Attempts; attempt++ {
		var e *endpoint
		if e, err = c.pick(ctx); err == nil {
			if once {
				// Sent once, so bounded only by the caller: cut short, its
				// outcome would be unknown.
				return e.cc.Invoke(ctx, method, args, reply, opts...)
			}
			actx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
			err = e.cc.Invoke(actx, method, args, reply, opts...)
			cancel()
			if err == nil {
				return nil
			}
			if !retryable(err) || ctx.Err() != nil {
				return err
			}
			if status.Code(err) == codes.DeadlineExceeded || status.Code(err) == codes.Unavailable {
				e.markBad(time.Now(), status.Convert(err).Message())
			}
			c.next.Add(1) // the next try goes elsewhere
		} else if ctx.Err() != nil || misdialed(err) {
			return err
		}
		pause := wait/2 + rand.N(wait)
		if d, ok := retryAfter(err); ok {
			// The court said how long it needs (a busy leader, a rate
			// limit): asking sooner only adds to its load.
			pause = d + rand.N(d/4+1)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(pause):
		}
		wait = min(2*wait, 2*time.Second)
	}
	return fmt.Errorf("client: %d attempts failed: %w", c.cfg.Attempts, err)
}

// Conn is a connection to the court for any of its services: each unary
// call goes to a ready node and, if it is safe to send again (a read or a
// submission), is retried on the next node after a failure that says
// nothing about the call. A stream is opened on a ready node, once.
func (c *Client) Conn() grpc.ClientConnInterface { return router{c} }

type router struct{ c *Client }

func (r router) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	return r.c.invoke(ctx, method, args, reply, opts...)
}

func (r router) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	e, err := r.c.pick(ctx)
	if err != nil {
		return nil, err
	}
	return e.cc.NewStream(ctx, desc, method, opts...)
}
