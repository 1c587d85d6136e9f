package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/cobra"

	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/devca"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/evidence"
)

// deploySpec is the short description `courtd init` turns into a
// deployment: the courts, their nodes and where each listens.
//
//	courts:
//	  - id: hangzhou.court.example/evidence
//	    prefix: hz                      # directory name and node name prefix
//	    public_url: https://evidence.hangzhou.court.example
//	    nodes:
//	      - {name: hz-1, host: 10.0.0.1, raft: 7100, grpc: 8100, http: 9100}
//	tsa:
//	  - {url: https://tsa.example/tsa, roots_file: /path/on/this/machine/tsa-root.pem}
type deploySpec struct {
	Courts []specCourt `koanf:"courts"`
	TSA    []specTSA   `koanf:"tsa"`
}

type specCourt struct {
	ID        string     `koanf:"id"`
	Prefix    string     `koanf:"prefix"`
	PublicURL string     `koanf:"public_url"`
	Nodes     []specNode `koanf:"nodes"`
}

type specNode struct {
	Name string `koanf:"name"`
	Host string `koanf:"host"`
	Raft int    `koanf:"raft"`
	GRPC int    `koanf:"grpc"`
	HTTP int    `koanf:"http"`
	// Metrics, optional: a plain-HTTP listener serving only /metrics,
	// without credentials, for Prometheus (metrics_addr).
	Metrics int `koanf:"metrics"`
}

// specTSA names a time-stamping authority; roots_file is read on the
// operator's machine and copied to every node as tsa-root.pem.
type specTSA struct {
	URL       string `koanf:"url"`
	RootsFile string `koanf:"roots_file"`
}

func (n specNode) addr(port int) string { return net.JoinHostPort(n.Host, strconv.Itoa(port)) }

// loadSpec reads a deployment spec file.
func loadSpec(path string) (deploySpec, error) {
	k := koanf.New("|") // not '.': court IDs and hosts have dots
	if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
		return deploySpec{}, fmt.Errorf("spec %s: %w", path, err)
	}
	var s deploySpec
	if err := k.UnmarshalWithConf("", &s, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		return deploySpec{}, fmt.Errorf("spec %s: %w", path, err)
	}
	return s, nil
}

// localSpec is the demo's three courts of three nodes on 127.0.0.1, on
// the demo's ports from base (demoPorts).
func localSpec(base int) deploySpec {
	var s deploySpec
	for ci, c := range demoCourts {
		sc := specCourt{ID: c.id, Prefix: c.prefix}
		for i := range 3 {
			p := base + 10*ci + i
			// Metrics at the Raft port + 5, as the in-process demo: a gap
			// in the demo's ports.
			sc.Nodes = append(sc.Nodes, specNode{Name: demoNodeID(c.prefix, i), Host: "127.0.0.1", Raft: p, GRPC: p + 1000, HTTP: p + 2000, Metrics: p + 5})
		}
		sc.PublicURL = "https://" + sc.Nodes[0].addr(sc.Nodes[0].HTTP)
		s.Courts = append(s.Courts, sc)
	}
	return s
}

// validate reports every mistake of the spec at once, each with its fix.
func (s deploySpec) validate() error {
	var errs []error
	if len(s.Courts) == 0 {
		errs = append(errs, errors.New("no courts: list at least one under courts:"))
	}
	ids, prefixes, names, addrs := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]string{}
	for ci, c := range s.Courts {
		where := fmt.Sprintf("courts[%d]", ci)
		if !evidence.ValidCourtID(c.ID) {
			errs = append(errs, fmt.Errorf("%s: id %q is not a valid court ID: use a host name and path, e.g. hangzhou.court.example/evidence", where, c.ID))
		} else if ids[c.ID] {
			errs = append(errs, fmt.Errorf("%s: court %s is listed twice: give each court once", where, c.ID))
		}
		ids[c.ID] = true
		if c.Prefix == "" || !access.ValidNodeID(c.Prefix) || strings.ContainsAny(c.Prefix, "./") {
			errs = append(errs, fmt.Errorf("%s: prefix %q must be a short name of letters, digits, '-' or '_' (e.g. hz): it names the court's directory", where, c.Prefix))
		} else if prefixes[c.Prefix] || c.Prefix == "operator" {
			errs = append(errs, fmt.Errorf("%s: prefix %q is taken: give each court its own", where, c.Prefix))
		}
		prefixes[c.Prefix] = true
		if c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "https://") {
			errs = append(errs, fmt.Errorf("%s: public_url %q must start with https://", where, c.PublicURL))
		}
		if len(c.Nodes) == 0 || len(c.Nodes)%2 == 0 {
			errs = append(errs, fmt.Errorf("%s: %d nodes: a court needs an odd number (3 or 5) so that a majority survives a failure", where, len(c.Nodes)))
		}
		for ni, n := range c.Nodes {
			nw := fmt.Sprintf("%s.nodes[%d]", where, ni)
			if !access.ValidNodeID(n.Name) {
				errs = append(errs, fmt.Errorf("%s: name %q is not a valid node name (1 to 64 letters, digits, '.', '_', '-')", nw, n.Name))
			} else if names[n.Name] {
				errs = append(errs, fmt.Errorf("%s: node name %s is used twice: node names must be unique across the deployment", nw, n.Name))
			}
			names[n.Name] = true
			if n.Host == "" {
				errs = append(errs, fmt.Errorf("%s: host is missing: give the address other machines reach it at", nw))
			}
			for _, p := range []struct {
				name string
				port int
			}{{"raft", n.Raft}, {"grpc", n.GRPC}, {"http", n.HTTP}, {"metrics", n.Metrics}} {
				if p.name == "metrics" && p.port == 0 {
					continue // optional
				}
				if p.port < 1 || p.port > 65535 {
					errs = append(errs, fmt.Errorf("%s: %s port %d is not from 1 to 65535", nw, p.name, p.port))
					continue
				}
				a := n.addr(p.port)
				if other, ok := addrs[a]; ok {
					errs = append(errs, fmt.Errorf("%s: %s address %s is also %s: give each listener its own port", nw, p.name, a, other))
				}
				addrs[a] = nw + " " + p.name
			}
		}
	}
	for i, t := range s.TSA {
		if t.URL == "" || t.RootsFile == "" {
			errs = append(errs, fmt.Errorf("tsa[%d] needs url and roots_file (the TSA's root certificates, PEM)", i))
		}
	}
	return errors.Join(errs...)
}

// initOptions shape a generated deployment.
type initOptions struct {
	out   string
	caDir string // the operator's CA (ca.pem, ca.key); empty: make one
	// local: every path inside out, so that the nodes run in place;
	// otherwise /etc/courtd and /var/lib/courtd on each machine.
	local bool
}

// deployment is what init wrote: what the demo and the tests start.
type deployment struct {
	out    string
	courts []deployCourt
}

type deployCourt struct {
	id, prefix string
	nodes      []deployNode
}

type deployNode struct {
	name, dir, config, grpc, http string
}

var deployUsers = []struct {
	role access.Role
	id   string
}{
	{access.RoleAdmin, "admin"}, {access.RoleJudge, "judge"}, {access.RoleLawyer, "lawyer"}, {access.RolePlatform, "platform.example"},
}

// generate writes the deployment of spec into o.out, which must not exist.
func generate(spec deploySpec, o initOptions) (*deployment, error) {
	if err := spec.validate(); err != nil {
		return nil, fmt.Errorf("%w: the spec: %w", errUsage, err)
	}
	if _, err := os.Stat(o.out); err == nil {
		return nil, fmt.Errorf("%w: %s exists: init writes new keys and tokens and never overwrites them; remove it or give another --out", errUsage, o.out)
	}
	out, err := filepath.Abs(o.out)
	if err != nil {
		return nil, err
	}
	var ca *devca.CA
	opDir := filepath.Join(out, "operator")
	if o.caDir != "" {
		for _, f := range []string{"ca.pem", "ca.key"} {
			if _, err := os.Stat(filepath.Join(o.caDir, f)); err != nil {
				return nil, fmt.Errorf("%w: --ca-dir %s: %w: it must hold the CA's ca.pem and its key ca.key (PKCS#8 PEM, mode 0600)", errUsage, o.caDir, err)
			}
		}
		if ca, err = devca.LoadOrCreate(o.caDir); err != nil {
			return nil, fmt.Errorf("--ca-dir %s: %w", o.caDir, err)
		}
	}
	var tsaRoots []byte
	for _, t := range spec.TSA {
		b, err := os.ReadFile(t.RootsFile)
		if err != nil {
			return nil, fmt.Errorf("%w: tsa roots_file: %w", errUsage, err)
		}
		tsaRoots = append(tsaRoots, b...)
	}
	if err := os.MkdirAll(opDir, 0o700); err != nil {
		return nil, err
	}
	if ca == nil {
		if ca, err = devca.LoadOrCreate(filepath.Join(opDir, "ca")); err != nil {
			return nil, err
		}
	}
	// The operator's side: tokens (only their hashes go to the nodes) and
	// users' certificates.
	var tokens strings.Builder
	for _, u := range deployUsers {
		if _, err := ca.IssueFile(opDir, string(u.role), access.Identity{Role: u.role, ID: u.id}); err != nil {
			return nil, err
		}
		if u.role == access.RolePlatform {
			continue
		}
		tok, rule := newToken(access.Identity{Role: u.role, ID: u.id})
		if err := os.WriteFile(filepath.Join(opDir, string(u.role)+".token"), []byte(tok+"\n"), 0o600); err != nil {
			return nil, err
		}
		fmt.Fprintf(&tokens, "  - {sha256: %s, role: %s, id: %s}\n", rule.Hash, rule.Identity.Role, rule.Identity.ID)
	}
	// A platform's SM2 signing key, for a first submission: register it
	// with evidencectl platform register (docs/deploy.md).
	platform, err := sm2.GenerateKey()
	if err != nil {
		return nil, err
	}
	platformPEM, err := platform.MarshalPEM()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(opDir, "platform.key.pem"), platformPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(opDir, "platform.pub.pem"), platform.Public().MarshalPEM(), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(opDir, "ca.pem"), ca.CertPEM(), 0o644); err != nil {
		return nil, err
	}
	keys := make([]*sm2.PrivateKey, len(spec.Courts))
	var trust []string
	for ci, c := range spec.Courts {
		if keys[ci], err = sm2.GenerateKey(); err != nil {
			return nil, err
		}
		v, err := checkpoint.NewVerifier(c.ID, keys[ci].Public())
		if err != nil {
			return nil, err
		}
		trust = append(trust, v.String())
	}
	trustFile := strings.Join(trust, "\n") + "\n"
	if len(tsaRoots) > 0 {
		trustFile += "# The time-stamping authorities' roots\n" + string(tsaRoots)
	}
	if err := os.WriteFile(filepath.Join(opDir, "trust.txt"), []byte(trustFile), 0o644); err != nil {
		return nil, err
	}
	if err := writePrometheusConfig(filepath.Join(opDir, "prometheus.yml"), spec); err != nil {
		return nil, err
	}
	d := &deployment{out: out}
	for ci, c := range spec.Courts {
		dc := deployCourt{id: c.ID, prefix: c.Prefix}
		keyPEM, err := keys[ci].MarshalPEM()
		if err != nil {
			return nil, err
		}
		var peers, courts strings.Builder
		var peerCourts []string
		for _, n := range c.Nodes {
			fmt.Fprintf(&peers, "  - {node_id: %s, raft_addr: %q, grpc_addr: %q}\n", n.Name, n.addr(n.Raft), n.addr(n.GRPC))
		}
		for oi, oc := range spec.Courts {
			if oi == ci {
				continue
			}
			var eps []string
			for _, n := range oc.Nodes {
				eps = append(eps, fmt.Sprintf("%q", n.addr(n.GRPC)))
			}
			fmt.Fprintf(&courts, "  - court: %s\n    key_file: {{etc}}/%s.pub.pem\n    endpoints: [%s]\n", oc.ID, oc.Prefix, strings.Join(eps, ", "))
			peerCourts = append(peerCourts, oc.ID)
		}
		for _, n := range c.Nodes {
			dir := filepath.Join(out, c.Prefix, n.Name)
			etc, data := "/etc/courtd", "/var/lib/courtd"
			if o.local {
				etc, data = dir, filepath.Join(dir, "data")
			}
			files := map[string][]byte{"court.key.pem": keyPEM, "ca.pem": ca.CertPEM(), "trust.txt": []byte(trustFile)}
			for oi, oc := range spec.Courts {
				if oi != ci {
					files[oc.Prefix+".pub.pem"] = keys[oi].Public().MarshalPEM()
				}
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, err
			}
			// The node's host in the certificate too: curl and browsers
			// check it (nodes and evidencectl check the URI SAN).
			hosts := []string{n.Host}
			if n.Host != "127.0.0.1" {
				hosts = append(hosts, "127.0.0.1")
			}
			if u, err := url.Parse(c.PublicURL); err == nil && u.Hostname() != "" && u.Hostname() != n.Host {
				hosts = append(hosts, u.Hostname())
			}
			nodePEM, err := ca.Issue(access.NodeIdentity(c.ID, n.Name), devca.IssueOptions{Hosts: append(hosts, "localhost")})
			if err != nil {
				return nil, err
			}
			files["node.pem"] = nodePEM
			var tsa strings.Builder
			if len(spec.TSA) > 0 {
				files["tsa-root.pem"] = tsaRoots
				tsa.WriteString("tsa:\n")
				for _, t := range spec.TSA {
					fmt.Fprintf(&tsa, "  - {url: %q, roots_file: %s/tsa-root.pem}\n", t.URL, etc)
				}
			}
			cfg := fmt.Sprintf("# Generated by courtd init: node %s of %s.\n"+
				"court: %s\nnode_id: %s\ndata_dir: %s\nraft_addr: %q\ngrpc_addr: %q\nhttp_addr: %q\n"+
				"court_key_file: {{etc}}/court.key.pem\n"+
				"# Every node bootstraps with the same peers: the first election forms the court;\n"+
				"# on later starts the Raft state on disk wins and bootstrap is a no-op.\n"+
				"bootstrap: true\npeers:\n%s"+
				"tls_cert_file: {{etc}}/node.pem\ntls_key_file: {{etc}}/node.pem\ntls_ca_file: {{etc}}/ca.pem\n"+
				"tokens:   # SHA-256 of the operator's tokens (operator/*.token stay on the operator's machine)\n%s",
				n.Name, c.ID, c.ID, n.Name, data, n.addr(n.Raft), n.addr(n.GRPC), n.addr(n.HTTP), peers.String(), tokens.String())
			if len(peerCourts) > 0 {
				cfg += fmt.Sprintf("peer_courts: [%s]\ncourts:\n%s", strings.Join(peerCourts, ", "), courts.String())
			}
			if c.PublicURL != "" {
				cfg += fmt.Sprintf("public_url: %s\n", c.PublicURL)
			}
			cfg += tsa.String()
			if n.Metrics != 0 {
				cfg += fmt.Sprintf("# /metrics without credentials: reachable by the monitoring network only.\nmetrics_addr: %q\n", n.addr(n.Metrics))
			}
			files["node.yaml"] = []byte(strings.ReplaceAll(cfg, "{{etc}}", etc))
			files["courtd.service"] = []byte(systemdUnit(etc, data))
			for name, b := range files {
				mode := os.FileMode(0o644)
				if name == "court.key.pem" || name == "node.yaml" || name == "node.pem" {
					mode = 0o600
				}
				if err := os.WriteFile(filepath.Join(dir, name), b, mode); err != nil {
					return nil, err
				}
			}
			dc.nodes = append(dc.nodes, deployNode{name: n.Name, dir: dir, config: filepath.Join(dir, "node.yaml"),
				grpc: n.addr(n.GRPC), http: n.addr(n.HTTP)})
		}
		d.courts = append(d.courts, dc)
	}
	return d, nil
}

// systemdUnit runs courtd as its own user, with the file system read-only
// but for the data directory: a compromised node can change nothing else.
func systemdUnit(etc, data string) string {
	return fmt.Sprintf(`[Unit]
Description=courtledger court node (courtd)
Documentation=https://github.com/courtledger/courtledger/blob/main/docs/deploy.md
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=courtd
Group=courtd
ExecStart=/usr/local/bin/courtd run --config %s/node.yaml
Restart=on-failure
RestartSec=5s
StateDirectory=courtd
StateDirectoryMode=0700
ReadWritePaths=%s
ProtectSystem=strict
ProtectHome=true
PrivateTmp=true
PrivateDevices=true
NoNewPrivileges=true
CapabilityBoundingSet=
AmbientCapabilities=
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=true
RestrictRealtime=true
RestrictSUIDSGID=true
LockPersonality=true
MemoryDenyWriteExecute=true
ProtectKernelTunables=true
ProtectKernelModules=true
ProtectKernelLogs=true
ProtectControlGroups=true
ProtectClock=true
ProtectHostname=true
SystemCallArchitectures=native
UMask=0077
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`, etc, data)
}

// printCopyTable says which directory goes to which machine.
func (d *deployment) printCopyTable(w io.Writer, spec deploySpec, local bool) {
	fmt.Fprintf(w, "Wrote a deployment of %d courts to %s.\n", len(d.courts), d.out)
	fmt.Fprintf(w, "Operator files (keep them here, never on a node): %s/operator/ (tokens, users' certificates, trust.txt, CA)\n\n", d.out)
	for ci, c := range d.courts {
		for ni, n := range c.nodes {
			if local {
				fmt.Fprintf(w, "  courtd run --config %s\n", n.config)
				continue
			}
			host := spec.Courts[ci].Nodes[ni].Host
			fmt.Fprintf(w, "  copy %s/* to %s:/etc/courtd/  (and courtd.service to /etc/systemd/system/)\n", n.dir, host)
		}
	}
}

func initCmd() *cobra.Command {
	var (
		specFile, out, caDir string
		local                bool
		base                 int
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write a deployment: keys, certificates, tokens, node.yaml and systemd units for every node",
		Long: `init turns a short spec (courts, their nodes and ports; see docs/deploy.md)
into everything a deployment needs, one directory per node under --out
(OUT/<court prefix>/<node>/) to copy to that machine's /etc/courtd/, and
OUT/operator/ with the tokens, users' certificates and trust file, which
stay on the operator's machine. --local makes the three demo courts on
127.0.0.1 with every path inside OUT, to run in place.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (specFile == "") == !local {
				return fmt.Errorf("%w: give --spec FILE, or --local for three courts on 127.0.0.1", errUsage)
			}
			if out == "" {
				return fmt.Errorf("%w: --out DIR is required: where to write the deployment", errUsage)
			}
			var spec deploySpec
			if local {
				if base < 1024 || base+10*(len(demoCourts)-1)+2+2000 > 65535 {
					return fmt.Errorf("%w: --base-port %d: pick a base from 1024 to %d", errUsage, base, 65535-2022)
				}
				spec = localSpec(base)
			} else {
				var err error
				if spec, err = loadSpec(specFile); err != nil {
					return fmt.Errorf("%w: %w", errUsage, err)
				}
			}
			d, err := generate(spec, initOptions{out: out, caDir: caDir, local: local})
			if err != nil {
				return err
			}
			d.printCopyTable(cmd.OutOrStdout(), spec, local)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&specFile, "spec", "", "the deployment's spec, YAML (docs/deploy.md)")
	f.StringVar(&out, "out", "", "directory to write (must not exist)")
	f.StringVar(&caDir, "ca-dir", "", "the operator's CA: a directory with ca.pem and ca.key (PKCS#8, 0600); default: make a new CA")
	f.BoolVar(&local, "local", false, "three courts of three nodes on 127.0.0.1, run in place")
	f.IntVar(&base, "base-port", 7100, "with --local: the first port (the demo's layout)")
	return cmd
}

// writePrometheusConfig writes a scrape configuration for every node that
// has a metrics port, with the alert rules of docs/prometheus/alerts.yml
// named beside it, or nothing when no node has one.
func writePrometheusConfig(path string, spec deploySpec) error {
	var targets strings.Builder
	for _, c := range spec.Courts {
		for _, n := range c.Nodes {
			if n.Metrics != 0 {
				fmt.Fprintf(&targets, "          - %q   # %s of %s\n", n.addr(n.Metrics), n.Name, c.ID)
			}
		}
	}
	if targets.Len() == 0 {
		return nil
	}
	return os.WriteFile(path, []byte("# Generated by courtd init: Prometheus scrapes every node's metrics_addr.\n"+
		"# Copy docs/prometheus/alerts.yml beside it for the alert rules (docs/operations.md).\n"+
		"global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\n"+
		"rule_files:\n  - alerts.yml\n"+
		"scrape_configs:\n  - job_name: courtledger\n    static_configs:\n      - targets:\n"+targets.String()), 0o644)
}
