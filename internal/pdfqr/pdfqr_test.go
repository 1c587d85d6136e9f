package pdfqr

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/go-pdf/fpdf"
	qrcode "github.com/skip2/go-qrcode"
)

// pdfWithQR is an A4 page with text and, if text is not empty, a QR code
// of size millimetres holding it.
func pdfWithQR(t *testing.T, text string, size float64) []byte {
	t.Helper()
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.AddPage()
	pdf.SetFont("Helvetica", "", 12)
	pdf.Cell(100, 10, "a page with a QR code")
	if text != "" {
		png, err := qrcode.Encode(text, qrcode.Medium, -4)
		if err != nil {
			t.Fatal(err)
		}
		pdf.RegisterImageOptionsReader("qr", fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(png))
		pdf.ImageOptions("qr", 150, 20, size, size, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
	}
	var b bytes.Buffer
	if err := pdf.Output(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func decode(t *testing.T, pdf []byte) (string, error) {
	t.Helper()
	text, err := DecodeQR(pdf)
	if errors.Is(err, ErrNoPdftoppm) {
		t.Skip(err)
	}
	return text, err
}

func TestDecodeQR(t *testing.T) {
	const link = "https://127.0.0.1:7102/?evidence=0ad04e0f0678c7446ebb6c0a1a65abdc&sm3=4665e14e55a6e03c891422550b4368ba78841c0874b210f9fc6e2ed3d159f025&cert=d0b50c76abf888918c87fa93b6400de9"
	for _, text := range []string{"courtledger", link} {
		got, err := decode(t, pdfWithQR(t, text, 30))
		if err != nil || got != text {
			t.Errorf("DecodeQR: %q, %v; want %q", got, err, text)
		}
	}
	// A code too small to scan from a printed page is not read at DPI
	// either: the helper does not pass what a phone would fail.
	if got, err := decode(t, pdfWithQR(t, link, 12)); err == nil {
		t.Errorf("a 12 mm code of %d characters decoded (%q); want it too dense to read at %d dpi", len(link), got, DPI)
	}
	if _, err := decode(t, pdfWithQR(t, "", 0)); err == nil || !strings.Contains(err.Error(), "no QR code") {
		t.Errorf("a page without a code: %v, want an error saying no QR code was read", err)
	}
	if _, err := decode(t, []byte("not a PDF")); err == nil || !strings.Contains(err.Error(), "pdftoppm") {
		t.Errorf("not a PDF: %v, want pdftoppm's error", err)
	}
}
