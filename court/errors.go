package court

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/court/apierr"
	"github.com/courtledger/courtledger/evidence"
)

// Problem is an error in the API's words: a gRPC code, a machine-readable
// reason, a message for people and the field at fault, if any.
type Problem = apierr.Problem

// problemOf maps an error to the API's terms. It is the one place where
// errors of the layers below (consensus, evidence) become gRPC codes; an
// error that carries its own status (a Problem, access control's
// refusals, a remote node's answer) keeps it. grpc-gateway then maps the
// codes to HTTP statuses (400, 401, 403, 404, 409, 429, 503).
func problemOf(err error) Problem {
	var p *Problem
	if errors.As(err, &p) {
		return *p
	}
	if p, ok := apierr.FromStatus(err); ok {
		return p
	}
	m := mapped(err)
	m.Message = forPeople(m.Message)
	return m
}

// internalPrefixes name the packages an error passed through; callers are
// told what happened, not where (issue 13, item 7).
var internalPrefixes = strings.NewReplacer("consensus: ", "", "evidence: ", "", "court: ", "", "certificate: ", "")

// forPeople is an error message as the API returns it: without the
// package prefixes Go errors carry for their programmers.
func forPeople(msg string) string { return internalPrefixes.Replace(msg) }

// mapped maps the errors of the layers below to the API's terms.
func mapped(err error) Problem {
	var (
		fe *evidence.FieldError
		nl *consensus.NotLeaderError
		be *consensus.BusyError
	)
	switch {
	case errors.As(err, &be): // the client backs off for RetryAfter (RetryInfo; HTTP Retry-After)
		return Problem{Code: codes.ResourceExhausted, Reason: "COURT_BUSY", Message: err.Error(), RetryAfter: be.RetryAfter}
	case errors.As(err, &fe):
		return Problem{Code: codes.InvalidArgument, Reason: fe.Reason.Code(), Message: fe.Error(), Field: fe.Field}
	case errors.Is(err, consensus.ErrRequestConflict):
		return Problem{Code: codes.AlreadyExists, Reason: "REQUEST_ID_CONFLICT", Message: err.Error(), Field: "request_id"}
	case errors.Is(err, consensus.ErrPlatformExists):
		return Problem{Code: codes.AlreadyExists, Reason: "PLATFORM_EXISTS", Message: err.Error(), Field: "platform_id"}
	case errors.Is(err, consensus.ErrUnknownPlatform):
		return Problem{Code: codes.PermissionDenied, Reason: "PLATFORM_NOT_REGISTERED", Message: err.Error(), Field: "platform"}
	case errors.Is(err, consensus.ErrBatchTooLarge):
		return Problem{Code: codes.InvalidArgument, Reason: "BATCH_TOO_LARGE", Message: err.Error(), Field: "submissions"}
	case errors.Is(err, consensus.ErrAlarmed):
		return Problem{Code: codes.FailedPrecondition, Reason: "COURT_ALARMED", Message: err.Error()}
	case errors.Is(err, consensus.ErrNoAlarm):
		return Problem{Code: codes.NotFound, Reason: "NO_ALARM", Message: err.Error(), Field: "court"}
	case errors.Is(err, consensus.ErrUnknownHead):
		return Problem{Code: codes.NotFound, Reason: "UNKNOWN_HEAD", Message: err.Error()}
	case errors.Is(err, consensus.ErrMirrorRejected):
		return Problem{Code: codes.FailedPrecondition, Reason: "MIRROR_REJECTED", Message: err.Error()}
	case errors.Is(err, consensus.ErrEmpty):
		return Problem{Code: codes.NotFound, Reason: "LEDGER_EMPTY", Message: err.Error()}
	case errors.Is(err, consensus.ErrNotFound):
		return Problem{Code: codes.NotFound, Reason: "NOT_FOUND", Message: err.Error()}
	case errors.As(err, &nl):
		return Problem{Code: codes.Unavailable, Reason: "NOT_LEADER", Message: nl.Error()}
	case errors.Is(err, consensus.ErrCorrupt): // details (file, record) are in the node's log and health, not for callers
		return Problem{Code: codes.Unavailable, Reason: "LEDGER_CORRUPT", Message: "this node's copy of the ledger failed its integrity check; another node of the court can serve the request"}
	case errors.Is(err, consensus.ErrLedgerBroken):
		return Problem{Code: codes.Unavailable, Reason: "LEDGER_UNAVAILABLE", Message: err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return Problem{Code: codes.DeadlineExceeded, Reason: "DEADLINE_EXCEEDED", Message: err.Error()}
	case errors.Is(err, context.Canceled):
		return Problem{Code: codes.Canceled, Reason: "CANCELED", Message: err.Error()}
	}
	return Problem{Code: codes.Internal, Reason: "INTERNAL", Message: err.Error()}
}

// invalid makes an InvalidArgument problem for a request field.
func invalid(field, reason, format string, args ...any) error {
	return apierr.Invalid(field, reason, format, args...)
}

// toStatus is the error a gRPC method returns: its code, message and an
// ErrorInfo with the reason (and field) for machines; a RetryInfo when the
// client should back off.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	p := problemOf(err)
	return p.GRPCStatus().Err()
}
