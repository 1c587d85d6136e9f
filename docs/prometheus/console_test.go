package prometheus_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/grpc"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
	"github.com/courtledger/courtledger/evidence/certificate"
)

// The console dashboard renders the demo's metrics: `courtd demo` (three
// courts of three nodes, each serving /metrics on loopback), some
// evidence filed and verified, Debian's prometheus scraping every node
// each second and serving consoles/courtledger.html, and headless
// Chromium loading it. Every panel's query must return data, and every
// graph must be drawn (no "No timeseries returned", no error). With
// -update the page is saved as ../img/dashboard.png, the screenshot in
// docs/operations.md.
func TestConsoleRendersDemo(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("no prometheus: install Debian's prometheus package (.ci/run does)")
	}
	chromium := chromiumPath()
	if chromium == "" {
		t.Skip("no Chromium: install Debian's chromium package (.ci/run does), or set COURTLEDGER_CHROMIUM")
	}
	raw, err := os.ReadFile(grafanaFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash grafanaDashboard
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	courtd := buildCourtd(t, dir)
	start := time.Now()
	demo := startDemo(t, courtd, filepath.Join(dir, "demo"))
	t.Logf("demo up in %v", time.Since(start).Round(time.Millisecond))
	prom := startPrometheus(t, promBin, dir, demo.metrics)
	promStart := time.Now()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var load sync.WaitGroup
	load.Add(1)
	go func() { defer load.Done(); demo.file(ctx, t) }()
	defer load.Wait()
	defer cancel()

	// Every panel's query has data: the demo exercises every metric the
	// dashboard shows (errors too: the judge asks for evidence that does
	// not exist).
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			waitFor(t, 45*time.Second, fmt.Sprintf("panel %q: data for %s", p.Title, tg.Expr), func() (bool, string) {
				return prom.hasData(tg.Expr)
			})
		}
	}
	t.Logf("every panel has data %v after Prometheus started", time.Since(promStart).Round(time.Millisecond))

	if *update {
		// A screenshot with a little history to show: the demo runs on
		// (the test itself needs none of it).
		time.Sleep(time.Until(promStart.Add(45 * time.Second)))
	}
	// The console in a browser: each graph drawn, the node table full.
	browser := newBrowser(t, chromium)
	span := int(time.Since(promStart).Seconds()) + 5
	page := fmt.Sprintf("%s/consoles/courtledger.html#pctc%s", prom.url, url.PathEscape(fmt.Sprintf(`{"duration":%d,"endTime":0}`, span)))
	if err := chromedp.Do(browser, chromedp.Navigate(page)); err != nil {
		t.Fatal(err)
	}
	pollCtx, pollCancel := context.WithTimeout(browser, 30*time.Second)
	defer pollCancel()
	if _, err := chromedp.Run(pollCtx, chromedp.Poll[bool](`document.querySelectorAll('.cl_panel').length > 0 &&
		Array.from(document.querySelectorAll('.cl_panel')).every(p => p.querySelector('.rickshaw_graph svg path') || p.querySelector('.prom_graph_error'))`)); err != nil {
		html, _ := chromedp.Run(browser, chromedp.Evaluate[string](`document.querySelector(".cl_panel").outerHTML`, chromedp.EvalAsValue))
		t.Fatalf("the graphs were not drawn: %v\n%s", err, html)
	}
	state, err := chromedp.Run(browser, chromedp.Evaluate[string](`JSON.stringify({
		panels: Array.from(document.querySelectorAll('.cl_panel')).map(p => ({
			title: p.previousElementSibling.textContent,
			lines: p.querySelectorAll('.rickshaw_graph svg path').length,
			legend: Array.from(p.querySelectorAll('.rickshaw_legend .label')).map(l => l.textContent),
			error: (p.querySelector('.prom_graph_error') || {}).textContent || ""})),
		nodes: Array.from(document.querySelectorAll('.cl_nodes tr')).slice(1).map(r => Array.from(r.cells).map(c => c.textContent.trim()))})`, chromedp.EvalAsValue))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Panels []struct {
			Title, Error string
			Lines        int
			Legend       []string
		}
		Nodes [][]string
	}
	if err := json.Unmarshal([]byte(state), &got); err != nil {
		t.Fatalf("%v: %s", err, state)
	}
	if len(got.Panels) != len(dash.Panels) {
		t.Errorf("the console shows %d graphs, the Grafana dashboard has %d panels", len(got.Panels), len(dash.Panels))
	}
	for _, p := range got.Panels {
		if p.Error != "" || p.Lines == 0 || len(p.Legend) == 0 {
			t.Errorf("panel %q: %d lines drawn, legend %q, error %q", p.Title, p.Lines, p.Legend, p.Error)
		}
		for _, l := range p.Legend {
			if strings.Contains(l, "undefined") || l == "value" {
				t.Errorf("panel %q: a series is named %q", p.Title, l)
			}
		}
	}
	if len(got.Nodes) != len(demo.metrics) {
		t.Errorf("the node table has %d rows, want one per node (%d): %q", len(got.Nodes), len(demo.metrics), got.Nodes)
	}
	leaders := 0
	for _, row := range got.Nodes {
		if len(row) != 9 || row[4] != "yes" || !strings.HasSuffix(row[8], "days left") {
			t.Errorf("node row %q: want 9 cells, ready, with TLS", row)
			continue
		}
		if row[2] == "Leader" {
			leaders++
		}
	}
	if leaders != 3 {
		t.Errorf("the node table shows %d leaders, want one per court: %q", leaders, got.Nodes)
	}
	t.Logf("console drawn %v after Prometheus started", time.Since(promStart).Round(time.Millisecond))
	if *update {
		png, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("../img/dashboard.png", png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// chromiumPath is Debian's chromium (or $COURTLEDGER_CHROMIUM), or "".
func chromiumPath() string {
	for _, p := range []string{os.Getenv("COURTLEDGER_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// newBrowser starts a headless Chromium with an empty profile; as root
// (CI) it needs --no-sandbox.
func newBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1500, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

func buildCourtd(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "courtd")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if out, err := exec.Command(goTool, "build", "-o", bin, "github.com/courtledger/courtledger/cmd/courtd").CombinedOutput(); err != nil {
		t.Fatalf("build courtd: %v\n%s", err, out)
	}
	return bin
}

// demoRun is a running `courtd demo`.
type demoRun struct {
	dir     string
	grpc    map[string][]string // by node prefix (hz, bj, gz): the court's gRPC addresses
	metrics []string            // every node's metrics_addr
	courts  map[string]string   // by prefix: court ID
}

var demoNodeLine = regexp.MustCompile(`node (\w+)-\d+\s+gRPC (\S+)\s+REST \S+\s+metrics http://(\S+)/metrics`)

// startDemo runs `courtd demo` on a free base port (demo bases are
// 22000-29999) and reads the addresses it prints.
func startDemo(t *testing.T, courtd, dir string) *demoRun {
	t.Helper()
	for try := 0; ; try++ {
		base := freeDemoBase(t)
		cmd := exec.Command(courtd, "demo", "--dir", dir, "--base-port", fmt.Sprint(base))
		stdout, _ := cmd.StdoutPipe()
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		d := &demoRun{dir: dir, grpc: map[string][]string{}, courts: map[string]string{}}
		var printed strings.Builder
		sc := bufio.NewScanner(stdout)
		started := false
		for sc.Scan() {
			line := sc.Text()
			printed.WriteString(line + "\n")
			if m := demoNodeLine.FindStringSubmatch(line); m != nil {
				d.grpc[m[1]] = append(d.grpc[m[1]], m[2])
				d.metrics = append(d.metrics, m[3])
			}
			if strings.HasPrefix(line, "Ctrl-C stops the courts") {
				started = true
				break
			}
		}
		if !started {
			cmd.Wait()
			if try < 3 && strings.Contains(stderr.String(), "cannot listen") {
				continue // another test took a port since freeDemoBase looked
			}
			t.Fatalf("courtd demo did not start:\n%s%s", printed.String(), stderr.String())
		}
		go io.Copy(io.Discard, stdout)
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGINT)
			cmd.Wait()
		})
		if len(d.metrics) != 9 || len(d.grpc) != 3 {
			t.Fatalf("the demo printed %d metrics addresses of %d courts, want 9 of 3:\n%s", len(d.metrics), len(d.grpc), printed.String())
		}
		for _, c := range []struct{ prefix, id string }{{"hz", "hangzhou"}, {"bj", "beijing"}, {"gz", "guangzhou"}} {
			d.courts[c.prefix] = c.id + ".court.example/evidence"
		}
		return d
	}
}

// freeDemoBase is a demo --base-port from 22000 whose ports (Raft, Raft+5
// for metrics, gRPC, REST of nine nodes, and the TSA's) are free now.
func freeDemoBase(t *testing.T) int {
	t.Helper()
	for range 100 {
		base := 22000 + rand.IntN(590)*10
		free := true
		for _, off := range []int{0, 5, 1000, 2000} {
			for c := range 3 {
				for n := range 3 {
					ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+off+10*c+n))
					if err != nil {
						free = false
						continue
					}
					ln.Close()
				}
			}
		}
		if free {
			return base
		}
	}
	t.Fatal("no free ports for the demo")
	return 0
}

// file files evidence at every court and verifies it as a judge, a
// few a second, until ctx ends; each round the judge also asks for
// evidence that does not exist (NotFound: the errors panel).
func (d *demoRun) file(ctx context.Context, t *testing.T) {
	pki := filepath.Join(d.dir, "pki")
	trustRaw, err := os.ReadFile(filepath.Join(d.dir, "keys", "trust.txt"))
	if err != nil {
		t.Error(err)
		return
	}
	trust, err := certificate.ParseTrustFile(trustRaw)
	if err != nil {
		t.Error(err)
		return
	}
	keyPEM, err := os.ReadFile(filepath.Join(d.dir, "keys", "platform.key.pem"))
	if err != nil {
		t.Error(err)
		return
	}
	key, err := sm2.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		t.Error(err)
		return
	}
	type clients struct{ platform, judge *client.Client }
	cs := map[string]clients{}
	for prefix, eps := range d.grpc {
		dial := func(role string) *client.Client {
			opt, err := client.DialTLS(client.TLSFiles{CAFile: filepath.Join(pki, "ca.pem"), CertFile: filepath.Join(pki, role+".pem")})
			if err != nil {
				t.Error(err)
				return nil
			}
			v, _ := trust.Court(d.courts[prefix])
			c, err := client.New(client.Config{Endpoints: eps, Court: v[0], Platform: "demo-platform.example", Key: key,
				DialOptions: []grpc.DialOption{opt}})
			if err != nil {
				t.Error(err)
				return nil
			}
			return c
		}
		p, j := dial("platform"), dial("judge")
		if p == nil || j == nil {
			return
		}
		defer p.Close()
		defer j.Close()
		cs[prefix] = clients{p, j}
	}
	for i := 0; ctx.Err() == nil; i++ {
		for prefix, c := range cs {
			body := []byte(fmt.Sprintf("dashboard evidence %s %d %d", prefix, i, time.Now().UnixNano()))
			s, err := c.platform.Sign(evidence.Submission{RequestID: fmt.Sprintf("dash-%s-%d", prefix, i), Fingerprint: sm3.Sum(body),
				Category: evidence.CategoryContract, Title: "仪表盘演示合同"})
			if err != nil {
				t.Error(err)
				return
			}
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if _, _, err := c.platform.Submit(cctx, s); err != nil && ctx.Err() == nil {
				t.Logf("submit at %s: %v", prefix, err) // counted as an error by the court; the panels show it
			}
			c.judge.Verify(cctx, sm3.Sum(body))
			c.judge.Evidence().GetEvidence(cctx, &pb.GetEvidenceRequest{EvidenceId: fmt.Sprintf("%s-no-such-evidence-%d", prefix, i)})
			cancel()
		}
		select {
		case <-ctx.Done():
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// promRun is a running prometheus.
type promRun struct{ url string }

// startPrometheus runs Debian's prometheus on a port of its own choosing,
// scraping targets every second and serving this directory's consoles.
func startPrometheus(t *testing.T, bin, dir string, targets []string) *promRun {
	t.Helper()
	conf := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: courtledger\n    static_configs:\n      - targets: [%s]\n",
		strings.Join(targets, ", "))
	confFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	consoles, _ := filepath.Abs("consoles")
	libs, _ := filepath.Abs("console_libraries")
	cmd := exec.Command(bin, "--config.file="+confFile, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address=127.0.0.1:0", "--web.console.templates="+consoles, "--web.console.libraries="+libs)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	listening := regexp.MustCompile(`msg="Listening on" address=(127\.0\.0\.1:\d+)`)
	sc := bufio.NewScanner(stderr)
	var log strings.Builder
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if m := listening.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, stderr)
			return &promRun{url: "http://" + m[1]}
		}
	}
	t.Fatalf("prometheus did not say where it listens:\n%s", log.String())
	return nil
}

// hasData says whether expr has a sample that is a number now, and if
// not, what the query returned.
func (p *promRun) hasData(expr string) (bool, string) {
	resp, err := http.Get(p.url + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Status != "success" {
		return false, string(body)
	}
	for _, s := range r.Data.Result {
		var v float64
		if str, ok := s.Value[1].(string); ok {
			fmt.Sscan(str, &v)
			if str != "NaN" && !math.IsNaN(v) {
				return true, ""
			}
		}
	}
	return false, string(body)
}

// waitFor polls cond until it holds, failing with what it last saw.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last seen: %s", limit, what, seen)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
