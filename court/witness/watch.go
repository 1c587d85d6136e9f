package witness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/crypto/checkpoint"
)

// watch keeps a WatchHeads stream open to the court while this node leads
// its own court, and wakes the follower for a round whenever the court
// pushes a head beyond the mirror: a filing there is then mirrored here in
// one round trip of the stream plus one round, not at the next poll. The
// poll goes on regardless; if the stream fails, or the court does not
// offer WatchHeads (a court of an older version: Unimplemented), the
// follower just polls and the watch is tried again with backoff, from a
// second (Interval if shorter) doubling up to IdleInterval: a court
// restarting is watched again within seconds, one that will not serve a
// watch costs a call per IdleInterval.
func (f *follower) watch(ctx context.Context) {
	backoff := time.Duration(0)
	unimplemented := false
	for ctx.Err() == nil {
		if !f.s.ledger.IsLeader() {
			// Only the leader runs rounds, so only it watches: a court
			// holds one watch per other court, not one per node.
			if !sleepCtx(ctx, f.leaderCheck()) {
				return
			}
			continue
		}
		heard, err := f.watchOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if heard {
			backoff = 0
		}
		backoff = min(max(2*backoff, f.leaderCheck()), f.s.cfg.IdleInterval)
		if heard && errors.Is(err, io.EOF) {
			// The node watched is stopping (its streams end cleanly then):
			// watch the next one now rather than poll for a second.
			backoff = endedWatchPause
		}
		switch code := status.Code(err); {
		case code == codes.Unimplemented:
			if !unimplemented {
				f.log.Info("the court does not offer WatchHeads; following it by polling alone", "retry_in", backoff)
			}
			unimplemented = true
		case err != nil:
			unimplemented = false
			f.log.Debug("watch of the court's heads ended; polling meanwhile", "err", err, "retry_in", backoff)
		}
		if !sleepCtx(ctx, backoff) {
			return
		}
	}
}

// endedWatchPause is the wait before watching another node after the one
// watched ended the stream (it is stopping).
const endedWatchPause = 50 * time.Millisecond

// leaderCheck is how often a watch checks that this node still leads, and
// its first wait before watching again.
func (f *follower) leaderCheck() time.Duration { return min(f.s.cfg.Interval, time.Second) }

// watchOnce watches one endpoint of the court until the stream ends, this
// node stops leading, or the stream is silent for watchSilence. heard
// reports that the stream delivered at least one head.
func (f *follower) watchOnce(ctx context.Context) (heard bool, err error) {
	clients, err := f.connect()
	if err != nil {
		return false, err
	}
	f.mu.Lock()
	k := f.watchNext % len(clients)
	f.watchNext++ // the next watch tries the next endpoint, unless this one serves
	f.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The stream ends when this node stops leading, or when the court
	// has been silent past its heartbeat.
	alive := make(chan struct{}, 1)
	go func() {
		tick := time.NewTicker(f.leaderCheck())
		defer tick.Stop()
		silent := time.NewTimer(watchSilence)
		defer silent.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-alive:
				silent.Reset(watchSilence)
			case <-silent.C:
				cancel()
				return
			case <-tick.C:
				if !f.s.ledger.IsLeader() {
					cancel()
					return
				}
			}
		}
	}()
	sctx := ctx
	if cc := f.s.cfg.CallContext; cc != nil {
		sctx = cc(sctx, f.court.Court)
	}
	stream, err := clients[k].WatchHeads(sctx, &pb.WatchHeadsRequest{FromCourt: f.s.courts.self})
	if err != nil {
		return false, err
	}
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			f.mu.Lock()
			f.watchNext = k + 1
			f.mu.Unlock()
		}
		if err != nil {
			return heard, err
		}
		if !heard {
			f.mu.Lock()
			f.watchNext = k // this endpoint serves: watch it first next time
			f.mu.Unlock()
		}
		heard = true
		select {
		case alive <- struct{}{}:
		default:
		}
		if err := f.pushed([]byte(r.Note)); err != nil {
			return heard, err
		}
	}
}

// pushed acts on a head the court pushed: if it is signed by the court and
// beyond the mirror, the follower runs a round now, towards the newer of
// this head and the one the round fetches (the node watched may be ahead
// of the node polled, which would otherwise answer with the head before
// and leave the filing for the next poll). It is only a hint: the round
// checks the head again and everything it mirrors up to it, so a head
// that does not verify is dropped (and ends the stream) and costs no
// round, and a genuine one costs at most one.
func (f *follower) pushed(note []byte) error {
	if len(note) == 0 {
		return nil // the court has recorded nothing yet
	}
	st, err := f.s.ledger.Mirror(f.court.Court)
	if err != nil {
		return nil // the next round says why
	}
	// Under load a head comes every few milliseconds while a round runs:
	// one the mirror holds, or one arriving while a round is already
	// owed, is not worth a signature check. The round fetches the newest
	// head itself.
	if h, err := checkpoint.ParseUnverified(note); err == nil && (h.Size <= st.Size || len(f.kick) > 0) {
		return nil
	}
	h, _, err := checkpoint.OpenAny(note, f.court.verifiers)
	if err != nil {
		return fmt.Errorf("pushed head of %s: %w", f.court.Court, err)
	}
	if h.Size > st.Size {
		f.mu.Lock()
		if h.Size > f.hintSize {
			f.hint, f.hintSize = note, h.Size
		}
		f.mu.Unlock()
		f.wake()
	}
	return nil
}

// newest returns the newer of note, a head the court just gave, and the
// newest head it pushed, if that is beyond the mirror's size.
func (f *follower) newest(note []byte, mirrored uint64) []byte {
	f.mu.Lock()
	hint, size := f.hint, f.hintSize
	f.mu.Unlock()
	if size <= mirrored {
		return note
	}
	if len(note) > 0 {
		if h, err := checkpoint.ParseUnverified(note); err == nil && h.Size >= size {
			return note
		}
	}
	return hint
}

// sleepCtx waits d, or until ctx ends (false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
