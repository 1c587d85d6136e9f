package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/devca"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
)

// The court as deployed: three `courtd run` processes on loopback, mutual
// TLS everywhere from a development CA, driven through gRPC by the
// project's Go client (api/client) as a platform would. The approach is
// cmd/courtfaults/lab.go's, without its proxies: benchcourt measures, it
// does not cut links.

// procOptions are the process court's knobs (--court-procs and friends).
type procOptions struct {
	on         bool
	bin        string // courtd binary; empty: build it into the work directory
	batch      int    // entries per SubmitBatch call; 0: Submit, one at a time
	endpoints  string // "leader": the client knows the leader only; "all": every node
	perConn    int    // client goroutines sharing one api/client.Client
	maxPending int    // courtd's max_pending; 0: its default
	signed     bool   // with batch: SubmitSignedBatch, the batch signed once by the platform
}

// procCourt is a court of courtd processes.
type procCourt struct {
	dir          string
	caFile       string
	platformDial grpc.DialOption // TLS as the benchmark's platform
	adminDial    grpc.DialOption // TLS as an administrator
	verifier     *checkpoint.Verifier
	subs         *submissionSigner
	nodes        []*courtdProc
	cancel       context.CancelFunc
}

// courtdProc is one courtd process.
type courtdProc struct {
	id               string
	raft, grpc, http string
	log              string
	pid              int
	done             chan struct{} // closed when the process has exited
	err              error         // its exit, once done
}

// buildCourtd builds cmd/courtd into dir, once per run; benchcourt must
// be run from the module (the repository's root or below).
func buildCourtd(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "courtd")
	progress("court: building courtd into %s", out)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/courtledger/courtledger/cmd/courtd")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build courtd (run benchcourt inside the repository, or give --courtd-bin): %w: %s", err, b)
	}
	return out, nil
}

// startProcCourt writes a CA, certificates, a court key and three
// configurations under dir, starts three courtd processes, waits for a
// leader and registers the benchmark's platform with it. The processes are
// stopped by close (SIGTERM, SIGKILL 5 s later) and killed by the kernel
// if benchcourt dies first (Pdeathsig).
func startProcCourt(ctx context.Context, dir string, opt procOptions) (*procCourt, error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("court directory %s is not empty; remove it or choose another --dir", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	bin := opt.bin
	if bin == "" {
		var err error
		if bin, err = buildCourtd(ctx, dir); err != nil {
			return nil, err
		}
	} else if _, err := exec.LookPath(bin); err != nil {
		return nil, fmt.Errorf("courtd binary %q: %w (build it with go build -o DIR/courtd ./cmd/courtd)", bin, err)
	}
	pki := filepath.Join(dir, "pki")
	ca, err := devca.LoadOrCreate(pki)
	if err != nil {
		return nil, err
	}
	c := &procCourt{dir: dir, caFile: filepath.Join(pki, "ca.pem")}
	platformCert, err := ca.IssueFile(pki, "platform", access.Identity{Role: access.RolePlatform, ID: benchPlatform})
	if err != nil {
		return nil, err
	}
	adminCert, err := ca.IssueFile(pki, "admin", access.Identity{Role: access.RoleAdmin, ID: "benchcourt-admin"})
	if err != nil {
		return nil, err
	}
	if c.platformDial, err = client.DialTLS(client.TLSFiles{CAFile: c.caFile, CertFile: platformCert}); err != nil {
		return nil, err
	}
	if c.adminDial, err = client.DialTLS(client.TLSFiles{CAFile: c.caFile, CertFile: adminCert}); err != nil {
		return nil, err
	}
	courtKey, err := sm2.GenerateKey()
	if err != nil {
		return nil, err
	}
	if c.verifier, err = checkpoint.NewVerifier(benchCourt, courtKey.Public()); err != nil {
		return nil, err
	}
	platformKey, err := sm2.GenerateKey()
	if err != nil {
		return nil, err
	}
	if c.subs, err = newSubmissionSigner(platformKey); err != nil {
		return nil, err
	}
	keyPEM, err := courtKey.MarshalPEM()
	if err != nil {
		return nil, err
	}
	keyFile := filepath.Join(dir, "court.key.pem")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return nil, err
	}
	addrs, err := freeAddrs(9)
	if err != nil {
		return nil, err
	}
	var peers strings.Builder
	for i := 0; i < 3; i++ {
		n := &courtdProc{id: fmt.Sprintf("node%d", i), raft: addrs[3*i], grpc: addrs[3*i+1], http: addrs[3*i+2], done: make(chan struct{})}
		fmt.Fprintf(&peers, "  - {node_id: %s, raft_addr: %q, grpc_addr: %q}\n", n.id, n.raft, n.grpc)
		c.nodes = append(c.nodes, n)
	}
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	for _, n := range c.nodes {
		cert, err := ca.IssueFile(pki, "node-"+n.id, access.NodeIdentity(benchCourt, n.id))
		if err != nil {
			c.close()
			return nil, err
		}
		cfg := fmt.Sprintf("court: %s\nnode_id: %s\ndata_dir: %s\nraft_addr: %q\ngrpc_addr: %q\nhttp_addr: %q\n"+
			"court_key_file: %s\nbootstrap: true\npeers:\n%s"+
			"tls_cert_file: %s\ntls_key_file: %s\ntls_ca_file: %s\n"+
			// The benchmark is one platform sending as fast as it can: the
			// per-caller rate limit would measure itself.
			"rate_per_second: 1000000\nrate_burst: 1000000\n",
			benchCourt, n.id, filepath.Join(dir, n.id), n.raft, n.grpc, n.http, keyFile, peers.String(), cert, cert, c.caFile)
		if opt.maxPending > 0 {
			cfg += fmt.Sprintf("max_pending: %d\n", opt.maxPending)
		}
		config := filepath.Join(dir, n.id+".yaml")
		if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
			c.close()
			return nil, err
		}
		n.log = filepath.Join(dir, n.id+".log")
		if err := n.start(pctx, bin, config); err != nil {
			c.close()
			return nil, err
		}
	}
	progress("court: %d courtd processes (pids %v), logs %s/node*.log", len(c.nodes), c.pids(), dir)
	if err := c.registerPlatform(ctx, platformKey); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (n *courtdProc) start(ctx context.Context, bin, config string) error {
	logf, err := os.Create(n.log)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, "run", "--config", config)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start courtd %s: %w", n.id, err)
	}
	n.pid = cmd.Process.Pid
	go func() {
		n.err = cmd.Wait()
		logf.Close()
		close(n.done)
	}()
	return nil
}

// close stops every process and waits for it.
func (c *procCourt) close() {
	if c.cancel != nil {
		c.cancel()
	}
	for _, n := range c.nodes {
		if n.pid != 0 {
			<-n.done
		}
	}
}

func (c *procCourt) pids() []int {
	var out []int
	for _, n := range c.nodes {
		out = append(out, n.pid)
	}
	return out
}

// exited names a node whose process has ended, or returns nil.
func (c *procCourt) exited() error {
	for _, n := range c.nodes {
		select {
		case <-n.done:
			return fmt.Errorf("courtd %s exited (%v); see %s", n.id, n.err, n.log)
		default:
		}
	}
	return nil
}

// status asks one node for its GetClusterStatus as an administrator.
func (c *procCourt) status(ctx context.Context, n *courtdProc) (*pb.GetClusterStatusResponse, error) {
	cc, err := grpc.NewClient(n.grpc, c.adminDial)
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return pb.NewAdminServiceClient(cc).GetClusterStatus(ctx, &pb.GetClusterStatusRequest{})
}

// leader waits until a node says it leads and is ready, and returns it
// with its status.
func (c *procCourt) leader(ctx context.Context, backstop time.Duration) (*courtdProc, *pb.GetClusterStatusResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, backstop)
	defer cancel()
	var last error
	for {
		if err := c.exited(); err != nil {
			return nil, nil, err
		}
		for _, n := range c.nodes {
			st, err := c.status(ctx, n)
			if err != nil {
				last = err
				continue
			}
			if st.State == "Leader" && st.Ready {
				return n, st, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("court: no ready leader (last: %v): %w", last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// registerPlatform registers the benchmark's platform at the leader.
func (c *procCourt) registerPlatform(ctx context.Context, key *sm2.PrivateKey) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	req := &pb.RegisterPlatformRequest{PlatformId: benchPlatform, PublicKeyPem: string(key.Public().MarshalPEM())}
	for {
		n, _, err := c.leader(ctx, 90*time.Second)
		if err != nil {
			return err
		}
		cc, err := grpc.NewClient(n.grpc, c.adminDial)
		if err != nil {
			return err
		}
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = pb.NewAdminServiceClient(cc).RegisterPlatform(cctx, req)
		ccancel()
		cc.Close()
		if err == nil || status.Code(err) == codes.AlreadyExists {
			return nil
		}
		progress("court: register the platform at %s: %v; trying again", n.id, err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("register the platform: %w (last: %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// newClient is the platform's api/client.Client for the given nodes.
func (c *procCourt) newClient(endpoints []string, attempts int, attemptTimeout time.Duration) (*client.Client, error) {
	return client.New(client.Config{
		Endpoints: endpoints, Court: c.verifier, Platform: benchPlatform, Key: c.subs.key,
		Attempts: attempts, AttemptTimeout: attemptTimeout,
		DialOptions: []grpc.DialOption{c.platformDial},
	})
}

func (c *procCourt) grpcAddrs() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.grpc)
	}
	return out
}

// maxTerm is the highest Raft term any node reports, and the leaders seen.
func (c *procCourt) terms(ctx context.Context) (uint64, []string, error) {
	var (
		term    uint64
		leaders []string
		errs    []error
	)
	for _, n := range c.nodes {
		st, err := c.status(ctx, n)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n.id, err))
			continue
		}
		term = max(term, st.Term)
		leaders = append(leaders, n.id+"→"+st.LeaderId)
	}
	if len(errs) == len(c.nodes) {
		return 0, nil, errors.Join(errs...)
	}
	return term, leaders, nil
}
