package main

import (
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// snapshotOnSignal takes a Raft snapshot of the node each time the
// process gets SIGUSR1, until done closes. Operators can compact the
// Raft log with it; the fault suite (cmd/courtfaults) uses it because
// several faults only show once a snapshot exists (a node restarted
// with its ledger file lost resumes applying after the snapshot's index).
func snapshotOnSignal(snapshot func() error, log *slog.Logger, done <-chan struct{}) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-done:
				return
			case <-ch:
				if err := snapshot(); err != nil {
					log.Error("snapshot on SIGUSR1 failed", "err", err)
				} else {
					log.Info("snapshot on SIGUSR1 taken")
				}
			}
		}
	}()
}

// faultClockEnv names a file holding a duration ("-90s", "2h") that the
// node adds to its clock; the file is read again every 100 ms, so writing
// it steps a running node's clock. It exists for the fault suite
// (cmd/courtfaults, "clock-step"), which cannot change the machine's
// clock for one process. It is deliberately not a flag, a config key or a
// COURTD_ variable: no deployment should set it, and the node logs a
// warning when it is set.
const faultClockEnv = "COURTLEDGER_FAULT_CLOCK_FILE"

// faultClock returns a clock offset by the file named in faultClockEnv,
// or nil when the variable is not set.
func faultClock(log *slog.Logger) func() time.Time {
	path := os.Getenv(faultClockEnv)
	if path == "" {
		return nil
	}
	log.Warn("clock offset from a fault-injection file: for tests only", "env", faultClockEnv, "file", path)
	var offset atomic.Int64
	read := func() {
		b, err := os.ReadFile(path)
		if err != nil {
			return // no file: keep the last offset
		}
		if d, err := time.ParseDuration(strings.TrimSpace(string(b))); err == nil {
			offset.Store(int64(d))
		}
	}
	read()
	go func() { // for the life of the process
		for range time.Tick(100 * time.Millisecond) {
			read()
		}
	}()
	return func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
}
