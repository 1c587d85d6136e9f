package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/evidence"
	"github.com/courtledger/courtledger/evidence/certificate"
	"github.com/courtledger/courtledger/evidence/webcapture"
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

A capture bundle (evidencectl capture) is checked here first: every file
against the SM3 and size its manifest gives; a file changed, missing or
added is TAMPERED, a bundle that cannot be read safely MALFORMED. Then its
manifest is verified as the evidence, and the captured URL and time shown.

` + exitCodesHelp,
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := loadTrust(r.trust)
			if err != nil {
				return err
			}
			var (
				fp     evidence.Fingerprint
				bundle *webcapture.Checked
				hint   string // the evidence ID a capture bundle's receipt names
				broken error  // the bundle's manifest does not parse
			)
			switch {
			case fingerprint != "" && len(args) == 0:
				if fp, err = evidence.ParseFingerprint(fingerprint); err != nil {
					return err
				}
			case fingerprint == "" && len(args) == 1:
				// A capture bundle is checked file by file against its
				// manifest here; the manifest is the evidence.
				bundle, err = readCapture(args[0])
				var mismatch *webcapture.MismatchError
				switch {
				case errors.Is(err, webcapture.ErrNotBundle):
					bundle = nil
					if fp, _, err = fingerprintFileProgress(cmd, args[0]); err != nil {
						return err
					}
				case errors.Is(err, webcapture.ErrMalformed) && (bundle == nil || bundle.ReceiptEvidenceID() == "" || evidenceID != ""):
					return printBundleVerdict(cmd, certificate.Malformed, err.Error(), nil)
				case errors.Is(err, webcapture.ErrMalformed):
					// A manifest that does not parse, in a bundle whose receipt
					// names a recording: the court tells whether that recording
					// is of these bytes (TAMPERED if not).
					fp, hint, broken = bundle.Fingerprint, bundle.ReceiptEvidenceID(), err
					bundle = nil
				case errors.As(err, &mismatch):
					return printBundleVerdict(cmd, certificate.Tampered, err.Error(), bundle)
				case err != nil:
					return err
				default:
					fp, hint = bundle.Fingerprint, bundle.ReceiptEvidenceID()
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
			if evidenceID == "" && hint != "" && (resp.Verdict == pb.Verdict_VERDICT_NOT_RECORDED || len(resp.Recordings) == 0) {
				// The manifest is not recorded; the bundle's receipt names
				// the recording it claims to be. Asking for that one tells a
				// changed manifest (TAMPERED) from one never filed.
				if byID, err := c.VerifyEvidence(ctx, &pb.VerifyEvidenceRequest{Fingerprint: hex.EncodeToString(fp[:]), EvidenceId: hint}); err == nil && len(byID.Recordings) > 0 {
					resp = byID
				}
			}
			if broken != nil && len(resp.Recordings) == 0 {
				return printBundleVerdict(cmd, certificate.Malformed, broken.Error(), nil)
			}
			verdict, reason, results := judge(v, fp, resp)
			if jsonOutput(cmd) {
				// Each result encodes with its verdict by name
				// (certificate.Result.MarshalJSON).
				doc := map[string]any{
					"verdict": verdict.String(), "reason": reason, "fingerprint": hex.EncodeToString(fp[:]),
					"served_by": resp.ServedBy, "recordings": results}
				if bundle != nil {
					doc["capture"] = bundle.Manifest.Summary()
				}
				printJSON(cmd.OutOrStdout(), doc)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "%s (%s): %s\n", verdict, verdict.Chinese(), reason)
				if bundle != nil {
					printCaptured(cmd.OutOrStdout(), bundle)
				}
				for i, res := range results {
					fmt.Fprintf(cmd.OutOrStdout(), "recording %d of %d, ", i+1, len(results))
					printResult(cmd.OutOrStdout(), res)
				}
			}
			return verdictErr(verdict, reason)
		},
	}
	cmd.Flags().StringVar(&fingerprint, "fingerprint", "", "SM3 fingerprint (64 hex digits) instead of a file")
	cmd.Flags().StringVar(&evidenceID, "evidence-id", "", "the evidence ID the file is claimed to be recorded under (default for a capture bundle: the one its receipt names, if its manifest is not found)")
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

// readCapture reads FILE as a capture bundle, if it is one
// (webcapture.ErrNotBundle if not).
func readCapture(name string) (*webcapture.Checked, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, webcapture.ErrNotBundle
	}
	return webcapture.Read(f, st.Size())
}

// printBundleVerdict prints the verdict on a bundle that failed its own
// check, before any court is asked.
func printBundleVerdict(cmd *cobra.Command, v certificate.Verdict, reason string, b *webcapture.Checked) error {
	if jsonOutput(cmd) {
		doc := map[string]any{"verdict": v.String(), "reason": reason, "recordings": []certificate.Result{}}
		if b != nil {
			doc["fingerprint"] = hex.EncodeToString(b.Fingerprint[:])
			doc["capture"] = b.Manifest.Summary()
		}
		printJSON(cmd.OutOrStdout(), doc)
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "%s (%s): %s\n", v, v.Chinese(), reason)
		if b != nil {
			printCaptured(cmd.OutOrStdout(), b)
		}
	}
	return verdictErr(v, reason)
}

func printCaptured(w io.Writer, b *webcapture.Checked) {
	m := b.Manifest
	fmt.Fprintf(w, "  capture     of %s (final URL %s), %q\n", m.URL, m.FinalURL, m.Title)
	fmt.Fprintf(w, "  captured    %s by the capturing machine's clock (the recording time below is the court's), with %s\n", m.StartedAt.Format(time.RFC3339Nano), m.Browser.Product)
	fmt.Fprintf(w, "  manifest    SM3 %x, %d files\n", b.Fingerprint[:], len(m.Files))
	for _, warn := range m.Warnings {
		fmt.Fprintf(w, "  warning     %s\n", warn)
	}
}
