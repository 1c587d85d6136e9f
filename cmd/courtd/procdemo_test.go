package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The multi-process demo's printed steps work as printed: evidence filed
// at Hangzhou, verified at Beijing, `courtd demo stop hz` stops
// Hangzhou's processes, and Beijing still verifies.
func TestProcessDemo(t *testing.T) {
	courtd, ctl := binaries(t)
	dir := t.TempDir()
	p := startProc(t, courtd, "demo", "--processes", "--dir", dir, "--base-port", fmt.Sprint(freeDemoBase(t)))
	waitForProc(t, "the demo to start", p, func() bool { return strings.Contains(p.output(), "Ctrl-C stops") })
	runNextSteps(t, p.output(), filepath.Dir(ctl))
	// The demo saw Hangzhou's nodes exit, and only theirs.
	waitForProc(t, "the demo to report Hangzhou's exits", p, func() bool {
		return strings.Count(p.output(), "exited: exit 0") == 3
	})
	for _, line := range strings.Split(p.output(), "\n") {
		if strings.Contains(line, " exited: ") && !strings.HasPrefix(line, "node hz-") {
			t.Fatalf("another court's node exited: %s\n%s", line, p.output())
		}
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo exited with %v:\n%s", err, p.output())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("demo did not stop on SIGINT")
	}
	if _, err := os.Stat(filepath.Join(dir, pidFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the pid file outlived the demo: %v", err)
	}
}

func TestDemoStopRefuses(t *testing.T) {
	dir := t.TempDir()
	var out strings.Builder
	if err := stopDemoCourt(&out, dir, "hz"); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "is a `courtd demo --processes --dir") {
		t.Fatalf("no pid file: %v", err)
	}
	// A court the demo does not have: nothing is signalled (the pids are
	// this test's own, which would die of a SIGTERM).
	self := os.Getpid()
	os.WriteFile(filepath.Join(dir, pidFileName), []byte(fmt.Sprintf("hz hz-1 %d\nbj bj-1 %d\n", self, self)), 0o644)
	if err := stopDemoCourt(&out, dir, "sh"); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), `no court "sh" in this demo: give one of hz, bj`) {
		t.Fatalf("unknown court: %v", err)
	}
	if out.Len() != 0 {
		t.Fatalf("printed %q", out.String())
	}
}

// A resumed process demo keeps its ports, which are in its files: another
// --base-port is refused, as are the in-process demo's flags.
func TestProcessDemoRefusesFlags(t *testing.T) {
	dir := t.TempDir()
	root := newRoot()
	root.SetArgs([]string{"demo", "--processes", "--insecure", "--dir", dir})
	if err := root.Execute(); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--insecure is for the in-process demo") {
		t.Fatalf("--insecure: %v", err)
	}
	if _, err := generate(localSpec(21000), initOptions{out: filepath.Join(dir, "deploy"), local: true}); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	_, err := startProcDemo(dir, freeDemoBase(t), &out)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "hz-1's gRPC is 127.0.0.1:22000") {
		t.Fatalf("another base port: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, pidFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a refused demo wrote a pid file")
	}
}

// A demo killed outright takes its nodes with it: none is left serving a
// court nobody sees.
func TestProcessDemoKilledStopsItsNodes(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("only Linux signals a child when its parent dies")
	}
	courtd, _ := binaries(t)
	dir := t.TempDir()
	p := startProc(t, courtd, "demo", "--processes", "--dir", dir, "--base-port", fmt.Sprint(freeDemoBase(t)))
	waitForProc(t, "the demo to start", p, func() bool { return strings.Contains(p.output(), "Ctrl-C stops") })
	b, err := os.ReadFile(filepath.Join(dir, pidFileName))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		pid, err := strconv.Atoi(f[len(f)-1])
		if err != nil {
			t.Fatalf("%s: %q", pidFileName, line)
		}
		pids = append(pids, pid)
	}
	if len(pids) != 9 {
		t.Fatalf("%d pids in %s, want 9:\n%s", len(pids), pidFileName, b)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	deadline := time.Now().Add(60 * time.Second)
	for _, pid := range pids {
		for running(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("node pid %d still runs 60 s after the demo was killed", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// running reports whether pid is a live process: an exited one that its new
// parent has not reaped yet (a zombie, state Z) has stopped.
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
