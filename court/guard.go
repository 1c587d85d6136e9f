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
	// mdForwardCert and mdForwardToken carry the proof of the caller a
	// node forwards for: the certificate chain the caller presented (as
	// mdGatewayCert) or its Authorization header. The leader
	// authenticates it again and acts only as the identity it proves.
	mdForwardCert  = "x-courtledger-forwarded-cert"
	mdForwardToken = "x-courtledger-forwarded-authorization"
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
// this court forwarded on behalf of a caller whose credential it passed
// along and this node verified again (see forwardedCaller).
func (g *guard) authenticate(ctx context.Context, method string) (c Caller, forwarded bool, err error) {
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
	case public(method):
		c.Identity, c.Via = Identity{Role: RoleAnyone}, "none"
		return c, false, nil
	default:
		return c, false, &AuthError{"NO_CREDENTIALS", "a client certificate or a bearer token is required"}
	}
	return g.forwardedCaller(md, method, c)
}

// credential is what a caller proved itself with, as this node verified
// it, kept so that a forwarded call can carry it to the leader.
type credential struct {
	chain string // base64 DER certificates, comma-separated, leaf first
	token string // the Authorization header value
}

// forwardedCaller returns the caller a node forwards for, or node itself
// when it forwards nothing. A node may forward only the writes it cannot
// serve itself (Access.Forwarded), and only with the caller's own
// credential, which is authenticated here again exactly as if the caller
// had called this node: a certificate chain against the CA for client
// authentication, a token against the configured hashes, the node and
// court rules of admit. The named caller must be the one that credential
// proves. A refused forward returns node, whose Via names the identity it
// claimed, so that the refusal is audited against the node.
func (g *guard) forwardedCaller(md metadata.MD, method string, node Caller) (Caller, bool, error) {
	obo, err := one(md, mdOnBehalfOf)
	if err != nil {
		return node, false, err
	}
	fwdCert, err := one(md, mdForwardCert)
	if err != nil {
		return node, false, err
	}
	fwdToken, err := one(md, mdForwardToken)
	if err != nil {
		return node, false, err
	}
	if obo == "" && fwdCert == "" && fwdToken == "" {
		return node, false, nil
	}
	if node.Role != RoleNode {
		return node, false, &DeniedError{"NOT_A_NODE", "only a node of this court may forward calls"}
	}
	parts := strings.Fields(obo)
	refused := node
	if len(parts) < 2 || len(parts) > 3 {
		refused.Via = fmt.Sprintf("%s claims %q", node.Via, obo)
		return refused, false, &AuthError{"BAD_METADATA", mdOnBehalfOf + " must be \"<role> <id> <via>\""}
	}
	claimed := Identity{Role: Role(parts[0]), ID: parts[1]}
	refused.Via = node.Via + " claims " + claimed.String()
	if !forwarded(method) {
		return refused, false, &DeniedError{"NOT_FORWARDED", fmt.Sprintf("nodes do not forward %s; the caller must call it itself", method)}
	}
	if err := claimed.validate(); err != nil {
		return refused, false, &AuthError{"BAD_METADATA", err.Error()}
	}
	var (
		id   Identity
		kind string
		cred *credential
	)
	switch {
	case fwdCert != "" && fwdToken != "":
		return refused, false, &AuthError{"BAD_METADATA", "a forwarded call carries one credential of its caller, not two"}
	case fwdCert != "":
		chain, err := decodeChain(fwdCert)
		if err != nil {
			return refused, false, &AuthError{"BAD_CERTIFICATE", "forwarded certificate: " + err.Error()}
		}
		id, err = g.auth.FromCertificates(chain)
		if err != nil {
			return refused, false, forwardedCredentialError(node, err)
		}
		kind, cred = "cert", &credential{chain: fwdCert}
	case fwdToken != "":
		id, err = g.auth.FromToken(fwdToken)
		if err != nil {
			return refused, false, forwardedCredentialError(node, err)
		}
		kind, cred = "token", &credential{token: fwdToken}
	default:
		return refused, false, &AuthError{"FORWARD_UNPROVEN", fmt.Sprintf(
			"node %s names %s as its caller without the caller's certificate or token", node.ID, claimed)}
	}
	if id != claimed {
		return refused, false, &DeniedError{"FORWARD_IDENTITY_MISMATCH", fmt.Sprintf(
			"node %s names %s as its caller, but the credential it passed is %s's", node.ID, claimed, id)}
	}
	addr, _ := one(md, mdOriginAddr)
	return Caller{Identity: id, Via: "forwarded:" + node.ID + ":" + kind, Addr: addr, proof: cred}, true, nil
}

// forwardedCredentialError keeps the reason of a refused forwarded
// credential and says whose credential it was.
func forwardedCredentialError(node Caller, err error) error {
	var ae *AuthError
	if errors.As(err, &ae) {
		return &AuthError{ae.Reason, "credential forwarded by node " + node.ID + ": " + ae.Detail}
	}
	return err
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

// audited: every call a client made is recorded by the node it reached,
// and a forwarded call once more by the leader that ran it, under the
// caller with the forwarding node in Via; not health checks, not the
// audit records' own transport.
func (g *guard) audited(c Caller, fwd bool, method string) bool {
	return g.audit != nil && c.Role != RoleAnyone && !strings.HasPrefix(method, "/grpc.health.") &&
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

// encodeChain is the metadata form of a certificate chain (decodeChain's).
func encodeChain(chain []*x509.Certificate) string {
	parts := make([]string, len(chain))
	for i, c := range chain {
		parts[i] = base64.StdEncoding.EncodeToString(c.Raw)
	}
	return strings.Join(parts, ",")
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
// leader: the node authenticates as itself, names the caller it
// authenticated and passes that caller's credential as it verified it
// (certificate chain or token), which the leader authenticates and
// authorizes again (guard.forwardedCaller).
func (n *Node) forwardContext(ctx context.Context) context.Context {
	out := n.nodeContext(ctx)
	out = metadata.AppendToOutgoingContext(out, forwardedKey, "1")
	c, ok := CallerOf(ctx)
	if !ok || c.proof == nil {
		// No caller to speak for: the leader sees the node alone.
		return out
	}
	kv := []string{mdOnBehalfOf, fmt.Sprintf("%s %s %s", c.Role, c.ID, c.Via), mdOriginAddr, c.Addr}
	if c.proof.chain != "" {
		kv = append(kv, mdForwardCert, c.proof.chain)
	} else {
		kv = append(kv, mdForwardToken, c.proof.token)
	}
	return metadata.AppendToOutgoingContext(out, kv...)
}
