package access

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
)

// Metadata keys the guard reads. Clients cannot set the gateway's and the
// node's own: they are honoured only on the gateway's in-memory connection
// and from an authenticated node of this court.
const (
	mdAuthorization = "authorization"
	// mdGatewayCert carries the REST caller's TLS client certificate chain
	// (base64 DER, comma-separated, leaf first) from the gateway.
	mdGatewayCert = "x-courtledger-gateway-cert"
	// MDOnBehalfOf names the caller a node forwards for: "<role> <id> <via>".
	MDOnBehalfOf = "x-courtledger-on-behalf-of"
	// mdOriginAddr is the remote address the forwarding node saw.
	mdOriginAddr = "x-courtledger-origin-addr"
	// MDForwardCert and MDForwardToken carry the proof of the caller a
	// node forwards for: the certificate chain the caller presented (as
	// mdGatewayCert) or its Authorization header. The leader
	// authenticates it again and acts only as the identity it proves.
	MDForwardCert  = "x-courtledger-forwarded-cert"
	MDForwardToken = "x-courtledger-forwarded-authorization"
)

// Limits bounds calls; zero values take the defaults.
type Limits struct {
	CallTimeout   time.Duration // deadline of a unary call without one (default 30 s)
	StreamTimeout time.Duration // of a stream without one (default 10 min)
}

// WithDefaults fills in the defaults.
func (l Limits) WithDefaults() Limits {
	if l.CallTimeout <= 0 {
		l.CallTimeout = 30 * time.Second
	}
	if l.StreamTimeout <= 0 {
		l.StreamTimeout = 10 * time.Minute
	}
	return l
}

// GuardConfig configures a Guard.
type GuardConfig struct {
	Node   string // this node's ID, in audit records
	Auth   *Authenticator
	Rate   RateConfig
	Limits Limits
	Clock  func() time.Time // default time.Now
	// HTTPGate, if set, may refuse a plain HTTP route's call once its
	// caller is admitted (the node's readiness); the gRPC services have
	// their own interceptor after the guard's for this.
	HTTPGate func(method string) error
	// WriteHTTPError writes a refused or failed plain HTTP call.
	WriteHTTPError func(w http.ResponseWriter, err error)
}

// Guard authenticates, authorizes, rate-limits and audits every call, on
// gRPC and, through the gateway's in-memory connection, on REST.
type Guard struct {
	cfg    GuardConfig
	node   string
	auth   *Authenticator
	rate   *rateLimiter
	audit  *Auditor // nil: no audit log (tests of the guard alone)
	limits Limits
	clock  func() time.Time
}

// NewGuard makes a guard without an audit log; SetAudit adds it.
func NewGuard(cfg GuardConfig) *Guard {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Guard{cfg: cfg, node: cfg.Node, auth: cfg.Auth, rate: newRateLimiter(cfg.Rate, cfg.Clock),
		limits: cfg.Limits.WithDefaults(), clock: cfg.Clock}
}

// SetAudit makes the guard record every call in a; the node opens its
// ledger, which the audit log is written to, after the guard exists.
// It is set before the node serves.
func (g *Guard) SetAudit(a *Auditor) { g.audit = a }

// UnaryInterceptor and StreamInterceptor put the guard in front of every
// gRPC method.
func (g *Guard) UnaryInterceptor() grpc.UnaryServerInterceptor   { return g.unary }
func (g *Guard) StreamInterceptor() grpc.StreamServerInterceptor { return g.stream }

type callerKey struct{}

// CallerOf returns the authenticated caller of a request, for servers that
// scope what they return (issue 6's certificates).
func CallerOf(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

func one(md metadata.MD, key string) (string, error) {
	v := md.Get(key)
	switch len(v) {
	case 0:
		return "", nil
	case 1:
		return v[0], nil
	}
	return "", &AuthError{"BAD_METADATA", fmt.Sprintf("%s given %d times", key, len(v))}
}

// authenticate finds the caller. forwarded is true for a call a node of
// this court forwarded on behalf of a caller whose credential it passed
// along and this node verified again (see forwardedCaller).
func (g *Guard) authenticate(ctx context.Context, method string) (c Caller, forwarded bool, err error) {
	md, _ := metadata.FromIncomingContext(ctx)
	p, _ := peer.FromContext(ctx)
	if p != nil && p.Addr != nil {
		c.Addr = p.Addr.String()
	}
	var (
		certID, tokenID *Identity
		chainEnc        string // the certificate chain as presented, for forwarding
	)
	token, err := one(md, mdAuthorization)
	if err != nil {
		return c, false, err
	}
	switch ai := authInfoOf(p).(type) {
	case credentials.TLSInfo:
		if chain := ai.State.PeerCertificates; len(chain) > 0 {
			id, err := g.auth.FromCertificates(chain)
			if err != nil {
				return c, false, err
			}
			certID, chainEnc = &id, encodeChain(chain)
		}
	case gatewayAuthInfo:
		if xff := md.Get("x-forwarded-for"); len(xff) > 0 {
			// The gateway appends the address it saw last; earlier ones are
			// the client's to claim.
			parts := strings.Split(xff[len(xff)-1], ",")
			c.Addr = strings.TrimSpace(parts[len(parts)-1])
		}
		enc, err := one(md, mdGatewayCert)
		if err != nil {
			return c, false, err
		}
		if enc != "" {
			chain, err := decodeChain(enc)
			if err != nil {
				return c, false, &AuthError{"BAD_CERTIFICATE", err.Error()}
			}
			id, err := g.auth.FromCertificates(chain)
			if err != nil {
				return c, false, err
			}
			certID, chainEnc = &id, enc
		}
	}
	if token != "" {
		id, err := g.auth.FromToken(token)
		if err != nil {
			return c, false, err
		}
		tokenID = &id
	}
	switch {
	case certID != nil && tokenID != nil && *certID != *tokenID:
		return c, false, &AuthError{"AMBIGUOUS_CREDENTIALS", fmt.Sprintf("certificate names %s, token names %s", certID, tokenID)}
	case certID != nil:
		c.Identity, c.Via, c.proof = *certID, "cert", &credential{chain: chainEnc}
	case tokenID != nil:
		c.Identity, c.Via, c.proof = *tokenID, "token", &credential{token: token}
	case Public(method):
		c.Identity, c.Via = Identity{Role: RoleAnyone}, "none"
		return c, false, nil
	default:
		return c, false, &AuthError{"NO_CREDENTIALS", "a client certificate or a bearer token is required"}
	}
	return g.forwardedCaller(md, method, c)
}

func authInfoOf(p *peer.Peer) credentials.AuthInfo {
	if p == nil {
		return nil
	}
	return p.AuthInfo
}

// check runs everything before the handler.
func (g *Guard) check(ctx context.Context, method string, req any) (Caller, bool, error) {
	c, fwd, err := g.authenticate(ctx, method)
	if err != nil {
		// Refused credentials count against the address, so guessing is
		// as slow as calling.
		if rerr := g.rate.allow("addr:" + hostOf(c.Addr)); rerr != nil {
			return c, false, rerr
		}
		return c, false, err
	}
	if !Allowed(method, c.Role) {
		if c.Role == RoleAnyone {
			return c, fwd, &AuthError{"NO_CREDENTIALS", "a client certificate or a bearer token is required"}
		}
		return c, fwd, &DeniedError{"ROLE_NOT_ALLOWED", fmt.Sprintf("%s may not call %s", c.Role, method)}
	}
	switch {
	case c.Role == RoleAnyone && !strings.HasPrefix(method, "/grpc.health."):
		// A call without credentials is limited by where it comes from,
		// in the same buckets as refused credentials.
		if err := g.rate.allow("addr:" + hostOf(c.Addr)); err != nil {
			return c, fwd, err
		}
	case !fwd && c.Role != RoleNode && c.Role != RoleAnyone:
		if err := g.rate.allow(c.Identity.String()); err != nil {
			return c, fwd, err
		}
	}
	if g.audited(c, fwd, method) {
		if err := g.audit.admit(); err != nil {
			return c, fwd, err
		}
	}
	if req != nil {
		if err := ScopeRequest(c, req); err != nil {
			return c, fwd, err
		}
	}
	return c, fwd, nil
}

func hostOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i > 0 {
		return addr[:i]
	}
	return addr
}

// audited: every call a client made is recorded by the node it reached,
// and a forwarded call once more by the leader that ran it, under the
// caller with the forwarding node in Via; not health checks, not the
// audit records' own transport.
func (g *Guard) audited(c Caller, fwd bool, method string) bool {
	return g.audit != nil && c.Role != RoleAnyone && !strings.HasPrefix(method, "/grpc.health.") &&
		method != "/courtledger.v1.AuditService/AppendAudit"
}

func (g *Guard) record(c Caller, fwd bool, method string, req any, err error) {
	if !g.audited(c, fwd, method) {
		return
	}
	g.audit.record(consensus.AuditRecord{
		Time: g.clock().UTC().Truncate(time.Millisecond), Node: g.node, Role: string(c.Role), Caller: clip(c.ID),
		Via: clip(c.Via), Addr: clip(c.Addr), Method: clip(method), Target: clip(auditTarget(req)),
		Code: status.Code(err).String(),
	})
}

func clip(s string) string {
	const max = 256
	if len(s) > max {
		return s[:max]
	}
	return s
}

func (g *Guard) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, cancel := withDefaultDeadline(ctx, g.limits.CallTimeout)
	defer cancel()
	c, fwd, err := g.check(ctx, info.FullMethod, req)
	if err != nil {
		if c.Role != "" {
			g.record(c, fwd, info.FullMethod, req, status.Convert(err).Err())
		}
		return nil, status.Convert(err).Err()
	}
	resp, err := handler(context.WithValue(ctx, callerKey{}, c), req)
	if err == nil {
		if resp, err = ScopeResponse(c, resp); err != nil {
			err = status.Convert(err).Err()
		}
	}
	g.record(c, fwd, info.FullMethod, req, err)
	return resp, err
}

func (g *Guard) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, cancel := withDefaultDeadline(ss.Context(), g.limits.StreamTimeout)
	defer cancel()
	c, fwd, err := g.check(ctx, info.FullMethod, nil)
	if err != nil {
		if c.Role != "" {
			g.record(c, fwd, info.FullMethod, nil, status.Convert(err).Err())
		}
		return status.Convert(err).Err()
	}
	err = handler(srv, &guardedStream{ServerStream: ss, ctx: context.WithValue(ctx, callerKey{}, c)})
	g.record(c, fwd, info.FullMethod, nil, err)
	return err
}

type guardedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *guardedStream) Context() context.Context { return s.ctx }

func withDefaultDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// auditTarget names what a request asks for, from its top-level scalar
// fields (evidence_id, fingerprint, index, platform_id...), without its
// bulk: a submission is named by platform, request ID and fingerprint.
func auditTarget(req any) string {
	switch r := req.(type) {
	case nil:
		return ""
	case *pb.SubmitRequest:
		s := r.GetSubmission().GetSubmission()
		return fmt.Sprintf("platform=%s request_id=%s fingerprint=%s", s.GetPlatform(), s.GetRequestId(), s.GetFingerprint())
	case *pb.SubmitBatchRequest:
		return fmt.Sprintf("submissions=%d", len(r.GetSubmissions()))
	case *pb.SubmitSignedBatchRequest:
		return fmt.Sprintf("platform=%s batch_id=%s submissions=%d", r.GetHeader().GetPlatform(), r.GetHeader().GetBatchId(), len(r.GetSubmissions()))
	case *pb.RegisterPlatformRequest:
		// The key itself is in the platform registry; its PEM would crowd
		// the platform ID out of the clipped target.
		return "platform_id=" + r.GetPlatformId()
	case *pb.AddNodeRequest:
		nd := r.GetNode()
		return fmt.Sprintf("node_id=%s raft_address=%s api_address=%s", nd.GetNodeId(), nd.GetRaftAddress(), nd.GetApiAddress())
	}
	m, ok := req.(proto.Message)
	if !ok {
		return ""
	}
	var parts []string
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.IsList() || fd.IsMap() || fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.BytesKind {
			return true
		}
		parts = append(parts, fmt.Sprintf("%s=%v", fd.Name(), v.Interface()))
		return true
	})
	return strings.Join(parts, " ")
}
