package court

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/courtledger/courtledger/evidence"
)

// Role is what a caller may do; see the table in roles.go.
type Role string

// The roles. A node is one of this court's own Raft members; a peer is
// another court (any of its nodes), which may only sync.
const (
	RolePlatform Role = "platform"
	RoleJudge    Role = "judge"
	RoleLawyer   Role = "lawyer"
	RoleAdmin    Role = "admin"
	RolePeer     Role = "court"
	RoleNode     Role = "node"
	// RoleAnyone marks a method open to unauthenticated callers (health).
	RoleAnyone Role = "anyone"
)

// Roles lists every role a credential can carry, in the order of the
// documentation's table.
var Roles = []Role{RolePlatform, RoleJudge, RoleLawyer, RoleAdmin, RolePeer, RoleNode}

func validRole(r Role) bool {
	for _, x := range Roles {
		if x == r {
			return true
		}
	}
	return false
}

// Identity is who a credential names. ID is the platform ID for a
// platform, a person's ID for judges, lawyers and admins, the court ID for
// a peer court, and "<court ID>/<node ID>" for a node.
//
// In a certificate it is a URI SAN courtledger://<role>/<id>, for example
// courtledger://platform/esign.example or
// courtledger://node/hangzhou.court.example/evidence/hz-1.
type Identity struct {
	Role Role
	ID   string
}

func (id Identity) String() string { return string(id.Role) + ":" + id.ID }

// URI is the identity as a certificate's URI SAN.
func (id Identity) URI() *url.URL {
	return &url.URL{Scheme: identityScheme, Host: string(id.Role), Path: "/" + id.ID}
}

const identityScheme = "courtledger"

// NodeIdentity names a node of a court.
func NodeIdentity(court, node string) Identity {
	return Identity{Role: RoleNode, ID: court + "/" + node}
}

// nodeIDRe is the rule for a node ID (config node_id and peers, AddNode,
// node certificates): 1 to 64 letters, digits, '.', '_' or '-', starting
// and ending with a letter or digit. A node ID names the node in its
// certificate's identity, the Raft configuration and paths an operator
// builds from it, so it holds no '/' and (see validNodeID) no "..".
var nodeIDRe = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$`)

func validNodeID(id string) bool { return nodeIDRe.MatchString(id) && !strings.Contains(id, "..") }

// courtAndNode splits a node identity's ID.
func (id Identity) courtAndNode() (court, node string) {
	i := strings.LastIndexByte(id.ID, '/')
	if id.Role != RoleNode || i < 0 {
		return "", ""
	}
	return id.ID[:i], id.ID[i+1:]
}

// parseIdentityURI reads a courtledger:// URI SAN.
func parseIdentityURI(u *url.URL) (Identity, error) {
	if u.Scheme != identityScheme {
		return Identity{}, fmt.Errorf("URI %q is not a %s identity", u, identityScheme)
	}
	id := Identity{Role: Role(u.Host), ID: strings.TrimPrefix(u.Path, "/")}
	if err := id.validate(); err != nil {
		return Identity{}, err
	}
	return id, nil
}

func (id Identity) validate() error {
	if !validRole(id.Role) {
		return fmt.Errorf("unknown role %q", id.Role)
	}
	switch id.Role {
	case RolePlatform:
		if !evidence.ValidPlatformID(id.ID) {
			return fmt.Errorf("platform ID %q is not valid", id.ID)
		}
	case RolePeer:
		if !evidence.ValidCourtID(id.ID) {
			return fmt.Errorf("court ID %q is not valid", id.ID)
		}
	case RoleNode:
		c, n := id.courtAndNode()
		if !evidence.ValidCourtID(c) || !validNodeID(n) {
			return fmt.Errorf("node identity %q is not <court ID>/<node ID>", id.ID)
		}
	default:
		if id.ID == "" || len(id.ID) > 128 || strings.ContainsAny(id.ID, "\x00\n\r ") {
			return fmt.Errorf("%s ID %q is not valid", id.Role, id.ID)
		}
	}
	return nil
}

// identityOfCert returns the one courtledger identity a certificate names.
func identityOfCert(c *x509.Certificate) (Identity, error) {
	var found []Identity
	for _, u := range c.URIs {
		if u.Scheme != identityScheme {
			continue
		}
		id, err := parseIdentityURI(u)
		if err != nil {
			return Identity{}, err
		}
		found = append(found, id)
	}
	if len(found) != 1 {
		return Identity{}, fmt.Errorf("certificate %q names %d courtledger identities, want 1", c.Subject, len(found))
	}
	return found[0], nil
}

// Caller is an authenticated caller of one request.
type Caller struct {
	Identity
	// Via is how the caller proved it: "cert", "token" or, on a call a
	// node forwarded to the leader, "forwarded:<node's identity>:cert" or
	// ":token", the credential the node passed along and the leader
	// verified.
	Via  string
	Addr string // the remote address the request came from
	// proof is the credential as this node verified it, which a forwarded
	// call carries to the leader; nil for a caller without credentials.
	proof *credential
}

// AuthError is a refused credential: the call is Unauthenticated.
type AuthError struct {
	Reason string // machine-readable: NO_CREDENTIALS, CERT_EXPIRED, ...
	Detail string
}

func (e *AuthError) Error() string { return "unauthenticated: " + e.Detail }

// DeniedError is an authenticated caller asking for what its role may not.
type DeniedError struct {
	Reason string // ROLE_NOT_ALLOWED, NOT_OWN_PLATFORM, ...
	Detail string
}

func (e *DeniedError) Error() string { return "permission denied: " + e.Detail }

func (e *AuthError) problem() Problem {
	return Problem{Code: codes.Unauthenticated, Reason: e.Reason, Message: e.Error()}
}

func (e *DeniedError) problem() Problem {
	return Problem{Code: codes.PermissionDenied, Reason: e.Reason, Message: e.Error()}
}

// TokenRule grants a role to whoever presents a bearer token whose SHA-256
// is Hash. Only hashes are configured, so a leaked config file leaks no
// usable token.
type TokenRule struct {
	Hash     string // 64 hexadecimal digits, SHA-256 of the token's bytes
	Identity Identity
}

// TokenHash is the hex SHA-256 of a token, the form configured in TokenRule.
func TokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// maxTokenLen bounds a bearer token; real ones are 32-64 characters.
const maxTokenLen = 512

// AuthenticatorConfig configures an Authenticator.
type AuthenticatorConfig struct {
	// Court is this court's ID: node certificates of this court are nodes,
	// those of a court in PeerCourts are peers; any other court is refused.
	Court      string
	PeerCourts []string
	// ClientCAs verify client certificates; nil accepts tokens only.
	ClientCAs *x509.CertPool
	Tokens    []TokenRule
	// Nodes reports whether a node ID is a member of this court; a node
	// certificate of another ID is refused. Nil accepts any node ID.
	Nodes func(nodeID string) bool
	Clock func() time.Time // default time.Now
}

// Authenticator turns credentials into identities.
type Authenticator struct {
	cfg    AuthenticatorConfig
	peers  map[string]bool
	tokens map[string]Identity
}

// NewAuthenticator checks the configuration and indexes the tokens.
func NewAuthenticator(cfg AuthenticatorConfig) (*Authenticator, error) {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	a := &Authenticator{cfg: cfg, peers: map[string]bool{}, tokens: map[string]Identity{}}
	for _, c := range cfg.PeerCourts {
		a.peers[c] = true
	}
	for i, t := range cfg.Tokens {
		h := strings.ToLower(t.Hash)
		if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("court: tokens[%d]: hash must be 64 hexadecimal digits", i)
		}
		if err := t.Identity.validate(); err != nil {
			return nil, fmt.Errorf("court: tokens[%d]: %w", i, err)
		}
		if _, dup := a.tokens[h]; dup {
			return nil, fmt.Errorf("court: tokens[%d]: hash configured twice", i)
		}
		a.tokens[h] = t.Identity
	}
	return a, nil
}

// FromToken authenticates an Authorization header value ("Bearer <token>").
func (a *Authenticator) FromToken(header string) (Identity, error) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return Identity{}, &AuthError{"BAD_AUTHORIZATION", "authorization must be \"Bearer <token>\""}
	}
	token = strings.TrimSpace(token)
	if token == "" || len(token) > maxTokenLen {
		return Identity{}, &AuthError{"BAD_AUTHORIZATION", fmt.Sprintf("bearer token must be 1 to %d characters", maxTokenLen)}
	}
	// The map is keyed by the hash, so timing reveals nothing usable
	// about the token itself.
	id, ok := a.tokens[TokenHash(token)]
	if !ok {
		return Identity{}, &AuthError{"UNKNOWN_TOKEN", "bearer token is not configured at this court"}
	}
	return a.admit(id)
}

// FromCertificates authenticates a client certificate chain (leaf first),
// as sent in a TLS handshake that already proved possession of its key.
// Verification is done here rather than in the handshake so that an
// untrusted or expired certificate gets a clear Unauthenticated answer.
func (a *Authenticator) FromCertificates(chain []*x509.Certificate) (Identity, error) {
	if len(chain) == 0 {
		return Identity{}, &AuthError{"NO_CREDENTIALS", "no client certificate"}
	}
	if a.cfg.ClientCAs == nil {
		return Identity{}, &AuthError{"CERT_UNTRUSTED", "this court accepts no client certificates"}
	}
	leaf := chain[0]
	now := a.cfg.Clock()
	if now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return Identity{}, &AuthError{"CERT_EXPIRED", fmt.Sprintf("client certificate valid %s to %s",
			leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))}
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: a.cfg.ClientCAs, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		var exp x509.CertificateInvalidError
		if errors.As(err, &exp) && exp.Reason == x509.Expired {
			return Identity{}, &AuthError{"CERT_EXPIRED", err.Error()}
		}
		return Identity{}, &AuthError{"CERT_UNTRUSTED", err.Error()}
	}
	id, err := identityOfCert(leaf)
	if err != nil {
		return Identity{}, &AuthError{"CERT_NO_IDENTITY", err.Error()}
	}
	return a.admit(id)
}

// admit maps a court's node identity to node or peer and refuses courts
// and nodes the configuration does not name.
func (a *Authenticator) admit(id Identity) (Identity, error) {
	switch id.Role {
	case RoleNode:
		c, n := id.courtAndNode()
		switch {
		case c == a.cfg.Court:
			if a.cfg.Nodes != nil && !a.cfg.Nodes(n) {
				return Identity{}, &AuthError{"UNKNOWN_NODE", fmt.Sprintf("node %q is not a member of this court", n)}
			}
			return id, nil
		case a.peers[c]:
			return Identity{Role: RolePeer, ID: c}, nil
		}
		return Identity{}, &AuthError{"UNKNOWN_COURT", fmt.Sprintf("court %q is not configured as a peer", c)}
	case RolePeer:
		if !a.peers[id.ID] {
			return Identity{}, &AuthError{"UNKNOWN_COURT", fmt.Sprintf("court %q is not configured as a peer", id.ID)}
		}
	}
	return id, nil
}
