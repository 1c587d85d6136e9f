package court

import (
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/crypto/sm2"
)

// relay accepts on loopback and copies each connection to target,
// counting the connections it carried.
func relay(t *testing.T, target string) (addr string, carried *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	carried = &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			carried.Add(1)
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return ln.Addr().String(), carried
}

// A Raft dial to an address with a dial_via entry goes to the relay, and
// the node it reaches is still checked against the address dialed.
func TestRaftDialVia(t *testing.T) {
	ca := testCA(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	members := func(id string) bool { return id == "hz-1" || id == "hz-2" }
	server := writeMaterial(t, ca, access.NodeIdentity(testCourt, "hz-1"))
	trans, err := newRaftTLSTransport("127.0.0.1:0", server, testCourt, func(string) string { return "" }, members, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer trans.(io.Closer).Close()
	go func() {
		for rpc := range trans.Consumer() {
			rpc.Respond(&raft.AppendEntriesResponse{Success: true}, nil)
		}
	}()
	via, carried := relay(t, string(trans.LocalAddr()))
	const advertised = "127.0.0.1:1" // nothing listens here: only the relay can answer
	cfg := Config{DialVia: map[string]string{advertised: via}}
	client := writeMaterial(t, ca, access.NodeIdentity(testCourt, "hz-2"))
	for _, tc := range []struct {
		name, node string
		ok         bool
	}{{"the node at the address", "hz-1", true}, {"another node than the address's", "hz-3", false}} {
		t.Run(tc.name, func(t *testing.T) {
			d := &raftTLS{m: client, court: testCourt, nodeOf: func(a string) string {
				if a != advertised {
					t.Errorf("identity looked up for %s, want the advertised %s", a, advertised)
				}
				return tc.node
			}, via: cfg.via}
			before := carried.Load()
			conn, err := d.Dial(advertised, 5*time.Second)
			if err == nil {
				conn.Close()
			}
			if (err == nil) != tc.ok {
				t.Fatalf("dial: %v, want ok=%v", err, tc.ok)
			}
			if carried.Load() != before+1 {
				t.Fatalf("relay carried %d connections, want %d", carried.Load(), before+1)
			}
		})
	}
}

// dial_via is read from the file as a list and refused in plain text.
func TestConfigDialVia(t *testing.T) {
	dir := t.TempDir()
	key, _ := sm2.GenerateKey()
	pem, _ := key.MarshalPEM()
	keyFile := filepath.Join(dir, "court.key.pem")
	os.WriteFile(keyFile, pem, 0o600)
	yaml := `court: hangzhou.court.example/evidence
node_id: hz-1
data_dir: ` + dir + `
raft_addr: 127.0.0.1:7101
grpc_addr: 127.0.0.1:9101
http_addr: 127.0.0.1:8101
insecure: true
court_key_file: ` + keyFile + `
dial_via:
  - {addr: "127.0.0.1:7102", via: "127.0.0.1:17102"}
  - {addr: "127.0.0.1:9102", via: "127.0.0.1:19102"}
`
	path := filepath.Join(dir, "courtd.yaml")
	os.WriteFile(path, []byte(yaml), 0o600)
	fc, err := LoadConfig(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := fc.NodeConfig(testLogger())
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.via("127.0.0.1:7102"); got != "127.0.0.1:17102" {
		t.Errorf("via 7102 = %s", got)
	}
	if got := cfg.via("127.0.0.1:7103"); got != "127.0.0.1:7103" {
		t.Errorf("an address without an entry goes to %s", got)
	}
	if err := cfg.applyDialVia(); err == nil {
		t.Error("dial_via accepted in plain text, where consensus dials Raft itself")
	}
	cfg.Security.Insecure = false
	if err := cfg.applyDialVia(); err != nil || cfg.Sync.Dial == nil {
		t.Errorf("dial_via with TLS: %v; sync dialer set: %v", err, cfg.Sync.Dial != nil)
	}
}
