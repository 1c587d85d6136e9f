package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"fmt"
	"go/build"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/courtledger/courtledger/bench"
)

// tesseraOptions are the Tessera side's knobs.
type tesseraOptions struct {
	load      loadOptions
	bin       string // Tessera's POSIX conformance server, cmd/conformance/posix
	valueSize int
	antispam  bool // its persistent (Badger) deduplication
}

func addTesseraFlags(f interface {
	StringVar(*string, string, string, string)
	BoolVar(*bool, string, bool, string)
}, o *tesseraOptions) {
	f.StringVar(&o.bin, "tessera-bin", filepath.Join(build.Default.GOPATH, "bin", "posix"),
		"Tessera's POSIX conformance server (go install github.com/transparency-dev/tessera/cmd/conformance/posix@v1.0.4)")
	f.BoolVar(&o.antispam, "tessera-antispam", false, "run it with --antispam: persistent deduplication in Badger")
}

const tesseraOrigin = "benchcourt.tessera.example/log"

// tesseraLog is one Tessera POSIX log server run as a child process on
// loopback, its tiles under a directory of the run.
type tesseraLog struct {
	url      string
	pid      int
	log      string
	verifier note.Verifier
	cancel   context.CancelFunc
	done     chan struct{} // closed when the process has exited
	err      error         // its exit, once done
	hc       *http.Client
}

// startTessera starts the server with a fresh checkpoint key and waits
// until it publishes a checkpoint that key verifies.
func startTessera(ctx context.Context, opt tesseraOptions, dir string) (*tesseraLog, error) {
	path, err := exec.LookPath(opt.bin)
	if err != nil {
		return nil, fmt.Errorf("tessera binary %q: %w (go install github.com/transparency-dev/tessera/cmd/conformance/posix@v1.0.4)", opt.bin, err)
	}
	skey, vkey, err := note.GenerateKey(crand.Reader, tesseraOrigin)
	if err != nil {
		return nil, fmt.Errorf("tessera checkpoint key: %w", err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("tessera checkpoint key: %w", err)
	}
	addrs, err := freeAddrs(1)
	if err != nil {
		return nil, err
	}
	storage := filepath.Join(dir, "log")
	if err := os.MkdirAll(storage, 0o700); err != nil {
		return nil, err
	}
	t := &tesseraLog{url: "http://" + addrs[0], log: filepath.Join(dir, "posix.log"), verifier: verifier,
		done: make(chan struct{}), hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4096}}}
	logf, err := os.Create(t.log)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithCancel(ctx)
	t.cancel = cancel
	args := []string{"--storage_dir", storage, "--listen", addrs[0]}
	if opt.antispam {
		args = append(args, "--antispam")
	}
	cmd := exec.CommandContext(pctx, path, args...)
	cmd.Env = append(os.Environ(), "LOG_PRIVATE_KEY="+skey)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		logf.Close()
		cancel()
		return nil, fmt.Errorf("start tessera: %w", err)
	}
	t.pid = cmd.Process.Pid
	go func() {
		t.err = cmd.Wait()
		logf.Close()
		close(t.done)
	}()
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	for {
		_, err := t.checkpointSize(wctx)
		if err == nil {
			return t, nil
		}
		select {
		case <-t.done:
			return nil, fmt.Errorf("tessera exited (%v); see %s", t.err, t.log)
		case <-wctx.Done():
			t.stop()
			return nil, fmt.Errorf("tessera not serving a checkpoint (last: %v): %w", err, wctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (t *tesseraLog) stop() {
	t.cancel()
	<-t.done
}

// checkpointSize fetches the published checkpoint, checks its signature
// and returns its tree size.
func (t *tesseraLog) checkpointSize(ctx context.Context) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url+"/checkpoint", nil)
	if err != nil {
		return 0, err
	}
	resp, err := t.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("checkpoint: HTTP %d", resp.StatusCode)
	}
	n, err := note.Open(raw, note.VerifierList(t.verifier))
	if err != nil {
		return 0, fmt.Errorf("checkpoint: %w", err)
	}
	lines := strings.SplitN(n.Text, "\n", 3)
	if len(lines) < 3 || lines[0] != tesseraOrigin {
		return 0, fmt.Errorf("checkpoint of another log: %q", n.Text)
	}
	return strconv.ParseUint(lines[1], 10, 64)
}

// add posts one entry and returns the index the log assigned it.
func (t *tesseraLog) add(ctx context.Context, body []byte) (uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url+"/add", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	resp, err := t.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("add: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(out))
	}
	return strconv.ParseUint(string(bytes.TrimSpace(out)), 10, 64)
}

// tesseraBench drives one Tessera log level by level.
type tesseraBench struct {
	t    *tesseraLog
	opt  tesseraOptions
	runs int
}

// level runs one concurrency level of adds, each of distinct bytes, so
// that deduplication never answers from memory.
func (b *tesseraBench) level(ctx context.Context, clients int) (row, error) {
	b.runs++
	progress("tessera: %d clients, %d-byte entries, %v warm-up, %v measured", clients, b.opt.valueSize,
		b.opt.load.warmup, b.opt.load.duration)
	seq := make([]uint64, clients)
	var (
		adds    atomic.Int64  // all acknowledged, warm-up included
		highest atomic.Uint64 // highest index acknowledged, plus one
	)
	add := func(ctx context.Context, client int) error {
		seq[client]++
		body := fmt.Appendf(nil, "benchcourt %d %d %d ", b.runs, client, seq[client])
		if pad := b.opt.valueSize - len(body); pad > 0 {
			body = append(body, bytes.Repeat([]byte{'.'}, pad)...)
		}
		idx, err := b.t.add(ctx, body)
		if err != nil {
			return err
		}
		adds.Add(1)
		for {
			h := highest.Load()
			if idx+1 <= h || highest.CompareAndSwap(h, idx+1) {
				break
			}
		}
		return nil
	}
	wroteBefore, _ := bench.WrittenBytes(b.t.pid)
	var res bench.Result
	b.opt.load.profiled("tessera", clients, func() { res = bench.Run(ctx, b.opt.load.config(clients), add) })
	if err := ctx.Err(); err != nil {
		return row{}, err
	}
	select {
	case <-b.t.done:
		return row{}, fmt.Errorf("tessera exited during the run (%v); see %s", b.t.err, b.t.log)
	default:
	}
	r := rowOf("tessera", &res)
	// An added entry has an index at once, but a proof only once a
	// checkpoint covering it is published: how long after the window that
	// took is the price of its asynchronous integration.
	lag, err := b.waitCheckpoint(ctx, highest.Load())
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
	}
	r.IntegrationLagMs = ms(lag)
	if n := adds.Load(); n > 0 {
		if wrote, err := bench.WrittenBytes(b.t.pid); err == nil {
			r.DiskBytesPerSub = float64(wrote-wroteBefore) / float64(n)
		}
	}
	return r, nil
}

func (b *tesseraBench) waitCheckpoint(ctx context.Context, size uint64) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var (
		seen uint64
		last error
	)
	for {
		n, err := b.t.checkpointSize(ctx)
		if err == nil && n >= size {
			return time.Since(start), nil
		}
		if err != nil {
			last = err
		} else {
			seen = n
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("checkpoint at %d, not %d (last error: %v): %w", seen, size, last, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func runTessera(ctx context.Context, out *output, opt tesseraOptions) error {
	t, err := startTesseraIn(ctx, out.workDir, opt)
	if err != nil {
		return err
	}
	defer t.stop()
	b := &tesseraBench{t: t, opt: opt}
	for _, n := range opt.load.clients {
		r, err := b.level(ctx, n)
		if err != nil {
			return err
		}
		progress("tessera: %d clients: %.0f/s p50 %.2f ms p99 %.2f ms, checkpoint %.0f ms later", n, r.PerSecond, r.P50ms, r.P99ms, r.IntegrationLagMs)
		out.Report.Rows = append(out.Report.Rows, r)
	}
	return nil
}

func startTesseraIn(ctx context.Context, workDir string, opt tesseraOptions) (*tesseraLog, error) {
	dir := filepath.Join(workDir, "tessera")
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("tessera directory %s is not empty; remove it or choose another --dir", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	progress("tessera: starting %s in %s", opt.bin, dir)
	return startTessera(ctx, opt, dir)
}
