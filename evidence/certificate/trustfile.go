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
// line:" label; blank lines and lines starting with '#' are skipped, and
// PEM certificates are TSA anchors (ParseTrust). A line that is not a key
// is named by its number, with what a line must be.
// ParseTrust is the strict reader underneath.
func ParseTrustFile(raw []byte) (*Trust, error) {
	var clean bytes.Buffer
	inPEM := false
	for n, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, trustLinePrefix); ok {
			line = strings.TrimSpace(rest)
		}
		// A TSA's PEM certificate passes to ParseTrust as it is.
		switch {
		case line == pemBegin:
			inPEM = true
		case line == pemEnd:
			inPEM = false
			clean.WriteString(line + "\n")
			continue
		}
		if !inPEM && line != "" && !strings.HasPrefix(line, "#") {
			if _, err := checkpoint.ParseVerifier(line); err != nil {
				return nil, fmt.Errorf("line %d is not a court key (%v): each line is one key, NAME+KEYID+BASE64, as `courtd keygen` prints after %q; '#' starts a comment", n+1, err, trustLinePrefix)
			}
		}
		clean.WriteString(line + "\n")
	}
	return ParseTrust(&clean)
}
