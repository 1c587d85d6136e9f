// Package tsa asks RFC 3161 time-stamping authorities for tokens and
// checks them offline.
//
// Why: a court's signed tree head carries the time of the court's own
// clock, signed by the court's own key; a judge needs a time the court
// alone could not have forged. A time-stamping authority (TSA) signs the
// pair (hash of the head's note text, its own clock's time) with a key
// whose certificate says it serves only that purpose, and anyone holding
// the TSA's root certificate checks the pair, with this package or with
// stock OpenSSL:
//
//	openssl ts -verify -data head.txt -in token.tsr -CAfile tsa-root.pem
//
// What the court keeps, replicates and hands out is the token in that
// command's sense: the whole DER TimeStampResp (RFC 3161 section 2.4.2) as
// the TSA sent it, status and all, a few KB. [Verify] also takes a bare
// TimeStampToken (the CMS SignedData inside), which some tools store.
//
// What is checked, and the error each check gives (errors.Is):
//
//   - the bytes decode, at most [MaxToken] of them: [ErrMalformed],
//     [ErrTooLarge]; a response whose status is not granted: [ErrRejected]
//   - the CMS signature over the TSTInfo is the signer certificate's, and
//     the signed signing-certificate attribute names that certificate:
//     [ErrSignature]
//   - the signer certificate chains to a trust anchor: [ErrUntrustedChain]
//   - it was valid at the token's time and carries exactly one extended
//     key usage, timeStamping, in a critical extension (RFC 3161 section
//     2.3): [ErrCertificate]
//   - the message imprint is Hash(data), with the hash the token names
//     (SHA-256, SHA-384 or SHA-512): [ErrImprint]
//   - the policy is the one required, if one is: [ErrPolicy]
//   - the token's time is within the tolerance of the expected time (the
//     head's), if one is given: [ErrTolerance]
//
// The ASN.1 of requests, responses and TSTInfo is
// github.com/digitorus/timestamp's, and the CMS is github.com/digitorus/pkcs7
// (the versions github.com/sigstore/timestamp-authority pins); this package
// adds only the checks above and the HTTP transport of RFC 3161 section 3.4.
//
// Unlike the rest of crypto/, a [Client] does I/O (one HTTP POST per
// token); [Verify] and [ParseAnchors] are pure computation.
package tsa
