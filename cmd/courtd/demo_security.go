package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/courtledger/courtledger/court"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/devca"
)

// demoSecurity gives the demo's nodes and users their credentials: by
// default a development CA in DIR/pki with a certificate per node and one
// per user role; with --insecure, random bearer tokens over plain text:
// one per user role (valid at every court), one per node (valid at its
// court), and one per pair of courts, which the first presents to the
// second when it syncs with it (valid there only).
type demoSecurity struct {
	insecure bool
	pki      string
	ca       *devca.CA
	log      *slog.Logger
	// insecure mode
	tokens     map[access.Role]string // users'
	users      []access.TokenRule
	nodeTokens map[string]string             // by court/node ID
	nodeRules  map[string][]access.TokenRule // by court: its nodes'
	peerTokens map[[2]string]string          // by {from, to} court
	peerRules  map[string][]access.TokenRule // by court: those presented to it
}

var demoUsers = map[access.Role]string{
	access.RolePlatform: demoPlatform, access.RoleJudge: "judge-demo",
	access.RoleLawyer: "lawyer-demo", access.RoleAdmin: "admin-demo",
}

func newDemoSecurity(dir string, insecure bool, log *slog.Logger) (*demoSecurity, error) {
	s := &demoSecurity{insecure: insecure, pki: filepath.Join(dir, "pki"), log: log}
	if insecure {
		s.makeTokens()
		return s, nil
	}
	ca, err := devca.LoadOrCreate(s.pki)
	if err != nil {
		return nil, fmt.Errorf("demo CA: %w", err)
	}
	s.ca = ca
	for role, id := range demoUsers {
		if _, err := ca.IssueFile(s.pki, string(role), access.Identity{Role: role, ID: id}); err != nil {
			return nil, err
		}
	}
	// A browser has no certificate of the demo's CA: judges and lawyers
	// sign in to the web pages with a token, kept beside their
	// certificates so that the demo resumes with the same ones.
	for _, role := range []access.Role{access.RoleJudge, access.RoleLawyer} {
		rule, err := loadOrCreateToken(filepath.Join(s.pki, string(role)+".token"), access.Identity{Role: role, ID: demoUsers[role]})
		if err != nil {
			return nil, err
		}
		s.users = append(s.users, rule)
	}
	return s, nil
}

// loadOrCreateToken reads a user's token from path, or makes one and
// writes it there (mode 0600).
func loadOrCreateToken(path string, id access.Identity) (access.TokenRule, error) {
	if b, err := os.ReadFile(path); err == nil {
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return access.TokenRule{}, fmt.Errorf("demo token %s is empty: remove it and the demo makes another", path)
		}
		return access.TokenRule{Hash: access.TokenHash(tok), Identity: id}, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return access.TokenRule{}, fmt.Errorf("demo token: %w", err)
	}
	tok, rule := newToken(id)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return access.TokenRule{}, fmt.Errorf("demo token: %w", err)
	}
	return rule, nil
}

// makeTokens makes every token of an insecure run before any node starts,
// so that each node is configured with all the tokens its court accepts.
func (s *demoSecurity) makeTokens() {
	s.tokens, s.nodeTokens, s.peerTokens = map[access.Role]string{}, map[string]string{}, map[[2]string]string{}
	s.nodeRules, s.peerRules = map[string][]access.TokenRule{}, map[string][]access.TokenRule{}
	for role, id := range demoUsers {
		tok, rule := newToken(access.Identity{Role: role, ID: id})
		s.tokens[role], s.users = tok, append(s.users, rule)
	}
	for _, c := range demoCourts {
		for i := range 3 {
			id := access.NodeIdentity(c.id, demoNodeID(c.prefix, i))
			tok, rule := newToken(id)
			s.nodeTokens[id.ID], s.nodeRules[c.id] = tok, append(s.nodeRules[c.id], rule)
		}
		for _, to := range demoCourts {
			if to.id != c.id {
				tok, rule := newToken(access.Identity{Role: access.RolePeer, ID: c.id})
				s.peerTokens[[2]string{c.id, to.id}], s.peerRules[to.id] = tok, append(s.peerRules[to.id], rule)
			}
		}
	}
}

func newToken(id access.Identity) (string, access.TokenRule) {
	b := make([]byte, 16)
	rand.Read(b)
	tok := hex.EncodeToString(b)
	return tok, access.TokenRule{Hash: access.TokenHash(tok), Identity: id}
}

// node is the Security of one demo node; every court trusts the others
// as peers.
func (s *demoSecurity) node(courtID, nodeID string) (court.Security, error) {
	var peers []string
	for _, c := range demoCourts {
		if c.id != courtID {
			peers = append(peers, c.id)
		}
	}
	if s.insecure {
		var rules []access.TokenRule
		rules = append(append(append(rules, s.users...), s.nodeRules[courtID]...), s.peerRules[courtID]...)
		toPeers := map[string]string{}
		for _, p := range peers {
			toPeers[p] = s.peerTokens[[2]string{courtID, p}]
		}
		return court.Security{Insecure: true, Tokens: rules, PeerCourts: peers, PeerTokens: toPeers,
			NodeToken: s.nodeTokens[access.NodeIdentity(courtID, nodeID).ID]}, nil
	}
	tc, err := s.ca.NodeTLS(s.pki, courtID, nodeID)
	return court.Security{TLS: &tc, PeerCourts: peers, Tokens: s.users}, err
}

// as is the evidencectl flag of a role's credential.
func (s *demoSecurity) as(role access.Role) string {
	if s.insecure {
		return "--token " + s.tokens[role] // plain text: EVIDENCECTL_INSECURE=1 is exported
	}
	return "--cert " + filepath.Join(s.pki, string(role)+".pem")
}

func (s *demoSecurity) curl(role access.Role) string {
	if s.insecure {
		return "-H 'Authorization: Bearer " + s.tokens[role] + "'"
	}
	f := filepath.Join(s.pki, string(role)+".pem")
	return "--cacert " + filepath.Join(s.pki, "ca.pem") + " --cert " + f
}

func (s *demoSecurity) env() string {
	if s.insecure {
		return "EVIDENCECTL_INSECURE=1"
	}
	return "EVIDENCECTL_CA=" + filepath.Join(s.pki, "ca.pem")
}

func (s *demoSecurity) banner() string {
	if s.insecure {
		return "\nINSECURE: plain text, tokens valid for this run only.\n"
	}
	return fmt.Sprintf("\nTLS everywhere, CA %s/ca.pem; users' certificates: %s/{platform,judge,lawyer,admin}.pem;\n"+
		"judges' and lawyers' tokens for the web pages' sign-in: %s/{judge,lawyer}.token.\n", s.pki, s.pki, s.pki)
}
