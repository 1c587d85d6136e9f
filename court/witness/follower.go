package witness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/evidence"
)

// Ledger is what the followers read from this court's ledger and propose
// to it; *consensus.Ledger is one.
type Ledger interface {
	IsLeader() bool
	Size() uint64 // of this court's own log: its newest head's, once applied
	// Grown returns a channel closed the next time this court's own log
	// grows, so an idle follower waits for it instead of polling Size.
	Grown() <-chan struct{}
	LatestHead() (consensus.SignedHead, error)
	Log(court string) *consensus.LogView
	Mirror(court string) (consensus.MirrorState, error)
	Alarmed(court string) bool
	AppendMirror(ctx context.Context, court string, entries, heads [][]byte, cosig []byte, checked time.Time) error
	RaiseAlarm(ctx context.Context, a consensus.Alarm) error
}

// Config tunes cross-court sync; zero values take the defaults.
type Config struct {
	// Interval between rounds with each court while something changes
	// (default 1 s).
	Interval time.Duration
	// IdleInterval caps the wait between rounds with a court while
	// nothing changes (default 15 × Interval: 15 s): each round that finds
	// nothing new doubles the wait, from Interval up to IdleInterval. A
	// new head of this court, or a head of the court gossiped beyond the
	// mirror, ends the wait at once, so a new filing is mirrored as
	// promptly as at Interval; an idle network costs a round per court
	// every IdleInterval instead of every Interval.
	IdleInterval time.Duration
	// MaxBackoff caps the wait after failures (default 30 s).
	MaxBackoff time.Duration
	// ChunkBytes: entries are proposed to Raft in chunks of about this
	// many bytes, cut at a head of the origin (default 1 MiB).
	ChunkBytes int
	// FreshEvery is how often, at most, a mirror found current records so
	// through Raft, which is what its freshness says (default 2 s, at
	// least Interval). Rounds are IdleInterval apart when nothing changes,
	// so an idle mirror's freshness is at most about IdleInterval old.
	FreshEvery time.Duration
	// NoWatch turns off watching the other courts' heads (WatchHeads):
	// a filing elsewhere is then mirrored at the next round only, as
	// before the watch existed. For measuring what the watch brings
	// (benchcourt visibility) and for tests of the poll alone.
	NoWatch bool
	// Dial, if set, opens connections to other courts (tests inject faults
	// here).
	Dial func(ctx context.Context, addr string) (net.Conn, error)
}

func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.IdleInterval < c.Interval {
		c.IdleInterval = 15 * c.Interval
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.ChunkBytes <= 0 {
		c.ChunkBytes = 1 << 20
	}
	if c.FreshEvery < c.Interval {
		c.FreshEvery = max(c.Interval, 2*time.Second)
	}
	return c
}

// Options are what a Syncer works with.
type Options struct {
	Config
	Ledger   Ledger
	Courts   *Courts
	Cosigner *checkpoint.Cosigner // this court as a witness
	// DialCourt is the transport to a node of another court: mutual TLS,
	// the server's certificate naming a node of that court.
	DialCourt    func(court string) grpc.DialOption
	MaxRecvBytes int // bound of a message received from another court
	// CallContext, if set, is the outgoing context of a call to court: in
	// plain-text mode the credential that names this court to it (with
	// TLS the node's certificate does, and it is nil).
	CallContext func(ctx context.Context, court string) context.Context
	Clock       func() time.Time
	Logger      *slog.Logger
	// OnAlarm and OnMirrored, if set, count alarms raised and entries
	// mirrored (the node's metrics).
	OnAlarm    func(court string, kind consensus.AlarmKind)
	OnMirrored func(court string, entries int)
}

// Syncer runs, while this node leads its court, one follower per other
// court: it mirrors that court's log, cosigns its heads, gossips heads and
// raises alarms. See docs/sync-protocol.md.
type Syncer struct {
	cfg    Options
	ledger Ledger
	courts *Courts
	log    *slog.Logger

	mu        sync.Mutex
	followers map[string]*follower
}

// follower is the state of following one court. Everything durable is in
// the ledger (the mirror and its head); this is only what a new leader can
// rebuild.
type follower struct {
	s     *Syncer
	court *otherCourt
	log   *slog.Logger

	mu       sync.Mutex
	conns    []*grpc.ClientConn
	clients  []pb.SyncServiceClient
	next     int     // endpoint to try first
	lastErr  error   // of the last round
	pending  []claim // gossiped heads beyond the mirror, checked as it grows
	rounds   uint64
	lastGood time.Time
	// delivered is the size of the newest head whose cosignature the court
	// accepted; a newer one is sent again each round until it is.
	delivered uint64
	// gossiped is the size of this court's own head last sent to the
	// court; a newer head ends an idle wait.
	gossiped uint64
	// kick ends an idle wait: a head of the court was gossiped or pushed
	// (watch.go) beyond the mirror.
	kick chan struct{}
	// hint is the newest head the court pushed, of size hintSize
	// (watch.go).
	hint     []byte
	hintSize uint64
}

// New makes a Syncer; Run runs it.
func New(o Options) *Syncer {
	o.Config = o.Config.withDefaults()
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.OnAlarm == nil {
		o.OnAlarm = func(string, consensus.AlarmKind) {}
	}
	if o.OnMirrored == nil {
		o.OnMirrored = func(string, int) {}
	}
	s := &Syncer{cfg: o, ledger: o.Ledger, courts: o.Courts, log: o.Logger.With("part", "sync"), followers: map[string]*follower{}}
	for id, c := range o.Courts.others {
		s.followers[id] = &follower{s: s, court: c, log: s.log.With("peer_court", id), kick: make(chan struct{}, 1)}
	}
	return s
}

// Run follows every other court until done is closed.
func (s *Syncer) Run(done <-chan struct{}) {
	var wg sync.WaitGroup
	for _, f := range s.followers {
		wg.Add(1)
		go func() { defer wg.Done(); f.run(done) }()
	}
	wg.Wait()
	for _, f := range s.followers {
		f.close()
	}
}

func (f *follower) run(done <-chan struct{}) {
	var watching sync.WaitGroup
	defer watching.Wait() // after cancelAll, below: the watch ends first
	base, cancelAll := context.WithCancel(context.Background())
	defer cancelAll()
	go func() { <-done; cancelAll() }()
	if !f.s.cfg.NoWatch {
		watching.Add(1)
		go func() { defer watching.Done(); f.watch(base) }()
	}
	backoff := time.Duration(0)
	idle := f.s.cfg.Interval // the wait while nothing changes: doubles up to IdleInterval
	for {
		// A node that does not lead checks again within a second: once it
		// leads, its watch may wake it at any time (watch.go).
		wait, wakeable := f.leaderCheck(), false
		if f.s.ledger.IsLeader() {
			ctx, cancel := context.WithTimeout(base, 5*time.Minute)
			changed, err := f.round(ctx)
			cancel()
			f.mu.Lock()
			f.lastErr = err
			f.rounds++
			if err == nil {
				f.lastGood = time.Now()
			}
			f.mu.Unlock()
			if err != nil && !errors.Is(err, consensus.ErrAlarmed) {
				backoff = min(max(2*backoff, f.s.cfg.Interval), f.s.cfg.MaxBackoff)
				wait = backoff
				f.log.Warn("sync round failed", "err", err, "retry_in", wait)
			} else {
				backoff = 0
				if changed {
					idle = f.s.cfg.Interval
				} else {
					idle = min(2*idle, f.s.cfg.IdleInterval)
				}
				wait, wakeable = idle, err == nil
			}
		}
		if !f.sleep(done, wait, wakeable) {
			return
		}
	}
}

// sleep waits d, or until done is closed (false). If wakeable, a kick or
// this court's own head moving past what the court was last sent ends the
// wait early; the ledger signals each growth of the own log (Grown). After
// a failure the wait is a backoff and nothing ends it early.
func (f *follower) sleep(done <-chan struct{}, d time.Duration, wakeable bool) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		var (
			grown <-chan struct{}
			kick  <-chan struct{}
		)
		if wakeable {
			grown, kick = f.s.ledger.Grown(), f.kick // taken before the check below: no growth is missed
			if f.ownHeadMoved() {
				return true
			}
		}
		select {
		case <-done:
			return false
		case <-timer.C:
			return true
		case <-kick:
			return true
		case <-grown:
		}
	}
}

func (f *follower) ownHeadMoved() bool {
	size := f.s.ledger.Size()
	f.mu.Lock()
	defer f.mu.Unlock()
	return size != f.gossiped
}

// wake ends the follower's idle wait, if it is in one.
func (f *follower) wake() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

func (f *follower) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
	f.conns, f.clients = nil, nil
}

// call runs fn against the court's endpoints in turn, starting with the
// one that worked last, until one succeeds.
func (f *follower) call(ctx context.Context, fn func(context.Context, pb.SyncServiceClient) error) error {
	clients, err := f.connect()
	if err != nil {
		return err
	}
	f.mu.Lock()
	start := f.next
	f.mu.Unlock()
	var errs []error
	for i := range clients {
		k := (start + i) % len(clients)
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		if cc := f.s.cfg.CallContext; cc != nil {
			cctx = cc(cctx, f.court.Court)
		}
		err := fn(cctx, clients[k])
		cancel()
		if err == nil {
			f.mu.Lock()
			f.next = k
			f.mu.Unlock()
			return nil
		}
		var sr stopRetry
		if errors.As(err, &sr) || ctx.Err() != nil {
			return err
		}
		errs = append(errs, fmt.Errorf("%s: %w", f.court.Endpoints[k], err))
	}
	return fmt.Errorf("court %s unreachable: %w", f.court.Court, errors.Join(errs...))
}

// connect returns a client of each of the court's endpoints, connecting
// the first time.
func (f *follower) connect() ([]pb.SyncServiceClient, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.clients != nil {
		return f.clients, nil
	}
	for _, ep := range f.court.Endpoints {
		opts := []grpc.DialOption{f.s.cfg.DialCourt(f.court.Court), // mutual TLS: a node of that court
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(f.s.cfg.MaxRecvBytes))}
		if d := f.s.cfg.Dial; d != nil {
			opts = append(opts, grpc.WithContextDialer(d))
		}
		cc, err := grpc.NewClient(ep, opts...)
		if err != nil {
			for _, c := range f.conns {
				c.Close()
			}
			f.conns, f.clients = nil, nil
			return nil, fmt.Errorf("connect to %s at %s: %w", f.court.Court, ep, err)
		}
		f.conns = append(f.conns, cc)
		f.clients = append(f.clients, pb.NewSyncServiceClient(cc))
	}
	return f.clients, nil
}

// round is one pass of the protocol with one court: fetch and check its
// newest head, mirror what is new, cosign, exchange heads. changed reports
// that something moved: the mirror grew, a cosignature was still owed, or
// this court's own head was new to the court; the next round then comes
// soon rather than after an idle wait.
func (f *follower) round(ctx context.Context) (changed bool, err error) {
	l := f.s.ledger
	id := f.court.Court
	if l.Alarmed(id) {
		return false, fmt.Errorf("%w: %s", consensus.ErrAlarmed, id)
	}
	st, err := l.Mirror(id)
	if err != nil {
		return false, err
	}
	var note []byte
	err = f.call(ctx, func(ctx context.Context, c pb.SyncServiceClient) error {
		r, err := c.GetCheckpoint(ctx, &pb.GetCheckpointRequest{FromCourt: f.s.courts.self})
		if err != nil {
			return err
		}
		note = []byte(r.Note)
		return nil
	})
	if err != nil {
		return false, err
	}
	note = f.newest(note, st.Size)
	if len(note) == 0 {
		// The court (or the node that answered, if it lags far behind)
		// holds no head yet: nothing to mirror, but heads to exchange.
		return f.gossip(ctx)
	}
	h, err := f.open(ctx, note, st)
	if err != nil {
		return false, err
	}
	switch {
	case h.Size < st.Size:
		// A node of the court that lags: fine if its head is a prefix of
		// what the mirror holds.
		if err := f.checkAgainstMirror(ctx, note, h, st, id); err != nil {
			return false, err
		}
	case h.Size == st.Size:
		if !bytes.Equal(h.Root, st.Head.Head.Root) {
			return false, f.alarm(ctx, consensus.AlarmSameSize, st.Head.Note, note, id,
				fmt.Sprintf("two heads of size %d with roots %x and %x", h.Size, st.Head.Head.Root, h.Root))
		}
		if f.undelivered(st) {
			changed = true
			f.sendCosignature(ctx)
		}
		// The mirror is current: say so, through Raft, at most every
		// FreshEvery; idle rounds are IdleInterval apart.
		if time.Since(st.Checked) >= f.s.cfg.FreshEvery {
			if err := l.AppendMirror(ctx, id, nil, nil, nil, f.s.cfg.Clock()); err != nil {
				return false, fmt.Errorf("record freshness of %s: %w", id, err)
			}
		}
	default:
		changed = true
		if err := f.catchUp(ctx, st, note, h); err != nil {
			return false, err
		}
	}
	f.checkPending(ctx)
	newOwn, err := f.gossip(ctx)
	// A head gossiped beyond what the mirror reached (the node asked may
	// not have applied it yet) means the court has more: the next round
	// comes soon, not after an idle wait.
	return changed || newOwn || f.awaiting(), err
}

// awaiting reports whether a gossiped head of the court is beyond the
// mirror.
func (f *follower) awaiting() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pending) > 0
}

// open checks a head of the court: its signature by one of the court's
// keys. A head that does not verify, or is signed only by a key this court
// was not given, is misbehaviour; one that is not even a signed
// note is a transport fault, retried.
func (f *follower) open(ctx context.Context, note []byte, st consensus.MirrorState) (checkpoint.TreeHead, error) {
	h, _, err := checkpoint.OpenAny(note, f.court.verifiers)
	switch {
	case err == nil:
		return h, nil
	case errors.Is(err, checkpoint.ErrSignature) || errors.Is(err, checkpoint.ErrOrigin):
		return h, f.alarm(ctx, consensus.AlarmBadSignature, st.Head.Note, note, f.court.Court, err.Error())
	default:
		return h, fmt.Errorf("head of %s: %w", f.court.Court, err)
	}
}

// checkAgainstMirror checks a verified head of size at most the mirror's
// against the mirror's root at its size.
func (f *follower) checkAgainstMirror(ctx context.Context, note []byte, h checkpoint.TreeHead, st consensus.MirrorState, source string) error {
	root, err := f.s.ledger.Log(f.court.Court).RootAt(h.Size)
	if err != nil {
		return err
	}
	if bytes.Equal(root, h.Root) {
		return nil
	}
	kind, what := consensus.AlarmInconsistent, "a head"
	if source != f.court.Court {
		kind, what = consensus.AlarmGossip, "a head gossiped by "+source
	}
	return f.alarm(ctx, kind, st.Head.Note, note, source,
		fmt.Sprintf("%s of size %d has root %x; the mirror, verified against the court's own heads, has %x", what, h.Size, h.Root, root))
}

func (f *follower) alarm(ctx context.Context, kind consensus.AlarmKind, held, conflict []byte, source, detail string) error {
	a := consensus.Alarm{Court: f.court.Court, Kind: kind, Detail: detail, Held: held, Conflict: conflict, Source: source}
	f.log.Error("EQUIVOCATION: court misbehaved; mirroring it stops until an operator clears the alarm",
		"kind", kind, "detail", detail, "source", source)
	f.s.cfg.OnAlarm(f.court.Court, kind)
	if err := f.s.ledger.RaiseAlarm(ctx, a); err != nil {
		return fmt.Errorf("raise alarm on %s: %w (detail: %s)", f.court.Court, err, detail)
	}
	return fmt.Errorf("%w: %s: %s: %s", consensus.ErrAlarmed, f.court.Court, kind, detail)
}

// catchUp mirrors entries [st.Size, h.Size): it checks the consistency
// proof from the head held, then streams the entries, rebuilding the root
// at each of the court's heads on the way, and proposes them in chunks cut
// at heads, so that every chunk Raft applies ends at a signed root.
func (f *follower) catchUp(ctx context.Context, st consensus.MirrorState, note []byte, h checkpoint.TreeHead) error {
	if err := f.checkConsistency(ctx, st, note, h); err != nil {
		return err
	}
	rng, err := f.s.ledger.Log(f.court.Court).Range(st.Size)
	if err != nil {
		return err
	}
	c := &chunker{f: f, final: h}
	end := min(h.Size, st.Size+MaxRange)
	at := st.Size
	err = f.call(ctx, func(ctx context.Context, sc pb.SyncServiceClient) error {
		stream, err := sc.StreamEntries(ctx, &pb.StreamEntriesRequest{Start: at, End: end, PageSize: MaxPage})
		if err != nil {
			return err
		}
		for {
			page, err := stream.Recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if page.Start != at {
				return fmt.Errorf("page starts at %d, want %d", page.Start, at)
			}
			if at, err = f.takePage(ctx, page, st, note, h, rng, c); err != nil {
				return err
			}
		}
	})
	if err != nil {
		var sr stopRetry
		if errors.As(err, &sr) {
			return sr.err
		}
		return err
	}
	id := f.court.Court
	if at != end {
		return fmt.Errorf("stream of %s ended at %d, want %d", id, at, end)
	}
	if end == h.Size && !c.endsAtHead() {
		return f.alarm(ctx, consensus.AlarmBadEntries, note, nil, id, fmt.Sprintf("the court sent no head at size %d with its entries", end))
	}
	// Entries after the last head of the chunk wait for the next round.
	if err := c.flush(ctx, end == h.Size); err != nil {
		return err
	}
	if end == h.Size {
		f.sendCosignature(ctx)
	}
	return nil
}

// checkConsistency checks the court's consistency proof from the head the
// mirror holds to h; a proof that fails is an alarm.
func (f *follower) checkConsistency(ctx context.Context, st consensus.MirrorState, note []byte, h checkpoint.TreeHead) error {
	if st.Size == 0 {
		return nil
	}
	var proof [][]byte
	err := f.call(ctx, func(ctx context.Context, c pb.SyncServiceClient) error {
		r, err := c.GetConsistency(ctx, &pb.GetConsistencyRequest{FromSize: st.Size, ToSize: h.Size})
		if err != nil {
			return err
		}
		proof = r.Proof
		return nil
	})
	if err != nil {
		return err
	}
	if err := merkle.VerifyConsistency(st.Size, h.Size, proof, st.Head.Head.Root, h.Root); err != nil {
		return f.alarm(ctx, consensus.AlarmInconsistent, st.Head.Note, note, f.court.Court,
			fmt.Sprintf("consistency proof from size %d to %d fails: %v", st.Size, h.Size, err))
	}
	return nil
}

// takePage checks one page of streamed entries and the heads sent with it:
// every head verifies under the court's keys and agrees with h at h's size,
// every entry is the court's at its index, and the entries rebuild each
// head's root. Entries go to the chunker; the next index is returned.
// Any failure here is the court's (an alarm) or the ledger's, so another
// endpoint is not tried.
func (f *follower) takePage(ctx context.Context, page *pb.EntriesPage, st consensus.MirrorState, note []byte, h checkpoint.TreeHead, rng *merkle.Range, c *chunker) (uint64, error) {
	id, at := f.court.Court, page.Start
	heads := make(map[uint64][]byte, len(page.Heads))
	for _, hn := range page.Heads {
		ph, err := f.open(ctx, []byte(hn), st)
		if err != nil {
			return at, stopRetrying(err)
		}
		heads[ph.Size] = []byte(hn)
		if ph.Size == h.Size && !bytes.Equal(ph.Root, h.Root) {
			return at, stopRetrying(f.alarm(ctx, consensus.AlarmSameSize, note, []byte(hn), id,
				fmt.Sprintf("two heads of size %d with roots %x and %x", h.Size, h.Root, ph.Root)))
		}
	}
	for _, raw := range page.Entries {
		e, err := evidence.UnmarshalEntry(raw)
		if err != nil || e.Court != id || e.Index != at {
			return at, stopRetrying(f.alarm(ctx, consensus.AlarmBadEntries, note, nil, id,
				fmt.Sprintf("entry at %d is not an entry of %s at that index (%v)", at, id, err)))
		}
		if err := rng.Append(merkle.LeafHash(raw), nil); err != nil {
			return at, stopRetrying(err)
		}
		at++
		c.add(raw)
		hn, ok := heads[at]
		if !ok {
			continue
		}
		ph, _ := checkpoint.ParseUnverified(hn)
		if root := rng.Root(); !bytes.Equal(root, ph.Root) {
			return at, stopRetrying(f.alarm(ctx, consensus.AlarmBadEntries, hn, nil, id,
				fmt.Sprintf("entries %d..%d rebuild root %x; the court's head of size %d says %x", st.Size, at, root, at, ph.Root)))
		}
		if err := c.head(ctx, hn, at); err != nil {
			return at, stopRetrying(err)
		}
	}
	return at, nil
}

// chunker gathers streamed entries and proposes them to the mirror in
// chunks of about ChunkBytes, each ending at a head of the court, so that
// every chunk Raft applies ends at a signed root.
type chunker struct {
	f      *follower
	final  checkpoint.TreeHead // the head being caught up to
	chunk  [][]byte            // entries not yet proposed
	heads  [][]byte            // heads at sizes within chunk
	atHead int                 // len(chunk) at its last head: what can be proposed
	bytes  int
}

func (c *chunker) add(raw []byte) {
	c.chunk, c.bytes = append(c.chunk, raw), c.bytes+len(raw)
}

// head records that the entries so far end at the checked head hn of size
// at, and proposes them if the chunk is full.
func (c *chunker) head(ctx context.Context, hn []byte, at uint64) error {
	c.heads, c.atHead = append(c.heads, hn), len(c.chunk)
	if c.bytes >= c.f.s.cfg.ChunkBytes || len(c.chunk) >= consensus.MaxBatchEntries {
		return c.flush(ctx, at == c.final.Size)
	}
	return nil
}

// endsAtHead reports whether every entry gathered is covered by a head.
func (c *chunker) endsAtHead() bool { return c.atHead == len(c.chunk) }

// flush proposes the chunk up to its last head, with this court's
// cosignature on that head if it is the final one; entries after it wait
// for the next head.
func (c *chunker) flush(ctx context.Context, final bool) error {
	if c.atHead == 0 {
		return nil
	}
	f, id := c.f, c.f.court.Court
	var cosig []byte
	last := c.heads[len(c.heads)-1]
	if final {
		line, err := checkpoint.Cosign(last, f.s.cfg.Cosigner)
		if err != nil {
			return err
		}
		cosig = line
	}
	if err := f.s.ledger.AppendMirror(ctx, id, c.chunk[:c.atHead], c.heads, cosig, f.s.cfg.Clock()); err != nil {
		return fmt.Errorf("mirror %d entries of %s: %w", c.atHead, id, err)
	}
	f.s.cfg.OnMirrored(id, c.atHead)
	c.chunk = append([][]byte(nil), c.chunk[c.atHead:]...)
	c.heads, c.atHead, c.bytes = nil, 0, 0
	for _, raw := range c.chunk {
		c.bytes += len(raw)
	}
	return nil
}

// callTimeout bounds one call to another court, a stream of entries
// included.
const callTimeout = 2 * time.Minute

// stopRetry marks an error after which trying another endpoint is wrong
// (an alarm was raised, or the ledger refused).
type stopRetry struct{ err error }

func (s stopRetry) Error() string  { return s.err.Error() }
func stopRetrying(err error) error { return stopRetry{err} }

// sendCosignature gives the court this court's cosignature on the newest
// head mirrored. Best effort: the court collects it next round otherwise.
func (f *follower) sendCosignature(ctx context.Context) {
	st, err := f.s.ledger.Mirror(f.court.Court)
	if err != nil || st.Head.Note == nil {
		return
	}
	err = f.call(ctx, func(ctx context.Context, c pb.SyncServiceClient) error {
		_, err := c.AddCosignature(ctx, &pb.AddCosignatureRequest{Witness: f.s.courts.self, CosignedNote: string(st.Head.Note)})
		return err
	})
	if err != nil {
		f.log.Warn("cosignature not delivered; retried next round", "size", st.Head.Head.Size, "err", err)
		return
	}
	f.mu.Lock()
	f.delivered = max(f.delivered, st.Head.Head.Size)
	f.mu.Unlock()
}

func (f *follower) undelivered(st consensus.MirrorState) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return st.Head.Note != nil && st.Head.Head.Size > f.delivered
}

// gossip exchanges the newest heads held of every court with the court;
// newOwn reports that this court's own head was new to it.
func (f *follower) gossip(ctx context.Context) (newOwn bool, err error) {
	own := f.s.ledger.Size() // read first: the heads sent are at least as new
	var theirs []string
	err = f.call(ctx, func(ctx context.Context, c pb.SyncServiceClient) error {
		r, err := c.ExchangeHeads(ctx, &pb.ExchangeHeadsRequest{FromCourt: f.s.courts.self, Heads: f.s.HeldHeads()})
		if err != nil {
			return err
		}
		theirs = r.Heads
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("exchange heads: %w", err)
	}
	f.mu.Lock()
	newOwn, f.gossiped = own != f.gossiped, own
	f.mu.Unlock()
	if len(theirs) > MaxGossip {
		theirs = theirs[:MaxGossip]
	}
	for _, h := range theirs {
		f.s.CheckGossip(ctx, []byte(h), f.court.Court)
	}
	return newOwn, nil
}

// HeldHeads is the newest head held of every court: this court's own and
// each mirror's.
func (s *Syncer) HeldHeads() []string {
	var out []string
	if h, err := s.ledger.LatestHead(); err == nil {
		out = append(out, string(h.Note))
	}
	for id := range s.courts.others {
		if st, err := s.ledger.Mirror(id); err == nil && st.Head.Note != nil {
			out = append(out, string(st.Head.Note))
		}
	}
	return out
}

// CheckGossip checks a head of some court that source says it holds. A
// head not signed by its court proves nothing and is dropped; one that
// conflicts with what this court holds raises an alarm on its court; one
// beyond the mirror waits until the mirror reaches it.
func (s *Syncer) CheckGossip(ctx context.Context, note []byte, source string) {
	h, err := checkpoint.ParseUnverified(note)
	if err != nil {
		return
	}
	if h.Origin == s.courts.self {
		if _, _, err := checkpoint.OpenAny(note, s.courts.verifiers); err != nil {
			return
		}
		root, err := s.ledger.Log(h.Origin).RootAt(h.Size)
		if err == nil && !bytes.Equal(root, h.Root) {
			s.log.Error("a head signed with this court's key conflicts with its ledger: the key may be compromised",
				"size", h.Size, "source", source)
		}
		return
	}
	f, ok := s.followers[h.Origin]
	if !ok {
		return
	}
	if _, _, err := checkpoint.OpenAny(note, f.court.verifiers); err != nil {
		return
	}
	f.checkClaim(ctx, note, h, source, true)
}

// checkClaim checks a head of the court that source says it holds; one
// beyond the mirror waits, and if wake, ends the follower's idle wait.
func (f *follower) checkClaim(ctx context.Context, note []byte, h checkpoint.TreeHead, source string, wake bool) {
	l := f.s.ledger
	if l.Alarmed(f.court.Court) {
		return
	}
	st, err := l.Mirror(f.court.Court)
	if err != nil {
		return
	}
	if h.Size > st.Size {
		f.mu.Lock()
		if len(f.pending) < MaxGossip {
			f.pending = append(f.pending, claim{note, source})
		}
		f.mu.Unlock()
		if wake {
			// The court has grown: mirror it now, not after an idle wait.
			f.wake()
		}
		return
	}
	if err := f.checkAgainstMirror(ctx, note, h, st, source); err != nil {
		f.log.Warn("gossiped head", "source", source, "err", err)
	}
}

func (f *follower) checkPending(ctx context.Context) {
	f.mu.Lock()
	pending := f.pending
	f.pending = nil
	f.mu.Unlock()
	for _, c := range pending {
		h, err := checkpoint.ParseUnverified(c.note)
		if err == nil {
			f.checkClaim(ctx, c.note, h, c.source, false)
		}
	}
}

// claim is a head of the court that another court said it holds.
type claim struct {
	note   []byte
	source string
}

// Status is what the syncer knows of its mirror of one court.
type Status struct {
	Court     string
	Size      uint64
	Alarmed   bool
	Head      consensus.SignedHead // Note is nil before the first head
	Checked   time.Time            // when the mirror was last found current; zero: never
	LastError error                // of the last round, known on the leader only
}

// Status reports each mirror, as GetSyncStatus does.
func (s *Syncer) Status() []Status {
	var out []Status
	for id, f := range s.followers {
		st, err := s.ledger.Mirror(id)
		ms := Status{Court: id}
		if err == nil {
			ms.Size, ms.Alarmed, ms.Head, ms.Checked = st.Size, st.Alarm != nil, st.Head, st.Checked
		}
		f.mu.Lock()
		ms.LastError = f.lastErr
		f.mu.Unlock()
		out = append(out, ms)
	}
	return out
}
