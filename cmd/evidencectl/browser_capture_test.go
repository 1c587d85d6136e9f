package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/courtledger/courtledger/evidence/webcapture"
	wcbundle "github.com/courtledger/courtledger/evidence/webcapture/bundle"
)

// TestBrowserCaptureBundle: a web capture bundle (evidencectl capture of a
// loopback page, filed at Hangzhou) dropped on Beijing's verification
// page. The page checks every file against the manifest in the browser
// and verifies the manifest's SM3 as a plain file's: VALID, with the
// captured URL, time and screenshot. One changed byte of one file is
// TAMPERED, naming the file; a changed manifest is TAMPERED through the
// recording its receipt names. Nothing of the bundle leaves the page.
func TestBrowserCaptureBundle(t *testing.T) {
	url, pin := captureSite(t)
	nw := startNetwork(t)
	hz, bj := nw.courts[hzCourt], nw.courts[bjCourt]
	bjURL := "https://" + bj.https[0]
	dir := t.TempDir()
	out := filepath.Join(dir, "capture")
	stdout, errs, err := as(t, tokPlatform, "capture", url, "--out", out, "--accept-spki", pin, "--wait-max", "20s",
		"--submit", "--server", hz.grpc(), "--platform", netPlatform, "--key", nw.platformKey, "--json")
	if err != nil {
		t.Fatalf("capture: %v\n%s%s", err, stdout, errs)
	}
	var res captureResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil || res.Filing == nil || len(res.Filing.Filed) != 1 {
		t.Fatalf("capture --json: %v\n%s", err, stdout)
	}
	id := res.Filing.Filed[0].EvidenceID
	bundle := filepath.Join(out, bundleName)

	// One byte of the rendered DOM changed, and (apart) one byte of the
	// manifest's title, each rezipped as anyone with a zip tool could.
	entries := readZip(t, bundle)
	edit := func(name string, change func([]byte) []byte) string {
		es := make([]zipEntry, len(entries))
		found := false
		for i, e := range entries {
			es[i] = zipEntry{e.name, bytes.Clone(e.data)}
			if e.name == name {
				es[i].data, found = change(es[i].data), true
			}
		}
		if !found {
			t.Fatalf("the bundle holds no %s", name)
		}
		path := filepath.Join(dir, strings.ReplaceAll(name, "/", "-")+".wacz")
		writeZip(t, path, es)
		return path
	}
	domChanged := edit(webcapture.DOMName, func(b []byte) []byte {
		i := bytes.Index(b, []byte("仿冒商品详情"))
		if i < 0 {
			t.Fatalf("the DOM has no heading:\n%s", b)
		}
		b[i+len("仿冒商品详情")-1] ^= 0x01
		return b
	})
	manifestChanged := edit(webcapture.ManifestName, func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"title": "仿冒商品"`), []byte(`"title": "正品商品"`), 1)
	})

	ctx := newBrowser(t)
	var reqs requests
	if err := reqs.listen(ctx); err != nil {
		t.Fatal(err)
	}
	shots := os.Getenv("COURTLEDGER_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(os.TempDir(), "courtledger-web-screenshots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	p := &page{t: t, ctx: ctx, shot: shots}

	t.Run("the bundle filed at Hangzhou is VALID at Beijing, with its screenshot", func(t *testing.T) {
		p.t = t
		p.open(bjURL + "/")
		reqs.reset()
		p.upload("#file", bundle)
		var v, text string
		// Beijing's mirror of Hangzhou catches up within seconds.
		eventually(t, 30*time.Second, "VALID at Beijing", func() error {
			if v, text = p.verdict("#verify-button"); v != "VERDICT_VALID" {
				return fmt.Errorf("%s: %s", v, text)
			}
			return nil
		})
		for _, want := range []string{id, res.Fingerprint, url + "shop/item-1", "仿冒商品", "Chrome"} {
			if !strings.Contains(text, want) {
				t.Errorf("the page does not show %q:\n%s", want, text)
			}
		}
		if kind := p.eval(`document.getElementById('capture').dataset.kind`); kind != "bundle" {
			t.Errorf("capture panel of kind %q", kind)
		}
		// The screenshot is the bundle's own PNG, decoded and shown.
		ctxImg, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		defer cancel()
		if _, err := chromedp.Run(ctxImg, chromedp.Poll[bool](`(() => { const i = document.getElementById('capture-screenshot'); return i !== null && i.complete && i.naturalWidth > 0; })()`)); err != nil {
			t.Fatalf("no screenshot shown: %v\n%s", err, text)
		}
		src := p.eval(`document.getElementById('capture-screenshot').src`)
		if !strings.HasPrefix(src, "data:image/png;base64,") {
			t.Errorf("screenshot src %.40q", src)
		}
		p.screenshot("verify-capture-valid")
		for _, r := range reqs.reset() {
			if r.HasPostData || len(r.PostDataEntries) > 0 {
				t.Errorf("%s %s carried a body", r.Method, r.URL)
			}
			if strings.Contains(r.URL, "/v1/") && r.URL != bjURL+"/v1/verdicts/"+res.Fingerprint {
				t.Errorf("the page asked %s %s; only the manifest's fingerprint may go to the court", r.Method, r.URL)
			}
		}
	})

	t.Run("one changed byte of the DOM is TAMPERED, naming the file", func(t *testing.T) {
		p.t = t
		p.open(bjURL + "/")
		reqs.reset()
		p.upload("#file", domChanged)
		v, text := p.verdict("#verify-button")
		if v != "VERDICT_TAMPERED" || !strings.Contains(p.eval(`document.getElementById('bundle-problems').innerText`), webcapture.DOMName+": SM3") {
			t.Fatalf("changed DOM: %s\n%s", v, text)
		}
		if p.eval(`String(document.getElementById('capture-screenshot') === null)`) != "true" {
			t.Error("a screenshot shown beside TAMPERED")
		}
		p.screenshot("verify-capture-tampered")
		for _, r := range reqs.reset() {
			if strings.Contains(r.URL, "/v1/") {
				t.Errorf("the page asked the court %s for a bundle that fails its own manifest", r.URL)
			}
		}
	})

	t.Run("a changed manifest is TAMPERED by the recording its receipt names", func(t *testing.T) {
		p.t = t
		p.open(bjURL + "/")
		p.upload("#file", manifestChanged)
		if v, text := p.verdict("#verify-button"); v != "VERDICT_TAMPERED" {
			t.Fatalf("changed manifest: %s\n%s", v, text)
		}
	})

	t.Run("a plain file is still hashed as a file, without the verifier", func(t *testing.T) {
		p.t = t
		p.open(bjURL + "/")
		plain := filepath.Join(dir, "receipt.json")
		writeTestFile(t, plain, []byte(`{"not":"a bundle"}`))
		reqs.reset()
		p.upload("#file", plain)
		if v, text := p.verdict("#verify-button"); v != "VERDICT_NOT_RECORDED" {
			t.Fatalf("plain file: %s\n%s", v, text)
		}
		for _, r := range reqs.reset() {
			if strings.HasSuffix(r.URL, "/verifier.wasm") {
				t.Error("the page loaded the verifier for a file that is no zip")
			}
		}
	})
}

// BenchmarkBrowserCaptureBundle: from the click to the verdict for a
// capture bundle of 100 MiB (a random WARC, stored), checked file by file
// in the page's verifier; the first run includes loading the verifier.
// Run it with
//
//	go test -run '^$' -bench BrowserCaptureBundle -benchtime 3x ./cmd/evidencectl/
func BenchmarkBrowserCaptureBundle(b *testing.B) {
	nw := startNetwork(b)
	hzURL := "https://" + nw.courts[hzCourt].https[0]
	at := time.Date(2026, 12, 4, 4, 0, 0, 0, time.UTC)
	bd := &wcbundle.Bundle{Manifest: wcbundle.Manifest{Format: wcbundle.Format, URL: "https://shop.example/big", FinalURL: "https://shop.example/big",
		StartedAt: at, FinishedAt: at.Add(time.Second), Warnings: []string{}}}
	warc := make([]byte, 100<<20)
	rand.Read(warc)
	var shot bytes.Buffer
	png.Encode(&shot, image.NewGray(image.Rect(0, 0, 1280, 2000)))
	bd.Add(wcbundle.WARCName, warc)
	bd.Add(wcbundle.ScreenshotName, shot.Bytes())
	if err := bd.Seal("bench"); err != nil {
		b.Fatal(err)
	}
	var z bytes.Buffer
	if err := bd.WriteZip(&z, nil); err != nil {
		b.Fatal(err)
	}
	file := filepath.Join(b.TempDir(), "big.wacz")
	writeTestFile(b, file, z.Bytes())
	ctx := newBrowser(b)
	if err := chromedp.Do(ctx, chromedp.Navigate(hzURL+"/"), chromedp.WaitReady(`body[data-ready="true"]`),
		chromedp.SetUploadFiles("#file", []string{file})); err != nil {
		b.Fatal(err)
	}
	var inPage []string
	b.ResetTimer()
	for range b.N {
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById('result').replaceChildren(), '')`, chromedp.EvalAsValue)); err != nil {
			b.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.Click("#verify-button")); err != nil {
			b.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('#result .verdict') !== null`, chromedp.WithPollingTimeout(5*time.Minute))); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		ms, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById('capture') || {dataset: {}}).dataset.ms || 'none'`, chromedp.EvalAsValue))
		if err != nil {
			b.Fatal(err)
		}
		inPage = append(inPage, ms)
		b.StartTimer()
	}
	b.StopTimer()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#result .verdict').dataset.verdict + ' ' + (document.getElementById('capture') || {dataset: {}}).dataset.kind`, chromedp.EvalAsValue))
	if err != nil || v != "VERDICT_NOT_RECORDED bundle" {
		b.Fatalf("verdict %q, %v", v, err)
	}
	b.Logf("bundle of %d bytes; the verifier's check alone, ms: %s", z.Len(), strings.Join(inPage, " "))
	b.ReportMetric(float64(z.Len())/(b.Elapsed().Seconds()/float64(b.N))/1e6, "MB/s")
}
