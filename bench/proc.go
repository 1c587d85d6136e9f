package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
)

// Memory is this process's resident memory as Linux counts it, in bytes.
// RSS is Anon + File (+ shared memory): Anon is the Go heap, stacks and
// other private memory; File is pages of mapped files, such as a bbolt
// database, that this process has touched and the kernel has kept mapped.
type Memory struct {
	RSS, Anon, File uint64
	HeapInuse       uint64 // the Go runtime's view of its live heap spans
}

// ReadMemory collects garbage, returns freed memory to the system, and
// reads /proc/self/status, so successive readings compare what is live
// rather than what the collector has yet to reclaim.
func ReadMemory() (Memory, error) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return Memory{}, fmt.Errorf("bench: read memory: %w", err)
	}
	m := Memory{HeapInuse: ms.HeapInuse}
	fields := map[string]*uint64{"VmRSS:": &m.RSS, "RssAnon:": &m.Anon, "RssFile:": &m.File}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) < 3 || string(f[2]) != "kB" {
			continue
		}
		if dst, ok := fields[string(f[0])]; ok {
			kb, err := strconv.ParseUint(string(f[1]), 10, 64)
			if err != nil {
				return Memory{}, fmt.Errorf("bench: parse %s in /proc/self/status: %w", f[0], err)
			}
			*dst = kb << 10
		}
	}
	if m.RSS == 0 {
		return Memory{}, fmt.Errorf("bench: no VmRSS in /proc/self/status")
	}
	return m, nil
}

// WrittenBytes is how many bytes process pid (0 for this one) has caused
// to be written to storage so far, write_bytes in /proc/PID/io: for this
// process, every in-process node's files together.
func WrittenBytes(pid int) (uint64, error) {
	path := "/proc/self/io"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/io", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("bench: read I/O counters: %w", err)
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("write_bytes: ")); ok {
			n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("bench: parse write_bytes: %w", err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("bench: no write_bytes in /proc/self/io")
}
