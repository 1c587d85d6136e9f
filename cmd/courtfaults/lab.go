package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/devca"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
)

// The lab: courts of three `courtd run` processes each on 127.0.0.1, with
// mutual TLS from a development CA, every link between two processes
// through a proxy of the lab's network (proxy.go).

const (
	platformID = "faults-platform.example"
	// auditorCourt is the identity the suite reads whole logs with
	// (SyncService.StreamEntries); every court lists it as a peer.
	auditorCourt = "auditor.faults.example/evidence"
)

// courtSpecs are the courts a lab can have, in order.
var courtSpecs = []struct{ id, prefix string }{
	{"hangzhou.court.example/evidence", "hz"},
	{"beijing.court.example/evidence", "bj"},
}

// lab is one run's courts, network and credentials.
type lab struct {
	dir    string
	courtd string // the binary
	pki    string
	caFile string
	certs  map[access.Role]string // users' certificate files (key inside)
	net    *network
	courts []*courtProcs
	tmpfs  bool // node data directories are tmpfs mounts (for disk full)

	platformKey *sm2.PrivateKey
	dialUser    map[access.Role]grpc.DialOption
	httpJudge   *http.Client
}

// courtProcs is one court: its key and three nodes.
type courtProcs struct {
	id       string
	key      *sm2.PrivateKey
	verifier *checkpoint.Verifier
	nodes    []*nodeProc
}

// labOptions shape a lab.
type labOptions struct {
	courts int  // 1 or 2
	tmpfs  bool // mount a tmpfs of tmpfsSize on each node's data directory
	// wan is the one-way delay between courts (their nodes' sync links).
	wan time.Duration
}

// tmpfsSize leaves room for a long run's bbolt files, which grow by
// doubling (48 MiB filled up under 32 submitters with no fault at all,
// and in one run 192 MiB did too, on the two nodes that were not filled).
// A tmpfs takes memory only for what is written, but the filled node's
// is all written.
const tmpfsSize = "512m"

// newLab makes keys, certificates and configurations and starts every
// node; it returns when every court has a leader and the platform is
// registered at each.
func newLab(ctx context.Context, dir, courtd string, opt labOptions) (*lab, error) {
	l := &lab{dir: dir, courtd: courtd, pki: filepath.Join(dir, "pki"), certs: map[access.Role]string{},
		dialUser: map[access.Role]grpc.DialOption{}, tmpfs: opt.tmpfs}
	l.caFile = filepath.Join(l.pki, "ca.pem")
	ca, err := devca.LoadOrCreate(l.pki)
	if err != nil {
		return nil, err
	}
	users := map[access.Role]string{access.RolePlatform: platformID, access.RoleJudge: "judge-faults",
		access.RoleAdmin: "admin-faults", access.RolePeer: auditorCourt}
	for role, id := range users {
		if l.certs[role], err = ca.IssueFile(l.pki, string(role), access.Identity{Role: role, ID: id}); err != nil {
			return nil, err
		}
		if l.dialUser[role], err = client.DialTLS(client.TLSFiles{CAFile: l.caFile, CertFile: l.certs[role]}); err != nil {
			return nil, err
		}
	}
	tc, err := client.TLSFiles{CAFile: l.caFile, CertFile: l.certs[access.RoleJudge]}.Config()
	if err != nil {
		return nil, err
	}
	l.httpJudge = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
	if l.platformKey, err = sm2.GenerateKey(); err != nil {
		return nil, err
	}
	l.net = newNetwork()
	for ci := 0; ci < opt.courts; ci++ {
		c := &courtProcs{id: courtSpecs[ci].id}
		if c.key, err = sm2.GenerateKey(); err != nil {
			return nil, err
		}
		if c.verifier, err = checkpoint.NewVerifier(c.id, c.key.Public()); err != nil {
			return nil, err
		}
		for i := 1; i <= 3; i++ {
			n := &nodeProc{lab: l, court: c, id: fmt.Sprintf("%s-%d", courtSpecs[ci].prefix, i)}
			for _, a := range []*string{&n.raft, &n.grpc, &n.http} {
				if *a, err = freePort(); err != nil {
					return nil, err
				}
			}
			c.nodes = append(c.nodes, n)
		}
		l.courts = append(l.courts, c)
	}
	for _, c := range l.courts {
		if err := l.writeConfigs(ca, c, opt); err != nil {
			l.close()
			return nil, err
		}
	}
	for _, c := range l.courts {
		for _, n := range c.nodes {
			if err := n.start(); err != nil {
				l.close()
				return nil, err
			}
		}
	}
	for _, c := range l.courts {
		if err := l.registerPlatform(ctx, c); err != nil {
			l.close()
			return nil, err
		}
	}
	return l, nil
}

// freePort picks a free port for a node below the kernel's ephemeral
// range (32768 and up on Linux): a port from that range, free while its
// node is down, can be taken by any outgoing connection's source port
// (the proxies dial a lot), and the node could not start again.
// handedOut holds every port freePort returned in this process: a port is
// free when checked but taken only when its node starts, so without it two
// listeners of one run could be given the same one (a run saw a node dial
// another's Raft port and the first node fail to bind).
var handedOut = struct {
	sync.Mutex
	ports map[string]bool
}{ports: map[string]bool{}}

func freePort() (string, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	var err error
	for try := 0; try < 100; try++ {
		addr := fmt.Sprintf("127.0.0.1:%d", 10000+rand.IntN(10000))
		if handedOut.ports[addr] {
			continue
		}
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			ln.Close()
			handedOut.ports[addr] = true
			return addr, nil
		}
	}
	return "", fmt.Errorf("no free port in 10000-19999: %w", err)
}

// writeConfigs writes each node's YAML: the same court and peers for all,
// and its own dial_via, which sends each of its links through the
// network's proxy for that link (a Raft address is in Raft's shared
// configuration, so the redirection must be the dialer's, per node).
func (l *lab) writeConfigs(ca *devca.CA, c *courtProcs, opt labOptions) error {
	dir := filepath.Join(l.dir, strings.SplitN(c.id, ".", 2)[0])
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	pemKey, err := c.key.MarshalPEM()
	if err != nil {
		return err
	}
	keyFile := filepath.Join(dir, "court.key.pem")
	if err := os.WriteFile(keyFile, pemKey, 0o600); err != nil {
		return err
	}
	var peers strings.Builder
	for _, n := range c.nodes {
		fmt.Fprintf(&peers, "  - {node_id: %s, raft_addr: %q, grpc_addr: %q}\n", n.id, n.raft, n.grpc)
	}
	var courts strings.Builder
	peerCourts := []string{auditorCourt}
	for _, o := range l.courts {
		if o == c {
			continue
		}
		pub := filepath.Join(dir, strings.SplitN(o.id, ".", 2)[0]+".pub.pem")
		if err := os.WriteFile(pub, o.key.Public().MarshalPEM(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(&courts, "  - court: %s\n    key_file: %s\n    endpoints: [%s]\n", o.id, pub, strings.Join(grpcAddrs(o), ", "))
		peerCourts = append(peerCourts, o.id)
	}
	for _, n := range c.nodes {
		cert, err := ca.IssueFile(l.pki, "node-"+n.id, access.NodeIdentity(c.id, n.id))
		if err != nil {
			return err
		}
		n.dataDir = filepath.Join(dir, n.id)
		n.clockFile = filepath.Join(dir, n.id+".clock")
		n.logFile = filepath.Join(dir, n.id+".log")
		n.config = filepath.Join(dir, n.id+".yaml")
		if err := os.MkdirAll(n.dataDir, 0o700); err != nil {
			return err
		}
		if opt.tmpfs {
			if err := mountTmpfs(n.dataDir); err != nil {
				return err
			}
		}
		var via strings.Builder
		for _, o := range c.nodes {
			if o != n {
				fmt.Fprintf(&via, "  - {addr: %q, via: %q}\n", o.raft, l.net.link(n.id, o.id, "raft", o.raft, 0))
				fmt.Fprintf(&via, "  - {addr: %q, via: %q}\n", o.grpc, l.net.link(n.id, o.id, "grpc", o.grpc, 0))
			}
		}
		for _, oc := range l.courts {
			if oc == c {
				continue
			}
			for _, o := range oc.nodes {
				fmt.Fprintf(&via, "  - {addr: %q, via: %q}\n", o.grpc, l.net.link(n.id, o.id, "sync", o.grpc, opt.wan))
			}
		}
		cfg := fmt.Sprintf("court: %s\nnode_id: %s\ndata_dir: %s\nraft_addr: %q\ngrpc_addr: %q\nhttp_addr: %q\n"+
			"court_key_file: %s\nbootstrap: true\npeers:\n%s"+
			"tls_cert_file: %s\ntls_key_file: %s\ntls_ca_file: %s\npeer_courts: [%s]\nsync_interval: 500ms\n"+
			"rate_per_second: 100000\nrate_burst: 100000\ndial_via:\n%s",
			c.id, n.id, n.dataDir, n.raft, n.grpc, n.http, keyFile, peers.String(),
			cert, cert, l.caFile, strings.Join(peerCourts, ", "), via.String())
		if courts.Len() > 0 {
			cfg += "courts:\n" + courts.String()
		}
		if err := os.WriteFile(n.config, []byte(cfg), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func grpcAddrs(c *courtProcs) []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.grpc)
	}
	return out
}

// registerPlatform registers the suite's platform, through any node.
func (l *lab) registerPlatform(ctx context.Context, c *courtProcs) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req := &pb.RegisterPlatformRequest{PlatformId: platformID, PublicKeyPem: string(l.platformKey.Public().MarshalPEM())}
	var last error
	for {
		for _, n := range c.nodes {
			cc, err := n.conn(access.RoleAdmin)
			if err != nil {
				return err
			}
			cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
			_, err = pb.NewAdminServiceClient(cc).RegisterPlatform(cctx, req)
			ccancel()
			cc.Close()
			if err == nil || strings.Contains(err.Error(), "AlreadyExists") || strings.Contains(err.Error(), "already") {
				return nil
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("register the platform at %s: %w (last: %v)", c.id, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// close stops every process and proxy and unmounts the tmpfs mounts.
func (l *lab) close() error {
	var errs []error
	for _, c := range l.courts {
		for _, n := range c.nodes {
			errs = append(errs, n.kill(syscall.SIGKILL))
			if l.tmpfs && n.dataDir != "" {
				unmountTmpfs(n.dataDir)
			}
		}
	}
	if l.net != nil {
		l.net.close()
	}
	return errors.Join(errs...)
}

// mountTmpfs mounts a small tmpfs on dir: a disk of its own that the
// disk-full faults fill. It needs root.
func mountTmpfs(dir string) error {
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+tmpfsSize+",mode=0700", "tmpfs", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mount a tmpfs on %s: %v: %s", dir, err, out)
	}
	return nil
}

func unmountTmpfs(dir string) {
	exec.Command("umount", "-l", dir).Run()
}

// canMountTmpfs says whether this process may mount a tmpfs, and if not why.
func canMountTmpfs(dir string) error {
	if os.Geteuid() != 0 {
		return errors.New("not root: disk-full faults need a tmpfs mount per node")
	}
	probe := filepath.Join(dir, "tmpfs-probe")
	if err := os.MkdirAll(probe, 0o700); err != nil {
		return err
	}
	defer os.Remove(probe)
	if err := mountTmpfs(probe); err != nil {
		return err
	}
	unmountTmpfs(probe)
	return nil
}
