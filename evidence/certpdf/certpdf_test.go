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
	"unicode"

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
	return testCertificateTitled(t, "房屋租赁合同（杭州市西湖区）", "beijing.court.example/evidence")
}

// testCertificateTitled is testCertificate with entry 2 titled title. The
// platform signs the submission's bytes without validating them, so a title
// refused at filing today can stand for one recorded before the rule.
func testCertificateTitled(t testing.TB, title string, witnesses ...string) (*certificate.Certificate, *checkpoint.Verifier) {
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
		if i == 2 {
			s.Title = title
		}
		sig, err := platform.Sign(s.Marshal())
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
	var lines [][]byte
	for _, name := range witnesses {
		wk, _ := sm2.GenerateKey()
		witness, _ := checkpoint.NewCosigner(name, wk, func() time.Time { return at.Add(time.Minute) })
		line, err := checkpoint.Cosign(signed, witness)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	if signed, err = checkpoint.WithSignatures(signed, lines...); err != nil {
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

// needPoppler skips a test when poppler-utils are absent.
func needPoppler(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install poppler-utils)", tool)
		}
	}
}

// pdfText renders c with r and returns the file and pdftotext's text in
// content order (-raw), which is the order the renderer draws in.
func pdfText(t *testing.T, r *Renderer, c *certificate.Certificate) (file, text string) {
	t.Helper()
	var b bytes.Buffer
	if err := r.Render(&b, c); err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(t.TempDir(), "cert.pdf")
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", "-raw", "-enc", "UTF-8", file, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	return file, string(out)
}

func pageTexts(t *testing.T, file string) []string {
	t.Helper()
	out, err := exec.Command("pdftotext", "-raw", "-enc", "UTF-8", file, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	pages := strings.Split(strings.TrimSuffix(string(out), "\f"), "\f")
	return pages
}

func noSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

// titleCorpus is titles a platform may file: Chinese, mixed scripts,
// punctuation at every line-break position, and the longest titles.
var titleCorpus = []string{
	"房屋租赁合同（杭州市西湖区）",
	"甲方不同意解除合同",
	"《关于张三诉李四买卖合同纠纷一案的证据目录》，共 3 页；附：聊天记录截图。",
	"Lease agreement No. HZ-2026-0042 房屋租赁合同 between 张三 and Hangzhou Property Management Co., Ltd. (杭州市西湖区文三路 90 号) — final",
	"Ελληνικά Русский 日本語のかなとカナ 한국어 Café naïve No.\u00a05 甲方\u3000乙方",
	"https://evidence.example.com/very/long/path/to/a/file/that/has/no/spaces/at/all/contract-2026-11-25-final-v3.pdf",
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	strings.Repeat("证据", 126),              // 252 CJK characters
	strings.Repeat("W", 252),               // 252 of the widest Latin letter
	strings.Repeat("中a", 126),              // alternating scripts
	strings.Repeat("证，", 126),              // a comma at every break position
	strings.Repeat("证据 ", 84),              // spaces at break positions
	strings.Repeat("（证）", 84),              // brackets at every break position
	strings.Repeat("Contract ", 28),        // 252 bytes of words
	strings.Repeat("合同编号HZ2026", 25)[:252], // CJK with ASCII runs
}

// TestTitlesPrintAsFiled: for every title filing accepts, the PDF's text
// holds the whole title, character for character (go-pdf's wrapping
// dropped the character at each CJK line break: 张三 printed as 张, and
// 甲方不\u200B同意 as 甲方 / 同意), and a title of up to 252 characters
// keeps the certificate on one page, even with a long court address,
// whose link prints on two lines under the QR code.
func TestTitlesPrintAsFiled(t *testing.T) {
	needPoppler(t, "pdftotext")
	r, err := New(Config{VerifyURL: "https://evidence-verification.hangzhou-internet-court.court.example/public/verify"})
	if err != nil {
		t.Fatal(err)
	}
	for _, title := range titleCorpus {
		name := title
		if len([]rune(name)) > 24 {
			name = string([]rune(name)[:24]) + "…"
		}
		t.Run(name, func(t *testing.T) {
			s := evidence.Submission{Platform: "esign.example", RequestID: "req-2", Category: evidence.CategoryContract,
				Title: title, SignedAt: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)}
			if err := s.Validate(); err != nil {
				t.Fatalf("filing refuses the title: %v", err)
			}
			c, _ := testCertificateTitled(t, title, "beijing.court.example/evidence")
			file, text := pdfText(t, r, c)
			if !strings.Contains(noSpace(text), noSpace(title)) {
				t.Errorf("the PDF's text lacks the title %q:\n%s", title, text)
			}
			if pages := pageTexts(t, file); len(pages) != 1 {
				t.Errorf("%d pages, want 1", len(pages))
			}
		})
	}
}

// TestTitlesRefusedAtFilingPrintAsCodePoints: an entry recorded before
// filing refused invisible and direction-changing characters still prints
// every character; each such character, and one the font lacks, appears as
// its code point, with a note. (Before, U+200B swallowed the character
// before it and U+202E printed as a box.)
func TestTitlesRefusedAtFilingPrintAsCodePoints(t *testing.T) {
	needPoppler(t, "pdftotext")
	r, _ := New(Config{})
	for title, want := range map[string]string{
		"甲方不\u200B同意解除合同":       "甲方不〔U+200B〕同意解除合同",
		"房屋租赁合同\u200B":          "房屋租赁合同〔U+200B〕",
		"invoice\u202Efdp.exe":  "invoice〔U+202E〕fdp.exe",
		"\uFEFF合同\u2066甲\u2069": "〔U+FEFF〕合同〔U+2066〕甲〔U+2069〕",
		"a\u200Cb\u200Dc\u200Ed\u200Fe\u202Af\u202Bg\u202Ch\u202Di\u2067j\u2068k": "a〔U+200C〕b〔U+200D〕c〔U+200E〕d〔U+200F〕e〔U+202A〕f〔U+202B〕g〔U+202C〕h〔U+202D〕i〔U+2067〕j〔U+2068〕k",
		// Accepted at filing, but not in the font (or beyond the BMP,
		// which go-pdf cannot write).
		"\U00020BB7野家合同 📄 עקד": "〔U+20BB7〕野家合同 〔U+1F4C4〕 〔U+05E2〕〔U+05E7〕〔U+05D3〕",
	} {
		t.Run(want, func(t *testing.T) {
			c, _ := testCertificateTitled(t, title, "beijing.court.example/evidence")
			_, text := pdfText(t, r, c)
			if !strings.Contains(noSpace(text), noSpace(want)) {
				t.Errorf("the PDF's text lacks %q:\n%s", want, text)
			}
			if !strings.Contains(text, "〔U+XXXX〕") {
				t.Errorf("no note explains the code points")
			}
		})
	}
	c, _ := testCertificate(t)
	if _, text := pdfText(t, r, c); strings.Contains(text, "〔U+") {
		t.Errorf("a certificate without such characters has a code point note:\n%s", text)
	}
}

// TestLongCertificatePages: a certificate too long for a page (many
// witnesses and the longest title) runs onto pages that each have the
// header, "第 n 页 共 N 页" and body text: no blank page.
func TestLongCertificatePages(t *testing.T) {
	needPoppler(t, "pdftotext")
	r, _ := New(Config{})
	c, _ := testCertificateTitled(t, strings.Repeat("证据", 126), "beijing.court.example/evidence",
		"guangzhou.court.example/evidence", "shanghai.court.example/evidence", "chengdu.court.example/evidence",
		"wuhan.court.example/evidence", "xian.court.example/evidence", "nanjing.court.example/evidence")
	file, _ := pdfText(t, r, c)
	pages := pageTexts(t, file)
	if len(pages) < 2 {
		t.Fatalf("%d pages, want the certificate to run long", len(pages))
	}
	for i, p := range pages {
		if want := fmt.Sprintf("第 %d 页 共 %d 页", i+1, len(pages)); !strings.Contains(p, want) {
			t.Errorf("page %d lacks %q:\n%s", i+1, want, p)
		}
		if !strings.Contains(p, "证明编号 "+c.ID) {
			t.Errorf("page %d lacks the certificate ID", i+1)
		}
		if i > 0 && !strings.Contains(p, "电子数据存证证明（续）") {
			t.Errorf("page %d lacks the header", i+1)
		}
		body := p
		for _, drop := range []string{"电子数据存证证明（续）", "杭州互联网法院", "证明编号 " + c.ID, fmt.Sprintf("第 %d 页 共 %d 页", i+1, len(pages))} {
			body = strings.ReplaceAll(body, drop, "")
		}
		if len(noSpace(body)) < 40 {
			t.Errorf("page %d is blank but for header and footer:\n%s", i+1, p)
		}
	}
	for _, w := range []string{"xian.court.example/evidence", "nanjing.court.example/evidence"} {
		if !strings.Contains(pages[len(pages)-1], w) {
			t.Errorf("last page lacks the last witness %s", w)
		}
	}
}

// TestReadsAsCourtDocument: the statement of what the court certifies,
// the ledger position said plainly, the signatures labelled, verification
// instructions with the court's address (when configured) and the
// command, not a path in the source repository; identifiers whole on one
// line.
func TestReadsAsCourtDocument(t *testing.T) {
	needPoppler(t, "pdftotext")
	c, _ := testCertificate(t)
	const url = "https://hangzhou.court.example/verify"
	withURL, err := New(Config{VerifyURL: url})
	if err != nil {
		t.Fatal(err)
	}
	_, text := pdfText(t, withURL, c)
	lines := strings.Split(text, "\n")
	onOneLine := func(s string) bool {
		for _, l := range lines {
			if strings.Contains(l, s) {
				return true
			}
		}
		return false
	}
	for _, want := range []string{
		"兹证明", "This certifies that",
		"第 3 条（账本序号 2）", "存证法院签名", "见证法院联署", "签名树头",
		"evidencectl", "cert verify", "certificate.json", url,
		c.ID, c.Entry.EvidenceID, fmt.Sprintf("%x", c.Entry.Submission.Fingerprint[:]),
		"hangzhou.court.example/evidence", "beijing.court.example/evidence", "guangzhou.court.example/evidence",
	} {
		if !onOneLine(want) {
			t.Errorf("no line of the PDF's text holds %q whole:\n%s", want, text)
		}
	}
	for _, bad := range []string{"自 0 起计", "docs/", ".md"} {
		if strings.Contains(text, bad) {
			t.Errorf("the PDF says %q", bad)
		}
	}

	plain, _ := New(Config{})
	_, text = pdfText(t, plain, c)
	if strings.Contains(text, "https://") || !strings.Contains(text, "evidencectl") {
		t.Errorf("without VerifyURL: want the offline instructions and no address:\n%s", text)
	}
}

func TestNewRefusesBadVerifyURL(t *testing.T) {
	for _, u := range []string{"http://court.example/verify", "court.example/verify", "https://", "https://user@court.example/", "https://court.example/a b",
		"https://court.example/verify?court=hz", "https://court.example/verify?", "https://court.example/verify#top"} {
		if _, err := New(Config{VerifyURL: u}); err == nil || !strings.Contains(err.Error(), "https") {
			t.Errorf("New(VerifyURL %q): %v, want an error asking for an https URL", u, err)
		}
	}
}
