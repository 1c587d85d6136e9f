package consensus

import (
	"testing"
	"time"
)

func lingerBatcher(linger time.Duration, returning int64) *batcher {
	b := &batcher{
		cfg:    BatchConfig{MaxEntries: 100, MaxBytes: 1 << 20, MaxInFlight: 1, Linger: linger},
		in:     make(chan *item, 100),
		stopCh: make(chan struct{}),
	}
	b.returning.Store(returning)
	return b
}

func TestFillLinger(t *testing.T) {
	const forever = time.Hour // a wait this long fails the test by its timeout
	tests := []struct {
		name      string
		linger    time.Duration
		returning int64 // acknowledged since the last proposal
		queued    int   // waiting when the slot frees
		later     int   // arriving while it lingers
		stop      bool  // the batcher stops while it lingers
		want      int
		stopped   bool
	}{
		{name: "lone caller goes at once", linger: forever, returning: 1, queued: 1, want: 1},
		{name: "first batch goes at once", linger: forever, returning: 0, queued: 1, want: 1},
		{name: "waits for every caller back", linger: forever, returning: 4, queued: 1, later: 3, want: 4},
		{name: "more than expected go together", linger: forever, returning: 2, queued: 5, want: 5},
		{name: "gives up after linger", linger: time.Millisecond, returning: 4, queued: 1, want: 1},
		{name: "never waits when negative", linger: -1, returning: 4, queued: 1, want: 1},
		{name: "stop ends the wait", linger: forever, returning: 4, queued: 1, stop: true, want: 1, stopped: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := lingerBatcher(tc.linger, tc.returning)
			for i := 0; i < tc.queued; i++ {
				b.in <- &item{raw: []byte("x")}
			}
			go func() {
				for i := 0; i < tc.later; i++ {
					b.in <- &item{raw: []byte("x")}
				}
				if tc.stop {
					close(b.stopCh)
				}
			}()
			batch, _, stopped := b.fill(nil, 0)
			if len(batch) != tc.want || stopped != tc.stopped {
				t.Fatalf("fill gave %d items, stopped %v; want %d, %v", len(batch), stopped, tc.want, tc.stopped)
			}
			if got := b.returning.Load(); got != 0 {
				t.Fatalf("returning is %d after a fill, want 0", got)
			}
		})
	}
}

func TestFillStopsAtBounds(t *testing.T) {
	b := lingerBatcher(time.Hour, 50)
	b.cfg.MaxEntries = 3
	for i := 0; i < 5; i++ {
		b.in <- &item{raw: []byte("x")}
	}
	if batch, _, _ := b.fill(nil, 0); len(batch) != 3 {
		t.Fatalf("fill took %d items, MaxEntries is 3", len(batch))
	}
	if len(b.in) != 2 {
		t.Fatalf("%d items left queued, want 2", len(b.in))
	}
}
