package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/court"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/devtsa"
	"github.com/courtledger/courtledger/court/witness"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/tsa"
)

// demoCourts are the three internet courts of the demo.
var demoCourts = []struct{ name, id, prefix string }{
	{"Hangzhou", "hangzhou.court.example/evidence", "hz"},
	{"Beijing", "beijing.court.example/evidence", "bj"},
	{"Guangzhou", "guangzhou.court.example/evidence", "gz"},
}

const demoPlatform = "demo-platform.example"

func demoCmd() *cobra.Command {
	var (
		dir      string
		basePort int
		verbose  bool
		insecure bool
		pprofAt  string
		procs    bool
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start three courts of three nodes each on loopback, with keys and a demo platform",
		Long: `demo starts the Hangzhou, Beijing and Guangzhou courts, three nodes each, in
this process, listening on 127.0.0.1 only. On first run it makes each court's
SM2 key and a demo platform's key under --dir and registers the platform at
every court; later runs reuse the keys and the data. Ctrl-C stops it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if jsonOutput(cmd) {
				return fmt.Errorf("%w: demo prints a walk-through for people; --json is not supported", errUsage)
			}
			if procs {
				return runProcDemo(cmd, dir, basePort) // procdemo.go
			}
			level := slog.LevelError
			if verbose {
				level = slog.LevelInfo
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			if pprofAt != "" {
				if err := servePprof(pprofAt); err != nil {
					return err
				}
			}
			d, err := startDemo(dir, basePort, insecure, log)
			if err != nil {
				return err
			}
			d.print(cmd.OutOrStdout())
			waitForSignal()
			fmt.Fprintln(cmd.OutOrStdout(), "stopping the courts; run again to resume with the same data")
			return d.stop()
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "courtledger-demo", "where keys and data are kept")
	cmd.Flags().IntVar(&basePort, "base-port", 7100, "first of the ports used (Raft, gRPC, HTTP for 9 nodes)")
	cmd.Flags().BoolVar(&verbose, "verbose", false, "log at info level")
	cmd.Flags().BoolVar(&insecure, "insecure", false, "plain text, tokens instead of certificates (debugging only; logs a warning)")
	cmd.Flags().StringVar(&pprofAt, "pprof", "", "serve Go's profiles (net/http/pprof) at this loopback address, e.g. 127.0.0.1:6060")
	cmd.Flags().MarkHidden("pprof")
	cmd.Flags().BoolVar(&procs, "processes", false, "run each node as its own courtd process, so that one court can be stopped (courtd demo stop hz)")
	cmd.AddCommand(demoStopCmd())
	return cmd
}

type demoNode struct {
	court, id                 string
	grpc, http, raft, metrics string
	node                      *court.Node
}

type demo struct {
	dir   string
	nodes []*demoNode
	sec   *demoSecurity // demo_security.go
	// tsa is the development time-stamping authority that stamps every
	// court's heads (issue 16), on its own loopback port.
	tsa    *http.Server
	tsaURL string
}

// demoTSAPort is the port of the demo's TSA: base+3, between the courts'
// Raft ports (base+10*court+node, node 0 to 2).
func demoTSAPort(base int) string { return fmt.Sprintf("127.0.0.1:%d", base+3) }

// demoNodeID names the i-th node (from 0) of a demo court: hz-1, hz-2, ...
func demoNodeID(prefix string, i int) string { return fmt.Sprintf("%s-%d", prefix, i+1) }

// demoPublicURL is a demo court's public_url: its first node's REST
// listener, so that the QR code on its certificate PDFs is a link that
// opens there. None with --insecure: that listener speaks plain HTTP, and
// a certificate may only print an https address (certpdf.CheckVerifyURL).
func demoPublicURL(base, court int, insecure bool) string {
	if insecure {
		return ""
	}
	_, _, http := demoPorts(base, court, 0)
	return "https://" + http
}

func demoPorts(base, court, node int) (raft, grpc, http string) {
	p := base + 10*court + node
	return fmt.Sprintf("127.0.0.1:%d", p), fmt.Sprintf("127.0.0.1:%d", p+1000), fmt.Sprintf("127.0.0.1:%d", p+2000)
}

// demoMetricsPort is where a demo node serves /metrics without
// credentials (metrics_addr), for a Prometheus server to scrape: its Raft
// port + 5, in the gap between the courts' Raft ports, so that the demo
// keeps to the ports it used before (base to base+2022).
func demoMetricsPort(base, court, node int) string {
	return fmt.Sprintf("127.0.0.1:%d", base+10*court+node+5)
}

// checkDemoPorts makes sure the demo can listen on every port it uses,
// by listening on each (and closing them all again).
func checkDemoPorts(base int) error {
	if last := base + 10*(len(demoCourts)-1) + 2 + 2000; base < 1024 || last > 65535 {
		return fmt.Errorf("%w: --base-port %d: the demo uses ports %d to %d; pick a base from 1024 to %d",
			errUsage, base, base, last, 65535-(last-base))
	}
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	ln, err := net.Listen("tcp", demoTSAPort(base))
	if err != nil {
		return fmt.Errorf("cannot listen on %s for the demo's TSA (is another courtd demo running?): %w; stop it, or give this one other ports with --base-port",
			demoTSAPort(base), err)
	}
	lns = append(lns, ln)
	for ci := range demoCourts {
		for i := range 3 {
			raft, grpc, http := demoPorts(base, ci, i)
			for _, addr := range []string{raft, grpc, http, demoMetricsPort(base, ci, i)} {
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					return fmt.Errorf("cannot listen on %s (is another courtd demo running?): %w; stop it, or give this one other ports with --base-port (the demo uses %d to %d)",
						addr, err, base, base+10*(len(demoCourts)-1)+2+2000)
				}
				lns = append(lns, ln)
			}
		}
	}
	return nil
}

// loadOrMakeKey returns the key in path, making it on first use.
func loadOrMakeKey(path string) (*sm2.PrivateKey, error) {
	if b, err := os.ReadFile(path); err == nil {
		return sm2.ParsePrivateKeyPEM(b)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k, err := sm2.GenerateKey()
	if err != nil {
		return nil, err
	}
	pemBytes, err := k.MarshalPEM()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		return nil, err
	}
	pub := strings.TrimSuffix(path, ".key.pem") + ".pub.pem"
	return k, os.WriteFile(pub, k.Public().MarshalPEM(), 0o644)
}

func startDemo(dir string, base int, insecure bool, log *slog.Logger) (*demo, error) {
	// Every port first: a demo that cannot serve must fail before it
	// writes a key or a certificate (a second demo, started by mistake,
	// would otherwise leave a half-made directory behind).
	if err := checkDemoPorts(base); err != nil {
		return nil, err
	}
	d := &demo{dir: dir}
	var err error
	if d.sec, err = newDemoSecurity(dir, insecure, log); err != nil {
		return nil, err
	}
	platformKey, err := loadOrMakeKey(filepath.Join(dir, "keys", "platform.key.pem"))
	if err != nil {
		return nil, fmt.Errorf("platform key: %w", err)
	}
	tsaCfg, err := d.startTSA(dir, base)
	if err != nil {
		return nil, err
	}
	// Every court's key first: each court trusts the others' keys and
	// mirrors their logs.
	var (
		trust []string
		keys  []*sm2.PrivateKey
	)
	for _, c := range demoCourts {
		key, err := loadOrMakeKey(filepath.Join(dir, "keys", c.prefix+".key.pem"))
		if err != nil {
			return nil, fmt.Errorf("%s key: %w", c.name, err)
		}
		v, _ := checkpoint.NewVerifier(c.id, key.Public())
		trust = append(trust, v.String())
		keys = append(keys, key)
	}
	others := func(self int) []witness.OtherCourt {
		var out []witness.OtherCourt
		for ci, c := range demoCourts {
			if ci == self {
				continue
			}
			oc := witness.OtherCourt{Court: c.id, Key: keys[ci].Public()}
			for i := 0; i < 3; i++ {
				_, grpc, _ := demoPorts(base, ci, i)
				oc.Endpoints = append(oc.Endpoints, grpc)
			}
			out = append(out, oc)
		}
		return out
	}
	for ci, c := range demoCourts {
		var peers []court.Peer
		for i := 0; i < 3; i++ {
			raft, grpc, _ := demoPorts(base, ci, i)
			peers = append(peers, court.Peer{NodeID: demoNodeID(c.prefix, i), RaftAddr: raft, GRPCAddr: grpc})
		}
		for i, p := range peers {
			_, _, httpAddr := demoPorts(base, ci, i)
			metricsAddr := demoMetricsPort(base, ci, i)
			sec, err := d.sec.node(c.id, p.NodeID)
			if err != nil {
				d.stop()
				return nil, err
			}
			n, err := court.Start(court.Config{
				Court: c.id, NodeID: p.NodeID, DataDir: filepath.Join(dir, "data", p.NodeID),
				RaftAddr: p.RaftAddr, GRPCAddr: p.GRPCAddr, HTTPAddr: httpAddr, MetricsAddr: metricsAddr, CourtKey: keys[ci],
				Peers: peers, Bootstrap: true, Fast: false, Logger: log, Courts: others(ci), Security: sec,
				PublicURL: demoPublicURL(base, ci, insecure), TSA: []court.TSAConfig{tsaCfg},
			})
			if err != nil {
				d.stop()
				return nil, fmt.Errorf("%s node %s: %w", c.name, p.NodeID, err)
			}
			d.nodes = append(d.nodes, &demoNode{court: c.id, id: p.NodeID, grpc: p.GRPCAddr, http: httpAddr, raft: p.RaftAddr, metrics: metricsAddr, node: n})
		}
	}
	// The trust file carries the TSA's root too: `evidencectl cert verify`
	// then checks a certificate's timestamp.
	trustFile := strings.Join(trust, "\n") + "\n# The demo's time-stamping authority (" + d.tsaURL + ")\n" + string(tsaCfg.AnchorPEM)
	if err := os.WriteFile(filepath.Join(dir, "keys", "trust.txt"), []byte(trustFile), 0o644); err != nil {
		d.stop()
		return nil, err
	}
	// Register the demo platform at every court, once its leader is ready.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, c := range demoCourts {
		if err := d.register(ctx, c.id, platformKey.Public()); err != nil {
			d.stop()
			return nil, err
		}
	}
	return d, nil
}

func (d *demo) register(ctx context.Context, courtID string, pub *sm2.PublicKey) error {
	for {
		for _, n := range d.nodes {
			l := n.node.Ledger()
			if n.court != courtID || !l.IsLeader() {
				continue
			}
			if _, err := l.PlatformKey(demoPlatform); err == nil {
				return nil
			}
			err := l.RegisterPlatform(ctx, demoPlatform, pub)
			if err == nil || errors.Is(err, consensus.ErrPlatformExists) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("court %s: no leader to register the demo platform: %w", courtID, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (d *demo) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var errs []error
	for _, n := range d.nodes {
		errs = append(errs, n.node.Shutdown(ctx))
	}
	if d.tsa != nil {
		errs = append(errs, d.tsa.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// startTSA serves the development TSA kept in dir/tsa (as `courtd tsa`
// does) and returns how the courts use it.
func (d *demo) startTSA(dir string, base int) (court.TSAConfig, error) {
	t, err := devtsa.LoadOrCreate(filepath.Join(dir, "tsa"))
	if err != nil {
		return court.TSAConfig{}, fmt.Errorf("demo TSA: %w", err)
	}
	anchors, err := tsa.ParseAnchors(t.RootPEM())
	if err != nil {
		return court.TSAConfig{}, fmt.Errorf("demo TSA: %w", err)
	}
	ln, err := net.Listen("tcp", demoTSAPort(base))
	if err != nil {
		return court.TSAConfig{}, fmt.Errorf("demo TSA: %w", err)
	}
	d.tsa = &http.Server{Handler: t.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go d.tsa.Serve(ln)
	d.tsaURL = "http://" + ln.Addr().String() + "/"
	return court.TSAConfig{URL: d.tsaURL, Anchors: anchors, AnchorPEM: t.RootPEM(), Tolerance: court.DefaultTSATolerance}, nil
}

func (d *demo) print(w io.Writer) {
	fmt.Fprintf(w, "Three internet courts are running on 127.0.0.1 (keys and data in %s/).\n\n", d.dir)
	scheme := "https"
	if d.sec.insecure {
		scheme = "http"
	}
	for _, c := range demoCourts {
		fmt.Fprintf(w, "%s court  %s\n", c.name, c.id)
		for _, n := range d.nodes {
			if n.court == c.id {
				fmt.Fprintf(w, "  node %-5s gRPC %s  REST %s://%s  metrics http://%s/metrics\n", n.id, n.grpc, scheme, n.http, n.metrics)
			}
		}
	}
	k := filepath.Join(d.dir, "keys")
	fmt.Fprintf(w, `
Platform %q is registered at every court; its signing key is %s/platform.key.pem.
Court keys to trust: %s/trust.txt. OpenAPI: %s://%s/openapi.json
%s%s
Trusted time: a development TSA at %s stamps every court's heads (RFC 3161;
its root is %s/tsa/%s, also in trust.txt).

Next steps, in another terminal, at the repository's root:
`, demoPlatform, k, k, scheme, d.nodes[0].http, d.sec.banner(), d.webLine(), d.tsaURL, d.dir, devtsa.RootFile)
	for _, line := range d.nextSteps() {
		fmt.Fprintln(w, "  "+line)
	}
	fmt.Fprint(w, "\nCtrl-C stops the courts; running the demo again resumes with the same data.\n")
}

// webLine says where the verification pages are: every node's HTTPS
// address serves them (docs/web.md); none over plain text.
func (d *demo) webLine() string {
	if d.sec.insecure {
		return "No web pages over plain text: they need HTTPS (run the demo without --insecure).\n"
	}
	return fmt.Sprintf("Web pages for people (verify a file or a certificate, sign in, court status): https://%s/ (Hangzhou), https://%s/ (Beijing);\n"+
		"the browser does not know the demo's CA: import %s/ca.pem, or accept the warning.\n", d.nodes[0].http, d.nodes[3].http, d.sec.pki)
}

// demoBuild is the first next step: the binaries, built as README.md
// builds them. Built, not 'go run': evidencectl's exit codes (3 NOT
// RECORDED, 8 an alarm, ...) are what the steps promise, and 'go run'
// turns every one of them into 1.
const demoBuild = "go build -o bin/ ./cmd/..."

// nextSteps are the commands the demo suggests, one per line, each to be
// run as printed (in a POSIX shell, at the repository's root) after the
// ones before it; TestDemoCommand runs them.
func (d *demo) nextSteps() []string {
	hz, bj := d.nodes[0], d.nodes[3] // Hangzhou's first node, Beijing's
	var hzAll []string
	for _, n := range d.nodes {
		if n.court == hz.court {
			hzAll = append(hzAll, n.grpc)
		}
	}
	k := filepath.Join(d.dir, "keys")
	as := d.sec.as
	scheme := "https"
	if d.sec.insecure {
		scheme = "http"
	}
	ctl := "bin/evidencectl"
	return []string{
		demoBuild + "   # bin/evidencectl, bin/courtd",
		fmt.Sprintf("export EVIDENCECTL_SERVER=%s EVIDENCECTL_TRUST=%s/trust.txt %s", strings.Join(hzAll, ","), k, d.sec.env()),
		fmt.Sprintf("%s fingerprint README.md", ctl),
		fmt.Sprintf("%s submit %s --platform %s --key %s/platform.key.pem README.md", ctl, as(access.RolePlatform), demoPlatform, k),
		fmt.Sprintf("%s verify %s README.md   # exit 0 VALID, 3 NOT RECORDED, 4 TAMPERED, ...", ctl, as(access.RoleJudge)),
		fmt.Sprintf("%s head %s", ctl, as(access.RoleJudge)),
		fmt.Sprintf("curl -sS %s %s://%s/v1/verify/$(%s fingerprint --json README.md | cut -d'\"' -f8)",
			d.sec.curl(access.RoleJudge), scheme, hz.http, ctl),
		fmt.Sprintf("curl -sS %s %s://%s/v1/admin/cluster", d.sec.curl(access.RoleAdmin), scheme, hz.http),
		fmt.Sprintf("%s verify --server %s %s README.md   # at Beijing, from its mirror of Hangzhou", ctl, bj.grpc, as(access.RoleJudge)),
		fmt.Sprintf("%s sync status %s", ctl, as(access.RoleAdmin)),
		fmt.Sprintf("%s alarms %s   # equivocation alarms; exit 8 if any", ctl, as(access.RoleAdmin)),
	}
}
