package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/courtledger/courtledger/court"
)

func TestInitSpecValidation(t *testing.T) {
	good := func() deploySpec { return localSpec(21000) }
	cases := []struct {
		name   string
		change func(*deploySpec)
		want   string
	}{
		{"no courts", func(s *deploySpec) { s.Courts = nil }, "no courts"},
		{"bad court ID", func(s *deploySpec) { s.Courts[1].ID = "not a court" }, `courts[1]: id "not a court" is not a valid court ID`},
		{"same court twice", func(s *deploySpec) { s.Courts[2].ID = s.Courts[0].ID }, "listed twice"},
		{"same prefix", func(s *deploySpec) { s.Courts[1].Prefix = "hz" }, `prefix "hz" is taken`},
		{"prefix with a slash", func(s *deploySpec) { s.Courts[1].Prefix = "a/b" }, "must be a short name"},
		{"even nodes", func(s *deploySpec) { s.Courts[0].Nodes = s.Courts[0].Nodes[:2] }, "2 nodes: a court needs an odd number"},
		{"same node name", func(s *deploySpec) { s.Courts[1].Nodes[0].Name = "hz-1" }, "node name hz-1 is used twice"},
		{"bad node name", func(s *deploySpec) { s.Courts[0].Nodes[0].Name = "../x" }, "not a valid node name"},
		{"no host", func(s *deploySpec) { s.Courts[0].Nodes[1].Host = "" }, "host is missing"},
		{"same port", func(s *deploySpec) { s.Courts[0].Nodes[1].GRPC = s.Courts[0].Nodes[0].Raft }, "127.0.0.1:21000 is also courts[0].nodes[0] raft"},
		{"port out of range", func(s *deploySpec) { s.Courts[2].Nodes[2].HTTP = 70000 }, "http port 70000 is not from 1 to 65535"},
		{"http public URL", func(s *deploySpec) { s.Courts[0].PublicURL = "http://x" }, "must start with https://"},
		{"TSA without roots", func(s *deploySpec) { s.TSA = []specTSA{{URL: "https://tsa.example/"}} }, "tsa[0] needs url and roots_file"},
	}
	if err := good().validate(); err != nil {
		t.Fatalf("the local spec: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := good()
			c.change(&s)
			out := filepath.Join(t.TempDir(), "out")
			_, err := generate(s, initOptions{out: out, local: true})
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want a usage error with %q", err, c.want)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a refused spec wrote %s", out)
			}
		})
	}
}

// A generated deployment: every node's configuration loads and its keys
// and certificates parse; secrets are 0600; the users' tokens stay with
// the operator (only their hashes reach the nodes); a second init into
// the same directory changes nothing.
func TestInitLocalDeployment(t *testing.T) {
	out := filepath.Join(t.TempDir(), "deploy")
	d, err := generate(localSpec(21000), initOptions{out: out, local: true})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var tokens []string
	for _, role := range []string{"admin", "judge", "lawyer"} {
		b, err := os.ReadFile(filepath.Join(out, "operator", role+".token"))
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, strings.TrimSpace(string(b)))
	}
	n := 0
	for _, c := range d.courts {
		for _, node := range c.nodes {
			n++
			fc, err := court.LoadConfig(node.config, nil)
			if err != nil {
				t.Fatalf("%s: %v", node.config, err)
			}
			cfg, err := fc.NodeConfig(log)
			if err != nil {
				t.Fatalf("%s: %v", node.config, err)
			}
			if cfg.Court != c.id || cfg.NodeID != node.name || len(cfg.Peers) != 3 || len(cfg.Courts) != 2 || !cfg.Bootstrap {
				t.Fatalf("%s: court %s node %s, %d peers, %d other courts, bootstrap %v", node.config, cfg.Court, cfg.NodeID, len(cfg.Peers), len(cfg.Courts), cfg.Bootstrap)
			}
			if len(fc.Tokens) != 3 {
				t.Fatalf("%s: %d token hashes, want 3", node.config, len(fc.Tokens))
			}
			for _, f := range []string{"court.key.pem", "node.pem", "node.yaml"} {
				st, err := os.Stat(filepath.Join(node.dir, f))
				if err != nil || st.Mode().Perm() != 0o600 {
					t.Fatalf("%s/%s: %v, mode %v, want 0600", node.dir, f, err, st.Mode().Perm())
				}
			}
			entries, _ := os.ReadDir(node.dir)
			for _, e := range entries {
				if e.IsDir() {
					continue
				}
				b, _ := os.ReadFile(filepath.Join(node.dir, e.Name()))
				for _, tok := range tokens {
					if strings.Contains(string(b), tok) {
						t.Fatalf("%s/%s holds a user's token", node.dir, e.Name())
					}
				}
				if strings.HasSuffix(e.Name(), ".token") || e.Name() == "ca.key" {
					t.Fatalf("%s: %s is the operator's, not a node's", node.dir, e.Name())
				}
			}
		}
	}
	if n != 9 {
		t.Fatalf("%d nodes, want 9", n)
	}
	before, _ := os.ReadFile(filepath.Join(out, "hz", "hz-1", "court.key.pem"))
	if _, err := generate(localSpec(21000), initOptions{out: out, local: true}); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "never overwrites") {
		t.Fatalf("second init: %v, want a refusal", err)
	}
	after, _ := os.ReadFile(filepath.Join(out, "hz", "hz-1", "court.key.pem"))
	if string(before) != string(after) {
		t.Fatal("a refused init changed a court key")
	}
}

// A spec for machines: paths are the target machine's, the TSA's roots
// are copied to every node, the operator's CA signs, and the unit file
// passes systemd-analyze verify where systemd is installed.
func TestInitSpecForMachines(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca")
	if _, err := generate(localSpec(21000), initOptions{out: filepath.Join(dir, "first"), local: true}); err != nil {
		t.Fatal(err)
	}
	os.Rename(filepath.Join(dir, "first", "operator", "ca"), ca)
	caPEM, _ := os.ReadFile(filepath.Join(ca, "ca.pem"))
	os.WriteFile(filepath.Join(dir, "tsa-root.pem"), caPEM, 0o644) // any PEM certificate stands for a TSA root here
	spec := fmt.Sprintf(`courts:
  - id: hangzhou.court.example/evidence
    prefix: hz
    public_url: https://evidence.hangzhou.court.example
    nodes:
      - {name: hz-1, host: 10.0.0.1, raft: 7100, grpc: 8100, http: 9100}
      - {name: hz-2, host: 10.0.0.2, raft: 7100, grpc: 8100, http: 9100}
      - {name: hz-3, host: 10.0.0.3, raft: 7100, grpc: 8100, http: 9100}
  - id: beijing.court.example/evidence
    prefix: bj
    nodes:
      - {name: bj-1, host: 10.1.0.1, raft: 7100, grpc: 8100, http: 9100}
tsa:
  - {url: "https://tsa.example/tsa", roots_file: %s}
`, filepath.Join(dir, "tsa-root.pem"))
	specFile := filepath.Join(dir, "deploy.yaml")
	os.WriteFile(specFile, []byte(spec), 0o644)
	root := newRoot()
	var buf strings.Builder
	root.SetOut(&buf)
	out := filepath.Join(dir, "out")
	root.SetArgs([]string{"init", "--spec", specFile, "--out", out, "--ca-dir", ca})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "copy "+filepath.Join(out, "hz", "hz-2")+"/* to 10.0.0.2:/etc/courtd/") {
		t.Fatalf("no copy line for hz-2:\n%s", buf.String())
	}
	yaml, _ := os.ReadFile(filepath.Join(out, "hz", "hz-2", "node.yaml"))
	for _, want := range []string{"data_dir: /var/lib/courtd\n", "court_key_file: /etc/courtd/court.key.pem", `raft_addr: "10.0.0.2:7100"`,
		"key_file: /etc/courtd/bj.pub.pem", `endpoints: ["10.1.0.1:8100"]`, `{url: "https://tsa.example/tsa", roots_file: /etc/courtd/tsa-root.pem}`,
		"public_url: https://evidence.hangzhou.court.example"} {
		if !strings.Contains(string(yaml), want) {
			t.Errorf("hz-2's node.yaml lacks %q:\n%s", want, yaml)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(out, "hz", "hz-2", "ca.pem")); string(got) != string(caPEM) {
		t.Error("the nodes do not trust the operator's CA")
	}
	if _, err := os.Stat(filepath.Join(out, "hz", "hz-2", "tsa-root.pem")); err != nil {
		t.Error(err)
	}
	unit, _ := os.ReadFile(filepath.Join(out, "hz", "hz-2", "courtd.service"))
	for _, want := range []string{"User=courtd", "ProtectSystem=strict", "ReadWritePaths=/var/lib/courtd", "NoNewPrivileges=true",
		"PrivateTmp=true", "ProtectHome=true", "CapabilityBoundingSet=\n", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
		"ExecStart=/usr/local/bin/courtd run --config /etc/courtd/node.yaml"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("the unit lacks %q", want)
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is not installed: the unit file is not verified")
		return
	}
	// The unit as installed, but for ExecStart: courtd is not installed
	// here, and verify checks that the binary exists.
	self, _ := os.Executable()
	unitFile := filepath.Join(dir, "courtd.service")
	os.WriteFile(unitFile, []byte(strings.Replace(string(unit), "/usr/local/bin/courtd", self, 1)), 0o644)
	if b, err := exec.Command(analyze, "verify", unitFile).CombinedOutput(); err != nil || len(strings.TrimSpace(string(b))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, b)
	}
}

// The generated deployment runs: nine processes from the node.yaml files,
// evidence filed at Hangzhou is verified at Beijing, and still is with
// Hangzhou's three processes stopped.
func TestInitDeploymentRunsOnLoopback(t *testing.T) {
	courtd, ctl := binaries(t)
	out := filepath.Join(t.TempDir(), "deploy")
	if o, code := run(t, nil, courtd, "init", "--local", "--out", out, "--base-port", fmt.Sprint(freeDemoBase(t))); code != 0 {
		t.Fatalf("init: exit %d: %s", code, o)
	}
	d, err := existingDeployment(out)
	if err != nil {
		t.Fatal(err)
	}
	procs := map[string]*proc{}
	for _, c := range d.courts {
		for _, n := range c.nodes {
			procs[n.name] = startProc(t, courtd, "run", "--config", n.config)
		}
	}
	op := filepath.Join(out, "operator")
	env := []string{"EVIDENCECTL_TRUST=" + filepath.Join(op, "trust.txt"), "EVIDENCECTL_CA=" + filepath.Join(op, "ca.pem")}
	for _, c := range d.courts {
		waitForProc(t, "platform registered at "+c.id, procs[c.nodes[0].name], func() bool {
			_, code := run(t, env, ctl, "platform", "register", "platform.example", "--server", c.nodes[0].grpc,
				"--cert", filepath.Join(op, "admin.pem"), "--public-key", filepath.Join(op, "platform.pub.pem"))
			return code == 0
		})
	}
	file := filepath.Join(t.TempDir(), "evidence.txt")
	os.WriteFile(file, []byte("evidence filed in a generated deployment"), 0o644)
	hz, bj := d.courts[0], d.courts[1]
	if o, code := run(t, env, ctl, "submit", "--server", hz.nodes[0].grpc, "--cert", filepath.Join(op, "platform.pem"),
		"--platform", "platform.example", "--key", filepath.Join(op, "platform.key.pem"), file); code != 0 {
		t.Fatalf("submit: exit %d: %s", code, o)
	}
	judge := "--cert=" + filepath.Join(op, "judge.pem")
	verifyEventually(t, env, ctl, "verify", "--server", bj.nodes[0].grpc, judge, file)
	for _, n := range hz.nodes {
		procs[n.name].cmd.Process.Signal(syscall.SIGTERM)
		procs[n.name].cmd.Wait()
	}
	if o, code := run(t, env, ctl, "verify", "--server", bj.nodes[1].grpc, judge, file); code != 0 || !strings.HasPrefix(o, "VALID") {
		t.Fatalf("verify at Beijing with Hangzhou down: exit %d: %s", code, o)
	}
}

// Whatever a spec file holds, loading and checking it does not panic, and
// a spec that passes has valid, unique court IDs, node names and
// listeners.
func FuzzInitSpec(f *testing.F) {
	f.Add([]byte("courts:\n  - id: hangzhou.court.example/evidence\n    prefix: hz\n    nodes:\n      - {name: hz-1, host: 10.0.0.1, raft: 7100, grpc: 8100, http: 9100}\n"))
	f.Add([]byte("courts:\n  - id: a.example/x\n    prefix: a\n    nodes: [{name: a, host: h, raft: 1, grpc: 1, http: 2}]\n"))
	f.Add([]byte("tsa: [{url: x}]\n"))
	f.Add([]byte("courts: 7\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "spec.yaml")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := loadSpec(path)
		if err != nil || s.validate() != nil {
			return
		}
		addrs, names := map[string]bool{}, map[string]bool{}
		for _, c := range s.Courts {
			for _, n := range c.Nodes {
				if names[n.Name] {
					t.Fatalf("node %s twice in a valid spec", n.Name)
				}
				names[n.Name] = true
				for _, p := range []int{n.Raft, n.GRPC, n.HTTP} {
					if a := n.addr(p); addrs[a] {
						t.Fatalf("%s twice in a valid spec", a)
					} else {
						addrs[a] = true
					}
				}
			}
		}
	})
}
