package consensus

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics measure the leader's group commit: one Observe per batch, never
// per entry, so the hot path pays two histogram updates per Raft round.
// The ledger owns them; the node registers them (Collectors) in its own
// registry with its court and node labels.
type metrics struct {
	commit  prometheus.Histogram
	entries prometheus.Histogram
	apply   prometheus.Histogram
}

func newMetrics() *metrics {
	return &metrics{
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "courtledger_batch_commit_seconds",
			Help:    "Leader only: time from proposing a batch to Raft until it is committed and applied (what a submitter waits for after batching).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		entries: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "courtledger_batch_entries",
			Help:    "Leader only: entries in each committed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14)}),
		apply: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "courtledger_fsm_apply_seconds",
			Help:    "Time the state machine took to apply one group of Raft logs to the ledger file, its fsync included.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
	}
}

// Collectors are the ledger's metrics, for the caller's registry.
func (l *Ledger) Collectors() []prometheus.Collector {
	return []prometheus.Collector{l.metrics.commit, l.metrics.entries, l.metrics.apply}
}

func (m *metrics) batchCommitted(entries int, since time.Time) {
	m.commit.Observe(time.Since(since).Seconds())
	m.entries.Observe(float64(entries))
}
