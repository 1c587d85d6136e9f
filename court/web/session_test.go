package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/apierr"
)

// The tokens the test court knows, and whose they are. Check is the real
// access.Authenticator, wrapped as the node wraps it.
var testTokens = map[string]access.Identity{
	"judge-token-1":  {Role: access.RoleJudge, ID: "judge-1"},
	"judge-token-2":  {Role: access.RoleJudge, ID: "judge-2"},
	"judge-token-3":  {Role: access.RoleJudge, ID: "judge-3"},
	"judge-token-4":  {Role: access.RoleJudge, ID: "judge-4"},
	"lawyer-token-1": {Role: access.RoleLawyer, ID: "lawyer-1"},
	"platform-token": {Role: access.RolePlatform, ID: "esign.example"},
	"admin-token":    {Role: access.RoleAdmin, ID: "admin-1"},
	"peer-token":     {Role: access.RolePeer, ID: "beijing.court.example/evidence"},
}

const testHost = "hangzhou.court.example"

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness is a court's session endpoints and a REST API behind Wrap that
// records what reached it.
type harness struct {
	t       testing.TB
	s       *Sessions
	mux     *http.ServeMux
	clock   *fakeClock
	logs    *bytes.Buffer
	revoked atomic.Bool // Check then refuses every token

	downstream struct {
		calls         int
		authorization string
		cookie        string
		csrf          string
	}
}

func newHarness(t testing.TB, edit func(*SessionConfig)) *harness {
	t.Helper()
	var rules []access.TokenRule
	for tok, id := range testTokens {
		rules = append(rules, access.TokenRule{Hash: access.TokenHash(tok), Identity: id})
	}
	auth, err := access.NewAuthenticator(access.AuthenticatorConfig{Court: "hangzhou.court.example/evidence",
		PeerCourts: []string{"beijing.court.example/evidence"}, Tokens: rules})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, mux: http.NewServeMux(), clock: &fakeClock{t: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)}, logs: &bytes.Buffer{}}
	cfg := SessionConfig{
		Check: func(_ context.Context, token string) (Identity, error) {
			if h.revoked.Load() {
				token = "revoked:" + token
			}
			id, err := auth.FromToken("Bearer " + token)
			return Identity{Role: string(id.Role), ID: id.ID}, err
		},
		Roles:  []string{string(access.RoleJudge), string(access.RoleLawyer)},
		Now:    h.clock.Now,
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&cfg)
	}
	h.s, err = NewSessions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.s.Routes(h.mux)
	h.mux.Handle("/v1/", h.s.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.downstream.calls++
		h.downstream.authorization = r.Header.Get("Authorization")
		h.downstream.cookie = r.Header.Get("Cookie")
		h.downstream.csrf = r.Header.Get(CSRFHeader)
		w.WriteHeader(http.StatusOK)
	})))
	return h
}

// request is a browser's request from the court's own page.
func (h *harness) request(method, target, contentType, body string) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Host = testHost
	r.RemoteAddr = "198.51.100.7:50123"
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	if method == http.MethodPost {
		r.Header.Set("Origin", "https://"+testHost)
	}
	return r
}

func (h *harness) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.mux.ServeHTTP(w, r)
	return w
}

func (h *harness) signIn(token string, edit func(*http.Request)) *httptest.ResponseRecorder {
	body, _ := json.Marshal(map[string]string{"token": token})
	r := h.request(http.MethodPost, "/web/session", "application/json", string(body))
	if edit != nil {
		edit(r)
	}
	return h.serve(r)
}

// signedIn signs in with token and returns the cookie and CSRF token.
func (h *harness) signedIn(token string) (*http.Cookie, string) {
	h.t.Helper()
	w := h.signIn(token, nil)
	if w.Code != http.StatusOK {
		h.t.Fatalf("sign-in with %s: %d %s", token, w.Code, w.Body)
	}
	c := sessionCookieOf(h.t, w)
	if c == nil {
		h.t.Fatalf("sign-in with %s set no session cookie", token)
	}
	return c, decodeView(h.t, w).CSRF
}

// api calls GET /v1/... with the cookie (if any) and CSRF token (if any).
func (h *harness) api(cookie *http.Cookie, csrf string) *httptest.ResponseRecorder {
	r := h.request(http.MethodGet, "/v1/evidence/E1", "", "")
	if cookie != nil {
		r.AddCookie(cookie)
	}
	if csrf != "" {
		r.Header.Set(CSRFHeader, csrf)
	}
	return h.serve(r)
}

func sessionCookieOf(t testing.TB, w *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == SessionCookie {
			return c
		}
	}
	return nil
}

func decodeView(t testing.TB, w *httptest.ResponseRecorder) sessionView {
	t.Helper()
	var v sessionView
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("answer %q is not a session's JSON: %v", w.Body, err)
	}
	return v
}

// problem is the API's error JSON (a google.rpc.Status), as the page reads it.
type problem struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Reason string `json:"reason"`
	} `json:"details"`
}

func decodeProblem(t *testing.T, w *httptest.ResponseRecorder) problem {
	t.Helper()
	var p problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Message == "" {
		t.Fatalf("answer %q is not the API's error JSON: %v", w.Body, err)
	}
	return p
}

func (p problem) reason() string {
	for _, d := range p.Details {
		if d.Reason != "" {
			return d.Reason
		}
	}
	return ""
}

// expectCleared checks that the answer tells the browser to drop the cookie.
func expectCleared(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	c := sessionCookieOf(t, w)
	if c == nil || c.MaxAge >= 0 || c.Value != "" || c.Path != "/" || !c.Secure || !c.HttpOnly {
		t.Fatalf("session cookie not cleared: %v (Set-Cookie %q)", c, w.Header().Values("Set-Cookie"))
	}
}

func (h *harness) liveSessions() int {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	return len(h.s.sessions)
}

func TestSignIn(t *testing.T) {
	header := func(k, v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set(k, v) } }
	for _, tc := range []struct {
		name   string
		token  string
		form   bool // sent as a form, not JSON
		edit   func(*http.Request)
		status int
		reason string // of a refusal
		want   Identity
	}{
		{name: "judge", token: "judge-token-1", status: 200, want: Identity{"judge", "judge-1"}},
		{name: "lawyer by form", token: "lawyer-token-1", form: true, status: 200, want: Identity{"lawyer", "lawyer-1"}},
		{name: "pasted with line break", token: "judge-token-1\r\n", status: 200, want: Identity{"judge", "judge-1"}},
		{name: "curl, no browser headers", token: "judge-token-1", status: 200, want: Identity{"judge", "judge-1"},
			edit: func(r *http.Request) { r.Header.Del("Sec-Fetch-Site"); r.Header.Del("Origin") }},
		{name: "wrong token", token: "judge-token-9", status: 401, reason: "UNKNOWN_TOKEN"},
		{name: "platform token", token: "platform-token", status: 403, reason: "ROLE_NOT_ALLOWED"},
		{name: "admin token", token: "admin-token", status: 403, reason: "ROLE_NOT_ALLOWED"},
		{name: "peer court token", token: "peer-token", status: 403, reason: "ROLE_NOT_ALLOWED"},
		{name: "cross-site", token: "judge-token-1", edit: header("Sec-Fetch-Site", "cross-site"), status: 403, reason: "CROSS_SITE"},
		{name: "same-site, other origin", token: "judge-token-1", edit: header("Sec-Fetch-Site", "same-site"), status: 403, reason: "CROSS_SITE"},
		{name: "other origin", token: "judge-token-1", edit: header("Origin", "https://evil.example"), status: 403, reason: "CROSS_SITE"},
		{name: "plain http origin", token: "judge-token-1", edit: header("Origin", "http://"+testHost), status: 403, reason: "CROSS_SITE"},
		{name: "null origin", token: "judge-token-1", edit: header("Origin", "null"), status: 403, reason: "CROSS_SITE"},
		{name: "other origin without Sec-Fetch-Site", token: "judge-token-1", status: 403, reason: "CROSS_SITE",
			edit: func(r *http.Request) { r.Header.Del("Sec-Fetch-Site"); r.Header.Set("Origin", "https://evil.example") }},
		{name: "empty token", token: "  ", status: 400, reason: "NO_TOKEN"},
		{name: "token with space", token: "judge token", status: 400, reason: "BAD_TOKEN"},
		{name: "text/plain", token: "judge-token-1", edit: header("Content-Type", "text/plain"), status: 415, reason: "BAD_CONTENT_TYPE"},
		{name: "body over 4 KiB", token: strings.Repeat("a", 5000), status: 413, reason: "BODY_TOO_LARGE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, nil)
			var w *httptest.ResponseRecorder
			if tc.form {
				b := url.Values{"token": {tc.token}, "submit": {"登录"}}.Encode()
				w = h.serve(h.request(http.MethodPost, "/web/session", "application/x-www-form-urlencoded", b))
			} else {
				w = h.signIn(tc.token, tc.edit)
			}
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			c := sessionCookieOf(t, w)
			if tc.status != 200 {
				if c != nil {
					t.Errorf("refused sign-in set a cookie: %v", c)
				}
				if p := decodeProblem(t, w); p.reason() != tc.reason {
					t.Errorf("reason %q, want %q (%s)", p.reason(), tc.reason, p.Message)
				}
				if n := h.liveSessions(); n != 0 {
					t.Errorf("%d sessions after a refused sign-in", n)
				}
				return
			}
			if c == nil {
				t.Fatal("no session cookie")
			}
			if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" || c.MaxAge != 0 {
				t.Errorf("cookie attributes: %q", w.Header().Get("Set-Cookie"))
			}
			if raw, err := base64.RawURLEncoding.DecodeString(c.Value); err != nil || len(raw) != 32 {
				t.Errorf("cookie value %q is not 256 bits base64url", c.Value)
			}
			v := decodeView(t, w)
			if (Identity{v.Role, v.ID}) != tc.want || !v.SignedIn {
				t.Errorf("signed in as %+v, want %+v", v, tc.want)
			}
			if raw, err := base64.RawURLEncoding.DecodeString(v.CSRF); err != nil || len(raw) != 32 || v.CSRF == c.Value {
				t.Errorf("CSRF token %q is not 256 bits of its own", v.CSRF)
			}
			if want := h.clock.Now().Add(8 * time.Hour).Format(time.RFC3339); v.ExpiresAt != want {
				t.Errorf("expires_at %q, want %q", v.ExpiresAt, want)
			}
			if n := h.liveSessions(); n != 1 {
				t.Errorf("%d sessions, want 1", n)
			}
		})
	}
}

func TestWrap(t *testing.T) {
	h := newHarness(t, nil)
	cookie, csrf := h.signedIn("judge-token-1")
	_, otherCSRF := h.signedIn("lawyer-token-1")
	clientCert := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Raw: []byte("a client certificate")}}}
	for _, tc := range []struct {
		name       string
		method     string
		cookie     *http.Cookie
		csrf       string
		edit       func(*http.Request)
		status     int
		passed     bool
		wantAuth   string // the Authorization downstream saw
		wantCookie string // the Cookie header downstream saw
		cleared    bool
	}{
		{name: "cookie and CSRF, GET", method: "GET", cookie: cookie, csrf: csrf, status: 200, passed: true, wantAuth: "Bearer judge-token-1"},
		{name: "cookie and CSRF, POST", method: "POST", cookie: cookie, csrf: csrf, status: 200, passed: true, wantAuth: "Bearer judge-token-1"},
		{name: "other cookies kept", method: "GET", cookie: cookie, csrf: csrf, status: 200, passed: true, wantAuth: "Bearer judge-token-1",
			edit: func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "lang", Value: "en"}) }, wantCookie: "lang=en"},
		{name: "cookie without CSRF", method: "GET", cookie: cookie, status: 403},
		{name: "cookie without CSRF, POST", method: "POST", cookie: cookie, status: 403},
		{name: "another session's CSRF", method: "GET", cookie: cookie, csrf: otherCSRF, status: 403},
		{name: "CSRF one character off", method: "GET", cookie: cookie, csrf: csrf[:len(csrf)-1] + flip(csrf[len(csrf)-1]), status: 403},
		{name: "unknown session", method: "GET", cookie: &http.Cookie{Name: SessionCookie, Value: newSecret()}, csrf: csrf, status: 401, cleared: true},
		{name: "malformed cookie", method: "GET", cookie: &http.Cookie{Name: SessionCookie, Value: "not-a-session"}, csrf: csrf, status: 401, cleared: true},
		{name: "empty cookie", method: "GET", cookie: &http.Cookie{Name: SessionCookie, Value: ""}, status: 401, cleared: true},
		{name: "no cookie: anonymous, unchanged", method: "GET", status: 200, passed: true},
		{name: "own Authorization wins over cookie", method: "GET", cookie: cookie, status: 200, passed: true,
			edit:     func(r *http.Request) { r.Header.Set("Authorization", "Bearer platform-token") },
			wantAuth: "Bearer platform-token", wantCookie: SessionCookie + "=" + cookie.Value},
		{name: "client certificate wins over cookie", method: "GET", cookie: cookie, status: 200, passed: true,
			edit:       func(r *http.Request) { r.TLS = clientCert },
			wantCookie: SessionCookie + "=" + cookie.Value},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.request(tc.method, "/v1/evidence/E1", "", "")
			if tc.cookie != nil {
				r.AddCookie(tc.cookie)
			}
			if tc.csrf != "" {
				r.Header.Set(CSRFHeader, tc.csrf)
			}
			if tc.edit != nil {
				tc.edit(r)
			}
			before := h.downstream.calls
			h.downstream.authorization, h.downstream.cookie, h.downstream.csrf = "", "", ""
			w := h.serve(r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if passed := h.downstream.calls > before; passed != tc.passed {
				t.Fatalf("passed on: %v, want %v", passed, tc.passed)
			}
			if tc.cleared {
				expectCleared(t, w)
				if p := decodeProblem(t, w); p.reason() != "SESSION_EXPIRED" || !strings.Contains(p.Message, "sign in again") {
					t.Errorf("401 answer %+v", p)
				}
			} else if c := sessionCookieOf(t, w); c != nil {
				t.Errorf("cookie changed: %v", c)
			}
			if tc.status == 403 {
				if p := decodeProblem(t, w); p.reason() != "CSRF_TOKEN_MISMATCH" {
					t.Errorf("403 answer %+v", p)
				}
			}
			if !tc.passed {
				return
			}
			if h.downstream.authorization != tc.wantAuth {
				t.Errorf("downstream Authorization %q, want %q", h.downstream.authorization, tc.wantAuth)
			}
			if h.downstream.cookie != tc.wantCookie {
				t.Errorf("downstream Cookie %q, want %q", h.downstream.cookie, tc.wantCookie)
			}
			if h.downstream.csrf != "" {
				t.Errorf("downstream saw the CSRF token %q", h.downstream.csrf)
			}
		})
	}
	// A refused call leaves the session as it was.
	if w := h.api(cookie, csrf); w.Code != 200 {
		t.Fatalf("session unusable after refusals: %d %s", w.Code, w.Body)
	}
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func TestExpiry(t *testing.T) {
	const idle, life = 30 * time.Minute, 8 * time.Hour
	t.Run("idle", func(t *testing.T) {
		h := newHarness(t, nil)
		cookie, csrf := h.signedIn("judge-token-1")
		// Each call restarts the idle clock: two steps of almost the idle
		// timeout in a row stay signed in.
		for i := range 2 {
			h.clock.Advance(idle - time.Second)
			if w := h.api(cookie, csrf); w.Code != 200 {
				t.Fatalf("call %d, %s after the last: %d %s", i, idle-time.Second, w.Code, w.Body)
			}
		}
		// Who-am-I is no use: it does not keep the session alive.
		h.clock.Advance(idle / 2)
		if w := h.serve(withCookie(h.request("GET", "/web/session", "", ""), cookie)); w.Code != 200 {
			t.Fatalf("GET /web/session: %d %s", w.Code, w.Body)
		}
		h.clock.Advance(idle / 2)
		calls := h.downstream.calls
		w := h.api(cookie, csrf)
		if w.Code != 401 || h.downstream.calls != calls {
			t.Fatalf("idle for %s: %d %s, passed on: %v", idle, w.Code, w.Body, h.downstream.calls != calls)
		}
		expectCleared(t, w)
		if n := h.liveSessions(); n != 0 {
			t.Errorf("%d sessions kept after expiry", n)
		}
	})
	t.Run("absolute", func(t *testing.T) {
		h := newHarness(t, nil)
		cookie, csrf := h.signedIn("judge-token-1")
		var used time.Duration
		for used+idle/2 < life {
			h.clock.Advance(idle / 2)
			used += idle / 2
			if w := h.api(cookie, csrf); w.Code != 200 {
				t.Fatalf("in use, %s after sign-in: %d %s", used, w.Code, w.Body)
			}
		}
		h.clock.Advance(life - used)
		calls := h.downstream.calls
		w := h.api(cookie, csrf)
		if w.Code != 401 || h.downstream.calls != calls {
			t.Fatalf("in use, %s after sign-in: %d %s, passed on: %v", life, w.Code, w.Body, h.downstream.calls != calls)
		}
		expectCleared(t, w)
		w = h.serve(withCookie(h.request("GET", "/web/session", "", ""), cookie))
		if v := decodeView(t, w); w.Code != 401 || v.SignedIn {
			t.Fatalf("GET /web/session after expiry: %d %s", w.Code, w.Body)
		}
	})
	t.Run("swept without being used", func(t *testing.T) {
		h := newHarness(t, nil)
		for _, tok := range []string{"judge-token-1", "judge-token-2", "lawyer-token-1"} {
			h.signedIn(tok)
		}
		h.clock.Advance(idle)
		h.signedIn("judge-token-3")
		if n := h.liveSessions(); n != 1 {
			t.Fatalf("%d sessions kept, want the new one only", n)
		}
	})
}

func withCookie(r *http.Request, c *http.Cookie) *http.Request {
	r.AddCookie(c)
	return r
}

func TestWhoAmI(t *testing.T) {
	h := newHarness(t, nil)
	if w := h.serve(h.request("GET", "/web/session", "", "")); w.Code != 401 || decodeView(t, w).SignedIn || sessionCookieOf(t, w) != nil {
		t.Fatalf("without a cookie: %d %s", w.Code, w.Body)
	}
	cookie, csrf := h.signedIn("lawyer-token-1")
	w := h.serve(withCookie(h.request("GET", "/web/session", "", ""), cookie))
	v := decodeView(t, w)
	if w.Code != 200 || !v.SignedIn || v.Role != "lawyer" || v.ID != "lawyer-1" || v.CSRF != csrf || v.ExpiresAt == "" {
		t.Fatalf("signed in: %d %s", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), "lawyer-token-1") {
		t.Fatalf("answer reveals the token: %s", w.Body)
	}
	// The court stops accepting the token: the session ends.
	h.revoked.Store(true)
	w = h.serve(withCookie(h.request("GET", "/web/session", "", ""), cookie))
	if w.Code != 401 || decodeView(t, w).SignedIn {
		t.Fatalf("token revoked: %d %s", w.Code, w.Body)
	}
	expectCleared(t, w)
	if n := h.liveSessions(); n != 0 {
		t.Fatalf("%d sessions after the token was revoked", n)
	}
}

func TestLogout(t *testing.T) {
	h := newHarness(t, nil)
	cookie, csrf := h.signedIn("judge-token-1")
	logout := func(csrf string) *httptest.ResponseRecorder {
		r := withCookie(h.request("POST", "/web/session/logout", "", ""), cookie)
		if csrf != "" {
			r.Header.Set(CSRFHeader, csrf)
		}
		return h.serve(r)
	}
	if w := logout(""); w.Code != 403 || sessionCookieOf(t, w) != nil {
		t.Fatalf("logout without CSRF: %d %s", w.Code, w.Body)
	}
	if w := logout("x" + csrf[1:]); w.Code != 403 {
		t.Fatalf("logout with a wrong CSRF: %d %s", w.Code, w.Body)
	}
	if w := h.api(cookie, csrf); w.Code != 200 {
		t.Fatalf("refused logouts ended the session: %d", w.Code)
	}
	w := logout(csrf)
	if w.Code != 200 || decodeView(t, w).SignedIn {
		t.Fatalf("logout: %d %s", w.Code, w.Body)
	}
	expectCleared(t, w)
	// The browser might keep the cookie; the server does not.
	calls := h.downstream.calls
	if w := h.api(cookie, csrf); w.Code != 401 || h.downstream.calls != calls {
		t.Fatalf("call after logout: %d %s", w.Code, w.Body)
	}
	if w := h.serve(withCookie(h.request("GET", "/web/session", "", ""), cookie)); w.Code != 401 {
		t.Fatalf("GET /web/session after logout: %d %s", w.Code, w.Body)
	}
	// Logging out again only clears the cookie.
	if w := logout(""); w.Code != 200 {
		t.Fatalf("second logout: %d %s", w.Code, w.Body)
	}
}

// Signing in again from a browser with a session gives a new session ID
// and ends the old one.
func TestSignInReplacesSession(t *testing.T) {
	h := newHarness(t, nil)
	old, oldCSRF := h.signedIn("judge-token-1")
	w := h.signIn("judge-token-1", func(r *http.Request) { r.AddCookie(old) })
	c := sessionCookieOf(t, w)
	if w.Code != 200 || c == nil || c.Value == old.Value {
		t.Fatalf("second sign-in: %d %v", w.Code, c)
	}
	if w := h.api(old, oldCSRF); w.Code != 401 {
		t.Fatalf("old session still works: %d", w.Code)
	}
	if n := h.liveSessions(); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
}

func TestSignInRateLimit(t *testing.T) {
	h := newHarness(t, nil)
	from := func(addr string) func(*http.Request) { return func(r *http.Request) { r.RemoteAddr = addr } }
	// Successes do not count: a court office behind one address signs in
	// many judges.
	for i := range 10 {
		if w := h.signIn("judge-token-1", nil); w.Code != 200 {
			t.Fatalf("sign-in %d: %d %s", i, w.Code, w.Body)
		}
	}
	for i := range 5 {
		if w := h.signIn("guess-"+strconv.Itoa(i), nil); w.Code != 401 {
			t.Fatalf("guess %d: %d %s", i, w.Code, w.Body)
		}
	}
	for _, tok := range []string{"guess-5", "judge-token-1"} {
		w := h.signIn(tok, nil)
		if w.Code != 429 || sessionCookieOf(t, w) != nil {
			t.Fatalf("%s after 5 failures: %d %s", tok, w.Code, w.Body)
		}
		if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 || ra > 12 {
			t.Fatalf("Retry-After %q", w.Header().Get("Retry-After"))
		}
		if p := decodeProblem(t, w); p.reason() != "RATE_LIMITED" {
			t.Fatalf("429 answer %+v", p)
		}
	}
	// Another address is not held back by this one.
	if w := h.signIn("judge-token-1", from("203.0.113.9:4000")); w.Code != 200 {
		t.Fatalf("other address: %d %s", w.Code, w.Body)
	}
	// After the refill time one more attempt is allowed, and no more.
	h.clock.Advance(12 * time.Second)
	if w := h.signIn("guess-6", nil); w.Code != 401 {
		t.Fatalf("after refill: %d %s", w.Code, w.Body)
	}
	if w := h.signIn("guess-7", nil); w.Code != 429 {
		t.Fatalf("second attempt after refill: %d %s", w.Code, w.Body)
	}
	// An IPv6 host's /64 is one address.
	for i := range 5 {
		h.signIn("guess-v6", from("[2001:db8:1:2::"+strconv.Itoa(i+1)+"]:443"))
	}
	if w := h.signIn("judge-token-1", from("[2001:db8:1:2:ffff::1]:443")); w.Code != 429 {
		t.Fatalf("same /64 after 5 failures: %d %s", w.Code, w.Body)
	}
	if w := h.signIn("judge-token-1", from("[2001:db8:1:3::1]:443")); w.Code != 200 {
		t.Fatalf("other /64: %d %s", w.Code, w.Body)
	}
}

func TestMaxSessions(t *testing.T) {
	h := newHarness(t, func(c *SessionConfig) { c.MaxSessions = 3 })
	c1, x1 := h.signedIn("judge-token-1")
	c2, x2 := h.signedIn("judge-token-2")
	c3, x3 := h.signedIn("judge-token-3")
	h.clock.Advance(time.Minute)
	h.api(c1, x1) // judge-2's is now the least recently used
	c4, x4 := h.signedIn("judge-token-4")
	if n := h.liveSessions(); n != 3 {
		t.Fatalf("%d sessions, want at most 3", n)
	}
	for _, s := range []struct {
		who    string
		c      *http.Cookie
		x      string
		status int
	}{{"judge-1", c1, x1, 200}, {"judge-2", c2, x2, 401}, {"judge-3", c3, x3, 200}, {"judge-4", c4, x4, 200}} {
		if w := h.api(s.c, s.x); w.Code != s.status {
			t.Errorf("%s: %d, want %d", s.who, w.Code, s.status)
		}
	}
	if !strings.Contains(h.logs.String(), "id=judge-2") || !strings.Contains(h.logs.String(), "session ended to make room") {
		t.Errorf("eviction not logged:\n%s", h.logs)
	}
}

func TestMaxPerIdentity(t *testing.T) {
	h := newHarness(t, func(c *SessionConfig) { c.MaxPerIdentity = 2 })
	other, otherX := h.signedIn("lawyer-token-1")
	c1, x1 := h.signedIn("judge-token-1")
	c2, x2 := h.signedIn("judge-token-1")
	c3, x3 := h.signedIn("judge-token-1")
	for _, s := range []struct {
		who    string
		c      *http.Cookie
		x      string
		status int
	}{{"lawyer", other, otherX, 200}, {"judge's first", c1, x1, 401}, {"judge's second", c2, x2, 200}, {"judge's third", c3, x3, 200}} {
		if w := h.api(s.c, s.x); w.Code != s.status {
			t.Errorf("%s: %d, want %d", s.who, w.Code, s.status)
		}
	}
}

// The log tells sign-in, refusal and sign-out apart and never holds a
// token, a session ID or a CSRF token.
func TestSessionLogs(t *testing.T) {
	h := newHarness(t, nil)
	cookie, csrf := h.signedIn("judge-token-1")
	h.signIn("judge-token-9", nil)
	h.signIn("platform-token", nil)
	r := withCookie(h.request("POST", "/web/session/logout", "", ""), cookie)
	r.Header.Set(CSRFHeader, csrf)
	h.serve(r)
	logs := h.logs.String()
	for _, want := range []string{"web: signed in", "id=judge-1", "web: sign-in refused", "reason=UNKNOWN_TOKEN", "reason=ROLE_NOT_ALLOWED", "web: signed out"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	for _, secret := range []string{"judge-token-1", "judge-token-9", "platform-token", cookie.Value, csrf} {
		if strings.Contains(logs, secret) {
			t.Errorf("log holds secret %q:\n%s", secret, logs)
		}
	}
}

func TestNewSessionsConfig(t *testing.T) {
	check := func(context.Context, string) (Identity, error) { return Identity{}, nil }
	for _, tc := range []struct {
		name string
		cfg  SessionConfig
		want string // in the error
	}{
		{"no Check", SessionConfig{Roles: []string{"judge"}}, "Check is required"},
		{"no roles", SessionConfig{Check: check}, "Roles is empty"},
		{"blank role", SessionConfig{Check: check, Roles: []string{"judge", " "}}, "Roles[1] is empty"},
		{"negative idle", SessionConfig{Check: check, Roles: []string{"judge"}, IdleTimeout: -time.Second}, "IdleTimeout is -1s"},
		{"negative max", SessionConfig{Check: check, Roles: []string{"judge"}, MaxSessions: -1}, "MaxSessions is -1"},
		{"idle beyond lifetime", SessionConfig{Check: check, Roles: []string{"judge"}, IdleTimeout: 2 * time.Hour, MaxLifetime: time.Hour},
			"IdleTimeout 2h0m0s exceeds MaxLifetime 1h0m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewSessions(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	s, err := NewSessions(SessionConfig{Check: check, Roles: []string{"judge"}})
	if err != nil {
		t.Fatal(err)
	}
	if c := s.cfg; c.IdleTimeout != 30*time.Minute || c.MaxLifetime != 8*time.Hour || c.MaxSessions != 10000 || c.Now == nil || c.Logger == nil {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestParseSignIn(t *testing.T) {
	for _, tc := range []struct {
		name, contentType, body string
		want                    string // the token, or
		status                  int    // the refusal's
	}{
		{"json", "application/json", `{"token":"abc"}`, "abc", 0},
		{"json with charset", "application/json; charset=utf-8", `{"token":"abc"}`, "abc", 0},
		{"json trimmed", "application/json", `{"token":" abc\n"}`, "abc", 0},
		{"form", "application/x-www-form-urlencoded", "token=abc&remember=1", "abc", 0},
		{"json unknown field", "application/json", `{"token":"abc","role":"judge"}`, "", 400},
		{"json trailing data", "application/json", `{"token":"abc"} {"token":"def"}`, "", 400},
		{"json not an object", "application/json", `"abc"`, "", 400},
		{"json null token", "application/json", `{"token":null}`, "", 400},
		{"json no token", "application/json", `{}`, "", 400},
		{"form two tokens", "application/x-www-form-urlencoded", "token=abc&token=def", "", 400},
		{"form no token", "application/x-www-form-urlencoded", "tok=abc", "", 400},
		{"form bad escape", "application/x-www-form-urlencoded", "token=%zz", "", 400},
		{"control character", "application/json", `{"token":"ab\u0000c"}`, "", 400},
		{"non-ASCII", "application/json", `{"token":"密钥"}`, "", 400},
		{"too long", "application/json", `{"token":"` + strings.Repeat("a", 513) + `"}`, "", 400},
		{"no content type", "", `{"token":"abc"}`, "", 415},
		{"multipart", "multipart/form-data; boundary=x", "--x--", "", 415},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, bad := parseSignIn(tc.contentType, []byte(tc.body))
			if tc.status == 0 {
				if bad != nil || got != tc.want {
					t.Fatalf("got %q, %v; want %q", got, bad, tc.want)
				}
				return
			}
			if bad == nil || bad.status != tc.status || bad.msg == "" {
				t.Fatalf("got %q, %v; want a %d refusal", got, bad, tc.status)
			}
		})
	}
}

// Over HTTPS with a browser's cookie jar, in front of the court's real
// guard: a page call made with the session is the token holder's API call,
// so the role table applies to it (a lawyer may not read evidence by ID)
// and the audit log records it under the judge's name.
func TestSessionThroughGuard(t *testing.T) {
	var rules []access.TokenRule
	for tok, id := range testTokens {
		rules = append(rules, access.TokenRule{Hash: access.TokenHash(tok), Identity: id})
	}
	auth, err := access.NewAuthenticator(access.AuthenticatorConfig{Court: "hangzhou.court.example/evidence", Tokens: rules})
	if err != nil {
		t.Fatal(err)
	}
	guard := access.NewGuard(access.GuardConfig{Node: "hz-1", Auth: auth,
		WriteHTTPError: func(w http.ResponseWriter, err error) {
			p, _ := apierr.FromStatus(err)
			writeProblem(w, runtime.HTTPStatusFromCode(p.Code), &p)
		}})
	var (
		mu      sync.Mutex
		records []consensus.AuditRecord
	)
	auditor := access.NewAuditor(access.AuditConfig{}, func(_ context.Context, recs []consensus.AuditRecord) error {
		mu.Lock()
		records = append(records, recs...)
		mu.Unlock()
		return nil
	}, slog.New(slog.DiscardHandler))
	guard.SetAudit(auditor)

	s, err := NewSessions(SessionConfig{Roles: []string{"judge", "lawyer"}, Logger: slog.New(slog.DiscardHandler),
		Check: func(_ context.Context, token string) (Identity, error) {
			id, err := auth.FromToken("Bearer " + token)
			return Identity{Role: string(id.Role), ID: id.ID}, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Routes(mux)
	mux.Handle("GET /v1/evidence/{id}", s.Wrap(guard.HTTP("/courtledger.v1.EvidenceService/GetEvidence",
		func(w http.ResponseWriter, r *http.Request) error {
			c, _ := access.CallerOf(r.Context())
			fmt.Fprintf(w, "%s for %s", r.PathValue("id"), c.Identity)
			return nil
		})))
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()

	// browser signs in with token and returns a client holding the
	// cookie, and the CSRF token the page keeps.
	browser := func(token string) (*http.Client, string) {
		t.Helper()
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Transport: srv.Client().Transport, Jar: jar}
		req, _ := http.NewRequest("POST", srv.URL+"/web/session", strings.NewReader(`{"token":"`+token+`"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", srv.URL)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v sessionView
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != 200 {
			t.Fatalf("sign-in with %s: %d %v", token, resp.StatusCode, err)
		}
		return c, v.CSRF
	}
	get := func(c *http.Client, csrf string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/v1/evidence/E42", nil)
		if csrf != "" {
			req.Header.Set(CSRFHeader, csrf)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	judge, judgeCSRF := browser("judge-token-1")
	if code, body := get(judge, judgeCSRF); code != 200 || body != "E42 for judge:judge-1" {
		t.Fatalf("judge: %d %s", code, body)
	}
	if code, body := get(judge, ""); code != 403 || !strings.Contains(body, "CSRF_TOKEN_MISMATCH") {
		t.Fatalf("judge without CSRF: %d %s", code, body)
	}
	lawyer, lawyerCSRF := browser("lawyer-token-1")
	if code, body := get(lawyer, lawyerCSRF); code != 403 || !strings.Contains(body, "ROLE_NOT_ALLOWED") {
		t.Fatalf("lawyer reading evidence by ID: %d %s", code, body)
	}
	if code, body := get(srv.Client(), ""); code != 401 || !strings.Contains(body, "NO_CREDENTIALS") {
		t.Fatalf("no session: %d %s", code, body)
	}

	auditor.Close() // flushes
	mu.Lock()
	defer mu.Unlock()
	var judgeCalls int
	for _, r := range records {
		if r.Role == "judge" && r.Caller == "judge-1" && r.Via == "token" && r.Method == "/courtledger.v1.EvidenceService/GetEvidence" && r.Code == "OK" {
			judgeCalls++
		}
	}
	if judgeCalls != 1 {
		t.Fatalf("audit holds %d records of the judge's page call, want 1: %+v", judgeCalls, records)
	}
}

// Browsers sign in, call and sign out at once; under -race this checks
// the table's locking, and every call of a live session gets through.
func TestSessionsConcurrent(t *testing.T) {
	h := newHarness(t, func(c *SessionConfig) { c.MaxPerIdentity = 1000 })
	h.mux = http.NewServeMux() // the harness's downstream record is not for sharing
	h.s.Routes(h.mux)
	var passed atomic.Int64
	h.mux.Handle("/v1/", h.s.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer judge-token-1" {
			passed.Add(1)
		}
	})))
	const browsers, calls = 8, 25
	var wg sync.WaitGroup
	errs := make(chan string, browsers)
	for range browsers {
		wg.Go(func() {
			w := h.signIn("judge-token-1", nil)
			if w.Code != 200 {
				errs <- fmt.Sprintf("sign-in: %d %s", w.Code, w.Body)
				return
			}
			var v sessionView
			json.Unmarshal(w.Body.Bytes(), &v)
			c, csrf := sessionCookieOf(t, w), v.CSRF
			for range calls {
				if w := h.api(c, csrf); w.Code != 200 {
					errs <- fmt.Sprintf("call: %d %s", w.Code, w.Body)
					return
				}
			}
			r := withCookie(h.request("POST", "/web/session/logout", "", ""), c)
			r.Header.Set(CSRFHeader, csrf)
			if w := h.serve(r); w.Code != 200 {
				errs <- fmt.Sprintf("logout: %d %s", w.Code, w.Body)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := passed.Load(); n != browsers*calls {
		t.Errorf("%d calls passed with the token, want %d", n, browsers*calls)
	}
	if n := h.liveSessions(); n != 0 {
		t.Errorf("%d sessions after every browser signed out", n)
	}
}

// BenchmarkWrap is what a session adds to a page's API call: the table
// lookup, the CSRF comparison and the request's copy.
func BenchmarkWrap(b *testing.B) {
	h := newHarness(b, nil)
	cookie, csrf := h.signedIn("judge-token-1")
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	wrap := h.s.Wrap(next)
	r := h.request("GET", "/v1/evidence/E1", "", "")
	r.AddCookie(cookie)
	r.Header.Set(CSRFHeader, csrf)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		wrap.ServeHTTP(w, r)
	}
	if w.Code != 200 {
		b.Fatalf("status %d", w.Code)
	}
}

// BenchmarkSignIn is one sign-in: parsing, the authenticator, two random
// secrets and the table.
func BenchmarkSignIn(b *testing.B) {
	h := newHarness(b, func(c *SessionConfig) { c.MaxPerIdentity = 1 })
	b.ReportAllocs()
	for b.Loop() {
		if w := h.signIn("judge-token-1", nil); w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}
