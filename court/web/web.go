package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence/certificate"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config configures the pages of one court node.
type Config struct {
	// Court is the court's ID (its log's origin); CourtName is how people
	// name it (杭州互联网法院); empty takes the ID.
	Court, CourtName string
	// Trust is the trust file the court publishes: its own keys and the
	// other courts', one `courtd keygen` trust line each. The certificate
	// page checks certificates against it inside the browser. Required.
	Trust []byte
	// Status reads the court's state for the status page. Required.
	Status func(ctx context.Context) (Status, error)
	// Sessions, if set, lets judges and lawyers sign in; nil leaves the
	// pages public only.
	Sessions *Sessions
	Logger   *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Handler serves the pages and their assets.
type Handler struct {
	cfg      Config
	pages    map[string]*template.Template
	trustSM3 string
	assets   map[string]*asset
}

// asset is an embedded file with its validator and, for large ones, a
// gzipped copy made once.
type asset struct {
	body, gz []byte
	etag     string
	ctype    string
}

// The pages, each a template of its own over layout.html.
var pageNames = []string{"verify", "certificate", "signin", "status"}

// New checks cfg and parses the embedded templates.
func New(cfg Config) (*Handler, error) {
	if cfg.Court == "" {
		return nil, errors.New("web: Court is required")
	}
	if cfg.Status == nil {
		return nil, errors.New("web: Status is required")
	}
	trust, err := certificate.ParseTrust(bytes.NewReader(cfg.Trust))
	if err != nil {
		return nil, fmt.Errorf("web: the published trust file does not parse: %w", err)
	}
	if _, ok := trust.Court(cfg.Court); !ok {
		return nil, fmt.Errorf("web: the published trust file has no key of this court %s", cfg.Court)
	}
	if cfg.CourtName == "" {
		cfg.CourtName = cfg.Court
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, pages: map[string]*template.Template{}}
	d := sm3.Sum(cfg.Trust)
	h.trustSM3 = hex.EncodeToString(d[:])
	for _, p := range pageNames {
		t, err := template.New("layout.html").Funcs(templateFuncs).ParseFS(templateFS, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", p, err)
		}
		h.pages[p] = t
	}
	if h.assets, err = sharedAssets(); err != nil {
		return nil, fmt.Errorf("web: assets: %w", err)
	}
	return h, nil
}

// sharedAssets reads the embedded assets once per process: the demo runs
// nine nodes in one, and the verifier alone is 6.8 MB.
var sharedAssets = sync.OnceValues(func() (map[string]*asset, error) {
	assets := map[string]*asset{}
	err := fs.WalkDir(staticFS, "static", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sm3.Sum(body)
		ctype := mime.TypeByExtension(path.Ext(name))
		switch path.Ext(name) {
		case ".wasm":
			ctype = "application/wasm"
		case ".js":
			ctype = "text/javascript; charset=utf-8"
		case "":
			ctype = "text/plain; charset=utf-8"
		}
		assets["/"+name] = &asset{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: ctype}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return assets, nil
})

// gzipShared makes the gzipped copies at the first asset served, not at
// start: a node that serves no page spends nothing on them.
var gzipShared = sync.OnceFunc(func() {
	if assets, err := sharedAssets(); err == nil {
		gzipAssets(assets)
	}
})

// gzipAssets keeps a gzipped copy of each large asset, for browsers that
// take it: the verifier's WebAssembly shrinks to about a third.
func gzipAssets(assets map[string]*asset) {
	for _, a := range assets {
		if len(a.body) < gzipMin {
			continue
		}
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		zw.Write(a.body)
		zw.Close()
		a.gz = b.Bytes()
	}
}

// Routes adds the pages, the assets and the published trust file to mux.
// The REST API stays where it is (/v1/); the pages call it.
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.Handle("GET /{$}", h.secure(h.page("verify")))
	mux.Handle("GET /certificate", h.secure(h.page("certificate")))
	mux.Handle("GET /signin", h.secure(h.page("signin")))
	mux.Handle("GET /status", h.secure(http.HandlerFunc(h.serveStatus)))
	mux.Handle("GET /trust.txt", h.secure(http.HandlerFunc(h.serveTrust)))
	mux.Handle("GET /static/", h.secure(http.HandlerFunc(h.serveAsset)))
	if h.cfg.Sessions != nil {
		h.cfg.Sessions.Routes(mux)
	}
}

// contentSecurityPolicy allows only this court's own assets: no inline
// script or style, no other host, no framing. 'wasm-unsafe-eval' lets the
// page compile WebAssembly (the SM3 module and the verifier), nothing else.
const contentSecurityPolicy = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; " +
	"img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; form-action 'self'; " +
	"base-uri 'none'; frame-ancestors 'none'"

// secure sets the headers every page and asset carries.
func (h *Handler) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Strict-Transport-Security", "max-age=31536000")
		next.ServeHTTP(w, r)
	})
}

// pageData is what every template sees.
type pageData struct {
	Lang      string // "zh" or "en"
	Page      string
	Court     string
	CourtName string
	TrustSM3  string
	SignIn    bool // sign-in is offered
	Query     map[string]string
	I18N      map[string]string // the strings the page script needs, in Lang
	Status    *Status
	StatusErr string
	Now       time.Time
}

func (h *Handler) data(r *http.Request, w http.ResponseWriter, page string) pageData {
	lang := language(w, r)
	q := map[string]string{}
	// Only the three parameters a certificate's QR link carries, bounded:
	// the page fills its fields with them and checks them again itself.
	for _, k := range []string{"evidence", "sm3", "cert"} {
		if v := r.URL.Query().Get(k); v != "" && len(v) <= 128 {
			q[k] = v
		}
	}
	return pageData{Lang: lang, Page: page, Court: h.cfg.Court, CourtName: h.cfg.CourtName, TrustSM3: h.trustSM3,
		SignIn: h.cfg.Sessions != nil, Query: q, I18N: scriptStrings(lang), Now: h.cfg.Now()}
}

func (h *Handler) page(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.render(w, name, h.data(r, w, name))
	})
}

func (h *Handler) render(w http.ResponseWriter, name string, d pageData) {
	var b bytes.Buffer
	if err := h.pages[name].Execute(&b, d); err != nil {
		h.cfg.Logger.Error("web: rendering a page", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b.Bytes())
}

func (h *Handler) serveStatus(w http.ResponseWriter, r *http.Request) {
	d := h.data(r, w, "status")
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	st, err := h.cfg.Status(ctx)
	if err != nil {
		h.cfg.Logger.Warn("web: court status", "err", err)
		d.StatusErr = err.Error()
	} else {
		d.Status = &st
	}
	h.render(w, "status", d)
}

func (h *Handler) serveTrust(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Courtledger-Trust-SM3", h.trustSM3)
	w.Write(h.cfg.Trust)
}

// gzipMin is the size above which an asset is sent gzipped.
const gzipMin = 32 << 10

func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := h.assets[path.Clean(r.URL.Path)]
	if !ok {
		http.NotFound(w, r)
		return
	}
	gzipShared()
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("ETag", a.etag)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("Vary", "Accept-Encoding")
	if match := r.Header.Get("If-None-Match"); match == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gz != nil && acceptsGzip(r) {
		hd.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	w.Write(body)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		if strings.TrimSpace(strings.SplitN(part, ";", 2)[0]) == "gzip" {
			return true
		}
	}
	return false
}

// language is the page's language: Chinese unless the visitor chose
// English (?lang=en, kept in a cookie so that the choice holds across
// pages).
func language(w http.ResponseWriter, r *http.Request) string {
	lang := ""
	if q := r.URL.Query().Get("lang"); q == "en" || q == "zh" {
		lang = q
		http.SetCookie(w, &http.Cookie{Name: "lang", Value: q, Path: "/", MaxAge: 365 * 24 * 3600,
			Secure: true, SameSite: http.SameSiteStrictMode})
	} else if c, err := r.Cookie("lang"); err == nil && (c.Value == "en" || c.Value == "zh") {
		lang = c.Value
	}
	if lang == "" {
		lang = "zh"
	}
	return lang
}
