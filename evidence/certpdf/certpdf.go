// Package certpdf renders a proof certificate (package
// evidence/certificate) as a one-page A4 PDF in Chinese, for a judge or a
// lawyer to read and print: the court, the evidence, its SM3 fingerprint,
// where and when it was recorded, the witnessing courts, and a QR code with
// the certificate ID and the fingerprint. The certificate's JSON travels
// inside the PDF as an embedded file (certificate.json), so the PDF alone
// is enough to verify offline; the printed page is a rendering, not the
// proof.
//
// It is a package of its own so that verifying a certificate never pulls in
// the PDF and QR libraries or the 4.4 MB font.
package certpdf

import (
	"bytes"
	_ "embed"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"
	qrcode "github.com/skip2/go-qrcode"

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
}

// Renderer renders certificates. It is safe for concurrent use.
type Renderer struct {
	courtName func(string) string
}

// New returns a renderer.
func New(cfg Config) (*Renderer, error) {
	if cfg.CourtName == nil {
		cfg.CourtName = KnownCourtName
	}
	return &Renderer{courtName: cfg.CourtName}, nil
}

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

// QRText is what the QR code holds: the certificate ID, the fingerprint and
// the evidence ID, in ASCII so that any reader decodes it.
func QRText(c *certificate.Certificate) string {
	return fmt.Sprintf("courtledger-cert:%s;sm3:%x;evidence:%s", c.ID, c.Entry.Submission.Fingerprint[:], c.Entry.EvidenceID)
}

func cst(t time.Time) string { return t.In(chinaTime).Format("2006年01月02日 15:04:05.000 (UTC+8)") }

// Render writes the PDF of c to w. The output depends only on c and the
// configuration: rendering the same certificate twice gives the same bytes.
func (r *Renderer) Render(w io.Writer, c *certificate.Certificate) error {
	qr, err := qrcode.Encode(QRText(c), qrcode.Medium, 256)
	if err != nil {
		return fmt.Errorf("certpdf: QR code: %w", err)
	}
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCreationDate(c.IssuedAt)
	pdf.SetModificationDate(c.IssuedAt)
	pdf.SetCatalogSort(true)
	pdf.SetTitle("电子数据存证证明 "+c.ID, true)
	pdf.SetSubject(c.Entry.EvidenceID, true)
	pdf.SetCreator("courtledger", true)
	pdf.SetProducer("courtledger evidence/certpdf", true)
	pdf.AddUTF8FontFromBytes("wqy", "", fontTTF)
	pdf.SetAttachments([]fpdf.Attachment{{
		Content: c.Marshal(), Filename: AttachmentName,
		Description: "machine-verifiable certificate: evidencectl cert verify",
	}})
	pdf.SetMargins(18, 16, 18)
	pdf.SetAutoPageBreak(true, 14)
	pdf.AddPage()

	e := c.Entry
	origin := r.courtName(e.Court)
	pdf.SetFont("wqy", "", 20)
	pdf.CellFormat(0, 11, "电子数据存证证明", "", 1, "C", false, 0, "")
	pdf.SetFont("wqy", "", 13)
	pdf.CellFormat(0, 8, origin, "", 1, "C", false, 0, "")
	pdf.SetFont("wqy", "", 8)
	pdf.CellFormat(0, 5, "证明编号 Certificate ID: "+c.ID, "", 1, "C", false, 0, "")
	pdf.Ln(3)

	pdf.RegisterImageOptionsReader("qr", fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(qr))
	top := pdf.GetY()
	pdf.ImageOptions("qr", 210-18-38, top, 38, 38, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")

	category := e.Submission.Category.ChineseName()
	if category == "" {
		category = string(e.Submission.Category)
	}
	rows := [][2]string{
		{"存证法院", origin + "\n" + e.Court},
		{"证据编号", e.EvidenceID},
		{"证据类别", category},
		{"证据名称", e.Submission.Title},
		{"存证时间", cst(e.AcceptedAt)},
		{"提交平台", e.Submission.Platform + "（请求编号 " + e.Submission.RequestID + "）"},
		{"账本位置", fmt.Sprintf("第 %d 条（自 0 起计），所在账本共 %d 条", e.Index, c.Head.Size)},
		{"树头时间", cst(c.Head.Time)},
		{"哈希算法", "SM3（GB/T 32905-2016）"},
		{"签名算法", "SM2（GB/T 32918-2016），用户标识 1234567812345678"},
	}
	r.table(pdf, rows, 30, 210-18-18-30-42)
	pdf.Ln(2)
	pdf.SetFont("wqy", "", 10)
	pdf.CellFormat(0, 6, "电子数据指纹（SM3）:", "", 1, "L", false, 0, "")
	pdf.SetFont("wqy", "", 10.5)
	pdf.CellFormat(0, 6, fmt.Sprintf("%x", e.Submission.Fingerprint[:]), "1", 1, "C", false, 0, "")
	pdf.Ln(2)

	var witnessRows [][2]string
	for _, wt := range c.Cosignatures() {
		if wt.CosignedAt.IsZero() { // not a cosignature line: no time to show
			witnessRows = append(witnessRows, [2]string{"见证法院", r.courtName(wt.Court) + "（" + wt.Court + "）签名"})
			continue
		}
		witnessRows = append(witnessRows, [2]string{"见证法院", r.courtName(wt.Court) + "（" + wt.Court + "）\n于 " + cst(wt.CosignedAt) + " 联署确认"})
	}
	if len(witnessRows) == 0 {
		witnessRows = [][2]string{{"见证法院", "无（本证明所附树头尚无其他法院联署）"}}
	}
	r.table(pdf, append(witnessRows,
		[2]string{"出具法院", r.courtName(c.IssuedBy) + "（" + c.IssuedBy + "）"},
		[2]string{"出具时间", cst(c.IssuedAt)},
	), 30, 210-18-18-30)

	pdf.Ln(3)
	pdf.SetFont("wqy", "", 9)
	pdf.MultiCell(0, 5, "核验说明：本证明所载内容以附件 "+AttachmentName+
		" 为准。任何人可凭各法院公钥离线核验：evidencectl cert verify 本文件.json --trust 信任文件 [--file 原始文件]；"+
		"亦可按 docs/verify-by-hand.md 用 OpenSSL 3 手工核验（SM3 指纹、叶子哈希、包含证明、SM2 签名）。"+
		"以下为证明正文（C2SP tlog-proof 格式，哈希为 SM3）：", "", "L", false)
	pdf.Ln(1)
	pdf.SetFont("wqy", "", 6.5)
	pdf.MultiCell(0, 3.2, string(c.TlogProof()), "1", "L", false)

	if err := pdf.Output(w); err != nil {
		return fmt.Errorf("certpdf: %w", err)
	}
	return nil
}

// table prints label/value rows, values wrapped to width.
func (r *Renderer) table(pdf *fpdf.Fpdf, rows [][2]string, labelW, valueW float64) {
	const lineH = 6
	for _, row := range rows {
		pdf.SetFont("wqy", "", 10)
		lines := pdf.SplitText(row[1], valueW-2)
		h := lineH * float64(max(len(lines), 1))
		x, y := pdf.GetX(), pdf.GetY()
		pdf.CellFormat(labelW, h, row[0], "1", 0, "C", false, 0, "")
		pdf.MultiCell(valueW, lineH, strings.Join(lines, "\n"), "1", "L", false)
		pdf.SetXY(x, y+h)
	}
}
