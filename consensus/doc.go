// Package consensus is one court's replicated ledger: a hashicorp/raft group
// whose log and stable store are bbolt (raft-boltdb/v2) and whose state
// machine applies batches of evidence entries into a ledger of its own, also
// bbolt, laid out in schema.go.
//
// Writes go through the leader's group commit (batcher.go): submissions are
// checked (format, clock, the platform's SM2 signature) in the callers'
// goroutines, so on all cores; the batcher packs them into one Raft entry per
// batch together with the tree head after the batch, signed with the court's
// SM2 key; each replica applies the batch in one bbolt transaction. Nothing
// is acknowledged before its batch is committed by a majority and applied.
//
// The state machine is deterministic: times, indexes, evidence IDs and the
// signed head are decided by the leader and carried in the command; Apply
// checks them (the batch must extend the log exactly and rebuild the signed
// root) and rejects a batch that does not, identically on every replica.
//
// Nothing here knows gRPC; the court package puts an API in front of Ledger.
package consensus
