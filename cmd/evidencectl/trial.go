package main

import (
	"encoding/hex"
	"fmt"

	"github.com/spf13/cobra"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/evidence"
	"github.com/courtledger/courtledger/evidence/certificate"
)

// verifyCmd is the judge's check at trial. The court finds the recordings
// and sends a certificate for each; the verdict printed is this machine's
// own offline check of those certificates against the trust file, so a
// court (or anything between) cannot make a file look recorded.
func verifyCmd(r *remote) *cobra.Command {
	var fingerprint, evidenceID string
	cmd := &cobra.Command{
		Use:   "verify [FILE]",
		Short: "As a judge: was this file (or --fingerprint) recorded, when and by whom? Prints a verdict",
		Long: `verify hashes FILE with SM3 here (streamed, any size, with a progress bar for
big files; the file never leaves this machine), asks the court for every
recording of that fingerprint (or only the one under --evidence-id, the ID a
party claims), and checks each certificate the court sends offline against
--trust. It prints one verdict and the details of each recording: origin
court, time recorded, platform, position in the log, witnessing courts.

` + exitCodesHelp,
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := loadTrust(r.trust)
			if err != nil {
				return err
			}
			var fp evidence.Fingerprint
			switch {
			case fingerprint != "" && len(args) == 0:
				if fp, err = evidence.ParseFingerprint(fingerprint); err != nil {
					return err
				}
			case fingerprint == "" && len(args) == 1:
				if fp, _, err = fingerprintFileProgress(cmd, args[0]); err != nil {
					return err
				}
			default:
				return fmt.Errorf("%w: give one FILE or --fingerprint", errUsage)
			}
			ctx, cancel := withTimeout(r)
			defer cancel()
			c, done, err := certificates(r)
			if err != nil {
				return err
			}
			defer done()
			resp, err := c.VerifyEvidence(ctx, &pb.VerifyEvidenceRequest{Fingerprint: hex.EncodeToString(fp[:]), EvidenceId: evidenceID})
			if err != nil {
				return describe(err)
			}
			verdict, reason, results := judge(v, fp, resp)
			if jsonOutput(cmd) {
				// Each result encodes with its verdict by name
				// (certificate.Result.MarshalJSON).
				printJSON(cmd.OutOrStdout(), map[string]any{
					"verdict": verdict.String(), "reason": reason, "fingerprint": hex.EncodeToString(fp[:]),
					"served_by": resp.ServedBy, "recordings": results})
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "%s (%s): %s\n", verdict, verdict.Chinese(), reason)
				for i, res := range results {
					fmt.Fprintf(cmd.OutOrStdout(), "recording %d of %d, ", i+1, len(results))
					printResult(cmd.OutOrStdout(), res)
				}
			}
			return verdictErr(verdict, reason)
		},
	}
	cmd.Flags().StringVar(&fingerprint, "fingerprint", "", "SM3 fingerprint (64 hex digits) instead of a file")
	cmd.Flags().StringVar(&evidenceID, "evidence-id", "", "the evidence ID the file is claimed to be recorded under")
	return cmd
}

// judge turns the court's answer into a verdict checked here: NOT RECORDED
// as the court says (an absence has no proof); otherwise each recording's
// certificate is verified offline for the file at hand and the verdict is
// the first recording's, whatever the court's own verdict said.
func judge(v *certificate.Verifier, fp evidence.Fingerprint, resp *pb.VerifyEvidenceResponse) (certificate.Verdict, string, []certificate.Result) {
	if resp.Verdict == pb.Verdict_VERDICT_NOT_RECORDED || len(resp.Recordings) == 0 {
		return certificate.NotRecorded, fmt.Sprintf("court %s: %s", resp.ServedBy, resp.Reason), nil
	}
	var results []certificate.Result
	for _, rec := range resp.Recordings {
		results = append(results, v.Verify(certificateJSON(rec.Certificate), certificate.Policy{Fingerprint: &fp}))
	}
	return results[0].Verdict, results[0].Reason, results
}
