package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/courtledger/courtledger/court"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/devca"
)

// demoSecurity gives the demo's nodes and users their credentials: by
// default a development CA in DIR/pki with a certificate per node and one
// per user role; with --insecure, random bearer tokens over plain text.
type demoSecurity struct {
	insecure bool
	pki      string
	ca       *devca.CA
	tokens   map[access.Role]string // insecure mode
	rules    []access.TokenRule
	log      *slog.Logger
}

var demoUsers = map[access.Role]string{
	access.RolePlatform: demoPlatform, access.RoleJudge: "judge-demo",
	access.RoleLawyer: "lawyer-demo", access.RoleAdmin: "admin-demo",
}

func newDemoSecurity(dir string, insecure bool, log *slog.Logger) (*demoSecurity, error) {
	s := &demoSecurity{insecure: insecure, pki: filepath.Join(dir, "pki"), log: log}
	if insecure {
		s.tokens = map[access.Role]string{}
		for role, id := range demoUsers {
			s.addToken(role, id)
		}
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
	return s, nil
}

func (s *demoSecurity) addToken(role access.Role, id string) string {
	b := make([]byte, 16)
	rand.Read(b)
	tok := hex.EncodeToString(b)
	s.tokens[role] = tok
	s.rules = append(s.rules, access.TokenRule{Hash: access.TokenHash(tok), Identity: access.Identity{Role: role, ID: id}})
	return tok
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
		// Each node's own token, which every node of its court accepts.
		nodeTok := s.addToken(access.RoleNode, access.NodeIdentity(courtID, nodeID).ID)
		return court.Security{Insecure: true, Tokens: s.rules, NodeToken: nodeTok, PeerCourts: peers}, nil
	}
	tc, err := s.ca.NodeTLS(s.pki, courtID, nodeID)
	return court.Security{TLS: &tc, PeerCourts: peers}, err
}

// as is the evidencectl flag of a role's credential.
func (s *demoSecurity) as(role access.Role) string {
	if s.insecure {
		return "--insecure --token " + s.tokens[role]
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
	return fmt.Sprintf("\nTLS everywhere, CA %s/ca.pem; users' certificates: %s/{platform,judge,lawyer,admin}.pem.\n", s.pki, s.pki)
}
