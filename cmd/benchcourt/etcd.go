package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/courtledger/courtledger/bench"
)

// etcdOptions are the etcd side's knobs.
type etcdOptions struct {
	load           loadOptions
	bin            string // the etcd binary; Debian's etcd-server installs /usr/bin/etcd
	members        int
	valueSize      int
	clientsPerConn int  // goroutines sharing one client (one gRPC connection)
	allEndpoints   bool // spread clients over every member instead of the leader only
}

// etcdCluster is etcd members run as child processes on loopback.
type etcdCluster struct {
	clientURLs []string // by member
	members    []*etcdMember
	cancel     context.CancelFunc
}

type etcdMember struct {
	name string
	pid  int
	log  string
	done chan struct{} // closed when the process has exited
	err  error         // its exit, once done
}

// startEtcd starts n members under dir and waits until the cluster has a
// leader and takes a write. The members are killed when ctx ends or stop
// is called, and, through Pdeathsig, if this process dies first.
func startEtcd(ctx context.Context, bin, dir string, n int) (*etcdCluster, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("etcd binary %q: %w (on Debian: apt-get install etcd-server)", bin, err)
	}
	addrs, err := freeAddrs(2 * n)
	if err != nil {
		return nil, err
	}
	var initial []string
	for i := 0; i < n; i++ {
		initial = append(initial, fmt.Sprintf("m%d=http://%s", i, addrs[n+i]))
	}
	pctx, cancel := context.WithCancel(ctx)
	e := &etcdCluster{cancel: cancel}
	for i := 0; i < n; i++ {
		name, client, peer := fmt.Sprintf("m%d", i), "http://"+addrs[i], "http://"+addrs[n+i]
		m := &etcdMember{name: name, log: filepath.Join(dir, name+".log"), done: make(chan struct{})}
		logf, err := os.Create(m.log)
		if err != nil {
			e.stop()
			return nil, err
		}
		cmd := exec.CommandContext(pctx, path,
			"--name", name,
			"--data-dir", filepath.Join(dir, name),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-token", "benchcourt", "--initial-cluster-state", "new",
			"--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn",
		)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Start(); err != nil {
			logf.Close()
			e.stop()
			return nil, fmt.Errorf("start etcd %s: %w", name, err)
		}
		m.pid = cmd.Process.Pid
		go func() {
			m.err = cmd.Wait()
			logf.Close()
			close(m.done)
		}()
		e.members = append(e.members, m)
		e.clientURLs = append(e.clientURLs, client)
	}
	if err := e.waitHealthy(ctx, time.Minute); err != nil {
		e.stop()
		return nil, err
	}
	return e, nil
}

// stop ends every member and waits for it: SIGTERM, then SIGKILL after 5 s.
func (e *etcdCluster) stop() {
	e.cancel()
	for _, m := range e.members {
		<-m.done
	}
}

func newEtcdClient(endpoints []string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
}

// waitHealthy waits until every member reports the same leader and a write
// commits; a member that exits ends the wait with its log's name.
func (e *etcdCluster) waitHealthy(ctx context.Context, backstop time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, backstop)
	defer cancel()
	cli, err := newEtcdClient(e.clientURLs)
	if err != nil {
		return err
	}
	defer cli.Close()
	last := ""
	for {
		for _, m := range e.members {
			select {
			case <-m.done:
				return fmt.Errorf("etcd %s exited (%v); see %s", m.name, m.err, m.log)
			default:
			}
		}
		if _, err := e.leaderURL(ctx, cli); err != nil {
			last = err.Error()
		} else {
			pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := cli.Put(pctx, "benchcourt/health", "ok")
			pcancel()
			if err == nil {
				return nil
			}
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("etcd not healthy (last: %s): %w", last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// leaderURL asks every member for its status and returns the leader's
// client URL, once all agree on one.
func (e *etcdCluster) leaderURL(ctx context.Context, cli *clientv3.Client) (string, error) {
	var leader uint64
	url := ""
	for _, ep := range e.clientURLs {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := cli.Status(sctx, ep)
		cancel()
		if err != nil {
			return "", fmt.Errorf("status of %s: %w", ep, err)
		}
		if st.Leader == 0 || (leader != 0 && st.Leader != leader) {
			return "", fmt.Errorf("%s sees leader %x, others %x", ep, st.Leader, leader)
		}
		leader = st.Leader
		if st.Header.MemberId == st.Leader {
			url = ep
		}
	}
	if url == "" {
		return "", errors.New("no member is the leader it names")
	}
	return url, nil
}

// etcdBench drives one etcd cluster level by level.
type etcdBench struct {
	e     *etcdCluster
	opt   etcdOptions
	value string
	runs  int
}

func newEtcdBench(e *etcdCluster, opt etcdOptions) (*etcdBench, error) {
	v := make([]byte, opt.valueSize)
	if _, err := rand.Read(v); err != nil {
		return nil, err
	}
	return &etcdBench{e: e, opt: opt, value: string(v)}, nil
}

// level runs one concurrency level of puts, each to a distinct key.
func (b *etcdBench) level(ctx context.Context, clients int) (row, error) {
	b.runs++
	endpoints := b.e.clientURLs
	if !b.opt.allEndpoints {
		cli, err := newEtcdClient(b.e.clientURLs)
		if err != nil {
			return row{}, err
		}
		url, err := b.e.leaderURL(ctx, cli)
		cli.Close()
		if err != nil {
			return row{}, err
		}
		endpoints = []string{url}
	}
	conns := (clients + b.opt.clientsPerConn - 1) / b.opt.clientsPerConn
	clis := make([]*clientv3.Client, conns)
	defer func() {
		for _, c := range clis {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range clis {
		c, err := newEtcdClient(endpoints)
		if err != nil {
			return row{}, err
		}
		clis[i] = c
	}
	seq := make([]uint64, clients)
	progress("etcd: %d clients on %d connections to %v, %d-byte values, %v warm-up, %v measured",
		clients, conns, endpoints, b.opt.valueSize, b.opt.load.warmup, b.opt.load.duration)
	var puts atomic.Int64 // all acknowledged, warm-up included
	put := func(ctx context.Context, client int) error {
		seq[client]++
		key := fmt.Sprintf("bench/%d/%d/%d", b.runs, client, seq[client])
		_, err := clis[client/b.opt.clientsPerConn].Put(ctx, key, b.value)
		if err == nil {
			puts.Add(1)
		}
		return err
	}
	wroteBefore := b.e.writtenBytes()
	var res bench.Result
	m := meter{pids: b.e.pids(), ops: puts.Load}
	use := m.measure(b.opt.load, func() {
		b.opt.load.profiled("etcd", clients, func() { res = bench.Run(ctx, b.opt.load.config(clients), put) })
	})
	if err := ctx.Err(); err != nil {
		return row{}, err
	}
	for _, m := range b.e.members {
		select {
		case <-m.done:
			return row{}, fmt.Errorf("etcd %s exited during the run (%v); see %s", m.name, m.err, m.log)
		default:
		}
	}
	r := rowOf("etcd", &res)
	use.set(&r)
	if n := puts.Load(); n > 0 {
		r.DiskBytesPerSub = float64(b.e.writtenBytes()-wroteBefore) / float64(n)
	}
	return r, nil
}

// writtenBytes is what all members have written to storage so far.
func (e *etcdCluster) writtenBytes() uint64 {
	var sum uint64
	for _, m := range e.members {
		if n, err := bench.WrittenBytes(m.pid); err == nil {
			sum += n
		}
	}
	return sum
}

func (e *etcdCluster) pids() []int {
	var out []int
	for _, m := range e.members {
		out = append(out, m.pid)
	}
	return out
}
