package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/courtledger/courtledger/evidence/certificate"
	"github.com/courtledger/courtledger/evidence/certpdf/attach"
)

// Exit codes of a verdict (verify, cert verify); README and the command
// help list them. 1 and 2 stay for errors and usage.
var verdictExit = map[certificate.Verdict]int{
	certificate.Valid:        0,
	certificate.NotRecorded:  3,
	certificate.Tampered:     4,
	certificate.Untrusted:    5,
	certificate.InvalidProof: 6,
	certificate.Malformed:    7,
}

const exitCodesHelp = `Exit codes: 0 VALID, 3 NOT RECORDED, 4 TAMPERED, 5 UNTRUSTED,
6 INVALID PROOF, 7 MALFORMED; 1 another error (unreadable file, no
connection), 2 a wrong command line.`

// verdictError carries a verdict other than VALID out of a command, so
// main exits with its code; the command has printed it already.
type verdictError struct {
	verdict certificate.Verdict
	reason  string
}

func (e *verdictError) Error() string { return e.verdict.String() + ": " + e.reason }

func (e *verdictError) exitCode() int { return verdictExit[e.verdict] }

func verdictErr(v certificate.Verdict, reason string) error {
	if v == certificate.Valid {
		return nil
	}
	return &verdictError{v, reason}
}

func loadTrust(path string) (*certificate.Verifier, error) {
	trust, err := readTrust(path)
	if err != nil {
		return nil, err
	}
	return attach.NewVerifier(trust)
}

// printResult prints a verdict line and what the certificate says.
func printResult(w io.Writer, r certificate.Result) {
	fmt.Fprintf(w, "%s (%s): %s\n", r.Verdict, r.Verdict.Chinese(), r.Reason)
	d := r.Details
	if d.EvidenceID == "" {
		return
	}
	fmt.Fprintf(w, "  evidence    %s (%s: %s)\n", d.EvidenceID, d.Category, d.Title)
	fmt.Fprintf(w, "  fingerprint %s (SM3)\n", d.Fingerprint)
	fmt.Fprintf(w, "  recorded    by court %s at %s, position %d of %d\n", d.Court, d.RecordedAt.Format(time.RFC3339Nano), d.Index, d.TreeSize)
	fmt.Fprintf(w, "  filed by    platform %s, request %s\n", d.Platform, d.RequestID)
	if b := d.Batch; b != nil {
		fmt.Fprintf(w, "  batch       %s, entry %d of %d, signed by the platform at %s (its path to the signed root verifies)\n",
			b.BatchID, b.Leaf+1, b.Count, b.SignedAt.Format(time.RFC3339Nano))
	}
	var ws []string
	for _, wt := range d.Witnesses {
		trust := "trusted"
		if !wt.Trusted {
			trust = "NOT in the trust file or not verified"
		}
		// A line that is not a cosignature has no time to show; the zero
		// time would read as a date (0001-01-01).
		if wt.CosignedAt.IsZero() {
			ws = append(ws, fmt.Sprintf("%s, key %s (%s)", wt.Court, wt.KeyID, trust))
			continue
		}
		ws = append(ws, fmt.Sprintf("%s at %s (%s)", wt.Court, wt.CosignedAt.Format(time.RFC3339), trust))
	}
	if len(ws) == 0 {
		ws = []string{"none"}
	}
	fmt.Fprintf(w, "  witnesses   %s\n", strings.Join(ws, "; "))
	if ts := d.Timestamp; ts != nil {
		if ts.Verified {
			fmt.Fprintf(w, "  timestamp   %s by %s (TSA %s), on the court's head of %d entries (RFC 3161 token verified)\n",
				ts.Time.Format(time.RFC3339Nano), ts.Signer, ts.TSA, ts.HeadSize)
		} else {
			fmt.Fprintf(w, "  timestamp   of TSA %s on the court's head of %d entries: not checked (%s)\n", ts.TSA, ts.HeadSize, ts.Note)
		}
	}
	if k := d.PlatformKey; k != nil {
		how := "stated by the issuer, unverified"
		if d.PlatformSigned {
			how = "stated by the issuer, whose signature verifies; the platform's signature verifies under it"
		}
		fmt.Fprintf(w, "  platform key registered at court %s on %s (%s)\n", k.Court, k.RegisteredAt.Format(time.RFC3339Nano), how)
	}
	if d.CertificateID == "" {
		return
	}
	// Only what the issuer's signature proves is shown as a fact.
	if d.IssuerVerified {
		fmt.Fprintf(w, "  certificate %s, issued by %s at %s (signed by the issuer)\n", d.CertificateID, d.IssuedBy, d.IssuedAt.Format(time.RFC3339Nano))
		return
	}
	fmt.Fprintf(w, "  certificate %s, issued by %s at %s: unverified (%s)\n", d.CertificateID, d.IssuedBy, d.IssuedAt.Format(time.RFC3339Nano), d.IssuerNote)
}
