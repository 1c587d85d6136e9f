package stamp

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
)

func signedHead(t testing.TB) (note, text []byte, cosigner *checkpoint.Cosigner) {
	t.Helper()
	k, _ := sm2.GenerateKey()
	s, err := checkpoint.NewSigner(court, k)
	if err != nil {
		t.Fatal(err)
	}
	h := checkpoint.TreeHead{Origin: court, Size: 7, Root: bytes.Repeat([]byte{7}, 32), Time: time.UnixMilli(1_700_000_000_123).UTC()}
	if text, err = h.Marshal(); err != nil {
		t.Fatal(err)
	}
	if note, err = checkpoint.Sign(h, s); err != nil {
		t.Fatal(err)
	}
	wk, _ := sm2.GenerateKey()
	if cosigner, err = checkpoint.NewCosigner("beijing.court.example/evidence", wk, time.Now); err != nil {
		t.Fatal(err)
	}
	return note, text, cosigner
}

func TestImprinted(t *testing.T) {
	note, text, cosigner := signedHead(t)
	got, err := Imprinted(note)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, text) {
		t.Fatalf("Imprinted = %q, want the head's text %q", got, text)
	}
	// Witnesses' cosignatures do not change what is stamped.
	line, err := checkpoint.Cosign(note, cosigner)
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := checkpoint.WithSignatures(note, line)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := Imprinted(cosigned); err != nil || !bytes.Equal(again, text) {
		t.Fatalf("Imprinted(cosigned) = %q %v, want the head's text", again, err)
	}
	for name, bad := range map[string][]byte{
		"no signatures":    text,
		"blank, no lines":  append(bytes.Clone(text), '\n'),
		"not a signature":  append(append(bytes.Clone(text), '\n'), "hello\n"...),
		"not a tree head":  []byte("hello\nworld\n\n— court abc\n"),
		"unterminated sig": note[:len(note)-1],
		"empty":            nil,
	} {
		if _, err := Imprinted(bad); !errors.Is(err, ErrNote) {
			t.Errorf("%s: %v, want ErrNote", name, err)
		}
	}
}

func FuzzImprinted(f *testing.F) {
	note, text, _ := signedHead(f)
	f.Add(note)
	f.Add(text)
	f.Add([]byte("a\n\n— b c\n"))
	f.Fuzz(func(t *testing.T, note []byte) {
		got, err := Imprinted(note)
		if err != nil {
			if !errors.Is(err, ErrNote) {
				t.Fatalf("error %v does not wrap ErrNote", err)
			}
			return
		}
		// What is stamped is the note's text: a prefix, followed by the
		// blank line, and a tree head in canonical form.
		if !bytes.HasPrefix(note, got) || !bytes.HasPrefix(note[len(got):], []byte("\n— ")) {
			t.Fatalf("Imprinted(%q) = %q, not the text before the signatures", note, got)
		}
		if _, err := checkpoint.ParseText(got); err != nil {
			t.Fatalf("Imprinted returned text that is not a tree head: %v", err)
		}
	})
}
