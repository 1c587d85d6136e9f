package sm2_test

import (
	"crypto/rand"
	"testing"
)

// benchMsg is about the size of what the ledger signs and checks: a
// submission's metadata or a tree head.
var benchMsg = make([]byte, 256)

// BenchmarkSign and BenchmarkVerify compare emmansun/gmsm (through our
// wrapper) with tjfoc/gmsm; DESIGN.md "Dependencies" cites the numbers.
func BenchmarkSign(b *testing.B) {
	b.Run("emmansun", func(b *testing.B) {
		key := mustGenerateKey(b)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := key.Sign(benchMsg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tjfoc", func(b *testing.B) {
		key := mustTjfocKey(b)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := key.Sign(rand.Reader, benchMsg, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	b.Run("emmansun", func(b *testing.B) {
		key := mustGenerateKey(b)
		pub, sig := key.Public(), mustSign(b, key, benchMsg)
		b.ReportAllocs()
		for b.Loop() {
			if err := pub.Verify(benchMsg, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tjfoc", func(b *testing.B) {
		key := mustTjfocKey(b)
		sig, err := key.Sign(rand.Reader, benchMsg, nil)
		if err != nil {
			b.Fatal(err)
		}
		pub := &key.PublicKey
		b.ReportAllocs()
		for b.Loop() {
			if !pub.Verify(benchMsg, sig) {
				b.Fatal("tjfoc rejects its own signature")
			}
		}
	})
}
