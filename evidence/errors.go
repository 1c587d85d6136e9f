package evidence

import "fmt"

// Reason is a machine-readable cause of a rejected input. Reasons are
// sentinels: errors.Is(err, evidence.ErrFingerprintLength) holds through any
// wrapping, and an API maps Code to its error details.
type Reason struct {
	code string
	msg  string
}

func (r *Reason) Error() string { return r.msg }

// Code is a stable identifier such as "FINGERPRINT_LENGTH".
func (r *Reason) Code() string { return r.code }

func reason(code, msg string) *Reason { return &Reason{code: code, msg: msg} }

// Reasons for rejecting a submission, an entry or a receipt.
var (
	ErrMalformed         = reason("MALFORMED_ENCODING", "not a canonical encoding")
	ErrNewerVersion      = reason("NEWER_VERSION", "encoded by a newer version of the court software; upgrade this one")
	ErrPlatformID        = reason("INVALID_PLATFORM_ID", "platform ID must be 1-64 characters of a-z, 0-9, '.', '-', starting and ending with a letter or digit")
	ErrRequestID         = reason("INVALID_REQUEST_ID", "request ID must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':', '-', starting with a letter or digit")
	ErrFingerprintLength = reason("FINGERPRINT_LENGTH", "fingerprint must be 32 bytes (64 hex digits) of SM3")
	ErrFingerprintHex    = reason("FINGERPRINT_HEX", "fingerprint must be hexadecimal")
	ErrCategory          = reason("UNKNOWN_CATEGORY", "category is not one of the fixed list")
	ErrTitleEmpty        = reason("TITLE_EMPTY", "title must not be empty or only white space")
	ErrTooLong           = reason("TOO_LONG", "field is longer than allowed")
	ErrInvalidUTF8       = reason("INVALID_UTF8", "text must be valid UTF-8")
	ErrControlChar       = reason("CONTROL_CHARACTER", "text must not contain control characters")
	ErrInvisibleChar     = reason("INVISIBLE_CHARACTER", "text must not contain invisible or direction-changing characters (zero-width spaces and joiners, direction marks, bidirectional embeddings, overrides and isolates, byte-order mark, soft hyphen): a certificate would not print what was filed; remove them")
	ErrMetadataCount     = reason("TOO_MANY_METADATA", "too many metadata pairs")
	ErrMetadataKey       = reason("INVALID_METADATA_KEY", "metadata key must be 1-64 characters of a-z, 0-9, '_', '.', '-', starting with a letter")
	ErrMetadataSize      = reason("METADATA_TOO_LARGE", "metadata keys and values together are larger than allowed")
	ErrTimestamp         = reason("INVALID_TIMESTAMP", "timestamp is outside the years 2000-9999")
	ErrTimestampFuture   = reason("TIMESTAMP_IN_FUTURE", "timestamp is later than the court's clock allows")
	ErrTimestampStale    = reason("TIMESTAMP_TOO_OLD", "timestamp is older than the court accepts")
	ErrSignatureMissing  = reason("SIGNATURE_MISSING", "signature is missing or longer than an SM2 signature")
	ErrSignature         = reason("SIGNATURE_INVALID", "signature does not verify under the platform's registered SM2 key")
	ErrCourtMissing      = reason("SUBMISSION_VERSION", "submission names no court")
	ErrWrongCourt        = reason("WRONG_COURT", "submission is signed for another court")
	ErrCourtID           = reason("INVALID_COURT_ID", "court ID must be a log name: 1-128 characters of a-z, 0-9, '.', '-', '/', starting with a letter or digit")
	ErrEvidenceID        = reason("INVALID_EVIDENCE_ID", "evidence ID does not match court, platform and request ID")
	ErrBatchID           = reason("INVALID_BATCH_ID", "batch ID must be 1-128 characters of A-Z, a-z, 0-9, '.', '_', ':', '-', starting with a letter or digit")
	ErrBatchCount        = reason("BATCH_COUNT_MISMATCH", "a signed batch holds 1 to 1024 submissions, exactly as many as its header says")
	ErrBatchPath         = reason("BATCH_PATH_INVALID", "the submission's path does not lead to the root the platform signed in the batch header: it is not the submission signed at that place of the batch")
	ErrBatchMismatch     = reason("BATCH_MISMATCH", "the submission's court or platform differs from its batch header's")
	ErrBatchDuplicate    = reason("BATCH_DUPLICATE_REQUEST_ID", "a request ID appears twice in one batch; give each submission its own request ID and sign the batch again")
	ErrReceiptHead       = reason("RECEIPT_HEAD_INVALID", "receipt's tree head is not validly signed by the court")
	ErrReceiptProof      = reason("RECEIPT_PROOF_INVALID", "receipt's inclusion proof does not lead to the signed root")
	ErrReceiptMismatch   = reason("RECEIPT_MISMATCH", "receipt's entry does not belong under its tree head")
)

// FieldError says which field was rejected and why.
type FieldError struct {
	Field  string  // e.g. "fingerprint", "metadata[contract_no]"
	Reason *Reason // the machine-readable cause
	Detail string  // what was seen, for a person
}

func (e *FieldError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Reason.msg)
	}
	return fmt.Sprintf("%s: %s (%s)", e.Field, e.Reason.msg, e.Detail)
}

func (e *FieldError) Unwrap() error { return e.Reason }

func fieldErr(field string, r *Reason, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Reason: r, Detail: fmt.Sprintf(format, args...)}
}
