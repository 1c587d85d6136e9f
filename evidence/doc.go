// Package evidence is the domain of the ledger: what a platform submits, what
// the court records, the receipt it returns, and the checks on each.
//
// # Canonical encoding
//
// Signatures and Merkle leaves are computed over bytes, so every record has
// exactly one encoding, defined here (and with a worked example in
// docs/formats.md) so that a third party can reproduce it without this code.
// Protobuf's deterministic marshalling is not used: it is not canonical
// across implementations.
//
// Three field types, concatenated with no padding or separators:
//
//	u32    4 bytes, big-endian
//	u64    8 bytes, big-endian
//	bytes  u32 length, then that many bytes (strings: their UTF-8 bytes)
//
// A submission, the bytes a platform signs (version 2):
//
//	bytes  "evidence-submission/v2"   domain separation tag
//	bytes  court ID                   the court it is filed with; not empty
//	bytes  platform ID
//	bytes  request ID
//	bytes  fingerprint                32 bytes, SM3 of the evidence file
//	bytes  category
//	bytes  title
//	u32    number of metadata pairs
//	       per pair, in strictly increasing bytewise order of key:
//	bytes  key
//	bytes  value
//	u64    signed-at, Unix time in milliseconds
//
// Version 1 is the same without the court ID, under the tag
// "evidence-submission/v1". It is decoded, since entries recorded before
// version 2 hold it, but a court accepts only version 2 naming itself
// (Check): a version 1 signature could be replayed to any court where the
// platform is registered. In an entry, a version 2 submission's court ID
// equals the entry's.
//
// An entry, the bytes of a Merkle leaf (the leaf hash is SM3(0x00 || entry)):
//
//	bytes  "evidence-entry/v1"
//	bytes  court ID
//	u64    index of the entry in the court's log
//	bytes  evidence ID
//	u64    accepted-at, Unix time in milliseconds, decided by the court
//	bytes  submission, encoded as above
//	bytes  platform's SM2 signature over the submission bytes (ASN.1 DER)
//
// A platform filing many submissions may sign them once, as a batch
// (batch.go): it signs a batch header over the root of the Merkle tree
// (package merkle: RFC 6962 with SM3) whose leaves are the n submissions'
// bytes, in order:
//
//	bytes  "evidence-batch/v1"
//	bytes  court ID
//	bytes  platform ID
//	bytes  batch ID                   a request ID's format
//	u64    signed-at, Unix time in milliseconds
//	u32    n, 1..1024
//	bytes  root                       32 bytes
//
// Each submission of the batch is recorded as its own entry of version 2:
// the fields of version 1 up to the submission, under the tag
// "evidence-entry/v2", and in place of the signature:
//
//	bytes  batch header, encoded as above
//	bytes  platform's SM2 signature over the batch header bytes (ASN.1 DER)
//	u32    leaf: the submission's index in the batch
//	bytes  path: the inclusion path of leaf in the batch tree, its 32-byte
//	       hashes concatenated
//
// Decoding a version 2 entry checks that the path leads from the
// submission to the header's root, and that header, submission and entry
// name one court and one platform; the signature needs the platform's key
// (Entry.VerifySignature).
//
// The evidence ID is derived, so a platform knows it before it submits:
//
//	evidence ID = lowercase hex of the first 16 bytes of
//	              SM3(bytes "evidence-id/v1" || bytes court ID ||
//	                  bytes platform ID || bytes request ID)
//
// Decoded values never alias the input bytes.
//
// Decoding accepts only what encoding produces: no trailing bytes, no
// out-of-order or duplicate metadata keys, every bound of Validate.
package evidence
