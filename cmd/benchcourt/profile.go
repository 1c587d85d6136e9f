package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// profiled runs fn, the measured part of one level, under the CPU profiler
// and with mutex contention sampled, if --cpuprofile asked for it. A
// profile that cannot be written is reported and the run goes on: the
// numbers matter more than the profile.
func (o loadOptions) profiled(system string, clients int, fn func()) {
	if o.profile == "" {
		fn()
		return
	}
	path := fmt.Sprintf("%s-%s-%d.pprof", o.profile, system, clients)
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		progress("no CPU profile: %v", err)
		if f != nil {
			f.Close()
		}
		fn()
		return
	}
	runtime.SetMutexProfileFraction(5)
	fn()
	pprof.StopCPUProfile()
	runtime.SetMutexProfileFraction(0)
	if err := f.Close(); err != nil {
		progress("CPU profile %s: %v", path, err)
		return
	}
	mpath := fmt.Sprintf("%s-%s-%d.mutex.pprof", o.profile, system, clients)
	if mf, err := os.Create(mpath); err == nil {
		err = pprof.Lookup("mutex").WriteTo(mf, 0)
		if cerr := mf.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			progress("mutex profile %s: %v", mpath, err)
		}
	}
	progress("CPU and mutex profiles of the window: %s, %s (mutex: cumulative since the first window)", path, mpath)
}
