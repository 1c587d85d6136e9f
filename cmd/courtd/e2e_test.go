package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/devca"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

// End-to-end tests: they build courtd and evidencectl and run them as
// processes on loopback, as an operator and a user would.

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func binaries(t *testing.T) (courtd, ctl string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test builds and runs binaries")
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "courtledger-e2e")
		if buildErr != nil {
			return
		}
		for _, p := range []string{"courtd", "evidencectl"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, p), "github.com/courtledger/courtledger/cmd/"+p).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", p, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "courtd"), filepath.Join(binDir, "evidencectl")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// freePort picks a port for a node process in 32000-32767: below the
// kernel's ephemeral range (32768 and up), so that no outgoing connection
// of another test takes it between the check and the node's bind, or while
// the node is down for a restart (a CI run saw a node never become ready),
// and apart from the ranges of the other packages' tests (cmd/courtfaults
// 10000-19999, cmd/evidencectl 20000-31999). A port is never handed out
// twice in one run.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

func freePort(t *testing.T) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for try := 0; try < 200; try++ {
		p := 32000 + rand.IntN(768)
		if handedOut.ports[p] {
			continue
		}
		addr := fmt.Sprintf("127.0.0.1:%d", p)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		handedOut.ports[p] = true
		return addr
	}
	t.Fatal("no free port in 32000-32767")
	return ""
}

type proc struct {
	cmd *exec.Cmd
	out *bytes.Buffer
	mu  *sync.Mutex
}

func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), out: &bytes.Buffer{}, mu: &sync.Mutex{}}
	w := &lockedWriter{p.mu, p.out}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitForProc(t, what, nil, cond)
}

// waitForProc is waitUntil for a process's output: the failure shows what the
// process printed (a demo that could not start says why, say a port
// another test took).
func waitForProc(t *testing.T, what string, p *proc, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			if p != nil {
				t.Fatalf("timed out waiting for %s; it printed:\n%s", what, p.output())
			}
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func run(t *testing.T, env []string, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

type e2eNode struct {
	id, raft, grpc, http string
	config               string
	proc                 *proc
}

// e2eCourt is a court of three courtd processes on loopback, with TLS
// from a development CA and users by certificate.
type e2eCourt struct {
	dir, ctl    string
	courtID     string
	verifier    *checkpoint.Verifier
	trust       string // trust file
	platform    *sm2.PrivateKey
	pubFile     string // the platform's public key
	platKeyFile string // the platform's private key
	pki         string
	certOf      map[access.Role]string
	nodes       []*e2eNode
}

// startCourtProcesses starts three courtd processes and waits until each
// says it is ready.
func startCourtProcesses(t *testing.T) *e2eCourt {
	t.Helper()
	courtd, _ := binaries(t)
	return startCourtProcessesWith(t, courtd)
}

// startCourtProcessesWith is startCourtProcesses with another build of
// courtd (upgrade_test.go's previous release).
func startCourtProcessesWith(t *testing.T, courtd string) *e2eCourt {
	t.Helper()
	_, ctl := binaries(t)
	dir := t.TempDir()
	const courtID = "hangzhou.court.example/evidence"
	courtKey, _ := sm2.GenerateKey()
	keyPEM, _ := courtKey.MarshalPEM()
	keyFile := filepath.Join(dir, "court.key.pem")
	os.WriteFile(keyFile, keyPEM, 0o600)
	v, _ := checkpoint.NewVerifier(courtID, courtKey.Public())
	trust := filepath.Join(dir, "trust.txt")
	os.WriteFile(trust, []byte(v.String()+"\n"), 0o644)
	platform, _ := sm2.GenerateKey()
	pubFile := filepath.Join(dir, "platform.pub.pem")
	os.WriteFile(pubFile, platform.Public().MarshalPEM(), 0o644)
	platKey, _ := platform.MarshalPEM()
	platKeyFile := filepath.Join(dir, "platform.key.pem")
	os.WriteFile(platKeyFile, platKey, 0o600)

	// TLS everywhere, from a development CA; users by certificate.
	pki := filepath.Join(dir, "pki")
	ca, err := devca.LoadOrCreate(pki)
	if err != nil {
		t.Fatal(err)
	}
	users := map[access.Role]string{access.RolePlatform: "esign.example", access.RoleJudge: "judge-e2e", access.RoleAdmin: "admin-e2e"}
	certOf := map[access.Role]string{}
	for role, id := range users {
		if certOf[role], err = ca.IssueFile(pki, string(role), access.Identity{Role: role, ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	var nodes []*e2eNode
	var peers strings.Builder
	for i := 1; i <= 3; i++ {
		n := &e2eNode{id: fmt.Sprintf("hz-%d", i), raft: freePort(t), grpc: freePort(t), http: freePort(t)}
		nodes = append(nodes, n)
		fmt.Fprintf(&peers, "  - {node_id: %s, raft_addr: %q, grpc_addr: %q}\n", n.id, n.raft, n.grpc)
	}
	for _, n := range nodes {
		nodeCert, err := ca.IssueFile(pki, "node-"+n.id, access.NodeIdentity(courtID, n.id))
		if err != nil {
			t.Fatal(err)
		}
		cfg := fmt.Sprintf("court: %s\nnode_id: %s\ndata_dir: %s\nraft_addr: %q\ngrpc_addr: %q\nhttp_addr: %q\ncourt_key_file: %s\nbootstrap: true\npeers:\n%s"+
			"tls_cert_file: %s\ntls_key_file: %s\ntls_ca_file: %s\n",
			courtID, n.id, filepath.Join(dir, n.id), n.raft, n.grpc, n.http, keyFile, peers.String(), nodeCert, nodeCert, filepath.Join(pki, "ca.pem"))
		n.config = filepath.Join(dir, n.id+".yaml")
		os.WriteFile(n.config, []byte(cfg), 0o644)
		n.proc = startProc(t, courtd, "run", "--config", n.config)
	}
	c := &e2eCourt{dir: dir, ctl: ctl, courtID: courtID, verifier: v, trust: trust, platform: platform, pubFile: pubFile,
		platKeyFile: platKeyFile, pki: pki, certOf: certOf, nodes: nodes}
	for _, n := range nodes {
		c.waitReady(t, n)
	}
	return c
}

// waitReady waits until n's /readyz answers 200.
func (c *e2eCourt) waitReady(t *testing.T, n *e2eNode) {
	t.Helper()
	judgeHTTP := c.httpAs(t, access.RoleJudge)
	waitForProc(t, n.id+" ready", n.proc, func() bool {
		r, err := judgeHTTP.Get("https://" + n.http + "/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})
}

// httpAs is an HTTPS client presenting a role's certificate.
func (c *e2eCourt) httpAs(t *testing.T, role access.Role) *http.Client {
	t.Helper()
	tlsConf, err := client.TLSFiles{CAFile: filepath.Join(c.pki, "ca.pem"), CertFile: c.certOf[role]}.Config()
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}}
}

// dialAs connects to one node's gRPC API with a role's certificate.
func (c *e2eCourt) dialAs(t *testing.T, role access.Role, addr string) *grpc.ClientConn {
	t.Helper()
	dial, err := client.DialTLS(client.TLSFiles{CAFile: filepath.Join(c.pki, "ca.pem"), CertFile: c.certOf[role]})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(addr, dial)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func TestCourtOfThreeProcesses(t *testing.T) {
	ec := startCourtProcesses(t)
	dir, ctl, nodes, trust, pki, certOf, pubFile, platKeyFile, platform, v :=
		ec.dir, ec.ctl, ec.nodes, ec.trust, ec.pki, ec.certOf, ec.pubFile, ec.platKeyFile, ec.platform, ec.verifier
	judgeHTTP := ec.httpAs(t, access.RoleJudge)
	env := []string{"EVIDENCECTL_SERVER=" + nodes[0].grpc, "EVIDENCECTL_TRUST=" + trust, "EVIDENCECTL_CA=" + filepath.Join(pki, "ca.pem")}
	asPlatform, asJudge := "--cert="+certOf[access.RolePlatform], "--cert="+certOf[access.RoleJudge]
	if out, code := run(t, env, ctl, "--cert="+certOf[access.RoleAdmin], "platform", "register", "esign.example", "--public-key", pubFile); code != 0 {
		t.Fatalf("register: %d %s", code, out)
	}

	// Through the CLI.
	file := filepath.Join(dir, "contract.txt")
	os.WriteFile(file, []byte("租赁合同 e2e"), 0o644)
	out, code := run(t, env, ctl, "submit", asPlatform, "--json", "--platform", "esign.example", "--key", platKeyFile, file)
	if code != 0 {
		t.Fatalf("submit: %d %s", code, out)
	}
	var res struct{ Filed []map[string]any }
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Filed) != 1 || res.Filed[0]["verified"] != true {
		t.Fatalf("submit output: %v %s", err, out)
	}
	verifyEventually(t, env, ctl, "--server", nodes[2].grpc, asJudge, "verify", file)
	os.WriteFile(file+".2", []byte("other"), 0o644)
	if out, code := run(t, env, ctl, asJudge, "verify", file+".2"); code != 3 {
		t.Fatalf("verify of an unrecorded file: exit %d, want 3: %s", code, out)
	}

	// Through REST.
	fp := sm3.Sum([]byte("租赁合同 e2e"))
	waitUntil(t, "REST verify on a follower", func() bool {
		r, err := judgeHTTP.Get(fmt.Sprintf("https://%s/v1/verify/%x", nodes[1].http, fp))
		if err != nil {
			return false
		}
		body, _ := io.ReadAll(r.Body)
		r.Body.Close()
		return r.StatusCode == 200 && bytes.Contains(body, []byte(`"recorded":true`))
	})

	// Through gRPC, with the Go client on all three nodes.
	var endpoints []string
	for _, n := range nodes {
		endpoints = append(endpoints, n.grpc)
	}
	dialTLS, err := client.DialTLS(client.TLSFiles{CAFile: filepath.Join(pki, "ca.pem"), CertFile: certOf[access.RolePlatform]})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Config{Endpoints: endpoints, Court: v, Platform: "esign.example", Key: platform, Attempts: 40,
		DialOptions: []grpc.DialOption{dialTLS}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	submit := func(name string) *evidence.Receipt {
		t.Helper()
		s, err := c.Sign(evidence.Submission{RequestID: name, Fingerprint: sm3.Sum([]byte(name)), Category: evidence.CategoryChat, Title: name})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		rc, _, err := c.Submit(ctx, s)
		if err != nil {
			t.Fatalf("submit %s: %v", name, err)
		}
		return rc
	}
	submit("grpc-1")

	// Kill the leader process; the client keeps working.
	st, err := c.Admin().GetClusterStatus(context.Background(), &pb.GetClusterStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.id == st.LeaderId {
			n.proc.cmd.Process.Signal(syscall.SIGKILL)
			n.proc.cmd.Wait()
		}
	}
	rc := submit("after-kill")
	if rc.Entry.Index != 2 {
		t.Fatalf("entry after the kill at index %d, want 2", rc.Entry.Index)
	}
	var alive *e2eNode
	for _, n := range nodes {
		if n.id != st.LeaderId {
			alive = n
		}
	}
	// A follower serves reads from what it has applied, so it may lag a moment.
	verifyEventually(t, env, ctl, "--server", alive.grpc, asJudge, "verify", "--fingerprint", fmt.Sprintf("%x", sm3.Sum([]byte("after-kill"))))
}

func TestDemoCommand(t *testing.T) {
	courtd, ctl := binaries(t)
	dir := t.TempDir()
	base := freeDemoBase(t) // checked free, below the ephemeral ports
	start := func() *proc {
		p := startProc(t, courtd, "demo", "--dir", dir, "--base-port", fmt.Sprint(base))
		waitForProc(t, "the demo to start", p, func() bool { return strings.Contains(p.output(), "Ctrl-C stops") })
		return p
	}
	p := start()
	env := runNextSteps(t, p.output(), filepath.Dir(ctl))
	file := filepath.Join(dir, "evidence.txt")
	os.WriteFile(file, []byte("demo evidence"), 0o644)
	key := filepath.Join(dir, "keys", "platform.key.pem")
	asPlatform, asJudge := "--cert="+filepath.Join(dir, "pki", "platform.pem"), "--cert="+filepath.Join(dir, "pki", "judge.pem")
	if out, code := run(t, env, ctl, "submit", asPlatform, "--platform", "demo-platform.example", "--key", key, file); code != 0 {
		t.Fatalf("submit: %d %s", code, out)
	}
	verifyEventually(t, env, ctl, "verify", asJudge, file)
	// TLS is on, and a platform's certificate is no admin's. (Verifying a
	// file is open to whoever holds it since the web pages, issue 15.)
	if out, code := run(t, env, ctl, "alarms", asPlatform); code == 0 || !strings.Contains(out, "PermissionDenied") {
		t.Fatalf("alarms as the platform: exit %d: %s", code, out)
	}
	// A second demo on the same ports fails, and writes nothing.
	dir2 := filepath.Join(t.TempDir(), "second")
	if out, code := run(t, nil, courtd, "demo", "--dir", dir2, "--base-port", fmt.Sprint(base)); code != 1 || !strings.Contains(out, "--base-port") {
		t.Fatalf("second demo: exit %d: %s", code, out)
	}
	if _, err := os.Stat(dir2); err == nil {
		t.Fatalf("the second demo wrote %s", dir2)
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo exited with %v:\n%s", err, p.output())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop on SIGINT")
	}

	// Started again, it keeps the data.
	start()
	verifyEventually(t, env, ctl, "verify", asJudge, file)
}

// The insecure demo's courts authenticate to each other with tokens, and
// mirror each other: its printed steps, the verification at Beijing of
// what Hangzhou recorded included, work as printed.
func TestDemoInsecureCommand(t *testing.T) {
	courtd, ctl := binaries(t)
	base := freeDemoBase(t) // checked free, below the ephemeral ports
	p := startProc(t, courtd, "demo", "--insecure", "--dir", t.TempDir(), "--base-port", fmt.Sprint(base))
	waitUntil(t, "the demo to start", func() bool { return strings.Contains(p.output(), "Ctrl-C stops") })
	runNextSteps(t, p.output(), filepath.Dir(ctl))
}

// runNextSteps runs the commands a demo printed, each as printed, in a
// POSIX shell in a directory standing for the repository's root: README.md
// to file, bin/ holding the binaries the test built (the build line itself
// must be README's). Reads are retried until they succeed: a follower, or
// another court's mirror, may lag a moment. It returns the environment the
// steps export.
func runNextSteps(t *testing.T, out, bin string) (env []string) {
	t.Helper()
	_, rest, ok := strings.Cut(out, "Next steps")
	if !ok {
		t.Fatalf("the demo printed no next steps:\n%s", out)
	}
	var steps []string
	for _, line := range strings.Split(rest, "\n")[1:] {
		if !strings.HasPrefix(line, "  ") {
			break
		}
		steps = append(steps, strings.TrimSpace(line))
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) < 3 || !strings.HasPrefix(steps[0], demoBuild) || !strings.Contains(string(readme), demoBuild) {
		t.Fatalf("the steps do not start with README's build line %q:\n%s", demoBuild, strings.Join(steps, "\n"))
	}
	export := steps[1]
	if !strings.HasPrefix(export, "export ") {
		t.Fatalf("second step %q exports nothing", export)
	}
	env = strings.Fields(strings.TrimPrefix(export, "export "))
	root := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(root, "bin")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "README.md"), []byte(fmt.Sprintf("evidence filed by the demo's steps at %v\n", time.Now())), 0o644)
	for _, step := range steps[2:] {
		if strings.Contains(step, "go run") {
			t.Errorf("step %q uses go run, which turns every exit code into 1", step)
		}
		read := strings.Contains(step, " verify ") || strings.Contains(step, "/v1/verify/")
		var out []byte
		var err error
		waitUntil(t, step, func() bool {
			cmd := exec.Command("sh", "-c", export+"\n"+step)
			cmd.Dir = root
			out, err = cmd.CombinedOutput()
			if err != nil && !read {
				t.Fatalf("step %q: %v\n%s", step, err, out)
			}
			// A REST answer is checked for what it says: curl exits 0 on any.
			return err == nil && (!strings.Contains(step, "/v1/verify/") || strings.Contains(string(out), `"recorded":true`))
		})
		t.Logf("%s\n%s", step, out)
	}
	return env
}

// verifyEventually runs an evidencectl verify until it finds the evidence:
// a follower serves reads from what it has applied, which may lag a moment
// behind the leader that acknowledged the submission.
func verifyEventually(t *testing.T, env []string, ctl string, args ...string) {
	t.Helper()
	var out string
	var code int
	waitUntil(t, "evidencectl "+strings.Join(args, " "), func() bool {
		out, code = run(t, env, ctl, args...)
		if code != 0 && code != 3 {
			t.Fatalf("evidencectl %v: exit %d: %s", args, code, out)
		}
		return code == 0 && strings.HasPrefix(out, "VALID")
	})
}
