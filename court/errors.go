package court

import (
	"context"
	"errors"
	"fmt"
	"unicode"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/courtledger/courtledger/consensus"
	"github.com/courtledger/courtledger/evidence"
)

// errorDomain is the ErrorInfo domain of every error this service returns.
const errorDomain = "courtledger"

// Problem is an error in the API's words: a gRPC code, a machine-readable
// reason, a message for people and the field at fault, if any.
type Problem struct {
	Code    codes.Code
	Reason  string
	Message string
	Field   string
}

// problemOf maps an error to the API's terms. It is the one place where
// errors of the layers below become gRPC codes; grpc-gateway then maps the
// codes to HTTP statuses (400, 401, 403, 404, 409, 429, 503).
func problemOf(err error) Problem {
	var (
		fe *evidence.FieldError
		nl *consensus.NotLeaderError
		p  *Problem
		// Security (issue 7): refused credentials, roles and rates.
		ae *AuthError
		de *DeniedError
		rl *RateLimitedError
	)
	switch {
	case errors.As(err, &p):
		return *p
	case errors.As(err, &ae):
		return ae.problem()
	case errors.As(err, &de):
		return de.problem()
	case errors.As(err, &rl):
		return Problem{codes.ResourceExhausted, "RATE_LIMITED", rl.Error(), ""}
	case errors.Is(err, errAuditBacklog):
		return Problem{codes.Unavailable, "AUDIT_BACKLOG", err.Error(), ""}
	case errors.As(err, &fe):
		return Problem{codes.InvalidArgument, fe.Reason.Code(), fe.Error(), fe.Field}
	case errors.Is(err, consensus.ErrRequestConflict):
		return Problem{codes.AlreadyExists, "REQUEST_ID_CONFLICT", err.Error(), "request_id"}
	case errors.Is(err, consensus.ErrPlatformExists):
		return Problem{codes.AlreadyExists, "PLATFORM_EXISTS", err.Error(), "platform_id"}
	case errors.Is(err, consensus.ErrUnknownPlatform):
		return Problem{codes.PermissionDenied, "PLATFORM_NOT_REGISTERED", err.Error(), "platform"}
	case errors.Is(err, consensus.ErrBatchTooLarge):
		return Problem{codes.InvalidArgument, "BATCH_TOO_LARGE", err.Error(), "submissions"}
	case errors.Is(err, consensus.ErrAlarmed):
		return Problem{codes.FailedPrecondition, "COURT_ALARMED", err.Error(), ""}
	case errors.Is(err, consensus.ErrNoAlarm):
		return Problem{codes.NotFound, "NO_ALARM", err.Error(), "court"}
	case errors.Is(err, consensus.ErrUnknownHead):
		return Problem{codes.NotFound, "UNKNOWN_HEAD", err.Error(), ""}
	case errors.Is(err, consensus.ErrMirrorRejected):
		return Problem{codes.FailedPrecondition, "MIRROR_REJECTED", err.Error(), ""}
	case errors.Is(err, consensus.ErrEmpty):
		return Problem{codes.NotFound, "LEDGER_EMPTY", err.Error(), ""}
	case errors.Is(err, consensus.ErrNotFound):
		return Problem{codes.NotFound, "NOT_FOUND", err.Error(), ""}
	case errors.As(err, &nl):
		return Problem{codes.Unavailable, "NOT_LEADER", nl.Error(), ""}
	case errors.Is(err, consensus.ErrCorrupt): // details (file, record) are in the node's log and health, not for callers
		return Problem{codes.Unavailable, "LEDGER_CORRUPT", "this node's copy of the ledger failed its integrity check; another node of the court can serve the request", ""}
	case errors.Is(err, consensus.ErrLedgerBroken):
		return Problem{codes.Unavailable, "LEDGER_UNAVAILABLE", err.Error(), ""}
	case errors.Is(err, context.DeadlineExceeded):
		return Problem{codes.DeadlineExceeded, "DEADLINE_EXCEEDED", err.Error(), ""}
	case errors.Is(err, context.Canceled):
		return Problem{codes.Canceled, "CANCELED", err.Error(), ""}
	}
	if s, ok := status.FromError(err); ok {
		// A status made by toStatus (an HTTP route calling a gRPC method)
		// keeps its reason and field; any other gets its code's name in
		// the reasons' spelling, NOT_FOUND and not NotFound (issue 13,
		// item 9).
		p := Problem{s.Code(), codeReason(s.Code()), s.Message(), ""}
		for _, d := range s.Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok && info.Reason != "" {
				p.Reason, p.Field = info.Reason, info.Metadata["field"]
			}
		}
		return p
	}
	return Problem{codes.Internal, "INTERNAL", err.Error(), ""}
}

func (p *Problem) Error() string { return p.Message }

// codeReason spells a gRPC code as the reasons are spelled: NotFound
// becomes NOT_FOUND.
func codeReason(c codes.Code) string {
	var b []rune
	prev := ' '
	for _, r := range c.String() {
		if unicode.IsUpper(r) && unicode.IsLower(prev) {
			b = append(b, '_')
		}
		b, prev = append(b, unicode.ToUpper(r)), r
	}
	return string(b)
}

// invalid makes an InvalidArgument problem for a request field.
func invalid(field, reason, format string, args ...any) error {
	return &Problem{Code: codes.InvalidArgument, Reason: reason, Message: fmt.Sprintf(format, args...), Field: field}
}

// toStatus is the error a gRPC method returns: its code, message and an
// ErrorInfo with the reason (and field) for machines.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	p := problemOf(err)
	st := status.New(p.Code, p.Message)
	info := &errdetails.ErrorInfo{Reason: p.Reason, Domain: errorDomain}
	if p.Field != "" {
		info.Metadata = map[string]string{"field": p.Field}
	}
	details := []protoadapt.MessageV1{info}
	// A client backs off for as long as the rate limiter says; the gateway
	// turns this into Retry-After.
	var rl *RateLimitedError
	if errors.As(err, &rl) {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(rl.RetryAfter)})
	}
	if with, err := st.WithDetails(details...); err == nil {
		st = with
	}
	return st.Err()
}
