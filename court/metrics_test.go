package court

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court/access"
)

func scrapeBody(t *testing.T, url string) string {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// scrapeTypes reads a Prometheus text exposition and returns each metric
// family's type by name.
func scrapeTypes(t *testing.T, url string) map[string]string {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", url, resp.Status)
	}
	types := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			types[f[2]] = f[3]
		}
	}
	return types
}

// The metrics_addr listener serves /metrics in plain HTTP without
// credentials (the node itself requires TLS client certificates), and
// nothing else.
func TestMetricsListener(t *testing.T) {
	addr := freeAddr(t)
	startCourtWith(t, 1, func(cfg *Config) { cfg.MetricsAddr = addr })
	types := scrapeTypes(t, "http://"+addr+"/metrics")
	for _, name := range []string{"courtledger_ledger_size", "courtledger_raft_term", "courtledger_raft_state",
		"courtledger_disk_free_bytes", "courtledger_tls_cert_not_after_seconds"} {
		if types[name] != "gauge" {
			t.Errorf("metrics listener: %s is %q, want a gauge", name, types[name])
		}
	}
	resp, err := http.Get("http://" + addr + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("metrics listener serves /v1/status: %s, want 404 (only /metrics is public)", resp.Status)
	}
}

// Every RPC is counted by method and code, refused ones included (the
// counting interceptor runs before the guard), and timed.
func TestRPCMetrics(t *testing.T) {
	addr := freeAddr(t)
	c := startCourtWith(t, 1, func(cfg *Config) { cfg.MetricsAddr = addr })
	grpcAddr := c.nodes[0].GRPCAddr()
	_, admin := c.dial(t, grpcAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; i < 2; i++ {
		if _, err := admin.GetClusterStatus(ctx, &pb.GetClusterStatusRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	asPlatform := pb.NewAdminServiceClient(dialToken(t, c.ca, grpcAddr, tokenFor(access.RolePlatform)))
	_, err := asPlatform.RemoveNode(ctx, &pb.RemoveNodeRequest{NodeId: "hz-9"})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a platform removing a node: %v, want PermissionDenied", err)
	}
	body := scrapeBody(t, "http://"+addr+"/metrics")
	for _, want := range []string{
		`grpc_server_handled_total{court="` + testCourt + `",grpc_code="OK",grpc_method="GetClusterStatus",grpc_service="courtledger.v1.AdminService",grpc_type="unary",node="hz-0"} 2`,
		`grpc_server_handled_total{court="` + testCourt + `",grpc_code="PermissionDenied",grpc_method="RemoveNode",grpc_service="courtledger.v1.AdminService",grpc_type="unary",node="hz-0"} 1`,
		`grpc_server_handling_seconds_count{court="` + testCourt + `",grpc_method="GetClusterStatus",grpc_service="courtledger.v1.AdminService",grpc_type="unary",node="hz-0"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A bad metrics_addr is refused by name; a good one reaches the node.
func TestConfigMetricsAddr(t *testing.T) {
	cfg, err := loadWith(t, "metrics_addr: 127.0.0.1:9464")
	if err != nil || cfg.MetricsAddr != "127.0.0.1:9464" {
		t.Errorf("metrics_addr 127.0.0.1:9464: %q, %v", cfg.MetricsAddr, err)
	}
	for _, bad := range []string{"9464", "127.0.0.1:8101"} { // no port; the http_addr
		if _, err := loadWith(t, "metrics_addr: "+bad); err == nil || !strings.Contains(err.Error(), "metrics_addr") {
			t.Errorf("metrics_addr %s: %v, want refused", bad, err)
		}
	}
}

var docMetricRow = regexp.MustCompile("^\\| `([a-z_:]+)` \\| (counter|gauge|histogram|summary) \\| ([^|]*)\\| ([^|]*)\\|")

// docs/operations.md lists every metric a node exports, with its type: a
// metric the node exports that the doc lacks fails, and so does a row
// naming a metric that does not exist. Metrics that appear only in some
// setups (TSAs configured, other courts, an alarm raised) say "Only" in
// their meaning and must still be defined in the code.
func TestMetricsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]string{}
	conditional := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if m := docMetricRow.FindStringSubmatch(line); m != nil {
			documented[m[1]] = m[2]
			conditional[m[1]] = strings.HasPrefix(strings.TrimSpace(m[4]), "Only")
		}
	}
	if len(documented) == 0 {
		t.Fatal("docs/operations.md has no metric table rows")
	}
	addr := freeAddr(t)
	c := startCourtWith(t, 1, func(cfg *Config) { cfg.MetricsAddr = addr })
	// One RPC, so that the per-method metrics have a series to show.
	_, admin := c.dial(t, c.nodes[0].GRPCAddr())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.GetClusterStatus(ctx, &pb.GetClusterStatusRequest{}); err != nil {
		t.Fatal(err)
	}
	types := scrapeTypes(t, "http://"+addr+"/metrics")
	for name, typ := range types {
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "promhttp_") {
			continue // the client library's standard collectors, documented as a group
		}
		switch doc, ok := documented[name]; {
		case !ok:
			t.Errorf("metric %s (%s) is not in docs/operations.md", name, typ)
		case doc != typ:
			t.Errorf("docs/operations.md says %s is a %s; the node exports a %s", name, doc, typ)
		}
	}
	source := goSource(t)
	for name := range documented {
		if _, ok := types[name]; ok {
			continue
		}
		if !conditional[name] {
			t.Errorf("docs/operations.md lists %s, which a running node does not export (say \"Only ...\" if it appears only in some setups)", name)
		}
		if !strings.Contains(source, `"`+name+`"`) {
			t.Errorf("docs/operations.md lists %s, which no Go source defines", name)
		}
	}
}

// goSource is the non-test Go source of the repository's court and
// consensus trees, concatenated.
func goSource(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, root := range []string{".", filepath.Join("..", "consensus")} {
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			data, err := os.ReadFile(p)
			b.Write(data)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}
