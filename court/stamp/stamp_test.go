package stamp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
)

const court = "hangzhou.court.example/evidence"

// fakeLedger holds signed heads and the tokens recorded for them, with
// consensus.Ledger's rules: a token only for a head that exists, the first
// per head stays.
type fakeLedger struct {
	t      testing.TB
	signer *checkpoint.Signer
	now    func() time.Time

	mu     sync.Mutex
	heads  []consensus.SignedHead
	tokens map[uint64]string // size -> TSA name + "|" + token
	adds   int               // AddTimestamp calls that stored a token
}

func newFakeLedger(t testing.TB) *fakeLedger {
	k, _ := sm2.GenerateKey()
	s, err := checkpoint.NewSigner(court, k)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeLedger{t: t, signer: s, now: time.Now, tokens: map[uint64]string{}}
}

// grow signs a head n entries bigger than the last.
func (l *fakeLedger) grow(n uint64) consensus.SignedHead {
	l.mu.Lock()
	defer l.mu.Unlock()
	size := n
	if len(l.heads) > 0 {
		size += l.heads[len(l.heads)-1].Head.Size
	}
	h := checkpoint.TreeHead{Origin: court, Size: size, Root: bytes.Repeat([]byte{byte(size)}, 32), Time: l.now().UTC().Truncate(time.Millisecond)}
	note, err := checkpoint.Sign(h, l.signer)
	if err != nil {
		l.t.Fatal(err)
	}
	sh := consensus.SignedHead{Head: h, Note: note}
	l.heads = append(l.heads, sh)
	return sh
}

func (l *fakeLedger) LatestHead() (consensus.SignedHead, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.heads) == 0 {
		return consensus.SignedHead{}, consensus.ErrEmpty
	}
	return l.heads[len(l.heads)-1], nil
}

func (l *fakeLedger) lastStamped() uint64 {
	var last uint64
	for size := range l.tokens {
		last = max(last, size)
	}
	return last
}

func (l *fakeLedger) LastStamped() (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastStamped(), nil
}

func (l *fakeLedger) Unstamped() (uint64, time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	last := l.lastStamped()
	var n uint64
	var oldest time.Time
	for _, h := range l.heads {
		if h.Head.Size > last {
			if n == 0 {
				oldest = h.Head.Time
			}
			n++
		}
	}
	return n, oldest, nil
}

func (l *fakeLedger) AddTimestamp(_ context.Context, size uint64, tsa string, tsr []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	found := false
	for _, h := range l.heads {
		found = found || h.Head.Size == size
	}
	if !found {
		return consensus.ErrUnknownHead
	}
	if _, ok := l.tokens[size]; !ok {
		l.tokens[size] = tsa + "|" + string(tsr)
		l.adds++
	}
	return nil
}

func (l *fakeLedger) token(size uint64) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	tok, ok := l.tokens[size]
	return tok, ok
}

// fakeTSA issues tokens "sha256(data) in hex|unix ms of its clock".
type fakeTSA struct {
	name string

	mu    sync.Mutex
	down  bool
	skew  time.Duration // added to its clock
	other bool          // stamps other data than asked
	gate  chan struct{} // if set, each request waits for it
	calls int
}

func (f *fakeTSA) Name() string { return f.name }

func (f *fakeTSA) Stamp(ctx context.Context, data []byte) ([]byte, error) {
	f.mu.Lock()
	f.calls++
	down, skew, other, gate := f.down, f.skew, f.other, f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if down {
		return nil, fmt.Errorf("%s: connection refused", f.name)
	}
	if other {
		data = append(bytes.Clone(data), 'x')
	}
	sum := sha256.Sum256(data)
	return fmt.Appendf(nil, "%x|%d", sum, time.Now().Add(skew).UnixMilli()), nil
}

func (f *fakeTSA) set(fn func(f *fakeTSA)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeTSA) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

var (
	errImprint   = errors.New("token is for other data")
	errTolerance = errors.New("token time outside tolerance")
)

const tolerance = 10 * time.Second

// fakeVerify checks a fakeTSA token as crypto/tsa checks a real one: the
// imprint, and the time within the tolerance of the head's.
func fakeVerify(tsr, data []byte, headTime time.Time) (Info, error) {
	imprint, ms, ok := strings.Cut(string(tsr), "|")
	if !ok {
		return Info{}, errors.New("malformed token")
	}
	if sum := sha256.Sum256(data); imprint != fmt.Sprintf("%x", sum) {
		return Info{}, errImprint
	}
	var at int64
	fmt.Sscan(ms, &at)
	tt := time.UnixMilli(at)
	if d := tt.Sub(headTime); d > tolerance || d < -tolerance {
		return Info{}, fmt.Errorf("%w: %v from the head's", errTolerance, d)
	}
	return Info{Time: tt, TSA: "fake"}, nil
}

func reasonOf(err error) string {
	switch {
	case errors.Is(err, errImprint):
		return "imprint"
	case errors.Is(err, errTolerance):
		return "tolerance"
	}
	return ""
}

// syncBuffer is a log sink safe for the stamper's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) count(substr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), substr)
}

type harness struct {
	ledger *fakeLedger
	s      *Stamper
	reg    *prometheus.Registry
	logs   *syncBuffer
	leader func() bool
}

func start(t *testing.T, tsas []TSA, edit func(*Config)) *harness {
	t.Helper()
	h := &harness{ledger: newFakeLedger(t), reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	cfg := Config{Ledger: h.ledger, IsLeader: func() bool { return true }, TSAs: tsas, Verify: fakeVerify,
		Interval: 5 * time.Millisecond, Backoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		Reason: reasonOf, Metrics: h.reg, Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return h
}

func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ok, seen := cond()
		if ok {
			return
		}
		last = seen
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last seen: %s", what, last)
}

func (h *harness) failures(tsa, reason string) float64 {
	return h.metric("courtledger_tsa_failures_total", "tsa", tsa, "reason", reason)
}

// metric reads a metric of the stamper's registry: a gauge's or counter's
// value, for the series with the label pairs given; -1 if there is none.
func (h *harness) metric(name string, labels ...string) float64 {
	mfs, err := h.reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

// TSA down: heads are still signed, the loop backs off, the gauges say how
// far behind it is, one log line says it fell behind; when the TSA returns
// a single stamp of the newest head covers every entry.
func TestStamperDownThenUp(t *testing.T) {
	tsa := &fakeTSA{name: "tsa-a", down: true}
	h := start(t, []TSA{tsa}, nil)
	for i := 0; i < 5; i++ {
		h.ledger.grow(3) // heads at 3, 6, ..., 15
	}
	waitFor(t, "five heads behind and several failed tries", func() (bool, string) {
		n, since := h.s.Behind()
		gauge := h.metric("courtledger_tsa_behind_heads")
		f := h.failures("tsa-a", ReasonUnavailable)
		return n == 5 && gauge == 5 && !since.IsZero() && f >= 3, fmt.Sprintf("behind %d gauge %v failures %v", n, gauge, f)
	})
	time.Sleep(2 * time.Millisecond) // the oldest head's time is to the millisecond
	if lag := h.metric("courtledger_tsa_lag_seconds"); lag <= 0 {
		t.Fatalf("lag %v while five heads wait", lag)
	}
	if n := h.logs.count("falls behind"); n != 1 {
		t.Fatalf("%d 'falls behind' lines after %v failures, want 1", n, h.failures("tsa-a", ReasonUnavailable))
	}
	if _, ok := h.ledger.token(15); ok {
		t.Fatal("a token recorded while the TSA is down")
	}

	tsa.set(func(f *fakeTSA) { f.down = false })
	waitFor(t, "the newest head stamped", func() (bool, string) {
		n, since := h.s.Behind()
		_, ok := h.ledger.token(15)
		return ok && n == 0 && since.IsZero(), fmt.Sprintf("stamped %v behind %d", ok, n)
	})
	h.ledger.mu.Lock()
	adds, tokens := h.ledger.adds, len(h.ledger.tokens)
	h.ledger.mu.Unlock()
	if adds != 1 || tokens != 1 {
		t.Fatalf("%d tokens recorded, want 1 (the newest head covers the others)", tokens)
	}
	if n := h.logs.count("caught up"); n != 1 {
		t.Fatalf("%d 'caught up' lines, want 1", n)
	}
	if got := h.metric("courtledger_tsa_stamps_total", "tsa", "tsa-a"); got != 1 {
		t.Fatalf("stamps_total %v, want 1", got)
	}
	if h.metric("courtledger_tsa_behind_heads") != 0 || h.metric("courtledger_tsa_lag_seconds") != 0 {
		t.Fatal("gauges not back to 0 once caught up")
	}

	// Steady state: a new head is stamped, and nothing is logged as a fall.
	h.ledger.grow(1)
	waitFor(t, "head 16 stamped", func() (bool, string) { _, ok := h.ledger.token(16); return ok, "" })
	if n := h.logs.count("falls behind"); n != 1 {
		t.Fatalf("%d 'falls behind' lines, want still 1", n)
	}
}

// A token whose time is beyond the tolerance, or over another imprint, is
// refused, counted with its reason and logged as an error; the next TSA in
// the list stamps the head.
func TestStamperRefusesBadTokensAndTriesTheNext(t *testing.T) {
	skewed := &fakeTSA{name: "tsa-skewed", skew: time.Hour}
	other := &fakeTSA{name: "tsa-other", other: true}
	good := &fakeTSA{name: "tsa-good"}
	h := start(t, []TSA{skewed, other, good}, nil)
	h.ledger.grow(4)
	waitFor(t, "head 4 stamped", func() (bool, string) { _, ok := h.ledger.token(4); return ok, "" })
	tok, _ := h.ledger.token(4)
	if !strings.HasPrefix(tok, "tsa-good|") {
		t.Fatalf("recorded %q, want the token of tsa-good", tok)
	}
	if f := h.failures("tsa-skewed", "tolerance"); f != 1 {
		t.Fatalf("tolerance failures of tsa-skewed: %v, want 1", f)
	}
	if f := h.failures("tsa-other", "imprint"); f != 1 {
		t.Fatalf("imprint failures of tsa-other: %v, want 1", f)
	}
	if n := h.logs.count("level=ERROR msg=\"TSA token refused"); n != 2 {
		t.Fatalf("%d refusals logged as errors, want 2:\n%s", n, h.logs.b.String())
	}
	// Without a Reason function, a refused token is "invalid".
	h2 := start(t, []TSA{&fakeTSA{name: "tsa-skewed", skew: -time.Hour}, &fakeTSA{name: "tsa-good"}}, func(c *Config) { c.Reason = nil })
	h2.ledger.grow(1)
	waitFor(t, "head 1 stamped", func() (bool, string) { _, ok := h2.ledger.token(1); return ok, "" })
	if f := h2.failures("tsa-skewed", ReasonInvalid); f != 1 {
		t.Fatalf("invalid failures: %v, want 1", f)
	}
}

// Only the leader stamps; the others keep the gauges.
func TestStamperActsOnlyWhileLeading(t *testing.T) {
	tsa := &fakeTSA{name: "tsa-a"}
	var mu sync.Mutex
	leading := false
	h := start(t, []TSA{tsa}, func(c *Config) {
		c.IsLeader = func() bool { mu.Lock(); defer mu.Unlock(); return leading }
	})
	h.ledger.grow(2)
	h.ledger.grow(2)
	waitFor(t, "the follower's gauge", func() (bool, string) { n, _ := h.s.Behind(); return n == 2, fmt.Sprint(n) })
	if c := tsa.callCount(); c != 0 {
		t.Fatalf("a follower asked the TSA %d times", c)
	}
	mu.Lock()
	leading = true
	mu.Unlock()
	waitFor(t, "head 4 stamped once leading", func() (bool, string) { _, ok := h.ledger.token(4); return ok, "" })
}

// A TSA that does not answer is given up after Timeout and counted as a
// timeout; the next TSA stamps.
func TestStamperTimesOutAHangingTSA(t *testing.T) {
	hanging := &fakeTSA{name: "tsa-hanging", gate: make(chan struct{})}
	good := &fakeTSA{name: "tsa-good"}
	h := start(t, []TSA{hanging, good}, func(c *Config) { c.Timeout = 20 * time.Millisecond })
	h.ledger.grow(1)
	waitFor(t, "head 1 stamped", func() (bool, string) { _, ok := h.ledger.token(1); return ok, "" })
	if f := h.failures("tsa-hanging", ReasonTimeout); f < 1 {
		t.Fatalf("timeouts of the hanging TSA: %v", f)
	}
}

// While a TSA hangs (up to Timeout), the gauges still follow the ledger.
func TestStamperGaugesWhileTSAHangs(t *testing.T) {
	tsa := &fakeTSA{name: "tsa-hanging", gate: make(chan struct{})}
	defer close(tsa.gate)
	h := start(t, []TSA{tsa}, func(c *Config) { c.Timeout = time.Hour })
	h.ledger.grow(1)
	waitFor(t, "the request for head 1", func() (bool, string) { return tsa.callCount() == 1, "" })
	for i := 0; i < 3; i++ {
		h.ledger.grow(1)
	}
	waitFor(t, "four heads behind while the TSA hangs", func() (bool, string) {
		n, _ := h.s.Behind()
		g := h.metric("courtledger_tsa_behind_heads")
		return n == 4 && g == 4, fmt.Sprint(n, " ", g)
	})
}

// Whatever the write rate, at most one head per Interval is stamped: the
// newest covers the rest. Reported: heads signed and tokens a TSA served.
func TestStamperAtMostOnePerInterval(t *testing.T) {
	const interval = 50 * time.Millisecond
	tsa := &fakeTSA{name: "tsa-a"}
	h := start(t, []TSA{tsa}, func(c *Config) { c.Interval = interval })
	began := time.Now()
	heads := 0
	for time.Since(began) < 10*interval {
		h.ledger.grow(1)
		heads++
		time.Sleep(time.Millisecond)
	}
	last := h.ledger.grow(1)
	heads++
	waitFor(t, "the newest head stamped", func() (bool, string) { _, ok := h.ledger.token(last.Head.Size); return ok, "" })
	elapsed := time.Since(began)
	calls := tsa.callCount()
	t.Logf("%d heads in %v, %d tokens requested at Interval %v", heads, elapsed.Round(time.Millisecond), calls, interval)
	if maxCalls := int(elapsed/interval) + 1; calls > maxCalls {
		t.Fatalf("%d tokens requested in %v, at most %d at one per %v", calls, elapsed, maxCalls, interval)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	l := newFakeLedger(t)
	ok := Config{Ledger: l, IsLeader: func() bool { return true }, TSAs: []TSA{&fakeTSA{name: "a"}}, Verify: fakeVerify}
	if _, err := New(ok); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.TSAs = nil }, "no TSA"},
		{func(c *Config) { c.Verify = nil }, "Verify is required"},
		{func(c *Config) { c.Ledger = nil }, "Ledger is required"},
		{func(c *Config) { c.IsLeader = nil }, "IsLeader is required"},
		{func(c *Config) { c.TSAs = []TSA{&fakeTSA{name: "a"}, &fakeTSA{name: "a"}} }, `"a" is named twice`},
		{func(c *Config) { c.TSAs = []TSA{&fakeTSA{}} }, "TSA 1: a TSA needs a name"},
		{func(c *Config) { c.Interval = -1 }, "must not be negative"},
	} {
		cfg := ok
		c.edit(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New: %v, want an error naming %q", err, c.want)
		}
	}
}
