package web

// Sign-in for judges and lawyers (issue 15, item 3). A browser cannot
// present a bearer token, so a session turns a cookie back into the token:
// Wrap, in front of the REST API, puts the session's token in the
// Authorization header, and the court's guard then authenticates,
// authorizes, rate-limits and audits the call exactly as if the token's
// holder had called the API. A session can therefore do nothing its token
// cannot. What a cookie adds, an ambient credential another site's page
// could ride on, is taken away again: the cookie is SameSite=Strict, and a
// call with it must also carry the session's CSRF token, which only the
// signed-in page holds (in memory, never in a cookie).

import (
	"bytes"
	"container/list"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/courtledger/courtledger/court/apierr"
)

const (
	// SessionCookie names the session cookie. The __Host- prefix makes
	// browsers refuse it unless it is Secure, host-only and Path=/, so no
	// sibling host or plain-HTTP page can plant or overwrite it.
	SessionCookie = "__Host-courtledger-session"
	// CSRFHeader carries the session's CSRF token on every call the page
	// makes with the cookie.
	CSRFHeader = "X-CSRF-Token"

	// maxSignInBody bounds a sign-in request: a token is at most
	// maxTokenLen characters, and JSON or form framing adds little.
	maxSignInBody = 4 << 10
	// maxTokenLen is the authenticator's own bound on a bearer token.
	maxTokenLen = 512
	// secretBytes is the size of a session ID and of a CSRF token: 256
	// random bits, beyond guessing.
	secretBytes = 32
	// sweepBatch bounds the expired sessions one request removes, so that
	// no request pays for a backlog of them.
	sweepBatch = 32
	// maxFailureAddrs bounds the addresses whose failed sign-ins are
	// counted.
	maxFailureAddrs = 10000
)

// Identity is who a token belongs to, as the court's authenticator says.
type Identity struct{ Role, ID string }

// SessionConfig configures Sessions. Zero durations and counts take the
// defaults named on each field.
type SessionConfig struct {
	// Check authenticates a bearer token as the API does (the node passes
	// its access.Authenticator.FromToken wrapped). Required. An error that
	// carries a gRPC status (access.AuthError does) gives the refusal its
	// reason.
	Check func(ctx context.Context, token string) (Identity, error)
	// Roles that may open a session (the node passes judge and lawyer);
	// any other role's token is refused with a clear message. Required.
	Roles []string
	// IdleTimeout ends a session not used for this long (default 30 min);
	// MaxLifetime ends it this long after sign-in however much it is used
	// (default 8 h). IdleTimeout may not exceed MaxLifetime.
	IdleTimeout, MaxLifetime time.Duration
	// MaxSessions bounds the sessions kept (default 10000); beyond it the
	// least recently used session ends. MaxPerIdentity bounds one
	// identity's sessions (default 16); beyond it that identity's least
	// recently used session ends. See signIn for why not 503.
	MaxSessions, MaxPerIdentity int
	// FailureBurst is how many failed sign-ins one client address may make
	// at once (default 5); after that it gets one more per FailureEvery
	// (default 12 s), and 429 in between.
	FailureBurst int
	FailureEvery time.Duration
	Now          func() time.Time // for tests; default time.Now
	Logger       *slog.Logger     // default slog.Default()
}

// withDefaults checks cfg and fills in its defaults.
func (cfg SessionConfig) withDefaults() (SessionConfig, error) {
	if cfg.Check == nil {
		return cfg, errors.New("web: SessionConfig.Check is required: pass the court's token authenticator")
	}
	if len(cfg.Roles) == 0 {
		return cfg, errors.New("web: SessionConfig.Roles is empty: name the roles that may sign in (judge, lawyer)")
	}
	for i, r := range cfg.Roles {
		if strings.TrimSpace(r) == "" {
			return cfg, fmt.Errorf("web: SessionConfig.Roles[%d] is empty: name a role such as judge or lawyer", i)
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"IdleTimeout", cfg.IdleTimeout}, {"MaxLifetime", cfg.MaxLifetime}, {"FailureEvery", cfg.FailureEvery}} {
		if d.v < 0 {
			return cfg, fmt.Errorf("web: SessionConfig.%s is %s: it must be positive, or zero for the default", d.name, d.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"MaxSessions", cfg.MaxSessions}, {"MaxPerIdentity", cfg.MaxPerIdentity}, {"FailureBurst", cfg.FailureBurst}} {
		if n.v < 0 {
			return cfg, fmt.Errorf("web: SessionConfig.%s is %d: it must be positive, or zero for the default", n.name, n.v)
		}
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.MaxLifetime == 0 {
		cfg.MaxLifetime = 8 * time.Hour
	}
	if cfg.IdleTimeout > cfg.MaxLifetime {
		return cfg, fmt.Errorf("web: SessionConfig.IdleTimeout %s exceeds MaxLifetime %s: make it at most MaxLifetime", cfg.IdleTimeout, cfg.MaxLifetime)
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = 10000
	}
	if cfg.MaxPerIdentity == 0 {
		cfg.MaxPerIdentity = 16
	}
	if cfg.FailureBurst == 0 {
		cfg.FailureBurst = 5
	}
	if cfg.FailureEvery == 0 {
		cfg.FailureEvery = 12 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg, nil
}

// Sessions are the signed-in browsers of one court node. Sessions live in
// memory only: a restarted node signs everyone out, which costs a judge
// one sign-in and keeps tokens off the disk.
type Sessions struct {
	cfg   SessionConfig
	roles map[string]bool

	mu       sync.Mutex
	sessions map[sessionKey]*session
	// lru orders the sessions by last use, least recent first: the sweep
	// and the eviction both take from the front.
	lru         list.List
	perIdentity map[Identity]int
	failures    map[string]*failureLimit
}

// sessionKey is the SHA-256 of a session ID. The table is keyed by it, not
// by the ID, so that what the server holds is not the cookie.
type sessionKey [sha256.Size]byte

// session is what the server keeps of a signed-in browser: the token (the
// API needs it), whose it is, the CSRF token and the times expiry needs.
type session struct {
	key      sessionKey
	token    string
	identity Identity
	csrf     string
	created  time.Time
	used     time.Time
	elem     *list.Element
}

// handle names a session in logs without revealing its cookie.
func (s *session) handle() string { return hex.EncodeToString(s.key[:6]) }

// failureLimit is one client address's budget of failed sign-ins.
type failureLimit struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewSessions checks cfg and returns an empty session table.
func NewSessions(cfg SessionConfig) (*Sessions, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Sessions{cfg: cfg, roles: map[string]bool{}, sessions: map[sessionKey]*session{},
		perIdentity: map[Identity]int{}, failures: map[string]*failureLimit{}}
	for _, r := range cfg.Roles {
		s.roles[r] = true
	}
	return s, nil
}

// Routes adds the session endpoints to mux: POST /web/session signs in
// (JSON {"token": "..."} or form field token) and answers {role, id, csrf,
// expires_at} with the cookie set; GET /web/session answers the same for a
// live session, or 401 {"signed_in": false}; POST /web/session/logout
// (with the CSRF header) ends the session.
func (s *Sessions) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /web/session", s.signIn)
	mux.HandleFunc("GET /web/session", s.whoAmI)
	mux.HandleFunc("POST /web/session/logout", s.logout)
}

// Wrap is put in front of the REST API (/v1/). A request that carries its
// own Authorization header or a client certificate passes unchanged, a
// session cookie included: the explicit credential is the one the caller
// chose. A request without the cookie passes unchanged, anonymous. A
// request with the cookie of a live session and that session's CSRF token
// (for every method: a GET can reveal evidence) passes with the session's
// token as "Authorization: Bearer", the cookie and CSRF header removed so
// that neither reaches the API's metadata. A cookie of no live session is
// answered 401 and cleared, never passed on anonymously (the page would
// show a public answer as if it were the judge's); a missing or wrong CSRF
// token is answered 403.
func (s *Sessions) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" || (r.TLS != nil && len(r.TLS.PeerCertificates) > 0) {
			next.ServeHTTP(w, r)
			return
		}
		c, err := r.Cookie(SessionCookie)
		if err != nil {
			next.ServeHTTP(w, r)
			return
		}
		now := s.cfg.Now()
		s.mu.Lock()
		sess := s.find(c.Value, now)
		if sess == nil {
			s.mu.Unlock()
			clearCookie(w)
			writeProblem(w, http.StatusUnauthorized, &apierr.Problem{Code: codes.Unauthenticated, Reason: "SESSION_EXPIRED",
				Message: "session expired, sign in again"})
			return
		}
		if !csrfMatches(sess, r.Header.Get(CSRFHeader)) {
			s.mu.Unlock()
			writeProblem(w, http.StatusForbidden, csrfRefusal)
			return
		}
		s.touch(sess, now)
		token := sess.token
		s.mu.Unlock()

		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+token)
		r.Header.Del(CSRFHeader)
		dropSessionCookie(r)
		next.ServeHTTP(w, r)
	})
}

// csrfRefusal answers a call with the cookie but without the session's
// CSRF token: a page of another site, or the court's page after a reload
// that lost it (it then asks GET /web/session again).
var csrfRefusal = &apierr.Problem{Code: codes.PermissionDenied, Reason: "CSRF_TOKEN_MISMATCH",
	Message: "the " + CSRFHeader + " header is missing or is not this session's; reload the page (it fetches the token from GET /web/session) and try again"}

// signIn opens a session for a judge's or lawyer's token.
//
// When MaxSessions is reached the least recently used session ends rather
// than the sign-in being refused with 503: a full table answering 503
// would lock every judge out until sessions expire, for the price of
// filling it, while ending the idlest session costs its owner one more
// sign-in. MaxPerIdentity keeps one token from filling the table and so
// pushing everyone else's sessions out.
func (s *Sessions) signIn(w http.ResponseWriter, r *http.Request) {
	log := s.cfg.Logger.With("addr", r.RemoteAddr)
	if err := crossSite(r); err != nil {
		log.Warn("web: sign-in refused", "reason", "CROSS_SITE", "detail", err.Error())
		writeProblem(w, http.StatusForbidden, &apierr.Problem{Code: codes.PermissionDenied, Reason: "CROSS_SITE", Message: err.Error()})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSignInBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeProblem(w, http.StatusRequestEntityTooLarge, &apierr.Problem{Code: codes.InvalidArgument, Reason: "BODY_TOO_LARGE",
				Message: fmt.Sprintf("sign-in body is over %d bytes; send only {\"token\": \"...\"}", maxSignInBody)})
			return
		}
		writeProblem(w, http.StatusBadRequest, &apierr.Problem{Code: codes.InvalidArgument, Reason: "BAD_BODY",
			Message: "reading the sign-in body: " + err.Error()})
		return
	}
	token, bad := parseSignIn(r.Header.Get("Content-Type"), body)
	if bad != nil {
		writeProblem(w, bad.status, &apierr.Problem{Code: codes.InvalidArgument, Reason: bad.reason, Field: "token", Message: bad.msg})
		return
	}

	addr := clientAddr(r)
	now := s.cfg.Now()
	attempt, wait := s.takeAttempt(addr, now)
	if wait > 0 {
		log.Warn("web: sign-in refused", "reason", "RATE_LIMITED", "retry_after", wait)
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		writeProblem(w, http.StatusTooManyRequests, &apierr.Problem{Code: codes.ResourceExhausted, Reason: "RATE_LIMITED", RetryAfter: wait,
			Message: fmt.Sprintf("too many failed sign-ins from %s; try again in %s", addr, wait.Round(time.Second))})
		return
	}
	id, err := s.cfg.Check(r.Context(), token)
	if err != nil {
		// The attempt's token stays taken: failures are what is limited.
		p, ok := apierr.FromStatus(err)
		if !ok {
			p = apierr.Problem{Reason: "UNAUTHENTICATED", Message: err.Error()}
		}
		p.Code = codes.Unauthenticated
		log.Warn("web: sign-in refused", "reason", p.Reason, "detail", p.Message)
		writeProblem(w, http.StatusUnauthorized, &p)
		return
	}
	if !s.roles[id.Role] {
		log.Warn("web: sign-in refused", "reason", "ROLE_NOT_ALLOWED", "role", id.Role, "id", id.ID)
		writeProblem(w, http.StatusForbidden, &apierr.Problem{Code: codes.PermissionDenied, Reason: "ROLE_NOT_ALLOWED",
			Message: fmt.Sprintf("a %s token cannot sign in to these pages, which are for %s; call the API with the token instead",
				id.Role, strings.Join(s.cfg.Roles, " and "))})
		return
	}
	attempt.CancelAt(now) // a success is no failure: the attempt is given back

	sess := &session{token: token, identity: id, csrf: newSecret(), created: now, used: now}
	cookie := newSecret()
	sess.key = keyOf(cookie)
	s.mu.Lock()
	// A new sign-in always gets a new ID, and the browser's previous
	// session ends: an ID planted before sign-in is never promoted.
	if old, err := r.Cookie(SessionCookie); err == nil {
		if prev := s.find(old.Value, now); prev != nil {
			s.remove(prev)
		}
	}
	s.sweep(now)
	var evicted []*session
	if s.perIdentity[id] >= s.cfg.MaxPerIdentity {
		for e := s.lru.Front(); e != nil; e = e.Next() {
			if o := e.Value.(*session); o.identity == id {
				evicted = append(evicted, o)
				s.remove(o)
				break
			}
		}
	}
	if len(s.sessions) >= s.cfg.MaxSessions {
		o := s.lru.Front().Value.(*session)
		evicted = append(evicted, o)
		s.remove(o)
	}
	s.sessions[sess.key] = sess
	sess.elem = s.lru.PushBack(sess)
	s.perIdentity[id]++
	s.mu.Unlock()

	for _, o := range evicted {
		log.Info("web: session ended to make room", "session", o.handle(), "role", o.identity.Role, "id", o.identity.ID)
	}
	log.Info("web: signed in", "session", sess.handle(), "role", id.Role, "id", id.ID)
	// No Max-Age: the cookie goes when the browser closes (a shared
	// office computer), and the server ends the session sooner anyway.
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: cookie, Path: "/",
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, s.view(sess))
}

// whoAmI answers the live session's identity and CSRF token. It does not
// count as use: a page that polls it would otherwise never go idle. It
// asks Check again, so that a token the court no longer accepts ends the
// session here rather than at the page's next call.
func (s *Sessions) whoAmI(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		writeJSON(w, http.StatusUnauthorized, sessionView{Message: "not signed in"})
		return
	}
	now := s.cfg.Now()
	s.mu.Lock()
	sess := s.find(c.Value, now)
	var snap session
	if sess != nil {
		snap = *sess
	}
	s.mu.Unlock()
	if sess == nil {
		clearCookie(w)
		writeJSON(w, http.StatusUnauthorized, sessionView{Message: "session expired, sign in again"})
		return
	}
	if id, err := s.cfg.Check(r.Context(), snap.token); err != nil || id != snap.identity || !s.roles[id.Role] {
		s.mu.Lock()
		if cur := s.sessions[snap.key]; cur != nil {
			s.remove(cur)
		}
		s.mu.Unlock()
		s.cfg.Logger.Info("web: session ended, token no longer accepted", "session", snap.handle(), "role", snap.identity.Role, "id", snap.identity.ID)
		clearCookie(w)
		writeJSON(w, http.StatusUnauthorized, sessionView{Message: "the court no longer accepts your token; sign in again"})
		return
	}
	writeJSON(w, http.StatusOK, s.view(&snap))
}

// logout ends the session. It needs the CSRF token, so that another site
// cannot sign a judge out; without a live session there is nothing to
// protect and it only clears the cookie.
func (s *Sessions) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		s.mu.Lock()
		sess := s.find(c.Value, s.cfg.Now())
		if sess != nil && !csrfMatches(sess, r.Header.Get(CSRFHeader)) {
			s.mu.Unlock()
			writeProblem(w, http.StatusForbidden, csrfRefusal)
			return
		}
		if sess != nil {
			s.remove(sess)
		}
		s.mu.Unlock()
		if sess != nil {
			s.cfg.Logger.Info("web: signed out", "session", sess.handle(), "role", sess.identity.Role, "id", sess.identity.ID, "addr", r.RemoteAddr)
		}
	}
	clearCookie(w)
	writeJSON(w, http.StatusOK, sessionView{Message: "signed out"})
}

// find returns the live session a cookie value names, removing it if it
// has expired, and sweeps a few others. Called with mu held.
func (s *Sessions) find(value string, now time.Time) *session {
	s.sweep(now)
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) != secretBytes {
		return nil
	}
	sess := s.sessions[keyOf(value)]
	if sess == nil {
		return nil
	}
	if s.expired(sess, now) {
		s.remove(sess)
		return nil
	}
	return sess
}

func (s *Sessions) expired(sess *session, now time.Time) bool {
	return !now.Before(sess.used.Add(s.cfg.IdleTimeout)) || !now.Before(sess.created.Add(s.cfg.MaxLifetime))
}

// sweep removes expired sessions from the least recently used end, at
// most sweepBatch of them. The front is the longest idle, so it stops at
// the first live one; a session past its lifetime but still in use is
// removed when it is next used. Called with mu held.
func (s *Sessions) sweep(now time.Time) {
	for range sweepBatch {
		e := s.lru.Front()
		if e == nil || !s.expired(e.Value.(*session), now) {
			return
		}
		s.remove(e.Value.(*session))
	}
}

func (s *Sessions) touch(sess *session, now time.Time) {
	sess.used = now
	s.lru.MoveToBack(sess.elem)
}

func (s *Sessions) remove(sess *session) {
	delete(s.sessions, sess.key)
	s.lru.Remove(sess.elem)
	if s.perIdentity[sess.identity]--; s.perIdentity[sess.identity] <= 0 {
		delete(s.perIdentity, sess.identity)
	}
}

// sessionView is the JSON of GET and POST /web/session.
type sessionView struct {
	SignedIn  bool   `json:"signed_in"`
	Role      string `json:"role,omitempty"`
	ID        string `json:"id,omitempty"`
	CSRF      string `json:"csrf,omitempty"`
	ExpiresAt string `json:"expires_at,omitempty"` // RFC 3339: the end of MaxLifetime
	// IdleTimeoutSeconds tells the page how long without a call ends it.
	IdleTimeoutSeconds int64  `json:"idle_timeout_seconds,omitempty"`
	Message            string `json:"message,omitempty"`
}

func (s *Sessions) view(sess *session) sessionView {
	return sessionView{SignedIn: true, Role: sess.identity.Role, ID: sess.identity.ID, CSRF: sess.csrf,
		ExpiresAt:          sess.created.Add(s.cfg.MaxLifetime).UTC().Format(time.RFC3339),
		IdleTimeoutSeconds: int64(s.cfg.IdleTimeout / time.Second)}
}

// takeAttempt takes one of addr's failed-sign-in tokens before the token
// is checked, so that concurrent guesses cannot overdraw it; a successful
// sign-in cancels the reservation. It returns how long to wait when none
// is left.
func (s *Sessions) takeAttempt(addr string, now time.Time) (*rate.Reservation, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.failures[addr]
	if f == nil {
		if len(s.failures) >= maxFailureAddrs {
			s.evictFailures(now)
		}
		f = &failureLimit{lim: rate.NewLimiter(rate.Every(s.cfg.FailureEvery), s.cfg.FailureBurst)}
		s.failures[addr] = f
	}
	f.seen = now
	res := f.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now) // a refused attempt must not push the next one further away
		return nil, d
	}
	return res, 0
}

// evictFailures forgets the addresses whose budget is full again, which
// loses nothing, and if none is, the longest unseen tenth. Called with mu
// held; O(n), but only when the table is full.
func (s *Sessions) evictFailures(now time.Time) {
	for a, f := range s.failures {
		if f.lim.TokensAt(now) >= float64(s.cfg.FailureBurst) {
			delete(s.failures, a)
		}
	}
	if len(s.failures) < maxFailureAddrs {
		return
	}
	addrs := make([]string, 0, len(s.failures))
	for a := range s.failures {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, func(a, b string) int { return s.failures[a].seen.Compare(s.failures[b].seen) })
	for _, a := range addrs[:max(1, len(addrs)/10)] {
		delete(s.failures, a)
	}
}

// clientAddr is the address failed sign-ins are counted against: the
// remote IP, and for IPv6 its /64, which one host usually holds whole.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// crossSite refuses a sign-in that a browser says comes from another
// site. Browsers send Sec-Fetch-Site and Origin and a page cannot forge
// them; a client that sends neither (curl, a test) is no browser another
// site could drive.
func crossSite(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return fmt.Errorf("sign-in refused: the browser says it comes from a %s page (Sec-Fetch-Site); sign in on this court's own page, https://%s/", site, r.Host)
	}
	if o := r.Header.Get("Origin"); o != "" && !strings.EqualFold(o, "https://"+r.Host) {
		return fmt.Errorf("sign-in refused: it comes from %q, not this court's https://%s; sign in on this court's own page", o, r.Host)
	}
	return nil
}

// badSignIn is a sign-in body that names no usable token.
type badSignIn struct {
	status int // 400, or 415 for a content type that is neither
	reason string
	msg    string
}

func (e *badSignIn) Error() string { return e.msg }

// parseSignIn reads the token from a sign-in body: JSON {"token": "..."}
// or the form field token. Surrounding white space (a pasted line break)
// is dropped; what is left must be a plausible bearer token, printable
// ASCII without spaces, as it goes into an Authorization header.
func parseSignIn(contentType string, body []byte) (string, *badSignIn) {
	mt, _, err := mime.ParseMediaType(contentType)
	if contentType == "" || err != nil {
		return "", &badSignIn{http.StatusUnsupportedMediaType, "BAD_CONTENT_TYPE",
			fmt.Sprintf("sign-in Content-Type %q is not application/json or application/x-www-form-urlencoded; send {\"token\": \"...\"} as JSON", contentType)}
	}
	var token string
	switch mt {
	case "application/json":
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		var req struct {
			Token *string `json:"token"`
		}
		if err := dec.Decode(&req); err != nil {
			return "", &badSignIn{http.StatusBadRequest, "BAD_BODY", "sign-in body is not the JSON object {\"token\": \"...\"}: " + err.Error()}
		}
		if _, err := dec.Token(); err != io.EOF {
			return "", &badSignIn{http.StatusBadRequest, "BAD_BODY", "sign-in body has more after the JSON object; send only {\"token\": \"...\"}"}
		}
		if req.Token == nil {
			return "", &badSignIn{http.StatusBadRequest, "NO_TOKEN", "sign-in body has no \"token\" field; send {\"token\": \"...\"}"}
		}
		token = *req.Token
	case "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return "", &badSignIn{http.StatusBadRequest, "BAD_BODY", "sign-in form is not URL-encoded: " + err.Error()}
		}
		switch n := len(vals["token"]); n {
		case 0:
			return "", &badSignIn{http.StatusBadRequest, "NO_TOKEN", "sign-in form has no field \"token\""}
		case 1:
			token = vals["token"][0]
		default:
			return "", &badSignIn{http.StatusBadRequest, "BAD_BODY", fmt.Sprintf("sign-in form has %d fields \"token\"; send one", n)}
		}
	default:
		return "", &badSignIn{http.StatusUnsupportedMediaType, "BAD_CONTENT_TYPE",
			fmt.Sprintf("sign-in Content-Type %q is not application/json or application/x-www-form-urlencoded; send {\"token\": \"...\"} as JSON", mt)}
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", &badSignIn{http.StatusBadRequest, "NO_TOKEN", "the token is empty; paste the token the court issued you"}
	}
	if len(token) > maxTokenLen {
		return "", &badSignIn{http.StatusBadRequest, "BAD_TOKEN", fmt.Sprintf("the token is %d bytes; a court token is at most %d", len(token), maxTokenLen)}
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c > '~' {
			return "", &badSignIn{http.StatusBadRequest, "BAD_TOKEN", fmt.Sprintf(
				"the token has a space or a character that is not printable ASCII at byte %d; paste the token alone, without quotes or line breaks", i)}
		}
	}
	return token, nil
}

// newSecret is 256 random bits, base64url. crypto/rand.Read does not fail
// (it aborts the program if the system's generator does).
func newSecret() string {
	b := make([]byte, secretBytes)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func keyOf(cookie string) sessionKey { return sha256.Sum256([]byte(cookie)) }

// csrfMatches compares in constant time, so the response time says
// nothing about how much of a guess was right.
func csrfMatches(sess *session, got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) == 1
}

// dropSessionCookie removes the session cookie from a request and keeps
// any other cookie.
func dropSessionCookie(r *http.Request) {
	var keep []string
	for _, c := range r.Cookies() {
		if c.Name != SessionCookie {
			keep = append(keep, c.Name+"="+c.Value)
		}
	}
	r.Header.Del("Cookie")
	if len(keep) > 0 {
		r.Header.Set("Cookie", strings.Join(keep, "; "))
	}
}

// clearCookie tells the browser to drop the session cookie; the
// attributes must match the ones it was set with.
func clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

// writeProblem answers an error in the API's own JSON (a google.rpc.Status
// with an ErrorInfo), so the page reads one shape of error whether the
// session or the API refused.
func writeProblem(w http.ResponseWriter, code int, p *apierr.Problem) {
	body, err := protojson.Marshal(p.GRPCStatus().Proto())
	if err != nil {
		body = []byte(`{"code":13,"message":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(body)
}

// writeJSON answers v. Session answers hold the CSRF token, so nothing
// may cache them.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
