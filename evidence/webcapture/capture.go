package webcapture

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
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
	m.Format, m.URL, m.Software, m.Clock = Format, cfg.URL, cfg.Software, "the capturing machine's clock; when filed, the court's receipt time is the trusted time"
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
	b.Add(WARCName, warcData)
	b.Add(CDXJName, cdxj)
	har, err := writeHAR(xs, m, cfg.Software)
	if err != nil {
		return nil, err
	}
	b.Add(HARName, har)
	b.Add(PagesName, pagesJSONL(m))
	if m.Warnings == nil {
		m.Warnings = []string{}
	}
	if err := b.Seal(cfg.Software); err != nil {
		return nil, err
	}
	return b, nil
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
