package court

import (
	"os"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/courtledger/courtledger/consensus"
)

// metrics are one node's Prometheus metrics, in a registry of its own so
// that several nodes can run in one process (tests, the demo).
type metrics struct {
	reg          *prometheus.Registry
	alarmsRaised *prometheus.CounterVec
	mirrored     *prometheus.CounterVec
	rpc          *rpcMetrics // gRPC RED metrics (metrics_rpc.go)
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
	m.rpc = newRPCMetrics()
	m.reg.MustRegister(m.alarmsRaised, m.mirrored,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	labels := prometheus.Labels{"court": n.cfg.Court, "node": n.cfg.NodeID}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "courtledger_ledger_size", Help: "Entries in the court's own log.", ConstLabels: labels},
			func() float64 { return float64(n.ledger.Size()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "courtledger_is_leader", Help: "1 if this node leads its court.", ConstLabels: labels},
			func() float64 { return b2f(n.ledger.IsLeader()) }),
		// Readiness (issue 11): what /readyz says, and why.
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "courtledger_ready", Help: "1 while the node may serve: a leader is known and its ledger is current, writable and intact.", ConstLabels: labels},
			func() float64 { ok, _ := n.ready(); return b2f(ok) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "courtledger_ledger_applied_index", Help: "Last Raft index in the ledger file.", ConstLabels: labels},
			func() float64 { return float64(n.ledgerHealth().Applied) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "courtledger_ledger_commit_index", Help: "Raft's commit index as this node knows it.", ConstLabels: labels},
			func() float64 { return float64(n.ledgerHealth().Commit) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "courtledger_ledger_corruptions_total", Help: "Corrupt records this node found in its ledger since it started.", ConstLabels: labels},
			func() float64 { return float64(n.ledger.Corruptions()) }),
	)
	wrapped := prometheus.WrapRegistererWith(labels, m.reg)
	for _, c := range append(n.ledger.Collectors(), m.rpc.collectors()...) {
		wrapped.MustRegister(c)
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "courtledger_raft_term", Help: "Raft's current term on this node.", ConstLabels: labels},
			func() float64 { return float64(n.ledger.Status().Term) }),
		// Free space is read when scraped: a statfs call, cheap at scrape rates.
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "courtledger_disk_free_bytes", Help: "Bytes free to unprivileged users on the file system of the data directory (-1: unknown).", ConstLabels: labels},
			func() float64 { return diskFree(n.cfg.DataDir) }),
	)
	for _, state := range []string{"Leader", "Follower", "Candidate"} {
		l := prometheus.Labels{"court": n.cfg.Court, "node": n.cfg.NodeID, "state": state}
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "courtledger_raft_state",
			Help: "1 for this node's Raft state (Leader, Follower, Candidate), 0 for the others.", ConstLabels: l},
			func() float64 { return b2f(n.ledger.Status().State == state) }))
	}
	if n.tls != nil {
		notAfter := float64(n.tls.NotAfter().Unix())
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "courtledger_tls_cert_not_after_seconds",
			Help: "Unix time at which the node's TLS certificate expires.", ConstLabels: labels},
			func() float64 { return notAfter }))
	}
	for _, state := range []consensus.HealthState{consensus.HealthOK, consensus.HealthBehind, consensus.HealthBroken, consensus.HealthCorrupt, consensus.HealthRebuilding} {
		l := prometheus.Labels{"court": n.cfg.Court, "node": n.cfg.NodeID, "state": string(state)}
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "courtledger_ledger_health",
			Help: "1 for the ledger's health state (ok, behind, broken, corrupt, rebuilding), 0 for the others.", ConstLabels: l},
			func() float64 { return b2f(n.ledgerState().State == state) }))
	}
	for _, id := range n.courts.Others() {
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

// diskBytes is what a file takes on disk: bbolt grows the ledger file 16 MiB
// ahead of its pages, and the part never written holds no blocks, so the
// length would overstate a small ledger up to 16 MiB.
func diskBytes(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return min(uint64(st.Blocks)*512, uint64(fi.Size()))
	}
	return uint64(fi.Size())
}

// diskFree is the space left for the data directory's file system, -1 if
// it cannot be read.
func diskFree(dir string) float64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1
	}
	return float64(st.Bavail) * float64(st.Bsize)
}
