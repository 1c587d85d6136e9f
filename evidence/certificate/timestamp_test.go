package certificate

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/merkle"
)

// A certificate carries the token of a stamped head that covers its entry:
// the head need not be the certificate's own (it is the first the court
// had stamped), the proof leads to it, and the token is checked over the
// head's text by the checker the verifier was given. Without a checker
// the timestamp is reported, not trusted; with one, a token that fails
// makes the certificate INVALID PROOF rather than show a time it cannot
// prove.
func TestCertificateTimestamp(t *testing.T) {
	l := newTestLog(t, 6)
	c := l.cert(t, 2, false) // under the head of all 6 entries
	const stampedSize = 4    // an earlier head, covering entry 2
	stamped := l.head(t, stampedSize, false)
	proof, err := merkle.Inclusion(context.Background(), l.store, 2, stampedSize)
	if err != nil {
		t.Fatal(err)
	}
	token := []byte("a DER TimeStampResp")
	tsaTime := l.headTime.Add(3 * time.Second)
	var gotData []byte
	checker := func(tok, data []byte, headTime time.Time) (TimestampInfo, error) {
		gotData = data
		if !bytes.Equal(tok, token) {
			return TimestampInfo{}, errors.New("signature does not verify")
		}
		if !headTime.Equal(l.headTime) {
			return TimestampInfo{}, errors.New("wrong head time passed")
		}
		return TimestampInfo{TSA: "CN=Dev TSA", Time: tsaTime}, nil
	}
	withTS, err := c.WithTimestamp("http://tsa.example/", proof, stamped, token)
	if err != nil {
		t.Fatal(err)
	}
	if withTS.ID != c.ID {
		t.Fatal("adding a timestamp changed the certificate ID")
	}
	raw := withTS.Marshal()
	if !bytes.Contains(raw, []byte(`"timestamp"`)) {
		t.Fatalf("no timestamp member:\n%s", raw)
	}
	trust := l.trustWithIssuer(t)
	checked, err := NewVerifier(VerifierConfig{Trust: trust, Timestamps: checker})
	if err != nil {
		t.Fatal(err)
	}
	r := checked.Verify(raw, Policy{})
	ts := r.Details.Timestamp
	if r.Verdict != Valid || ts == nil || !ts.Verified || !ts.Time.Equal(tsaTime) || ts.HeadSize != stampedSize || ts.Signer != "CN=Dev TSA" {
		t.Fatalf("with a good token: %v %q %+v", r.Verdict, r.Reason, ts)
	}
	if !strings.Contains(r.Reason, "timestamped by CN=Dev TSA") {
		t.Errorf("reason %q does not say the time", r.Reason)
	}
	want, _ := StampedText(stamped)
	if !bytes.Equal(gotData, want) || bytes.Contains(gotData, []byte("\n\n")) || !bytes.HasSuffix(gotData, []byte("\n")) {
		t.Errorf("the token was checked over %q, want the note's text %q", gotData, want)
	}

	// Unchecked without TSA anchors: reported, not verified, still VALID.
	r = l.verifierWithIssuer(t).Verify(raw, Policy{})
	if r.Verdict != Valid || r.Details.Timestamp == nil || r.Details.Timestamp.Verified || r.Details.Timestamp.Note == "" {
		t.Fatalf("without a checker: %v %+v", r.Verdict, r.Details.Timestamp)
	}

	// Each way the timestamp part can be wrong.
	other, _ := c.WithTimestamp("http://tsa.example/", proof, stamped, []byte("another token"))
	r = checked.Verify(other.Marshal(), Policy{})
	if r.Verdict != InvalidProof || !strings.Contains(r.Reason, "timestamp token") {
		t.Errorf("a token that does not verify: %v %q", r.Verdict, r.Reason)
	}
	// A head signed by another key than the court's.
	foreign := newTestLog(t, 6)
	for i := range foreign.entries {
		foreign.entries[i] = l.entries[i]
	}
	forged := bytes.Replace(raw, []byte(jsonString(string(marshalTlogProof(2, proof, stamped)))),
		[]byte(jsonString(string(marshalTlogProof(2, proof, foreignHead(t, l, foreign, stampedSize))))), 1)
	if bytes.Equal(forged, raw) {
		t.Fatal("test did not replace the stamped head")
	}
	if r = checked.Verify(forged, Policy{}); r.Verdict != InvalidProof || !strings.Contains(r.Reason, "stamped head") {
		t.Errorf("a stamped head not signed by the court: %v %q", r.Verdict, r.Reason)
	}
	// A head that does not cover the entry is refused when built...
	small := l.head(t, 2, false)
	if _, err := c.WithTimestamp("http://tsa.example/", nil, small, token); err == nil {
		t.Error("WithTimestamp took a head of 2 entries for entry 2")
	}
	// ... and a proof that does not lead to the stamped root when verified.
	bad := cloneHashes(proof)
	bad[0][0] ^= 1
	badCert := *withTS
	badTS := *withTS.Timestamp
	badTS.Proof = bad
	badCert.Timestamp = &badTS
	if r = checked.Verify(badCert.Marshal(), Policy{}); r.Verdict != InvalidProof || !strings.Contains(r.Reason, "inclusion proof") {
		t.Errorf("a bad proof to the stamped head: %v %q", r.Verdict, r.Reason)
	}
	// Malformed members.
	for _, m := range []struct{ from, to string }{
		{`"tsa": "http://tsa.example/"`, `"tsa": ""`},
		{`"token": "`, `"token": "!`},
		{`"proof": "`, `"proof": "x`},
	} {
		b := bytes.Replace(raw, []byte(m.from), []byte(m.to), 1)
		if r := checked.Verify(b, Policy{}); r.Verdict != Malformed {
			t.Errorf("%s: %v %q, want MALFORMED", m.to, r.Verdict, r.Reason)
		}
	}
}

func jsonString(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == '\n' {
			b.WriteString(`\n`)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// foreignHead is a head of l's tree signed with another court key under
// the same court name.
func foreignHead(t *testing.T, l, foreign *testLog, size uint64) []byte {
	t.Helper()
	foreign.store = l.store
	return foreign.head(t, size, false)
}

func (l *testLog) verifierWithIssuer(t testing.TB) *Verifier {
	t.Helper()
	v, err := NewVerifier(VerifierConfig{Trust: l.trustWithIssuer(t)})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTrustFileTSAAnchors(t *testing.T) {
	l := newTestLog(t, 1)
	pem := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	file := "# courts\n" + l.court.Verifier().String() + "\n" + pem
	tr, err := ParseTrustFile([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	if string(tr.TSAAnchors()) != pem || len(tr.Courts()) != 1 {
		t.Fatalf("anchors %q, courts %v", tr.TSAAnchors(), tr.Courts())
	}
	if tr, _ := ParseTrustFile([]byte(l.court.Verifier().String() + "\n")); tr.TSAAnchors() != nil {
		t.Error("a trust file without certificates has TSA anchors")
	}
	if _, err := ParseTrustFile([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n")); err == nil || !strings.Contains(err.Error(), "END CERTIFICATE") {
		t.Errorf("an unterminated certificate: %v", err)
	}
}
