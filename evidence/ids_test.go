package evidence

import (
	"regexp"
	"strings"
	"testing"
)

// The formats as regular expressions: the specification the byte-wise
// matchers of ids.go must agree with.
var idFormats = []struct {
	name  string
	re    *regexp.Regexp
	match func(string) bool
}{
	{"court ID", regexp.MustCompile(`^[a-z0-9][a-z0-9./-]{0,127}$`), ValidCourtID},
	{"platform ID", regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,62}[a-z0-9])?$`), ValidPlatformID},
	{"request ID", regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`), validRequestID},
	{"metadata key", regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`), validMetadataKey},
}

func checkIDFormats(t *testing.T, s string) {
	t.Helper()
	for _, f := range idFormats {
		if want, got := f.re.MatchString(s), f.match(s); got != want {
			t.Errorf("%s %q: matcher says %v, the format says %v", f.name, s, got, want)
		}
	}
}

func TestIDFormats(t *testing.T) {
	for _, s := range []string{
		"", "a", "A", "0", "-", ".", "/", "_", ":", "a-", "a.", "-a", "a-b", "a.b", "a/b", "a_b", "a:b", "aB", "Ab",
		"hangzhou.court.example/evidence", "esign.example", "req-0001", "Req:2026.12_03-x", "contract_no",
		"a\n", "a\x00b", "合同", "a合", "a b", "ab ", strings.Repeat("a", 63), strings.Repeat("a", 64),
		strings.Repeat("a", 65), strings.Repeat("a", 127), strings.Repeat("a", 128), strings.Repeat("a", 129),
		"a" + strings.Repeat("-", 62) + "a", "a" + strings.Repeat("-", 62) + "-", "a" + strings.Repeat("-", 63) + "a",
	} {
		checkIDFormats(t, s)
	}
}

func FuzzIDFormats(f *testing.F) {
	for _, s := range []string{"a", "a-b", "esign.example", "req-1", "A:b", "k_1", "a.", "x/y", strings.Repeat("z", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkIDFormats(t, s) })
}
