package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/evidence"
	"github.com/courtledger/courtledger/evidence/certificate"
	"github.com/courtledger/courtledger/evidence/webcapture"
)

// captureSite is a small HTTPS site on loopback: a redirect to a Chinese
// page with an image and a script that writes text after load.
func captureSite(t *testing.T) (url, pin string) {
	t.Helper()
	if _, err := os.Stat(webcapture.DefaultBrowser); err != nil {
		t.Skip("no Chromium at /usr/bin/chromium (Debian's chromium package; .ci/run installs it): capture test skipped")
	}
	img := image.NewRGBA(image.Rect(0, 0, 20, 20))
	for i := range img.Pix {
		img.Pix[i] = 200
	}
	img.Set(1, 1, color.Black)
	var pngBuf bytes.Buffer
	png.Encode(&pngBuf, img)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/shop/item-1", http.StatusFound) })
	mux.HandleFunc("/shop/item-1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>仿冒商品</title></head>
<body><h1>仿冒商品详情</h1><img src="/shop/item-1.png"><p id="price"></p>
<script>addEventListener("load", () => { document.getElementById("price").textContent = "售价 99 元"; });</script></body></html>`)
	})
	mux.HandleFunc("/shop/item-1.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(pngBuf.Bytes())
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL + "/", webcapture.SPKI(srv.Certificate())
}

// A platform captures a page and files it at Hangzhou with one command;
// the bundle verifies at Beijing, shows the captured URL, and one changed
// byte in any of its files is TAMPERED.
func TestCaptureSubmitVerifyAtAnotherCourt(t *testing.T) {
	url, pin := captureSite(t)
	nw := startNetwork(t)
	hz, bj := nw.courts[hzCourt], nw.courts[bjCourt]
	out := filepath.Join(t.TempDir(), "capture")

	stdout, errs, err := as(t, tokPlatform, "capture", url, "--out", out, "--accept-spki", pin, "--wait-max", "20s",
		"--submit", "--submit-files", "--server", hz.grpc(), "--platform", netPlatform, "--key", nw.platformKey, "--json")
	if err != nil {
		t.Fatalf("capture: %v\n%s%s", err, stdout, errs)
	}
	var res captureResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || res.Filing == nil || len(res.Filing.Filed) != len(res.Manifest.Files)+1 {
		t.Fatalf("capture --json: %v\n%s", err, stdout)
	}
	var filed receiptView
	for _, v := range res.Filing.Filed {
		if v.Fingerprint == res.Fingerprint {
			filed = v
		}
	}
	if !strings.HasPrefix(filed.Title, url+" @ ") || !filed.Verified {
		t.Errorf("the manifest's filing %+v, fingerprint %s", filed, res.Fingerprint)
	}
	if zr, err := zip.OpenReader(filepath.Join(out, bundleName)); err != nil {
		t.Fatal(err)
	} else {
		found := false
		for _, f := range zr.File {
			if f.Name == webcapture.ReceiptName {
				found = true
				rc, _ := f.Open()
				var rv receiptView
				json.NewDecoder(rc).Decode(&rv)
				rc.Close()
				if rv.EvidenceID != filed.EvidenceID {
					t.Errorf("the bundle's receipt names %q, filed %q", rv.EvidenceID, filed.EvidenceID)
				}
			}
		}
		zr.Close()
		if !found {
			t.Errorf("the bundle holds no %s", webcapture.ReceiptName)
		}
	}
	for _, name := range []string{bundleName, webcapture.ManifestName, receiptJSON} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("output: %v", err)
		}
	}
	bundle := filepath.Join(out, bundleName)

	verify := func(server, file string) (map[string]any, error) {
		t.Helper()
		stdout, errs, err := as(t, tokJudge, "verify", file, "--server", server, "--json")
		var doc map[string]any
		if jerr := json.Unmarshal([]byte(stdout), &doc); jerr != nil {
			t.Fatalf("verify --json printed no document (%v): %v\n%s%s", jerr, err, stdout, errs)
		}
		return doc, err
	}
	eventually(t, 30*time.Second, "verify at Beijing", func() error {
		doc, err := verify(bj.grpc(), bundle)
		if err != nil {
			return err
		}
		if doc["verdict"] != "VALID" || doc["fingerprint"] != res.Fingerprint {
			return fmt.Errorf("%v", doc)
		}
		c, _ := doc["capture"].(map[string]any)
		if c["url"] != url || c["final_url"] != url+"shop/item-1" || c["title"] != "仿冒商品" {
			return fmt.Errorf("capture %v", c)
		}
		return nil
	})
	text, _, err := as(t, tokJudge, "verify", bundle, "--server", bj.grpc())
	if err != nil || !strings.Contains(text, "VALID") || !strings.Contains(text, "capture     of "+url) {
		t.Errorf("verify (text): %v\n%s", err, text)
	}

	// One byte changed in each file in turn, the zip rewritten as any tool
	// would; in the manifest also a byte that keeps it valid JSON (a letter
	// of the title), which only the court can tell from a capture never filed.
	orig := readZip(t, bundle)
	type change struct {
		i    int
		name string
		at   int
	}
	var changes []change
	for i, e := range orig {
		changes = append(changes, change{i, e.name, len(e.data) / 2})
		if e.name == webcapture.ManifestName {
			changes = append(changes, change{i, e.name + " title", bytes.Index(e.data, []byte("仿冒商品"))})
		}
	}
	for _, ch := range changes {
		i, e := ch.i, orig[ch.i]
		t.Run("changed "+ch.name, func(t *testing.T) {
			es := append([]zipEntry(nil), orig...)
			changed := bytes.Clone(e.data)
			changed[ch.at] ^= 0x01
			es[i].data = changed
			file := filepath.Join(t.TempDir(), "changed.wacz")
			writeZip(t, file, es)
			doc, err := verify(hz.grpc(), file)
			want := certificate.Tampered
			if e.name == webcapture.ReceiptName {
				// The receipt is a claim outside the manifest: the bundle
				// is still the evidence filed.
				want = certificate.Valid
			}
			var ve *verdictError
			if doc["verdict"] != want.String() || (want != certificate.Valid && (!errors.As(err, &ve) || ve.exitCode() != 4)) {
				t.Errorf("verdict %v, error %v, want %s", doc["verdict"], err, want)
			}
		})
	}
}

type zipEntry struct {
	name string
	data []byte
}

func readZip(t *testing.T, name string) []zipEntry {
	t.Helper()
	zr, err := zip.OpenReader(name)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var out []zipEntry
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, zipEntry{f.Name, b})
	}
	return out
}

func writeZip(t *testing.T, name string, es []zipEntry) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range es {
		w, err := zw.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// What is not an http(s) URL is refused before any browser starts, and a
// page that does not load writes and files nothing.
func TestCaptureRefuses(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		code int
		say  string
	}{
		{"file URL", []string{"capture", "file:///etc/passwd", "--out", dir}, exitUsage, "only http and https"},
		{"no URL", []string{"capture"}, exitUsage, "takes 1 argument"},
		{"submit without key", []string{"capture", "https://example.org/", "--submit", "--out", dir}, exitUsage, "--submit needs"},
		{"bad size", []string{"capture", "https://example.org/", "--max-bytes", "lots", "--out", dir}, exitUsage, "not a size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := as(t, tokPlatform, tc.args...)
			if code, _ := exitCode(err); code != tc.code || err == nil || !strings.Contains(err.Error(), tc.say) {
				t.Fatalf("exit %d, error %v; want %d saying %q", code, err, tc.code, tc.say)
			}
		})
	}
	t.Run("TLS error", func(t *testing.T) {
		url, _ := captureSite(t)
		out := filepath.Join(dir, "tls")
		_, _, err := as(t, tokPlatform, "capture", url, "--out", out)
		if code, _ := exitCode(err); code != exitError || !strings.Contains(err.Error(), "--accept-spki") || !strings.Contains(err.Error(), "ERR_CERT") {
			t.Fatalf("exit %d, error %v", code, err)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("a failed capture wrote %s", out)
		}
	})
}

// A capture whose filing fails is still written (it is what was
// captured), says it was not filed, and exits 1.
func TestCaptureNotFiled(t *testing.T) {
	url, pin := captureSite(t)
	dir := t.TempDir()
	key, _ := sm2.GenerateKey()
	pemBytes, _ := key.MarshalPEM()
	keyFile, trustFile := filepath.Join(dir, "platform.key.pem"), filepath.Join(dir, "trust.txt")
	v, _ := checkpoint.NewVerifier("hangzhou.court.example/evidence", key.Public())
	os.WriteFile(keyFile, pemBytes, 0o600)
	os.WriteFile(trustFile, []byte(v.String()+"\n"), 0o644)
	out := filepath.Join(dir, "capture")
	// Nothing listens at the address loopback() returns once it is closed.
	_, errs, err := as(t, tokPlatform, "capture", url, "--out", out, "--accept-spki", pin, "--submit", "--server", loopback(t),
		"--trust", trustFile, "--platform", "esign.example", "--key", keyFile, "--timeout", "5s", "--attempt-timeout", "1s")
	if code, _ := exitCode(err); code != exitError {
		t.Fatalf("exit %d, error %v\n%s", code, err, errs)
	}
	if _, err := os.Stat(filepath.Join(out, bundleName)); err != nil {
		t.Errorf("the capture was not written: %v", err)
	}
	c, err := readCapture(filepath.Join(out, bundleName))
	if err != nil || c.Receipt != nil {
		t.Errorf("bundle: %v, receipt %q", err, c.Receipt)
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{{"200MB", 200e6}, {"5MiB", 5 << 20}, {"1048576", 1 << 20}, {"1 GiB", 1 << 30}, {"0", 0}, {"-1", 0}, {"MB", 0}, {"1e9", 0}} {
		got, err := parseSize(tc.in)
		if got != tc.want || (err == nil) != (tc.want > 0) {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

// A capture's filings are valid submissions even for a URL longer than a
// title or a metadata value may be, and a Chinese one cut mid-way.
func TestCaptureJobsValidate(t *testing.T) {
	at := time.Date(2026, 12, 4, 4, 0, 0, 0, time.UTC)
	for _, u := range []string{"https://shop.example/item/1", "https://shop.example/search?q=" + strings.Repeat("仿冒", 600)} {
		b := &webcapture.Bundle{ManifestJSON: []byte("{}"), Manifest: webcapture.Manifest{URL: u, FinalURL: u, StartedAt: at,
			Files: []webcapture.File{{Path: "capture/page.html", SM3: strings.Repeat("ab", 32), Bytes: 3}}}}
		jobs := captureJobs(b, true)
		if len(jobs) != 2 || jobs[0].metadata["capture"] != webcapture.Format || !strings.HasSuffix(jobs[0].Title, " @ 2026-12-04T04:00:00Z") {
			t.Fatalf("jobs %+v", jobs)
		}
		for _, j := range jobs {
			s := evidence.Submission{Court: "hangzhou.court.example/evidence", Platform: "esign.example", RequestID: "fp-1",
				Fingerprint: j.fp, Category: evidence.CategoryWebpage, Title: j.Title, Metadata: j.metadata, SignedAt: at}
			if err := s.Validate(); err != nil {
				t.Errorf("%s (URL of %d bytes): %v", j.Path, len(u), err)
			}
		}
	}
}
