// Package certpdf renders a proof certificate (package
// evidence/certificate) as an A4 court document in Chinese (with an English
// line for the statement and the verification instructions), for a judge or
// a lawyer to read and print: a formal statement of what the court
// certifies (兹证明…), the evidence, its SM3 fingerprint, where and when it
// was recorded, the signed tree head with each signature labelled, the
// witnessing courts, how to verify it, and a QR code: with the court's
// public address configured, a link to its verification page for this
// certificate (VerifyLink), printed under the code as well; without it, the
// certificate ID, the fingerprint and the evidence ID (QRText). A certificate fits one page; one that runs longer
// (many witnesses) gets a header and "第 n 页 共 N 页" on every page. The
// certificate's JSON travels inside the PDF as an embedded file
// (certificate.json), so the PDF alone is enough to verify offline; the
// printed page is a rendering, not the proof.
//
// What prints is what was filed: text wraps without losing a character,
// and a character the page cannot show as itself (an invisible or
// direction-changing format character, or one the font lacks) prints as
// its code point, 〔U+200B〕, with a note saying so.
//
// It is a package of its own so that verifying a certificate never pulls in
// the PDF and QR libraries or the 4.4 MB font.
package certpdf

import (
	_ "embed"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/courtledger/courtledger/evidence/certificate"
)

// The font: see font/README.md for its source and licence.
//
//go:embed font/wqy-microhei.ttf
var fontTTF []byte

// AttachmentName is the name of the embedded certificate JSON.
const AttachmentName = "certificate.json"

// chinaTime is the time zone certificates print: China Standard Time has
// had no daylight saving since 1991, so a fixed zone needs no tzdata.
var chinaTime = time.FixedZone("UTC+8", 8*60*60)

// Config configures a Renderer.
type Config struct {
	// CourtName gives a court's name as printed, e.g. 杭州互联网法院 for
	// "hangzhou.court.example/evidence". Default: KnownCourtName.
	CourtName func(courtID string) string
	// VerifyURL is the issuing court's HTTPS address where people verify
	// its certificates, e.g. "https://hangzhou.court.example/verify". It is
	// printed in the verification instructions, and the QR code links to
	// the court's page for the certificate under it (VerifyLink); empty
	// prints the instructions without an address (offline verification
	// only) and QRText in the QR code.
	VerifyURL string
	// Timestamps checks a certificate's RFC 3161 token (issue 16) so that
	// the page prints the TSA's time and name; nil prints a timestamp as
	// not checked. The court passes its TSA anchors.
	Timestamps certificate.TimestampChecker
}

// Renderer renders certificates. It is safe for concurrent use.
type Renderer struct {
	courtName  func(string) string
	verifyURL  string
	glyphs     glyphSet
	timestamps certificate.TimestampChecker
}

// New returns a renderer. A VerifyURL that is not an absolute https URL
// is refused.
func New(cfg Config) (*Renderer, error) {
	if cfg.CourtName == nil {
		cfg.CourtName = KnownCourtName
	}
	if err := CheckVerifyURL(cfg.VerifyURL); err != nil {
		return nil, fmt.Errorf("certpdf: VerifyURL: %w", err)
	}
	glyphs, err := fontGlyphs()
	if err != nil {
		return nil, err
	}
	return &Renderer{courtName: cfg.CourtName, verifyURL: cfg.VerifyURL, glyphs: glyphs, timestamps: cfg.Timestamps}, nil
}

// CheckVerifyURL accepts "" or an absolute https URL without a query or
// fragment, the only kinds of verification address a certificate may
// print. The query is VerifyLink's: one in the address would be lost or
// mixed with the certificate's parameters.
func CheckVerifyURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || strings.ContainsAny(s, " \t\r\n") {
		return fmt.Errorf("%q: want the court's absolute https URL, e.g. https://hangzhou.court.example/verify", s)
	}
	if strings.ContainsAny(s, "?#") {
		return fmt.Errorf("%q: want the court's https URL without a query or fragment (the certificate adds its own query), e.g. https://hangzhou.court.example/verify", s)
	}
	return nil
}

// VerifyLink is the link the QR code of c holds when the court's address
// is baseURL: the court's verification page for c, which is baseURL's path
// with a final "/" (https://court.example/verify → .../verify/), and the
// query evidence=<evidence ID>&sm3=<fingerprint, 64 hex digits>&cert=<certificate ID>,
// the parameters the page reads (court/web). baseURL must be an address
// CheckVerifyURL accepts and not empty; for any other it returns "".
func VerifyLink(baseURL string, c *certificate.Certificate) string {
	return verifyLink(baseURL, c.Entry.EvidenceID, fmt.Sprintf("%x", c.Entry.Submission.Fingerprint[:]), c.ID)
}

func verifyLink(baseURL, evidenceID, sm3, certID string) string {
	if baseURL == "" || CheckVerifyURL(baseURL) != nil {
		return ""
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		return ""
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	// In this order, not url.Values' sorted one: the evidence, then what
	// proves it, then the certificate, as a person reading the link
	// expects.
	u.RawQuery = "evidence=" + url.QueryEscape(evidenceID) + "&sm3=" + url.QueryEscape(sm3) + "&cert=" + url.QueryEscape(certID)
	return u.String()
}

// fontGlyphs parses the embedded font's cmap once per process.
var fontGlyphs = sync.OnceValues(func() (glyphSet, error) { return parseCmap(fontTTF) })

// KnownCourtName names the three internet courts by the first label of
// their court ID (hangzhou., beijing., guangzhou.) and any other court by
// its ID.
func KnownCourtName(id string) string {
	label, _, _ := strings.Cut(id, ".")
	switch label {
	case "hangzhou":
		return "杭州互联网法院"
	case "beijing":
		return "北京互联网法院"
	case "guangzhou":
		return "广州互联网法院"
	}
	return id
}

// QRText is what the QR code holds when the court has no public address
// (VerifyURL): the certificate ID, the fingerprint and the evidence ID, in
// ASCII so that any reader decodes it.
func QRText(c *certificate.Certificate) string {
	return fmt.Sprintf("courtledger-cert:%s;sm3:%x;evidence:%s", c.ID, c.Entry.Submission.Fingerprint[:], c.Entry.EvidenceID)
}

func cst(t time.Time) string { return t.In(chinaTime).Format("2006年01月02日 15:04:05.000 (UTC+8)") }
