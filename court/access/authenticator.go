package access

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

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
		if err := t.Identity.Validate(); err != nil {
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
	id, err := IdentityOfCert(leaf)
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
		c, n := id.CourtAndNode()
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
