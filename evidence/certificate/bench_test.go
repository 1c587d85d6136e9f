package certificate

import (
	"testing"
)

// go test ./evidence/certificate -run '^$' -bench . -benchmem
// A log of 1000 entries: a proof of 10 hashes; the head cosigned by two
// witnesses, both trusted, so Verify checks three SM2 signatures.

func BenchmarkIssueJSON(b *testing.B) {
	l := newTestLog(b, 1000, beijing, guangzhou)
	in := l.input(b, 777, true)
	b.ReportAllocs()
	for b.Loop() {
		c, err := Issue(in)
		if err != nil {
			b.Fatal(err)
		}
		_ = c.Marshal()
	}
}

func BenchmarkVerify(b *testing.B) {
	l := newTestLog(b, 1000, beijing, guangzhou)
	raw := l.cert(b, 777, true).Marshal()
	v := l.verifier(b, 0, 1)
	p := Policy{Fingerprint: fp(l.files[777]), MinWitnesses: 2}
	b.ReportAllocs()
	for b.Loop() {
		if r := v.Verify(raw, p); r.Verdict != Valid {
			b.Fatal(r.Reason)
		}
	}
}

func BenchmarkVerifyNoWitnesses(b *testing.B) {
	l := newTestLog(b, 1000)
	raw := l.cert(b, 777, false).Marshal()
	v := l.verifier(b)
	b.ReportAllocs()
	for b.Loop() {
		if r := v.Verify(raw, Policy{}); r.Verdict != Valid {
			b.Fatal(r.Reason)
		}
	}
}
