package consensus

import (
	"runtime"
	"sync"
)

// workPool runs the leader's per-submission CPU work (signature checks,
// proofs) on a fixed number of goroutines, one per core, whatever the
// number of callers. When every caller ran its own workers, a flood put
// hundreds of goroutines in the run queues ahead of Raft's, whose
// heartbeats then came too late and the leader lost its followers (issue
// 14); with the pool Raft's goroutines wait behind at most a few tasks.
type workPool struct {
	tasks chan func()
	stop  chan struct{}
	wg    sync.WaitGroup
}

func newWorkPool() *workPool {
	p := &workPool{tasks: make(chan func()), stop: make(chan struct{})}
	for range runtime.GOMAXPROCS(0) {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				select {
				case f := <-p.tasks:
					f()
				case <-p.stop:
					return
				}
			}
		}()
	}
	return p
}

// run calls fn(0) ... fn(n-1) on the pool and returns when all are done.
// Once the pool is closed it runs them in the caller's goroutine.
func (p *workPool) run(n int, fn func(i int)) {
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		task := func() { defer wg.Done(); fn(i) }
		select {
		case p.tasks <- task:
		case <-p.stop:
			task()
		}
	}
	wg.Wait()
}

func (p *workPool) close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.wg.Wait()
}
