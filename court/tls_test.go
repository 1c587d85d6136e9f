package court

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/devca"
)

func writeMaterial(t *testing.T, ca *devca.CA, id access.Identity) *access.Material {
	t.Helper()
	dir := t.TempDir()
	pemBytes, err := ca.Issue(id, devca.IssueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f, caf := filepath.Join(dir, "id.pem"), filepath.Join(dir, "ca.pem")
	os.WriteFile(f, pemBytes, 0o600)
	os.WriteFile(caf, ca.CertPEM(), 0o644)
	m, err := access.LoadTLS(access.TLSConfig{CertFile: f, KeyFile: f, CAFile: caf})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Raft between nodes is mutual TLS: only a node of this court that the
// configuration knows gets in, and a dialer reaches only the node it meant.
func TestRaftMutualTLS(t *testing.T) {
	ca := testCA(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	members := func(id string) bool { return id == "hz-1" || id == "hz-2" }
	server := writeMaterial(t, ca, access.NodeIdentity(testCourt, "hz-1"))
	trans, err := newRaftTLSTransport("127.0.0.1:0", server, testCourt, func(string) string { return "" }, members, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer trans.(io.Closer).Close()
	addr := trans.LocalAddr()
	go func() {
		for rpc := range trans.Consumer() {
			rpc.Respond(&raft.AppendEntriesResponse{Success: true}, nil)
		}
	}()

	try := func(m *access.Material, expectNode string) error {
		d := &raftTLS{m: m, court: testCourt, nodeOf: func(string) string { return expectNode }}
		conn, err := d.Dial(addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		// The server checks the client in the handshake's last step; a
		// refused client learns it on its first read.
		conn.SetDeadline(time.Now().Add(time.Second)) // a member is left waiting for the rest of an RPC
		conn.Write([]byte{0})
		_, err = conn.Read(make([]byte, 1))
		return err
	}
	for _, tc := range []struct {
		name   string
		m      *access.Material
		expect string
		ok     bool
	}{
		{"a member", writeMaterial(t, ca, access.NodeIdentity(testCourt, "hz-2")), "hz-1", true},
		{"a node the court does not have", writeMaterial(t, ca, access.NodeIdentity(testCourt, "hz-9")), "", false},
		{"a node of another court", writeMaterial(t, ca, access.NodeIdentity("beijing.court.example/evidence", "hz-2")), "", false},
		{"a platform", writeMaterial(t, ca, access.Identity{Role: access.RolePlatform, ID: "esign.example"}), "", false},
		{"another CA's node", writeMaterial(t, testCA(t), access.NodeIdentity(testCourt, "hz-2")), "", false},
		{"dialing the wrong node", writeMaterial(t, ca, access.NodeIdentity(testCourt, "hz-2")), "hz-3", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := try(tc.m, tc.expect)
			// A member's byte is not a valid RPC, so the server closes: EOF
			// after a handshake that succeeded; a refusal is a TLS error.
			refused := err != nil && (strings.Contains(err.Error(), "tls") || strings.Contains(err.Error(), "certificate") ||
				strings.Contains(err.Error(), "peer is") || strings.Contains(err.Error(), "connection reset"))
			if tc.ok == refused {
				t.Fatalf("ok=%v, got %v", tc.ok, err)
			}
		})
	}
}

func TestKeyFileMode(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "k.pem")
	os.WriteFile(f, []byte("x"), 0o644)
	if err := access.CheckKeyFileMode(f); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Fatalf("0644 key accepted: %v", err)
	}
	os.Chmod(f, 0o600)
	if err := access.CheckKeyFileMode(f); err != nil {
		t.Fatal(err)
	}
}
