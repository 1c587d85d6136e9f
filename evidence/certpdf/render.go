package certpdf

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/go-pdf/fpdf"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/evidence/certificate"
)

// Page geometry, in millimetres.
const (
	pageW, pageH = 210.0, 297.0
	marginX      = 18.0
	marginTop    = 16.0
	footerH      = 12.0 // the footer's band at the bottom
	bodyW        = pageW - 2*marginX
	bodyBottom   = pageH - footerH - 2
	labelW       = 30.0
	qrSize       = 32.0
	cellPad      = 1.5 // left padding inside a table cell
)

// doc is one rendering in progress.
type doc struct {
	pdf     *fpdf.Fpdf
	glyphs  glyphSet
	flagged bool // some text printed as code point markers
}

func (d *doc) font(size float64) { d.pdf.SetFont("wqy", "", size) }

// lines returns text as the page shows it (see glyphSet.visible), wrapped
// to width at the current font size.
func (d *doc) lines(text string, width float64) []string {
	var out []string
	for _, para := range strings.Split(text, "\n") {
		v, flagged := d.glyphs.visible(para)
		d.flagged = d.flagged || flagged
		out = append(out, wrap(v, width, d.pdf.GetStringWidth)...)
	}
	return out
}

// room starts a new page unless h millimetres fit above the footer.
func (d *doc) room(h float64) {
	if d.pdf.GetY()+h > bodyBottom {
		d.pdf.AddPage()
	}
}

// para prints text across the body width from the left margin, wrapped.
func (d *doc) para(text string, size, lineH float64) {
	d.font(size)
	for _, l := range d.lines(text, bodyW) {
		d.room(lineH)
		d.pdf.SetX(marginX)
		d.pdf.CellFormat(bodyW, lineH, l, "", 1, "L", false, 0, "")
	}
}

// row prints a bordered label/value row; the value wraps within valueW.
// A row moves whole to the next page if it does not fit.
func (d *doc) row(label, value string, valueW, size, lineH float64) {
	labelSize, labelH := 10.0, 5.6
	if size < 10 {
		labelSize, labelH = max(size, 8), max(lineH, 3.8)
	}
	d.font(labelSize)
	labels := d.lines(label, labelW-2*cellPad)
	d.font(size)
	lines := d.lines(value, valueW-2*cellPad)
	h := max(lineH*float64(len(lines)), labelH*float64(len(labels)))
	d.room(h)
	x, y := marginX, d.pdf.GetY()
	d.pdf.Rect(x, y, labelW, h, "D")
	d.pdf.Rect(x+labelW, y, valueW, h, "D")
	// The label first, then the value: text extraction reads them in
	// this order.
	d.font(labelSize)
	for i, l := range labels {
		d.pdf.SetXY(x, y+(h-labelH*float64(len(labels)))/2+labelH*float64(i))
		d.pdf.CellFormat(labelW, labelH, l, "", 0, "C", false, 0, "")
	}
	d.font(size)
	for i, l := range lines {
		d.pdf.SetXY(x+labelW+cellPad, y+(h-lineH*float64(len(lines)))/2+lineH*float64(i))
		d.pdf.CellFormat(valueW-2*cellPad, lineH, l, "", 0, "L", false, 0, "")
	}
	d.pdf.SetXY(marginX, y+h)
}

// linkLines breaks a link into lines no wider than width at the current
// font size, after a "&" where it can, so that each query parameter stays
// whole on a line for a person typing it; a part wider than a line wraps
// as text does. Joined, the lines are the link.
func (d *doc) linkLines(link string, width float64) []string {
	var lines []string
	line := ""
	for _, part := range strings.SplitAfter(link, "&") {
		switch {
		case d.pdf.GetStringWidth(line+part) <= width:
			line += part
		case d.pdf.GetStringWidth(part) <= width:
			lines, line = append(lines, line), part
		default:
			if line != "" {
				lines = append(lines, line)
			}
			wrapped := d.lines(part, width)
			lines, line = append(lines, wrapped[:len(wrapped)-1]...), wrapped[len(wrapped)-1]
		}
	}
	return append(lines, line)
}

// heading prints a section heading.
func (d *doc) heading(text string) {
	d.room(6 + 12) // never a heading alone at the bottom of a page
	d.pdf.Ln(1.5)
	d.font(10.5)
	d.pdf.SetX(marginX)
	d.pdf.CellFormat(bodyW, 6, text, "", 1, "L", false, 0, "")
}

// Render writes the PDF of c to w. The output depends only on c and the
// configuration: rendering the same certificate twice gives the same bytes.
func (r *Renderer) Render(w io.Writer, c *certificate.Certificate) error {
	qrText := QRText(c)
	link := VerifyLink(r.verifyURL, c)
	if link != "" {
		qrText = link
	}
	code, err := qrcode.New(qrText, qrcode.Medium)
	if err != nil {
		return fmt.Errorf("certpdf: QR code: %w", err)
	}
	// A fixed number of pixels a module and no padding beyond the quiet
	// zone: the code fills its square on the page, whatever its version
	// (a link needs a larger one than QRText), so that its modules print
	// as large as they can.
	qr, err := code.PNG(-4)
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
	pdf.SetMargins(marginX, marginTop, marginX)
	pdf.SetCellMargin(0)
	// Breaks are the renderer's (doc.room), so that a table row or a
	// heading never splits and no page is left with only a border on it.
	pdf.SetAutoPageBreak(false, 0)
	pdf.AliasNbPages("{nb}")
	d := &doc{pdf: pdf, glyphs: r.glyphs}

	e := c.Entry
	origin := r.courtName(e.Court)
	issuer := r.courtName(c.IssuedBy)
	// named prints a court as "name（ID）", or its ID alone when it has no
	// other name.
	named := func(id string) string {
		if n := r.courtName(id); n != id {
			return n + "（" + id + "）"
		}
		return id
	}
	pdf.SetHeaderFunc(func() {
		if pdf.PageNo() == 1 {
			return
		}
		d.font(8.5)
		pdf.SetXY(marginX, marginTop-6)
		pdf.CellFormat(bodyW, 5, "电子数据存证证明（续）  "+origin+"  证明编号 "+c.ID, "B", 1, "L", false, 0, "")
		pdf.SetY(marginTop + 2)
	})
	pdf.SetFooterFunc(func() {
		d.font(8.5)
		pdf.SetXY(marginX, pageH-footerH)
		pdf.CellFormat(bodyW, 5, fmt.Sprintf("证明编号 %s", c.ID), "T", 0, "L", false, 0, "")
		pdf.SetXY(marginX, pageH-footerH)
		pdf.CellFormat(bodyW, 5, fmt.Sprintf("第 %d 页  共 {nb} 页", pdf.PageNo()), "", 0, "R", false, 0, "")
	})
	pdf.AddPage()

	// Title block, with the QR code at the right.
	pdf.RegisterImageOptionsReader("qr", fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(qr))
	qrX, qrY, qrW := pageW-marginX-qrSize+2, marginTop-4, qrSize-2
	pdf.ImageOptions("qr", qrX, qrY, qrW, qrW, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, link)
	d.font(20)
	pdf.CellFormat(bodyW, 11, "电子数据存证证明", "", 1, "C", false, 0, "")
	d.font(9)
	pdf.CellFormat(bodyW, 5, "Certificate of Electronic Evidence Deposit", "", 1, "C", false, 0, "")
	d.font(13)
	pdf.CellFormat(bodyW, 8, origin, "", 1, "C", false, 0, "")
	d.font(8.5)
	pdf.CellFormat(bodyW, 5, "证明编号 Certificate ID: "+c.ID, "", 1, "C", false, 0, "")
	pdf.SetY(max(pdf.GetY(), qrY+qrW))
	if link != "" {
		// The link as text under the code, for a reader without a phone
		// to type, right-aligned to the code; in a PDF viewer it is a
		// link, as the code is.
		d.font(6.5)
		for _, l := range d.linkLines(link, bodyW) {
			pdf.SetX(marginX)
			pdf.CellFormat(bodyW, 3.2, l, "", 1, "R", false, 0, link)
		}
	}
	pdf.SetY(pdf.GetY() + 1)

	// The statement.
	witnesses := c.Cosignatures()
	var names []string
	for _, wt := range witnesses {
		names = append(names, r.courtName(wt.Court))
	}
	cosigned := "账本签名树头尚无其他法院联署"
	if len(names) > 0 {
		cosigned = "账本签名树头经" + strings.Join(names, "、") + "联署见证"
	}
	d.para(fmt.Sprintf("兹证明：下列电子数据的 SM3 指纹于 %s 由 %s 向%s提交，记入该院电子证据账本第 %d 条，%s。"+
		"SM3 指纹与之一致的电子数据即为存证时所提交的数据；本证明不对电子数据内容的真实性、合法性作出认定。",
		cst(e.AcceptedAt), e.Submission.Platform, origin, e.Index+1, cosigned), 10, 5.2)
	d.para(fmt.Sprintf("This certifies that the SM3 fingerprint of the data below was filed with %s at %s "+
		"and recorded as entry %d of its evidence ledger. Data with this fingerprint is the data filed; "+
		"the court does not attest to the truth or legality of its content.",
		e.Court, e.AcceptedAt.UTC().Format("2006-01-02 15:04:05.000 UTC"), e.Index+1), 8, 3.8)
	pdf.Ln(1.5)

	// The evidence.
	category := e.Submission.Category.ChineseName()
	if category == "" {
		category = string(e.Submission.Category)
	}
	rows := [][2]string{
		{"存证法院", named(e.Court)},
		{"证据编号", e.EvidenceID},
		{"证据类别", category},
		{"证据名称", e.Submission.Title},
		{"存证时间", cst(e.AcceptedAt)},
		{"提交平台", e.Submission.Platform + "（请求编号 " + e.Submission.RequestID + "）"},
	}
	if b := e.Batch; b != nil {
		// Filed in a batch the platform signed once (docs/formats.md).
		// Counted from 1 for readers, in both languages; the leaf index of
		// the batch tree (from 0) is in the certificate's JSON.
		rows = append(rows, [2]string{"批量提交", fmt.Sprintf("批次 %s 第 %d 条（共 %d 条），平台对该批次签名一次；filed in batch %s, entry %d of %d",
			b.Header.BatchID, b.Leaf+1, b.Header.Count, b.Header.BatchID, b.Leaf+1, b.Header.Count)})
	}
	rows = append(rows,
		[2]string{"账本位置", fmt.Sprintf("第 %d 条（账本序号 %d）；签名树头（%s）记载账本共 %d 条", e.Index+1, e.Index, cst(c.Head.Time), c.Head.Size)},
		[2]string{"算法", "SM3 指纹（GB/T 32905-2016）；SM2 签名（GB/T 32918-2016，用户标识 1234567812345678）"})
	for _, row := range rows {
		d.row(row[0], row[1], bodyW-labelW, 9.5, 5)
	}
	d.row("电子数据指纹\nSM3", fmt.Sprintf("%x", e.Submission.Fingerprint[:]), bodyW-labelW, 10.5, 6.5)

	// The signatures on the tree head.
	d.heading("签名与出具 Signatures and issue")
	sigs, _ := checkpoint.Signatures(c.SignedHead) // Issue and Unmarshal checked them
	for _, s := range sigs {
		if s.Name == c.Head.Origin {
			d.row("存证法院签名", fmt.Sprintf("%s 签署树头，密钥 %08x", named(s.Name), s.KeyID), bodyW-labelW, 9, 4.6)
		}
	}
	for _, wt := range witnesses {
		if wt.CosignedAt.IsZero() { // not a cosignature line: no time to show
			d.row("见证法院联署", fmt.Sprintf("%s 签名，密钥 %s", named(wt.Court), wt.KeyID), bodyW-labelW, 9, 4.6)
			continue
		}
		d.row("见证法院联署", fmt.Sprintf("%s 于 %s 联署确认，密钥 %s", named(wt.Court), cst(wt.CosignedAt), wt.KeyID), bodyW-labelW, 9, 4.6)
	}
	if len(witnesses) == 0 {
		d.row("见证法院联署", "无（本证明所附树头尚无其他法院联署）", bodyW-labelW, 9, 4.6)
	}
	if line := r.timestampLine(c, named); line != "" {
		d.row("可信时间戳", line, bodyW-labelW, 9, 4.6)
	}
	d.row("出具法院", named(c.IssuedBy)+" 于 "+cst(c.IssuedAt)+" 出具本证明", bodyW-labelW, 9, 4.6)

	if d.flagged {
		pdf.Ln(1)
		d.para("注：〔U+XXXX〕 表示原文中的一个不可见、改变文字方向或本字体无法显示的字符，按其 Unicode 码位印出；原文以附件 "+AttachmentName+" 为准。", 8.5, 4.5)
	}

	// How to verify.
	d.heading("核验方法 How to verify")
	online := "亦可向" + issuer + "查询证明编号 " + c.ID + "。"
	onlineEn := ""
	if r.verifyURL != "" {
		online = "亦可在" + issuer + "核验地址 " + r.verifyURL + " 以证明编号 " + c.ID + " 核验。"
		onlineEn = " Or verify at " + r.verifyURL + "."
	}
	d.para("本证明所载内容以本 PDF 内嵌附件 "+AttachmentName+" 为准。取出附件（如 pdfdetach -saveall 本文件.pdf）后，"+
		"任何人可凭各法院公布的公钥信任文件离线核验：evidencectl cert verify "+AttachmentName+" --trust 信任文件 --file 原始文件，"+
		"结果为 VALID 即本证明属实、原始文件即存证数据。"+online, 9, 4.6)
	d.para("Verify offline: extract "+AttachmentName+" from this PDF, then run evidencectl cert verify "+AttachmentName+
		" --trust <trust file> --file <original file>; VALID means the certificate holds."+onlineEn, 8, 3.8)

	// The proof as the attachment has it, line by line, labelled.
	d.heading("证明正文 Proof (C2SP tlog-proof, SM3)")
	for _, row := range proofRows(c, r.courtName) {
		d.row(row[0], row[1], bodyW-labelW, 6.5, 3.2)
	}

	if err := pdf.Output(w); err != nil {
		return fmt.Errorf("certpdf: %w", err)
	}
	return nil
}

// proofRows labels the lines of the certificate's tlog-proof: its format
// line, the leaf index, the inclusion proof's hashes, the checkpoint (log,
// size, root, extensions) and each signature, the origin court's and the
// witnesses'. A signature line "— name base64" prints as the name and then
// the base64 in 64-character lines, as PEM does. Read top to bottom, the
// values are the proof's lines without its blank separators.
func proofRows(c *certificate.Certificate, courtName func(string) string) [][2]string {
	text := strings.TrimSuffix(string(c.TlogProof()), "\n")
	parts := strings.Split(text, "\n\n")
	if len(parts) != 3 {
		return [][2]string{{"证明正文", text}}
	}
	var rows [][2]string
	head := strings.Split(parts[0], "\n")
	if len(head) < 2 {
		return [][2]string{{"证明正文", text}}
	}
	rows = append(rows, [2]string{"格式、叶子序号", head[0] + "\n" + head[1]})
	if len(head) > 2 {
		// Three hashes a line: a proof in a ledger of millions has twenty.
		var lines []string
		for i := 2; i < len(head); i += 3 {
			lines = append(lines, strings.Join(head[i:min(i+3, len(head))], " "))
		}
		rows = append(rows, [2]string{"包含证明", strings.Join(lines, "\n")})
	}
	rows = append(rows, [2]string{"签名树头", parts[1]})
	for _, l := range strings.Split(parts[2], "\n") {
		name, sig, _ := strings.Cut(strings.TrimPrefix(l, "— "), " ")
		label := "见证法院联署"
		if name == c.Head.Origin {
			label = "存证法院签名"
		}
		var chunks []string
		for len(sig) > 64 {
			chunks, sig = append(chunks, sig[:64]), sig[64:]
		}
		chunks = append(chunks, sig)
		if known := courtName(name); known != name {
			label += "\n" + known
		}
		rows = append(rows, [2]string{label, "— " + name + "\n" + strings.Join(chunks, "\n")})
	}
	return rows
}

// timestampLine says what the certificate's trusted timestamp proves: the
// TSA's time and name once its token verifies, else that it was not
// checked. A certificate without a timestamp prints no line.
func (r *Renderer) timestampLine(c *certificate.Certificate, named func(string) string) string {
	t := c.Timestamp
	if t == nil {
		return ""
	}
	if r.timestamps == nil {
		return fmt.Sprintf("时间戳服务机构 %s 对%s第 %d 条时的签名树头的时间戳（未核验）", t.TSA, named(t.Head.Origin), t.Head.Size)
	}
	text, err := certificate.StampedText(t.SignedHead)
	if err != nil {
		return ""
	}
	info, err := r.timestamps(t.Token, text, t.Head.Time)
	if err != nil {
		return fmt.Sprintf("时间戳服务机构 %s 的时间戳未通过核验：%v", t.TSA, err)
	}
	return fmt.Sprintf("%s 由时间戳服务机构 %s（%s）签发，证明%s前 %d 条记录（含本证据）此时已存在",
		cst(info.Time), info.TSA, t.TSA, named(t.Head.Origin), t.Head.Size)
}
