package access

import (
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court/apierr"
	"github.com/courtledger/courtledger/evidence"
)

// Access is one row of the authorization table.
type Access struct {
	Roles []Role
	// Note says what limits a role further than the method, for the
	// documentation (docs/security.md); the checks are in scopeRequest
	// and scopeResponse.
	Note string
	// Forwarded marks a write a follower hands to the leader (onLeader).
	// A node may call only these on behalf of a caller, with the caller's
	// credential (guard.forwardedCaller).
	Forwarded bool
}

// methodAccess is THE authorization table: full gRPC method name → roles
// allowed. A method missing here is denied to everyone (see allowed), and
// TestEveryMethodHasARow fails for any registered method without a row.
// docs/security.md carries this table, checked by TestSecurityDocTable.
var methodAccess = map[string]Access{
	"/courtledger.v1.EvidenceService/Submit":            {Roles: []Role{RolePlatform}, Note: "the submission's platform must be the caller", Forwarded: true},
	"/courtledger.v1.EvidenceService/SubmitBatch":       {Roles: []Role{RolePlatform}, Note: "every submission's platform must be the caller", Forwarded: true},
	"/courtledger.v1.EvidenceService/SubmitSignedBatch": {Roles: []Role{RolePlatform}, Note: "the batch's and every submission's platform must be the caller", Forwarded: true},
	"/courtledger.v1.EvidenceService/GetEvidence": {Roles: []Role{RolePlatform, RoleJudge},
		Note: "a platform sees only its own entries (others are NotFound)"},
	"/courtledger.v1.EvidenceService/LookupFingerprint": {Roles: []Role{RolePlatform, RoleJudge},
		Note: "a platform sees only its own entries"},
	"/courtledger.v1.EvidenceService/GetInclusionProof":   {Roles: []Role{RolePlatform, RoleJudge, RoleLawyer}},
	"/courtledger.v1.EvidenceService/GetConsistencyProof": {Roles: []Role{RolePlatform, RoleJudge, RoleLawyer}},
	"/courtledger.v1.EvidenceService/GetLatestTreeHead":   {Roles: []Role{RolePlatform, RoleJudge, RoleLawyer, RoleAdmin}},
	"/courtledger.v1.EvidenceService/VerifyFingerprint":   {Roles: []Role{RoleJudge}},

	// Clients read the court's ID from the cluster status to pick its key
	// from a trust file, so every client role may.
	"/courtledger.v1.AdminService/GetClusterStatus": {Roles: []Role{RolePlatform, RoleJudge, RoleLawyer, RoleAdmin}},
	"/courtledger.v1.AdminService/AddNode":          {Roles: []Role{RoleAdmin}, Forwarded: true},
	"/courtledger.v1.AdminService/RemoveNode":       {Roles: []Role{RoleAdmin}, Forwarded: true},
	"/courtledger.v1.AdminService/RegisterPlatform": {Roles: []Role{RoleAdmin}, Forwarded: true},
	"/courtledger.v1.AdminService/RevokePlatform":   {Roles: []Role{RoleAdmin}, Forwarded: true},
	"/courtledger.v1.AdminService/ListPlatforms":    {Roles: []Role{RoleAdmin}},
	// Issue 5 (cross-court sync): alarms are the admin's.
	"/courtledger.v1.AdminService/ListAlarms":    {Roles: []Role{RoleAdmin}},
	"/courtledger.v1.AdminService/ClearAlarm":    {Roles: []Role{RoleAdmin}, Forwarded: true},
	"/courtledger.v1.AdminService/GetSyncStatus": {Roles: []Role{RoleAdmin}},

	// Issue 6: certificates and verdicts at trial.
	// Issue 15: whoever holds the file may verify it and take its
	// certificate with no credentials (the browser page): the fingerprint
	// is the proof of possession, the answer names only recordings of it,
	// and calls without credentials are rate-limited per address.
	"/courtledger.v1.CertificateService/GetCertificate": {Roles: []Role{RolePlatform, RoleJudge, RoleLawyer, RoleAnyone},
		Note: "no credentials needed; a platform gets certificates of its own evidence; a lawyer, or a caller without credentials, must present the file's fingerprint (proof of possession)"},
	"/courtledger.v1.CertificateService/VerifyEvidence": {Roles: []Role{RoleJudge, RoleAnyone},
		Note: "no credentials needed; only a judge sees the recording of a claimed evidence ID whose fingerprint differs (TAMPERED); others see recordings of the fingerprint they hold"},

	// Issue 5: another court syncs, and nothing else.
	"/courtledger.v1.SyncService/GetCheckpoint":  {Roles: []Role{RolePeer}},
	"/courtledger.v1.SyncService/GetConsistency": {Roles: []Role{RolePeer}},
	"/courtledger.v1.SyncService/StreamEntries":  {Roles: []Role{RolePeer}},
	"/courtledger.v1.SyncService/AddCosignature": {Roles: []Role{RolePeer}, Forwarded: true},
	"/courtledger.v1.SyncService/ExchangeHeads":  {Roles: []Role{RolePeer}, Forwarded: true},
	"/courtledger.v1.SyncService/WatchHeads":     {Roles: []Role{RolePeer}},

	"/courtledger.v1.AuditService/QueryAudit": {Roles: []Role{RoleAdmin}},
	"/courtledger.v1.BackupService/Backup": {Roles: []Role{RoleAdmin},
		Note: "a consistent copy of the answering node's ledger file, one at a time per node"},
	"/courtledger.v1.AuditService/AppendAudit": {Roles: []Role{RoleNode},
		Note: "a follower hands its audit records to the leader"},

	"/grpc.health.v1.Health/Check": {Roles: []Role{RoleAnyone}},
	"/grpc.health.v1.Health/List":  {Roles: []Role{RoleAnyone}},
	"/grpc.health.v1.Health/Watch": {Roles: []Role{RoleAnyone}},
}

// Allowed reports whether role may call method; unknown methods are denied.
func Allowed(method string, role Role) bool {
	a, ok := methodAccess[method]
	if !ok {
		return false
	}
	return slices.Contains(a.Roles, role) || slices.Contains(a.Roles, RoleAnyone)
}

// Forwarded reports whether a follower forwards method to the leader.
func Forwarded(method string) bool { return methodAccess[method].Forwarded }

// Public reports whether a method needs no credentials.
func Public(method string) bool {
	return slices.Contains(methodAccess[method].Roles, RoleAnyone)
}

// ScopeRequest limits a caller to its own data on the way in: a platform
// files only under its own ID.
func ScopeRequest(c Caller, req any) error {
	if r, ok := req.(*pb.GetCertificateRequest); ok && r.GetFingerprint() == "" {
		// Allowed the method, the lawyer must fill the field: a request
		// error, not a refusal of the role.
		switch c.Role {
		case RoleLawyer:
			return apierr.Invalid("fingerprint", "PROOF_OF_POSSESSION_REQUIRED", "a lawyer must present the evidence file's SM3 fingerprint")
		case RoleAnyone:
			return apierr.Invalid("fingerprint", "PROOF_OF_POSSESSION_REQUIRED", "without credentials, a certificate is given only for the evidence file's SM3 fingerprint")
		}
	}
	if c.Role != RolePlatform {
		return nil
	}
	mine := func(p string) error {
		// An empty platform is refused by validation, with a clearer reason.
		if p != "" && p != c.ID {
			return &DeniedError{"NOT_OWN_PLATFORM", fmt.Sprintf("platform %q may not file as %q", c.ID, p)}
		}
		return nil
	}
	switch r := req.(type) {
	case *pb.SubmitRequest:
		return mine(r.GetSubmission().GetSubmission().GetPlatform())
	case *pb.SubmitBatchRequest:
		for _, s := range r.GetSubmissions() {
			if err := mine(s.GetSubmission().GetPlatform()); err != nil {
				return err
			}
		}
	case *pb.SubmitSignedBatchRequest:
		if err := mine(r.GetHeader().GetPlatform()); err != nil {
			return err
		}
		for _, s := range r.GetSubmissions() {
			if err := mine(s.GetSubmission().GetPlatform()); err != nil {
				return err
			}
		}
	}
	return nil
}

// ScopeResponse limits a caller to its own data on the way out. A
// platform asking for another's evidence gets NotFound, as if it did not
// exist, so evidence IDs of other platforms cannot be probed.
func ScopeResponse(c Caller, resp any) (any, error) {
	if r, ok := resp.(*pb.VerifyEvidenceResponse); ok && c.Role != RoleJudge {
		// Only recordings of the fingerprint the caller holds: a claimed
		// evidence ID that records another file stays TAMPERED, but what it
		// records is for a judge.
		out := proto.Clone(r).(*pb.VerifyEvidenceResponse)
		out.Recordings = slices.DeleteFunc(out.Recordings, func(rec *pb.Recording) bool {
			return rec.GetFingerprint() != r.GetFingerprint()
		})
		if out.Verdict == pb.Verdict_VERDICT_TAMPERED {
			// The judge's reason names the recorded fingerprint, which is
			// the proof of possession a certificate asks for.
			out.Reason = "the evidence ID claimed was recorded with another fingerprint than the file's"
		}
		return out, nil
	}
	if c.Role != RolePlatform {
		return resp, nil
	}
	switch r := resp.(type) {
	case *pb.GetEvidenceResponse:
		if r.GetReceipt().GetEntry().GetSubmission().GetPlatform() != c.ID {
			return nil, apierr.ErrNoEvidence
		}
	case *pb.GetCertificateResponse:
		if e, err := evidence.UnmarshalEntry(r.GetCertificate().GetEntry()); err != nil || e.Submission.Platform != c.ID {
			return nil, apierr.ErrNoEvidence
		}
	case *pb.LookupFingerprintResponse:
		out := proto.Clone(r).(*pb.LookupFingerprintResponse)
		out.Entries = slices.DeleteFunc(out.Entries, func(e *pb.Entry) bool {
			return e.GetSubmission().GetPlatform() != c.ID
		})
		return out, nil
	}
	return resp, nil
}

// Lookup returns method's row of the table.
func Lookup(method string) (Access, bool) {
	a, ok := methodAccess[method]
	return a, ok
}

// Methods lists the methods the table has a row for, sorted.
func Methods() []string {
	var methods []string
	for m := range methodAccess {
		methods = append(methods, m)
	}
	slices.Sort(methods)
	return methods
}

// AccessTable renders methodAccess as the Markdown table of
// docs/security.md, one row per method, sorted.
func AccessTable() string {
	methods := Methods()
	var b strings.Builder
	b.WriteString("| method |")
	for _, r := range Roles {
		fmt.Fprintf(&b, " %s |", r)
	}
	b.WriteString(" limits |\n| --- |")
	for range Roles {
		b.WriteString(" :-: |")
	}
	b.WriteString(" --- |\n")
	for _, m := range methods {
		a := methodAccess[m]
		fmt.Fprintf(&b, "| `%s` |", m)
		for _, r := range Roles {
			mark := ""
			if Allowed(m, r) {
				mark = "✓"
			}
			fmt.Fprintf(&b, " %s |", mark)
		}
		note := a.Note
		if Public(m) && note == "" {
			note = "no credentials needed"
		}
		if a.Forwarded {
			note = strings.TrimPrefix(note+"; a follower forwards it to the leader", "; ")
		}
		fmt.Fprintf(&b, " %s |\n", note)
	}
	return b.String()
}
