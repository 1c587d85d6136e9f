package tsa

import "errors"

// The errors Stamp and Verify wrap, so that a caller tells the failures
// apart with errors.Is: a court retries ErrUnavailable later and raises an
// alarm for the others.
var (
	ErrMalformed      = errors.New("tsa: malformed time-stamp token")
	ErrTooLarge       = errors.New("tsa: time-stamp response too large")
	ErrRejected       = errors.New("tsa: time-stamp request rejected")
	ErrUnavailable    = errors.New("tsa: time-stamping authority unavailable")
	ErrSignature      = errors.New("tsa: time-stamp token signature does not verify")
	ErrUntrustedChain = errors.New("tsa: TSA certificate does not chain to a trust anchor")
	ErrCertificate    = errors.New("tsa: TSA certificate not fit for time-stamping")
	ErrImprint        = errors.New("tsa: time-stamp token is for other data")
	ErrNonce          = errors.New("tsa: time-stamp response nonce does not match the request")
	ErrPolicy         = errors.New("tsa: time-stamp token policy is not the required one")
	ErrTolerance      = errors.New("tsa: time-stamp time outside tolerance")
)
