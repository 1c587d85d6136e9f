package access

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/court/apierr"
)

// AuditConfig bounds the node's audit buffer.
//
// Every call a node serves becomes an audit record. Records wait in a
// buffer on the node and go through Raft in batches, every FlushEvery or
// as soon as FlushRecords are waiting, so auditing a read costs no Raft
// round trip of its own. A follower hands its batches to the leader
// (AuditService.AppendAudit).
//
// What a crash loses: the records buffered and not yet committed, at most
// FlushEvery's worth in normal running, more if the leader was
// unreachable. The buffer is bounded by MaxBuffered; when it is full the
// node refuses further calls with Unavailable (AUDIT_BACKLOG) rather than
// serve evidence unrecorded. A batch that was committed but whose answer
// was lost (a leader change mid-flush) is sent again, so a record can
// appear twice; never zero times once committed.
type AuditConfig struct {
	FlushEvery   time.Duration // default 100 ms
	FlushRecords int           // default 256
	MaxBuffered  int           // default 65536
}

func (c AuditConfig) withDefaults() AuditConfig {
	if c.FlushEvery <= 0 {
		c.FlushEvery = 100 * time.Millisecond
	}
	if c.FlushRecords <= 0 || c.FlushRecords > consensus.MaxAuditBatch {
		c.FlushRecords = 256
	}
	if c.MaxBuffered <= 0 {
		c.MaxBuffered = 65536
	}
	return c
}

// ErrAuditBacklog refuses a call the audit log could not record: Unavailable
// (AUDIT_BACKLOG) until the buffer drains.
var ErrAuditBacklog error = &apierr.Problem{Code: codes.Unavailable, Reason: "AUDIT_BACKLOG",
	Message: "audit log backlog is full; the court accepts no calls until it drains"}

// AuditSink proposes a batch of records to the court's audit log: through
// the local ledger on the leader, through the leader's API on a follower.
type AuditSink func(ctx context.Context, recs []consensus.AuditRecord) error

// Auditor is the node's audit buffer: calls are recorded here and flushed
// to the AuditSink in batches.
type Auditor struct {
	cfg  AuditConfig
	sink AuditSink
	log  *slog.Logger

	mu   sync.Mutex
	buf  []consensus.AuditRecord
	kick chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
}

// NewAuditor starts flushing to sink; Close stops it.
func NewAuditor(cfg AuditConfig, sink AuditSink, log *slog.Logger) *Auditor {
	a := &Auditor{cfg: cfg.withDefaults(), sink: sink, log: log, kick: make(chan struct{}, 1), done: make(chan struct{})}
	a.wg.Add(1)
	go a.run()
	return a
}

// admit refuses a call that could not be recorded.
func (a *Auditor) admit() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.buf) >= a.cfg.MaxBuffered {
		return ErrAuditBacklog
	}
	return nil
}

// record buffers one record. A record arriving over the bound (calls
// admitted together) is still kept: the bound is enforced at admission.
func (a *Auditor) record(r consensus.AuditRecord) {
	a.mu.Lock()
	a.buf = append(a.buf, r)
	n := len(a.buf)
	a.mu.Unlock()
	if n == 1 || n >= a.cfg.FlushRecords {
		// The first record starts the flush timer; a full batch goes now.
		a.poke()
	}
}

func (a *Auditor) poke() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// run flushes FlushEvery after the first record of a batch arrives, or at
// once when FlushRecords are waiting. With nothing buffered it sleeps
// until a record comes: an idle node does not wake to find nothing.
func (a *Auditor) run() {
	defer a.wg.Done()
	failed := false
	for {
		select {
		case <-a.done:
			a.flush() // best effort: what is left is lost, as on a crash
			return
		case <-a.kick:
		}
		if failed || a.Buffered() < a.cfg.FlushRecords {
			t := time.NewTimer(a.cfg.FlushEvery)
			select {
			case <-a.done:
				t.Stop()
				a.flush()
				return
			case <-t.C:
			case <-a.kick: // the batch filled up
				t.Stop()
			}
		}
		failed = !a.flush()
		if a.Buffered() > 0 {
			// A failed flush (retried after FlushEvery, whatever the
			// buffer holds), or records that came meanwhile.
			a.poke()
		}
	}
}

// flush sends the buffer in batches until it is empty or a batch fails;
// a failed batch stays at the head of the buffer for the next try.
func (a *Auditor) flush() (ok bool) {
	for {
		a.mu.Lock()
		n := min(len(a.buf), a.cfg.FlushRecords)
		batch := a.buf[:n:n]
		a.mu.Unlock()
		if n == 0 {
			return true
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := a.sink(ctx, batch)
		cancel()
		if err != nil {
			a.log.Warn("audit flush failed; will retry", "records", n, "err", err)
			return false
		}
		a.mu.Lock()
		a.buf = append(a.buf[:0:0], a.buf[n:]...)
		a.mu.Unlock()
	}
}

// Close flushes what it can and stops the buffer.
func (a *Auditor) Close() {
	select {
	case <-a.done:
	default:
		close(a.done)
	}
	a.wg.Wait()
}

// Buffered is how many records wait, for tests and status.
func (a *Auditor) Buffered() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.buf)
}
