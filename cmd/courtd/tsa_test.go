package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/courtledger/courtledger/court/devtsa"
	"github.com/courtledger/courtledger/crypto/tsa"
)

// startTSA runs `courtd tsa args...` until the test ends and returns what
// it printed before serving, read by readOut.
func startTSA[T any](t *testing.T, readOut func(io.Reader) (T, error), args ...string) T {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	root := newRoot()
	root.SetArgs(append([]string{"tsa"}, args...))
	root.SetOut(pw)
	root.SetErr(io.Discard)
	done := make(chan error, 1)
	go func() {
		err := root.ExecuteContext(ctx)
		pw.CloseWithError(errors.Join(err, io.EOF))
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("courtd tsa after cancel: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("courtd tsa did not stop within 30 s of its context's end")
		}
	})
	got, err := readOut(pr)
	go io.Copy(io.Discard, pr) // the rest, so the command never blocks writing
	if err != nil {
		t.Fatalf("courtd tsa %v: %v", args, err)
	}
	return got
}

// TestTSACommand: `courtd tsa` prints its URL and root file; a client
// stamps there and the token verifies against that file; restarted on the
// same directory it keeps the root.
func TestTSACommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	type printed struct{ url, root string }
	text := func(r io.Reader) (printed, error) {
		var p printed
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := sc.Text()
			if u, ok := strings.CutPrefix(line, "development TSA (RFC 3161 over HTTP): "); ok {
				p.url = u
			}
			if rest, ok := strings.CutPrefix(line, "give courts its root:"); ok {
				p.root = strings.Fields(rest)[0]
			}
			if line == "stop with Ctrl-C" {
				return p, nil
			}
		}
		return p, errors.Join(errors.New("output ended before \"stop with Ctrl-C\""), sc.Err())
	}
	got := startTSA(t, text, "--dir", dir, "--listen", "127.0.0.1:0")
	if !strings.HasPrefix(got.url, "http://127.0.0.1:") || got.root != filepath.Join(dir, devtsa.RootFile) {
		t.Fatalf("printed %+v", got)
	}
	rootPEM := stampAndVerify(t, got.url, got.root)

	// --json, and the same root from the same directory.
	asJSON := func(r io.Reader) (map[string]string, error) {
		var m map[string]string
		return m, json.NewDecoder(r).Decode(&m)
	}
	m := startTSA(t, asJSON, "--json", "--dir", dir, "--listen", "[::1]:0")
	if m["root"] != got.root || m["policy"] != devtsa.Policy.String() || !strings.HasPrefix(m["url"], "http://[::1]:") {
		t.Fatalf("--json printed %v", m)
	}
	if again := stampAndVerify(t, m["url"], m["root"]); string(again) != string(rootPEM) {
		t.Fatal("restarted on the same directory with another root")
	}
}

func stampAndVerify(t *testing.T, url, rootFile string) []byte {
	t.Helper()
	c, err := tsa.NewClient(tsa.ClientConfig{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("a head\n")
	tok, err := c.Stamp(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	rootPEM, err := os.ReadFile(rootFile)
	if err != nil {
		t.Fatal(err)
	}
	a, err := tsa.ParseAnchors(rootPEM)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tsa.Verify(tok, data, tsa.VerifyOptions{Anchors: a, Policy: devtsa.Policy, Expected: time.Now(), Tolerance: time.Minute}); err != nil {
		t.Fatal(err)
	}
	return rootPEM
}

// TestTSACommandRefuses: an address off loopback, or no address, is a
// usage error that creates nothing.
func TestTSACommandRefuses(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", ":0", "192.0.2.1:3161", "example.org:3161", "127.0.0.1"} {
		dir := filepath.Join(t.TempDir(), "pki")
		// Bounded: a TSA that wrongly starts serves until its context ends.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		root := newRoot()
		root.SetArgs([]string{"tsa", "--dir", dir, "--listen", listen})
		root.SetOut(io.Discard)
		err := root.ExecuteContext(ctx)
		cancel()
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "127.0.0.1:") {
			t.Errorf("--listen %s: %v", listen, err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("--listen %s: the refusal created %s", listen, dir)
		}
	}
	if _, err := courtd(t, "tsa", "extra"); err == nil {
		t.Error("tsa with an argument ran")
	}
}

// TestTimestampsDoc runs the command blocks (```sh) of docs/timestamps.md
// as a reader would, from the repository root, the TSA on a free port
// instead of the documented 3161.
func TestTimestampsDoc(t *testing.T) {
	if testing.Short() {
		t.Skip("builds courtd and runs the documented commands")
	}
	for _, tool := range []string{"bash", "curl", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: docs/timestamps.md uses it (.ci/run installs it)", tool)
		}
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "timestamps.md"))
	if err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	blocks := 0
	in := false
	for _, line := range strings.Split(string(doc), "\n") {
		switch {
		case !in && strings.TrimSpace(line) == "```sh":
			in, blocks = true, blocks+1
		case in && strings.TrimSpace(line) == "```":
			in = false
		case in:
			script.WriteString(line + "\n")
		}
	}
	if blocks == 0 {
		t.Fatal("docs/timestamps.md has no ```sh block")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	text := strings.ReplaceAll(script.String(), "127.0.0.1:3161", addr)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", text)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "PATH="+filepath.Join(runtime.GOROOT(), "bin")+string(os.PathListSeparator)+os.Getenv("PATH"), "TMPDIR="+t.TempDir())
	// Its own process group, so that the TSA it starts in the background
	// goes too if the script is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	defer func() {
		if cmd.Process != nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	}()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("docs/timestamps.md: %v\n%s", err, out)
	}
	for _, want := range []string{"development TSA (RFC 3161 over HTTP): http://" + addr, "Status: Granted.", "Verification: OK", "Verification: FAILED"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the documented commands did not print %q:\n%s", want, out)
		}
	}
}
