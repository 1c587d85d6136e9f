package webcapture

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"image/png"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Defaults of Config.
const (
	DefaultBrowser  = "/usr/bin/chromium"
	DefaultWaitMax  = 30 * time.Second
	DefaultMaxBytes = 200 << 20
	DefaultWidth    = 1280
	DefaultHeight   = 900
	// maxShotHeight bounds the screenshot (CSS pixels): Chromium cannot
	// paint much taller surfaces, and a page may be endless.
	maxShotHeight = 16384
	idleQuiet     = 500 * time.Millisecond
	scrollSteps   = 40
)

// ErrURL: the URL is not one to capture (not http or https, or unparsable).
var ErrURL = errors.New("only http and https URLs can be captured")

// ErrDownload: the URL is a download, not a page.
var ErrDownload = errors.New("the URL is a download, not a page")

// UnresponsiveError: the page loaded but its renderer did not answer within
// the bound (a page too large to lay out, a script in a loop); nothing was
// captured.
type UnresponsiveError struct {
	Step  string
	Bound time.Duration
}

func (e *UnresponsiveError) Error() string {
	return fmt.Sprintf("the page did not respond within %s (%s): its renderer is busy, e.g. a page too large to lay out or a script that does not stop", e.Bound, e.Step)
}

// LoadError: the page did not load at all (no host, refused, TLS failed);
// nothing was captured.
type LoadError struct {
	URL  string
	Text string // Chromium's net error, e.g. net::ERR_CONNECTION_REFUSED
}

func (e *LoadError) Error() string { return fmt.Sprintf("load %s: %s", e.URL, e.Text) }

// TLS reports whether the page failed on its certificate.
func (e *LoadError) TLS() bool {
	return strings.HasPrefix(e.Text, "net::ERR_CERT_") || strings.HasPrefix(e.Text, "net::ERR_SSL_")
}

// Config is one capture.
type Config struct {
	URL string
	// Wait is when the page counts as ready: "network-idle" (the default),
	// "selector:CSS" (an element matching CSS is visible) or a duration
	// ("5s"). Every wait is bounded by WaitMax; a page that never gets
	// ready is captured as it is then, and the manifest says so.
	Wait    string
	WaitMax time.Duration // default DefaultWaitMax
	// MaxBytes bounds the response bodies and DOM recorded, together
	// (default DefaultMaxBytes); what does not fit is cut and said so.
	MaxBytes      int64
	Width, Height int    // the viewport, CSS pixels
	Browser       string // Chromium's path, default DefaultBrowser
	Proxy         string // proxy server; "" means none
	// AcceptSPKI are base64 SHA-256 hashes of SubjectPublicKeyInfo whose
	// certificates Chromium accepts though they do not chain to its roots
	// (--ignore-certificate-errors-spki-list). Recorded in the manifest.
	AcceptSPKI []string
	// Software names the capturing program in the bundle.
	Software string
	Logger   *slog.Logger
	Now      func() time.Time // the clock, default time.Now
}

type waitKind int

const (
	waitIdle waitKind = iota
	waitSelector
	waitFixed
)

type waitSpec struct {
	kind     waitKind
	selector string
	d        time.Duration
}

// parseWait reads Config.Wait.
func parseWait(s string) (waitSpec, error) {
	switch {
	case s == "" || s == "network-idle":
		return waitSpec{kind: waitIdle}, nil
	case strings.HasPrefix(s, "selector:"):
		sel := strings.TrimSpace(strings.TrimPrefix(s, "selector:"))
		if sel == "" {
			return waitSpec{}, fmt.Errorf("wait %q: empty selector", s)
		}
		return waitSpec{kind: waitSelector, selector: sel}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return waitSpec{}, fmt.Errorf("wait %q: give network-idle, selector:CSS or a duration such as 5s", s)
	}
	return waitSpec{kind: waitFixed, d: d}, nil
}

// CheckURL refuses what is not an absolute http or https URL with a host.
func CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrURL, raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: %q", ErrURL, raw)
	}
	return u, nil
}

func (c *Config) check() (waitSpec, error) {
	if _, err := CheckURL(c.URL); err != nil {
		return waitSpec{}, err
	}
	w, err := parseWait(c.Wait)
	if err != nil {
		return w, err
	}
	if c.Wait == "" {
		c.Wait = "network-idle"
	}
	if c.WaitMax <= 0 {
		c.WaitMax = DefaultWaitMax
	}
	if w.kind == waitFixed && w.d > c.WaitMax {
		return w, fmt.Errorf("wait %s is longer than the bound %s", w.d, c.WaitMax)
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.Width <= 0 {
		c.Width = DefaultWidth
	}
	if c.Height <= 0 {
		c.Height = DefaultHeight
	}
	if c.Browser == "" {
		c.Browser = DefaultBrowser
	}
	if c.Software == "" {
		c.Software = "courtledger webcapture"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	for _, h := range c.AcceptSPKI {
		if b, err := base64.StdEncoding.DecodeString(h); err != nil || len(b) != 32 {
			return w, fmt.Errorf("accept-spki %q: want the base64 of a SHA-256 hash", h)
		}
	}
	return w, nil
}

// flags is Chromium's command line, as recorded in the manifest: headless,
// no first-run, no extensions, no background traffic to Google hosts, a
// proxy only when named.
func (c *Config) flags(profile string) [][2]string {
	f := [][2]string{
		{"headless", ""}, {"no-first-run", ""}, {"no-default-browser-check", ""},
		{"disable-gpu", ""}, {"disable-extensions", ""}, {"disable-background-networking", ""},
		{"disable-component-update", ""}, {"disable-sync", ""}, {"disable-quic", ""},
		{"disable-default-apps", ""}, {"disable-breakpad", ""}, {"disable-client-side-phishing-detection", ""},
		{"disable-dev-shm-usage", ""}, {"disable-features", "Translate,OptimizationHints,MediaRouter"},
		{"metrics-recording-only", ""}, {"safebrowsing-disable-auto-update", ""}, {"password-store", "basic"},
		{"hide-scrollbars", ""}, {"mute-audio", ""}, {"force-color-profile", "srgb"},
		{"window-size", fmt.Sprintf("%d,%d", c.Width, c.Height)},
		{"user-data-dir", profile},
	}
	if c.Proxy == "" {
		f = append(f, [2]string{"no-proxy-server", ""})
	} else {
		f = append(f, [2]string{"proxy-server", c.Proxy})
	}
	if len(c.AcceptSPKI) > 0 {
		f = append(f, [2]string{"ignore-certificate-errors-spki-list", strings.Join(c.AcceptSPKI, ",")})
	}
	if os.Geteuid() == 0 {
		// Chromium refuses to run as root with its sandbox.
		f = append(f, [2]string{"no-sandbox", ""})
	}
	return f
}

// Capture records cfg.URL and returns the sealed bundle. A page that
// loads at all is captured, with what went wrong said in the manifest's
// warnings; a URL refused, a page that does not load (*LoadError), a
// download (ErrDownload) or a page that stops answering (*UnresponsiveError)
// is an error and nothing is captured.
func Capture(ctx context.Context, cfg Config) (*Bundle, error) {
	wait, err := cfg.check()
	if err != nil {
		return nil, err
	}
	profile, err := os.MkdirTemp("", "courtledger-capture-profile-")
	if err != nil {
		return nil, fmt.Errorf("profile directory: %w", err)
	}
	defer os.RemoveAll(profile)

	flags := cfg.flags(profile)
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(cfg.Browser)}
	var recordedFlags []string
	for _, f := range flags {
		if f[1] == "" {
			opts = append(opts, chromedp.Flag(f[0], true))
			recordedFlags = append(recordedFlags, "--"+f[0])
			continue
		}
		opts = append(opts, chromedp.Flag(f[0], f[1]))
		v := f[1]
		if f[0] == "user-data-dir" {
			v = "(a new empty directory, removed after)"
		}
		recordedFlags = append(recordedFlags, "--"+f[0]+"="+v)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()

	b := &Bundle{}
	m := &b.Manifest
	m.Format, m.URL, m.Clock = Format, cfg.URL, "the capturing machine's clock; when filed, the court's receipt time is the trusted time"
	m.Settings = Settings{Wait: cfg.Wait, WaitMax: cfg.WaitMax.String(), Viewport: fmt.Sprintf("%dx%d", cfg.Width, cfg.Height),
		MaxBytes: cfg.MaxBytes, Proxy: cfg.Proxy, SPKI: slices.Clone(cfg.AcceptSPKI),
		Profile: "fresh empty directory, removed after the capture; no extensions", Flags: recordedFlags}
	if m.Settings.SPKI == nil {
		m.Settings.SPKI = []string{}
	}
	warn := func(format string, a ...any) { m.Warnings = append(m.Warnings, fmt.Sprintf(format, a...)) }

	// Start the browser, then listen before anything loads.
	if err := chromedp.Do(bctx); err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Browser, err)
	}
	rec := newRecorder(cfg.Now)
	if err := chromedp.Listen(bctx, rec.listen); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if err := chromedp.ListenBrowser(bctx, rec.listen); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	ver, err := chromedp.CallBrowser(bctx, browser.GetVersion, cdp.Empty{})
	if err != nil {
		return nil, fmt.Errorf("browser version: %w", err)
	}
	m.Browser = Browser{Product: ver.Product, Revision: ver.Revision, UserAgent: ver.UserAgent, JSVersion: ver.JsVersion,
		Protocol: ver.ProtocolVersion, Path: cfg.Browser}
	// Bodies stay in the browser until read; let it keep up to MaxBytes.
	total, one := min(cfg.MaxBytes*2, 1<<30), min(cfg.MaxBytes, 512<<20)
	if _, err := chromedp.Call(bctx, network.Enable, network.EnableParams{MaxTotalBufferSize: &total, MaxResourceBufferSize: &one}); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	events := true
	if _, err := chromedp.CallBrowser(bctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorDeny, EventsEnabled: &events}); err != nil {
		return nil, fmt.Errorf("refuse downloads: %w", err)
	}

	m.StartedAt = cfg.Now().UTC()
	cfg.Logger.InfoContext(ctx, "capture", "url", cfg.URL, "wait", cfg.Wait)
	// Navigate returns once the response has begun: a server that never
	// answers is a page that does not load, after the wait bound.
	nctx, ncancel := context.WithTimeout(bctx, cfg.WaitMax)
	nav, err := chromedp.Call(nctx, page.Navigate, page.NavigateParams{URL: cfg.URL})
	ncancel()
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return nil, &LoadError{URL: cfg.URL, Text: fmt.Sprintf("no response within %s", cfg.WaitMax)}
	}
	if err != nil {
		return nil, fmt.Errorf("navigate %s: %w", cfg.URL, err)
	}
	if nav.ErrorText != "" {
		if d := rec.downloadURL(); d != "" || nav.ErrorText == "net::ERR_ABORTED" && isDownload(rec) {
			return nil, fmt.Errorf("%w: %s", ErrDownload, cfg.URL)
		}
		return nil, &LoadError{URL: cfg.URL, Text: nav.ErrorText}
	}
	if nav.IsDownload || rec.downloadURL() != "" {
		return nil, fmt.Errorf("%w: %s", ErrDownload, cfg.URL)
	}

	deadline := time.Now().Add(cfg.WaitMax)
	ready := waitFor(ctx, deadline, func() bool { return rec.isLoaded() })
	switch wait.kind {
	case waitIdle:
		ready = ready && waitFor(ctx, deadline, func() bool { return rec.idle(idleQuiet) })
	case waitSelector:
		sctx, scancel := context.WithDeadline(bctx, deadline)
		err := chromedp.Do(sctx, chromedp.WaitVisible(chromedp.CSS(wait.selector)))
		scancel()
		if err != nil {
			ready = false
			warn("wait: selector %q was not visible within %s", wait.selector, cfg.WaitMax)
		}
	case waitFixed:
		sleep(ctx, wait.d)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg.Logger.DebugContext(ctx, "capture: waited", "ready", ready, "after", time.Since(m.StartedAt))
	if d := rec.downloadURL(); d != "" {
		return nil, fmt.Errorf("%w: %s", ErrDownload, d)
	}
	if !ready {
		m.Page.WaitBoundHit = true
		open := rec.open()
		warn("wait bound %s reached: the page was not ready (load event fired: %t; %d requests still open%s); captured as it was then",
			cfg.WaitMax, rec.isLoaded(), len(open), listSome(open))
	}

	// Scroll through the page so lazy content loads, then back to the top.
	stepMax := max(cfg.WaitMax, 10*time.Second)
	sctx, scancel := context.WithTimeout(bctx, stepMax)
	h, err := chromedp.Run(sctx, chromedp.Evaluate[float64](scrollJS, chromedp.EvalAwaitPromise))
	scancel()
	switch {
	case err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		return nil, &UnresponsiveError{Step: "scrolling", Bound: stepMax}
	case err != nil:
		warn("scroll: %v", err)
	case h > float64(scrollSteps*cfg.Height):
		warn("scroll: the page is %.0f CSS pixels tall; only the first %d screens were scrolled through, so lazy content further down may be missing", h, scrollSteps)
	}
	if !waitFor(ctx, time.Now().Add(min(cfg.WaitMax, 10*time.Second)), func() bool { return rec.idle(idleQuiet) }) && !m.Page.WaitBoundHit {
		warn("after scrolling, the page did not go network-idle within %s", min(cfg.WaitMax, 10*time.Second))
	}

	cfg.Logger.DebugContext(ctx, "capture: scrolled", "after", time.Since(m.StartedAt))
	pctx, pcancel := context.WithTimeout(bctx, stepMax)
	err = capturePage(pctx, b, cfg, warn)
	pcancel()
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return nil, &UnresponsiveError{Step: "reading the DOM and the screenshot", Bound: stepMax}
	}
	if err != nil {
		return nil, err
	}
	cfg.Logger.DebugContext(ctx, "capture: page recorded", "after", time.Since(m.StartedAt))
	m.FinishedAt = cfg.Now().UTC()
	xs := rec.snapshot()
	fctx, fcancel := context.WithTimeout(bctx, stepMax)
	fetchBodies(fctx, xs, cfg.MaxBytes-int64(len(b.File(DOMName))), warn, &m.Page.Truncated)
	describeTraffic(fctx, b, xs, cfg, warn)
	fcancel()
	cfg.Logger.DebugContext(ctx, "capture: traffic recorded", "after", time.Since(m.StartedAt))

	warcData, cdxj, err := writeWARC(xs, m, cfg.Software, warn)
	if err != nil {
		return nil, err
	}
	b.add(WARCName, warcData)
	b.add(CDXJName, cdxj)
	har, err := writeHAR(xs, m, cfg.Software)
	if err != nil {
		return nil, err
	}
	b.add(HARName, har)
	b.add(PagesName, pagesJSONL(m))
	if m.Warnings == nil {
		m.Warnings = []string{}
	}
	if err := b.seal(cfg.Software); err != nil {
		return nil, err
	}
	return b, nil
}

// scrollJS scrolls down a screen at a time, at most scrollSteps times, so
// that lazy images and infinite lists load, and returns to the top.
var scrollJS = fmt.Sprintf(`(async () => {
  const step = Math.max(window.innerHeight, 200);
  for (let i = 0, y = 0; i < %d && y < document.documentElement.scrollHeight; i++) {
    y += step; window.scrollTo(0, y);
    await new Promise(r => setTimeout(r, 120));
  }
  window.scrollTo(0, 0);
  await new Promise(r => setTimeout(r, 120));
  return document.documentElement.scrollHeight;
})()`, scrollSteps)

// capturePage records the title, final URL, DOM and screenshot.
func capturePage(ctx context.Context, b *Bundle, cfg Config, warn func(string, ...any)) error {
	m := &b.Manifest
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return fmt.Errorf("final URL: %w", err)
	}
	m.FinalURL = loc
	if m.Title, err = chromedp.Run(ctx, chromedp.Title()); err != nil {
		return fmt.Errorf("title: %w", err)
	}
	cfg.Logger.DebugContext(ctx, "capture: title")
	// Cut in the page already: a DOM of hundreds of MB is not sent whole
	// over the DevTools connection. (JavaScript counts UTF-16 units, so the
	// cut there is at MaxBytes units, and then at MaxBytes bytes here.)
	type domText struct {
		HTML   string `json:"html"`
		Length int64  `json:"length"`
		Cut    bool   `json:"cut"`
	}
	d, err := chromedp.Run(ctx, chromedp.Evaluate[domText](fmt.Sprintf(`(() => {
  const s = (document.doctype ? new XMLSerializer().serializeToString(document.doctype) + "\n" : "") + document.documentElement.outerHTML;
  return {html: s.length > %[1]d ? s.slice(0, %[1]d) : s, length: s.length, cut: s.length > %[1]d};
})()`, cfg.MaxBytes)))
	if err != nil {
		return fmt.Errorf("DOM: %w", err)
	}
	dom := d.HTML
	if d.Cut || int64(len(dom)) > cfg.MaxBytes {
		warn("DOM of %d characters cut to --max-bytes %d", d.Length, cfg.MaxBytes)
		m.Page.Truncated = true
		if int64(len(dom)) > cfg.MaxBytes {
			dom = dom[:cfg.MaxBytes]
		}
	}
	b.add(DOMName, []byte(dom))

	cfg.Logger.DebugContext(ctx, "capture: DOM", "bytes", len(dom))
	lm, err := chromedp.Call(ctx, page.GetLayoutMetrics, cdp.Empty{})
	if err != nil {
		return fmt.Errorf("layout: %w", err)
	}
	w, h := float64(cfg.Width), float64(cfg.Height)
	if cs := lm.CSSContentSize; cs != nil {
		w, h = max(w, cs.Width), max(h, cs.Height)
	}
	if h > maxShotHeight {
		warn("screenshot: the page is %.0f CSS pixels tall; the screenshot shows the top %d", h, maxShotHeight)
		h, m.Page.Truncated = maxShotHeight, true
	}
	yes := true
	shot, err := chromedp.Call(ctx, page.CaptureScreenshot, page.CaptureScreenshotParams{Format: page.CaptureScreenshotFormatPng,
		Clip: &page.Viewport{Width: w, Height: h, Scale: 1}, CaptureBeyondViewport: &yes, FromSurface: &yes})
	if err != nil {
		return fmt.Errorf("screenshot: %w", err)
	}
	cfg.Logger.DebugContext(ctx, "capture: screenshot", "bytes", len(shot.Data))
	img, err := png.DecodeConfig(bytes.NewReader(shot.Data))
	if err != nil {
		return fmt.Errorf("screenshot: not a PNG: %w", err)
	}
	m.Page.Width, m.Page.Height = int64(img.Width), int64(img.Height)
	b.add(ScreenshotName, shot.Data)
	return nil
}

// fetchBodies reads each finished response's body from the browser, while
// they fit in budget; what does not fit is cut and said so.
func fetchBodies(ctx context.Context, xs []*exchange, budget int64, warn func(string, ...any), truncated *bool) {
	var cut []string
	for _, x := range xs {
		if x.resp == nil || x.redirect || !x.finished {
			continue
		}
		if x.encoded > budget {
			x.bodyNote, x.cut = "not recorded: over --max-bytes", true
			cut = append(cut, x.req.URL)
			continue
		}
		res, err := chromedp.Call(ctx, network.GetResponseBody, network.GetResponseBodyParams{RequestID: x.id})
		if err != nil {
			x.bodyNote = "not kept by the browser: " + err.Error()
			if x.resp.Status/100 == 2 && x.encoded > 0 {
				warn("body of %s not recorded: %v", x.req.URL, err)
			}
			continue
		}
		body := res.Body
		if int64(len(body)) > budget {
			x.bodyNote, x.cut = fmt.Sprintf("cut at %d of %d bytes: over --max-bytes", budget, len(body)), true
			body = body[:max(budget, 0)]
			cut = append(cut, x.req.URL)
		}
		budget -= int64(len(body))
		x.body = body
	}
	if len(cut) > 0 {
		*truncated = true
		warn("--max-bytes reached: %d response bodies cut or left out%s", len(cut), listSome(cut))
	}
}

// describeTraffic fills the manifest's page, redirects, origins (with
// certificate chains as files) and counts, and warns of failed requests.
func describeTraffic(ctx context.Context, b *Bundle, xs []*exchange, cfg Config, warn func(string, ...any)) {
	m := &b.Manifest
	type originAcc struct {
		o   *Origin
		det *network.SecurityDetails
		url *url.URL
	}
	var order []string
	origins := map[string]*originAcc{}
	mainDone := false
	for _, x := range xs {
		m.Resources.Requests++
		if x.failed {
			m.Resources.Failed++
			switch {
			case strings.HasPrefix(x.errText, "net::ERR_CERT_") || strings.HasPrefix(x.errText, "net::ERR_SSL_"):
				warn("TLS error loading %s: %s (not recorded)", x.req.URL, x.errText)
			case x.errText != "net::ERR_ABORTED":
				warn("failed to load %s: %s", x.req.URL, x.errText)
			}
		}
		if x.body != nil {
			m.Resources.Bodies++
			m.Resources.BodyBytes += len(x.body)
		}
		if x.resp == nil {
			continue
		}
		m.Resources.Responses++
		if x.typ == network.ResourceTypeDocument && !mainDone {
			if x.redirect {
				m.Redirects = append(m.Redirects, Redirect{URL: x.resp.URL, Status: x.resp.Status, Location: header(x.resp.Headers, "Location")})
			} else {
				mainDone = true
				r := x.resp
				m.Page.Status, m.Page.MIMEType, m.Page.IP, m.Page.Port, m.Page.Protocol = r.Status, r.MimeType, r.RemoteIPAddress, r.RemotePort, r.Protocol
			}
		}
		u, err := url.Parse(x.resp.URL)
		if err != nil {
			continue
		}
		key := u.Scheme + "://" + u.Host
		acc := origins[key]
		if acc == nil {
			acc = &originAcc{o: &Origin{Origin: key, IPs: []string{}}, url: u}
			origins[key] = acc
			order = append(order, key)
		}
		if ip := x.resp.RemoteIPAddress; ip != "" && !slices.Contains(acc.o.IPs, ip) {
			acc.o.IPs = append(acc.o.IPs, ip)
		}
		if acc.det == nil && x.resp.SecurityDetails != nil {
			acc.det = x.resp.SecurityDetails
		}
	}
	if m.Redirects == nil {
		m.Redirects = []Redirect{}
	}
	m.Origins = []Origin{}
	for i, key := range order {
		acc := origins[key]
		if d := acc.det; d != nil {
			t := &TLSInfo{Protocol: d.Protocol, Cipher: d.Cipher, Subject: d.SubjectName, Issuer: d.Issuer,
				ValidFrom: time.Unix(int64(d.ValidFrom), 0).UTC(), ValidTo: time.Unix(int64(d.ValidTo), 0).UTC()}
			chain := originChain(ctx, key)
			if len(chain) == 0 {
				t.SystemRoots = "unknown: the browser gave no certificate chain"
				warn("TLS: no certificate chain for %s", key)
			} else {
				var pemBuf bytes.Buffer
				for _, c := range chain {
					pem.Encode(&pemBuf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
				}
				t.Chain = fmt.Sprintf("%s%02d-%s.pem", certsDir, i, fileSafe(acc.url.Host))
				b.add(t.Chain, pemBuf.Bytes())
				t.SystemRoots = systemRoots(chain, acc.url.Hostname())
				if t.SystemRoots != "verified" {
					pin := spki(chain[0])
					if slices.Contains(cfg.AcceptSPKI, pin) {
						t.AcceptedBySPKI = pin
						warn("TLS: %s's certificate does not verify against this machine's roots (%s); the browser accepted it because --accept-spki %s was given", key, t.SystemRoots, pin)
					} else {
						warn("TLS: %s's certificate does not verify against this machine's roots: %s", key, t.SystemRoots)
					}
				}
			}
			acc.o.TLS = t
		}
		m.Origins = append(m.Origins, *acc.o)
	}
	for _, x := range xs {
		if !x.finished && !x.failed {
			x.bodyNote = "still loading when the page was captured"
		}
	}
}

// originChain asks the browser for an origin's certificate chain.
func originChain(ctx context.Context, origin string) []*x509.Certificate {
	res, err := chromedp.Call(ctx, network.GetCertificate, network.GetCertificateParams{Origin: origin})
	if err != nil {
		return nil
	}
	var out []*x509.Certificate
	for _, s := range res.TableNames {
		der, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil
		}
		out = append(out, c)
	}
	return out
}

// systemRoots checks a chain against this machine's roots for host.
func systemRoots(chain []*x509.Certificate, host string) string {
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: host, Intermediates: inter, CurrentTime: time.Now()}); err != nil {
		return err.Error()
	}
	return "verified"
}

// SPKI is the pin Chromium's --ignore-certificate-errors-spki-list takes:
// base64 of the SHA-256 of the certificate's SubjectPublicKeyInfo.
func SPKI(c *x509.Certificate) string { return spki(c) }

func spki(c *x509.Certificate) string {
	return base64.StdEncoding.EncodeToString(sha256Sum(c.RawSubjectPublicKeyInfo))
}

// isDownload says whether the main document's response was an attachment.
func isDownload(r *recorder) bool {
	for _, x := range r.snapshot() {
		if x.typ == network.ResourceTypeDocument && x.resp != nil &&
			strings.HasPrefix(strings.ToLower(header(x.resp.Headers, "Content-Disposition")), "attachment") {
			return true
		}
	}
	return false
}

// header reads one header of a CDP header map, case-insensitively.
func header(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

func fileSafe(host string) string {
	h, p, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	var b strings.Builder
	for _, r := range h {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if p != "" {
		b.WriteString("_" + p)
	}
	return b.String()
}

func listSome(urls []string) string {
	if len(urls) == 0 {
		return ""
	}
	const n = 3
	s := ": " + strings.Join(urls[:min(n, len(urls))], ", ")
	if len(urls) > n {
		s += " and " + strconv.Itoa(len(urls)-n) + " more"
	}
	return s
}

// waitFor polls cond until it holds (true), the deadline passes or ctx ends
// (false).
func waitFor(ctx context.Context, deadline time.Time, cond func() bool) bool {
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		sleep(ctx, 50*time.Millisecond)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
