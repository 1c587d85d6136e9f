package court

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/apierr"
)

// The REST gateway calls the node's own gRPC server over an in-memory
// connection instead of calling the service implementations directly, so
// that every REST call passes the same guard (authentication, roles, rate
// limits, audit) as a gRPC call, and no REST route can miss it.

// gatewayNetwork is the network name of the gateway's in-memory listener;
// access.ServerCredentials skips TLS for it and marks its calls as the
// gateway's.
const gatewayNetwork = "bufconn"

// gatewayConn starts serving the node's gRPC server on an in-memory
// listener and returns a client connection to it.
func (n *Node) gatewayConn() (*grpc.ClientConn, error) {
	ln := bufconn.Listen(1 << 20)
	n.gwLn = ln
	go n.grpc.Serve(ln)
	cc, err := grpc.NewClient("passthrough:///courtd-gateway",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return ln.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(n.cfg.MaxRequestBytes)))
	if err != nil {
		return nil, fmt.Errorf("court: gateway connection: %w", err)
	}
	return cc, nil
}

// gatewayOptions are the ServeMux options that carry the HTTP caller's
// credentials to the guard and its refusals back as HTTP.
func gatewayOptions() []runtime.ServeMuxOption {
	return []runtime.ServeMuxOption{
		runtime.WithIncomingHeaderMatcher(access.GatewayHeader),
		runtime.WithMetadata(access.GatewayMetadata),
		runtime.WithErrorHandler(func(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
			if d, ok := retryDelay(err); ok {
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
			}
			runtime.DefaultHTTPErrorHandler(ctx, mux, m, w, r, err)
		}),
	}
}

// retryDelay is the RetryInfo of a ResourceExhausted status.
func retryDelay(err error) (time.Duration, bool) {
	p, ok := apierr.FromStatus(err)
	if !ok || p.Code != codes.ResourceExhausted || p.RetryAfter <= 0 {
		return 0, false
	}
	return max(p.RetryAfter, time.Second), true
}
