// Package certificate is the proof certificate (存证证明) of one evidence
// entry: a bundle anyone can check offline with only the courts' public
// keys, and the verdicts such a check gives.
//
// A certificate holds the entry's canonical bytes (package evidence), its
// index, the inclusion proof of that index, and the origin court's signed
// tree head with any witness cosignatures on it, plus the issuing court,
// the time of issue, the platform's registration, and the issuer's
// signature over all of it. The proof part is a C2SP tlog-proof
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
// members in this order and all values strings. It is the protojson form
// (proto field names) of courtledger.v1.Certificate in
// api/proto/courtledger/v1/certificate.proto:
//
//	format                  "courtledger.certificate/v2"
//	certificate_id          32 lowercase hex digits, derived below
//	issued_by               ID of the court that issued it (its own ledger or a mirror)
//	issued_at               RFC 3339 UTC time of issue, to the millisecond
//	evidence_id             the entry's evidence ID (repeated from the entry, checked)
//	fingerprint             the entry's SM3 fingerprint, 64 lowercase hex (repeated, checked)
//	entry                   standard base64 of the entry's canonical bytes
//	tlog_proof              the tlog-proof text above
//	platform_court          where the platform that filed it registered (optional,
//	platform_registered_at  the three together): the key its signature is
//	platform_key            checked with, base64 SubjectPublicKeyInfo DER
//	issuer_key_id           8 hex digits, the key ID of the issuer's trust file line
//	issuer_signature        base64 of the issuer's SM2 signature over the signed bytes
//
// The signed bytes (u64 and bytes as in package evidence; a platform member
// not stated is empty, its time 0):
//
//	bytes "courtledger.certificate/v2" || bytes issued_by || u64 issued_at (Unix ms) ||
//	bytes entry || bytes tlog_proof ||
//	bytes platform_court || u64 platform_registered_at || bytes platform_key
//
// and the certificate ID is the first 16 bytes of their SM3, in lowercase
// hex. What the certificate proves about the entry (its contents, its time,
// its place in the court's log) rests on the origin court's SM2 signature
// over the tree head and on the witnesses' cosignatures; who issued it,
// when, and the platform's key rest on the issuer's signature, and are
// reported as verified only when it holds under the issuer's key in the
// trust file.
//
// The entry may be of version 2, filed in a batch the platform signed once
// (package evidence): it carries the batch header, the platform's signature
// over it and the submission's path to the header's root, so a certificate
// of it needs nothing more to be checked offline. Decoding checks the path;
// the platform's signature, with the stated key, is over the header.
//
// A version 1 certificate ("courtledger.certificate/v1") has neither the
// platform nor the issuer members, and its ID is SM3(bytes
// "certificate-id/v1" || bytes issued_by || u64 issued_at || bytes entry ||
// bytes tlog_proof); it is still verified, its issuer reported unverified.
//
// # Verdicts
//
// Verify checks a certificate against a Trust (the courts' keys) and a
// Policy (optionally the fingerprint of the file at hand) and returns one
// verdict with a one-line reason: VALID, TAMPERED, NOT RECORDED, UNTRUSTED,
// INVALID PROOF or MALFORMED (see Verdict).
package certificate
