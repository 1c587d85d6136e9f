package tsa

import (
	"bytes"
	"errors"
	"testing"

	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"

	"github.com/courtledger/courtledger/court/devtsa"
)

// TestCheckESS: the signer certificate must be the one the signed
// signing-certificate attribute names. (A token cannot be made to carry
// another certificate with the signer's issuer and serial number without
// the TSA's CA, so this is tested on the check itself.)
func TestCheckESS(t *testing.T) {
	d, err := devtsa.New("t")
	if err != nil {
		t.Fatal(err)
	}
	q, err := timestamp.CreateRequest(bytes.NewReader([]byte("head")), &timestamp.RequestOptions{Certificates: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenOf(d.Respond(q))
	if err != nil {
		t.Fatal(err)
	}
	p7, err := pkcs7.Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkESS(p7, p7.GetOnlySigner()); err != nil {
		t.Fatalf("the signer: %v", err)
	}
	if err := checkESS(p7, d.Root()); !errors.Is(err, ErrSignature) {
		t.Fatalf("another certificate: %v, want ErrSignature", err)
	}
}
