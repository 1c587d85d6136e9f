package access

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/metadata"
)

// How a call a follower forwards to the leader carries its caller: the
// node authenticates as itself and passes the caller's own credential,
// which the leader verifies again. See docs/security.md, "Forwarded calls".

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
func (g *Guard) forwardedCaller(md metadata.MD, method string, node Caller) (Caller, bool, error) {
	obo, err := one(md, MDOnBehalfOf)
	if err != nil {
		return node, false, err
	}
	fwdCert, err := one(md, MDForwardCert)
	if err != nil {
		return node, false, err
	}
	fwdToken, err := one(md, MDForwardToken)
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
		return refused, false, &AuthError{"BAD_METADATA", MDOnBehalfOf + " must be \"<role> <id> <via>\""}
	}
	claimed := Identity{Role: Role(parts[0]), ID: parts[1]}
	refused.Via = node.Via + " claims " + claimed.String()
	if !Forwarded(method) {
		return refused, false, &DeniedError{"NOT_FORWARDED", fmt.Sprintf("nodes do not forward %s; the caller must call it itself", method)}
	}
	if err := claimed.Validate(); err != nil {
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

// ForwardMetadata is what a call forwarded to the leader carries of its
// caller: the caller the node authenticated and that caller's credential
// as the node verified it (certificate chain or token), which the leader
// authenticates and authorizes again (forwardedCaller). It is empty when
// ctx has no caller with a credential: the leader then sees the node alone.
func ForwardMetadata(ctx context.Context) []string {
	c, ok := CallerOf(ctx)
	if !ok || c.proof == nil {
		return nil
	}
	kv := []string{MDOnBehalfOf, fmt.Sprintf("%s %s %s", c.Role, c.ID, c.Via), mdOriginAddr, c.Addr}
	if c.proof.chain != "" {
		return append(kv, MDForwardCert, c.proof.chain)
	}
	return append(kv, MDForwardToken, c.proof.token)
}

// BearerMetadata is the metadata of a call authenticated by token.
func BearerMetadata(token string) []string { return []string{mdAuthorization, "Bearer " + token} }
