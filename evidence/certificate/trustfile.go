package certificate

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/courtledger/courtledger/crypto/checkpoint"
)

// trustLinePrefix is what `courtd keygen` prints before a court's key; a
// line pasted with it is taken without it.
const trustLinePrefix = "trust line:"

// ParseTrustFile reads a trust file as people write it: one court key a
// line, as `courtd keygen` prints it, with or without keygen's "trust
// line:" label; blank lines and lines starting with '#' are skipped. A line
// that is not a key is named by its number, with what a line must be.
// ParseTrust is the strict reader underneath.
func ParseTrustFile(raw []byte) (*Trust, error) {
	var clean bytes.Buffer
	for n, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, trustLinePrefix); ok {
			line = strings.TrimSpace(rest)
		}
		if line != "" && !strings.HasPrefix(line, "#") {
			if _, err := checkpoint.ParseVerifier(line); err != nil {
				return nil, fmt.Errorf("line %d is not a court key (%v): each line is one key, NAME+KEYID+BASE64, as `courtd keygen` prints after %q; '#' starts a comment", n+1, err, trustLinePrefix)
			}
		}
		clean.WriteString(line + "\n")
	}
	return ParseTrust(&clean)
}
