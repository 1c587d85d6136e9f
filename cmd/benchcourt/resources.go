package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/courtledger/courtledger/bench"
)

// Resource accounting per operation: the CPU time and the bytes written
// to storage of a system's processes over a level's measured window,
// divided by the operations acknowledged in that window.

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux the kernel's ABI allows (sysconf(_SC_CLK_TCK)).
const clockTicks = 100

// cpuTicks is utime+stime of process pid (0: this one) so far, in clock
// ticks. A process's own threads are included; its children are not.
func cpuTicks(pid int) (uint64, error) {
	path := "/proc/self/stat"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read CPU time: %w", err)
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime (field 14) and stime (15) of a /proc/PID/stat
// line. The second field, the command in parentheses, may hold spaces and
// parentheses of its own, so the fields are counted after its last ')'.
func parseStatCPU(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc stat: no ')' in %q", truncate(b))
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3, the state
	if len(f) < 13 {
		return 0, fmt.Errorf("parse /proc stat: %d fields after the command, want at least 13", len(f))
	}
	var sum uint64
	for _, s := range f[11:13] {
		v, err := strconv.ParseUint(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc stat: utime/stime %q: %w", s, err)
		}
		sum += v
	}
	return sum, nil
}

func truncate(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}

// usage is what a set of processes had used at one moment.
type usage struct {
	ticks         uint64
	wrote         uint64
	cpuErr, ioErr error
}

// readUsage sums the CPU time and write_bytes of pids (0: this process).
func readUsage(pids []int) usage {
	var u usage
	for _, pid := range pids {
		t, err := cpuTicks(pid)
		if err != nil && u.cpuErr == nil {
			u.cpuErr = err
		}
		u.ticks += t
		w, err := bench.WrittenBytes(pid)
		if err != nil && u.ioErr == nil {
			u.ioErr = err
		}
		u.wrote += w
	}
	return u
}

// resources is a level's accounting, set on its row.
type resources struct {
	CPUusPerOp       float64 // the system's processes
	DiskBytesPerOp   float64
	ClientCPUusPerOp float64 // benchcourt's own, when the system is apart
	Ops              int64
	Notes            []string
}

// meter samples a system's processes, and benchcourt's own when the system
// runs apart from it, at the start and end of a level's measured window.
type meter struct {
	pids      []int // the system's processes; 0 is this one
	inProcess bool  // the system runs in this process: its CPU includes the clients'
	ops       func() int64
}

// measure runs level (which calls bench.Run with lo's warm-up and
// duration) and samples when the warm-up ends and when the window does, or
// when level returns, if sooner (a truncated window).
func (m meter) measure(lo loadOptions, level func()) resources {
	type sample struct {
		sys, self usage
		ops       int64
		at        time.Time
	}
	take := func() sample {
		s := sample{sys: readUsage(m.pids), ops: m.ops(), at: time.Now()}
		if !m.inProcess {
			s.self = readUsage([]int{0})
		}
		return s
	}
	var (
		mu         sync.Mutex
		start, end *sample
	)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-time.After(lo.warmup):
		case <-done:
			return
		}
		s := take()
		mu.Lock()
		start = &s
		mu.Unlock()
		select {
		case <-time.After(lo.duration):
		case <-done:
			return
		}
		e := take()
		mu.Lock()
		end = &e
		mu.Unlock()
	}()
	level()
	close(done)
	<-stopped
	mu.Lock()
	defer mu.Unlock()
	var r resources
	if start == nil {
		r.Notes = append(r.Notes, "no resource accounting: the level ended before its warm-up did")
		return r
	}
	if end == nil {
		e := take()
		end = &e
	}
	r.Ops = end.ops - start.ops
	if r.Ops <= 0 {
		r.Notes = append(r.Notes, "no resource accounting: nothing was acknowledged in the window")
		return r
	}
	ops := float64(r.Ops)
	perOp := func(ticks uint64) float64 { return float64(ticks) * 1e6 / clockTicks / ops }
	if err := firstErr(start.sys.cpuErr, end.sys.cpuErr); err != nil {
		r.Notes = append(r.Notes, "CPU time unreadable: "+err.Error())
	} else {
		r.CPUusPerOp = perOp(end.sys.ticks - start.sys.ticks)
	}
	if err := firstErr(start.sys.ioErr, end.sys.ioErr); err != nil {
		r.Notes = append(r.Notes, "disk bytes unreadable ("+err.Error()+"): not counted, not zero")
		r.DiskBytesPerOp = -1
	} else {
		r.DiskBytesPerOp = float64(end.sys.wrote-start.sys.wrote) / ops
	}
	if m.inProcess {
		r.Notes = append(r.Notes, "in process: CPU µs/op includes the clients' CPU (benchcourt's whole process)")
	} else if firstErr(start.self.cpuErr, end.self.cpuErr) == nil {
		r.ClientCPUusPerOp = perOp(end.self.ticks - start.self.ticks)
	}
	return r
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// set copies the accounting onto a row.
func (r resources) set(out *row) {
	out.CPUusPerOp, out.ClientCPUusPerOp = r.CPUusPerOp, r.ClientCPUusPerOp
	if r.DiskBytesPerOp < 0 {
		out.DiskUnreadable = true
	} else {
		out.WindowDiskBytesPerOp = r.DiskBytesPerOp
	}
	out.ResourceNotes = append(out.ResourceNotes, r.Notes...)
}
