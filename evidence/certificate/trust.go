package certificate

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/courtledger/courtledger/crypto/checkpoint"
)

// Trust is what a verifier trusts: one SM2 key per court, as verifier key
// strings (checkpoint.Verifier.String). The same key checks a court's own
// tree heads and the cosignatures it makes as a witness of other courts.
type Trust struct {
	courts map[string]*checkpoint.Verifier
}

// NewTrust trusts the given court keys; two keys for one court are an error,
// since a certificate could then not say which one it relies on.
func NewTrust(keys ...*checkpoint.Verifier) (*Trust, error) {
	t := &Trust{courts: make(map[string]*checkpoint.Verifier, len(keys))}
	for _, k := range keys {
		if _, dup := t.courts[k.Name()]; dup {
			return nil, fmt.Errorf("certificate: trust: two keys for court %q", k.Name())
		}
		t.courts[k.Name()] = k
	}
	return t, nil
}

// ParseTrust reads a trust file: one verifier key string per line; empty
// lines and lines starting with '#' are skipped.
func ParseTrust(r io.Reader) (*Trust, error) {
	var keys []*checkpoint.Verifier
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
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
	return NewTrust(keys...)
}

// Court returns the trusted key of a court.
func (t *Trust) Court(id string) (*checkpoint.Verifier, bool) {
	v, ok := t.courts[id]
	return v, ok
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
