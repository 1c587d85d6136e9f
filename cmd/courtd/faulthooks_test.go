package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// The fault clock follows its file while the node runs, and is off
// without the variable.
func TestFaultClock(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	t.Setenv(faultClockEnv, "")
	if faultClock(log) != nil {
		t.Fatal("a fault clock without the variable")
	}
	path := filepath.Join(t.TempDir(), "offset")
	if err := os.WriteFile(path, []byte("2h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(faultClockEnv, path)
	clock := faultClock(log)
	if d := clock().Sub(time.Now()); d < 119*time.Minute || d > 121*time.Minute {
		t.Fatalf("offset %v, want 2h", d)
	}
	if err := os.WriteFile(path, []byte("-30m"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var d time.Duration
	for {
		if d = clock().Sub(time.Now()); d < -29*time.Minute && d > -31*time.Minute {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("offset still %v after the file said -30m", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SIGUSR1 takes a snapshot, each time it comes.
func TestSnapshotOnSignal(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	taken := make(chan struct{}, 4)
	done := make(chan struct{})
	defer close(done)
	snapshotOnSignal(func() error { taken <- struct{}{}; return nil }, log, done)
	for i := 0; i < 2; i++ {
		if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		select {
		case <-taken:
		case <-time.After(10 * time.Second):
			t.Fatalf("no snapshot %d after SIGUSR1", i+1)
		}
	}
}
