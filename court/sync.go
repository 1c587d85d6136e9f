package court

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"google.golang.org/grpc"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/evidence"
)

// OtherCourt is another court of the network: this court mirrors its log,
// witnesses its heads, and trusts nothing of it but what its keys sign.
type OtherCourt struct {
	Court     string
	Endpoints []string       // gRPC addresses of its nodes; any of them serves sync
	Key       *sm2.PublicKey // its court key: the trust anchor
	// Keys are more keys of the court, trusted as Key is: the ones it
	// signed with before rotating its key (its old heads keep their
	// signatures), or the next one, added before it rotates
	// (docs/security.md, "Key rotation"). Key may be nil if Keys is not.
	Keys []*sm2.PublicKey
}

// otherCourt is an OtherCourt with its verifiers: one per key, as a head
// signer and as a witness.
type otherCourt struct {
	OtherCourt
	verifiers      []note.Verifier
	cosigVerifiers []note.Verifier
}

func newOtherCourt(c OtherCourt) (*otherCourt, error) {
	if !evidence.ValidCourtID(c.Court) {
		return nil, fmt.Errorf("court %q: not a valid court ID", c.Court)
	}
	keys := c.Keys
	if c.Key != nil {
		keys = append([]*sm2.PublicKey{c.Key}, keys...)
	}
	if len(keys) == 0 || len(c.Endpoints) == 0 {
		return nil, fmt.Errorf("court %q: a key and at least one endpoint are required", c.Court)
	}
	vs, cvs, err := courtVerifiers(c.Court, keys)
	if err != nil {
		return nil, fmt.Errorf("court %q: %w", c.Court, err)
	}
	return &otherCourt{OtherCourt: c, verifiers: vs, cosigVerifiers: cvs}, nil
}

// courtVerifiers returns the head and cosignature verifiers of a court's
// keys. A key given twice is refused: a note verifier would find it
// ambiguous and reject every head.
func courtVerifiers(court string, keys []*sm2.PublicKey) (heads, cosigs []note.Verifier, err error) {
	for i, k := range keys {
		if k == nil {
			return nil, nil, fmt.Errorf("key %d is missing", i)
		}
		if slices.ContainsFunc(keys[:i], k.Equal) {
			return nil, nil, fmt.Errorf("key %d is listed twice", i)
		}
		v, err := checkpoint.NewVerifier(court, k)
		if err != nil {
			return nil, nil, err
		}
		cv, err := checkpoint.NewCosignatureVerifier(court, k)
		if err != nil {
			return nil, nil, err
		}
		heads, cosigs = append(heads, v), append(cosigs, cv)
	}
	return heads, cosigs, nil
}

// hasKey reports whether one of keys has the key ID id.
func hasKey(keys []note.Verifier, id uint32) bool {
	return slices.ContainsFunc(keys, func(k note.Verifier) bool { return k.KeyHash() == id })
}

// SyncConfig tunes cross-court sync; zero values take the defaults.
type SyncConfig struct {
	// Interval between rounds with each court when nothing failed
	// (default 1 s).
	Interval time.Duration
	// MaxBackoff caps the wait after failures (default 30 s).
	MaxBackoff time.Duration
	// ChunkBytes: entries are proposed to Raft in chunks of about this
	// many bytes, cut at a head of the origin (default 1 MiB).
	ChunkBytes int
	// FreshEvery is how often a mirror found current records so, which is
	// what its freshness says (default 2 s, at least Interval).
	FreshEvery time.Duration
	// Dial, if set, opens connections to other courts (tests inject faults
	// here).
	Dial func(ctx context.Context, addr string) (net.Conn, error)
}

func (c SyncConfig) withDefaults() SyncConfig {
	if c.Interval <= 0 {
		c.Interval = time.Second
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

// syncer runs, while this node leads its court, one follower per other
// court: it mirrors that court's log, cosigns its heads, gossips heads and
// raises alarms. See docs/sync-protocol.md.
type syncer struct {
	n   *Node
	cfg SyncConfig
	log *slog.Logger

	mu        sync.Mutex
	followers map[string]*follower
}

// follower is the state of following one court. Everything durable is in
// the ledger (the mirror and its head); this is only what a new leader can
// rebuild.
type follower struct {
	s     *syncer
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
}

func newSyncer(n *Node, cfg SyncConfig) *syncer {
	s := &syncer{n: n, cfg: cfg.withDefaults(), log: n.log.With("part", "sync"), followers: map[string]*follower{}}
	for id, c := range n.courts {
		s.followers[id] = &follower{s: s, court: c, log: s.log.With("peer_court", id)}
	}
	return s
}

func (s *syncer) run(done <-chan struct{}) {
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
	base, cancelAll := context.WithCancel(context.Background())
	defer cancelAll()
	go func() { <-done; cancelAll() }()
	backoff := time.Duration(0)
	for {
		wait := f.s.cfg.Interval
		if f.s.n.ledger.IsLeader() {
			ctx, cancel := context.WithTimeout(base, 5*time.Minute)
			err := f.round(ctx)
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
			}
		}
		select {
		case <-done:
			return
		case <-time.After(wait):
		}
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
	f.mu.Lock()
	if f.clients == nil {
		for _, ep := range f.court.Endpoints {
			opts := []grpc.DialOption{f.s.n.DialCourt(f.court.Court), // mutual TLS: a node of that court
				grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(f.s.n.cfg.MaxRequestBytes))}
			if d := f.s.cfg.Dial; d != nil {
				opts = append(opts, grpc.WithContextDialer(d))
			}
			cc, err := grpc.NewClient(ep, opts...)
			if err != nil {
				f.mu.Unlock()
				return fmt.Errorf("connect to %s at %s: %w", f.court.Court, ep, err)
			}
			f.conns = append(f.conns, cc)
			f.clients = append(f.clients, pb.NewSyncServiceClient(cc))
		}
	}
	clients, start := f.clients, f.next
	f.mu.Unlock()
	var errs []error
	for i := range clients {
		k := (start + i) % len(clients)
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
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

// round is one pass of the protocol with one court: fetch and check its
// newest head, mirror what is new, cosign, exchange heads.
func (f *follower) round(ctx context.Context) error {
	l := f.s.n.ledger
	id := f.court.Court
	if l.Alarmed(id) {
		return fmt.Errorf("%w: %s", consensus.ErrAlarmed, id)
	}
	st, err := l.Mirror(id)
	if err != nil {
		return err
	}
	var note []byte
	err = f.call(ctx, func(ctx context.Context, c pb.SyncServiceClient) error {
		r, err := c.GetCheckpoint(ctx, &pb.GetCheckpointRequest{FromCourt: f.s.n.cfg.Court})
		if err != nil {
			return err
		}
		note = []byte(r.Note)
		return nil
	})
	if err != nil {
		return err
	}
	if len(note) == 0 {
		// The court (or the node that answered, if it lags far behind)
		// holds no head yet: nothing to mirror, but heads to exchange.
		return f.gossip(ctx)
	}
	h, err := f.open(ctx, note, st)
	if err != nil {
		return err
	}
	switch {
	case h.Size < st.Size:
		// A node of the court that lags: fine if its head is a prefix of
		// what the mirror holds.
		if err := f.checkAgainstMirror(ctx, note, h, st, id); err != nil {
			return err
		}
	case h.Size == st.Size:
		if !bytes.Equal(h.Root, st.Head.Head.Root) {
			return f.alarm(ctx, consensus.AlarmSameSize, st.Head.Note, note, id,
				fmt.Sprintf("two heads of size %d with roots %x and %x", h.Size, st.Head.Head.Root, h.Root))
		}
		if f.undelivered(st) {
			f.sendCosignature(ctx)
		}
		if time.Since(st.Checked) >= f.s.cfg.FreshEvery {
			if err := l.AppendMirror(ctx, id, nil, nil, nil, f.s.n.now()); err != nil {
				return fmt.Errorf("record freshness of %s: %w", id, err)
			}
		}
	default:
		if err := f.catchUp(ctx, st, note, h); err != nil {
			return err
		}
	}
	f.checkPending(ctx)
	return f.gossip(ctx)
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
	root, err := f.s.n.ledger.Log(f.court.Court).RootAt(h.Size)
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
	f.s.n.metrics.alarmsRaised.WithLabelValues(f.court.Court, string(kind)).Inc()
	if err := f.s.n.ledger.RaiseAlarm(ctx, a); err != nil {
		return fmt.Errorf("raise alarm on %s: %w (detail: %s)", f.court.Court, err, detail)
	}
	return fmt.Errorf("%w: %s: %s: %s", consensus.ErrAlarmed, f.court.Court, kind, detail)
}

// catchUp mirrors entries [st.Size, h.Size): it checks the consistency
// proof from the head held, then streams the entries, rebuilding the root
// at each of the court's heads on the way, and proposes them in chunks cut
// at heads, so that every chunk Raft applies ends at a signed root.
func (f *follower) catchUp(ctx context.Context, st consensus.MirrorState, note []byte, h checkpoint.TreeHead) error {
	l := f.s.n.ledger
	id := f.court.Court
	if st.Size > 0 {
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
			return f.alarm(ctx, consensus.AlarmInconsistent, st.Head.Note, note, id,
				fmt.Sprintf("consistency proof from size %d to %d fails: %v", st.Size, h.Size, err))
		}
	}
	rng, err := l.Log(id).Range(st.Size)
	if err != nil {
		return err
	}
	var (
		chunk      [][]byte // entries not yet proposed
		chunkHeads [][]byte // heads at sizes within chunk
		atHead     int      // len(chunk) at its last head: what can be proposed
		chunkBytes int
		at         = st.Size
		end        = min(h.Size, st.Size+maxSyncRange)
	)
	// flush proposes the chunk up to its last head; entries after it wait
	// for the next head.
	flush := func(final bool) error {
		if atHead == 0 {
			return nil
		}
		var cosig []byte
		last := chunkHeads[len(chunkHeads)-1]
		if final {
			line, err := checkpoint.Cosign(last, f.s.n.cosigner)
			if err != nil {
				return err
			}
			cosig = line
		}
		if err := l.AppendMirror(ctx, id, chunk[:atHead], chunkHeads, cosig, f.s.n.now()); err != nil {
			return fmt.Errorf("mirror %d entries of %s: %w", atHead, id, err)
		}
		f.s.n.metrics.mirrored.WithLabelValues(id).Add(float64(atHead))
		chunk = append([][]byte(nil), chunk[atHead:]...)
		chunkHeads, atHead, chunkBytes = nil, 0, 0
		for _, raw := range chunk {
			chunkBytes += len(raw)
		}
		return nil
	}
	err = f.call(ctx, func(ctx context.Context, c pb.SyncServiceClient) error {
		stream, err := c.StreamEntries(ctx, &pb.StreamEntriesRequest{Start: at, End: end, PageSize: maxSyncPage})
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
			heads := make(map[uint64][]byte, len(page.Heads))
			for _, hn := range page.Heads {
				ph, err := f.open(ctx, []byte(hn), st)
				if err != nil {
					return stopRetrying(err)
				}
				heads[ph.Size] = []byte(hn)
				if ph.Size == h.Size && !bytes.Equal(ph.Root, h.Root) {
					return stopRetrying(f.alarm(ctx, consensus.AlarmSameSize, note, []byte(hn), id,
						fmt.Sprintf("two heads of size %d with roots %x and %x", h.Size, h.Root, ph.Root)))
				}
			}
			for _, raw := range page.Entries {
				e, err := evidence.UnmarshalEntry(raw)
				if err != nil || e.Court != id || e.Index != at {
					return stopRetrying(f.alarm(ctx, consensus.AlarmBadEntries, note, nil, id,
						fmt.Sprintf("entry at %d is not an entry of %s at that index (%v)", at, id, err)))
				}
				if err := rng.Append(merkle.LeafHash(raw), nil); err != nil {
					return stopRetrying(err)
				}
				at++
				chunk, chunkBytes = append(chunk, raw), chunkBytes+len(raw)
				hn, ok := heads[at]
				if !ok {
					continue
				}
				ph, _ := checkpoint.ParseUnverified(hn)
				if root := rng.Root(); !bytes.Equal(root, ph.Root) {
					return stopRetrying(f.alarm(ctx, consensus.AlarmBadEntries, hn, nil, id,
						fmt.Sprintf("entries %d..%d rebuild root %x; the court's head of size %d says %x", st.Size, at, root, at, ph.Root)))
				}
				chunkHeads, atHead = append(chunkHeads, hn), len(chunk)
				if chunkBytes >= f.s.cfg.ChunkBytes || len(chunk) >= consensus.MaxBatchEntries {
					if err := flush(at == h.Size); err != nil {
						return stopRetrying(err)
					}
				}
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
	if at != end {
		return fmt.Errorf("stream of %s ended at %d, want %d", id, at, end)
	}
	if end == h.Size && atHead != len(chunk) {
		return f.alarm(ctx, consensus.AlarmBadEntries, note, nil, id, fmt.Sprintf("the court sent no head at size %d with its entries", end))
	}
	// Entries after the last head of the chunk wait for the next round.
	if err := flush(end == h.Size); err != nil {
		return err
	}
	if end == h.Size {
		f.sendCosignature(ctx)
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
	st, err := f.s.n.ledger.Mirror(f.court.Court)
	if err != nil || st.Head.Note == nil {
		return
	}
	err = f.call(ctx, func(ctx context.Context, c pb.SyncServiceClient) error {
		_, err := c.AddCosignature(ctx, &pb.AddCosignatureRequest{Witness: f.s.n.cfg.Court, CosignedNote: string(st.Head.Note)})
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

// gossip exchanges the newest heads held of every court with the court.
func (f *follower) gossip(ctx context.Context) error {
	var theirs []string
	err := f.call(ctx, func(ctx context.Context, c pb.SyncServiceClient) error {
		r, err := c.ExchangeHeads(ctx, &pb.ExchangeHeadsRequest{FromCourt: f.s.n.cfg.Court, Heads: f.s.heldHeads()})
		if err != nil {
			return err
		}
		theirs = r.Heads
		return nil
	})
	if err != nil {
		return fmt.Errorf("exchange heads: %w", err)
	}
	if len(theirs) > maxGossip {
		theirs = theirs[:maxGossip]
	}
	for _, h := range theirs {
		f.s.checkGossip(ctx, []byte(h), f.court.Court)
	}
	return nil
}

// heldHeads is the newest head held of every court: this court's own and
// each mirror's.
func (s *syncer) heldHeads() []string {
	var out []string
	if h, err := s.n.ledger.LatestHead(); err == nil {
		out = append(out, string(h.Note))
	}
	for id := range s.n.courts {
		if st, err := s.n.ledger.Mirror(id); err == nil && st.Head.Note != nil {
			out = append(out, string(st.Head.Note))
		}
	}
	return out
}

// checkGossip checks a head of some court that source says it holds. A
// head not signed by its court proves nothing and is dropped; one that
// conflicts with what this court holds raises an alarm on its court; one
// beyond the mirror waits until the mirror reaches it.
func (s *syncer) checkGossip(ctx context.Context, note []byte, source string) {
	h, err := checkpoint.ParseUnverified(note)
	if err != nil {
		return
	}
	if h.Origin == s.n.cfg.Court {
		if _, _, err := checkpoint.OpenAny(note, s.n.verifiers); err != nil {
			return
		}
		root, err := s.n.ledger.Log(h.Origin).RootAt(h.Size)
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
	f.checkClaim(ctx, note, h, source)
}

func (f *follower) checkClaim(ctx context.Context, note []byte, h checkpoint.TreeHead, source string) {
	l := f.s.n.ledger
	if l.Alarmed(f.court.Court) {
		return
	}
	st, err := l.Mirror(f.court.Court)
	if err != nil {
		return
	}
	if h.Size > st.Size {
		f.mu.Lock()
		if len(f.pending) < maxGossip {
			f.pending = append(f.pending, claim{note, source})
		}
		f.mu.Unlock()
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
			f.checkClaim(ctx, c.note, h, c.source)
		}
	}
}

// claim is a head of the court that another court said it holds.
type claim struct {
	note   []byte
	source string
}

// status is what GetSyncStatus reports of each court.
func (s *syncer) status() []*pb.MirrorStatus {
	var out []*pb.MirrorStatus
	for id, f := range s.followers {
		st, err := s.n.ledger.Mirror(id)
		ms := &pb.MirrorStatus{Court: id}
		if err == nil {
			ms.Size = st.Size
			ms.Alarmed = st.Alarm != nil
			if st.Head.Note != nil {
				ms.Head = headToPB(st.Head.Head, st.Head.Note)
			}
			if !st.Checked.IsZero() {
				ms.CheckedAt = timestampOf(st.Checked)
				ms.StalenessSeconds = s.n.now().Sub(st.Checked).Seconds()
			}
		}
		f.mu.Lock()
		if f.lastErr != nil {
			ms.LastError = f.lastErr.Error()
		}
		f.mu.Unlock()
		out = append(out, ms)
	}
	return out
}
