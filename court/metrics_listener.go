package court

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsListener serves /metrics in plain HTTP without credentials on an
// address of its own (metrics_addr), so that a Prometheus server scrapes
// without a client certificate while the API listener keeps its TLS. An
// operator binds it to an address only the monitoring network reaches;
// nothing else is served there.
type metricsListener struct {
	srv *http.Server
	ln  net.Listener
}

// startMetricsListener listens on addr; an empty addr starts nothing and
// returns nil (whose shutdown does nothing).
func startMetricsListener(addr string, reg *prometheus.Registry) (*metricsListener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("court: metrics_addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	m := &metricsListener{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute}}
	go m.srv.Serve(ln)
	return m, nil
}

// Addr is where the listener listens (the port chosen for ":0").
func (m *metricsListener) Addr() net.Addr { return m.ln.Addr() }

func (m *metricsListener) shutdown(ctx context.Context) error {
	if m == nil {
		return nil
	}
	if err := m.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("court: metrics listener: %w", err)
	}
	return nil
}
