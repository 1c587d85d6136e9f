package certpdf

import (
	"strings"
	"unicode"
)

// wrap breaks s into lines no wider than width as measured by w. go-pdf's
// own wrapping (SplitText, MultiCell) drops the character at which it
// breaks a CJK line (it treats every ideograph like a space) and counts a
// zero-width glyph as 65535 units wide, so certificates printed 甲方不同意
// as 甲方 / 同意; this breaker loses nothing:
//
//   - a line may break between two CJK characters, and at spaces, which
//     are dropped only at the break;
//   - a Latin word, an ID or a number is kept whole (a word wider than a
//     whole line breaks after one of "/-._:,;=&?+" if it can, else
//     between characters);
//   - closing punctuation (，。）》…) never starts a line and opening
//     punctuation (（《“…) never ends one; a combining mark stays with its
//     base.
//
// "\n" in s starts a new line. Joining the lines with the dropped spaces
// gives s back (FuzzWrap).
func wrap(s string, width float64, w func(string) float64) []string {
	var lines []string
	for _, para := range strings.Split(s, "\n") {
		lines = append(lines, wrapPara(para, width, w)...)
	}
	return lines
}

// A unit is text that no line break may split, with the spaces before it.
type unit struct{ space, text string }

const (
	noStart = "，。、；：？！）》」』】〕〉］｝”’…·％,.;:?!)]}%"
	noEnd   = "（《「『【〔〈［｛“‘([{"
)

// breaksAround reports whether a line may break on both sides of r, as
// between ideographs.
func breaksAround(r rune) bool {
	return r >= 0x2E80 && r <= 0x9FFF || r >= 0xAC00 && r <= 0xD7AF || r >= 0xF900 && r <= 0xFAFF ||
		r >= 0xFE30 && r <= 0xFE4F || r >= 0xFF00 && r <= 0xFFEF || r >= 0x20000 && r <= 0x3FFFF ||
		r == '—' || r == '…'
}

func units(para string) []unit {
	var out []unit
	var space, word strings.Builder
	glueNext := false
	emit := func(text string) {
		first, _ := firstRune(text)
		if len(out) > 0 && space.Len() == 0 && (glueNext || strings.ContainsRune(noStart, first) ||
			unicode.In(first, unicode.Mn, unicode.Me, unicode.Mc)) {
			out[len(out)-1].text += text
		} else {
			out = append(out, unit{space.String(), text})
		}
		space.Reset()
		last, _ := lastRune(text)
		glueNext = strings.ContainsRune(noEnd, last)
	}
	flushWord := func() {
		if word.Len() > 0 {
			emit(word.String())
			word.Reset()
		}
	}
	for _, r := range para {
		switch {
		case unicode.IsSpace(r):
			flushWord()
			space.WriteRune(r)
		case breaksAround(r):
			flushWord()
			emit(string(r))
		case word.Len() == 0 && strings.ContainsRune(noStart+noEnd, r):
			// Punctuation outside a word; inside one ("No.5", "f(x)",
			// "1,000") it is part of the word.
			emit(string(r))
		default:
			word.WriteRune(r)
		}
	}
	flushWord()
	if space.Len() > 0 { // trailing spaces stay on the last line
		if len(out) == 0 {
			out = append(out, unit{})
		}
		out[len(out)-1].text += space.String()
	}
	return out
}

func firstRune(s string) (rune, bool) {
	for _, r := range s {
		return r, true
	}
	return 0, false
}

func lastRune(s string) (rune, bool) {
	rs := []rune(s)
	if len(rs) == 0 {
		return 0, false
	}
	return rs[len(rs)-1], true
}

func wrapPara(para string, width float64, w func(string) float64) []string {
	us := units(para)
	if len(us) == 0 {
		return []string{""}
	}
	var lines []string
	line, lineW := "", 0.0
	for i, u := range us {
		if i == 0 || line == "" {
			if i == 0 {
				line, lineW = u.space, w(u.space) // leading spaces are kept
			}
		} else if lineW+w(u.space)+w(u.text) <= width {
			line, lineW = line+u.space+u.text, lineW+w(u.space)+w(u.text)
			continue
		} else {
			lines = append(lines, line)
			line, lineW = "", 0
		}
		// u starts the line.
		if lineW+w(u.text) <= width {
			line, lineW = line+u.text, lineW+w(u.text)
			continue
		}
		pieces := hardSplit(u.text, width-lineW, width, w)
		if line != "" && len(pieces) > 0 && w(pieces[0]) > width-lineW {
			lines = append(lines, line)
			line, lineW = "", 0
			pieces = hardSplit(u.text, width, width, w)
		}
		for _, p := range pieces[:len(pieces)-1] {
			lines = append(lines, line+p)
			line, lineW = "", 0
		}
		line, lineW = line+pieces[len(pieces)-1], lineW+w(pieces[len(pieces)-1])
	}
	return append(lines, line)
}

// hardSplit breaks a unit wider than a line: the first piece fits in first,
// the others in width. It prefers to break after a separator; a piece
// without one breaks between characters, never before a combining mark.
func hardSplit(s string, first, width float64, w func(string) float64) []string {
	var pieces []string
	avail := first
	for s != "" {
		if w(s) <= avail {
			break
		}
		rs := []rune(s)
		fit, sep, sum := 0, 0, 0.0
		for n := 1; n <= len(rs); n++ {
			// Widths add up: go-pdf does no kerning.
			if sum += w(string(rs[n-1])); sum > avail {
				break
			}
			if n < len(rs) && unicode.In(rs[n], unicode.Mn, unicode.Me, unicode.Mc) {
				continue
			}
			fit = n
			if strings.ContainsRune("/-._:,;=&?+", rs[n-1]) {
				sep = n
			}
		}
		switch {
		case sep > 0:
			fit = sep
		case fit == 0: // not even one character fits: it takes a line alone
			fit = 1
			for fit < len(rs) && unicode.In(rs[fit], unicode.Mn, unicode.Me, unicode.Mc) {
				fit++
			}
		}
		pieces = append(pieces, string(rs[:fit]))
		s = string(rs[fit:])
		avail = width
	}
	if s == "" && len(pieces) > 0 {
		return pieces
	}
	return append(pieces, s)
}
