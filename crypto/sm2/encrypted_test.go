package sm2

import (
	"bytes"
	"errors"
	"testing"
)

func TestEncryptedPEMRoundTrip(t *testing.T) {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := k.MarshalEncryptedPEM([]byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if !IsEncryptedPEM(enc) || bytes.Contains(enc, []byte("BEGIN PRIVATE KEY")) {
		t.Fatalf("not an encrypted PEM:\n%s", enc)
	}
	got, err := ParseEncryptedPrivateKeyPEM(enc, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Public().MarshalPKIX(), k.Public().MarshalPKIX()) {
		t.Fatal("decrypted key differs")
	}
	if _, err := ParseEncryptedPrivateKeyPEM(enc, []byte("wrong")); err == nil {
		t.Fatal("wrong password accepted")
	}
	plain, _ := k.MarshalPEM()
	if _, err := ParseEncryptedPrivateKeyPEM(plain, []byte("x")); !errors.Is(err, ErrWrongPEMHeader) {
		t.Fatalf("plain key as encrypted: %v", err)
	}
}
