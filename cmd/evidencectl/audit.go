package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/courtledger/courtledger/api/client"
	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
)

// auditCmd reads the court's access audit log (AuditService.QueryAudit).
// The court filters by caller, method and target; the time range is
// filtered here, as the court keeps records in sequence order only.
func auditCmd(r *remote) *cobra.Command {
	var caller, method, evidenceID, since, until string
	var after uint64
	var limit int
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Who called what at the court: the access audit log (admin), filtered by --caller, --method, --evidence, --since/--until",
		Long: `audit pages through the court's audit log, oldest first: every API call a
node served, with the caller, its role, how it authenticated, the method,
what it asked for (an evidence ID, fingerprint, platform...) and the answer's
code. The court matches --caller and --method exactly, and --evidence as
part of the target (evidence_id=..., fingerprint=...); --method takes a full gRPC name (/courtledger.v1.EvidenceService/GetEvidence)
or just its last part (GetEvidence). --since and --until (RFC 3339, or a
duration back from now such as 1h) are applied here. Prints at most --limit
records; --after continues from a sequence number.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			from, err := parseWhen(since, "--since")
			if err != nil {
				return err
			}
			to, err := parseWhen(until, "--until")
			if err != nil {
				return err
			}
			if limit <= 0 {
				return fmt.Errorf("%w: --limit must be at least 1", errUsage)
			}
			m := method
			if m != "" && !strings.HasPrefix(m, "/") {
				m = "/courtledger.v1." + serviceOf(m) + "/" + m
			}
			page, err := call(r, func(ctx context.Context, c *client.Client) (*pb.QueryAuditResponse, error) {
				a := pb.NewAuditServiceClient(c.Conn())
				var out []*pb.AuditRecord
				cursor := after
				// Pages until enough records match or the log ends; a page
				// may be empty and still have more after it.
				for {
					resp, err := a.QueryAudit(ctx, &pb.QueryAuditRequest{After: cursor, Limit: 1000, Caller: caller, Method: m, Target: evidenceID})
					if err != nil {
						return nil, err
					}
					for _, rec := range resp.Records {
						t := rec.Time.AsTime()
						if (!from.IsZero() && t.Before(from)) || (!to.IsZero() && t.After(to)) {
							continue
						}
						out = append(out, rec)
						if len(out) == limit {
							return &pb.QueryAuditResponse{Records: out, Next: rec.Seq}, nil
						}
					}
					if resp.Next == 0 || resp.Next == cursor {
						return &pb.QueryAuditResponse{Records: out}, nil
					}
					cursor = resp.Next
					if !to.IsZero() && len(resp.Records) > 0 && resp.Records[len(resp.Records)-1].Time.AsTime().After(to) {
						return &pb.QueryAuditResponse{Records: out}, nil // the log is in time order: nothing later matches
					}
				}
			})
			if err != nil {
				return err
			}
			recs, next := page.Records, page.Next
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), page)
			}
			w := cmd.OutOrStdout()
			if len(recs) == 0 {
				fmt.Fprintln(w, "no audit record matches")
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SEQ\tTIME\tNODE\tCALLER\tROLE\tVIA\tMETHOD\tTARGET\tCODE")
			for _, rec := range recs {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", rec.Seq, rec.Time.AsTime().Format(time.RFC3339), rec.NodeId,
					rec.Caller, rec.Role, rec.Via, rec.Method[strings.LastIndex(rec.Method, "/")+1:], rec.Target, rec.Code)
			}
			tw.Flush()
			if next != 0 {
				fmt.Fprintf(w, "(more: --after %d)\n", next)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&caller, "caller", "", "only calls by this caller ID (e.g. judge-wang, esign.example)")
	f.StringVar(&method, "method", "", "only calls of this method (GetEvidence, or its full gRPC name)")
	f.StringVar(&evidenceID, "evidence", "", "only calls whose target contains this: an evidence ID (or a fingerprint, platform ID)")
	f.StringVar(&since, "since", "", "only calls at or after this time (RFC 3339, or a duration ago: 24h)")
	f.StringVar(&until, "until", "", "only calls at or before this time (RFC 3339, or a duration ago)")
	f.Uint64Var(&after, "after", 0, "start after this sequence number")
	f.IntVar(&limit, "limit", 100, "print at most this many records")
	return cmd
}

// parseWhen reads a time flag: RFC 3339, or a duration before now.
func parseWhen(s, flag string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%w: %s %q: give a time in RFC 3339 (2026-12-03T09:00:00Z) or a duration ago (90m)", errUsage, flag, s)
}

// serviceOf names the service of a method given by its short name.
func serviceOf(method string) string {
	for _, svc := range []struct {
		name    string
		methods []string
	}{
		{"EvidenceService", []string{"Submit", "SubmitBatch", "GetEvidence", "LookupFingerprint", "GetInclusionProof", "GetConsistencyProof", "GetLatestTreeHead", "VerifyFingerprint"}},
		{"CertificateService", []string{"GetCertificate", "VerifyEvidence"}},
		{"AuditService", []string{"QueryAudit", "AppendAudit"}},
		{"SyncService", []string{"GetCheckpoint", "GetConsistency", "StreamEntries", "AddCosignature", "ExchangeHeads"}},
	} {
		for _, m := range svc.methods {
			if m == method {
				return svc.name
			}
		}
	}
	return "AdminService"
}
