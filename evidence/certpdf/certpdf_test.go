package certpdf

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
	"github.com/courtledger/courtledger/evidence/certificate"
)

const hangzhou = "hangzhou.court.example/evidence"

// testCertificate issues a certificate for entry 2 of a three-entry log at
// Hangzhou, cosigned by Beijing, issued by Guangzhou.
func testCertificate(t testing.TB) (*certificate.Certificate, *checkpoint.Verifier) {
	t.Helper()
	at := time.Date(2026, 11, 25, 8, 0, 3, 250e6, time.UTC)
	courtKey, _ := sm2.GenerateKey()
	court, err := checkpoint.NewSigner(hangzhou, courtKey)
	if err != nil {
		t.Fatal(err)
	}
	platform, _ := sm2.GenerateKey()
	store := merkle.NewMemStore()
	var entries [][]byte
	for i := 0; i < 3; i++ {
		s := evidence.Submission{Court: hangzhou, Platform: "esign.example", RequestID: fmt.Sprintf("req-%d", i),
			Fingerprint: sm3.Sum([]byte(fmt.Sprint("file ", i))), Category: evidence.CategoryContract,
			Title: "房屋租赁合同（杭州市西湖区）", SignedAt: at.Add(-time.Minute)}
		sig, err := s.Sign(platform)
		if err != nil {
			t.Fatal(err)
		}
		e := evidence.NewEntry(hangzhou, uint64(i), at, s, sig)
		entries = append(entries, e.Marshal())
		store.AppendLeaf(entries[i])
	}
	signed, err := checkpoint.Sign(checkpoint.TreeHead{Origin: hangzhou, Size: 3, Root: store.Root(), Time: at}, court)
	if err != nil {
		t.Fatal(err)
	}
	wk, _ := sm2.GenerateKey()
	witness, _ := checkpoint.NewCosigner("beijing.court.example/evidence", wk, func() time.Time { return at.Add(time.Minute) })
	line, err := checkpoint.Cosign(signed, witness)
	if err != nil {
		t.Fatal(err)
	}
	if signed, err = checkpoint.WithSignatures(signed, line); err != nil {
		t.Fatal(err)
	}
	issuerKey, _ := sm2.GenerateKey()
	proof, err := merkle.Inclusion(context.Background(), store, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	c, err := certificate.Issue(certificate.Input{Entry: entries[2], Index: 2, Proof: proof, SignedHead: signed,
		IssuedBy: "guangzhou.court.example/evidence", IssuedAt: at.Add(time.Hour), Signer: issuerKey})
	if err != nil {
		t.Fatal(err)
	}
	return c, court.Verifier()
}

func render(t testing.TB, c *certificate.Certificate) []byte {
	t.Helper()
	r, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.Render(&b, c); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestPDFWithPoppler reads the PDF back with poppler: its text has the
// fingerprint, the evidence ID and the courts' Chinese names; page 1
// renders; the attached JSON verifies as a certificate. CI installs
// poppler-utils; elsewhere the test is skipped when the tools are absent.
func TestPDFWithPoppler(t *testing.T) {
	for _, tool := range []string{"pdftotext", "pdftoppm", "pdfdetach"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install poppler-utils)", tool)
		}
	}
	c, court := testCertificate(t)
	pdf := render(t, c)
	dir := t.TempDir()
	file := filepath.Join(dir, "cert.pdf")
	if err := os.WriteFile(file, pdf, 0o644); err != nil {
		t.Fatal(err)
	}

	out, err := exec.Command("pdftotext", "-layout", "-enc", "UTF-8", file, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{
		fmt.Sprintf("%x", c.Entry.Submission.Fingerprint[:]), c.Entry.EvidenceID, c.ID,
		"杭州互联网法院", "北京互联网法院", "广州互联网法院", "电子数据存证证明", "房屋租赁合同", "电子合同", "SM3", "SM2",
		"c2sp.org/tlog-proof@v1",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("pdftotext output lacks %q:\n%s", want, text)
		}
	}

	if out, err := exec.Command("pdftoppm", "-f", "1", "-l", "1", "-r", "50", "-png", file, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, out)
	}
	pages, _ := filepath.Glob(filepath.Join(dir, "page*.png"))
	if len(pages) != 1 {
		t.Fatalf("pdftoppm wrote %v, want one page", pages)
	}
	if fi, err := os.Stat(pages[0]); err != nil || fi.Size() < 2000 {
		t.Fatalf("page 1 image: %v, %d bytes", err, fi.Size())
	}

	if out, err := exec.Command("pdfdetach", "-saveall", "-o", dir, file).CombinedOutput(); err != nil {
		t.Fatalf("pdfdetach: %v\n%s", err, out)
	}
	attached, err := os.ReadFile(filepath.Join(dir, AttachmentName))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(attached, c.Marshal()) {
		t.Fatalf("attached JSON differs from the certificate's")
	}
	trust, _ := certificate.NewTrust(court)
	v, _ := certificate.NewVerifier(certificate.VerifierConfig{Trust: trust})
	if r := v.Verify(attached, certificate.Policy{}); r.Verdict != certificate.Valid {
		t.Fatalf("attached certificate: %s: %s", r.Verdict, r.Reason)
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	c, _ := testCertificate(t)
	a, b := render(t, c), render(t, c)
	if !bytes.HasPrefix(a, []byte("%PDF-")) || !bytes.Equal(a, b) {
		t.Fatalf("two renderings of one certificate differ (%d and %d bytes)", len(a), len(b))
	}
	if len(a) > 1<<20 {
		t.Fatalf("PDF of %d bytes: the font subset should keep it well under 1 MiB", len(a))
	}
}

func TestKnownCourtName(t *testing.T) {
	for id, want := range map[string]string{
		"hangzhou.court.example/evidence": "杭州互联网法院",
		"beijing.court.example/evidence":  "北京互联网法院",
		"guangzhou.court.example":         "广州互联网法院",
		"shanghai.court.example":          "shanghai.court.example",
	} {
		if got := KnownCourtName(id); got != want {
			t.Errorf("%s: %s, want %s", id, got, want)
		}
	}
}
