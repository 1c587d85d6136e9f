// Package access decides who may call what at a court node: it turns TLS
// certificates and bearer tokens into identities, checks them against the
// role table, bounds each caller's rate and records every call in an audit
// buffer. It knows nothing of the ledger; the node installs its gRPC
// interceptors and HTTP middleware in front of every service.
package access

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/courtledger/courtledger/court/apierr"
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

// ValidNodeID reports whether id follows the rule for a node ID.
func ValidNodeID(id string) bool { return nodeIDRe.MatchString(id) && !strings.Contains(id, "..") }

// CourtAndNode splits a node identity's ID; both are empty for any other
// identity.
func (id Identity) CourtAndNode() (court, node string) {
	i := strings.LastIndexByte(id.ID, '/')
	if id.Role != RoleNode || i < 0 {
		return "", ""
	}
	return id.ID[:i], id.ID[i+1:]
}

// ParseIdentityURI reads a courtledger:// URI SAN.
func ParseIdentityURI(u *url.URL) (Identity, error) {
	if u.Scheme != identityScheme {
		return Identity{}, fmt.Errorf("URI %q is not a %s identity", u, identityScheme)
	}
	id := Identity{Role: Role(u.Host), ID: strings.TrimPrefix(u.Path, "/")}
	if err := id.Validate(); err != nil {
		return Identity{}, err
	}
	return id, nil
}

// Validate checks the identity's role and the form of its ID.
func (id Identity) Validate() error {
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
		c, n := id.CourtAndNode()
		if !evidence.ValidCourtID(c) || !ValidNodeID(n) {
			return fmt.Errorf("node identity %q is not <court ID>/<node ID>", id.ID)
		}
	default:
		if id.ID == "" || len(id.ID) > 128 || strings.ContainsAny(id.ID, "\x00\n\r ") {
			return fmt.Errorf("%s ID %q is not valid", id.Role, id.ID)
		}
	}
	return nil
}

// IdentityOfCert returns the one courtledger identity a certificate names.
func IdentityOfCert(c *x509.Certificate) (Identity, error) {
	var found []Identity
	for _, u := range c.URIs {
		if u.Scheme != identityScheme {
			continue
		}
		id, err := ParseIdentityURI(u)
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

// GRPCStatus makes a refused credential Unauthenticated, with its reason.
func (e *AuthError) GRPCStatus() *status.Status {
	return (&apierr.Problem{Code: codes.Unauthenticated, Reason: e.Reason, Message: e.Error()}).GRPCStatus()
}

// GRPCStatus makes a refused role PermissionDenied, with its reason.
func (e *DeniedError) GRPCStatus() *status.Status {
	return (&apierr.Problem{Code: codes.PermissionDenied, Reason: e.Reason, Message: e.Error()}).GRPCStatus()
}
