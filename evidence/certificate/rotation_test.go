package certificate

import (
	"strings"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
)

// After a court rotates its key, certificates under heads signed by the old
// key stay valid for a trust file that lists both keys of the court; one
// that lists only the new key cannot vouch for them.
func TestVerifyAfterKeyRotation(t *testing.T) {
	l := newTestLog(t, 4, beijing)
	const at = 2
	oldCourt := l.court.Verifier()
	oldWitness := l.witnesses[0]
	oldWitnessKey := l.wkeys[0]
	before := l.cert(t, at, true)

	// Both the court and its witness rotate; the witness cosigns the next
	// head with its old key and then again with its new one, as a mirror
	// does when a new leader re-cosigns the head it holds.
	newKey, _ := sm2.GenerateKey()
	var err error
	if l.court, err = checkpoint.NewSigner(hangzhou, newKey); err != nil {
		t.Fatal(err)
	}
	newWitnessKey, _ := sm2.GenerateKey()
	newWitness, err := checkpoint.NewCosigner(beijing, newWitnessKey, func() time.Time { return l.headTime.Add(time.Hour) })
	if err != nil {
		t.Fatal(err)
	}
	l.witnesses = []*checkpoint.Cosigner{oldWitness, newWitness}
	after := l.cert(t, at, true)

	witnessKey := func(k *sm2.PrivateKey) *checkpoint.Verifier {
		v, err := checkpoint.NewVerifier(beijing, k.Public())
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	trustOf := func(keys ...*checkpoint.Verifier) *Trust {
		tr, err := NewTrust(keys...)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	all := trustOf(l.court.Verifier(), oldCourt, witnessKey(newWitnessKey), witnessKey(oldWitnessKey))
	onlyNew := trustOf(l.court.Verifier(), witnessKey(newWitnessKey))

	tests := []struct {
		name   string
		cert   *Certificate
		trust  *Trust
		policy Policy
		want   Verdict
	}{
		{"old head, both keys", before, all, Policy{MinWitnesses: 1}, Valid},
		{"new head, both keys", after, all, Policy{MinWitnesses: 1}, Valid},
		{"old head, only the new key", before, onlyNew, Policy{}, Untrusted},
		{"new head, only the new key", after, onlyNew, Policy{MinWitnesses: 1}, Valid},
		// Two cosignatures by one court are one witness.
		{"one court twice is one witness", after, all, Policy{MinWitnesses: 2}, Untrusted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := NewVerifier(VerifierConfig{Trust: tc.trust})
			if err != nil {
				t.Fatal(err)
			}
			r := v.VerifyCertificate(tc.cert, tc.policy)
			if r.Verdict != tc.want {
				t.Fatalf("verdict %v (%s), want %v", r.Verdict, r.Reason, tc.want)
			}
		})
	}
}

func TestParseTrustSeveralKeysPerCourt(t *testing.T) {
	current, previous := mustVerifier(t, hangzhou), mustVerifier(t, hangzhou)
	file := "# hangzhou: current key first, then the one it replaced\n" +
		current.String() + "\n" + previous.String() + "\n" + mustVerifier(t, beijing).String() + "\n"
	tr, err := ParseTrust(strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	keys, ok := tr.Court(hangzhou)
	if !ok || len(keys) != 2 || keys[0].KeyHash() != current.KeyHash() || keys[1].KeyHash() != previous.KeyHash() {
		t.Fatalf("Court(%s) = %v, %v; want the two keys in file order", hangzhou, keys, ok)
	}
	if _, err := ParseTrust(strings.NewReader(file + current.String() + "\n")); err == nil {
		t.Fatal("a key listed twice was accepted")
	}
}
