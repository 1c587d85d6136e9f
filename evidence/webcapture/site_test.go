package webcapture

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// chromium is Debian's chromium, which .ci/run installs; the capture tests
// skip only when it is absent.
func chromium(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("COURTLEDGER_CHROMIUM"), DefaultBrowser, "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("no Chromium at /usr/bin/chromium (Debian's chromium package; .ci/run installs it): capture tests skipped")
	return ""
}

func pngOf(t testing.TB, w, h int, c color.Color) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Rendered is the text the test page's script writes after load.
const rendered = "脚本渲染的内容 rendered-after-load"

// testSite is the local HTTPS site the capture tests load: a redirect to a
// Chinese page with two images, a script that renders text after load, a
// lazy image far below the fold; pages that never go idle, a download, a
// big page.
type testSite struct {
	srv *httptest.Server
}

// sitePaths are what a capture of /start must hold a response for.
var sitePaths = []string{"/start", "/index.html", "/app.js", "/style.css", "/img/logo.png", "/img/photo.png", "/img/lazy.png"}

func newTestSite(t testing.TB) *testSite {
	t.Helper()
	logo, photo, lazy := pngOf(t, 40, 20, color.RGBA{200, 0, 0, 255}), pngOf(t, 64, 48, color.RGBA{0, 120, 0, 255}), pngOf(t, 30, 30, color.RGBA{0, 0, 200, 255})
	mux := http.NewServeMux()
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/index.html", http.StatusFound) })
	mux.HandleFunc("/index.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>网页取证测试页</title>
<link rel="stylesheet" href="/style.css"></head>
<body><h1>侵权商品页面</h1>
<p>本页面用于测试网页取证：图片、脚本、懒加载。</p>
<img src="/img/logo.png" alt="标志"> <img src="/img/photo.png" alt="照片">
<div id="out"></div>
<div style="height:2600px">下方还有内容</div>
<img id="lazy" loading="lazy" src="/img/lazy.png" alt="懒加载图片" width="30" height="30">
<p>页面结束</p>
<script src="/app.js"></script>
</body></html>`)
	})
	mux.HandleFunc("/app.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		fmt.Fprintf(w, `window.addEventListener("load", () => setTimeout(() => { document.getElementById("out").textContent = %q; }, 200));`, rendered)
	})
	mux.HandleFunc("/style.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css")
		fmt.Fprint(w, `body { font-family: sans-serif; margin: 8px; } h1 { color: #a00; }`)
	})
	img := func(b []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { w.Header().Set("Content-Type", "image/png"); w.Write(b) }
	}
	mux.HandleFunc("/img/logo.png", img(logo))
	mux.HandleFunc("/img/photo.png", img(photo))
	mux.HandleFunc("/img/lazy.png", img(lazy))
	// /busy never goes network-idle: it polls forever.
	mux.HandleFunc("/busy", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!DOCTYPE html><html><head><title>busy</title></head><body><p id="n">0</p>
<script>let n = 0; setInterval(() => fetch("/tick?" + (n++)).then(r => r.text()).then(t => document.getElementById("n").textContent = t), 100);</script></body></html>`)
	})
	// /stall never answers.
	mux.HandleFunc("/stall", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	// /hang stops answering after load: a script that never returns.
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!DOCTYPE html><html><head><title>hang</title></head><body>
<script>addEventListener("load", () => setTimeout(() => { for (;;) {} }, 600));</script></body></html>`)
	})
	mux.HandleFunc("/tick", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.URL.RawQuery) })
	mux.HandleFunc("/file.zip", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/zip")
		w.Header().Set("Content-Disposition", `attachment; filename="file.zip"`)
		w.Write(bytes.Repeat([]byte("PK"), 1000))
	})
	// /big?mb=N is a page of N MB of text.
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		var mb int
		fmt.Sscan(r.URL.Query().Get("mb"), &mb)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!DOCTYPE html><html><head><title>big</title></head><body><pre>")
		line := strings.Repeat("大页面 big page line ", 4) + "\n"
		for n := 0; n < mb<<20; n += len(line) {
			fmt.Fprint(w, line)
		}
		fmt.Fprint(w, "</pre></body></html>")
	})
	// /mixed shows an image of another origin whose certificate nothing
	// trusts: a sub-resource TLS error.
	other := httptest.NewUnstartedServer(http.HandlerFunc(img(logo)))
	other.Config.ErrorLog = log.New(io.Discard, "", 0)
	// Its own key: httptest's servers all share one certificate, which the
	// pin of the main site would accept.
	other.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	other.StartTLS()
	t.Cleanup(other.Close)
	mux.HandleFunc("/mixed", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!DOCTYPE html><html><head><title>mixed</title></head><body><img src="%s/other.png"></body></html>`, other.URL)
	})
	srv := httptest.NewUnstartedServer(mux)
	// The TLS-error case makes the browser hang up on the handshake; that is expected.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	s := &testSite{srv: srv}
	t.Cleanup(s.srv.Close)
	return s
}

func (s *testSite) url(path string) string { return s.srv.URL + path }

// pin is the SPKI pin of the site's certificate, for --accept-spki.
func (s *testSite) pin() string { return SPKI(s.srv.Certificate()) }

func (s *testSite) config(t testing.TB, path string) Config {
	var logger *slog.Logger
	if os.Getenv("COURTLEDGER_CAPTURE_DEBUG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return Config{URL: s.url(path), Browser: chromium(t), AcceptSPKI: []string{s.pin()}, WaitMax: 20 * time.Second, Logger: logger}
}

func captureCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// selfSigned is a certificate for 127.0.0.1 with a fresh key.
func selfSigned(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other origin"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
