package certificate

import (
	"bytes"
	"testing"
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
	f.Add([]byte(`{"format":"courtledger.certificate/v1"}`))
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
	})
}
