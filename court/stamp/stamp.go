// Package stamp is the leader's stamping loop (issue 16): it has the
// court's newest signed head stamped by an RFC 3161 time-stamping
// authority, verifies the token, and records it through Raft
// (consensus.Ledger.AddTimestamp), so that every node holds it.
//
// Stamping is never on the acknowledgement path: submissions are signed
// into heads and acknowledged whatever the TSA does. A head commits to
// every entry before it, so the loop stamps only the newest head, at most
// one per Interval: a token dates every entry of the head no later than the
// TSA's time, and after an outage the first token covers every entry
// filed meanwhile (the heads signed during the outage stay unstamped: the
// first stamped head that covers an entry is its timestamp).
package stamp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/courtledger/courtledger/consensus"
)

// TSA is a time-stamping authority; crypto/tsa's Client is one.
type TSA interface {
	// Name identifies the TSA in the ledger, metrics and logs.
	Name() string
	// Stamp asks for a token over data and returns the DER TimeStampResp.
	Stamp(ctx context.Context, data []byte) (tsr []byte, err error)
}

// Info is what a verified token says.
type Info struct {
	Time time.Time // the TSA's genTime
	TSA  string    // the TSA as its certificate names it
}

// Verify checks a TimeStampResp over data offline: its signature, its
// chain to a trusted TSA, the timeStamping usage, the imprint, and that
// its time is within the tolerance of headTime.
type Verify func(tsr, data []byte, headTime time.Time) (Info, error)

// Ledger is the court's ledger as the stamper uses it; *consensus.Ledger
// is one.
type Ledger interface {
	LatestHead() (consensus.SignedHead, error)
	LastStamped() (uint64, error)
	// Unstamped counts the heads newer than the newest stamped one and
	// gives the oldest one's time: the stamper's gauges.
	Unstamped() (heads uint64, oldest time.Time, err error)
	AddTimestamp(ctx context.Context, size uint64, tsa string, tsr []byte) error
}

// Config configures a Stamper; zero values take the defaults.
type Config struct {
	Ledger   Ledger
	IsLeader func() bool
	// TSAs are tried in order: the first that answers with a token that
	// verifies is used. One that fails is skipped until its backoff ends.
	TSAs   []TSA
	Verify Verify
	// Interval: at most one stamp per Interval (default 500ms). The newest
	// head covers every earlier entry, so a court stamps at most a few
	// heads per second whatever its write rate.
	Interval time.Duration
	// Backoff is how long a TSA that failed is left alone (default 1s),
	// doubling with each further failure up to MaxBackoff (default 30s).
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Timeout bounds one request to a TSA (default 10s).
	Timeout time.Duration
	// Reason names a failure for the failures counter's reason label, from
	// a small fixed set (for crypto/tsa's errors: "tolerance", "imprint",
	// "certificate", ...). Empty or nil: "unavailable" for a failed
	// request, "timeout" for one that timed out, "invalid" for a token
	// that does not verify.
	Reason  func(err error) string
	Metrics prometheus.Registerer // optional
	Logger  *slog.Logger
	Now     func() time.Time
}

// Reasons of the failures counter set by the stamper itself.
const (
	ReasonUnavailable = "unavailable" // the request failed
	ReasonTimeout     = "timeout"     // the request timed out
	ReasonInvalid     = "invalid"     // the token does not verify
	ReasonRecord      = "record"      // the token verified but could not be recorded
)

// Stamper is the stamping loop of one node; it acts only while the node
// leads.
type Stamper struct {
	cfg Config
	log *slog.Logger

	behindHeads prometheus.Gauge
	failures    *prometheus.CounterVec
	stamps      *prometheus.CounterVec
	latency     prometheus.Histogram

	mu     sync.Mutex
	heads  uint64    // heads newer than the newest stamped one
	since  time.Time // the oldest of them, zero if none
	failed bool      // behind because stamping failed: logged once
	leader bool
	next   time.Time   // no stamp before (Interval)
	tsas   []*tsaState // per TSA, in cfg.TSAs order
}

type tsaState struct {
	TSA
	backoff time.Duration // zero while it answers
	retryAt time.Time
}

// New checks cfg and returns a stamper; Run starts it.
func New(cfg Config) (*Stamper, error) {
	switch {
	case cfg.Ledger == nil:
		return nil, errors.New("stamp: config: Ledger is required")
	case cfg.IsLeader == nil:
		return nil, errors.New("stamp: config: IsLeader is required")
	case len(cfg.TSAs) == 0:
		return nil, errors.New("stamp: config: no TSA: name at least one, or do not start a stamper")
	case cfg.Verify == nil:
		return nil, errors.New("stamp: config: Verify is required: a token is recorded only once it verifies")
	case cfg.Interval < 0 || cfg.Backoff < 0 || cfg.MaxBackoff < 0 || cfg.Timeout < 0:
		return nil, errors.New("stamp: config: Interval, Backoff, MaxBackoff and Timeout must not be negative (0 takes the default)")
	}
	if cfg.Interval == 0 {
		cfg.Interval = 500 * time.Millisecond
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = time.Second
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.Backoff)
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Stamper{cfg: cfg, log: cfg.Logger.With("component", "tsa-stamper")}
	seen := map[string]bool{}
	for i, t := range cfg.TSAs {
		if t == nil || t.Name() == "" || len(t.Name()) > consensus.MaxTSAName {
			return nil, fmt.Errorf("stamp: config: TSA %d: a TSA needs a name of 1 to %d bytes", i+1, consensus.MaxTSAName)
		}
		if seen[t.Name()] {
			return nil, fmt.Errorf("stamp: config: TSA %q is named twice: give each TSA once", t.Name())
		}
		seen[t.Name()] = true
		s.tsas = append(s.tsas, &tsaState{TSA: t})
	}
	s.behindHeads = prometheus.NewGauge(prometheus.GaugeOpts{Name: "courtledger_tsa_behind_heads",
		Help: "Signed heads of the court newer than its newest stamped head."})
	s.failures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "courtledger_tsa_failures_total",
		Help: "Failed stamps, by TSA and reason (unavailable, timeout, invalid or a verification reason, record)."}, []string{"tsa", "reason"})
	s.stamps = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "courtledger_tsa_stamps_total",
		Help: "Heads stamped and recorded, by TSA."}, []string{"tsa"})
	s.latency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "courtledger_tsa_stamp_seconds",
		Help:    "Time to stamp a head: the TSA's answer, its verification and the token's commit through Raft.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)})
	if cfg.Metrics != nil {
		for _, c := range []prometheus.Collector{s.behindHeads, s.failures, s.stamps, s.latency,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "courtledger_tsa_lag_seconds",
				Help: "Age of the oldest signed head newer than the newest stamped head: how long entries have waited for trusted time (0 if none waits)."},
				s.lagSeconds),
		} {
			if err := cfg.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("stamp: register metrics: %w", err)
			}
		}
	}
	return s, nil
}

// Behind returns how many signed heads are newer than the newest stamped
// one, and the time of the oldest of them (zero if none), as of the
// stamper's last look at the ledger (every Interval).
func (s *Stamper) Behind() (heads uint64, since time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.heads, s.since
}

func (s *Stamper) lagSeconds() float64 {
	_, since := s.Behind()
	if since.IsZero() {
		return 0
	}
	return max(0, s.cfg.Now().Sub(since).Seconds())
}

// Run stamps while the node leads, and returns when ctx is done.
func (s *Stamper) Run(ctx context.Context) {
	// The gauges are refreshed on a loop of their own: a TSA that hangs
	// holds up the stamping loop for up to Timeout, and that is when they
	// matter.
	observed := make(chan struct{})
	go func() {
		defer close(observed)
		every(ctx, s.cfg.Interval, s.observe)
	}()
	every(ctx, s.cfg.Interval, func() { s.tick(ctx) })
	<-observed
}

// every runs fn at once and then every interval after it returns, until
// ctx is done.
func every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn()
		t.Reset(interval)
	}
}

// tick, when the node leads and its newest head is not stamped, stamps it.
func (s *Stamper) tick(ctx context.Context) {
	leader := s.cfg.IsLeader()
	s.mu.Lock()
	if leader != s.leader {
		// A new term starts afresh: another node may have been stamping.
		s.leader, s.failed, s.next = leader, false, time.Time{}
		for _, t := range s.tsas {
			t.backoff, t.retryAt = 0, time.Time{}
		}
	}
	now := s.cfg.Now()
	due := leader && !now.Before(s.next)
	s.mu.Unlock()
	if !due {
		return
	}
	head, err := s.cfg.Ledger.LatestHead()
	if errors.Is(err, consensus.ErrEmpty) {
		return
	}
	if err != nil {
		s.log.Error("reading the newest signed head failed", "err", err)
		return
	}
	last, err := s.cfg.Ledger.LastStamped()
	if err != nil {
		s.log.Error("reading the newest stamped head failed", "err", err)
		return
	}
	if head.Head.Size <= last {
		return
	}
	s.mu.Lock()
	s.next = now.Add(s.cfg.Interval)
	s.mu.Unlock()
	s.stampHead(ctx, head)
	s.observe()
}

// observe refreshes Behind and the gauges from the ledger.
func (s *Stamper) observe() {
	heads, since, err := s.cfg.Ledger.Unstamped()
	if err != nil {
		s.log.Error("counting unstamped heads failed", "err", err)
		return
	}
	s.mu.Lock()
	s.heads, s.since = heads, since
	s.mu.Unlock()
	s.behindHeads.Set(float64(heads))
}

// stampHead tries the TSAs in order for a token over head and records the
// first that verifies.
func (s *Stamper) stampHead(ctx context.Context, head consensus.SignedHead) {
	data, err := Imprinted(head.Note)
	if err != nil {
		s.log.Error("the newest signed head cannot be stamped", "size", head.Head.Size, "err", err)
		return
	}
	start := time.Now()
	tried := 0
	for _, t := range s.tsas {
		s.mu.Lock()
		waiting := s.cfg.Now().Before(t.retryAt)
		s.mu.Unlock()
		if waiting {
			continue
		}
		tried++
		tsr, reason, err := s.request(ctx, t, data, head)
		if ctx.Err() != nil {
			return // shutting down
		}
		if err == nil {
			err = s.cfg.Ledger.AddTimestamp(ctx, head.Head.Size, t.Name(), tsr)
			if errors.Is(err, consensus.ErrNotLeader) {
				return // the next leader stamps
			}
			if err != nil {
				reason = ReasonRecord
			}
		}
		if err != nil {
			s.failures.WithLabelValues(t.Name(), reason).Inc()
			s.mu.Lock()
			t.backoff = min(max(2*t.backoff, s.cfg.Backoff), s.cfg.MaxBackoff)
			t.retryAt = s.cfg.Now().Add(t.backoff)
			s.mu.Unlock()
			continue
		}
		s.latency.Observe(time.Since(start).Seconds())
		s.stamps.WithLabelValues(t.Name()).Inc()
		s.mu.Lock()
		t.backoff, t.retryAt = 0, time.Time{}
		failed := s.failed
		s.failed = false
		s.mu.Unlock()
		if failed {
			s.log.Info("trusted time caught up: the newest head is stamped, covering every entry before it",
				"size", head.Head.Size, "tsa", t.Name())
		}
		return
	}
	if tried == 0 {
		return // every TSA is backing off
	}
	s.mu.Lock()
	first := !s.failed
	s.failed = true
	s.mu.Unlock()
	if first {
		// One line while it lasts; the gauges and the failures counter
		// tell the rest.
		s.log.Warn("trusted time falls behind: no TSA stamped the newest head; heads are still signed and receipts issued, and the first stamp after this covers them",
			"size", head.Head.Size, "tsas", len(s.tsas))
	}
}

// request asks t for a token over data and verifies it; on failure it
// says why, for the failures counter.
func (s *Stamper) request(ctx context.Context, t *tsaState, data []byte, head consensus.SignedHead) ([]byte, string, error) {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	tsr, err := t.Stamp(rctx, data)
	if err != nil {
		reason := ReasonUnavailable
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(rctx.Err(), context.DeadlineExceeded) {
			reason = ReasonTimeout
		}
		reason = s.reason(err, reason)
		s.log.Debug("TSA request failed", "tsa", t.Name(), "size", head.Head.Size, "reason", reason, "err", err)
		return nil, reason, err
	}
	if len(tsr) > consensus.MaxTimestampToken {
		err := fmt.Errorf("stamp: token of %d bytes, at most %d are recorded", len(tsr), consensus.MaxTimestampToken)
		s.log.Error("TSA token refused", "tsa", t.Name(), "size", head.Head.Size, "err", err)
		return nil, ReasonInvalid, err
	}
	if _, err := s.cfg.Verify(tsr, data, head.Head.Time); err != nil {
		reason := s.reason(err, ReasonInvalid)
		// Not an outage: the TSA answered with a token the court must not
		// record (another imprint, a clock beyond the tolerance, a bad
		// certificate). Said every time, as an alarm.
		s.log.Error("TSA token refused: not recorded, trying the next TSA", "tsa", t.Name(), "size", head.Head.Size,
			"reason", reason, "err", err)
		return nil, reason, err
	}
	return tsr, "", nil
}

func (s *Stamper) reason(err error, fallback string) string {
	if s.cfg.Reason != nil {
		if r := s.cfg.Reason(err); r != "" {
			return r
		}
	}
	return fallback
}
