package court

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
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
	// mdOnBehalfOf names the caller a node forwards for: "<role> <id> <via>".
	mdOnBehalfOf = "x-courtledger-on-behalf-of"
	// mdOriginAddr is the remote address the forwarding node saw.
	mdOriginAddr = "x-courtledger-origin-addr"
)

// SecurityLimits bounds calls; zero values take the defaults.
type SecurityLimits struct {
	CallTimeout   time.Duration // deadline of a unary call without one (default 30 s)
	StreamTimeout time.Duration // of a stream without one (default 10 min)
}

func (l SecurityLimits) withDefaults() SecurityLimits {
	if l.CallTimeout <= 0 {
		l.CallTimeout = 30 * time.Second
	}
	if l.StreamTimeout <= 0 {
		l.StreamTimeout = 10 * time.Minute
	}
	return l
}

// guard authenticates, authorizes, rate-limits and audits every call, on
// gRPC and, through the gateway's in-memory connection, on REST.
type guard struct {
	node   string // this node's ID, in audit records
	auth   *Authenticator
	rate   *rateLimiter
	audit  *auditor // nil: no audit log (tests of the guard alone)
	limits SecurityLimits
	clock  func() time.Time
}

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
// this court forwarded on behalf of the caller it authenticated.
func (g *guard) authenticate(ctx context.Context, method string) (c Caller, forwarded bool, err error) {
	md, _ := metadata.FromIncomingContext(ctx)
	p, _ := peer.FromContext(ctx)
	if p != nil && p.Addr != nil {
		c.Addr = p.Addr.String()
	}
	var (
		certID, tokenID *Identity
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
			certID = &id
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
			certID = &id
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
		c.Identity, c.Via = *certID, "cert"
	case tokenID != nil:
		c.Identity, c.Via = *tokenID, "token"
	case public(method):
		c.Identity, c.Via = Identity{Role: RoleAnyone}, "none"
		return c, false, nil
	default:
		return c, false, &AuthError{"NO_CREDENTIALS", "a client certificate or a bearer token is required"}
	}

	obo, err := one(md, mdOnBehalfOf)
	if err != nil || obo == "" {
		return c, false, err
	}
	if c.Role != RoleNode {
		return c, false, &DeniedError{"NOT_A_NODE", "only a node of this court may forward calls"}
	}
	parts := strings.SplitN(obo, " ", 3)
	if len(parts) != 3 {
		return c, false, &AuthError{"BAD_METADATA", mdOnBehalfOf + " must be \"<role> <id> <via>\""}
	}
	orig := Identity{Role: Role(parts[0]), ID: parts[1]}
	if err := orig.validate(); err != nil {
		return c, false, &AuthError{"BAD_METADATA", err.Error()}
	}
	addr, _ := one(md, mdOriginAddr)
	return Caller{Identity: orig, Via: "forwarded:" + c.ID + ":" + parts[2], Addr: addr}, true, nil
}

func authInfoOf(p *peer.Peer) credentials.AuthInfo {
	if p == nil {
		return nil
	}
	return p.AuthInfo
}

// check runs everything before the handler.
func (g *guard) check(ctx context.Context, method string, req any) (Caller, bool, error) {
	c, fwd, err := g.authenticate(ctx, method)
	if err != nil {
		// Refused credentials count against the address, so guessing is
		// as slow as calling.
		if rerr := g.rate.allow("addr:" + hostOf(c.Addr)); rerr != nil {
			return c, false, rerr
		}
		return c, false, err
	}
	if !allowed(method, c.Role) {
		if c.Role == RoleAnyone {
			return c, fwd, &AuthError{"NO_CREDENTIALS", "a client certificate or a bearer token is required"}
		}
		return c, fwd, &DeniedError{"ROLE_NOT_ALLOWED", fmt.Sprintf("%s may not call %s", c.Role, method)}
	}
	if !fwd && c.Role != RoleNode && c.Role != RoleAnyone {
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
		if err := scopeRequest(c, req); err != nil {
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

// audited: every call a client made is recorded once, by the node it
// reached; not the forwarded copy, not health checks, not the audit
// records' own transport.
func (g *guard) audited(c Caller, fwd bool, method string) bool {
	return g.audit != nil && !fwd && c.Role != RoleAnyone && !strings.HasPrefix(method, "/grpc.health.") &&
		method != "/courtledger.v1.AuditService/AppendAudit"
}

func (g *guard) record(c Caller, fwd bool, method string, req any, err error) {
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

func (g *guard) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, cancel := withDefaultDeadline(ctx, g.limits.CallTimeout)
	defer cancel()
	c, fwd, err := g.check(ctx, info.FullMethod, req)
	if err != nil {
		if c.Role != "" {
			g.record(c, fwd, info.FullMethod, req, toStatus(err))
		}
		return nil, toStatus(err)
	}
	resp, err := handler(context.WithValue(ctx, callerKey{}, c), req)
	if err == nil {
		if resp, err = scopeResponse(c, resp); err != nil {
			err = toStatus(err)
		}
	}
	g.record(c, fwd, info.FullMethod, req, err)
	return resp, err
}

func (g *guard) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, cancel := withDefaultDeadline(ss.Context(), g.limits.StreamTimeout)
	defer cancel()
	c, fwd, err := g.check(ctx, info.FullMethod, nil)
	if err != nil {
		if c.Role != "" {
			g.record(c, fwd, info.FullMethod, nil, toStatus(err))
		}
		return toStatus(err)
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

func decodeChain(enc string) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for i, p := range strings.Split(enc, ",") {
		if i >= 4 {
			return nil, errors.New("certificate chain longer than 4")
		}
		der, err := base64.StdEncoding.DecodeString(p)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", i, err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", i, err)
		}
		chain = append(chain, c)
	}
	return chain, nil
}

// nodeContext is the outgoing context of a node's own call to another
// node of the court; with TLS the node's certificate speaks for it, in
// plain text its node token does.
func (n *Node) nodeContext(ctx context.Context) context.Context {
	ctx = metadata.NewOutgoingContext(ctx, metadata.MD{})
	if n.tls == nil && n.cfg.Security.NodeToken != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, mdAuthorization, "Bearer "+n.cfg.Security.NodeToken)
	}
	return ctx
}

// forwardContext is the outgoing context of a call forwarded to the
// leader: the node authenticates as itself and names the caller it
// authenticated, which the leader authorizes again.
func (n *Node) forwardContext(ctx context.Context) context.Context {
	out := n.nodeContext(ctx)
	out = metadata.AppendToOutgoingContext(out, forwardedKey, "1")
	if c, ok := CallerOf(ctx); ok {
		out = metadata.AppendToOutgoingContext(out, mdOnBehalfOf, fmt.Sprintf("%s %s %s", c.Role, c.ID, c.Via), mdOriginAddr, c.Addr)
	}
	return out
}
