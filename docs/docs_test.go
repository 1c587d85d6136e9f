// Package docs_test runs the command blocks of README.md, docs/api.md and
// docs/verify-by-hand.md as a reader would, against a running demo, so the
// documents cannot promise commands that fail.
//
// The convention, for every fenced block of those files:
//
//   - ```sh: commands, run with bash -e -o pipefail, in order, each block
//     after the previous one of its file has succeeded; environment
//     variables and the working directory carry over from block to block
//     within a file, and each file starts afresh.
//   - ```sh retry: the same, for reads that succeed once another court's
//     mirror has caught up (it polls each second, as the document says
//     next to the block): rerun until it succeeds, for at most 30 s. Such a
//     block must only read.
//   - ```sh demo: the demo (README's `go run ./cmd/courtd demo`): started
//     in the background before the other blocks, stopped at the end.
//   - ```sh norun: shown, not run. Rare, and the reason is next to each in
//     the document: `go test -race ./...` would run this test again
//     inside itself; `alarms clear` needs an alarm the demo has not raised.
//   - any other block (```text, ```json, ```go, ```python, untagged):
//     output, data or code, not run (the python script is run by
//     evidence/certificate's byhand_test.go).
//
// Nothing is substituted in the commands but values the demo and the
// commands before print: EVIDENCE_ID is the evidence ID of the latest
// filing a block printed (`evidence <id> recorded by ...`), FINGERPRINT the
// latest fingerprint `fingerprint` printed; and the demo's addresses. The
// demo runs on free ports (its default ones may be taken by another demo on
// the same machine), so each documented address of the default layout
// (--base-port 7100: Raft 7100+, gRPC 8100+, REST 9100+) is replaced by the
// address the demo printed for the same node.
//
// The blocks run in a copy of the repository (README's commands build
// bin/ and write files there), README.md's and docs/api.md's at its root,
// docs/verify-by-hand.md's in evidence/certificate/testdata/by_hand, where
// the worked example's files are.
package docs_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/courtledger/courtledger/court/access"
)

// block is one fenced block of a document.
type block struct {
	file string
	line int // of its first command line
	info string
	text string
}

func (b block) where() string { return fmt.Sprintf("%s:%d", b.file, b.line) }

// blocks returns the fenced blocks of a Markdown file.
func blocks(t *testing.T, root, file string) []block {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	out, err := parseBlocks(file, data)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// parseBlocks reads the fenced blocks (``` or longer, closed by the same
// fence) of a Markdown document; a block left open is an error.
func parseBlocks(file string, data []byte) ([]block, error) {
	var (
		out   []block
		cur   *block
		fence string
	)
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			fence = trimmed[:len(trimmed)-len(strings.TrimLeft(trimmed, "`"))]
			cur = &block{file: file, line: i + 2, info: strings.TrimSpace(trimmed[len(fence):])}
		case cur != nil && trimmed == fence:
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s: the block opened at line %d is not closed", file, cur.line-1)
	}
	return out, nil
}

// FuzzParseBlocks: any document is read without a panic, and every block's
// text is lines of the document.
func FuzzParseBlocks(f *testing.F) {
	for _, d := range documents {
		if data, err := os.ReadFile(filepath.Join("..", d.file)); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("````sh norun\n```\n````\n```\nx"))
	f.Fuzz(func(t *testing.T, data []byte) {
		bs, err := parseBlocks("doc.md", data)
		if err != nil {
			return
		}
		lines := strings.Split(string(data), "\n")
		for _, b := range bs {
			got := strings.Split(strings.TrimSuffix(b.text, "\n"), "\n")
			if b.text == "" {
				continue
			}
			if b.line-1+len(got) > len(lines) || strings.Join(lines[b.line-1:b.line-1+len(got)], "\n") != strings.Join(got, "\n") {
				t.Fatalf("block at line %d is not the document's lines %q", b.line, b.text)
			}
		}
	})
}

func TestBlocksParse(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.md"), []byte("x\n```sh\necho 1\necho 2\n```\n\n```\nout\n```\n````sh norun\n```\n````\n"), 0o644)
	got := blocks(t, dir, "a.md")
	if len(got) != 3 || got[0].info != "sh" || got[0].line != 3 || got[0].text != "echo 1\necho 2\n" ||
		got[1].info != "" || got[2].info != "sh norun" || got[2].text != "```\n" {
		t.Fatalf("blocks: %+v", got)
	}
}

var documents = []struct{ file, dir string }{
	{"README.md", "."},
	{"docs/api.md", "."},
	{"docs/verify-by-hand.md", "evidence/certificate/testdata/by_hand"},
	{"docs/deploy.md", "."},
}

func TestDocumentedCommandsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the demo and runs every documented command")
	}
	for _, tool := range []string{"bash", "curl", "openssl", "python3", "xxd"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (.ci/run installs what the documents use)", tool)
		}
	}
	start := time.Now()
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	work := copyRepo(t, repo)
	env := commandEnv(t)

	var all []block
	for _, d := range documents {
		all = append(all, blocks(t, work, d.file)...)
	}
	var demoBlock *block
	for i, b := range all {
		if b.info == "sh demo" {
			if demoBlock != nil {
				t.Fatalf("%s: a second demo block (the first is at %s)", b.where(), demoBlock.where())
			}
			demoBlock = &all[i]
		}
	}
	if demoBlock == nil {
		t.Fatal("README.md has no ```sh demo block: how is the demo started?")
	}
	demo := startDemo(t, work, env, *demoBlock)
	t.Logf("demo up after %v", time.Since(start).Round(time.Millisecond))

	subst := &substitutions{ports: demo.ports}
	ran := 0
	for _, d := range documents {
		s := newSession(t, filepath.Join(work, d.dir), env)
		for _, b := range blocks(t, work, d.file) {
			var out string
			switch b.info {
			case "sh":
				out = s.run(t, b, subst.apply(b.text))
			case "sh retry":
				out = s.retry(t, b, subst.apply(b.text), 30*time.Second)
			default:
				continue
			}
			subst.learn(out)
			ran++
		}
	}
	if ran < 10 {
		t.Fatalf("only %d blocks ran: is the convention (```sh) still used?", ran)
	}
	t.Logf("%d blocks ran in %v", ran, time.Since(start).Round(time.Millisecond))
}

// copyRepo copies the repository's files into a temporary directory: those
// git lists (tracked, and new ones not ignored), or, outside a git
// checkout, every file but .git and what a demo or a build left behind.
func copyRepo(t *testing.T, repo string) string {
	t.Helper()
	work := t.TempDir()
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = repo
	if list, err := cmd.Output(); err == nil && len(list) > 0 {
		for _, rel := range strings.Split(strings.TrimSuffix(string(list), "\x00"), "\x00") {
			info, err := os.Lstat(filepath.Join(repo, rel))
			if err != nil || !info.Mode().IsRegular() {
				continue // deleted in the work tree, or a symlink
			}
			data, err := os.ReadFile(filepath.Join(repo, rel))
			if err == nil {
				err = os.MkdirAll(filepath.Dir(filepath.Join(work, rel)), 0o755)
			}
			if err == nil {
				err = os.WriteFile(filepath.Join(work, rel), data, info.Mode().Perm())
			}
			if err != nil {
				t.Fatalf("copying the repository: %v", err)
			}
		}
		return work
	}
	err := filepath.WalkDir(repo, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repo, path)
		if d.IsDir() {
			switch d.Name() {
			case ".git", "bin", "courtledger-demo":
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(work, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		info, _ := d.Info()
		return os.WriteFile(filepath.Join(work, rel), data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copying the repository: %v", err)
	}
	return work
}

// commandEnv is the environment the documented commands run in: this
// process's, with Go on PATH (the one that built this test if no other), no evidencectl
// settings of whoever runs the test, and -trimpath so that the builds in
// the copy share the build cache whatever the copy's path.
func commandEnv(t *testing.T) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "EVIDENCECTL_") || name == "PATH" || name == "GOFLAGS" {
			continue
		}
		env = append(env, kv)
	}
	path := os.Getenv("PATH")
	if _, err := exec.LookPath("go"); err != nil {
		path = filepath.Join(runtime.GOROOT(), "bin") + string(os.PathListSeparator) + path
	}
	return append(env, "PATH="+path, "GOFLAGS=-trimpath")
}

type demoProc struct {
	cmd   *exec.Cmd
	out   *lockedBuffer
	ports map[int]int // default port -> the demo's
}

// startDemo runs the demo block's command on free ports and waits until the
// demo says it is up; the test's cleanup stops it (SIGINT to its process
// group, then SIGKILL).
func startDemo(t *testing.T, work string, env []string, b block) *demoProc {
	t.Helper()
	command := strings.TrimSpace(b.text)
	if strings.Contains(command, "\n") {
		t.Fatalf("%s: the demo block must be one command", b.where())
	}
retry:
	for attempt := 0; ; attempt++ {
		base := freeBase(t)
		p := &demoProc{out: &lockedBuffer{}}
		p.cmd = exec.Command("bash", "-c", command+" --base-port "+strconv.Itoa(base))
		p.cmd.Dir, p.cmd.Env = work, env
		p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- p.cmd.Wait() }()
		stopped := false
		stop := func() {
			if stopped {
				return
			}
			stopped = true
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGINT)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			}
		}
		// go run compiles courtd first: with a cold build cache (CI) that is
		// minutes of two busy cores.
		deadline := time.After(6 * time.Minute)
		for !strings.Contains(p.out.String(), "Next steps") {
			select {
			case err := <-exited:
				stopped = true
				if strings.Contains(p.out.String(), "address already in use") && attempt < 3 {
					continue retry // another process took a port since freeBase
				}
				t.Fatalf("%s: the demo exited (%v):\n%s", b.where(), err, p.out.String())
			case <-deadline:
				stop()
				t.Fatalf("%s: the demo did not start in 6 minutes:\n%s", b.where(), p.out.String())
			case <-time.After(100 * time.Millisecond):
			}
		}
		t.Cleanup(func() {
			stop()
			if t.Failed() {
				t.Logf("demo output:\n%s", p.out.String())
			}
		})
		p.ports = demoPorts(t, p.out.String(), base)
		return p
	}
}

// freeBase is a --base-port whose 36 ports (Raft, gRPC, REST and metrics
// of nine nodes) are free now.
func freeBase(t *testing.T) int {
	t.Helper()
	for range 100 {
		base := 20000 + rand.IntN(1000)*10
		free := true
		for _, off := range []int{0, 5, 1000, 2000} { // metrics: Raft + 5
			for c := range 3 {
				for n := range 3 {
					ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+off+10*c+n))
					if err != nil {
						free = false
					} else {
						ln.Close()
					}
				}
			}
		}
		if free {
			return base
		}
	}
	t.Fatal("no free ports for the demo")
	return 0
}

// demoPorts maps each port of the default layout to the one the demo
// printed, and checks that the demo printed every node's at the offset
// the layout says (so the documents' addresses name the same nodes).
func demoPorts(t *testing.T, out string, base int) map[int]int {
	t.Helper()
	ports := map[int]int{}
	re := regexp.MustCompile(`node (\S+)\s+gRPC 127\.0\.0\.1:(\d+)\s+REST https://127\.0\.0\.1:(\d+)`)
	for _, m := range re.FindAllStringSubmatch(out, -1) {
		for _, s := range m[2:] {
			p, _ := strconv.Atoi(s)
			ports[p-base+7100] = p
		}
	}
	if len(ports) != 18 {
		t.Fatalf("the demo printed %d addresses, want the gRPC and REST address of nine nodes:\n%s", len(ports), out)
	}
	for def := range ports {
		ports[def-1000] = ports[def] - 1000 // Raft, used by node add in the documents
	}
	return ports
}

// substitutions holds what the demo and the commands printed.
type substitutions struct {
	ports       map[int]int
	evidenceID  string
	fingerprint string
}

var (
	addrRE     = regexp.MustCompile(`127\.0\.0\.1:(\d+)`)
	filedRE    = regexp.MustCompile(`(?m)^evidence ([0-9a-f]{32}) recorded by `)
	fprintedRE = regexp.MustCompile(`(?m)^([0-9a-f]{64})  \S`)
)

func (s *substitutions) apply(text string) string {
	text = addrRE.ReplaceAllStringFunc(text, func(a string) string {
		p, _ := strconv.Atoi(a[len("127.0.0.1:"):])
		if q, ok := s.ports[p]; ok {
			return "127.0.0.1:" + strconv.Itoa(q)
		}
		return a
	})
	if s.evidenceID != "" {
		text = strings.ReplaceAll(text, "EVIDENCE_ID", s.evidenceID)
	}
	if s.fingerprint != "" {
		text = strings.ReplaceAll(text, "FINGERPRINT", s.fingerprint)
	}
	return text
}

func (s *substitutions) learn(out string) {
	if m := filedRE.FindAllStringSubmatch(out, -1); m != nil {
		s.evidenceID = m[len(m)-1][1]
	}
	if m := fprintedRE.FindAllStringSubmatch(out, -1); m != nil {
		s.fingerprint = m[len(m)-1][1]
	}
}

// session runs a file's blocks one after another: each in its own bash,
// starting from the environment and directory the previous one left.
type session struct {
	dir, state string
	env        []string
}

func newSession(t *testing.T, dir string, env []string) *session {
	state := filepath.Join(t.TempDir(), "state.sh")
	os.WriteFile(state, nil, 0o644)
	return &session{dir: dir, state: state, env: env}
}

func (s *session) run(t *testing.T, b block, text string) string {
	t.Helper()
	out, err := s.try(b, text)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// retry runs a block until it succeeds, for at most patience.
func (s *session) retry(t *testing.T, b block, text string, patience time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(patience)
	for tries := 1; ; tries++ {
		out, err := s.try(b, text)
		if err == nil {
			t.Logf("%s: ok after %d tries", b.where(), tries)
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after %v: %v", patience, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// try runs a block once; the error names the file and line that failed.
func (s *session) try(b block, text string) (string, error) {
	// Line 1 restores the state; the block's lines follow from line 3, so
	// bash's $LINENO - 2 is the line within the block.
	script := fmt.Sprintf("source %q\ntrap 'echo \"docs-test: failed at block line $((LINENO-2))\" >&2' ERR\n%s\nexport -p > %q.new; echo \"cd $(printf %%q \"$PWD\")\" >> %q.new; mv %q.new %q\n",
		s.state, text, s.state, s.state, s.state, s.state)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", script)
	cmd.Dir, cmd.Env = s.dir, s.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, both lockedBuffer
	cmd.Stdout = io.MultiWriter(&stdout, &both)
	cmd.Stderr = &both
	err := cmd.Run()
	if err != nil {
		line := b.line
		if m := regexp.MustCompile(`docs-test: failed at block line (\d+)`).FindStringSubmatch(both.String()); m != nil {
			n, _ := strconv.Atoi(m[1])
			line += n - 1
		}
		return "", fmt.Errorf("%s:%d: the documented command failed (%v):\n%s\n--- the block, as run:\n%s", b.file, line, err, both.String(), text)
	}
	return stdout.String(), nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAPIDocRoles checks the "who" column of docs/api.md's table of calls
// against the role table the court enforces (court/access): each role named
// may make the call, and each user role not named may not.
func TestAPIDocRoles(t *testing.T) {
	doc, err := os.ReadFile("api.md")
	if err != nil {
		t.Fatal(err)
	}
	services := map[string]string{"": "EvidenceService", "CertificateService": "CertificateService", "BackupService": "BackupService"}
	admin := []string{"GetClusterStatus", "AddNode", "RemoveNode", "RegisterPlatform", "RevokePlatform", "ListPlatforms", "GetSyncStatus", "ListAlarms", "ClearAlarm"}
	roleWord := regexp.MustCompile(`\b(platform|judge|lawyer|admin)\b`)
	rows := 0
	_, table, _ := strings.Cut(string(doc), "| call | REST | who |\n| --- | --- | --- |\n")
	table, _, _ = strings.Cut(table, "\n\n")
	for line := range strings.Lines(table) {
		cells := strings.Split(strings.TrimSpace(line), " | ")
		if len(cells) != 3 || !strings.HasPrefix(cells[0], "| ") {
			t.Fatalf("api.md: a row of the table of calls is not | call | REST | who |: %q", line)
		}
		who := strings.TrimSuffix(cells[2], " |")
		if who == "peer court" {
			continue // SyncService: courts' node certificates, checked in court/access
		}
		named := map[access.Role]bool{}
		for _, w := range roleWord.FindAllString(who, -1) {
			named[access.Role(w)] = true
		}
		for _, call := range strings.Split(strings.TrimPrefix(cells[0], "| "), " / ") {
			svc, name, ok := strings.Cut(call, ".")
			if !ok {
				svc, name = "", call
			}
			service := services[svc]
			if slices.Contains(admin, name) {
				service = "AdminService"
			}
			method := "/courtledger.v1." + service + "/" + name
			rows++
			for _, role := range []access.Role{access.RolePlatform, access.RoleJudge, access.RoleLawyer, access.RoleAdmin} {
				if got := access.Allowed(method, role); got != named[role] {
					t.Errorf("api.md says %s is for %q, but the court lets %s call it: %v", name, who, role, got)
				}
			}
		}
	}
	if rows < 15 {
		t.Fatalf("found %d calls in api.md's table: has its form changed?", rows)
	}
}
