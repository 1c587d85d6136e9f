package court

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/courtledger/courtledger/court/witness"
	"github.com/courtledger/courtledger/crypto/sm2"
)

// A court's keys across a rotation: its own previous keys, and several keys
// of another court through key_file and key_files.
func TestConfigRotationKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	court, _ := sm2.GenerateKey()
	pem, err := court.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	courtFile := write("court.key.pem", pem)
	ownOld, bjNew, bjOld, gzOnly := genPub(t), genPub(t), genPub(t), genPub(t)
	yaml := `court: hangzhou.court.example/evidence
node_id: hz-1
data_dir: ` + dir + `
raft_addr: 127.0.0.1:7101
grpc_addr: 127.0.0.1:9101
http_addr: 127.0.0.1:8101
insecure: true
court_key_file: ` + courtFile + `
previous_key_files: [` + write("own-old.pub.pem", ownOld.MarshalPEM()) + `]
courts:
  - court: beijing.court.example/evidence
    key_file: ` + write("bj-new.pub.pem", bjNew.MarshalPEM()) + `
    key_files: [` + write("bj-old.pub.pem", bjOld.MarshalPEM()) + `]
    endpoints: [127.0.0.1:9201]
  - court: guangzhou.court.example/evidence
    key_files: [` + write("gz.pub.pem", gzOnly.MarshalPEM()) + `]
    endpoints: [127.0.0.1:9301]
`
	fc, err := LoadConfig(write("courtd.yaml", []byte(yaml)), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := fc.NodeConfig(testLogger())
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.PreviousKeys) != 1 || !cfg.PreviousKeys[0].Equal(ownOld) {
		t.Errorf("previous keys %v, want the one in previous_key_files", cfg.PreviousKeys)
	}
	bj, gz := cfg.Courts[0], cfg.Courts[1]
	if !bj.Key.Equal(bjNew) || len(bj.Keys) != 1 || !bj.Keys[0].Equal(bjOld) {
		t.Errorf("Beijing: key %v, keys %v; want key_file's, then key_files'", bj.Key, bj.Keys)
	}
	if !gz.Key.Equal(gzOnly) || len(gz.Keys) != 0 {
		t.Errorf("Guangzhou: key %v, keys %v; want key_files' only key", gz.Key, gz.Keys)
	}

	noKey := strings.Replace(yaml, "    key_files: [", "    no_key_files: [", -1)
	if _, err := LoadConfig(write("nokey.yaml", []byte(noKey)), nil); err == nil || !strings.Contains(err.Error(), "courts[1] needs") {
		t.Errorf("a court without key_file or key_files: %v", err)
	}
}

func genPub(t *testing.T) *sm2.PublicKey {
	t.Helper()
	k, err := sm2.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.Public()
}

// A node refuses its own key listed again as a previous key, and another
// court's key listed twice: a note verifier would find them ambiguous.
func TestStartRefusesRepeatedKeys(t *testing.T) {
	k, _ := sm2.GenerateKey()
	other := genPub(t)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"own key as previous", Config{Court: hz, CourtKey: k, PreviousKeys: []*sm2.PublicKey{k.Public()}}},
		{"other court's key twice", Config{Court: hz, CourtKey: k,
			Courts: []witness.OtherCourt{{Court: bj, Endpoints: []string{"127.0.0.1:1"}, Key: other, Keys: []*sm2.PublicKey{other}}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if n, err := Start(tc.cfg); err == nil || !strings.Contains(err.Error(), "twice") {
				if n != nil {
					n.Shutdown(t.Context())
				}
				t.Fatalf("Start = %v, want a key listed twice refused", err)
			}
		})
	}
}

// forward_timeout sets the deadline of each forwarded try; it must be a
// positive duration.
// loadWith writes a one-node courtd.yaml with the line extra and its court
// key, and loads it as courtd run does.
func loadWith(t *testing.T, extra string) (Config, error) {
	t.Helper()
	dir := t.TempDir()
	key, _ := sm2.GenerateKey()
	pem, err := key.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "court.key.pem")
	if err := os.WriteFile(keyFile, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "courtd.yaml")
	yaml := "court: hangzhou.court.example/evidence\nnode_id: hz-1\ndata_dir: " + dir + "\nraft_addr: 127.0.0.1:7101\n" +
		"grpc_addr: 127.0.0.1:9101\nhttp_addr: 127.0.0.1:8101\ninsecure: true\ncourt_key_file: " + keyFile + "\n" + extra + "\n"
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	fc, err := LoadConfig(p, nil)
	if err != nil {
		return Config{}, err
	}
	return fc.NodeConfig(testLogger())
}

func TestConfigForwardTimeout(t *testing.T) {
	load := func(value string) (Config, error) { return loadWith(t, "forward_timeout: "+value) }
	cfg, err := load("1500ms")
	if err != nil || cfg.ForwardTimeout != 1500*time.Millisecond {
		t.Errorf("forward_timeout 1500ms: %v, %v", cfg.ForwardTimeout, err)
	}
	for _, bad := range []string{"0s", "-1s", "soon"} {
		if _, err := load(bad); err == nil || !strings.Contains(err.Error(), "forward_timeout") {
			t.Errorf("forward_timeout %s: %v, want refused", bad, err)
		}
	}
}

// max_pending reaches the ledger's admission bound; a negative one is
// refused by name.
func TestConfigMaxPending(t *testing.T) {
	cfg, err := loadWith(t, "max_pending: 1000000")
	if err != nil || cfg.MaxPending != 1000000 {
		t.Errorf("max_pending 1000000: %v, %v", cfg.MaxPending, err)
	}
	if _, err := loadWith(t, "max_pending: -1"); err == nil || !strings.Contains(err.Error(), "max_pending") {
		t.Errorf("max_pending -1: %v, want refused", err)
	}
}
