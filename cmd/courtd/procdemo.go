package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/spf13/cobra"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court"
)

// The multi-process demo (issue 17): the local deployment of `courtd init
// --local`, each node a `courtd run` child process, so that one court can
// be stopped (`courtd demo stop hz`) while the others go on.

const (
	procDemoPlatform = "platform.example" // init's platform user
	pidFileName      = "demo.pids"
)

// procDemo is a running multi-process demo.
type procDemo struct {
	dir   string
	d     *deployment
	mu    sync.Mutex
	procs map[string]*exec.Cmd // by node name
	done  sync.WaitGroup
}

// startProcDemo generates the local deployment under dir/deploy on first
// run (later runs reuse it and its data) and starts its nine nodes.
func startProcDemo(dir string, base int, out io.Writer) (*procDemo, error) {
	if err := checkDemoPorts(base); err != nil {
		return nil, err
	}
	p := &procDemo{dir: dir, procs: map[string]*exec.Cmd{}}
	deployDir := filepath.Join(dir, "deploy")
	if _, err := os.Stat(deployDir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		if p.d, err = generate(localSpec(base), initOptions{out: deployDir, local: true}); err != nil {
			return nil, err
		}
	} else if p.d, err = existingDeployment(deployDir); err != nil {
		return nil, err
	} else if want := localSpec(base).Courts[0].Nodes[0]; p.d.courts[0].nodes[0].grpc != want.addr(want.GRPC) {
		// The ports are in the generated files: a resumed demo keeps them.
		return nil, fmt.Errorf("%w: the demo in %s listens from another base port (hz-1's gRPC is %s): give the --base-port it was made with, or remove %s",
			errUsage, dir, p.d.courts[0].nodes[0].grpc, dir)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return nil, err
	}
	var pids strings.Builder
	for _, c := range p.d.courts {
		for _, n := range c.nodes {
			logf, err := os.OpenFile(filepath.Join(dir, "logs", n.name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
			if err != nil {
				p.stop()
				return nil, err
			}
			cmd := exec.Command(self, "run", "--config", n.config)
			cmd.Stdout, cmd.Stderr = logf, logf
			orphanSignal(cmd)
			if err := cmd.Start(); err != nil {
				logf.Close()
				p.stop()
				return nil, fmt.Errorf("start %s: %w", n.name, err)
			}
			p.procs[n.name] = cmd
			fmt.Fprintf(&pids, "%s %s %d\n", c.prefix, n.name, cmd.Process.Pid)
			p.done.Add(1)
			go func() {
				// Supervised, not restarted: a node that exits is reported, so
				// that stopping a court shows as what it is.
				defer p.done.Done()
				err := cmd.Wait()
				logf.Close()
				fmt.Fprintf(out, "node %s (pid %d) exited: %v; its log: %s\n", n.name, cmd.Process.Pid, exitText(err), logf.Name())
			}()
		}
	}
	if err := os.WriteFile(filepath.Join(dir, pidFileName), []byte(pids.String()), 0o644); err != nil {
		p.stop()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for _, c := range p.d.courts {
		if err := p.register(ctx, c); err != nil {
			p.stop()
			return nil, err
		}
	}
	return p, nil
}

func exitText(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

// existingDeployment finds the nodes of a deployment init wrote before.
func existingDeployment(out string) (*deployment, error) {
	d := &deployment{out: out}
	for _, c := range demoCourts {
		dc := deployCourt{id: c.id, prefix: c.prefix}
		for i := range 3 {
			name := demoNodeID(c.prefix, i)
			cfg := filepath.Join(out, c.prefix, name, "node.yaml")
			fc, err := court.LoadConfig(cfg, nil)
			if err != nil {
				return nil, fmt.Errorf("%w (remove %s to start afresh)", err, out)
			}
			dc.nodes = append(dc.nodes, deployNode{name: name, dir: filepath.Dir(cfg), config: cfg, grpc: fc.GRPCAddr, http: fc.HTTPAddr})
		}
		d.courts = append(d.courts, dc)
	}
	return d, nil
}

// register registers init's platform key at court c, as its admin.
func (p *procDemo) register(ctx context.Context, c deployCourt) error {
	op := filepath.Join(p.d.out, "operator")
	pub, err := os.ReadFile(filepath.Join(op, "platform.pub.pem"))
	if err != nil {
		return err
	}
	dial, err := client.DialTLS(client.TLSFiles{CAFile: filepath.Join(op, "ca.pem"), CertFile: filepath.Join(op, "admin.pem")})
	if err != nil {
		return err
	}
	req := &pb.RegisterPlatformRequest{PlatformId: procDemoPlatform, PublicKeyPem: string(pub)}
	var last error
	for {
		for _, n := range c.nodes {
			cc, err := grpc.NewClient(n.grpc, dial)
			if err != nil {
				return err
			}
			cctx, ccancel := context.WithTimeout(ctx, 3*time.Second)
			_, err = pb.NewAdminServiceClient(cc).RegisterPlatform(cctx, req)
			ccancel()
			cc.Close()
			if err == nil || strings.Contains(err.Error(), "AlreadyExists") {
				return nil
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("court %s: no leader to register the demo platform: %w (last: %v); the nodes' logs are in %s",
				c.id, ctx.Err(), last, filepath.Join(p.dir, "logs"))
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM to every node still running and waits for them.
func (p *procDemo) stop() {
	for _, cmd := range p.procs {
		cmd.Process.Signal(syscall.SIGTERM)
	}
	p.done.Wait()
	os.Remove(filepath.Join(p.dir, pidFileName))
}

func (p *procDemo) print(w io.Writer) {
	fmt.Fprintf(w, "Three internet courts run as nine courtd processes on 127.0.0.1 (deployment in %s/deploy, logs in %s/logs).\n\n", p.dir, p.dir)
	for _, c := range p.d.courts {
		fmt.Fprintf(w, "%s court  %s\n", c.prefix, c.id)
		for _, n := range c.nodes {
			fmt.Fprintf(w, "  node %-5s pid %-7d gRPC %s  REST https://%s\n", n.name, p.procs[n.name].Process.Pid, n.grpc, n.http)
		}
	}
	fmt.Fprintf(w, "\nPlatform %q is registered at every court. PIDs: %s/%s.\n\nNext steps, in another terminal, at the repository's root:\n",
		procDemoPlatform, p.dir, pidFileName)
	for _, line := range p.nextSteps() {
		fmt.Fprintln(w, "  "+line)
	}
	fmt.Fprint(w, "\nCtrl-C stops the courts; running the demo again resumes with the same data.\n")
}

// nextSteps file evidence at Hangzhou, see Beijing mirror it, stop
// Hangzhou and verify at Beijing again (TestProcessDemo runs them).
func (p *procDemo) nextSteps() []string {
	op := filepath.Join(p.d.out, "operator")
	hz, bj := p.d.courts[0], p.d.courts[1]
	var hzAll []string
	for _, n := range hz.nodes {
		hzAll = append(hzAll, n.grpc)
	}
	ctl := "bin/evidencectl"
	judge := "--cert " + filepath.Join(op, "judge.pem")
	return []string{
		demoBuild + "   # bin/evidencectl, bin/courtd",
		fmt.Sprintf("export EVIDENCECTL_SERVER=%s EVIDENCECTL_TRUST=%s/trust.txt EVIDENCECTL_CA=%s/ca.pem", strings.Join(hzAll, ","), op, op),
		fmt.Sprintf("%s submit --cert %s/platform.pem --platform %s --key %s/platform.key.pem README.md", ctl, op, procDemoPlatform, op),
		fmt.Sprintf("%s verify %s README.md   # at Hangzhou", ctl, judge),
		fmt.Sprintf("%s verify --server %s %s README.md   # at Beijing, from its mirror of Hangzhou", ctl, bj.nodes[0].grpc, judge),
		fmt.Sprintf("bin/courtd demo stop %s --dir %s   # Hangzhou's three processes get SIGTERM", hz.prefix, p.dir),
		fmt.Sprintf("%s verify --server %s %s README.md   # Hangzhou is down; Beijing still verifies", ctl, bj.nodes[0].grpc, judge),
	}
}

// runProcDemo is `courtd demo --processes`.
func runProcDemo(cmd *cobra.Command, dir string, base int) error {
	for _, f := range []string{"insecure", "pprof"} {
		if cmd.Flags().Changed(f) {
			return fmt.Errorf("%w: --%s is for the in-process demo; the processes of --processes run the generated node.yaml files (TLS always)", errUsage, f)
		}
	}
	out := cmd.OutOrStdout()
	p, err := startProcDemo(dir, base, out)
	if err != nil {
		return err
	}
	p.print(out)
	waitForSignal()
	fmt.Fprintln(out, "stopping the courts; run again to resume with the same data")
	p.stop()
	return nil
}

func demoStopCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "stop COURT",
		Short: "Stop one court of a `demo --processes` (hz, bj or gz): SIGTERM to its nodes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return stopDemoCourt(cmd.OutOrStdout(), dir, args[0])
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "courtledger-demo", "the demo's --dir")
	return cmd
}

// stopDemoCourt sends SIGTERM to the recorded processes of one court and
// waits until they are gone.
func stopDemoCourt(w io.Writer, dir, prefix string) error {
	b, err := os.ReadFile(filepath.Join(dir, pidFileName))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: no %s in %s: is a `courtd demo --processes --dir %s` running?", errUsage, pidFileName, dir, dir)
	} else if err != nil {
		return err
	}
	var pids []int
	var known []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			return fmt.Errorf("%s: bad line %q", pidFileName, line)
		}
		if !slices.Contains(known, f[0]) {
			known = append(known, f[0])
		}
		if f[0] != prefix {
			continue
		}
		pid, err := strconv.Atoi(f[2])
		if err != nil {
			return fmt.Errorf("%s: bad line %q", pidFileName, line)
		}
		pids = append(pids, pid)
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("stop %s (pid %d): %w", f[1], pid, err)
		}
		fmt.Fprintf(w, "sent SIGTERM to %s (pid %d)\n", f[1], pid)
	}
	if len(pids) == 0 {
		return fmt.Errorf("%w: no court %q in this demo: give one of %s", errUsage, prefix, strings.Join(known, ", "))
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, pid := range pids {
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				return fmt.Errorf("pid %d did not stop within 60 s", pid)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	fmt.Fprintf(w, "court %s is down\n", prefix)
	return nil
}
