package court

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
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

// tlsMaterial is a loaded TLSConfig.
type tlsMaterial struct {
	cert tls.Certificate
	pool *x509.CertPool
	self Identity
}

func loadTLS(c TLSConfig) (*tlsMaterial, error) {
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
	self, err := identityOfCert(cert.Leaf)
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
	return &tlsMaterial{cert: cert, pool: pool, self: self}, nil
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

// serverTLS asks for a client certificate but does not verify it in the
// handshake: the Authenticator verifies it per call, so a bad certificate
// gets a clear Unauthenticated answer, and token callers need none.
func (m *tlsMaterial) serverTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{m.cert},
		ClientAuth:   tls.RequestClientCert,
	}
}

// expectPeer checks, after the chain was verified against the CA, that the
// other end is who the configuration says it should be.
type expectPeer func(Identity) error

// nodeOfCourt accepts a node of court, and only node if node is not empty.
func nodeOfCourt(court, node string) expectPeer {
	return func(id Identity) error {
		c, n := id.courtAndNode()
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
func (m *tlsMaterial) verifyIdentity(usage x509.ExtKeyUsage, expect expectPeer) func(tls.ConnectionState) error {
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
		id, err := identityOfCert(leaf)
		if err != nil {
			return err
		}
		return expect(id)
	}
}

// clientTLS is for dialing another node or court: the node presents its
// own certificate and checks the server's identity with expect. Host name
// checks are replaced by the identity check, since nodes are configured by
// address and ID, not DNS name.
func (m *tlsMaterial) clientTLS(expect expectPeer) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		Certificates:       []tls.Certificate{m.cert},
		InsecureSkipVerify: true, // verified by VerifyConnection below
		VerifyConnection:   m.verifyIdentity(x509.ExtKeyUsageServerAuth, expect),
	}
}

// mutualTLS is the Raft listener's: only nodes of this court get in.
func (m *tlsMaterial) mutualTLS(expect expectPeer) *tls.Config {
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

// serverCreds does TLS on network connections and nothing on the
// gateway's in-memory ones (see gateway.go).
type serverCreds struct {
	credentials.TransportCredentials // TLS; nil when insecure
}

func (c serverCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if conn.LocalAddr().Network() == gatewayNetwork {
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
		return serverCreds{}
	}
	return serverCreds{c.TransportCredentials.Clone()}
}

type insecureAuthInfo struct{ credentials.CommonAuthInfo }

func (insecureAuthInfo) AuthType() string { return "insecure" }

// raftTLS is a raft.StreamLayer over mutual TLS: both ends present node
// certificates of this court, and a dialer checks that the node it reached
// is the one the address belongs to, when the configuration says.
type raftTLS struct {
	net.Listener
	m      *tlsMaterial
	court  string
	nodeOf func(addr string) string // node ID at a Raft address, "" if unknown
	nodes  func(id string) bool     // node IDs admitted to the court
	via    func(addr string) string // where to dial for addr (dial_via); nil: addr
}

const raftHandshakeTimeout = 10 * time.Second

func (r *raftTLS) Accept() (net.Conn, error) {
	c, err := r.Listener.Accept()
	if err != nil {
		return nil, err
	}
	conf := r.m.mutualTLS(func(id Identity) error {
		if err := nodeOfCourt(r.court, "")(id); err != nil {
			return err
		}
		if _, n := id.courtAndNode(); r.nodes != nil && !r.nodes(n) {
			return fmt.Errorf("node %q is not a member of this court", n)
		}
		return nil
	})
	// The handshake runs on first use, in the connection's own goroutine,
	// so a slow or silent client cannot stall Raft's accept loop.
	return &lazyHandshake{Conn: tls.Server(c, conf)}, nil
}

func (r *raftTLS) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	target := string(addr)
	if r.via != nil {
		target = r.via(target) // the identity check below still goes by addr
	}
	c, err := d.Dial("tcp", target)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(c, r.m.clientTLS(nodeOfCourt(r.court, r.nodeOf(string(addr)))))
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("raft TLS to %s: %w", addr, err)
	}
	return tc, nil
}

type lazyHandshake struct {
	*tls.Conn
	once sync.Once
	err  error
}

func (l *lazyHandshake) handshake() error {
	l.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), raftHandshakeTimeout)
		defer cancel()
		l.err = l.Conn.HandshakeContext(ctx)
	})
	return l.err
}

func (l *lazyHandshake) Read(p []byte) (int, error) {
	if err := l.handshake(); err != nil {
		return 0, err
	}
	return l.Conn.Read(p)
}

func (l *lazyHandshake) Write(p []byte) (int, error) {
	if err := l.handshake(); err != nil {
		return 0, err
	}
	return l.Conn.Write(p)
}

// newRaftTLSTransport listens on bind for Raft over mutual TLS.
func newRaftTLSTransport(bind string, m *tlsMaterial, court string, nodeOf func(string) string, nodes func(string) bool, via func(string) string, log *slog.Logger) (raft.Transport, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("court: Raft listener: %w", err)
	}
	layer := &raftTLS{Listener: ln, m: m, court: court, nodeOf: nodeOf, nodes: nodes, via: via}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: layer, MaxPool: 3, Timeout: 10 * time.Second,
		Logger: hclog.New(&hclog.LoggerOptions{Name: "raft-tls", Level: hclog.Warn, Output: slogLines{log}}),
	}), nil
}

// slogLines passes hclog's lines to slog.
type slogLines struct{ log *slog.Logger }

func (s slogLines) Write(p []byte) (int, error) {
	s.log.Warn(string(trimNL(p)))
	return len(p), nil
}

func trimNL(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}

var _ io.Writer = slogLines{}
