package access

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
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

	// verified remembers chains that passed x509 verification, by the hash
	// of their bytes: a client sends the same chain with every call on its
	// connection, and checking it again each time (signatures up to the
	// root) was a third of a leader's CPU under load (issue 14). Validity
	// is still checked against the clock on every call, and admit (which
	// asks the court's current membership) still runs each time.
	mu       sync.Mutex
	verified map[[sha256.Size]byte]verifiedChain
}

// verifiedChain is a chain that passed verification.
type verifiedChain struct {
	id                  Identity
	notBefore, notAfter time.Time // the chain's common validity
}

// maxVerifiedChains bounds the cache; when full it starts afresh, which
// costs one verification per chain in use.
const maxVerifiedChains = 4096

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
	key := chainKey(chain)
	a.mu.Lock()
	v, ok := a.verified[key]
	a.mu.Unlock()
	if ok && !now.Before(v.notBefore) && !now.After(v.notAfter) {
		return a.admit(v.id)
	}
	if now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return Identity{}, &AuthError{"CERT_EXPIRED", fmt.Sprintf("client certificate valid %s to %s",
			leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))}
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: a.cfg.ClientCAs, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
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
	// Valid while every certificate of the path to the root is.
	v = verifiedChain{id: id, notBefore: leaf.NotBefore, notAfter: leaf.NotAfter}
	for _, c := range chains[0] {
		if c.NotBefore.After(v.notBefore) {
			v.notBefore = c.NotBefore
		}
		if c.NotAfter.Before(v.notAfter) {
			v.notAfter = c.NotAfter
		}
	}
	a.mu.Lock()
	if a.verified == nil || len(a.verified) >= maxVerifiedChains {
		a.verified = map[[sha256.Size]byte]verifiedChain{}
	}
	a.verified[key] = v
	a.mu.Unlock()
	return a.admit(id)
}

// chainKey identifies a chain by its certificates' bytes, in order.
func chainKey(chain []*x509.Certificate) [sha256.Size]byte {
	h := sha256.New()
	var n [4]byte
	for _, c := range chain {
		binary.BigEndian.PutUint32(n[:], uint32(len(c.Raw)))
		h.Write(n[:])
		h.Write(c.Raw)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
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
