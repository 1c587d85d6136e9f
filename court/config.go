package court

import (
	"net"
	"os"

	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/witness"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/evidence/certpdf"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"

	"github.com/courtledger/courtledger/evidence"
)

// FileConfig is a node's configuration as written in its YAML file. Each
// key can also be set by an environment variable COURTD_<KEY> (upper case)
// or a flag --<key> with '-' for '_'; flags win over the environment, which
// wins over the file.
//
//	court: hangzhou.court.example/evidence   # the court ID, its log's origin
//	node_id: hz-1
//	data_dir: /var/lib/courtd/hz-1
//	raft_addr: 10.0.0.1:7101                 # Raft traffic between the court's nodes
//	grpc_addr: 10.0.0.1:9101                 # gRPC API
//	http_addr: 10.0.0.1:8101                 # REST gateway, /healthz, /readyz, /openapi.json
//	court_key_file: /etc/courtd/court.key.pem  # the court's SM2 key, PKCS#8 PEM
//	previous_key_files: [/etc/courtd/court-2025.pub.pem]  # public keys it signed with before (key rotation)
//	bootstrap: true                          # a new court: peers are its first voters
//	peers:                                   # every node of the court, this one included
//	  - {node_id: hz-1, raft_addr: 10.0.0.1:7101, grpc_addr: 10.0.0.1:9101}
//	  - {node_id: hz-2, raft_addr: 10.0.0.2:7101, grpc_addr: 10.0.0.2:9101}
//	  - {node_id: hz-3, raft_addr: 10.0.0.3:7101, grpc_addr: 10.0.0.3:9101}
//	courts:                                  # the other courts: mirrored and witnessed
//	  - court: beijing.court.example/evidence
//	    key_file: /etc/courtd/beijing.pub.pem  # its court key (SubjectPublicKeyInfo PEM): the trust anchor
//	    key_files: [/etc/courtd/beijing-2025.pub.pem]  # its other keys, trusted alike (key rotation)
//	    endpoints: [10.1.0.1:9101, 10.1.0.2:9101, 10.1.0.3:9101]
//	sync_interval: 1s                        # between sync rounds with each court
//	forward_timeout: 2s                      # each try of a write forwarded to the leader; shorter than an election
//	max_pending: 4096                        # submissions a leader holds at once before it answers COURT_BUSY (default 4 × 1024)
//	public_url: https://evidence.hangzhou.court.example   # printed on certificates: where to verify
//	tsa:                                     # RFC 3161 time-stamping authorities (court/tsa.go)
//	  - {url: https://tsa.example/tsa, roots_file: /etc/courtd/tsa-root.pem, tolerance: 1m}
type FileConfig struct {
	Court           string      `koanf:"court"`
	NodeID          string      `koanf:"node_id"`
	DataDir         string      `koanf:"data_dir"`
	RaftAddr        string      `koanf:"raft_addr"`
	GRPCAddr        string      `koanf:"grpc_addr"`
	HTTPAddr        string      `koanf:"http_addr"`
	MetricsAddr     string      `koanf:"metrics_addr"` // optional: plain HTTP, /metrics only, no credentials
	CourtKeyFile    string      `koanf:"court_key_file"`
	Bootstrap       bool        `koanf:"bootstrap"`
	MaxRequestBytes int         `koanf:"max_request_bytes"`
	Peers           []FilePeer  `koanf:"peers"`
	Courts          []FileCourt `koanf:"courts"`
	SyncInterval    string      `koanf:"sync_interval"`
	ForwardTimeout  string      `koanf:"forward_timeout"`
	// MaxPending bounds the submissions the leader holds at once
	// (consensus BatchConfig.MaxPending; 0: its default). A very large
	// value turns admission off, which only a benchmark of what happens
	// without it should do (cmd/benchcourt flood).
	MaxPending int `koanf:"max_pending"`
	// PublicURL is the court's public HTTPS address, printed on its
	// certificates as where to verify them (https://...).
	PublicURL string `koanf:"public_url"`
	// PreviousKeyFiles are the public keys (SubjectPublicKeyInfo PEM) the
	// court signed with before court_key_file's; see docs/security.md,
	// "Key rotation".
	PreviousKeyFiles []string `koanf:"previous_key_files"`
	// DialVia sends this node's connections to an address through a
	// relay (the fault suite's proxies; see court/dialvia.go):
	//   dial_via: [{addr: 10.0.0.2:7101, via: 127.0.0.1:17101}]
	DialVia []FileDialVia `koanf:"dial_via"`
	// TSA lists the time-stamping authorities that stamp the court's
	// heads (issue 16; court/tsa.go, docs/timestamps.md).
	TSA []FileTSA `koanf:"tsa"`
	// Security: TLS, tokens, limits (issue 7; config_security.go).
	FileSecurity `koanf:",squash"`
}

// FileDialVia is one entry of dial_via. (A list, not a map: koanf would
// split an address's dots into nested keys.)
type FileDialVia struct {
	Addr string `koanf:"addr"`
	Via  string `koanf:"via"`
}

// FileCourt is one entry of courts. key_file and key_files together list
// the court's public keys; a head signed by any of them is the court's.
// Several keys are needed across a rotation of the court's key.
type FileCourt struct {
	Court     string   `koanf:"court"`
	KeyFile   string   `koanf:"key_file"`
	KeyFiles  []string `koanf:"key_files"`
	Endpoints []string `koanf:"endpoints"`
}

// keyFiles returns every key file of c, key_file first.
func (c FileCourt) keyFiles() []string {
	if c.KeyFile == "" {
		return c.KeyFiles
	}
	return append([]string{c.KeyFile}, c.KeyFiles...)
}

// FilePeer is one entry of peers.
type FilePeer struct {
	NodeID   string `koanf:"node_id"`
	RaftAddr string `koanf:"raft_addr"`
	GRPCAddr string `koanf:"grpc_addr"`
}

// LoadConfig reads the YAML file at path (if not empty), then COURTD_*
// environment variables, then the flags that were set.
func LoadConfig(path string, flags *pflag.FlagSet) (FileConfig, error) {
	k := koanf.New(".")
	if path != "" {
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return FileConfig{}, fmt.Errorf("court: config %s: %w", path, err)
		}
	}
	if err := k.Load(env.Provider("COURTD_", ".", func(s string) string {
		return strings.ToLower(strings.TrimPrefix(s, "COURTD_"))
	}), nil); err != nil {
		return FileConfig{}, fmt.Errorf("court: environment: %w", err)
	}
	if flags != nil {
		// Only flags the user set: defaults must not hide the file.
		if err := k.Load(posflag.ProviderWithFlag(flags, ".", k, func(f *pflag.Flag) (string, any) {
			if !f.Changed || f.Name == "config" {
				return "", nil
			}
			return strings.ReplaceAll(f.Name, "-", "_"), posflag.FlagVal(flags, f)
		}), nil); err != nil {
			return FileConfig{}, fmt.Errorf("court: flags: %w", err)
		}
	}
	var fc FileConfig
	if err := k.UnmarshalWithConf("", &fc, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		return FileConfig{}, fmt.Errorf("court: config: %w", err)
	}
	return fc, fc.validate()
}

func (fc FileConfig) validate() error {
	var errs []error
	need := func(name, v string) {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required", name))
		}
	}
	need("court", fc.Court)
	need("node_id", fc.NodeID)
	need("data_dir", fc.DataDir)
	need("raft_addr", fc.RaftAddr)
	need("grpc_addr", fc.GRPCAddr)
	need("http_addr", fc.HTTPAddr)
	need("court_key_file", fc.CourtKeyFile)
	if fc.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(fc.MetricsAddr); err != nil {
			errs = append(errs, fmt.Errorf("metrics_addr %q is not host:port (e.g. 127.0.0.1:9464)", fc.MetricsAddr))
		} else if fc.MetricsAddr == fc.HTTPAddr || fc.MetricsAddr == fc.GRPCAddr || fc.MetricsAddr == fc.RaftAddr {
			errs = append(errs, fmt.Errorf("metrics_addr %q is also another listener's address: give it a port of its own", fc.MetricsAddr))
		}
	}
	if fc.Court != "" && !evidence.ValidCourtID(fc.Court) {
		errs = append(errs, fmt.Errorf("court %q is not a valid court ID", fc.Court))
	}
	if fc.NodeID != "" && !access.ValidNodeID(fc.NodeID) {
		errs = append(errs, fmt.Errorf("node_id %q is not a valid node ID (1 to 64 letters, digits, '.', '_', '-'; no '/' or \"..\")", fc.NodeID))
	}
	self := false
	for i, p := range fc.Peers {
		if p.NodeID == "" || p.RaftAddr == "" || p.GRPCAddr == "" {
			errs = append(errs, fmt.Errorf("peers[%d] needs node_id, raft_addr and grpc_addr", i))
		} else if !access.ValidNodeID(p.NodeID) {
			errs = append(errs, fmt.Errorf("peers[%d]: node_id %q is not a valid node ID", i, p.NodeID))
		}
		self = self || p.NodeID == fc.NodeID
	}
	if len(fc.Peers) > 0 && !self {
		errs = append(errs, fmt.Errorf("peers must include this node (%s)", fc.NodeID))
	}
	for i, c := range fc.Courts {
		if !evidence.ValidCourtID(c.Court) || len(c.keyFiles()) == 0 || len(c.Endpoints) == 0 {
			errs = append(errs, fmt.Errorf("courts[%d] needs a valid court ID, key_file (or key_files) and endpoints", i))
		}
		if c.Court == fc.Court {
			errs = append(errs, fmt.Errorf("courts[%d] is this court", i))
		}
	}
	if fc.ForwardTimeout != "" {
		if d, err := time.ParseDuration(fc.ForwardTimeout); err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("forward_timeout %q is not a positive duration", fc.ForwardTimeout))
		}
	}
	if fc.MaxPending < 0 {
		errs = append(errs, fmt.Errorf("max_pending %d is negative; leave it out (or 0) for the default", fc.MaxPending))
	}
	if fc.SyncInterval != "" {
		if d, err := time.ParseDuration(fc.SyncInterval); err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("sync_interval %q is not a positive duration", fc.SyncInterval))
		}
	}
	if err := certpdf.CheckVerifyURL(fc.PublicURL); err != nil {
		errs = append(errs, fmt.Errorf("public_url %w", err))
	}
	for i, t := range fc.TSA {
		errs = append(errs, t.validate(i)...)
	}
	if fc.Bootstrap && len(fc.Peers) == 0 {
		errs = append(errs, errors.New("bootstrap needs peers"))
	}
	errs = append(errs, fc.FileSecurity.validate()...) // security hook
	if len(errs) > 0 {
		return fmt.Errorf("court: config: %w", errors.Join(errs...))
	}
	return nil
}

// readPublicKeys reads the court's public keys from PEM files.
func readPublicKeys(court string, paths []string) ([]*sm2.PublicKey, error) {
	var out []*sm2.PublicKey
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("court: key of %s: %w", court, err)
		}
		pub, err := sm2.ParsePublicKeyPEM(b)
		if err != nil {
			return nil, fmt.Errorf("court: key of %s in %s: %w", court, path, err)
		}
		out = append(out, pub)
	}
	return out, nil
}

// NodeConfig turns a file configuration into a node's: it reads the court
// key. Peers default to this node alone.
func (fc FileConfig) NodeConfig(log *slog.Logger) (Config, error) {
	key, err := LoadCourtKey(fc.CourtKeyFile, fc.CourtKeyPasswordEnv) // security hook: 0600, encrypted PEM
	if err != nil {
		return Config{}, err
	}
	sec, err := fc.FileSecurity.security()
	if err != nil {
		return Config{}, err
	}
	cfg := Config{Security: sec,
		Court: fc.Court, NodeID: fc.NodeID, DataDir: fc.DataDir, RaftAddr: fc.RaftAddr,
		GRPCAddr: fc.GRPCAddr, HTTPAddr: fc.HTTPAddr, MetricsAddr: fc.MetricsAddr, CourtKey: key, Bootstrap: fc.Bootstrap,
		MaxRequestBytes: fc.MaxRequestBytes, Logger: log, PublicURL: fc.PublicURL, MaxPending: fc.MaxPending,
	}
	for _, p := range fc.Peers {
		cfg.Peers = append(cfg.Peers, Peer{NodeID: p.NodeID, RaftAddr: p.RaftAddr, GRPCAddr: p.GRPCAddr})
	}
	if len(cfg.Peers) == 0 {
		cfg.Peers = []Peer{{NodeID: fc.NodeID, RaftAddr: fc.RaftAddr, GRPCAddr: fc.GRPCAddr}}
	}
	if cfg.PreviousKeys, err = readPublicKeys(fc.Court, fc.PreviousKeyFiles); err != nil {
		return Config{}, err
	}
	for _, c := range fc.Courts {
		keys, err := readPublicKeys(c.Court, c.keyFiles())
		if err != nil {
			return Config{}, err
		}
		cfg.Courts = append(cfg.Courts, witness.OtherCourt{Court: c.Court, Endpoints: c.Endpoints, Key: keys[0], Keys: keys[1:]})
	}
	if fc.ForwardTimeout != "" {
		cfg.ForwardTimeout, _ = time.ParseDuration(fc.ForwardTimeout) // validated
	}
	for _, d := range fc.DialVia {
		if cfg.DialVia == nil {
			cfg.DialVia = map[string]string{}
		}
		cfg.DialVia[d.Addr] = d.Via
	}
	if fc.SyncInterval != "" {
		cfg.Sync.Interval, _ = time.ParseDuration(fc.SyncInterval) // validated
	}
	for _, t := range fc.TSA {
		tc, err := t.load()
		if err != nil {
			return Config{}, err
		}
		cfg.TSA = append(cfg.TSA, tc)
	}
	return cfg, nil
}
