package access

import (
	"context"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// The REST side of the guard: the gateway's calls reach the gRPC server
// over an in-memory connection and pass the guard there; the routes the
// gateway cannot serve (a PDF, a streamed upload) are wrapped by HTTP.

// GatewayHeader is the REST gateway's header matcher: the node's own
// metadata keys are never taken from headers.
func GatewayHeader(key string) (string, bool) {
	if strings.HasPrefix(strings.ToLower(key), "grpc-metadata-x-courtledger-") {
		return "", false
	}
	return runtime.DefaultHeaderMatcher(key)
}

// GatewayMetadata carries a REST caller's TLS client certificate chain to
// the guard, as the gateway's in-memory connection cannot.
func GatewayMetadata(_ context.Context, r *http.Request) metadata.MD {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	return metadata.Pairs(mdGatewayCert, encodeChain(r.TLS.PeerCertificates))
}

// HTTP serves a plain HTTP route (one grpc-gateway cannot: a PDF, a
// streamed upload) behind the same guard as the gateway's routes: the
// caller's certificate or token, the role table for method, the rate limit
// and the audit trail. serve runs only once the caller is admitted (and
// HTTPGate let it through), with the caller in its context.
func (g *Guard) HTTP(method string, serve func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		md := metadata.MD{}
		if a := r.Header.Get("Authorization"); a != "" {
			md.Set(mdAuthorization, a)
		}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			md.Set(mdGatewayCert, encodeChain(r.TLS.PeerCertificates))
		}
		md.Set("x-forwarded-for", r.RemoteAddr)
		ctx := metadata.NewIncomingContext(r.Context(), md)
		ctx = peer.NewContext(ctx, &peer.Peer{AuthInfo: gatewayAuthInfo{}})
		c, fwd, err := g.check(ctx, method, nil)
		if err == nil && g.cfg.HTTPGate != nil {
			err = g.cfg.HTTPGate(method)
		}
		if err != nil {
			g.cfg.WriteHTTPError(w, err)
			return
		}
		err = serve(w, r.WithContext(context.WithValue(ctx, callerKey{}, c)))
		g.record(c, fwd, method, nil, err)
		if err != nil {
			g.cfg.WriteHTTPError(w, err)
		}
	}
}
