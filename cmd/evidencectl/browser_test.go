package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/courtledger/courtledger/court"
	"github.com/courtledger/courtledger/court/devtsa"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/crypto/tsa"
	"github.com/courtledger/courtledger/internal/pdfqr"
)

// The verification pages (court/web) in a real headless Chromium, against
// three TLS courts: what a judge with only a browser and a file, and a
// lawyer with only a browser and a PDF, see. Screenshots of each page go
// to $COURTLEDGER_SCREENSHOTS (default: a directory under the system's
// temporary directory, printed), to be looked at.

// chromiumPath is Debian's chromium, which .ci/run installs.
func chromiumPath(t testing.TB) string {
	for _, p := range []string{os.Getenv("COURTLEDGER_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium: the browser tests need Debian's chromium package (apt-get install chromium; .ci/run installs it), or COURTLEDGER_CHROMIUM=path")
	return ""
}

// newBrowser starts a headless Chromium with an empty profile. The courts'
// certificates come from the test's development CA, which the browser does
// not know: it is told to accept them (the page's own checks do not rely
// on TLS; they check SM2 signatures).
func newBrowser(t testing.TB) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// requests records every request the tab sends.
type requests struct {
	mu   sync.Mutex
	list []*network.Request
}

func (r *requests) listen(ctx context.Context) error {
	return chromedp.Listen(ctx, func(ev any) {
		var req *network.Request
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			req = e.Request
		case network.EventRequestWillBeSent:
			req = e.Request
		}
		if req != nil {
			r.mu.Lock()
			r.list = append(r.list, req)
			r.mu.Unlock()
		}
	})
}

func (r *requests) reset() []*network.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.list
	r.list = nil
	return out
}

type page struct {
	t    *testing.T
	ctx  context.Context
	shot string // the screenshot directory
}

func (p *page) open(url string) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, chromedp.Navigate(url), chromedp.WaitReady(`body[data-ready="true"]`)); err != nil {
		p.t.Fatalf("open %s: %v", url, err)
	}
}

func (p *page) eval(js string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](js, chromedp.EvalAsValue, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// verdict clicks button and waits for the verdict panel (or an error)
// that replaces the result section.
func (p *page) verdict(button string) (verdict, text string) {
	p.t.Helper()
	p.eval(`(document.getElementById('result').replaceChildren(), '')`)
	if err := chromedp.Do(p.ctx, chromedp.Click(button)); err != nil {
		p.t.Fatalf("click %s: %v", button, err)
	}
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('#result .verdict') !== null`)); err != nil {
		p.t.Fatalf("no verdict after %s: %v", button, err)
	}
	return p.eval(`document.querySelector('#result .verdict').dataset.verdict || 'ERROR'`), p.eval(`document.getElementById('result').innerText`)
}

func (p *page) upload(sel, file string) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, chromedp.SetUploadFiles(sel, []string{file})); err != nil {
		p.t.Fatalf("upload %s to %s: %v", file, sel, err)
	}
}

func (p *page) screenshot(name string) {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(p.shot, name+".png"), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func TestBrowserVerification(t *testing.T) {
	// Every court has its heads stamped by a development TSA (issue 16),
	// whose root its /trust.txt publishes and the CLI's trust file holds.
	dev, err := devtsa.New("browser test TSA")
	if err != nil {
		t.Fatal(err)
	}
	tsaSrv := httptest.NewServer(dev.Handler())
	defer tsaSrv.Close()
	anchors, err := tsa.ParseAnchors(dev.RootPEM())
	if err != nil {
		t.Fatal(err)
	}
	nw := startNetworkWith(t, func(cfg *court.Config) {
		cfg.TSA = []court.TSAConfig{{URL: tsaSrv.URL + "/", Anchors: anchors, AnchorPEM: dev.RootPEM(), Tolerance: time.Minute}}
	})
	trustText, _ := os.ReadFile(nw.trust)
	writeTestFile(t, nw.trust, append(trustText, dev.RootPEM()...))
	hz, bj := nw.courts[hzCourt], nw.courts[bjCourt]
	hzURL, bjURL := "https://"+hz.https[0], "https://"+bj.https[0]
	dir := t.TempDir()

	// A file with bytes of its own, so that a request carrying them would
	// show; filed at Hangzhou.
	content := make([]byte, 256<<10)
	rand.Read(content)
	content = append([]byte("起诉状附件 exhibit A\n"), content...)
	file := filepath.Join(dir, "exhibit-a.bin")
	changed := filepath.Join(dir, "exhibit-a-changed.bin")
	writeTestFile(t, file, content)
	c2 := bytes.Clone(content)
	c2[len(c2)/2] ^= 1
	writeTestFile(t, changed, c2)
	out, errs, err := as(t, tokPlatform, "submit", file, "--server", hz.grpc(), "--platform", netPlatform, "--key", nw.platformKey, "--json")
	if err != nil {
		t.Fatalf("submit: %v\n%s%s", err, out, errs)
	}
	var filed submitResult
	if err := json.Unmarshal([]byte(out), &filed); err != nil || len(filed.Filed) != 1 {
		t.Fatalf("submit --json: %v\n%s", err, out)
	}
	id, fp := filed.Filed[0].EvidenceID, filed.Filed[0].Fingerprint
	certJSON, certPDF := filepath.Join(dir, "cert.json"), filepath.Join(dir, "cert.pdf")
	eventually(t, 30*time.Second, "Beijing's mirror and certificate", func() error {
		_, errs, err := as(t, tokJudge, "cert", "get", id, "--server", bj.grpc(), "--out-json", certJSON, "--out-pdf", certPDF)
		if err != nil {
			return fmt.Errorf("%v: %s", err, errs)
		}
		return nil
	})

	shots := os.Getenv("COURTLEDGER_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(os.TempDir(), "courtledger-web-screenshots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)
	ctx := newBrowser(t)
	var reqs requests
	if err := reqs.listen(ctx); err != nil {
		t.Fatal(err)
	}
	downloads := filepath.Join(dir, "downloads")
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatal(err)
	}
	p := &page{t: t, ctx: ctx, shot: shots}

	t.Run("a recorded file is VALID and its bytes never leave the page", func(t *testing.T) {
		p.t = t
		p.open(hzURL + "/")
		p.screenshot("verify-empty")
		reqs.reset()
		p.upload("#file", file)
		v, text := p.verdict("#verify-button")
		if v != "VERDICT_VALID" || !strings.Contains(text, id) || !strings.Contains(text, fp) {
			t.Fatalf("verdict %s:\n%s", v, text)
		}
		p.screenshot("verify-valid")
		sent := reqs.reset()
		var api int
		for _, r := range sent {
			if r.HasPostData || len(r.PostDataEntries) > 0 {
				t.Errorf("%s %s carried a body", r.Method, r.URL)
			}
			if strings.Contains(r.URL, "/v1/") {
				api++
				if r.URL != hzURL+"/v1/verdicts/"+fp {
					t.Errorf("the page asked %s %s; only the fingerprint may go to the court", r.Method, r.URL)
				}
			}
		}
		if api != 1 {
			t.Errorf("%d API requests, want the one verdict request: %v", api, sent)
		}
	})

	t.Run("a changed byte", func(t *testing.T) {
		p.t = t
		p.open(hzURL + "/")
		p.upload("#file", changed)
		if v, text := p.verdict("#verify-button"); v != "VERDICT_NOT_RECORDED" {
			t.Fatalf("changed file: %s\n%s", v, text)
		}
		// Claimed under the evidence ID, it is TAMPERED, and the page shows
		// nothing of what the ID records (that is for a judge).
		if err := chromedp.Do(ctx, chromedp.SetValue("#evidence-id", id)); err != nil {
			t.Fatal(err)
		}
		v, text := p.verdict("#verify-button")
		if v != "VERDICT_TAMPERED" || strings.Contains(text, fp) {
			t.Fatalf("changed file under %s: %s\n%s", id, v, text)
		}
		p.screenshot("verify-tampered")
	})

	t.Run("at Beijing, from its mirror", func(t *testing.T) {
		p.t = t
		p.open(bjURL + "/?lang=en")
		p.upload("#file", file)
		v, text := p.verdict("#verify-button")
		if v != "VERDICT_VALID" || !strings.Contains(text, "mirror of the filing court") || !strings.Contains(text, hzCourt) {
			t.Fatalf("at Beijing: %s\n%s", v, text)
		}
		p.screenshot("verify-mirror-en")
		// The download button gives the certificate that `cert verify` checks.
		if err := chromedp.Do(ctx, chromedp.Click(`button.download`)); err != nil {
			t.Fatal(err)
		}
		got := filepath.Join(downloads, "certificate-"+id+".json")
		eventually(t, 20*time.Second, "the downloaded certificate", func() error { _, err := os.Stat(got); return err })
		if out, errs, err := as(t, "", "cert", "verify", got, "--file", file); err != nil {
			t.Fatalf("cert verify of the page's download: %v\n%s%s", err, out, errs)
		}
		p.eval(`(document.cookie = 'lang=zh; path=/; secure', '')`)
	})

	// The certificate page against the CLI: the same inputs, the same
	// verdicts; then again with every court node stopped.
	tampered := filepath.Join(dir, "tampered.json")
	raw, _ := os.ReadFile(certJSON)
	writeTestFile(t, tampered, bytes.Replace(raw, []byte(`"certificate_id": "`), []byte(`"certificate_id": "0`), 1))
	truncated := filepath.Join(dir, "truncated.json")
	writeTestFile(t, truncated, raw[:len(raw)/2])
	wrongSig := filepath.Join(dir, "wrong-signature.json")
	writeTestFile(t, wrongSig, flipInProof(t, raw))
	type certCase struct{ name, cert, file, want string }
	cases := []certCase{
		{"json", certJSON, "", "VALID"}, {"pdf", certPDF, "", "VALID"}, {"json with the file", certJSON, file, "VALID"},
		{"pdf with a changed file", certPDF, changed, "TAMPERED"}, {"tampered id", tampered, "", "MALFORMED"},
		{"truncated", truncated, "", "MALFORMED"}, {"wrong proof", wrongSig, "", "INVALID PROOF"},
	}
	checkCerts := func(t *testing.T, tag string) {
		for _, c := range cases {
			args := []string{"cert", "verify", c.cert, "--json"}
			if c.file != "" {
				args = append(args, "--file", c.file)
			}
			out, _, _ := as(t, "", args...)
			var cli struct{ Verdict string }
			if err := json.Unmarshal([]byte(out), &cli); err != nil {
				t.Fatalf("%s: cert verify --json: %v\n%s", c.name, err, out)
			}
			p.eval(`(() => { const f = document.getElementById('orig-file'); f.value = ''; f.dispatchEvent(new Event('change')); return ''; })()`)
			p.upload("#cert-file", c.cert)
			if c.file != "" {
				p.upload("#orig-file", c.file)
			}
			v, text := p.verdict("#cert-button")
			if v != cli.Verdict || v != c.want {
				t.Errorf("%s (%s): the page says %s, evidencectl cert verify says %s, want %s\n%s", c.name, tag, v, cli.Verdict, c.want, text)
			}
			if c.name == "pdf" && tag == "online" {
				p.screenshot("certificate-valid")
			}
			if c.name == "pdf with a changed file" && tag == "online" {
				p.screenshot("certificate-tampered")
			}
		}
	}
	t.Run("certificates: the page and the CLI agree", func(t *testing.T) {
		p.t = t
		p.open(bjURL + "/certificate")
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('wasm-state').dataset.ready === 'true' && !document.getElementById('cert-button').disabled`)); err != nil {
			t.Fatal(err)
		}
		checkCerts(t, "online")
		if got, want := p.eval(`document.getElementById('trust-state').dataset.sm3`), p.eval(`document.getElementById('trust-sm3').textContent`); got != want {
			t.Errorf("the trust file's SM3 in the page %s, in the footer %s", got, want)
		}
	})

	// A certificate of the filing court carries its trusted timestamp; the
	// page checks the token against the TSA root the court publishes, as
	// the CLI does against its trust file, and a changed token fails both.
	t.Run("a certificate's trusted timestamp", func(t *testing.T) {
		p.t = t
		// stampedCertificate waits until server issues the evidence's
		// certificate with a timestamp, written to out.
		stampedCertificate := func(what, server, out string) {
			t.Helper()
			eventually(t, 30*time.Second, what, func() error {
				if _, errs, err := as(t, tokJudge, "cert", "get", id, "--server", server, "--out-json", out); err != nil {
					return fmt.Errorf("%v: %s", err, errs)
				}
				if b, _ := os.ReadFile(out); !bytes.Contains(b, []byte(`"timestamp"`)) {
					return fmt.Errorf("no timestamp yet")
				}
				return nil
			})
		}
		stamped := filepath.Join(dir, "stamped.json")
		stampedCertificate("a certificate with a timestamp", hz.grpc(), stamped)
		// Beijing fetches Hangzhou's tokens for its mirror: its own
		// certificate of the evidence carries the same trusted time.
		fromMirror := filepath.Join(dir, "stamped-at-beijing.json")
		stampedCertificate("Beijing's certificate with Hangzhou's timestamp", bj.grpc(), fromMirror)
		if out, errs, err := as(t, "", "cert", "verify", fromMirror, "--json"); err != nil || !strings.Contains(out, `"issued_by": "`+bjCourt) || !strings.Contains(out, `"verified": true`) {
			t.Fatalf("Beijing's certificate from its mirror: %v\n%s%s", err, out, errs)
		}
		raw, _ := os.ReadFile(stamped)
		var m map[string]any
		json.Unmarshal(raw, &m)
		ts := m["timestamp"].(map[string]any)
		tok := []byte(ts["token"].(string))
		// Another base64 digit: one changed byte of the DER.
		if tok[len(tok)/2] == 'A' {
			tok[len(tok)/2] = 'B'
		} else {
			tok[len(tok)/2] = 'A'
		}
		ts["token"] = string(tok)
		badTS, _ := json.MarshalIndent(m, "", "  ")
		badToken := filepath.Join(dir, "bad-token.json")
		writeTestFile(t, badToken, badTS)
		p.open(bjURL + "/certificate")
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!document.getElementById('cert-button').disabled`)); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ cert, want string }{{stamped, "VALID"}, {badToken, "INVALID PROOF"}} {
			out, _, _ := as(t, "", "cert", "verify", c.cert, "--json")
			var cli struct{ Verdict string }
			json.Unmarshal([]byte(out), &cli)
			p.upload("#cert-file", c.cert)
			v, text := p.verdict("#cert-button")
			if v != c.want || cli.Verdict != c.want {
				t.Fatalf("%s: the page says %s, the CLI %s, want %s\n%s", filepath.Base(c.cert), v, cli.Verdict, c.want, text)
			}
			if c.want == "VALID" {
				if !strings.Contains(text, "browser test TSA") || !strings.Contains(out, `"verified": true`) {
					t.Fatalf("the timestamp is not shown verified:\n%s\n%s", text, out)
				}
				p.screenshot("certificate-timestamp")
			}
		}
	})

	t.Run("sign-in", func(t *testing.T) {
		p.t = t
		p.open(hzURL + "/signin")
		p.screenshot("signin")
		signIn := func(token, want string) {
			t.Helper()
			if err := chromedp.Do(ctx, chromedp.SetValue("#token", token)); err != nil {
				t.Fatal(err)
			}
			if v, text := p.verdict("#signin-button"); v != "SIGNED_IN" || !strings.Contains(text, want) {
				t.Fatalf("sign in as %s: %s %s", want, v, text)
			}
		}
		if err := chromedp.Do(ctx, chromedp.SetValue("#token", "not-a-token")); err != nil {
			t.Fatal(err)
		}
		if v, text := p.verdict("#signin-button"); v != "ERROR" || !strings.Contains(text, "UNKNOWN_TOKEN") {
			t.Fatalf("a wrong token: %s %s", v, text)
		}
		signIn(tokJudge, "judge:judge-wang")
		p.open(hzURL + "/")
		if err := chromedp.Do(ctx, chromedp.SetValue("#lookup-id", id)); err != nil {
			t.Fatal(err)
		}
		if v, text := p.verdict("#lookup-form button"); v != "FOUND" || !strings.Contains(text, fp) || !strings.Contains(text, netPlatform) {
			t.Fatalf("a judge's lookup of %s: %s %s", id, v, text)
		}
		p.screenshot("judge-lookup")
		// The session's cookie alone does not make a call: the CSRF
		// token must come with it.
		if got := p.eval(`fetch('/v1/evidence/` + id + `/certificate.json', {credentials: 'same-origin'}).then(r => String(r.status))`); got != "403" {
			t.Errorf("a call with the cookie and no CSRF token: %s, want 403", got)
		}
		if err := chromedp.Do(ctx, chromedp.Click("#signout")); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('session').hidden`)); err != nil {
			t.Fatal(err)
		}
		if got := p.eval(`fetch('/web/session', {credentials: 'same-origin'}).then(r => String(r.status))`); got != "401" {
			t.Errorf("after sign-out, /web/session: %s, want 401", got)
		}

		p.open(hzURL + "/signin")
		signIn(tokLawyer, "lawyer:lawyer-li")
		p.open(hzURL + "/")
		if err := chromedp.Do(ctx, chromedp.SetValue("#lookup-id", id)); err != nil {
			t.Fatal(err)
		}
		_, text := p.verdict("#lookup-form button")
		if !strings.Contains(text, "PROOF_OF_POSSESSION_REQUIRED") {
			t.Fatalf("a lawyer's lookup without the fingerprint: %s", text)
		}
		p.screenshot("lawyer-refused")
		// With the file, the lawyer gets the verdict and the certificate.
		p.upload("#file", file)
		if v, text := p.verdict("#verify-button"); v != "VERDICT_VALID" {
			t.Fatalf("a lawyer with the file: %s\n%s", v, text)
		}
		if err := chromedp.Do(ctx, chromedp.Click("#signout")); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("status", func(t *testing.T) {
		p.t = t
		p.open(hzURL + "/status")
		text := p.eval(`document.getElementById('main').innerText`)
		for _, want := range []string{bjCourt, gzCourt, "无活动告警"} {
			if !strings.Contains(text, want) {
				t.Errorf("status page lacks %q:\n%s", want, text)
			}
		}
		p.screenshot("status")
	})

	t.Run("the PDF's QR code opens the check at the issuing court", func(t *testing.T) {
		p.t = t
		pdf, err := os.ReadFile(certPDF)
		if err != nil {
			t.Fatal(err)
		}
		link, err := pdfqr.DecodeQR(pdf)
		if err != nil {
			t.Fatalf("decode the QR code: %v", err)
		}
		if !strings.HasPrefix(link, bjURL+"/?") || !strings.Contains(link, "sm3="+fp) || !strings.Contains(link, "evidence="+id) {
			t.Fatalf("the QR code holds %s; want a link to %s with the evidence ID and fingerprint", link, bjURL)
		}
		p.open(link)
		if got := p.eval(`document.getElementById('evidence-id').value`); got != id {
			t.Errorf("the evidence ID field holds %q, want %s", got, id)
		}
		p.upload("#file", file)
		v, text := p.verdict("#verify-button")
		if v != "VERDICT_VALID" || p.eval(`document.getElementById('expected-check').className`) != "ok" {
			t.Fatalf("the QR link's page with the file: %s\n%s", v, text)
		}
		p.screenshot("qr-link")
		// On a phone: the page is one column that fits the screen's width
		// (no sideways scrolling), as a scan of the QR code opens it.
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2))); err != nil {
			t.Fatal(err)
		}
		defer chromedp.Do(ctx, chromedp.ResetViewport())
		p.open(link)
		p.upload("#file", file)
		if v, _ := p.verdict("#verify-button"); v != "VERDICT_VALID" {
			t.Fatalf("on a phone: %s", v)
		}
		if w := p.eval(`String(document.documentElement.scrollWidth - window.innerWidth)`); w != "0" {
			t.Errorf("on a phone the page is %s px wider than the screen", w)
		}
		p.screenshot("qr-link-phone")
	})

	t.Run("every court stopped: certificates still check in the loaded page", func(t *testing.T) {
		p.t = t
		p.open(bjURL + "/certificate")
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!document.getElementById('cert-button').disabled`)); err != nil {
			t.Fatal(err)
		}
		for _, c := range nw.courts {
			for i := range c.nodes {
				c.stop(i)
			}
		}
		if got := p.eval(`fetch('/trust.txt').then(() => 'reachable', () => 'unreachable')`); got != "unreachable" {
			t.Fatalf("the courts are still reachable: %s", got)
		}
		checkCerts(t, "offline")
		p.screenshot("certificate-offline")
	})
}

func writeTestFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// flipInProof changes one base64 character of the certificate's first
// proof hash: a well-formed certificate whose proof does not lead to the
// signed root.
func flipInProof(t testing.TB, raw []byte) []byte {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	proof, _ := m["tlog_proof"].(string)
	lines := strings.Split(proof, "\n")
	for i, l := range lines {
		if i > 0 && len(l) == 44 { // a base64 SM3 hash
			b := []byte(l)
			if b[0] == 'A' {
				b[0] = 'B'
			} else {
				b[0] = 'A'
			}
			lines[i] = string(b)
			break
		}
	}
	m["tlog_proof"] = strings.Join(lines, "\n")
	out, _ := json.MarshalIndent(m, "", "  ")
	return out
}

// BenchmarkBrowserVerify measures, in headless Chromium on this machine,
// what a person waits for: the time from pressing 核验 with a file of
// 100 MiB to the court's verdict on screen (SM3 in the page, then one
// request), the certificate page's check of a certificate, and the bytes
// each page loads. Run it with
//
//	go test -run '^$' -bench BrowserVerify -benchtime 3x ./cmd/evidencectl/
func BenchmarkBrowserVerify(b *testing.B) {
	nw := startNetwork(b)
	hz := nw.courts[hzCourt]
	hzURL := "https://" + hz.https[0]
	dir := b.TempDir()
	big := filepath.Join(dir, "100MiB.bin")
	content := make([]byte, 100<<20)
	rand.Read(content)
	writeTestFile(b, big, content)
	ctx := newBrowser(b)
	run := func(js string) string {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAsValue, chromedp.EvalAwaitPromise))
		if err != nil {
			b.Fatalf("%s: %v", js, err)
		}
		return v
	}
	weight := func(path string) string {
		if err := chromedp.Do(ctx, chromedp.Navigate(hzURL+path), chromedp.WaitReady(`body[data-ready="true"]`)); err != nil {
			b.Fatal(err)
		}
		if path == "/certificate" {
			if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('wasm-state').dataset.ready === 'true'`)); err != nil {
				b.Fatal(err)
			}
		}
		return run(`(() => { const n = performance.getEntriesByType('navigation')[0]; const rs = performance.getEntriesByType('resource');
			let t = n.transferSize, d = n.decodedBodySize; for (const r of rs) { t += r.transferSize; d += r.decodedBodySize; }
			return t + ' bytes transferred, ' + d + ' decoded, ' + (rs.length + 1) + ' requests'; })()`)
	}
	b.Logf("page weight /: %s", weight("/"))
	b.Logf("page weight /certificate (with the verifier): %s; verifier ready in %s ms", weight("/certificate"),
		run(`document.getElementById('wasm-state').dataset.loadMs`))

	// A certificate to check in the page: one small file filed and its
	// certificate taken as JSON and PDF.
	small := filepath.Join(dir, "small.txt")
	writeTestFile(b, small, []byte("a certificate to check"))
	if out, errs, err := as(b, tokPlatform, "submit", small, "--server", hz.grpc(), "--platform", netPlatform, "--key", nw.platformKey, "--json"); err != nil {
		b.Fatalf("submit: %v\n%s%s", err, out, errs)
	}
	certJSON, certPDF := filepath.Join(dir, "c.json"), filepath.Join(dir, "c.pdf")
	sum := sm3.Sum([]byte("a certificate to check"))
	out, errs, err := as(b, tokJudge, "lookup", hex.EncodeToString(sum[:]), "--server", hz.grpc(), "--json")
	var entries []lookupEntry
	if err != nil || json.Unmarshal([]byte(out), &entries) != nil || len(entries) != 1 {
		b.Fatalf("lookup: %v\n%s%s", err, out, errs)
	}
	if _, errs, err := as(b, tokJudge, "cert", "get", entries[0].EvidenceID, "--server", hz.grpc(), "--out-json", certJSON, "--out-pdf", certPDF); err != nil {
		b.Fatalf("cert get: %v %s", err, errs)
	}
	for _, cert := range []string{certJSON, certPDF} {
		var times []string
		for range 5 {
			run(`(document.getElementById('result').replaceChildren(), '')`)
			if err := chromedp.Do(ctx, chromedp.SetUploadFiles("#cert-file", []string{cert}), chromedp.Click("#cert-button")); err != nil {
				b.Fatal(err)
			}
			if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('#result .verdict') !== null`)); err != nil {
				b.Fatal(err)
			}
			if v := run(`document.querySelector('#result .verdict').dataset.verdict`); v != "VALID" {
				b.Fatalf("certificate %s: %s", cert, v)
			}
			times = append(times, run(`document.querySelector('#result .verdict').dataset.ms`))
		}
		b.Logf("certificate check in the page (%s), ms: %s", filepath.Ext(cert), strings.Join(times, " "))
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(hzURL+"/"), chromedp.WaitReady(`body[data-ready="true"]`),
		chromedp.SetUploadFiles("#file", []string{big})); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		run(`(document.getElementById('result').replaceChildren(), '')`)
		if err := chromedp.Do(ctx, chromedp.Click("#verify-button")); err != nil {
			b.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('#result .verdict') !== null`, chromedp.WithPollingTimeout(5*time.Minute))); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if v := run(`document.querySelector('#result .verdict').dataset.verdict`); v != "VERDICT_NOT_RECORDED" {
		b.Fatalf("verdict %s", v)
	}
	b.ReportMetric(float64(100<<20)/(float64(b.Elapsed().Seconds())/float64(b.N))/1e6, "MB/s")
}
