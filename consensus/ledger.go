package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/evidence"
)

// Server is a voting member of a court's Raft group.
type Server struct {
	ID      string // node ID, stable across restarts
	Address string // Raft transport address, host:port
}

// Config configures one node of a court's ledger. Zero values take the
// defaults named on each field.
type Config struct {
	NodeID string // required; unique within the court
	Court  string // required; the court ID, which is its log's origin
	Dir    string // required; holds raft.db, ledger.db and snapshots/

	// Transport carries Raft traffic. If nil, a TCP transport listens on
	// BindAddr (advertising AdvertiseAddr, default BindAddr).
	Transport     raft.Transport
	BindAddr      string
	AdvertiseAddr string

	// Bootstrap lists the first voters of a new court, this node among
	// them. It is used only when the node has no Raft state yet; a node
	// that joins an existing court leaves it empty and is added by AddVoter.
	Bootstrap []Server

	// Signer is the court's SM2 key, named Court; the leader signs every
	// batch's tree head with it. Every node of a court holds it.
	Signer *checkpoint.Signer

	Clock      func() time.Time    // default time.Now
	TimePolicy evidence.TimePolicy // bounds on submissions' signed-at
	Batch      BatchConfig

	// SnapshotThreshold is how many Raft entries since the last snapshot
	// trigger a new one (default 8192).
	SnapshotThreshold uint64
	// TrailingLogs is how many Raft entries a snapshot leaves in the log for
	// slow followers (default 10240); a follower further behind gets the
	// snapshot, that is the ledger file.
	TrailingLogs uint64
	// Fast shortens Raft's timeouts for tests on one machine.
	Fast bool

	Logger *slog.Logger // default slog.Default()
}

func (c *Config) validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("consensus: config: NodeID is required")
	case !evidence.ValidCourtID(c.Court):
		return fmt.Errorf("consensus: config: court ID %q is not valid", c.Court)
	case c.Dir == "":
		return errors.New("consensus: config: Dir is required")
	case c.Transport == nil && c.BindAddr == "":
		return errors.New("consensus: config: Transport or BindAddr is required")
	case c.Signer == nil:
		return errors.New("consensus: config: Signer (the court's key) is required")
	case c.Signer.Name() != c.Court:
		return fmt.Errorf("consensus: config: signer is named %q, court is %q", c.Signer.Name(), c.Court)
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 8192
	}
	c.Batch = c.Batch.withDefaults()
	return nil
}

// Ledger is one node of a court's replicated evidence ledger.
type Ledger struct {
	cfg      Config
	log      *slog.Logger
	fsm      *fsm
	rnode    atomic.Pointer[raft.Raft] // replaced when healing restarts Raft (heal.go)
	rc       *raft.Config
	guard    *guardTransport // owns the configured transport
	trans    raft.Transport  // guard, as Raft sees it
	logStore *raftboltdb.BoltStore
	snaps    *snapshotStore
	batcher  *batcher
	metrics  *metrics   // group commit and apply times (metrics.go)
	admit    *admission // bounds the submissions held at once (admission.go)
	work     *workPool  // signature checks and proofs, one goroutine per core (pool.go)
	// sigChecks counts the platform signature checks the leader made: one
	// per submission filed alone, one per signed batch.
	sigChecks atomic.Uint64

	// leaderSig and grownSig wake waiters on a change of leader or
	// readiness, and on growth of the own log (signal.go); obs carries
	// Raft's leader observations to leaderSig.
	leaderSig, grownSig signal
	obs                 chan raft.Observation

	rebuild atomic.Pointer[rebuildState] // set while the ledger is rebuilt
	synced  atomic.Bool                  // caught up with the court since (re)start
	seen    atomic.Uint64                // highest commit index a leader has sent
	// commitMsgs counts the leader's AppendEntries that carried a commit
	// index: CatchUp waits for the second one after it is called.
	commitMsgs atomic.Uint64
	restarts   atomic.Uint64
	stopped    atomic.Pointer[healFailure] // a restart stopped Raft and failed
	healMu     sync.Mutex                  // one restart at a time, and none during Close

	lagMu     sync.Mutex // guards the three below (health.go)
	lagMark   uint64
	lagAt     time.Time
	lagBehind bool

	closeOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup
}

// raftNode is this node's current Raft instance.
func (l *Ledger) raftNode() *raft.Raft { return l.rnode.Load() }

// Open starts a node: it opens (or creates) its stores in cfg.Dir, checks
// that the ledger file can carry Raft's state (checkLedgerAtOpen), joins
// Raft, and, when it is leader with a ready ledger, accepts submissions.
func Open(cfg Config) (*Ledger, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("consensus: %w", err)
	}
	l := &Ledger{cfg: cfg, log: cfg.Logger.With("court", cfg.Court, "node", cfg.NodeID), done: make(chan struct{}), metrics: newMetrics()}
	l.fsm = &fsm{path: filepath.Join(cfg.Dir, "ledger.db"), court: cfg.Court, log: l.log, grown: l.grownSig.fire,
		applyTime: l.metrics.apply}
	l.obs = make(chan raft.Observation, 16)
	if err := l.openStores(); err != nil {
		return nil, err
	}
	fail := func(err error) (*Ledger, error) {
		l.fsm.close()
		l.logStore.Close()
		l.guard.stopFilter()
		if cfg.Transport == nil {
			l.guard.closeInner()
		}
		return nil, err
	}
	if err := l.checkLedgerAtOpen(""); err != nil {
		return fail(err)
	}
	hasState, err := raft.HasExistingState(l.logStore, l.logStore, l.snaps)
	if err != nil {
		return fail(fmt.Errorf("consensus: %w", err))
	}
	r, err := l.newRaft()
	if err != nil {
		return fail(err)
	}
	if !hasState && len(cfg.Bootstrap) > 0 {
		var servers []raft.Server
		for _, s := range cfg.Bootstrap {
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(s.ID), Address: raft.ServerAddress(s.Address)})
		}
		if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			r.Shutdown().Error()
			return fail(fmt.Errorf("consensus: bootstrap: %w", err))
		}
	}
	l.work = newWorkPool()
	l.admit = newAdmission(cfg.Batch.MaxPending, time.Now) // a rate, not a time of record: the real clock
	l.rnode.Store(r)
	l.batcher = newBatcher(l)
	l.wg.Add(2)
	go l.supervise()
	go l.observe()
	return l, nil
}

// openStores opens what outlives a restart of Raft: its log and stable
// store, the snapshot store and the transport.
func (l *Ledger) openStores() error {
	cfg := l.cfg
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	// The ledger file already holds everything applied up to its recorded
	// index; restoring the last snapshot over it on every start would
	// rewrite the whole ledger for nothing. checkLedgerAtOpen makes sure it
	// does hold everything up to that snapshot's index.
	rc.NoSnapshotRestoreOnStart = true
	// BatchApplyCh stays off: futures buffered in Raft's apply channel are
	// never answered if Raft shuts down, and the batcher already batches.
	rc.MaxAppendEntries = 256
	rc.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, DisableTime: true,
		Output: slogWriter{l.log}})
	if cfg.Fast {
		rc.HeartbeatTimeout = 300 * time.Millisecond
		rc.ElectionTimeout = 300 * time.Millisecond
		rc.LeaderLeaseTimeout = 150 * time.Millisecond
		rc.CommitTimeout = 5 * time.Millisecond
	}
	l.rc = rc

	store, err := raftboltdb.New(raftboltdb.Options{Path: l.raftPath(), BoltOptions: boltOptions()})
	if err != nil {
		return fmt.Errorf("consensus: raft store %s: %w", l.raftPath(), err)
	}
	snaps, err := openSnapshotStore(cfg.Dir, rc.Logger, l.log)
	if err != nil {
		store.Close()
		return err
	}
	trans := cfg.Transport
	if trans == nil {
		adv := cfg.AdvertiseAddr
		if adv == "" {
			adv = cfg.BindAddr
		}
		addr, err := net.ResolveTCPAddr("tcp", adv)
		if err != nil {
			store.Close()
			return fmt.Errorf("consensus: advertise address: %w", err)
		}
		trans, err = raft.NewTCPTransportWithLogger(cfg.BindAddr, addr, 3, 10*time.Second, rc.Logger)
		if err != nil {
			store.Close()
			return fmt.Errorf("consensus: transport: %w", err)
		}
	}
	l.logStore, l.snaps = store, snaps
	l.guard, l.trans = wrapTransport(trans, l.refuseVote, l.refuseLead, l.sawCommit)
	l.fsm.logs = store
	l.fsm.snapshotIndex = func() uint64 {
		if list, err := snaps.List(); err == nil && len(list) > 0 {
			return list[0].Index
		}
		return 0
	}
	return nil
}

// newRaft starts Raft over the open stores and the checked ledger.
func (l *Ledger) newRaft() (*raft.Raft, error) {
	r, err := raft.NewRaft(l.rc, l.fsm, l.logStore, l.logStore, l.snaps, l.trans)
	if err != nil {
		return nil, fmt.Errorf("consensus: start raft: %w", err)
	}
	r.RegisterObserver(raft.NewObserver(l.obs, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	}))
	return r, nil
}

// observe turns Raft's leader observations, of every Raft this node runs
// (healing restarts it), into leaderSig.
func (l *Ledger) observe() {
	defer l.wg.Done()
	for {
		select {
		case <-l.done:
			return
		case <-l.obs:
			l.leaderSig.fire()
		}
	}
}

// Close stops the node: pending submissions fail, Raft shuts down, files
// are closed. Data on disk is kept.
func (l *Ledger) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		// Raft first: it fails every pending future, so the batcher's
		// completion goroutine never waits out a commit timeout.
		l.healMu.Lock()
		err = l.raftNode().Shutdown().Error()
		l.healMu.Unlock()
		l.batcher.stop()
		l.work.close()
		l.wg.Wait()
		l.guard.closeInner()
		if cerr := l.logStore.Close(); err == nil {
			err = cerr
		}
		if cerr := l.fsm.close(); err == nil {
			err = cerr
		}
	})
	return err
}

// NotLeaderError says this node cannot take writes, and who can if known.
type NotLeaderError struct {
	LeaderID   string
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return "consensus: unavailable, not leader and no leader known"
	}
	return fmt.Sprintf("consensus: unavailable, not leader; leader is %s at %s", e.LeaderID, e.LeaderAddr)
}

// ErrNotLeader matches every *NotLeaderError with errors.Is.
var ErrNotLeader = errors.New("consensus: not leader")

func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

func (l *Ledger) notLeader() error {
	addr, id := l.raftNode().LeaderWithID()
	return &NotLeaderError{LeaderID: string(id), LeaderAddr: string(addr)}
}

// Leader returns the current leader's node ID and Raft address, empty if none.
func (l *Ledger) Leader() (id, addr string) {
	a, i := l.raftNode().LeaderWithID()
	return string(i), string(a)
}

// IsLeader reports whether this node is the leader and ready for writes.
func (l *Ledger) IsLeader() bool { return l.batcher.ready() }

func (l *Ledger) apply(ctx context.Context, cmd []byte) error {
	if l.raftNode().State() != raft.Leader {
		return l.notLeader()
	}
	timeout := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	f := l.raftNode().Apply(cmd, timeout)
	if err := f.Error(); err != nil {
		return raftErr(l, err)
	}
	if err, ok := f.Response().(error); ok && err != nil {
		return err
	}
	return nil
}

// raftErr turns Raft's errors about leadership into NotLeaderError, which
// callers retry elsewhere: the command may or may not commit later.
func raftErr(l *Ledger, err error) error {
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) ||
		errors.Is(err, raft.ErrLeadershipTransferInProgress) || errors.Is(err, raft.ErrRaftShutdown) {
		return fmt.Errorf("%w (%v)", l.notLeader(), err)
	}
	return fmt.Errorf("consensus: raft: %w", err)
}

// RegisterPlatform records a platform's SM2 key, after which its
// submissions are accepted. Leader only.
func (l *Ledger) RegisterPlatform(ctx context.Context, id string, pub *sm2.PublicKey) error {
	if !evidence.ValidPlatformID(id) {
		return &evidence.FieldError{Field: "platform", Reason: evidence.ErrPlatformID, Detail: fmt.Sprintf("%q", id)}
	}
	return l.apply(ctx, (&registerPlatform{id: id, der: pub.MarshalPKIX(), at: l.cfg.Clock().UnixMilli()}).encode())
}

// RevokePlatform stops accepting a platform's submissions; its entries
// stay. Leader only.
func (l *Ledger) RevokePlatform(ctx context.Context, id string) error {
	return l.apply(ctx, (&revokePlatform{id: id, at: l.cfg.Clock().UnixMilli()}).encode())
}

// PlatformKey returns the active key of a platform.
func (l *Ledger) PlatformKey(id string) (*sm2.PublicKey, error) { return l.fsm.platformKey(id) }

// AddVoter adds a node to the court (or replaces its address). Leader only.
func (l *Ledger) AddVoter(ctx context.Context, s Server) error {
	if l.raftNode().State() != raft.Leader {
		return l.notLeader()
	}
	return raftErrOrNil(l, l.raftNode().AddVoter(raft.ServerID(s.ID), raft.ServerAddress(s.Address), 0, timeoutOf(ctx)).Error())
}

// RemoveServer removes a node from the court. Leader only.
func (l *Ledger) RemoveServer(ctx context.Context, id string) error {
	if l.raftNode().State() != raft.Leader {
		return l.notLeader()
	}
	return raftErrOrNil(l, l.raftNode().RemoveServer(raft.ServerID(id), 0, timeoutOf(ctx)).Error())
}

func raftErrOrNil(l *Ledger, err error) error {
	if err == nil {
		return nil
	}
	return raftErr(l, err)
}

func timeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return 10 * time.Second
}

// Servers returns the court's current Raft configuration.
func (l *Ledger) Servers() ([]Server, error) {
	f := l.raftNode().GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	var out []Server
	for _, s := range f.Configuration().Servers {
		out = append(out, Server{ID: string(s.ID), Address: string(s.Address)})
	}
	return out, nil
}

// Status is a node's view of its court.
type Status struct {
	NodeID       string
	State        string // Leader, Follower, Candidate, Shutdown
	LeaderID     string
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64 // last Raft index in the ledger file
	Size         uint64 // entries in the ledger
}

// Status reports this node's view.
func (l *Ledger) Status() Status {
	id, _ := l.Leader()
	return Status{
		NodeID:       l.cfg.NodeID,
		State:        l.raftNode().State().String(),
		LeaderID:     id,
		Term:         l.raftNode().CurrentTerm(),
		CommitIndex:  l.raftNode().CommitIndex(),
		AppliedIndex: l.fsm.appliedIndex(),
		Size:         l.fsm.size(),
	}
}

// Snapshot makes Raft take a snapshot now and compact its log.
func (l *Ledger) Snapshot() error { return l.raftNode().Snapshot().Error() }

// Barrier waits until this leader has applied everything committed before.
func (l *Ledger) Barrier(ctx context.Context) error {
	return raftErrOrNil(l, l.raftNode().Barrier(timeoutOf(ctx)).Error())
}

// ReadBarrier makes the next read linearizable: it confirms this node is
// still leader and waits until it has applied all it had committed. On a
// follower it returns NotLeaderError, and the read goes to the leader.
func (l *Ledger) ReadBarrier(ctx context.Context) error {
	if l.raftNode().State() != raft.Leader {
		return l.notLeader()
	}
	commit := l.raftNode().CommitIndex()
	if err := l.raftNode().VerifyLeader().Error(); err != nil {
		return raftErr(l, err)
	}
	// appliedThrough, not the ledger's applied index: the last committed
	// entry may be a no-op or barrier, which the ledger never sees.
	for l.fsm.appliedThrough(commit) < commit {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// Size is the number of entries this node has applied.
func (l *Ledger) Size() uint64 { return l.fsm.size() }

// slogWriter carries Raft's hclog lines into the node's slog logger.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelWarn
	for prefix, l := range map[string]slog.Level{"[ERROR]": slog.LevelError, "[INFO]": slog.LevelInfo, "[DEBUG]": slog.LevelDebug} {
		if strings.HasPrefix(line, prefix) {
			level = l
		}
	}
	w.log.Log(context.Background(), level, line)
	return len(p), nil
}
