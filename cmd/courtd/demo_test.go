package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A second demo, whose ports are taken, fails before it writes anything:
// no keys, no CA, no data beside the first demo's.
func TestDemoPortsTakenWritesNothing(t *testing.T) {
	base := 40000 + rand.IntN(500)*10
	_, grpc, _ := demoPorts(base, 1, 2) // one port in the middle: Beijing's third node's gRPC
	ln, err := net.Listen("tcp", grpc)
	if err != nil {
		t.Skipf("port %s: %v", grpc, err)
	}
	defer ln.Close()
	dir := filepath.Join(t.TempDir(), "demo")
	d, err := startDemo(dir, base, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		d.stop()
		t.Fatal("the demo started with one of its ports taken")
	}
	for _, want := range []string{grpc, "--base-port", "another courtd demo"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, serr := os.Stat(dir); !errors.Is(serr, os.ErrNotExist) {
		entries, _ := os.ReadDir(dir)
		t.Fatalf("the failed demo wrote %s: %v", dir, entries)
	}
}

func TestDemoBasePortOutOfRange(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	for _, base := range []int{0, 80, 65000} {
		d, err := startDemo(dir, base, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err == nil {
			d.stop()
		}
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), fmt.Sprintf("--base-port %d", base)) {
			t.Errorf("base %d: %v, want a usage error naming --base-port", base, err)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused demo wrote %s", dir)
	}
}
