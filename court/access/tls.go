package access

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"google.golang.org/grpc/credentials"
)

// TLSConfig names a node's TLS files. Every listener (gRPC, REST, Raft)
// serves the node's certificate; the CA file is the trust root for client
// certificates, for the court's other nodes and for other courts' nodes.
//
// The node certificate must carry the URI SAN
// courtledger://node/<court ID>/<node ID>, and be usable for both server
// and client authentication, since the node also dials its peers.
// TLS here is standard X.509 with ECDSA or RSA keys (crypto/tls has no
// SM2 cipher suites); SM2 stays the ledger's signature algorithm.
type TLSConfig struct {
	CertFile string // PEM certificate chain, leaf first
	KeyFile  string // PEM private key; must not be readable by group or others
	CAFile   string // PEM CA certificates trusted for clients and peers
}

// Material is a loaded TLSConfig: the node's certificate, the identity it
// names and the CAs it trusts.
type Material struct {
	cert tls.Certificate
	pool *x509.CertPool
	self Identity
}

// LoadTLS reads and checks a node's TLS files.
func LoadTLS(c TLSConfig) (*Material, error) {
	if err := CheckKeyFileMode(c.KeyFile); err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("court: TLS certificate: %w", err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("court: TLS certificate: %w", err)
		}
	}
	self, err := IdentityOfCert(cert.Leaf)
	if err != nil {
		return nil, fmt.Errorf("court: TLS certificate %s: %w", c.CertFile, err)
	}
	caPEM, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("court: TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("court: TLS CA %s: no certificates", c.CAFile)
	}
	return &Material{cert: cert, pool: pool, self: self}, nil
}

// CheckKeyFileMode refuses a private key file that group or others may
// read or write: a court's signing key must be the node's alone.
func CheckKeyFileMode(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("court: key file: %w", err)
	}
	if m := st.Mode().Perm(); m&0o077 != 0 {
		return fmt.Errorf("court: key file %s has mode %04o; it must be 0600 or stricter (chmod 600 %s)", path, m, path)
	}
	return nil
}

// Self is the identity the node's certificate names.
func (m *Material) Self() Identity { return m.self }

// Pool is the CAs trusted for clients and peers.
func (m *Material) Pool() *x509.CertPool { return m.pool }

// NotAfter is when the node's own TLS certificate expires (a metric:
// operators renew before then).
func (m *Material) NotAfter() time.Time { return m.cert.Leaf.NotAfter }

// ServerTLS asks for a client certificate but does not verify it in the
// handshake: the Authenticator verifies it per call, so a bad certificate
// gets a clear Unauthenticated answer, and token callers need none.
func (m *Material) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{m.cert},
		ClientAuth:   tls.RequestClientCert,
	}
}

// ExpectPeer checks, after the chain was verified against the CA, that the
// other end is who the configuration says it should be.
type ExpectPeer func(Identity) error

// NodeOfCourt accepts a node of court, and only node if node is not empty.
func NodeOfCourt(court, node string) ExpectPeer {
	return func(id Identity) error {
		c, n := id.CourtAndNode()
		if c != court || (node != "" && n != node) {
			want := "a node of " + court
			if node != "" {
				want = "node " + node + " of " + court
			}
			return fmt.Errorf("peer is %s, want %s", id, want)
		}
		return nil
	}
}

// verifyIdentity returns a VerifyConnection hook: the chain must verify
// against the pool for usage, and its identity must pass expect.
func (m *Material) verifyIdentity(usage x509.ExtKeyUsage, expect ExpectPeer) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("peer sent no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		leaf := cs.PeerCertificates[0]
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: m.pool, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			return fmt.Errorf("peer certificate: %w", err)
		}
		id, err := IdentityOfCert(leaf)
		if err != nil {
			return err
		}
		return expect(id)
	}
}

// ClientTLS is for dialing another node or court: the node presents its
// own certificate and checks the server's identity with expect. Host name
// checks are replaced by the identity check, since nodes are configured by
// address and ID, not DNS name.
func (m *Material) ClientTLS(expect ExpectPeer) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		Certificates:       []tls.Certificate{m.cert},
		InsecureSkipVerify: true, // verified by VerifyConnection below
		VerifyConnection:   m.verifyIdentity(x509.ExtKeyUsageServerAuth, expect),
	}
}

// MutualTLS is the Raft listener's: only nodes of this court get in.
func (m *Material) MutualTLS(expect ExpectPeer) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS12,
		Certificates:     []tls.Certificate{m.cert},
		ClientAuth:       tls.RequireAnyClientCert,
		VerifyConnection: m.verifyIdentity(x509.ExtKeyUsageClientAuth, expect),
	}
}

// gatewayAuthInfo marks a connection from this process's REST gateway,
// which never crosses the network: the gateway authenticated nothing
// itself and passes the HTTP caller's credentials on as metadata.
type gatewayAuthInfo struct{ credentials.CommonAuthInfo }

func (gatewayAuthInfo) AuthType() string { return "courtledger-gateway" }

// ServerCredentials does TLS (tc; nil when insecure) on network
// connections and nothing on the REST gateway's in-memory ones, whose
// local address is of network inMemory: their calls are marked as the
// gateway's, and the guard takes the HTTP caller's credentials from their
// metadata.
func ServerCredentials(tc credentials.TransportCredentials, inMemory string) credentials.TransportCredentials {
	return serverCreds{tc, inMemory}
}

type serverCreds struct {
	credentials.TransportCredentials        // TLS; nil when insecure
	inMemory                         string // the gateway's network name
}

func (c serverCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if conn.LocalAddr().Network() == c.inMemory {
		return conn, gatewayAuthInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
	}
	if c.TransportCredentials == nil {
		return conn, insecureAuthInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}, nil
	}
	return c.TransportCredentials.ServerHandshake(conn)
}

func (c serverCreds) Info() credentials.ProtocolInfo {
	if c.TransportCredentials == nil {
		return credentials.ProtocolInfo{SecurityProtocol: "insecure"}
	}
	return c.TransportCredentials.Info()
}

func (c serverCreds) Clone() credentials.TransportCredentials {
	if c.TransportCredentials == nil {
		return serverCreds{inMemory: c.inMemory}
	}
	return serverCreds{c.TransportCredentials.Clone(), c.inMemory}
}

type insecureAuthInfo struct{ credentials.CommonAuthInfo }

func (insecureAuthInfo) AuthType() string { return "insecure" }
