package consensus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/evidence"
)

// BatchConfig bounds group commit. A batch is proposed once a pipeline
// slot is free, with whatever has arrived by then up to the bounds, so
// under load batches grow and at rest latency stays low.
type BatchConfig struct {
	MaxEntries  int // entries per batch; default 1024, at most MaxBatchEntries
	MaxBytes    int // encoded entries per batch; default 4 MiB
	MaxInFlight int // batches proposed but not yet applied; default 2
	// MaxPending bounds the submissions the leader holds at once, from
	// the signature check to the answer; a call beyond it is refused with
	// BusyError (default 4 × MaxEntries).
	MaxPending int
	Timeout    time.Duration // how long a batch may take to commit; default 10 s

	// Linger is how long a free slot waits for the callers of the last
	// acknowledged batches to come back with their next submissions
	// (default 1 ms; negative: never wait). Without it the first caller
	// back takes the slot alone and the others follow in more, smaller
	// batches: every batch costs each node two synced bbolt commits, so
	// small ones spend the disk on syncs. It never delays a lone caller,
	// who is the only one expected back.
	Linger time.Duration
}

func (c BatchConfig) withDefaults() BatchConfig {
	if c.MaxEntries <= 0 || c.MaxEntries > MaxBatchEntries {
		c.MaxEntries = 1024
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 4 << 20
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 2
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 4 * c.MaxEntries
	}
	if c.Linger == 0 {
		c.Linger = time.Millisecond
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	return c
}

// SignedSubmission is a submission with its platform's signature.
type SignedSubmission struct {
	Submission evidence.Submission
	Signature  []byte
}

// Result is the outcome of one submission.
type Result struct {
	Receipt   *evidence.Receipt // set on success
	Duplicate bool              // the request ID was recorded before: this is the original receipt
	Err       error

	headSize uint64 // size of the receipt's head, until its proof is built
}

// ErrRequestConflict is returned when a platform reuses a request ID for a
// different submission.
var ErrRequestConflict = errors.New("consensus: request ID already used for a different submission")

// ErrBatchTooLarge is returned for a Submit call with more submissions than
// one batch may hold.
var ErrBatchTooLarge = fmt.Errorf("consensus: more than %d submissions in one call", MaxBatchEntries)

// staleRetries is how often a submission whose batch went stale (batches in
// flight across a failure) is proposed again before the caller sees the error.
const staleRetries = 3

// Submit records submissions and returns a receipt (or an error) for each,
// in order. It runs only on the leader; elsewhere it returns NotLeaderError.
// Nothing is acknowledged before its batch is committed by a majority of the
// court and applied here. A retry of a recorded (platform, request ID) with
// the same submission returns the original receipt.
func (l *Ledger) Submit(ctx context.Context, subs []SignedSubmission) ([]Result, error) {
	if len(subs) > MaxBatchEntries {
		return nil, ErrBatchTooLarge
	}
	if !l.batcher.ready() {
		return nil, l.notLeader()
	}
	if err := l.admit.take(len(subs)); err != nil {
		return nil, err
	}
	defer l.admit.release(len(subs))
	results := make([]Result, len(subs))
	items := make([]*item, len(subs))
	l.work.run(len(subs), func(i int) { items[i], results[i] = l.prepare(&subs[i]) })
	return l.commit(ctx, items, results), nil
}

// SubmitSignedBatch records a batch the platform signed once (see
// evidence.SignedBatch) and returns a receipt (or an error) for each of its
// submissions, in order, as Submit does. The header and its signature are
// checked once, before anything else: a batch for another court, of a
// platform not registered, out of the court's time policy, whose count
// differs from the submissions sent, with a request ID twice or whose
// signature does not verify is refused whole, with nothing recorded
// (unless every submission of it is recorded already: then their original
// receipts are returned, as for a retry of one filed alone). Each
// submission is then checked on its own (format, time, its path to the
// signed root, court and platform equal to the header's), and one that
// fails is refused alone. A retry of a recorded (platform, request ID) with
// the same submission returns the original receipt, however it was filed.
func (l *Ledger) SubmitSignedBatch(ctx context.Context, b *evidence.SignedBatch) ([]Result, error) {
	n := len(b.Submissions)
	if len(b.Paths) != n {
		return nil, &evidence.FieldError{Field: "paths", Reason: evidence.ErrBatchPath,
			Detail: fmt.Sprintf("%d submissions and %d paths: send one path per submission", n, len(b.Paths))}
	}
	if !l.batcher.ready() {
		return nil, l.notLeader()
	}
	if err := l.admit.take(n); err != nil {
		return nil, err
	}
	defer l.admit.release(n)
	if err := l.checkBatch(b); err != nil {
		// As for a submission filed alone, a retry of what is recorded
		// returns the original receipts whatever has changed since (the
		// clock, the platform's registration): nothing new is recorded.
		if res, ok := l.allRecorded(b.Submissions); ok {
			return res, nil
		}
		return nil, err
	}
	results := make([]Result, n)
	items := make([]*item, n)
	l.work.run(n, func(i int) {
		f := b.Filing(i)
		items[i], results[i] = l.prepareBatched(&b.Submissions[i], &f)
	})
	return l.commit(ctx, items, results), nil
}

// checkBatch is what refuses a batch whole: its header (court, count,
// time), a request ID twice, the platform's registration and the batch's
// one signature.
func (l *Ledger) checkBatch(b *evidence.SignedBatch) error {
	if err := b.Header.Check(l.cfg.Court, len(b.Submissions), l.cfg.Clock(), l.cfg.TimePolicy); err != nil {
		return err
	}
	if err := checkBatchRequestIDs(b.Submissions); err != nil {
		return err
	}
	key, err := l.fsm.platformKey(b.Header.Platform)
	if err != nil {
		return err
	}
	// The one signature check of the batch, in the caller's goroutine: the
	// pool is for work that splits.
	l.sigChecks.Add(1)
	return b.Header.VerifySignature(b.Signature, key)
}

// allRecorded returns the original receipts of subs if every one of them
// is recorded, with the same bytes, under its request ID.
func (l *Ledger) allRecorded(subs []evidence.Submission) ([]Result, bool) {
	results := make([]Result, len(subs))
	for i := range subs {
		s := &subs[i]
		r, found := l.existing(evidence.EvidenceID(l.cfg.Court, s.Platform, s.RequestID), s.Marshal())
		if !found || r.Err != nil {
			return nil, false
		}
		results[i] = r
	}
	return results, true
}

// checkBatchRequestIDs refuses a batch with a request ID twice: the platform
// signed two submissions for one piece of evidence, and which one it meant
// to record cannot be told.
func checkBatchRequestIDs(subs []evidence.Submission) error {
	seen := make(map[string]int, len(subs))
	for i := range subs {
		id := subs[i].RequestID
		if j, dup := seen[id]; dup {
			return &evidence.FieldError{Field: fmt.Sprintf("submissions[%d].request_id", i), Reason: evidence.ErrBatchDuplicate,
				Detail: fmt.Sprintf("%q is also submission %d", id, j)}
		}
		seen[id] = i
	}
	return nil
}

// commit batches the prepared items (nil where results already holds the
// outcome), waits for their outcomes and reads their proofs.
func (l *Ledger) commit(ctx context.Context, items []*item, results []Result) []Result {
	for attempt := 0; ; attempt++ {
		var waiting []int
		for i, it := range items {
			if it != nil {
				if err := l.batcher.enqueue(ctx, it); err != nil {
					results[i].Err = err
					items[i] = nil
					continue
				}
				waiting = append(waiting, i)
			}
		}
		retry := false
		for _, i := range waiting {
			select {
			case out := <-items[i].done:
				if errors.Is(out.err, ErrStaleBatch) && attempt < staleRetries {
					items[i] = items[i].again()
					retry = true
					continue
				}
				results[i] = out.result
				items[i] = nil
			case <-ctx.Done():
				// The submission may still be recorded; a retry with the
				// same request ID returns its receipt.
				results[i].Err = fmt.Errorf("consensus: outcome unknown: %w", ctx.Err())
				items[i] = nil
			}
		}
		if !retry {
			break
		}
	}
	// Proofs are read here, in the callers' goroutines, not in the batcher.
	l.work.run(len(results), func(i int) {
		if r := &results[i]; r.Err == nil && r.Receipt != nil && r.Receipt.Proof == nil {
			r.Receipt.Proof, r.Err = l.fsm.proof(r.Receipt.Entry.Index, r.headSize)
		}
	})
	return results
}

func (f *fsm) proof(index, size uint64) ([][]byte, error) {
	var p [][]byte
	err := f.view(func(tx *bolt.Tx) error {
		var err error
		p, err = merkle.Inclusion(context.Background(), bucketHashes{tx.Bucket(bucketNodes)}, index, size)
		return err
	})
	return p, err
}

// prepare checks one submission; it returns an item to batch, or a final
// result (an error, or the original receipt of a retry).
func (l *Ledger) prepare(s *SignedSubmission) (*item, Result) {
	sub := &s.Submission
	if err := sub.Validate(); err != nil {
		return nil, Result{Err: err}
	}
	raw := sub.Marshal()
	id := evidence.EvidenceID(l.cfg.Court, sub.Platform, sub.RequestID)
	if r, found := l.existing(id, raw); found {
		return nil, r
	}
	key, err := l.fsm.platformKey(sub.Platform)
	if err != nil {
		return nil, Result{Err: err}
	}
	l.sigChecks.Add(1)
	if err := evidence.Check(sub, s.Signature, key, l.cfg.Court, l.cfg.Clock(), l.cfg.TimePolicy); err != nil {
		return nil, Result{Err: err}
	}
	return &item{sub: sub, raw: raw, sig: s.Signature, id: id, done: make(chan outcome, 1)}, Result{}
}

// prepareBatched checks one submission of a batch whose header and
// signature were verified: prepare with its path to the signed root in
// place of its own signature.
func (l *Ledger) prepareBatched(sub *evidence.Submission, f *evidence.BatchFiling) (*item, Result) {
	if err := evidence.CheckBatched(sub, f, l.cfg.Court, l.cfg.Clock(), l.cfg.TimePolicy); err != nil {
		return nil, Result{Err: err}
	}
	raw := sub.Marshal()
	id := evidence.EvidenceID(l.cfg.Court, sub.Platform, sub.RequestID)
	if r, found := l.existing(id, raw); found {
		return nil, r
	}
	return &item{sub: sub, raw: raw, batch: f, id: id, done: make(chan outcome, 1)}, Result{}
}

// existing looks for a recorded submission under evidence ID id.
func (l *Ledger) existing(id string, raw []byte) (Result, bool) {
	var (
		r     Result
		found bool
	)
	err := l.fsm.view(func(tx *bolt.Tx) error {
		idx, ok := l.fsm.withIndex(ownLog(tx)).indexOf(id)
		if !ok {
			return nil
		}
		found = true
		rec, err := receiptAt(tx, idx)
		if err != nil {
			return err
		}
		if !bytes.Equal(rec.Entry.Submission.Marshal(), raw) {
			return fmt.Errorf("%w: evidence %s", ErrRequestConflict, id)
		}
		r = Result{Receipt: rec, Duplicate: true}
		return nil
	})
	if err != nil {
		return Result{Err: err}, true
	}
	return r, found
}

// item is a checked submission waiting for its batch.
type item struct {
	sub *evidence.Submission
	raw []byte // sub.Marshal()
	sig []byte
	// batch is how the submission is signed when it came in a signed batch
	// (then sig is nil).
	batch *evidence.BatchFiling
	id    string
	done  chan outcome // buffered: the batcher never blocks on a caller

	followers []*item // same request ID submitted again while this one was in flight
}

func (it *item) again() *item {
	return &item{sub: it.sub, raw: it.raw, sig: it.sig, batch: it.batch, id: it.id, done: make(chan outcome, 1)}
}

// size is about what the item adds to a batch's command.
func (it *item) size() int {
	n := len(it.raw) + len(it.sig)
	if it.batch != nil {
		n += batchFilingOverhead
	}
	return n
}

// batchFilingOverhead is about what a batch-filed entry holds beyond its
// submission: header, signature, path.
const batchFilingOverhead = 600

type outcome struct {
	result Result
	err    error // for the retry decision; equal to result.Err
}

func (it *item) finish(r Result) {
	it.done <- outcome{result: r, err: r.Err}
	for _, f := range it.followers {
		if r.Err == nil && !bytes.Equal(f.raw, it.raw) {
			f.finish(Result{Err: fmt.Errorf("%w: evidence %s", ErrRequestConflict, it.id)})
			continue
		}
		fr := r
		if fr.Receipt != nil {
			rc := *fr.Receipt
			fr.Receipt, fr.Duplicate = &rc, true
		}
		f.finish(fr)
	}
}

// flight is a proposed batch.
type flight struct {
	future interface {
		Error() error
		Response() any
	}
	items      []*item
	entries    []evidence.Entry
	signedHead []byte
	headSize   uint64
	proposed   time.Time // for the commit latency metric
}

// batcher is the leader's group commit: one goroutine packs and proposes
// batches, another completes them in order.
type batcher struct {
	l   *Ledger
	cfg BatchConfig

	in      chan *item
	slots   chan struct{} // one token per batch allowed in flight
	flights chan *flight
	stopCh  chan struct{}
	wg      sync.WaitGroup

	isReady    atomic.Bool
	needResync atomic.Bool
	// returning counts submissions acknowledged since the last proposal:
	// their callers are the ones likely to submit next.
	returning atomic.Int64

	// Owned by the run goroutine.
	spec     *merkle.Range // the log as it will be once every flight applies
	lastTime time.Time

	mu       sync.Mutex
	inflight map[string]*item // evidence ID -> item, for batches not yet completed
}

func newBatcher(l *Ledger) *batcher {
	cfg := l.cfg.Batch
	b := &batcher{
		l:        l,
		cfg:      cfg,
		in:       make(chan *item, 4*cfg.MaxEntries),
		slots:    make(chan struct{}, cfg.MaxInFlight),
		flights:  make(chan *flight, cfg.MaxInFlight),
		stopCh:   make(chan struct{}),
		inflight: map[string]*item{},
	}
	for i := 0; i < cfg.MaxInFlight; i++ {
		b.slots <- struct{}{}
	}
	b.wg.Add(2)
	go b.run()
	go b.complete()
	return b
}

func (b *batcher) ready() bool { return b.isReady.Load() }

func (b *batcher) promote() {
	b.needResync.Store(true)
	if !b.isReady.Swap(true) {
		b.l.leaderSig.fire()
	}
}

func (b *batcher) demote() {
	if b.isReady.Swap(false) {
		b.l.leaderSig.fire()
	}
}

func (b *batcher) stop() {
	b.isReady.Store(false)
	close(b.stopCh)
	b.wg.Wait()
}

var errStopped = errors.New("consensus: node is shutting down")

func (b *batcher) enqueue(ctx context.Context, it *item) error {
	select {
	case b.in <- it:
		return nil
	case <-b.stopCh:
		return errStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *batcher) run() {
	defer b.wg.Done()
	var (
		batch []*item
		size  int
	)
	for {
		inCh, slotCh := b.in, b.slots
		if len(batch) >= b.cfg.MaxEntries || size >= b.cfg.MaxBytes {
			inCh = nil
		}
		if len(batch) == 0 {
			slotCh = nil
		}
		select {
		case <-b.stopCh:
			b.abandon(batch)
			return
		case it := <-inCh:
			batch = append(batch, it)
			size += it.size()
		case <-slotCh:
			var stopped bool
			batch, size, stopped = b.fill(batch, size)
			if stopped {
				b.abandon(batch)
				return
			}
			if !b.propose(batch) {
				b.slots <- struct{}{}
			}
			batch, size = nil, 0
		}
	}
}

// fill takes everything already waiting, up to the bounds, and then waits
// up to Linger for the callers expected back. It reports whether the
// batcher was stopped meanwhile.
func (b *batcher) fill(batch []*item, size int) ([]*item, int, bool) {
	full := func() bool { return len(batch) >= b.cfg.MaxEntries || size >= b.cfg.MaxBytes }
	take := func(it *item) {
		batch = append(batch, it)
		size += it.size()
	}
drain:
	for !full() {
		select {
		case it := <-b.in:
			take(it)
		default:
			break drain
		}
	}
	expected := int(b.returning.Swap(0))
	if b.cfg.Linger <= 0 || full() || len(batch) >= expected {
		return batch, size, false
	}
	timer := time.NewTimer(b.cfg.Linger)
	defer timer.Stop()
	for !full() && len(batch) < expected {
		select {
		case it := <-b.in:
			take(it)
		case <-timer.C:
			return batch, size, false
		case <-b.stopCh:
			return batch, size, true
		}
	}
	return batch, size, false
}

// abandon fails the batch being gathered and everything queued, at stop.
func (b *batcher) abandon(batch []*item) {
	for _, it := range batch {
		it.finish(Result{Err: errStopped})
	}
	b.drainIn(errStopped)
}

func (b *batcher) drainIn(err error) {
	for {
		select {
		case it := <-b.in:
			it.finish(Result{Err: err})
		default:
			return
		}
	}
}

// resync waits until no batch is in flight and rebuilds the speculative
// log from what is applied. The caller holds one slot.
func (b *batcher) resync() error {
	for i := 0; i < b.cfg.MaxInFlight-1; i++ {
		select {
		case <-b.slots:
		case <-b.stopCh:
			for ; i > 0; i-- {
				b.slots <- struct{}{}
			}
			return errStopped
		}
	}
	defer func() {
		for i := 0; i < b.cfg.MaxInFlight-1; i++ {
			b.slots <- struct{}{}
		}
	}()
	f := b.l.fsm
	var spec *merkle.Range
	err := f.view(func(tx *bolt.Tx) error {
		// The range and the heads are read under one lock, so that no batch
		// applies between them.
		spec = f.rng.Clone()
		size, v := tx.Bucket(bucketHeads).Cursor().Last()
		if v == nil {
			if spec.Size() != 0 {
				return b.notContinuation(fmt.Errorf("the ledger holds %d entries and no signed head", spec.Size()))
			}
			return nil
		}
		h, err := checkpoint.ParseUnverified(v)
		if err != nil {
			return b.notContinuation(fmt.Errorf("latest signed head: %w", err))
		}
		// Never sign what you do not hold: the next head must continue the
		// court's last signed one, which is the one this ledger must end at.
		if getU64(size) != spec.Size() || h.Size != spec.Size() || !bytes.Equal(h.Root, spec.Root()) {
			return b.notContinuation(fmt.Errorf("latest signed head has size %d, the ledger %d entries; roots equal: %v",
				h.Size, spec.Size(), bytes.Equal(h.Root, spec.Root())))
		}
		b.lastTime = h.Time
		return nil
	})
	if err != nil {
		return err
	}
	b.spec = spec
	b.mu.Lock()
	b.inflight = map[string]*item{}
	b.mu.Unlock()
	b.needResync.Store(false)
	return nil
}

// notContinuation reports that the ledger does not end at the court's last
// signed head, so a head signed on it would fork the court's history: the
// ledger is corrupt, the node stops being ready and hands leadership over.
func (b *batcher) notContinuation(err error) error {
	ce := &CorruptError{Path: b.l.fsm.path, What: "the court's latest signed head", Err: err}
	b.l.fsm.markCorrupt(ce)
	b.demote()
	return ce
}

// propose packs batch into a command and hands it to Raft. It reports
// whether a flight took the slot.
func (b *batcher) propose(batch []*item) bool {
	if !b.ready() {
		for _, it := range batch {
			it.finish(Result{Err: b.l.notLeader()})
		}
		return false
	}
	if b.needResync.Load() || b.spec == nil {
		if err := b.resync(); err != nil {
			for _, it := range batch {
				it.finish(Result{Err: err})
			}
			return false
		}
	}
	now := b.l.cfg.Clock().UTC().Truncate(time.Millisecond)
	if now.Before(b.lastTime) {
		now = b.lastTime // heads' times never go backwards
	}

	next := b.spec.Clone()
	fl := &flight{}
	var raws [][]byte
	b.mu.Lock()
	for _, it := range batch {
		if first, ok := b.inflight[it.id]; ok {
			first.followers = append(first.followers, it)
			continue
		}
		if r, found := b.l.existing(it.id, it.raw); found {
			it.finish(r)
			continue
		}
		var e evidence.Entry
		if it.batch != nil {
			e = evidence.NewBatchEntry(b.l.cfg.Court, next.Size(), now, *it.sub, *it.batch)
		} else {
			e = evidence.NewEntry(b.l.cfg.Court, next.Size(), now, *it.sub, it.sig)
		}
		raw := e.Marshal()
		if err := next.Append(merkle.LeafHash(raw), nil); err != nil {
			it.finish(Result{Err: err})
			continue
		}
		b.inflight[it.id] = it
		fl.items = append(fl.items, it)
		fl.entries = append(fl.entries, e)
		raws = append(raws, raw)
	}
	b.mu.Unlock()
	if len(fl.items) == 0 {
		return false
	}

	head := checkpoint.TreeHead{Origin: b.l.cfg.Court, Size: next.Size(), Root: next.Root(), Time: now}
	signed, err := checkpoint.Sign(head, b.l.cfg.Signer)
	if err != nil {
		b.fail(fl, err)
		return false
	}
	fl.signedHead, fl.headSize = signed, head.Size
	cmd := (&appendBatch{entries: raws, signedHead: signed}).encode()
	fl.proposed = time.Now()
	fl.future = b.l.raftNode().Apply(cmd, b.cfg.Timeout)
	b.spec, b.lastTime = next, now
	b.flights <- fl
	return true
}

func (b *batcher) fail(fl *flight, err error) {
	b.mu.Lock()
	for _, it := range fl.items {
		delete(b.inflight, it.id)
	}
	b.mu.Unlock()
	for _, it := range fl.items {
		it.finish(Result{Err: err})
	}
}

func (b *batcher) complete() {
	defer b.wg.Done()
	for {
		var fl *flight
		select {
		case fl = <-b.flights:
		case <-b.stopCh:
			// Flights still queued end with Raft's shutdown error.
			for {
				select {
				case fl := <-b.flights:
					b.finishFlight(fl)
				default:
					return
				}
			}
		}
		b.finishFlight(fl)
		b.slots <- struct{}{}
	}
}

// await waits for a flight's future. Raft answers every future it took,
// but the wait is bounded once the node stops, so Close cannot hang on one.
func (b *batcher) await(fl *flight) error {
	done := make(chan error, 1)
	go func() { done <- fl.future.Error() }()
	select {
	case err := <-done:
		return err
	case <-b.stopCh:
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			return errStopped
		}
	}
}

func (b *batcher) finishFlight(fl *flight) {
	err := b.await(fl)
	if err != nil {
		err = raftErr(b.l, err)
	} else if rerr, ok := fl.future.Response().(error); ok && rerr != nil {
		err = rerr
	}
	if err != nil {
		b.needResync.Store(true)
		b.l.log.Warn("batch not applied", "entries", len(fl.items), "err", err)
		b.fail(fl, err)
		return
	}
	b.mu.Lock()
	for _, it := range fl.items {
		delete(b.inflight, it.id)
	}
	b.mu.Unlock()
	b.l.metrics.batchCommitted(len(fl.items), fl.proposed)
	b.returning.Add(int64(len(fl.items)))
	for i, it := range fl.items {
		it.finish(Result{Receipt: &evidence.Receipt{Entry: fl.entries[i], SignedHead: fl.signedHead}, headSize: fl.headSize})
	}
}
