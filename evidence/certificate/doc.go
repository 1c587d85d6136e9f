// Package certificate is the proof certificate (存证证明) of one evidence
// entry: a bundle anyone can check offline with only the courts' public
// keys, and the verdicts such a check gives.
//
// A certificate holds the entry's canonical bytes (package evidence), its
// index, the inclusion proof of that index, and the origin court's signed
// tree head with any witness cosignatures on it, plus the issuing court and
// the time of issue. The proof part is a C2SP tlog-proof
// (https://c2sp.org/tlog-proof) with SM3 hashes in place of SHA-256:
//
//	c2sp.org/tlog-proof@v1
//	index <decimal index of the entry>
//	<base64 SM3 hash>            one line per inclusion proof hash, leaf side first
//	                             (an empty line)
//	<the signed tree head, verbatim: four lines of checkpoint, a blank line,
//	 the court's signature line, then 0..n witness cosignature lines>
//
// The optional "extra" line of tlog-proof is never written and is rejected.
//
// # JSON
//
// A certificate is stored and exchanged as this JSON object, with the
// members in this order and all values strings. It is exactly the protojson
// form (proto field names) of courtledger.v1.Certificate in
// api/proto/courtledger/v1/certificate.proto:
//
//	format          "courtledger.certificate/v1"
//	certificate_id  32 lowercase hex digits, derived below
//	issued_by       ID of the court that issued it (its own ledger or a mirror)
//	issued_at       RFC 3339 UTC time of issue, to the millisecond
//	evidence_id     the entry's evidence ID (repeated from the entry, checked)
//	fingerprint     the entry's SM3 fingerprint, 64 lowercase hex (repeated, checked)
//	entry           standard base64 of the entry's canonical bytes
//	tlog_proof      the tlog-proof text above
//
// The certificate ID binds everything else:
//
//	certificate ID = lowercase hex of the first 16 bytes of
//	                 SM3(bytes "certificate-id/v1" || bytes issued_by ||
//	                     u64 issued_at (Unix ms) || bytes entry || bytes tlog_proof)
//
// with u64 and bytes as in package evidence. Neither issued_by nor issued_at
// is signed: they say who printed the certificate and when, while what it
// proves (the entry, its time, its place in the court's log) rests on the
// origin court's SM2 signature over the tree head and on the witnesses'
// cosignatures, which the certificate carries and the verifier checks.
//
// # Verdicts
//
// Verify checks a certificate against a Trust (the courts' keys) and a
// Policy (optionally the fingerprint of the file at hand) and returns one
// verdict with a one-line reason: VALID, TAMPERED, NOT RECORDED, UNTRUSTED,
// INVALID PROOF or MALFORMED (see Verdict).
package certificate
