package main

import (
	"bytes"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/courtledger/courtledger/consensus"
)

// utime and stime are fields 14 and 15, counted after the command, which
// may itself hold spaces and parentheses.
func TestParseStatCPU(t *testing.T) {
	line := "4242 (court d) (x)) S 1 4242 4242 0 -1 4194560 1200 0 0 0 731 269 0 0 20 0 12 0 100 0 0\n"
	got, err := parseStatCPU([]byte(line))
	if err != nil || got != 731+269 {
		t.Fatalf("parseStatCPU = %d, %v; want 1000", got, err)
	}
	for _, bad := range []string{"", "4242 court S 1", "1 (x) S 1 2 3", "1 (x) S 1 1 1 0 -1 4 1 0 0 0 abc 2 0"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q) = nil error, want one", bad)
		}
	}
	own, err := cpuTicks(0)
	if err != nil {
		t.Fatalf("cpuTicks(self): %v", err)
	}
	// Burn CPU until the kernel has charged a tick or more to us.
	deadline := time.Now().Add(10 * time.Second)
	x := 0
	for {
		for i := 0; i < 1e6; i++ {
			x += i
		}
		now, err := cpuTicks(0)
		if err != nil {
			t.Fatal(err)
		}
		if now > own {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no CPU tick charged in 10 s of spinning (%d)", x)
		}
	}
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0 -1 4194560 100 0 0 0 5 7 0 0 20 0 1 0 10 0 0"))
	f.Add([]byte("2 (a b)) R 1 2 3"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseStatCPU(b)
		if err == nil && bytes.LastIndexByte(b, ')') < 0 {
			t.Fatalf("parsed %d from a line without a command", v)
		}
	})
}

// A process whose counters cannot be read is reported as such: its disk
// bytes are unknown, never 0.
func TestMeterSaysWhatItCouldNotRead(t *testing.T) {
	var ops atomic.Int64
	m := meter{pids: []int{1 << 30}, ops: ops.Load} // no such process
	lo := loadOptions{warmup: 10 * time.Millisecond, duration: 50 * time.Millisecond}
	res := m.measure(lo, func() {
		time.Sleep(20 * time.Millisecond)
		ops.Add(10)
		time.Sleep(60 * time.Millisecond)
	})
	if res.Ops != 10 {
		t.Fatalf("ops in the window = %d, want 10", res.Ops)
	}
	var r row
	res.set(&r)
	if !r.DiskUnreadable || r.WindowDiskBytesPerOp != 0 {
		t.Errorf("row: disk unreadable %v, bytes/op %v; want unreadable", r.DiskUnreadable, r.WindowDiskBytesPerOp)
	}
	notes := strings.Join(r.ResourceNotes, "; ")
	if !strings.Contains(notes, "disk bytes unreadable") || !strings.Contains(notes, "CPU time unreadable") {
		t.Errorf("notes %q do not say what was unreadable", notes)
	}
	o := output{Report: report{Rows: []row{r}}}
	var buf bytes.Buffer
	o.printTables(&buf)
	if !strings.Contains(buf.String(), "unreadable") {
		t.Errorf("table does not say the disk bytes were unreadable:\n%s", buf.String())
	}

	// This process, in process: the note says the clients are included.
	m = meter{pids: []int{0}, inProcess: true, ops: ops.Load}
	res = m.measure(lo, func() {
		time.Sleep(20 * time.Millisecond)
		ops.Add(5)
		time.Sleep(60 * time.Millisecond)
	})
	if res.Ops != 5 || res.DiskBytesPerOp < 0 || !strings.Contains(strings.Join(res.Notes, ";"), "includes the clients") {
		t.Errorf("in process: %+v", res)
	}
}

func TestProcFlagsNeedCourtProcs(t *testing.T) {
	for _, o := range []procOptions{{batch: 64, endpoints: "leader"}, {maxPending: 10, endpoints: "leader"}, {endpoints: "all"}} {
		if err := o.check(); err == nil || !strings.Contains(err.Error(), "--court-procs") {
			t.Errorf("%+v: %v, want a usage error naming --court-procs", o, err)
		}
	}
	if err := (procOptions{on: true, endpoints: "some", perConn: 1}).check(); err == nil || !strings.Contains(err.Error(), "leader or all") {
		t.Errorf("--court-endpoints some: %v", err)
	}
	if err := (procOptions{on: true, endpoints: "all", perConn: 16, batch: 64}).check(); err != nil {
		t.Errorf("valid options refused: %v", err)
	}
}

func TestInProcessKnobsRefusedWithCourtProcs(t *testing.T) {
	ok := submitOptions{nodes: 3, procs: procOptions{on: true, endpoints: "leader", perConn: 16}}
	if err := ok.checkProcs(); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
	for name, o := range map[string]submitOptions{
		"--nodes 5":      {nodes: 5, procs: ok.procs},
		"--fast-raft":    {nodes: 3, fast: true, procs: ok.procs},
		"--batch-linger": {nodes: 3, batch: consensus.BatchConfig{Linger: time.Millisecond}, procs: ok.procs},
	} {
		if err := o.checkProcs(); err == nil || !strings.Contains(err.Error(), "--court-procs") {
			t.Errorf("%s with --court-procs: %v, want refused", name, err)
		}
	}
}
