package witness

import "time"

// Bounds of the sync protocol, which the follower keeps to as a client and
// the node's SyncService enforces as a server.
const (
	// MaxPage bounds the entries of one page of StreamEntries;
	// DefaultPage is a page when the caller names no size.
	MaxPage     = 1000
	DefaultPage = 256
	// MaxRange bounds the entries one StreamEntries call sends; the
	// follower asks again for the rest.
	MaxRange = 100_000
	// MaxGossip bounds the heads of one ExchangeHeads, each way.
	MaxGossip = 64
	// MaxWatchers bounds the WatchHeads streams one node serves at once;
	// each holds a goroutine and a stream for as long as the watcher
	// likes. A court's leader watches each node of each other court once,
	// so a node serves one watch per other court: 64 leaves room for many
	// courts and for watches of a deposed leader not yet seen closed.
	MaxWatchers = 64
	// WatchHeartbeat is how often a WatchHeads stream sends the newest head
	// again while nothing changes; a watcher that hears nothing for
	// watchSilence takes the stream for dead (a peer gone without closing
	// its connection) and opens another.
	WatchHeartbeat = 15 * time.Second
	watchSilence   = 3 * WatchHeartbeat
)
