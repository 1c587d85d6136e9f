package certpdf

import (
	"io"
	"testing"
)

// go test ./evidence/certpdf -run '^$' -bench . -benchmem
func BenchmarkRender(b *testing.B) {
	c, _ := testCertificate(b)
	r, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Render(io.Discard, c); err != nil {
			b.Fatal(err)
		}
	}
}
