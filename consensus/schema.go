package consensus

import (
	"encoding/binary"

	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/tlog"
)

// The ledger file's buckets. Every key and value format is here and nowhere
// else. Integers are big-endian so that bbolt's byte order is numeric order.
var (
	// bucketMeta holds single values: keyApplied, keySize.
	bucketMeta = []byte("meta")
	// bucketEntries maps index (u64) to the entry's canonical bytes
	// (evidence.Entry.Marshal), the leaf data of the Merkle log.
	bucketEntries = []byte("entries")
	// bucketNodes maps a perfect subtree's ID, nodeKey(level, index), to
	// its 32-byte SM3 hash. Level 0 holds the leaf hashes. These are the
	// only hashes a proof reads: O(log n) of them.
	bucketNodes = []byte("nodes")
	// bucketEvidence maps a 16-byte evidence ID to the entry's index (u64).
	// The evidence ID is derived from (court, platform, request ID), so this
	// is also the idempotency index of request IDs.
	bucketEvidence = []byte("evidence")
	// bucketFingerprints holds fingerprint (32) || index (u64) keys with
	// empty values: a prefix scan finds every entry of a fingerprint.
	bucketFingerprints = []byte("fingerprints")
	// bucketHeads maps tree size (u64) to the signed tree head (C2SP signed
	// note) the court made at that size; the last key is the latest head.
	bucketHeads = []byte("heads")
	// bucketPlatforms maps platform ID to platformRecord bytes.
	bucketPlatforms = []byte("platforms")

	// bucketMirrors holds, per other court it mirrors (key: court ID), a
	// nested bucket with the same entries, nodes, evidence, fingerprints and
	// heads buckets as the court's own log (the heads are the origin's,
	// with this court's cosignature line appended), and the keys keySize
	// and keyChecked.
	bucketMirrors = []byte("mirrors")
	// bucketCosignatures maps u64 size || witness court ID to the witness's
	// cosignature line on the court's own head at that size.
	bucketCosignatures = []byte("cosignatures")
	// bucketAlarms maps a court ID to its active alarm (alarmRecord):
	// mirroring that court stops while it is there.
	bucketAlarms = []byte("alarms")
	// bucketAlarmHistory maps court ID || 0x00 || u64 cleared-at (ms) to a
	// cleared alarm, kept as evidence.
	bucketAlarmHistory = []byte("alarm_history")

	allBuckets = [][]byte{bucketMeta, bucketEntries, bucketNodes, bucketEvidence,
		bucketFingerprints, bucketHeads, bucketPlatforms, bucketMirrors,
		bucketCosignatures, bucketAlarms, bucketAlarmHistory}

	// mirrorBuckets are the buckets nested in each mirror's bucket.
	mirrorBuckets = [][]byte{bucketEntries, bucketNodes, bucketEvidence, bucketFingerprints, bucketHeads}
)

var (
	// keyApplied is the last Raft log index applied, written in the same
	// transaction as the data it produced, so a replay never applies twice.
	keyApplied = []byte("applied_index")
	// keySize is the number of entries in the log.
	keySize = []byte("size")
	// keyCourt is the court ID the ledger belongs to, written once.
	keyCourt = []byte("court")
	// keyChecked, in a mirror's bucket, is when (u64 ms, the leader's
	// clock) the origin's latest head was last seen to be the mirror's.
	keyChecked = []byte("checked")
	// keyLayout is the version of this layout (u64 layoutVersion), written
	// when the file is created. Files without it are of layout 1, whose
	// node keys were level || index.
	keyLayout = []byte("layout")
	// keyIndexed, in the meta bucket and in each mirror's, is the number of
	// the log's first entries that its evidence and fingerprint buckets
	// index; the entries after it are indexed in memory (index.go). Absent
	// in files written before: there the buckets index every entry.
	keyIndexed = []byte("indexed")
)

// layoutVersion 2 keys nodes by their stored-hash index.
const layoutVersion = 2

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func getU64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// nodeKey is where a Merkle node lives: its stored-hash index (u64), the
// numbering of golang.org/x/mod/sumdb/tlog, in which a leaf's hash is
// followed by the hashes of the subtrees it completes. Appending to the log
// thus appends to the bucket, so a batch's nodes share one page and pages
// can be packed full (appendOnlyFill).
func nodeKey(id compact.NodeID) []byte {
	return u64(uint64(tlog.StoredHashIndex(int(id.Level), int64(id.Index))))
}

// appendOnlyFill is the FillPercent of the buckets whose keys only grow
// (entries, nodes, heads). bbolt's default of one half suits inserts in
// the middle; at the right edge it leaves every page half empty, so twice
// the pages to write, cache and sync.
const appendOnlyFill = 1.0

func fingerprintKey(fp [32]byte, index uint64) []byte {
	return binary.BigEndian.AppendUint64(append(make([]byte, 0, 40), fp[:]...), index)
}
