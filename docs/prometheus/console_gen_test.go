package prometheus_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite consoles/courtledger.html from the Grafana dashboard, and ../img/dashboard.png from a run of the demo")

const (
	grafanaFile = "../grafana/courtledger.json"
	consoleFile = "consoles/courtledger.html"
)

// grafanaDashboard is the part of a Grafana dashboard the console is made
// from: each panel's title, place, unit and queries.
type grafanaDashboard struct {
	Panels []grafanaPanel `json:"panels"`
}

type grafanaPanel struct {
	ID      int    `json:"id"`
	Title   string `json:"title"`
	GridPos struct {
		X, Y, W int
	} `json:"gridPos"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Targets []struct {
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
	} `json:"targets"`
}

// consoleUnits maps a Grafana unit to prom_console.js's: the suffix and
// the formatter of the axis and of the values shown on hover.
var consoleUnits = map[string]struct{ suffix, format string }{
	"":      {"", "humanize"},
	"short": {"", "humanize"},
	"s":     {"s", "humanize"}, // 0.005 prints as 5ms
	"reqps": {"/s", "humanizeNoSmallPrefix"},
	"bytes": {"B", "humanize1024"},
}

// consoleFromGrafana writes the Prometheus console of a Grafana
// dashboard: a graph per panel, in the panels' order and rows, with the
// same PromQL and legends, under the table of nodes of courtledger.lib.
// The console is made from the dashboard, never edited, so the two cannot
// drift apart (TestConsoleMatchesGrafana).
func consoleFromGrafana(raw []byte) ([]byte, error) {
	var d grafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("grafana dashboard: %w", err)
	}
	panels := append([]grafanaPanel(nil), d.Panels...)
	sort.SliceStable(panels, func(i, j int) bool {
		a, b := panels[i].GridPos, panels[j].GridPos
		return a.Y < b.Y || a.Y == b.Y && a.X < b.X
	})
	var b bytes.Buffer
	b.WriteString(`{{/* Generated from docs/grafana/courtledger.json by docs/prometheus/console_gen_test.go: do not edit.
   Regenerate: go test ./docs/prometheus -run TestConsoleMatchesGrafana -update */}}
{{ template "cl_head" . }}
<div class="container-fluid">
{{ template "cl_range" . }}
<h1>courtledger: courts and nodes</h1>
{{ template "cl_nodes" . }}
<div class="row">
`)
	for i, p := range panels {
		if len(p.Targets) == 0 {
			return nil, fmt.Errorf("panel %q has no query", p.Title)
		}
		u, ok := consoleUnits[p.FieldConfig.Defaults.Unit]
		if !ok {
			return nil, fmt.Errorf("panel %q: unit %q has no console equivalent: add it to consoleUnits", p.Title, p.FieldConfig.Defaults.Unit)
		}
		if i > 0 && p.GridPos.Y != panels[i-1].GridPos.Y {
			b.WriteString("</div>\n<div class=\"row\">\n")
		}
		width := p.GridPos.W / 2 // Grafana's grid is 24 wide, Bootstrap's 12
		if width < 1 || width > 12 {
			width = 12
		}
		var exprs, names []string
		for _, t := range p.Targets {
			exprs = append(exprs, jsString(t.Expr))
			names = append(names, "courtledgerLegend("+jsString(legendLabel.ReplaceAllString(t.LegendFormat, "[[$1]]"))+")")
		}
		id := fmt.Sprintf("panel%d", p.ID)
		fmt.Fprintf(&b, `<div class="col-md-%d">
<h3>%s</h3>
<div id="%s" class="cl_panel"></div>
<script>
new PromConsole.Graph({
  node: document.querySelector("#%s"),
  expr: [%s],
  name: [%s],
  min: 0,
  height: 150,
  xTitle: "",
  yUnits: %s,
  yAxisFormatter: courtledgerNumber(PromConsole.NumberFormatter.%s),
  yHoverFormatter: courtledgerNumber(PromConsole.NumberFormatter.%s),
});
</script>
</div>
`, width, htmlText(p.Title), id, id, strings.Join(exprs, ", "), strings.Join(names, ", "), jsString(u.suffix), u.format, u.format)
	}
	b.WriteString("</div>\n</div>\n{{ template \"cl_tail\" }}\n")
	return b.Bytes(), nil
}

var legendLabel = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)

// jsString quotes s for JavaScript. Braces that would open or close a Go
// template action are escaped: the console is a template itself.
func jsString(s string) string {
	q, _ := json.Marshal(s)
	r := strings.NewReplacer("{{", `{\u007b`, "}}", `}\u007d`)
	return r.Replace(string(q))
}

func htmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "{{", "{&#123;", "}}", "}&#125;").Replace(s)
}

// The console is what consoleFromGrafana makes of the Grafana dashboard
// now: a panel, query or legend changed in one is in the other. With
// -update it is rewritten.
func TestConsoleMatchesGrafana(t *testing.T) {
	raw, err := os.ReadFile(grafanaFile)
	if err != nil {
		t.Fatal(err)
	}
	want, err := consoleFromGrafana(raw)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(consoleFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(consoleFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: regenerate it from %s with\n  go test ./docs/prometheus -run TestConsoleMatchesGrafana -update", consoleFile, grafanaFile)
	}
	// Every query of the dashboard is in the console, as prom_console.js
	// will send it.
	var d grafanaDashboard
	json.Unmarshal(raw, &d)
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			if !strings.Contains(string(got), jsString(tg.Expr)) {
				t.Errorf("panel %q: the console lacks %s", p.Title, tg.Expr)
			}
		}
	}
}

// Go template actions in a query or title cannot leak into the console,
// which Prometheus expands as a template.
func TestConsoleEscapesTemplateActions(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`up{job="a"}`, `"up{job=\"a\"}"`},
		{`sum(x{a="b"}}) {{ .Foo }}`, `"sum(x{a=\"b\"}\u007d) {\u007b .Foo }\u007d"`},
		{`a < b && c > d`, `"a \u003c b \u0026\u0026 c \u003e d"`},
	} {
		if got := jsString(tc.in); got != tc.want {
			t.Errorf("jsString(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
	raw := []byte(`{"panels":[{"id":1,"title":"{{ x }}","gridPos":{"w":8},"targets":[{"expr":"up{{ .Params }}","legendFormat":"{{node}}"}]}]}`)
	out, err := consoleFromGrafana(raw)
	if err != nil {
		t.Fatal(err)
	}
	body := string(out[bytes.Index(out, []byte("<h1>")):])
	if strings.Count(body, "{{") != strings.Count(body, `{{ template "cl_`) || !strings.Contains(body, `courtledgerLegend("[[node]]")`) {
		t.Errorf("a template action leaked into the console:\n%s", body)
	}
	if _, err := consoleFromGrafana([]byte(`{"panels":[{"title":"x","fieldConfig":{"defaults":{"unit":"furlongs"}},"targets":[{"expr":"up"}]}]}`)); err == nil {
		t.Error("a unit the console cannot show was accepted")
	}
}

// Whatever dashboard JSON it is given, the generator does not panic, and
// a console it writes holds no Go template action but its own: a query,
// title or legend cannot run code in Prometheus's template engine.
func FuzzConsoleFromGrafana(f *testing.F) {
	if raw, err := os.ReadFile(grafanaFile); err == nil {
		f.Add(raw)
	}
	f.Add([]byte(`{"panels":[{"id":1,"title":"{{ x }}","gridPos":{"w":8},"targets":[{"expr":"up{{ .Params }}","legendFormat":"{{node}}"}]}]}`))
	f.Add([]byte(`{"panels":[{"title":"}}{{","gridPos":{"y":-1,"w":99},"targets":[{"expr":"}}}"}]}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := consoleFromGrafana(raw)
		if err != nil {
			return
		}
		s := string(out)
		own := strings.Count(s, `{{ template "cl_`) + 1 // and the header comment
		if open, closing := strings.Count(s, "{{"), strings.Count(s, "}}"); open != own || closing != own {
			t.Fatalf("%d {{ and %d }}, want %d of each:\n%s", open, closing, own, s)
		}
	})
}
