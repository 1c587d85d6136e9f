package certpdf

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// runeWidth measures one unit a rune, two for a wide (CJK) one.
func runeWidth(s string) float64 {
	w := 0.0
	for _, r := range s {
		if breaksAround(r) {
			w += 2
		} else {
			w++
		}
	}
	return w
}

func TestWrap(t *testing.T) {
	for _, tt := range []struct {
		in    string
		width float64
		want  []string
	}{
		// No character is lost at a CJK break (go-pdf dropped 不 here).
		{"甲方不同意解除合同", 6, []string{"甲方不", "同意解", "除合同"}},
		// Words break at spaces, which go at the break only.
		{"evidencectl cert verify certificate.json", 16, []string{"evidencectl cert", "verify", "certificate.json"}},
		// A word wider than a line breaks after a separator.
		{"hangzhou.court.example/evidence", 20, []string{"hangzhou.court.", "example/evidence"}},
		// Hex without separators breaks between characters.
		{"0123456789abcdef", 6, []string{"012345", "6789ab", "cdef"}},
		// Closing punctuation never starts a line; opening never ends one.
		{"证据，证据", 4, []string{"证", "据，", "证据"}},
		{"证（据）", 6, []string{"证", "（据）"}},
		// A Latin word next to CJK stays whole.
		{"合同HZ2026号", 8, []string{"合同", "HZ2026号"}},
		// Markers are kept whole.
		{"甲方〔U+200B〕同", 10, []string{"甲方", "〔U+200B〕", "同"}},
		// A combining mark stays with its base.
		{"e\u0301e\u0301e\u0301", 1, []string{"e\u0301", "e\u0301", "e\u0301"}},
		{"", 5, []string{""}},
	} {
		got := wrap(tt.in, tt.width, runeWidth)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("wrap(%q, %v) = %q, want %q", tt.in, tt.width, got, tt.want)
		}
	}
}

// FuzzWrap: wrapping loses no character but the spaces at breaks, and a
// line is wider than the width only if it is one unbreakable character.
func FuzzWrap(f *testing.F) {
	for _, s := range titleCorpus {
		f.Add(s, 10.0)
	}
	f.Add("甲方不〔U+200B〕同意 a\u0301 (x) 《y》", 3.0)
	f.Fuzz(func(t *testing.T, s string, width float64) {
		if !utf8.ValidString(s) || width < 1 || width > 1000 || len(s) > 2000 {
			return
		}
		lines := wrap(s, width, runeWidth)
		strip := func(s string) string {
			return strings.Map(func(r rune) rune {
				if unicode.IsSpace(r) {
					return -1
				}
				return r
			}, s)
		}
		if got, want := strip(strings.Join(lines, "")), strip(s); got != want {
			t.Fatalf("wrap(%q, %v) = %q: lost or changed characters", s, width, lines)
		}
		for _, l := range lines {
			if runeWidth(l) > width {
				rs := []rune(strings.TrimSpace(l))
				base := 0
				for _, r := range rs {
					if !unicode.In(r, unicode.Mn, unicode.Me, unicode.Mc) {
						base++
					}
				}
				if base > 1 {
					t.Fatalf("wrap(%q, %v): line %q is %v wide", s, width, l, runeWidth(l))
				}
			}
		}
	})
}

// FuzzParseCmap: the font reader never panics or loops on any input.
func FuzzParseCmap(f *testing.F) {
	f.Add(fontTTF[:4096])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		parseCmap(b)
	})
}

func TestParseCmap(t *testing.T) {
	g, err := parseCmap(fontTTF)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range "证据甲方Aaé한かАΩ〔〕" {
		if !g.printable(r) {
			t.Errorf("%q %U not printable", r, r)
		}
	}
	for _, r := range "\u200b\u202e\ufeff\U00020BB7\u05d0" {
		if g.printable(r) {
			t.Errorf("%U printable", r)
		}
	}
	if _, err := parseCmap(fontTTF[:100]); err == nil {
		t.Errorf("a truncated font parsed")
	}
}
