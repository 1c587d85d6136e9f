// Package court is a court node: it wires one node of the court's
// replicated ledger (package consensus), access control (court/access)
// and cross-court sync (court/witness) to the gRPC API servers and the
// REST gateway, with readiness, metrics and leader forwarding. It is what
// cmd/courtd runs.
package court

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/courtledger/courtledger/api"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/court/stamp"
	"github.com/courtledger/courtledger/court/witness"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
)

// Peer is a node of the court: its Raft address and its gRPC address.
type Peer struct {
	NodeID   string
	RaftAddr string
	GRPCAddr string
}

// Config is one node's configuration. See LoadConfig for the file format.
type Config struct {
	Court    string // the court ID, its log's origin
	NodeID   string
	DataDir  string
	RaftAddr string // Raft TCP listen address
	GRPCAddr string // gRPC listen address
	HTTPAddr string // REST gateway, health and OpenAPI listen address
	// MetricsAddr, if set, is a plain-HTTP listener serving only /metrics,
	// without credentials, so a scraper needs no client certificate
	// (metrics_listener.go).
	MetricsAddr string
	CourtKey    *sm2.PrivateKey
	// PreviousKeys are the public halves of keys the court signed with
	// before CourtKey: its heads keep the signatures they were made with,
	// so the node still recognises them (cosignatures other courts send
	// for them, witnesses of them in provenance). See docs/security.md,
	// "Key rotation".
	PreviousKeys []*sm2.PublicKey
	// Peers lists every node of the court, this one included; writes sent
	// to a follower are forwarded to the leader's GRPCAddr from here.
	Peers []Peer
	// Bootstrap starts a new court with Peers as its voters. Ignored once
	// the node has Raft state.
	Bootstrap bool
	// MaxRequestBytes bounds a request body or message (default 8 MiB).
	MaxRequestBytes int
	// Courts are the other courts of the network, which this court mirrors
	// and witnesses (docs/sync-protocol.md).
	Courts []witness.OtherCourt
	Sync   witness.Config
	Fast   bool // short Raft timeouts, for tests and demos on one machine
	Clock  func() time.Time
	Logger *slog.Logger
	// Security: TLS, callers, limits, audit (issue 7; security.go).
	Security Security
	// ForwardTimeout bounds each try of a write forwarded to the leader
	// (default 2 s, 1 s with Fast): shorter than an election, so that a
	// paused or cut-off leader costs a forwarded write about one election,
	// after which it is tried again at the new leader (forward.go).
	ForwardTimeout time.Duration
	// MaxPending bounds the submissions the leader holds at once
	// (consensus BatchConfig.MaxPending; 0: its default).
	MaxPending int

	// PublicURL is the court's public HTTPS address, printed on the
	// certificates this node issues as where to verify them; empty, the
	// certificate tells readers to ask the court by certificate ID.
	PublicURL string

	// TSAs, if any, stamp the court's signed heads (issue 16; package
	// court/stamp): tried in order, each token verified with TSAVerify
	// (required with TSAs) before it is recorded. Every node runs the
	// stamper; it acts only while the node leads.
	TSAs      []stamp.TSA
	TSAVerify stamp.Verify
	// TSA configures the TSAs from their URLs and roots (the YAML's
	// tsa list): the stamper's clients and checks are built from it unless
	// TSAs is given, and certificates, PDFs and the published trust file
	// use its roots.
	TSA []TSAConfig

	// DialVia maps an address this node dials (another node's Raft or
	// gRPC address, another court's endpoint) to a relay to dial instead;
	// see dialvia.go. Empty in production.
	DialVia map[string]string
}

// OwnKeys are the court's public keys, the current one first: what its
// heads are checked against.
func (c Config) OwnKeys() []*sm2.PublicKey {
	return append([]*sm2.PublicKey{c.CourtKey.Public()}, c.PreviousKeys...)
}

// Node is a running court node.
type Node struct {
	cfg    Config
	log    *slog.Logger
	ledger *consensus.Ledger
	grpc   *grpc.Server
	http   *http.Server
	health *health.Server

	grpcLn, httpLn net.Listener

	cosigner *checkpoint.Cosigner // this court as a witness of others
	// courts are this court's keys (CourtKey, then PreviousKeys) and the
	// other courts it mirrors, with the verifiers of their heads.
	courts     *witness.Courts
	syncer     *witness.Syncer
	metrics    *metrics
	metricsSrv *metricsListener

	syncDone chan struct{} // closed when the sync loops have stopped

	stamper   *stamp.Stamper // nil without TSAs
	stampStop func()         // ends the stamper and waits for it
	// mirrorStampsStop ends the loop that fetches other courts' tokens.
	mirrorStampsStop func()

	mu    sync.Mutex
	peers map[string]string // node ID -> gRPC address
	conns map[string]*leaderConn
	done  chan struct{}

	readiness readiness   // ready.go
	leaders   leaderWatch // forward.go
	// healthOf, when set (by tests), replaces the ledger's own verdict on
	// its health: readiness and everything built on it are what is tested.
	healthOf atomic.Pointer[func() consensus.Health]

	// Security (issue 7): see security.go, gateway.go and package access.
	tls    *access.Material
	guard  *access.Guard
	auth   *access.Authenticator // the guard's; sign-in sessions check tokens with it
	audit  *access.Auditor
	gwLn   net.Listener
	gwConn *grpc.ClientConn
	opened atomic.Pointer[consensus.Ledger] // the ledger, once open
}

// Start opens the node's ledger and starts serving.
func Start(cfg Config) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = 8 << 20
	}
	if cfg.CourtKey == nil {
		return nil, errors.New("court: config: court key is required")
	}
	signer, err := checkpoint.NewSigner(cfg.Court, cfg.CourtKey)
	if err != nil {
		return nil, fmt.Errorf("court: %w", err)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = 2 * time.Second
		if cfg.Fast {
			cfg.ForwardTimeout = time.Second
		}
	}
	if err := cfg.applyDialVia(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("court", cfg.Court, "node", cfg.NodeID),
		peers: map[string]string{}, conns: map[string]*leaderConn{}, done: make(chan struct{})}
	if n.cosigner, err = checkpoint.NewCosigner(cfg.Court, cfg.CourtKey, cfg.Clock); err != nil {
		return nil, fmt.Errorf("court: %w", err)
	}
	if n.courts, err = witness.NewCourts(cfg.Court, cfg.OwnKeys(), cfg.Courts); err != nil {
		return nil, fmt.Errorf("court: config: %w", err)
	}
	if err := n.setupSecurity(); err != nil { // security hook
		return nil, err
	}
	var boot []consensus.Server
	for _, p := range cfg.Peers {
		n.peers[p.NodeID] = p.GRPCAddr
		if cfg.Bootstrap {
			boot = append(boot, consensus.Server{ID: p.NodeID, Address: p.RaftAddr})
		}
	}
	if n.grpcLn, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("court: gRPC listener: %w", err)
	}
	if n.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		n.grpcLn.Close()
		return nil, fmt.Errorf("court: HTTP listener: %w", err)
	}
	n.httpLn = n.httpListener(n.httpLn) // security hook: TLS
	trans, err := n.raftTransport()     // security hook: Raft over mutual TLS
	if err != nil {
		n.grpcLn.Close()
		n.httpLn.Close()
		return nil, err
	}
	n.ledger, err = consensus.Open(consensus.Config{
		NodeID: cfg.NodeID, Court: cfg.Court, Dir: cfg.DataDir, BindAddr: cfg.RaftAddr, Transport: trans,
		Bootstrap: boot, Signer: signer, Fast: cfg.Fast, Logger: cfg.Logger, Clock: cfg.Clock,
		Batch: consensus.BatchConfig{MaxPending: cfg.MaxPending},
	})
	if err != nil {
		n.grpcLn.Close()
		n.httpLn.Close()
		if trans != nil {
			trans.(io.Closer).Close()
		}
		return nil, err
	}
	n.opened.Store(n.ledger)
	n.audit = access.NewAuditor(cfg.Security.Audit, n.auditSink, n.log) // security hook: audit log
	n.guard.SetAudit(n.audit)

	n.metrics = newMetrics(n)
	n.grpc = grpc.NewServer(append(n.metrics.rpc.serverOptions(), n.serverOptions()...)...) // security hook: guard, limits, TLS
	n.syncer = witness.New(witness.Options{Config: cfg.Sync, Ledger: n.ledger, Courts: n.courts, Cosigner: n.cosigner,
		DialCourt: n.DialCourt, CallContext: n.courtCallContext, MaxRecvBytes: cfg.MaxRequestBytes, Clock: cfg.Clock, Logger: n.log,
		OnAlarm: func(court string, kind consensus.AlarmKind) {
			n.metrics.alarmsRaised.WithLabelValues(court, string(kind)).Inc()
		},
		OnMirrored: func(court string, entries int) { n.metrics.mirrored.WithLabelValues(court).Add(float64(entries)) }})
	if len(cfg.TSA) > 0 && len(cfg.TSAs) == 0 {
		cfg.TSAs, cfg.TSAVerify, err = tsaClients(cfg.TSA)
		if err != nil {
			n.grpcLn.Close()
			n.httpLn.Close()
			n.Shutdown(context.Background())
			return nil, err
		}
	}
	if len(cfg.TSAs) > 0 {
		if n.stamper, err = stamp.New(stamp.Config{Ledger: n.ledger, IsLeader: n.ledger.IsLeader, TSAs: cfg.TSAs,
			Verify: cfg.TSAVerify, Logger: n.log, Now: cfg.Clock, Reason: tsaReason,
			Metrics: prometheus.WrapRegistererWith(prometheus.Labels{"court": cfg.Court, "node": cfg.NodeID}, n.metrics.reg)}); err != nil {
			n.grpcLn.Close() // not serving yet: Shutdown would leave them open
			n.httpLn.Close()
			n.Shutdown(context.Background())
			return nil, fmt.Errorf("court: config: %w", err)
		}
	}
	logs := courtLogs{ledger: n.ledger, courts: n.courts, stamping: len(cfg.TSAs) > 0}
	pb.RegisterEvidenceServiceServer(n.grpc, &evidenceServer{ledger: n.ledger, logs: logs, fwd: n})
	pb.RegisterAdminServiceServer(n.grpc, &adminServer{n: n})
	pb.RegisterAuditServiceServer(n.grpc, &auditServer{ledger: n.ledger})
	pb.RegisterBackupServiceServer(n.grpc, &backupServer{ledger: n.ledger})
	pb.RegisterSyncServiceServer(n.grpc, n.syncServer())
	cs, err := newCertificateServer(cfg.Court, cfg.CourtKey, cfg.PublicURL, logs, tsaChecker(cfg.TSA))
	if err != nil {
		n.Shutdown(context.Background())
		return nil, err
	}
	pb.RegisterCertificateServiceServer(n.grpc, cs)
	n.health = health.NewServer()
	healthpb.RegisterHealthServer(n.grpc, n.health)

	// The gateway calls the gRPC server over an in-memory connection, so
	// REST passes the same guard (gateway.go). Register new services' REST
	// handlers with Register*Handler(ctx, gw, n.gwConn), never *HandlerServer.
	gw := runtime.NewServeMux(append(gatewayOptions(),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
	)...)
	ctx := context.Background()
	if n.gwConn, err = n.gatewayConn(); err != nil {
		n.Shutdown(ctx)
		return nil, err
	}
	for _, register := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		pb.RegisterEvidenceServiceHandler, pb.RegisterAdminServiceHandler, pb.RegisterAuditServiceHandler,
		pb.RegisterSyncServiceHandler, pb.RegisterCertificateServiceHandler,
	} {
		if err := register(ctx, gw, n.gwConn); err != nil {
			n.Shutdown(ctx)
			return nil, err
		}
	}
	pages, sessions, err := n.webPages()
	if err != nil {
		n.Shutdown(ctx)
		return nil, err
	}
	mux := http.NewServeMux()
	apiMux := http.NewServeMux()
	cs.routes(apiMux, n.guard)
	apiMux.Handle("/v1/", http.MaxBytesHandler(gw, int64(cfg.MaxRequestBytes)))
	mux.Handle("/v1/", withSessions(sessions, apiMux))
	pages.Routes(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", n.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(api.OpenAPI)
	})
	n.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: cfg.Security.MaxHeaderBytes}

	if n.metricsSrv, err = startMetricsListener(cfg.MetricsAddr, n.metrics.reg); err != nil {
		n.grpcLn.Close()
		n.httpLn.Close()
		n.Shutdown(ctx)
		return nil, err
	}
	go n.grpc.Serve(n.grpcLn)
	go n.http.Serve(n.httpLn)
	go n.watchHealth()
	go n.watchLeader()
	n.syncDone = make(chan struct{})
	go func() { defer close(n.syncDone); n.syncer.Run(n.done) }()
	n.mirrorStampsStop = n.startMirrorStamps()
	if n.stamper != nil {
		ctx, cancel := context.WithCancel(context.Background())
		stopped := make(chan struct{})
		go func() { defer close(stopped); n.stamper.Run(ctx) }()
		n.stampStop = func() { cancel(); <-stopped }
	}
	n.log.Info("court node serving", "grpc", n.grpcLn.Addr().String(), "http", n.httpLn.Addr().String(), "raft", cfg.RaftAddr)
	return n, nil
}

// syncServer is the node's SyncService.
func (n *Node) syncServer() *syncServer {
	return &syncServer{ledger: n.ledger, courts: n.courts, gossip: n.syncer, fwd: n, done: n.done}
}

func (n *Node) now() time.Time { return n.cfg.Clock() }

// GRPCAddr and HTTPAddr are the addresses the node listens on.
func (n *Node) GRPCAddr() string { return n.grpcLn.Addr().String() }
func (n *Node) HTTPAddr() string { return n.httpLn.Addr().String() }

// Ledger exposes the node's ledger, for tests and tools in this process.
func (n *Node) Ledger() *consensus.Ledger { return n.ledger }

// Shutdown stops serving, letting calls in progress finish until ctx ends,
// then closes the ledger.
func (n *Node) Shutdown(ctx context.Context) error {
	select {
	case <-n.done:
		return nil
	default:
		close(n.done)
	}
	if n.health != nil {
		n.health.Shutdown()
	}
	var errs []error
	if n.http != nil {
		errs = append(errs, n.http.Shutdown(ctx))
	}
	errs = append(errs, n.metricsSrv.shutdown(ctx))
	if n.grpc != nil {
		stopped := make(chan struct{})
		go func() { n.grpc.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-ctx.Done():
			n.grpc.Stop()
		}
	}
	if n.syncDone != nil {
		<-n.syncDone
	}
	if n.mirrorStampsStop != nil {
		n.mirrorStampsStop()
	}
	if n.stampStop != nil {
		n.stampStop() // before the ledger closes: it may be recording a token
	}
	if n.audit != nil {
		n.audit.Close() // flushes what it can while the ledger is open
	}
	if n.gwConn != nil {
		n.gwConn.Close()
	}
	n.mu.Lock()
	for _, c := range n.conns {
		c.cc.Close()
	}
	n.mu.Unlock()
	if n.ledger != nil {
		errs = append(errs, n.ledger.Close())
	}
	return errors.Join(errs...)
}

func (n *Node) peerAPI(id string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.peers[id]
}

func (n *Node) setPeerAPI(id, addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.peers[id] = addr
}
