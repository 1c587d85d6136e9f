package bundle

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/courtledger/courtledger/crypto/sm3"
)

// Format is the manifest's format name and version; a reader refuses any
// other, so a later version cannot be misread as this one.
const Format = "courtledger-capture/1"

// Names of the bundle's own files.
const (
	ManifestName   = "courtledger-capture.json"
	ReceiptName    = "courtledger-receipt.json"
	ScreenshotName = "capture/screenshot.png"
	DOMName        = "capture/page.html"
	HARName        = "capture/page.har"
	WARCName       = "archive/data.warc.gz"
	CDXJName       = "indexes/index.cdxj"
	PagesName      = "pages/pages.jsonl"
	DatapackName   = "datapackage.json"
	CertsDir       = "capture/certs/"
)

// Manifest describes one capture: what was asked, what the browser saw,
// how, and every file of the bundle with its SM3. Its own SM3 (of the
// exact bytes in the bundle) is the evidence fingerprint.
type Manifest struct {
	Format   string `json:"format"`    // Format
	URL      string `json:"url"`       // as asked
	FinalURL string `json:"final_url"` // after redirects
	Title    string `json:"title"`     // the page's <title>
	// StartedAt and FinishedAt are the capturing machine's clock; the
	// court's receipt time (when filed) is the trusted one.
	StartedAt  time.Time     `json:"started_at"`
	FinishedAt time.Time     `json:"finished_at"`
	Clock      string        `json:"clock"`
	Software   string        `json:"software"` // the capturing program and its version
	Browser    Browser       `json:"browser"`
	Settings   Settings      `json:"settings"`
	Page       PageInfo      `json:"page"`
	Redirects  []Redirect    `json:"redirects"`
	Origins    []Origin      `json:"origins"`
	Resources  ResourceCount `json:"resources"`
	Warnings   []string      `json:"warnings"`
	Files      []File        `json:"files"`
}

// Summary is what a verifier shows of a capture beside its verdict
// (`evidencectl verify --json` and the verification page).
type Summary struct {
	URL        string    `json:"url"`
	FinalURL   string    `json:"final_url"`
	Title      string    `json:"title"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Browser    string    `json:"browser"`
	Files      int       `json:"files"`
	Warnings   []string  `json:"warnings"`
}

// Summary is the manifest's Summary.
func (m *Manifest) Summary() Summary {
	return Summary{URL: m.URL, FinalURL: m.FinalURL, Title: m.Title, StartedAt: m.StartedAt, FinishedAt: m.FinishedAt,
		Browser: m.Browser.Product, Files: len(m.Files), Warnings: m.Warnings}
}

// Browser is what Chromium says it is (CDP Browser.getVersion).
type Browser struct {
	Product   string `json:"product"`
	Revision  string `json:"revision"`
	UserAgent string `json:"user_agent"`
	JSVersion string `json:"js_version"`
	Protocol  string `json:"protocol"`
	Path      string `json:"path"`
}

// Settings are the capture's settings, as used.
type Settings struct {
	Wait     string   `json:"wait"`      // network-idle, selector:CSS or a duration
	WaitMax  string   `json:"wait_max"`  // the bound on any wait
	Viewport string   `json:"viewport"`  // WIDTHxHEIGHT in CSS pixels
	MaxBytes int64    `json:"max_bytes"` // bound on the recorded bodies together
	Proxy    string   `json:"proxy"`     // "" means none (--no-proxy-server)
	SPKI     []string `json:"accept_spki"`
	Profile  string   `json:"profile"` // how the profile was made
	Flags    []string `json:"flags"`   // Chromium's command line flags
}

// PageInfo is about the main document.
type PageInfo struct {
	Status       int64  `json:"status"`
	MIMEType     string `json:"mime_type"`
	IP           string `json:"ip"`
	Port         int64  `json:"port"`
	Protocol     string `json:"protocol"`
	Width        int64  `json:"width"`  // screenshot, CSS pixels
	Height       int64  `json:"height"` // screenshot, CSS pixels
	WaitBoundHit bool   `json:"wait_bound_hit"`
	Truncated    bool   `json:"truncated"`
}

// Redirect is one hop before the final URL.
type Redirect struct {
	URL      string `json:"url"`
	Status   int64  `json:"status"`
	Location string `json:"location"`
}

// Origin is a scheme://host:port the page loaded from.
type Origin struct {
	Origin string   `json:"origin"`
	IPs    []string `json:"ips"`
	TLS    *TLSInfo `json:"tls,omitempty"`
}

// TLSInfo is an https origin's connection and certificate.
type TLSInfo struct {
	Protocol  string    `json:"protocol"`
	Cipher    string    `json:"cipher"`
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	ValidFrom time.Time `json:"valid_from"`
	ValidTo   time.Time `json:"valid_to"`
	Chain     string    `json:"chain,omitempty"` // the PEM file in the bundle
	// SystemRoots says whether the chain verifies against this machine's
	// roots for the host: "verified", or why not.
	SystemRoots string `json:"system_roots"`
	// AcceptedBySPKI names the --accept-spki pin that made the browser
	// accept a chain it did not trust, if one did.
	AcceptedBySPKI string `json:"accepted_by_spki,omitempty"`
}

// ResourceCount counts the requests recorded.
type ResourceCount struct {
	Requests  int `json:"requests"`
	Responses int `json:"responses"`
	Failed    int `json:"failed"`
	Bodies    int `json:"bodies"`
	BodyBytes int `json:"body_bytes"`
}

// File is one file of the bundle.
type File struct {
	Path  string `json:"path"`
	SM3   string `json:"sm3"`
	Bytes int64  `json:"bytes"`
}

// Fingerprint is the SM3 of the manifest's bytes: the evidence filed.
func Fingerprint(manifestJSON []byte) sm3.Digest { return sm3.Sum(manifestJSON) }

// checkPath refuses names a bundle may not hold: not a clean relative
// slash path (no "..", no leading "/", no backslash, no empty element).
func checkPath(name string) error {
	if !fs.ValidPath(name) || name == "." || strings.ContainsAny(name, "\\\x00") {
		return fmt.Errorf("unsafe file name %q", name)
	}
	return nil
}

// parseManifest decodes and checks a manifest: the format, and a file list
// of safe, distinct names with SM3s and sizes.
func parseManifest(b []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("manifest: format %q, want %q", m.Format, Format)
	}
	if len(m.Files) == 0 || len(m.Files) > MaxFiles {
		return nil, fmt.Errorf("manifest: %d files (1 to %d)", len(m.Files), MaxFiles)
	}
	seen := make(map[string]bool, len(m.Files))
	var total int64
	for _, f := range m.Files {
		if err := checkPath(f.Path); err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		if f.Path == ManifestName || f.Path == ReceiptName {
			return nil, fmt.Errorf("manifest: lists %s", f.Path)
		}
		if seen[f.Path] {
			return nil, fmt.Errorf("manifest: %s listed twice", f.Path)
		}
		seen[f.Path] = true
		if d, err := hex.DecodeString(f.SM3); err != nil || len(d) != sm3.Size {
			return nil, fmt.Errorf("manifest: %s: sm3 %q is not 64 hex digits", f.Path, f.SM3)
		}
		if f.Bytes < 0 || f.Bytes > MaxTotalBytes-total {
			return nil, fmt.Errorf("manifest: %s: size %d out of bounds (all files together at most %d)", f.Path, f.Bytes, int64(MaxTotalBytes))
		}
		total += f.Bytes
	}
	return &m, nil
}
