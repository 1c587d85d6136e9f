package main

import (
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

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
