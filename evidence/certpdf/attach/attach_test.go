package attach

import (
	"bytes"
	"compress/zlib"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
	"github.com/courtledger/courtledger/evidence/certificate"
	"github.com/courtledger/courtledger/evidence/certpdf"
)

const hangzhou = "hangzhou.court.example/evidence"

// issue files two entries at Hangzhou and certifies the second; it returns
// the certificate, a verifier trusting Hangzhou and the certified file.
func issue(t testing.TB) (*certificate.Certificate, *certificate.Verifier, []byte) {
	t.Helper()
	at := time.Date(2026, 11, 25, 8, 0, 3, 0, time.UTC)
	courtKey, _ := sm2.GenerateKey()
	court, err := checkpoint.NewSigner(hangzhou, courtKey)
	if err != nil {
		t.Fatal(err)
	}
	platform, _ := sm2.GenerateKey()
	store := merkle.NewMemStore()
	var entries [][]byte
	file := []byte("file 1")
	for i := 0; i < 2; i++ {
		s := evidence.Submission{Court: hangzhou, Platform: "esign.example", RequestID: fmt.Sprintf("req-%d", i),
			Fingerprint: sm3.Sum([]byte(fmt.Sprint("file ", i))), Category: evidence.CategoryContract,
			Title: "房屋租赁合同", SignedAt: at.Add(-time.Minute)}
		sig, err := platform.Sign(s.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		e := evidence.NewEntry(hangzhou, uint64(i), at, s, sig)
		entries = append(entries, e.Marshal())
		store.AppendLeaf(entries[i])
	}
	signed, err := checkpoint.Sign(checkpoint.TreeHead{Origin: hangzhou, Size: 2, Root: store.Root(), Time: at}, court)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := merkle.Inclusion(context.Background(), store, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	issuer, _ := sm2.GenerateKey()
	c, err := certificate.Issue(certificate.Input{Entry: entries[1], Index: 1, Proof: proof, SignedHead: signed,
		IssuedBy: hangzhou, IssuedAt: at.Add(time.Hour), Signer: issuer})
	if err != nil {
		t.Fatal(err)
	}
	trust, err := certificate.NewTrust(court.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	v, err := certificate.NewVerifier(certificate.VerifierConfig{Trust: trust})
	if err != nil {
		t.Fatal(err)
	}
	return c, v, file
}

func renderPDF(t testing.TB, c *certificate.Certificate) []byte {
	t.Helper()
	r, err := certpdf.New(certpdf.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.Render(&b, c); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// attachFlate wraps content as fpdf attaches a file: a deflated
// /EmbeddedFile stream with its /Length.
func attachFlate(content []byte) []byte {
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(content)
	w.Close()
	return []byte(fmt.Sprintf("%%PDF-1.3\n3 0 obj\n<< /Type /EmbeddedFile /Length %d /Filter /FlateDecode /Params << /Size %d >> >>\nstream\n%s\nendstream\nendobj\n",
		z.Len(), len(content), z.Bytes()))
}

// TestAttachmentOfRenderedPDF reads back the certificate certpdf attached,
// byte for byte, and verifies the PDF exactly as the JSON.
func TestAttachmentOfRenderedPDF(t *testing.T) {
	c, v, file := issue(t)
	pdf := renderPDF(t, c)
	if !IsPDF(pdf) || IsPDF(c.Marshal()) {
		t.Fatalf("IsPDF: PDF %v, JSON %v", IsPDF(pdf), IsPDF(c.Marshal()))
	}
	got, err := Attachment(pdf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, c.Marshal()) {
		t.Fatalf("attachment is not the certificate's JSON:\n%s", got)
	}
	fp := sm3.Sum(file)
	p := certificate.Policy{Fingerprint: &fp}
	fromPDF, fromJSON := VerifyInput(v, pdf, p), VerifyInput(v, c.Marshal(), p)
	if fromPDF.Verdict != certificate.Valid {
		t.Fatalf("PDF: %s: %s", fromPDF.Verdict, fromPDF.Reason)
	}
	if !bytes.Equal(fromPDF.JSON(), fromJSON.JSON()) {
		t.Fatalf("the PDF and its JSON verify differently:\n%s\n%s", fromPDF.JSON(), fromJSON.JSON())
	}
}

// TestAttachmentErrors: each way a PDF can fail to carry a certificate is
// refused with the words that say which.
func TestAttachmentErrors(t *testing.T) {
	deflated := attachFlate([]byte("x"))
	cases := []struct {
		name, pdf, want string
	}{
		{"no attachment", "%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "the PDF has no attached file"},
		{"no stream", "%PDF-1.4\n<< /Type /EmbeddedFile /Length 3 >>\n", "has no stream"},
		{"no length", "%PDF-1.4\n<< /Type /EmbeddedFile >>\nstream\nabc", "has no /Length"},
		{"length too large", "%PDF-1.4\n<< /Type /EmbeddedFile /Length 99999999 >>\nstream\nabc", "bad /Length 99999999"},
		{"cut short", "%PDF-1.4\n<< /Type /EmbeddedFile /Length 10 >>\nstream\nabc", "cut short"},
		{"not deflated", "%PDF-1.4\n<< /Type /EmbeddedFile /Length 3 /Filter /FlateDecode >>\nstream\nabc", "does not inflate"},
		{"deflate cut", string(deflated[:bytes.Index(deflated, []byte("stream\n"))+len("stream\n")+4]), "cut short"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Attachment([]byte(tc.pdf))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q, %v; want an error saying %q", got, err, tc.want)
			}
		})
	}
	// Stored, not deflated, and after a CRLF: taken as is.
	got, err := Attachment([]byte("%PDF-1.4\n<< /Type /EmbeddedFile /Length 3 >>\nstream\r\nabcdef"))
	if err != nil || string(got) != "abc" {
		t.Fatalf("stored attachment: %q, %v", got, err)
	}
}

// TestVerifyInputMalformed: a PDF without a certificate, and a file that is
// neither JSON nor PDF, are MALFORMED with a reason, never an error or a
// panic.
func TestVerifyInputMalformed(t *testing.T) {
	c, v, _ := issue(t)
	good := c.Marshal()
	pdf := renderPDF(t, c)
	inAttachment := bytes.Index(pdf, []byte("/Type /EmbeddedFile")) + 200 // past its dictionary, inside its stream
	cases := []struct {
		name   string
		input  []byte
		reason string
	}{
		{"PDF without attachment", []byte("%PDF-1.4\n%%EOF\n"), "not a certificate PDF: the PDF has no attached file"},
		{"PDF attaching something else", attachFlate([]byte("hello")), "not a valid certificate"},
		{"neither JSON nor PDF", []byte("\x89PNG\r\n\x1a\n"), "not a valid certificate"},
		{"truncated JSON", good[:len(good)/2], "not a valid certificate"},
		{"PDF cut inside its attachment", pdf[:inAttachment], "not a certificate PDF: the PDF is cut short inside its attached file"},
		{"empty", nil, "not a valid certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := VerifyInput(v, tc.input, certificate.Policy{})
			if r.Verdict != certificate.Malformed || !strings.Contains(r.Reason, tc.reason) || r.Err == nil {
				t.Fatalf("got %s: %q (err %v), want MALFORMED: %q", r.Verdict, r.Reason, r.Err, tc.reason)
			}
		})
	}
}

// lengthRE is what lengthOf stands for.
var lengthRE = regexp.MustCompile(`/Length (\d+)`)

func TestLengthOf(t *testing.T) {
	for _, dict := range []string{
		"<< /Type /EmbeddedFile /Length 123 /Filter /FlateDecode >>",
		"<< /Length /Length 5 >>", "<< /Length 0 >>", "<< /Length >>", "/Length 7", "/Length", "/Length  8", "",
		"<< /Length 00012x /Length 9 >>",
	} {
		got := lengthOf([]byte(dict))
		var want []byte
		if m := lengthRE.FindSubmatch([]byte(dict)); m != nil {
			want = m[1]
		}
		if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
			t.Errorf("lengthOf(%q) = %q, want %q", dict, got, want)
		}
	}
}

// Attachment never panics, and reads back what fpdf's way of attaching
// wrote; lengthOf finds what the regular expression finds.
func FuzzAttachment(f *testing.F) {
	f.Add(attachFlate([]byte(`{"format":"courtledger.certificate/v1"}`)), []byte(`{"format":"courtledger.certificate/v1"}`))
	f.Add([]byte("%PDF-1.3\n<< /Type /EmbeddedFile /Length 99999999 >>\nstream\n"), []byte("x"))
	f.Add([]byte("%PDF-1.3\n<< /Type /EmbeddedFile /Length 3 >>\nstream\r\nabc"), []byte("abc"))
	f.Add([]byte("%PDF-1.3\n<< /Type /EmbeddedFile /Length /Length 3 >>\nstream\nabc"), []byte(""))
	f.Fuzz(func(t *testing.T, pdf, content []byte) {
		Attachment(pdf)
		var want []byte
		if m := lengthRE.FindSubmatch(pdf); m != nil {
			want = m[1]
		}
		if got := lengthOf(pdf); !bytes.Equal(got, want) || (got == nil) != (want == nil) {
			t.Fatalf("lengthOf(%q) = %q, the regular expression finds %q", pdf, got, want)
		}
		got, err := Attachment(attachFlate(content))
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("attached %q, read %q (%v)", content, got, err)
		}
	})
}
