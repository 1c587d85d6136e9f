package certificate

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/courtledger/courtledger/crypto/checkpoint"
)

// Trust is what a verifier trusts: the SM2 keys of each court, as verifier
// key strings (checkpoint.Verifier.String). The same keys check a court's
// own tree heads and the cosignatures it makes as a witness of other courts.
// A court has several keys after rotating its signing key: the heads it
// signed before keep the old key's signature, so the old key stays trusted
// beside the new one (docs/security.md, "Key rotation").
type Trust struct {
	courts map[string][]*checkpoint.Verifier
	// tsa holds the PEM certificates of the time-stamping authorities
	// trusted for certificates' timestamps (issue 16), as the trust file
	// gives them; nil if it gives none.
	tsa []byte
}

// TSAAnchors returns the trust file's TSA certificates as PEM, or nil.
func (t *Trust) TSAAnchors() []byte { return bytes.Clone(t.tsa) }

// NewTrust trusts the given court keys; a court may have several, all
// accepted alike. The same key listed twice is an error: it is a slip in
// the trust file, and a note verifier would find the key ambiguous.
func NewTrust(keys ...*checkpoint.Verifier) (*Trust, error) {
	t := &Trust{courts: make(map[string][]*checkpoint.Verifier, len(keys))}
	for _, k := range keys {
		for _, have := range t.courts[k.Name()] {
			if have.KeyHash() == k.KeyHash() {
				return nil, fmt.Errorf("certificate: trust: key %08x of court %q listed twice", k.KeyHash(), k.Name())
			}
		}
		t.courts[k.Name()] = append(t.courts[k.Name()], k)
	}
	return t, nil
}

// ParseTrust reads a trust file: one verifier key string per line; empty
// lines and lines starting with '#' are skipped. Several lines may name the
// same court: by convention its current key first, then the older ones; all
// are accepted, whatever the order. PEM certificates ("-----BEGIN
// CERTIFICATE-----" to its END line) are the trusted time-stamping
// authorities' (TSAAnchors); they are kept as given and checked by
// whoever verifies a token with them.
func ParseTrust(r io.Reader) (*Trust, error) {
	var keys []*checkpoint.Verifier
	var tsa bytes.Buffer
	inPEM := false
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == pemBegin:
			if inPEM {
				return nil, fmt.Errorf("certificate: trust file line %d: a certificate begins inside another", n)
			}
			inPEM = true
		case inPEM && line == pemEnd:
			inPEM = false
		}
		if inPEM || line == pemEnd {
			if tsa.Len()+len(line) > maxTSAAnchors {
				return nil, fmt.Errorf("certificate: trust file line %d: TSA certificates of more than %d bytes", n, maxTSAAnchors)
			}
			tsa.WriteString(line + "\n")
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := checkpoint.ParseVerifier(line)
		if err != nil {
			return nil, fmt.Errorf("certificate: trust file line %d: %w", n, err)
		}
		keys = append(keys, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("certificate: trust file: %w", err)
	}
	if inPEM {
		return nil, fmt.Errorf("certificate: trust file: a TSA certificate has no %q line", pemEnd)
	}
	t, err := NewTrust(keys...)
	if err != nil {
		return nil, err
	}
	if tsa.Len() > 0 {
		t.tsa = tsa.Bytes()
	}
	return t, nil
}

const (
	pemBegin = "-----BEGIN CERTIFICATE-----"
	pemEnd   = "-----END CERTIFICATE-----"
	// maxTSAAnchors bounds the PEM a trust file may hold: a few TSA chains.
	maxTSAAnchors = 256 << 10
)

// Court returns the trusted keys of a court, in the order given.
func (t *Trust) Court(id string) ([]*checkpoint.Verifier, bool) {
	v, ok := t.courts[id]
	return slices.Clone(v), ok
}

// Courts lists the trusted courts' IDs in order.
func (t *Trust) Courts() []string {
	out := make([]string, 0, len(t.courts))
	for id := range t.courts {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}
