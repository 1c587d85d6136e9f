package certificate

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/courtledger/courtledger/crypto/merkle"
)

// FuzzUnmarshal: the decoder never panics; whatever it accepts marshals
// back to JSON it accepts again, unchanged; Verify never panics either and
// never calls a changed certificate VALID unless it still proves the entry.
func FuzzUnmarshal(f *testing.F) {
	l := newTestLog(f, 5, beijing)
	v := l.verifier(f, 0)
	good := l.cert(f, 3, true).Marshal()
	f.Add(good)
	f.Add(good[:len(good)/3])
	f.Add(l.cert(f, 0, false).Marshal())
	// With a timestamp (issue 16): the stamped head of 4 covers entry 3.
	if proof, err := merkle.Inclusion(context.Background(), l.store, 3, 4); err == nil {
		if ts, err := l.cert(f, 3, true).WithTimestamp("http://tsa.example/", proof, l.head(f, 4, false), []byte{0x30, 0x03, 0x02, 0x01, 0x00}); err == nil {
			f.Add(ts.Marshal())
		}
	}
	f.Add([]byte(`{"format":"courtledger.certificate/v1"}`))
	f.Add([]byte(`{"format":"courtledger.certificate/v2"}`))
	// Version 1 (unsigned) and a version 2 without the platform members.
	if v1, err := os.ReadFile(filepath.Join(byHandDir, "cert_v1.json")); err == nil {
		f.Add(v1)
	}
	in := l.input(f, 1, true)
	in.PlatformKeyOf = nil
	if c, err := Issue(in); err == nil {
		f.Add(c.Marshal())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := v.Verify(b, Policy{})
		c, err := Unmarshal(b)
		if err != nil {
			return
		}
		out := c.Marshal()
		d, err := Unmarshal(out)
		if err != nil {
			t.Fatalf("re-decoding what was marshalled: %v\n%s", err, out)
		}
		if again := d.Marshal(); !bytes.Equal(again, out) {
			t.Fatalf("marshal is not stable:\n%s\n%s", out, again)
		}
		if r.Verdict == Valid && r.Details.EvidenceID != c.Entry.EvidenceID {
			t.Fatalf("valid verdict for evidence %s, certificate holds %s", r.Details.EvidenceID, c.Entry.EvidenceID)
		}
		// The issuer is verified only by its signature over what it says.
		if r.Details.IssuerVerified && (c.Version != 2 || l.issuerVerifier(t).PublicKey().Verify(c.SignedBytes(), c.IssuerSignature) != nil) {
			t.Fatalf("issuer reported verified without a valid signature")
		}
	})
}
