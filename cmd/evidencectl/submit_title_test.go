package main

import (
	"errors"
	"strings"
	"testing"
)

// submit --fingerprint without --title filed the title "." (the base name
// of no file); it is a usage error, before any key or server is touched.
func TestSubmitFingerprintNeedsTitle(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	for _, title := range []string{"", "  "} {
		_, err := run(t, "submit", "--platform", "esign.example", "--key", "absent.pem", "--trust", "trust.txt", "--fingerprint", fp, "--title", title)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--title") {
			t.Errorf("submit --fingerprint --title %q: %v, want a usage error naming --title", title, err)
		}
	}
}
