package webcapture

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"
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
		{"disable-dev-shm-usage", ""}, {"disable-features", "Translate,OptimizationHints,OptimizationGuideModelDownloading,OptimizationHintsFetching,MediaRouter,DialMediaRouteProvider,AutofillServerCommunication,CertificateTransparencyComponentUpdater"},
		{"disable-component-extensions-with-background-pages", ""}, {"disable-field-trial-config", ""}, {"no-pings", ""}, {"disable-domain-reliability", ""},
		{"metrics-recording-only", ""}, {"safebrowsing-disable-auto-update", ""}, {"password-store", "basic"},
		{"hide-scrollbars", ""}, {"mute-audio", ""}, {"force-color-profile", "srgb"},
		{"window-size", fmt.Sprintf("%d,%d", c.Width, c.Height)},
		{"user-data-dir", profile},
	}
	if c.Proxy == "" {
		f = append(f, [2]string{"no-proxy-server", ""})
	} else {
		// Everything through the proxy named, loopback too (which Chromium
		// otherwise never proxies).
		f = append(f, [2]string{"proxy-server", c.Proxy}, [2]string{"proxy-bypass-list", "<-loopback>"})
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
