package main

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"strings"
	"testing"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
)

// parseTrust never panics; what it takes, it takes as the keys written,
// with or without keygen's "trust line:" label.
func FuzzParseTrust(f *testing.F) {
	k, _ := sm2.GenerateKey()
	s, _ := checkpoint.NewSigner(certTestCourt, k)
	key := s.Verifier().String()
	f.Add([]byte(key + "\n"))
	f.Add([]byte("trust line:  " + key + "\n# comment\n\n"))
	f.Add([]byte("trust line:\n"))
	f.Add([]byte("hangzhou.court.example/evidence+1234\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		tr, err := parseTrust(raw)
		if err != nil {
			return
		}
		for _, id := range tr.Courts() {
			keys, _ := tr.Court(id)
			for _, v := range keys {
				if !strings.Contains(string(raw), v.String()) {
					t.Fatalf("key %s is not in the input", v)
				}
			}
		}
	})
}

// endpoint never panics; what it accepts is a HOST:PORT found in the
// input.
func FuzzEndpoint(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8100", "https://127.0.0.1:8100/", "[::1]:8100", "host", "https://", "grpc://a:1", "a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := endpoint(s)
		if err != nil {
			return
		}
		if !strings.Contains(s, a) || strings.Contains(a, "://") {
			t.Fatalf("endpoint(%q) = %q", s, a)
		}
	})
}

// pdfAttachment never panics, and reads back what fpdf's way of attaching
// wrote.
func FuzzPDFAttachment(f *testing.F) {
	attach := func(content []byte) []byte {
		var z bytes.Buffer
		w := zlib.NewWriter(&z)
		w.Write(content)
		w.Close()
		return []byte(fmt.Sprintf("%%PDF-1.3\n3 0 obj\n<< /Type /EmbeddedFile /Length %d /Filter /FlateDecode /Params << /Size %d >> >>\nstream\n%s\nendstream\nendobj\n",
			z.Len(), len(content), z.Bytes()))
	}
	f.Add(attach([]byte(`{"format":"courtledger.certificate/v1"}`)), []byte(`{"format":"courtledger.certificate/v1"}`))
	f.Add([]byte("%PDF-1.3\n<< /Type /EmbeddedFile /Length 99999999 >>\nstream\n"), []byte("x"))
	f.Add([]byte("%PDF-1.3\n<< /Type /EmbeddedFile /Length 3 >>\nstream\r\nabc"), []byte("abc"))
	f.Fuzz(func(t *testing.T, pdf, content []byte) {
		pdfAttachment(pdf)
		got, err := pdfAttachment(attach(content))
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("attached %q, read %q (%v)", content, got, err)
		}
	})
}
