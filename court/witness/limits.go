package witness

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
)
