package witness

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/crypto/checkpoint"
)

// watch keeps a WatchHeads stream open to each node of the court while
// this node leads its own court, and wakes the follower for a round
// whenever one pushes a head beyond the mirror: a filing there is then
// mirrored here in one push plus one round, not at the next poll. Every
// node is watched because the court's leader, which applies a filing
// first, is not known here: a follower of the court pushes the head only
// once it learns of the commit, some 50-100 ms later at rest. The poll goes
// on regardless; if a stream fails, or the court does not offer
// WatchHeads (a court of an older version: Unimplemented), the follower
// just polls and the watch is tried again with backoff, from a second
// (Interval if shorter) doubling up to IdleInterval: a node restarting is
// watched again within seconds, one that will not serve a watch costs a
// call per IdleInterval.
func (f *follower) watch(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for k := range f.court.Endpoints {
		wg.Add(1)
		go func() { defer wg.Done(); f.watchEndpoint(ctx, k) }()
	}
}

func (f *follower) watchEndpoint(ctx context.Context, k int) {
	backoff := time.Duration(0)
	unimplemented := false
	log := f.log.With("endpoint", f.court.Endpoints[k])
	for ctx.Err() == nil {
		if !f.s.ledger.IsLeader() {
			// Only the leader runs rounds, so only it watches.
			if !sleepCtx(ctx, f.leaderCheck()) {
				return
			}
			continue
		}
		heard, err := f.watchOnce(ctx, k)
		if ctx.Err() != nil {
			return
		}
		if heard {
			backoff = 0
		}
		backoff = min(max(2*backoff, f.leaderCheck()), f.s.cfg.IdleInterval)
		switch code := status.Code(err); {
		case code == codes.Unimplemented:
			if !unimplemented {
				log.Info("the court does not offer WatchHeads; following it by polling alone", "retry_in", backoff)
			}
			unimplemented = true
		case err != nil:
			unimplemented = false
			log.Debug("watch of the court's heads ended; polling meanwhile", "err", err, "retry_in", backoff)
		}
		if !sleepCtx(ctx, backoff) {
			return
		}
	}
}

// leaderCheck is how often a watch checks that this node still leads, and
// its first wait before watching again.
func (f *follower) leaderCheck() time.Duration { return min(f.s.cfg.Interval, time.Second) }

// watchOnce watches endpoint k of the court until the stream ends, this
// node stops leading, or the stream is silent for watchSilence. heard
// reports that the stream delivered at least one head.
func (f *follower) watchOnce(ctx context.Context, k int) (heard bool, err error) {
	clients, err := f.connect()
	if err != nil {
		return false, err
	}
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
		if err != nil {
			return heard, err
		}
		heard = true
		select {
		case alive <- struct{}{}:
		default:
		}
		if err := f.pushed([]byte(r.Note), k); err != nil {
			return heard, err
		}
	}
}

// pushed acts on a head that endpoint k of the court pushed: if it is
// signed by the court and beyond the mirror, the follower runs a round
// now, towards the newer of this head and the one the round fetches, and
// asks endpoint k first (the node that pushed may be ahead of the others,
// which would answer with the head before and leave the filing for the
// next poll, or wait to catch up). It is only a hint: the round
// checks the head again and everything it mirrors up to it, so a head
// that does not verify is dropped (and ends the stream) and costs no
// round, and a genuine one costs at most one.
func (f *follower) pushed(note []byte, k int) error {
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
			f.hint, f.hintSize, f.next = note, h.Size, k
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
