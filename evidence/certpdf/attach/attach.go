// Package attach reads the certificate a certificate PDF carries, and
// verifies what a user hands over, the certificate's JSON or its PDF,
// the same way everywhere: `evidencectl cert verify` and the court's web
// page, where it runs compiled to WebAssembly (court/web/verifier), call
// VerifyInput, so the two cannot disagree.
//
// It is a package of its own, not part of certpdf, because certpdf embeds
// a 4.4 MB font and the PDF and QR libraries; the page's verifier needs
// none of them (they would add 5 MB to its WebAssembly, 2 MB gzipped).
package attach

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/courtledger/courtledger/crypto/tsa"
	"github.com/courtledger/courtledger/evidence/certificate"
)

// maxAttachment bounds an attachment read out of a PDF: a certificate's
// JSON is a few KiB.
const maxAttachment = 16 << 20

var (
	embeddedFile = []byte("/Type /EmbeddedFile")
	lengthKey    = []byte("/Length ")
)

// IsPDF reports whether a file is a PDF.
func IsPDF(b []byte) bool { return bytes.HasPrefix(b, []byte("%PDF-")) }

// Attachment returns the first file attached to a PDF as evidence/certpdf
// attaches a certificate's JSON (go-pdf/fpdf's SetAttachments): an
// /EmbeddedFile stream object with its /Length, deflated (/FlateDecode) or
// stored. It reads only that object, not the whole PDF syntax, so it takes
// the PDFs certpdf makes; for others, extract the attachment with a PDF
// tool (pdfdetach -saveall).
func Attachment(pdf []byte) ([]byte, error) {
	rest := pdf
	i := bytes.Index(rest, embeddedFile)
	if i < 0 {
		return nil, errors.New("the PDF has no attached file (a certificate PDF from `evidencectl cert get --out-pdf` carries certificate.json)")
	}
	rest = rest[i:]
	s := bytes.Index(rest, []byte("stream"))
	if s < 0 {
		return nil, errors.New("the PDF's attached file has no stream")
	}
	dict := rest[:s]
	digits := lengthOf(dict)
	if digits == nil {
		return nil, errors.New("the PDF's attached file has no /Length")
	}
	n, err := strconv.Atoi(string(digits))
	if err != nil || n < 0 || n > maxAttachment {
		return nil, fmt.Errorf("the PDF's attached file has a bad /Length %s", digits)
	}
	data := rest[s+len("stream"):]
	switch {
	case bytes.HasPrefix(data, []byte("\r\n")):
		data = data[2:]
	case bytes.HasPrefix(data, []byte("\n")):
		data = data[1:]
	}
	if len(data) < n {
		return nil, errors.New("the PDF is cut short inside its attached file")
	}
	data = data[:n]
	if !bytes.Contains(dict, []byte("/FlateDecode")) {
		return bytes.Clone(data), nil
	}
	zr, err := zlib.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("the PDF's attached file does not inflate: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxAttachment+1))
	if err != nil {
		return nil, fmt.Errorf("the PDF's attached file does not inflate: %w", err)
	}
	if len(out) > maxAttachment {
		return nil, errors.New("the PDF's attached file is too large for a certificate")
	}
	return out, nil
}

// lengthOf returns the digits of the first "/Length N" in a dictionary, or
// nil. It is the regular expression `/Length (\d+)` written out: package
// regexp would add a fifth of a megabyte to the web page's verifier.
func lengthOf(dict []byte) []byte {
	for rest := dict; ; {
		i := bytes.Index(rest, lengthKey)
		if i < 0 {
			return nil
		}
		rest = rest[i+len(lengthKey):]
		n := 0
		for n < len(rest) && '0' <= rest[n] && rest[n] <= '9' {
			n++
		}
		if n > 0 {
			return rest[:n]
		}
	}
}

// TimestampTolerance is how far a certificate's timestamp may be from the
// time its stamped head states, for a verifier that knows nothing of the
// court's configuration: a court refuses tokens further off than its own
// tolerance (a minute by default), so this bound is looser.
const TimestampTolerance = 10 * time.Minute

// NewVerifier is the certificate verifier `evidencectl cert verify` and
// the web page both use: the trust file's court keys, and its TSA
// certificates (if any) to check certificates' timestamps.
func NewVerifier(trust *certificate.Trust) (*certificate.Verifier, error) {
	cfg := certificate.VerifierConfig{Trust: trust}
	if pem := trust.TSAAnchors(); pem != nil {
		anchors, err := tsa.ParseAnchors(pem)
		if err != nil {
			return nil, fmt.Errorf("trust file: %w", err)
		}
		cfg.Timestamps = func(token, data []byte, headTime time.Time) (certificate.TimestampInfo, error) {
			info, err := tsa.Verify(token, data, tsa.VerifyOptions{Anchors: anchors, Expected: headTime, Tolerance: TimestampTolerance})
			return certificate.TimestampInfo{TSA: info.TSA, Time: info.Time}, err
		}
	}
	return certificate.NewVerifier(cfg)
}
