package attach

import (
	"github.com/courtledger/courtledger/evidence/certificate"
)

// VerifyInput checks what a user gives as a certificate: its JSON, or a
// PDF carrying it (certpdf), under v and p. Bad input is a verdict, not an
// error: a PDF whose certificate cannot be read is Malformed, with the
// reason naming what is wrong with the PDF, exactly as a file that is
// neither JSON nor PDF (or a truncated one) is Malformed from Verify. So a
// caller prints or returns one Result whatever it was given.
func VerifyInput(v *certificate.Verifier, input []byte, p certificate.Policy) certificate.Result {
	if IsPDF(input) {
		raw, err := Attachment(input)
		if err != nil {
			return certificate.Result{Verdict: certificate.Malformed, Err: err,
				Reason: "not a certificate PDF: " + err.Error()}
		}
		input = raw
	}
	return v.Verify(input, p)
}
