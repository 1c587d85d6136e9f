package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// TestNineMachines follows docs/deploy.md as written, on nine machines made
// of network namespaces: init from the page's own spec (hosts 10.0.0.1 to
// 10.2.0.3, the same ports on every machine), each node's files "copied to"
// /etc/courtd on its machine (a bind mount in that node's mount namespace,
// so the generated paths are used as they are), data in /var/lib/courtd,
// and the operator's commands of section 4 from a tenth machine. Then
// Hangzhou's three machines go down and Beijing still verifies what
// Hangzhou filed. Loopback cannot show a node that binds or certifies the
// wrong address; separate hosts do.
//
// It needs root (namespaces, mounts) and iproute2, and skips without them.
func TestNineMachines(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network and mount namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip")
	}
	courtd, ctl := binaries(t)
	tag := fmt.Sprintf("cl%d", os.Getpid()%100000)
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	// A switch: one namespace holding a bridge every machine's link joins.
	sw := tag + "-sw"
	if out, err := exec.Command("ip", "netns", "add", sw).CombinedOutput(); err != nil {
		t.Skipf("cannot make a network namespace here: %v: %s", err, out)
	}
	var made []string
	t.Cleanup(func() {
		for _, ns := range append(made, sw) {
			exec.Command("ip", "netns", "del", ns).Run()
		}
	})
	sh("ip", "-n", sw, "link", "add", "br0", "type", "bridge")
	sh("ip", "-n", sw, "link", "set", "br0", "up")
	machine := func(name, addr string) string {
		ns := tag + "-" + name
		sh("ip", "netns", "add", ns)
		made = append(made, ns)
		in, out := fmt.Sprintf("v%di", len(made)), fmt.Sprintf("v%do", len(made))
		sh("ip", "link", "add", in, "netns", ns, "type", "veth", "peer", "name", out, "netns", sw)
		sh("ip", "-n", sw, "link", "set", out, "master", "br0", "up")
		sh("ip", "-n", ns, "addr", "add", addr+"/8", "dev", in)
		sh("ip", "-n", ns, "link", "set", in, "up")
		sh("ip", "-n", ns, "link", "set", "lo", "up")
		return ns
	}

	// The spec of docs/deploy.md, section 1, without its TSA (no national
	// TSA here).
	page, err := os.ReadFile("../../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## 1\\. The spec.*?```yaml\n(.*?)```").FindSubmatch(page)
	if m == nil {
		t.Fatal("no yaml block in section 1 of docs/deploy.md")
	}
	spec := regexp.MustCompile(`(?s)\ntsa:.*`).ReplaceAllString(string(m[1]), "\n")
	work := t.TempDir()
	specFile, out := filepath.Join(work, "deploy.yaml"), filepath.Join(work, "deploy")
	os.WriteFile(specFile, []byte(spec), 0o600)
	if o, code := run(t, nil, courtd, "init", "--spec", specFile, "--out", out); code != 0 {
		t.Fatalf("init: exit %d: %s", code, o)
	}
	s, err := loadSpec(specFile)
	if err != nil {
		t.Fatal(err)
	}

	// Each machine: its node's directory is its /etc/courtd, an empty
	// directory its /var/lib/courtd, and nothing else of this machine's /etc
	// or /var/lib (courtd needs none of it).
	procs := map[string]*proc{}
	nsOf := map[string]string{}
	for _, c := range s.Courts {
		for _, n := range c.Nodes {
			ns := machine(n.Name, n.Host)
			nsOf[n.Name] = ns
			root := filepath.Join(work, "machines", n.Name)
			etc, lib := filepath.Join(root, "etc"), filepath.Join(root, "var-lib")
			sh("mkdir", "-p", etc, filepath.Join(lib, "courtd"))
			sh("cp", "-a", filepath.Join(out, c.Prefix, n.Name), filepath.Join(etc, "courtd"))
			sh("chmod", "0700", filepath.Join(etc, "courtd"), filepath.Join(lib, "courtd"))
			procs[n.Name] = startProc(t, "ip", "netns", "exec", ns, "sh", "-c",
				`mount --bind "$1" /etc && mount --bind "$2" /var/lib && exec "$3" run --config /etc/courtd/node.yaml`,
				"sh", etc, lib, courtd)
		}
	}
	opNS := machine("operator", "10.9.0.1")
	op := filepath.Join(out, "operator")
	env := []string{"EVIDENCECTL_CA=" + filepath.Join(op, "ca.pem"), "EVIDENCECTL_TRUST=" + filepath.Join(op, "trust.txt")}
	var last string // the operator's last output, shown if the test fails
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the operator's last command printed:\n%s", last)
		}
	})
	opRun := func(args ...string) (string, int) {
		o, code := run(t, env, "ip", append([]string{"netns", "exec", opNS, ctl}, args...)...)
		last = fmt.Sprintf("evidencectl %s: exit %d\n%s", strings.Join(args, " "), code, o)
		return o, code
	}
	admin := "--cert=" + filepath.Join(op, "admin.pem")
	first := func(c specCourt) string { return c.Nodes[0].addr(c.Nodes[0].GRPC) }

	// Section 4, as the operator.
	waitForProc(t, "Hangzhou's three nodes ready", procs["hz-1"], func() bool {
		o, code := opRun("cluster", "status", "--server", "10.0.0.1:8100", admin)
		return code == 0 && strings.Count(o, " yes\n") >= 3
	})
	for _, c := range s.Courts {
		waitForProc(t, "platform registered at "+c.ID, procs[c.Nodes[0].Name], func() bool {
			_, code := opRun("platform", "register", "platform.example", "--public-key", filepath.Join(op, "platform.pub.pem"),
				"--server", first(c), admin)
			return code == 0
		})
	}
	// Prometheus, on the operator's machine, with the configuration init
	// wrote and the alert rules beside it: valid, and every target answers.
	cfg := filepath.Join(op, "prometheus.yml")
	if rules, err := os.ReadFile("../../docs/prometheus/alerts.yml"); err != nil {
		t.Fatal(err)
	} else {
		os.WriteFile(filepath.Join(op, "alerts.yml"), rules, 0o644)
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		if o, code := run(t, nil, promtool, "check", "config", cfg); code != 0 {
			t.Fatalf("promtool check config %s: exit %d: %s", cfg, code, o)
		}
	}
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	targets := regexp.MustCompile(`"(10\.[0-9.]+:9464)"`).FindAllStringSubmatch(string(b), -1)
	if len(targets) != 9 {
		t.Fatalf("%d targets in %s, want 9:\n%s", len(targets), cfg, b)
	}
	for _, tg := range targets {
		o, code := run(t, nil, "ip", "netns", "exec", opNS, "curl", "-fsS", "http://"+tg[1]+"/metrics")
		if code != 0 || !strings.Contains(o, "courtledger_ready{") {
			t.Fatalf("scrape %s from the operator's machine: exit %d: %.300s", tg[1], code, o)
		}
	}
	if o, code := opRun("sync", "status", "--server", "10.0.0.1:8100", admin); code != 0 {
		t.Fatalf("sync status: exit %d: %s", code, o)
	}
	// courtd status on a node's machine, with the admin's certificate.
	o, code := run(t, nil, "ip", "netns", "exec", nsOf["hz-2"], "sh", "-c",
		`mount --bind "$1" /etc && exec "$2" status --config /etc/courtd/node.yaml --cert "$3"`,
		"sh", filepath.Join(work, "machines", "hz-2", "etc"), courtd, filepath.Join(op, "admin.pem"))
	if code != 0 || !strings.Contains(o, "10.0.0.3") {
		t.Fatalf("courtd status on hz-2: exit %d:\n%s", code, o)
	}
	t.Logf("courtd status on hz-2:\n%s", o)

	file := filepath.Join(work, "evidence.txt")
	os.WriteFile(file, []byte("filed at Hangzhou, on its own machines"), 0o644)
	if o, code := opRun("submit", "--server", "10.0.0.1:8100", "--cert", filepath.Join(op, "platform.pem"),
		"--platform", "platform.example", "--key", filepath.Join(op, "platform.key.pem"), file); code != 0 {
		t.Fatalf("submit: exit %d: %s", code, o)
	}
	judge := "--cert=" + filepath.Join(op, "judge.pem")
	// Both other courts mirror the filing before Hangzhou goes down: what
	// they verify then is from their own mirrors.
	for _, c := range []struct{ name, server, proc string }{{"Beijing", "10.1.0.1:8100", "bj-1"}, {"Guangzhou", "10.2.0.1:8100", "gz-1"}} {
		waitForProc(t, c.name+" to verify Hangzhou's filing", procs[c.proc], func() bool {
			o, code := opRun("verify", "--server", c.server, judge, file)
			return code == 0 && strings.HasPrefix(o, "VALID")
		})
	}
	for _, n := range s.Courts[0].Nodes {
		procs[n.Name].cmd.Process.Signal(syscall.SIGTERM)
		procs[n.Name].cmd.Wait()
	}
	if o, code := opRun("verify", "--server", "10.1.0.2:8100", judge, file); code != 0 || !strings.HasPrefix(o, "VALID") {
		t.Fatalf("verify at Beijing with Hangzhou's machines down: exit %d: %s", code, o)
	}
	if o, code := opRun("verify", "--server", "10.2.0.3:8100", judge, file); code != 0 || !strings.HasPrefix(o, "VALID") {
		t.Fatalf("verify at Guangzhou with Hangzhou's machines down: exit %d: %s", code, o)
	}
}
