package court

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// rpcMetrics are the RED metrics of the node's gRPC API (REST reaches it
// through the gateway, so it is counted here too): requests by method and
// code, and their handling time. The names and labels are those of
// go-grpc-middleware's Prometheus provider, so its dashboards and alerts
// apply; the interceptor is ours because it is twenty lines and that
// provider is a module the project does not otherwise need.
type rpcMetrics struct {
	handled  *prometheus.CounterVec
	handling *prometheus.HistogramVec
}

func newRPCMetrics() *rpcMetrics {
	return &rpcMetrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "grpc_server_handled_total",
			Help: "RPCs completed on the server, by type, service, method and gRPC code."},
			[]string{"grpc_type", "grpc_service", "grpc_method", "grpc_code"}),
		handling: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "grpc_server_handling_seconds",
			Help:    "Time to handle an RPC on the server (for streams: the whole stream), by type, service and method.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)},
			[]string{"grpc_type", "grpc_service", "grpc_method"}),
	}
}

func (m *rpcMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.handled, m.handling}
}

// serverOptions put the interceptors first in the chain, so that requests
// the guard refuses are counted too.
func (m *rpcMetrics) serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			start := time.Now()
			resp, err := handler(ctx, req)
			m.observe("unary", info.FullMethod, err, start)
			return resp, err
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			start := time.Now()
			err := handler(srv, ss)
			typ := "server_stream"
			switch {
			case info.IsClientStream && info.IsServerStream:
				typ = "bidi_stream"
			case info.IsClientStream:
				typ = "client_stream"
			}
			m.observe(typ, info.FullMethod, err, start)
			return err
		}),
	}
}

func (m *rpcMetrics) observe(typ, fullMethod string, err error, start time.Time) {
	service, method := splitMethod(fullMethod)
	m.handled.WithLabelValues(typ, service, method, status.Code(err).String()).Inc()
	m.handling.WithLabelValues(typ, service, method).Observe(time.Since(start).Seconds())
}

// splitMethod splits "/pkg.Service/Method".
func splitMethod(full string) (service, method string) {
	full = strings.TrimPrefix(full, "/")
	if i := strings.LastIndex(full, "/"); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "unknown", full
}
