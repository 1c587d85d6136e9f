// Package pdfqr reads the QR code printed on a PDF's first page, as a
// phone would from the printed page: for tests (of evidence/certpdf, and
// of the verification pages that open the link it holds), not for the
// server. It shells out to poppler's pdftoppm (Debian's poppler-utils,
// which .ci/run installs) to rasterize the page and decodes the code with
// gozxing, a Go port of ZXing.
package pdfqr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// DPI is the resolution the page is rasterized at: a modest print or
// phone-camera resolution, so that a code too dense or too small to
// scan in practice fails to decode here too.
const DPI = 150

// ErrNoPdftoppm is wrapped by DecodeQR's error when pdftoppm is not
// installed, for a test to skip on (errors.Is).
var ErrNoPdftoppm = errors.New("pdfqr: pdftoppm not installed (apt-get install poppler-utils)")

// timeout bounds one pdftoppm run: a page takes well under a second,
// but the machine may be busy.
const timeout = 60 * time.Second

// DecodeQR returns the text of the QR code on the first page of pdf,
// rasterized at DPI.
func DecodeQR(pdf []byte) (string, error) {
	img, err := Page(pdf, DPI)
	if err != nil {
		return "", err
	}
	return DecodeImage(img)
}

// Page rasterizes the first page of pdf at dpi with pdftoppm.
func Page(pdf []byte, dpi int) (image.Image, error) {
	tool, err := exec.LookPath("pdftoppm")
	if err != nil {
		return nil, ErrNoPdftoppm
	}
	dir, err := os.MkdirTemp("", "pdfqr")
	if err != nil {
		return nil, fmt.Errorf("pdfqr: %w", err)
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "in.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		return nil, fmt.Errorf("pdfqr: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// -singlefile names the output page.png, without a page number whose
	// width depends on the page count.
	out := filepath.Join(dir, "page")
	if msg, err := exec.CommandContext(ctx, tool, "-f", "1", "-l", "1", "-singlefile", "-r", fmt.Sprint(dpi), "-png", in, out).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pdfqr: pdftoppm: %w: %s", err, bytes.TrimSpace(msg))
	}
	b, err := os.ReadFile(out + ".png")
	if err != nil {
		return nil, fmt.Errorf("pdfqr: pdftoppm wrote no page: %w", err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("pdfqr: page image: %w", err)
	}
	return img, nil
}

// DecodeImage returns the text of the QR code in img.
func DecodeImage(img image.Image) (string, error) {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", fmt.Errorf("pdfqr: %w", err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		return "", fmt.Errorf("pdfqr: no QR code read on the page: %w", err)
	}
	return res.GetText(), nil
}
