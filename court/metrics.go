package court

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are one node's Prometheus metrics, in a registry of its own so
// that several nodes can run in one process (tests, the demo).
type metrics struct {
	reg          *prometheus.Registry
	alarmsRaised *prometheus.CounterVec
	mirrored     *prometheus.CounterVec
}

func newMetrics(n *Node) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		alarmsRaised: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "courtledger_sync_alarms_raised_total",
			Help: "Equivocation alarms this node raised, by court and kind.",
		}, []string{"court", "kind"}),
		mirrored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "courtledger_sync_mirrored_entries_total",
			Help: "Entries of other courts this node proposed into their mirrors.",
		}, []string{"court"}),
	}
	m.reg.MustRegister(m.alarmsRaised, m.mirrored,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	labels := prometheus.Labels{"court": n.cfg.Court, "node": n.cfg.NodeID}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "courtledger_ledger_size", Help: "Entries in the court's own log.", ConstLabels: labels},
			func() float64 { return float64(n.ledger.Size()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "courtledger_is_leader", Help: "1 if this node leads its court.", ConstLabels: labels},
			func() float64 { return b2f(n.ledger.IsLeader()) }),
	)
	for id := range n.courts {
		l := prometheus.Labels{"court": n.cfg.Court, "node": n.cfg.NodeID, "peer_court": id}
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "courtledger_mirror_size", Help: "Entries of another court mirrored here.", ConstLabels: l},
				func() float64 { st, _ := n.ledger.Mirror(id); return float64(st.Size) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "courtledger_mirror_staleness_seconds", Help: "Seconds since the mirror was last found current (-1: never).", ConstLabels: l},
				func() float64 {
					st, _ := n.ledger.Mirror(id)
					if st.Checked.IsZero() {
						return -1
					}
					return n.now().Sub(st.Checked).Seconds()
				}),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "courtledger_sync_alarm", Help: "1 while the court is under an equivocation alarm.", ConstLabels: l},
				func() float64 { return b2f(n.ledger.Alarmed(id)) }),
		)
	}
	return m
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
