// Package apierr is the error the court's API returns: a gRPC code, a
// machine-readable reason, a message for people and the field at fault.
// A Problem carries its own gRPC status, so a package that refuses a call
// (access control, the servers) needs no central table to be mapped.
package apierr

import (
	"errors"
	"fmt"
	"time"
	"unicode"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Domain is the ErrorInfo domain of every error the court returns.
const Domain = "courtledger"

// Problem is an error in the API's words.
type Problem struct {
	Code    codes.Code
	Reason  string
	Message string
	Field   string
	// RetryAfter, if set, is how long a client should back off; it
	// becomes a RetryInfo detail and, through the gateway, Retry-After.
	RetryAfter time.Duration
}

func (p *Problem) Error() string { return p.Message }

// GRPCStatus is the status a gRPC method returns for p: its code, message
// and an ErrorInfo with the reason (and field) for machines.
func (p *Problem) GRPCStatus() *status.Status {
	st := status.New(p.Code, p.Message)
	info := &errdetails.ErrorInfo{Reason: p.Reason, Domain: Domain}
	if p.Field != "" {
		info.Metadata = map[string]string{"field": p.Field}
	}
	details := []protoadapt.MessageV1{info}
	if p.RetryAfter > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(p.RetryAfter)})
	}
	if with, err := st.WithDetails(details...); err == nil {
		st = with
	}
	return st
}

// ErrNoEvidence answers every request for evidence the caller may not
// see: an unknown evidence ID, a recorded one asked with another
// fingerprint (a lawyer's proof of possession), another platform's. The
// same code, reason and message, naming nothing, so no caller can tell
// which evidence IDs exist.
var ErrNoEvidence = &Problem{Code: codes.NotFound, Reason: "NOT_FOUND", Field: "evidence_id",
	Message: "no evidence with this ID (and this fingerprint, if given) is recorded at this court or its mirrors"}

// Invalid makes an InvalidArgument problem for a request field.
func Invalid(field, reason, format string, args ...any) error {
	return &Problem{Code: codes.InvalidArgument, Reason: reason, Message: fmt.Sprintf(format, args...), Field: field}
}

// FromStatus reads a Problem back from an error that carries a gRPC status
// (a Problem, another package's refusal, a remote node's answer), and
// reports whether err carried one.
func FromStatus(err error) (Problem, bool) {
	if err == nil { // as status.FromError: nil is OK
		return Problem{Code: codes.OK, Reason: CodeReason(codes.OK)}, true
	}
	var gs interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &gs) {
		return Problem{}, false
	}
	st := gs.GRPCStatus()
	// A status without an ErrorInfo of ours gets its code's name in the
	// reasons' spelling: NOT_FOUND, not NotFound.
	p := Problem{Code: st.Code(), Reason: CodeReason(st.Code()), Message: st.Message()}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if d.GetReason() != "" {
				p.Reason, p.Field = d.GetReason(), d.GetMetadata()["field"]
			}
		case *errdetails.RetryInfo:
			p.RetryAfter = d.GetRetryDelay().AsDuration()
		}
	}
	return p, true
}

// CodeReason spells a gRPC code as the reasons are spelled: NotFound
// becomes NOT_FOUND.
func CodeReason(c codes.Code) string {
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
