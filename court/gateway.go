package court

import (
	"context"
	"encoding/base64"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
)

// The REST gateway calls the node's own gRPC server over an in-memory
// connection instead of calling the service implementations directly, so
// that every REST call passes the same guard (authentication, roles, rate
// limits, audit) as a gRPC call, and no REST route can miss it.

// gatewayNetwork is the network name of the gateway's in-memory listener;
// serverCreds skips TLS for it and marks its calls as the gateway's.
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
		runtime.WithIncomingHeaderMatcher(func(key string) (string, bool) {
			// The node's own metadata keys are never taken from headers.
			if strings.HasPrefix(strings.ToLower(key), "grpc-metadata-x-courtledger-") {
				return "", false
			}
			return runtime.DefaultHeaderMatcher(key)
		}),
		runtime.WithMetadata(func(_ context.Context, r *http.Request) metadata.MD {
			if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
				return nil
			}
			var parts []string
			for _, c := range r.TLS.PeerCertificates {
				parts = append(parts, base64.StdEncoding.EncodeToString(c.Raw))
			}
			return metadata.Pairs(mdGatewayCert, strings.Join(parts, ","))
		}),
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
	s, ok := status.FromError(err)
	if !ok || s.Code() != codes.ResourceExhausted {
		return 0, false
	}
	for _, d := range s.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return max(ri.GetRetryDelay().AsDuration(), time.Second), true
		}
	}
	return 0, false
}

// guardedHTTP serves a plain HTTP route (one grpc-gateway cannot: a PDF, a
// streamed upload) behind the same guard as the gateway's routes: the
// caller's certificate or token, the role table for method, the rate limit
// and the audit trail. serve runs only once the caller is admitted, with
// the caller in its context.
func (n *Node) guardedHTTP(method string, serve func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		md := metadata.MD{}
		if a := r.Header.Get("Authorization"); a != "" {
			md.Set(mdAuthorization, a)
		}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			var parts []string
			for _, c := range r.TLS.PeerCertificates {
				parts = append(parts, base64.StdEncoding.EncodeToString(c.Raw))
			}
			md.Set(mdGatewayCert, strings.Join(parts, ","))
		}
		md.Set("x-forwarded-for", r.RemoteAddr)
		ctx := metadata.NewIncomingContext(r.Context(), md)
		ctx = peer.NewContext(ctx, &peer.Peer{AuthInfo: gatewayAuthInfo{}})
		c, fwd, err := n.guard.check(ctx, method, nil)
		if err == nil {
			err = n.readGate(method)
		}
		if err != nil {
			writeError(w, err)
			return
		}
		err = serve(w, r.WithContext(context.WithValue(ctx, callerKey{}, c)))
		n.guard.record(c, fwd, method, nil, err)
		if err != nil {
			writeError(w, err)
		}
	}
}
