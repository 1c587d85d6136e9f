package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court/access"
)

// A node of the lab is a courtd process that the faults stop, pause,
// signal and start again.

// nodeProc is one courtd process, which may be stopped and started again.
type nodeProc struct {
	lab              *lab
	court            *courtProcs
	id               string
	raft, grpc, http string
	dataDir          string
	config           string
	clockFile        string
	logFile          string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	paused bool
}

// start runs the node's process; its output goes to its log file.
func (n *nodeProc) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		return fmt.Errorf("%s is running", n.id)
	}
	logf, err := os.OpenFile(n.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "=== start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(n.lab.courtd, "run", "--config", n.config)
	cmd.Env = append(os.Environ(), "COURTLEDGER_FAULT_CLOCK_FILE="+n.clockFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", n.id, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	n.cmd, n.exited, n.paused = cmd, exited, false
	return nil
}

// running reports whether the process is up (paused or not).
func (n *nodeProc) running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// kill sends sig (SIGKILL or SIGTERM) and waits for the process to end.
func (n *nodeProc) kill(sig syscall.Signal) error {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if sig != syscall.SIGKILL {
		cmd.Process.Signal(syscall.SIGCONT)
	}
	cmd.Process.Signal(sig)
	select {
	case <-exited:
		return nil
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-exited
		return fmt.Errorf("%s did not stop on %v; killed", n.id, sig)
	}
}

// pause and resume send SIGSTOP and SIGCONT.
func (n *nodeProc) pause() error  { return n.signal(syscall.SIGSTOP, true) }
func (n *nodeProc) resume() error { return n.signal(syscall.SIGCONT, false) }

func (n *nodeProc) signal(sig syscall.Signal, paused bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return fmt.Errorf("%s is not running", n.id)
	}
	n.paused = paused
	return n.cmd.Process.Signal(sig)
}

// snapshot makes the node take a Raft snapshot (SIGUSR1, see
// cmd/courtd/faulthooks.go) and waits until its log says it did.
func (n *nodeProc) snapshot(ctx context.Context) error {
	const taken = "snapshot on SIGUSR1 taken"
	count := func() int {
		b, _ := os.ReadFile(n.logFile)
		return strings.Count(string(b), taken)
	}
	before := count()
	if err := n.signal(syscall.SIGUSR1, false); err != nil {
		return err
	}
	if err := waitFor(ctx, 20*time.Second, func() bool { return count() > before }); err != nil {
		return fmt.Errorf("%s: no snapshot after SIGUSR1: %w", n.id, err)
	}
	return nil
}

// lastWords is the last panic or error line of the node's log, for a
// node that is not running.
func (n *nodeProc) lastWords() string {
	b, _ := os.ReadFile(n.logFile)
	var last string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "courtd:") || strings.HasPrefix(line, "fatal error:") {
			last = line
		}
	}
	if len(last) > 300 {
		last = last[:300] + "…"
	}
	return last
}

// setClock steps the node's clock by writing its fault clock file.
func (n *nodeProc) setClock(offset time.Duration) error {
	return os.WriteFile(n.clockFile, []byte(offset.String()), 0o600)
}

// ready asks the node's /readyz.
func (n *nodeProc) ready() bool {
	r, err := n.lab.httpJudge.Get("https://" + n.http + "/readyz")
	if err != nil {
		return false
	}
	r.Body.Close()
	return r.StatusCode == http.StatusOK
}

// conn dials the node as role; the caller closes it.
func (n *nodeProc) conn(role access.Role) (*grpc.ClientConn, error) {
	return grpc.NewClient(n.grpc, n.lab.dialUser[role])
}

// status is the node's GetClusterStatus, within a short deadline.
func (n *nodeProc) status(ctx context.Context) (*pb.GetClusterStatusResponse, error) {
	cc, err := n.conn(access.RoleAdmin)
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return pb.NewAdminServiceClient(cc).GetClusterStatus(ctx, &pb.GetClusterStatusRequest{})
}

// leader returns the court's node that says it leads, or nil.
func (c *courtProcs) leader(ctx context.Context) *nodeProc {
	for _, n := range c.nodes {
		if !n.running() || n.isPaused() {
			continue
		}
		if st, err := n.status(ctx); err == nil && st.State == "Leader" {
			return n
		}
	}
	return nil
}

func (n *nodeProc) isPaused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused
}

// waitLeader polls until the court has a leader or ctx ends.
func (c *courtProcs) waitLeader(ctx context.Context) (*nodeProc, error) {
	for {
		if n := c.leader(ctx); n != nil {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("court %s: no leader: %w", c.id, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// follower returns a running node other than the leader.
func (c *courtProcs) follower(leader *nodeProc) *nodeProc {
	for _, n := range c.nodes {
		if n != leader {
			return n
		}
	}
	return nil
}
