package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/evidence"
	"github.com/courtledger/courtledger/evidence/webcapture"
)

// Names in a capture's output directory.
const (
	bundleName  = "capture.wacz"
	receiptJSON = "receipt.json"
)

// captureResult is what capture prints with --json.
type captureResult struct {
	Bundle      string               `json:"bundle"`
	Fingerprint string               `json:"fingerprint"`
	Manifest    *webcapture.Manifest `json:"manifest"`
	Filing      *submitResult        `json:"filing,omitempty"`
}

func captureCmd(r *remote) *cobra.Command {
	var (
		cfg                            webcapture.Config
		out, maxBytes, platform, keyFn string
		submit, submitFiles            bool
	)
	cmd := &cobra.Command{
		Use:   "capture URL",
		Short: "Record a web page in headless Chromium as evidence (网页取证): screenshot, archive, TLS chain; optionally file it",
		Long: `capture loads URL (http or https only) in Debian's headless Chromium with a
fresh, empty profile that is removed afterwards, no extensions and no proxy
unless --proxy names one; waits (--wait, bounded by --wait-max), scrolls to
bring in lazy content, and records a full-page screenshot, the DOM after
rendering, every request and response with bodies (WARC and HAR), each
https origin's certificate chain, the addresses connected to, the final URL
after redirects, the browser's version and these settings.

It writes DIR/capture.wacz: a zip shaped like WACZ (web-archive tools such
as ReplayWeb.page open it) holding courtledger-capture.json, the manifest
that lists every file with its SM3 and size (docs/formats.md, "Web capture
bundle"). The manifest's SM3 is the evidence fingerprint.

With --submit, that fingerprint is filed with the court as category
webpage (网页), titled "URL @ time", with metadata capture=courtledger-capture/1;
the court's receipt time is the trusted time of the capture. The receipt
is written to DIR/receipt.json and into the bundle. --submit-files files
each file's fingerprint too.

A page that does not load (no such host, refused, a TLS error), a download
and a URL that is not http(s) are errors: nothing is written or filed. A
certificate the browser does not trust is not bypassed: name its key with
--accept-spki (base64 SHA-256 of its SubjectPublicKeyInfo), which the
manifest records. A page that never goes idle is captured at --wait-max;
bodies past --max-bytes are cut; the manifest's warnings say so.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.URL = args[0]
			if _, err := webcapture.CheckURL(cfg.URL); err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			mb, err := parseSize(maxBytes)
			if err != nil {
				return fmt.Errorf("%w: --max-bytes: %w", errUsage, err)
			}
			cfg.MaxBytes = mb
			var key *sm2.PrivateKey
			if submit || submitFiles {
				if r.trust == "" || platform == "" || keyFn == "" {
					return fmt.Errorf("%w: --submit needs --trust, --platform and --key", errUsage)
				}
				kp, err := os.ReadFile(keyFn)
				if err != nil {
					return fmt.Errorf("--key: %w", err)
				}
				if key, err = sm2.ParsePrivateKeyPEM(kp); err != nil {
					return fmt.Errorf("--key %s: %w", keyFn, err)
				}
				if _, err := readTrust(r.trust); err != nil {
					return err
				}
			}
			if out == "" {
				out = "capture-" + time.Now().UTC().Format("20060102T150405Z")
			}
			if _, err := os.Stat(filepath.Join(out, bundleName)); err == nil {
				return fmt.Errorf("%w: %s already holds a capture: give another --out", errUsage, out)
			}
			cfg.Software = "evidencectl capture"
			if bi, ok := debug.ReadBuildInfo(); ok {
				cfg.Software += " (" + bi.Main.Path + " " + bi.Main.Version + ")"
			}
			cfg.Logger = slog.New(slog.DiscardHandler)
			// The whole capture is bounded: the wait, then scrolling, the
			// screenshot and reading the bodies.
			// Interrupted, the capture still stops its browser and removes
			// the profile directory.
			sctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ctx, cancel := context.WithTimeout(sctx, max(cfg.WaitMax, webcapture.DefaultWaitMax)*2+2*time.Minute)
			defer cancel()
			fmt.Fprintf(cmd.ErrOrStderr(), "evidencectl: capturing %s ...\n", cfg.URL)
			b, err := webcapture.Capture(ctx, cfg)
			if err != nil {
				return captureError(err)
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			m := &b.Manifest
			fp := b.Fingerprint()
			res := captureResult{Bundle: filepath.Join(out, bundleName), Fingerprint: hex.EncodeToString(fp[:]), Manifest: m}
			var receipt []byte
			var filingErr error
			if key != nil {
				jobs := captureJobs(b, submitFiles)
				fres := submitResult{Filed: []receiptView{}, Unverified: []unverifiedFiling{}, Failed: []failedFiling{}, Skipped: []skipped{}}
				fctx, fcancel := withTimeout(r)
				fl := filing{platform: platform, key: key, category: evidence.CategoryWebpage, batchSize: evidence.MaxBatchSubmissions}
				filingErr = fl.file(fctx, cmd, r, jobs, &fres)
				fcancel()
				res.Filing = &fres
				if filingErr == nil {
					filingErr = submitOutcome(fres, r.trust, func() error { return errors.New("nothing filed") })
				}
				for _, v := range fres.Filed {
					if v.Fingerprint == res.Fingerprint {
						receipt, _ = json.MarshalIndent(v, "", "  ")
					}
				}
				if j, err := json.MarshalIndent(fres, "", "  "); err == nil {
					if err := os.WriteFile(filepath.Join(out, receiptJSON), append(j, '\n'), 0o644); err != nil {
						return err
					}
				}
			}
			size, err := writeBundle(res.Bundle, b, receipt)
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(out, webcapture.ManifestName), b.ManifestJSON, 0o644); err != nil {
				return err
			}
			if jsonOutput(cmd) {
				if err := printJSON(cmd.OutOrStdout(), res); err != nil {
					return err
				}
			} else {
				printCapture(cmd.OutOrStdout(), res, size)
				if res.Filing != nil {
					printSubmitResult(cmd, *res.Filing)
				}
			}
			return filingErr
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Wait, "wait", "network-idle", "when the page is ready: network-idle, selector:CSS, or a duration such as 5s")
	f.DurationVar(&cfg.WaitMax, "wait-max", webcapture.DefaultWaitMax, "bound on the wait; a page not ready by then is captured as it is, and the manifest says so")
	f.StringVar(&out, "out", "", "output directory (default capture-TIME); it receives capture.wacz, courtledger-capture.json and, with --submit, receipt.json")
	f.StringVar(&maxBytes, "max-bytes", "200MB", "bound on the bodies and DOM recorded, together (e.g. 200MB, 5MiB, 1048576); what is over is cut, and said")
	f.StringVar(&cfg.Proxy, "proxy", "", "proxy server for the browser (default: none, --no-proxy-server)")
	f.StringSliceVar(&cfg.AcceptSPKI, "accept-spki", nil, "accept a certificate whose SubjectPublicKeyInfo has this base64 SHA-256 (recorded in the manifest)")
	f.StringVar(&cfg.Browser, "browser", webcapture.DefaultBrowser, "Chromium's path")
	f.IntVar(&cfg.Width, "width", webcapture.DefaultWidth, "viewport width, CSS pixels")
	f.IntVar(&cfg.Height, "height", webcapture.DefaultHeight, "viewport height, CSS pixels")
	f.BoolVar(&submit, "submit", false, "file the manifest's fingerprint with the court (needs --trust, --platform, --key)")
	f.BoolVar(&submitFiles, "submit-files", false, "with --submit: file each file's fingerprint too")
	f.StringVar(&platform, "platform", "", "the platform's registered ID (--submit)")
	f.StringVar(&keyFn, "key", "", "the platform's SM2 private key, PKCS#8 PEM (--submit)")
	return cmd
}

// captureJobs are the filings of a capture: its manifest (the evidence),
// and with files each file of the bundle, all in category webpage.
func captureJobs(b *webcapture.Bundle, files bool) []filingJob {
	m := &b.Manifest
	at := m.StartedAt.UTC().Format(time.RFC3339)
	title := clip(m.URL, evidence.MaxTitleBytes-len(" @ ")-len(at)) + " @ " + at
	meta := map[string]string{"capture": webcapture.Format, "url": clip(m.URL, evidence.MaxMetadataValue),
		"final_url": clip(m.FinalURL, evidence.MaxMetadataValue), "captured_at": m.StartedAt.UTC().Format(time.RFC3339Nano)}
	fp := b.Fingerprint()
	jobs := []filingJob{{fileJob: fileJob{Path: webcapture.ManifestName, Title: title}, fp: fp, metadata: meta}}
	if files {
		for _, fl := range m.Files {
			d, err := evidence.ParseFingerprint(fl.SM3)
			if err != nil {
				continue
			}
			t := clip(fl.Path, evidence.MaxTitleBytes-len(" of the capture ")-len(title)) + " of the capture " + title
			if len(t) > evidence.MaxTitleBytes {
				t = clip(t, evidence.MaxTitleBytes)
			}
			jobs = append(jobs, filingJob{fileJob: fileJob{Path: fl.Path, Title: t}, fp: d,
				metadata: map[string]string{"capture": webcapture.Format, "capture_file": clip(fl.Path, evidence.MaxMetadataValue), "manifest": hex.EncodeToString(fp[:])}})
		}
	}
	return jobs
}

// clip cuts s to at most n bytes on a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n = max(n-len("…"), 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// captureError says why nothing was captured.
func captureError(err error) error {
	var le *webcapture.LoadError
	switch {
	case errors.As(err, &le) && le.TLS():
		return fmt.Errorf("nothing captured: %s: the browser refused the site's certificate (%s); it is not bypassed. If you have checked the certificate by other means, name its key with --accept-spki (the manifest records it)", le.URL, le.Text)
	case errors.As(err, &le):
		return fmt.Errorf("nothing captured: %s did not load: %s", le.URL, le.Text)
	case errors.Is(err, webcapture.ErrDownload):
		return fmt.Errorf("nothing captured: %w (the browser refuses downloads; fingerprint the file itself with submit)", err)
	}
	return fmt.Errorf("nothing captured: %w", err)
}

func printCapture(w io.Writer, r captureResult, size int64) {
	m := r.Manifest
	fmt.Fprintf(w, "captured %s\n", m.URL)
	if m.FinalURL != m.URL {
		fmt.Fprintf(w, "  final URL   %s (%d redirects)\n", m.FinalURL, len(m.Redirects))
	}
	fmt.Fprintf(w, "  title       %s\n", m.Title)
	fmt.Fprintf(w, "  at          %s to %s (this machine's clock)\n", m.StartedAt.Format(time.RFC3339Nano), m.FinishedAt.Format(time.RFC3339Nano))
	fmt.Fprintf(w, "  browser     %s\n", m.Browser.Product)
	fmt.Fprintf(w, "  page        status %d from %s, screenshot %dx%d, %d requests (%d bodies, %d bytes)\n",
		m.Page.Status, m.Page.IP, m.Page.Width, m.Page.Height, m.Resources.Requests, m.Resources.Bodies, m.Resources.BodyBytes)
	fmt.Fprintf(w, "  bundle      %s (%d bytes, %d files)\n", r.Bundle, size, len(m.Files)+1)
	fmt.Fprintf(w, "  fingerprint %s (SM3 of %s: the evidence)\n", r.Fingerprint, webcapture.ManifestName)
	for _, warn := range m.Warnings {
		fmt.Fprintf(w, "  warning     %s\n", warn)
	}
}

// parseSize reads a byte count: digits with an optional KB, MB, GB (powers
// of 1000) or KiB, MiB, GiB suffix.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.m
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("%q is not a size such as 200MB", s)
	}
	return n * mult, nil
}

// writeBundle writes the bundle's zip to name through a temporary file
// renamed at the end, so name is a whole bundle or absent. It returns the
// zip's size.
func writeBundle(name string, b *webcapture.Bundle, receipt []byte) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".capture-*.wacz")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	if err := b.WriteZip(tmp, receipt); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("write %s: %w", name, err)
	}
	st, err := tmp.Stat()
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", name, err)
	}
	return st.Size(), os.Rename(tmp.Name(), name)
}
