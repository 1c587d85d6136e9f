package certpdf

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/courtledger/courtledger/evidence/certificate"
	"github.com/courtledger/courtledger/internal/pdfqr"
)

// decodeQR renders c with r and reads the QR code back from the page
// rasterized at pdfqr.DPI, as a phone would from the printed page.
func decodeQR(t *testing.T, r *Renderer, c *certificate.Certificate) string {
	t.Helper()
	var b bytes.Buffer
	if err := r.Render(&b, c); err != nil {
		t.Fatal(err)
	}
	text, err := pdfqr.DecodeQR(b.Bytes())
	if errors.Is(err, pdfqr.ErrNoPdftoppm) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// TestQRCodeLinksToVerifyPage: with a VerifyURL, the QR code decoded from
// the rendered page is exactly VerifyLink, a link to the court's page under
// the VerifyURL whose query gives back the evidence ID, the fingerprint and
// the certificate ID; the same link is printed under the code as text.
// Without one, the code holds QRText and no link is printed.
func TestQRCodeLinksToVerifyPage(t *testing.T) {
	needPoppler(t, "pdftoppm", "pdftotext")
	c, _ := testCertificate(t)
	fp := fmt.Sprintf("%x", c.Entry.Submission.Fingerprint[:])
	for _, tc := range []struct{ base, host, path string }{
		{"https://127.0.0.1:7102", "127.0.0.1:7102", "/"},
		{"https://hangzhou.court.example/verify", "hangzhou.court.example", "/verify/"},
		{"https://hangzhou.court.example/verify/", "hangzhou.court.example", "/verify/"},
		// The longest kind of address: the printed link takes two lines.
		{"https://evidence-verification.hangzhou-internet-court.court.example/public/verify", "evidence-verification.hangzhou-internet-court.court.example", "/public/verify/"},
	} {
		t.Run(tc.base, func(t *testing.T) {
			r, err := New(Config{VerifyURL: tc.base})
			if err != nil {
				t.Fatal(err)
			}
			got := decodeQR(t, r, c)
			if want := VerifyLink(tc.base, c); got != want || want == "" {
				t.Fatalf("QR code holds %q,\nwant VerifyLink %q", got, want)
			}
			u, err := url.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			if u.Scheme != "https" || u.Host != tc.host || u.Path != tc.path {
				t.Errorf("link %s: scheme %q host %q path %q, want https %q %q", got, u.Scheme, u.Host, u.Path, tc.host, tc.path)
			}
			q := u.Query()
			if len(q) != 3 || q.Get("evidence") != c.Entry.EvidenceID || q.Get("sm3") != fp || q.Get("cert") != c.ID {
				t.Errorf("link query %v, want evidence=%s sm3=%s cert=%s", q, c.Entry.EvidenceID, fp, c.ID)
			}
			if want := "evidence=" + c.Entry.EvidenceID + "&sm3=" + fp + "&cert=" + c.ID; u.RawQuery != want {
				t.Errorf("link query %q, want %q", u.RawQuery, want)
			}

			_, text := pdfText(t, r, c)
			if !strings.Contains(noSpace(text), got) {
				t.Errorf("the page does not print the link %s:\n%s", got, text)
			}
			// Each query parameter prints whole on a line, for typing.
			for _, p := range []string{"evidence=" + c.Entry.EvidenceID, "sm3=" + fp, "cert=" + c.ID} {
				if !strings.Contains(text, p) {
					t.Errorf("no line of the page holds %q whole:\n%s", p, text)
				}
			}
		})
	}

	t.Run("no VerifyURL", func(t *testing.T) {
		r, _ := New(Config{})
		if got, want := decodeQR(t, r, c), QRText(c); got != want {
			t.Fatalf("QR code holds %q, want QRText %q", got, want)
		}
		if _, text := pdfText(t, r, c); strings.Contains(text, "evidence=") {
			t.Errorf("without VerifyURL the page prints a link:\n%s", text)
		}
	})
}

func TestVerifyLink(t *testing.T) {
	const (
		ev   = "0ad04e0f0678c7446ebb6c0a1a65abdc"
		fp   = "4665e14e55a6e03c891422550b4368ba78841c0874b210f9fc6e2ed3d159f025"
		cert = "d0b50c76abf888918c87fa93b6400de9"
		q    = "?evidence=" + ev + "&sm3=" + fp + "&cert=" + cert
	)
	for base, want := range map[string]string{
		"https://127.0.0.1:7102":                   "https://127.0.0.1:7102/" + q,
		"https://127.0.0.1:7102/":                  "https://127.0.0.1:7102/" + q,
		"https://court.example/verify":             "https://court.example/verify/" + q,
		"https://court.example/verify/":            "https://court.example/verify/" + q,
		"https://court.example/a/b":                "https://court.example/a/b/" + q,
		"https://court.example/%E6%A0%B8%E9%AA%8C": "https://court.example/%E6%A0%B8%E9%AA%8C/" + q,
		"https://court.example/a%2Fb":              "https://court.example/a%2Fb/" + q,
		"https://[::1]:8443":                       "https://[::1]:8443/" + q,
		// Not addresses a court may have: no link.
		"":                            "",
		"http://court.example/verify": "",
		"https://court.example/v?x=1": "",
		"https://court.example/v#top": "",
	} {
		if got := verifyLink(base, ev, fp, cert); got != want {
			t.Errorf("verifyLink(%q):\n got %q\nwant %q", base, got, want)
		}
	}
	c, _ := testCertificate(t)
	want := "https://court.example/verify/?evidence=" + c.Entry.EvidenceID + "&sm3=" + fmt.Sprintf("%x", c.Entry.Submission.Fingerprint[:]) + "&cert=" + c.ID
	if got := VerifyLink("https://court.example/verify", c); got != want {
		t.Errorf("VerifyLink: %q, want %q", got, want)
	}
}

// TestCheckVerifyURLAccepts: the addresses a court may configure as
// public_url, the demo's loopback listener among them.
func TestCheckVerifyURLAccepts(t *testing.T) {
	for _, u := range []string{"", "https://127.0.0.1:7102", "https://127.0.0.1:7102/", "https://[::1]:8443/verify",
		"https://hangzhou.court.example/verify", "https://evidence.hangzhou.court.example/%E6%A0%B8%E9%AA%8C/"} {
		if err := CheckVerifyURL(u); err != nil {
			t.Errorf("CheckVerifyURL(%q): %v", u, err)
		}
	}
}

// FuzzVerifyLink: for every address CheckVerifyURL accepts, the link is
// under it (same scheme, host and path, with a final "/") and its query
// gives back exactly the three values, whatever they hold; for any other
// address there is no link.
func FuzzVerifyLink(f *testing.F) {
	f.Add("https://127.0.0.1:7102", "0ad04e0f0678c7446ebb6c0a1a65abdc", "4665e14e55a6e03c891422550b4368ba78841c0874b210f9fc6e2ed3d159f025", "d0b50c76abf888918c87fa93b6400de9")
	f.Add("https://court.example/verify", "a&b=c", "%zz", "x y+z")
	f.Add("https://court.example/a%2Fb/", "", "", "")
	f.Add("https://court.example/v?x=1", "e", "s", "c")
	f.Add("https://user@court.example/", "e", "s", "c")
	f.Add("https://[::1]:8443/核验", "证据", "#", "?")
	f.Fuzz(func(t *testing.T, base, ev, fp, cert string) {
		link := verifyLink(base, ev, fp, cert)
		if base == "" || CheckVerifyURL(base) != nil {
			if link != "" {
				t.Fatalf("verifyLink(%q) = %q for an address CheckVerifyURL refuses", base, link)
			}
			return
		}
		b, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(link)
		if err != nil {
			t.Fatalf("link %q does not parse: %v", link, err)
		}
		if u.Scheme != b.Scheme || u.Host != b.Host || u.Fragment != "" || u.User != nil {
			t.Fatalf("link %q is not at %q", link, base)
		}
		if want := strings.TrimSuffix(b.EscapedPath(), "/") + "/"; u.EscapedPath() != want {
			t.Fatalf("link %q: path %q, want %q", link, u.EscapedPath(), want)
		}
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			t.Fatalf("link %q: query: %v", link, err)
		}
		if len(q) != 3 || len(q["evidence"]) != 1 || q.Get("evidence") != ev || q.Get("sm3") != fp || q.Get("cert") != cert {
			t.Fatalf("link %q: query %v, want evidence=%q sm3=%q cert=%q", link, q, ev, fp, cert)
		}
	})
}
