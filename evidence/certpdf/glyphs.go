package certpdf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// glyphSet is the set of BMP characters a font has a glyph for. go-pdf/fpdf
// writes text as UTF-16 code units into an Identity-H font and keeps widths
// for the BMP only, so a character beyond U+FFFF cannot be printed whatever
// the font holds.
type glyphSet map[rune]bool

// errNoCmap is returned for a font without a Unicode BMP cmap.
var errNoCmap = errors.New("certpdf: font has no Unicode BMP cmap (format 4)")

// parseCmap reads the Unicode BMP subtable (platform 3 encoding 1, or
// platform 0, format 4) of a TrueType font. The font is the embedded one, but
// the reader bounds-checks every read so that no input makes it panic
// (FuzzParseCmap).
func parseCmap(ttf []byte) (glyphSet, error) {
	u16 := func(off int) (int, bool) {
		if off < 0 || off+2 > len(ttf) {
			return 0, false
		}
		return int(binary.BigEndian.Uint16(ttf[off:])), true
	}
	u32 := func(off int) (int, bool) {
		if off < 0 || off+4 > len(ttf) {
			return 0, false
		}
		v := binary.BigEndian.Uint32(ttf[off:])
		if v > 1<<30 {
			return 0, false
		}
		return int(v), true
	}
	numTables, ok := u16(4)
	if !ok {
		return nil, fmt.Errorf("certpdf: font too short (%d bytes)", len(ttf))
	}
	cmap := -1
	for i := 0; i < numTables; i++ {
		rec := 12 + 16*i
		if rec+16 > len(ttf) {
			return nil, fmt.Errorf("certpdf: font table directory truncated")
		}
		if string(ttf[rec:rec+4]) == "cmap" {
			cmap, _ = u32(rec + 8)
		}
	}
	if cmap < 0 {
		return nil, errNoCmap
	}
	n, ok := u16(cmap + 2)
	if !ok {
		return nil, errNoCmap
	}
	sub := -1
	for i := 0; i < n; i++ {
		rec := cmap + 4 + 8*i
		platform, ok1 := u16(rec)
		encoding, ok2 := u16(rec + 2)
		off, ok3 := u32(rec + 4)
		if !ok1 || !ok2 || !ok3 {
			return nil, errNoCmap
		}
		if format, ok := u16(cmap + off); ok && format == 4 && (platform == 3 && encoding == 1 || platform == 0) {
			sub = cmap + off
			break
		}
	}
	if sub < 0 {
		return nil, errNoCmap
	}
	segX2, ok := u16(sub + 6)
	if !ok || segX2%2 != 0 {
		return nil, errNoCmap
	}
	ends := sub + 14
	starts := ends + segX2 + 2
	deltas := starts + segX2
	ranges := deltas + segX2
	set := glyphSet{}
	budget := 1 << 17 // a well-formed cmap covers each BMP character once
	for s := 0; s < segX2; s += 2 {
		end, ok1 := u16(ends + s)
		start, ok2 := u16(starts + s)
		delta, ok3 := u16(deltas + s)
		ro, ok4 := u16(ranges + s)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return nil, fmt.Errorf("certpdf: font cmap truncated")
		}
		if budget -= max(0, end-start+1); budget < 0 {
			return nil, fmt.Errorf("certpdf: font cmap segments overlap")
		}
		for c := start; c <= end && c != 0xFFFF; c++ {
			g := 0
			if ro == 0 {
				g = (c + delta) & 0xFFFF
			} else if gi, ok := u16(ranges + s + ro + 2*(c-start)); ok && gi != 0 {
				g = (gi + delta) & 0xFFFF
			}
			if g != 0 {
				set[rune(c)] = true
			}
		}
	}
	return set, nil
}

// printable reports whether r prints as itself: the font has a glyph for
// it and it is not a character that is invisible or reorders its
// neighbours (zero-width spaces and joiners, direction marks, embeddings,
// overrides, isolates, the byte-order mark, soft hyphen: Unicode's format
// characters, category Cf) or a control character. Filing refuses these in
// titles (evidence.ErrInvisibleChar); a certificate of an entry recorded
// before that rule prints them as a visible marker instead of dropping them
// or letting them reorder the line.
func (g glyphSet) printable(r rune) bool {
	return g[r] && !unicode.Is(unicode.Cf, r) && !unicode.IsControl(r) &&
		!unicode.Is(unicode.Noncharacter_Code_Point, r) && !unicode.Is(unicode.Variation_Selector, r)
}

// marker is how a character that does not print as itself appears on the
// page: its code point in brackets, e.g. 〔U+200B〕.
func marker(r rune) string { return fmt.Sprintf("〔U+%04X〕", r) }

// visible returns s with every character that is not printable replaced
// by its marker, and whether it replaced any.
func (g glyphSet) visible(s string) (string, bool) {
	clean := true
	for _, r := range s {
		if !g.printable(r) {
			clean = false
			break
		}
	}
	if clean {
		return s, false
	}
	var b strings.Builder
	for _, r := range s {
		if g.printable(r) {
			b.WriteRune(r)
		} else {
			b.WriteString(marker(r))
		}
	}
	return b.String(), true
}
