package sm2_test

import (
	"bytes"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"

	tjsm2 "github.com/tjfoc/gmsm/sm2"
	tjx509 "github.com/tjfoc/gmsm/x509"

	"github.com/courtledger/courtledger/crypto/sm2"
)

// github.com/tjfoc/gmsm v1.4.1 is what many platforms sign with (DESIGN.md
// "Dependencies"): what it signs must verify here, and the other way round.

func TestTjfocSignsWeVerify(t *testing.T) {
	tjKey := mustTjfocKey(t)
	pub := tjfocPublicToOurs(t, &tjKey.PublicKey)
	msg := []byte("signed by a platform using tjfoc/gmsm")

	tjDefault, err := tjKey.Sign(rand.Reader, msg, nil) // default ID, SM3, DER
	if err != nil {
		t.Fatalf("tjfoc Sign: %v", err)
	}
	tjEmpty, err := tjKey.Sign(rand.Reader, []byte{}, nil)
	if err != nil {
		t.Fatalf("tjfoc Sign(empty message): %v", err)
	}
	tjExplicitID := tjfocSignWithID(t, tjKey, msg, sm2.DefaultUserID)
	tjOtherID := tjfocSignWithID(t, tjKey, msg, "ALICE123@YAHOO.COM")

	tests := []struct {
		name string
		msg  []byte
		sig  []byte
		want error
	}{
		{"PrivateKey.Sign (default ID)", msg, tjDefault, nil},
		{"PrivateKey.Sign of an empty message", []byte{}, tjEmpty, nil},
		{"Sm2Sign with ID 1234567812345678", msg, tjExplicitID, nil},
		{"Sm2Sign with another ID", msg, tjOtherID, sm2.ErrBadSignature},
		{"tampered message", append(bytes.Clone(msg), '.'), tjDefault, sm2.ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := pub.Verify(tc.msg, tc.sig); !errors.Is(err, tc.want) {
				t.Errorf("Verify(tjfoc signature) = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestWeSignTjfocVerifies(t *testing.T) {
	key := mustGenerateKey(t)
	tjPub, err := tjx509.ReadPublicKeyFromPem(key.Public().MarshalPEM())
	if err != nil {
		t.Fatalf("tjfoc ReadPublicKeyFromPem(our public key): %v", err)
	}
	msgs := []struct {
		name string
		msg  []byte
	}{
		{"empty message", []byte{}},
		{"short message", []byte("signed by the court, checked by a platform using tjfoc/gmsm")},
	}
	for _, tc := range msgs {
		t.Run(tc.name, func(t *testing.T) {
			sig := mustSign(t, key, tc.msg)
			if !tjPub.Verify(tc.msg, sig) {
				t.Errorf("tjfoc PublicKey.Verify rejects our signature")
			}
			var rs struct{ R, S *big.Int }
			if _, err := asn1.Unmarshal(sig, &rs); err != nil {
				t.Fatal(err)
			}
			if !tjsm2.Sm2Verify(tjPub, tc.msg, []byte(sm2.DefaultUserID), rs.R, rs.S) {
				t.Errorf("tjfoc Sm2Verify with ID 1234567812345678 rejects our signature")
			}
			if tjsm2.Sm2Verify(tjPub, tc.msg, []byte("ALICE123@YAHOO.COM"), rs.R, rs.S) {
				t.Errorf("tjfoc Sm2Verify accepts our signature under another ID")
			}
			if tjPub.Verify(append(bytes.Clone(tc.msg), '.'), sig) {
				t.Errorf("tjfoc accepts our signature on a tampered message")
			}
		})
	}
}

func TestTjfocKeyPEM(t *testing.T) {
	t.Run("tjfoc keys parse here", func(t *testing.T) {
		tjKey := mustTjfocKey(t)
		privPEM, err := tjx509.WritePrivateKeyToPem(tjKey, nil)
		if err != nil {
			t.Fatalf("tjfoc WritePrivateKeyToPem: %v", err)
		}
		key, err := sm2.ParsePrivateKeyPEM(privPEM)
		if err != nil {
			t.Fatalf("ParsePrivateKeyPEM(tjfoc PEM): %v", err)
		}
		pub := tjfocPublicToOurs(t, &tjKey.PublicKey)
		if !key.Public().Equal(pub) {
			t.Errorf("tjfoc private and public PEM parse to different key pairs")
		}
		msg := []byte("signed here with a key tjfoc made")
		if !tjKey.PublicKey.Verify(msg, mustSign(t, key, msg)) {
			t.Errorf("tjfoc rejects a signature made with its own key parsed here")
		}
	})

	t.Run("our keys parse in tjfoc", func(t *testing.T) {
		key := mustGenerateKey(t)
		tjKey, err := tjx509.ReadPrivateKeyFromPem(mustMarshalPrivate(t, key), nil)
		if err != nil {
			t.Fatalf("tjfoc ReadPrivateKeyFromPem(our PEM): %v", err)
		}
		if !tjfocPublicToOurs(t, &tjKey.PublicKey).Equal(key.Public()) {
			t.Errorf("tjfoc derives another public key from our private key")
		}
		tjPub, err := tjx509.ReadPublicKeyFromPem(key.Public().MarshalPEM())
		if err != nil {
			t.Fatalf("tjfoc ReadPublicKeyFromPem(our PEM): %v", err)
		}
		if tjPub.X.Cmp(tjKey.X) != 0 || tjPub.Y.Cmp(tjKey.Y) != 0 {
			t.Errorf("tjfoc reads our public and private PEM as different keys")
		}
		msg := []byte("signed by tjfoc with a key made here")
		sig, err := tjKey.Sign(rand.Reader, msg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := key.Public().Verify(msg, sig); err != nil {
			t.Errorf("Verify(tjfoc signature with our key) = %v", err)
		}
	})
}

func mustTjfocKey(t testing.TB) *tjsm2.PrivateKey {
	t.Helper()
	k, err := tjsm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("tjfoc GenerateKey: %v", err)
	}
	return k
}

// tjfocPublicToOurs moves a tjfoc public key here through the PEM that
// tjfoc writes, which is itself under test.
func tjfocPublicToOurs(t testing.TB, pub *tjsm2.PublicKey) *sm2.PublicKey {
	t.Helper()
	pemBytes, err := tjx509.WritePublicKeyToPem(pub)
	if err != nil {
		t.Fatalf("tjfoc WritePublicKeyToPem: %v", err)
	}
	ours, err := sm2.ParsePublicKeyPEM(pemBytes)
	if err != nil {
		t.Fatalf("ParsePublicKeyPEM(tjfoc PEM): %v", err)
	}
	return ours
}

func tjfocSignWithID(t testing.TB, key *tjsm2.PrivateKey, msg []byte, id string) []byte {
	t.Helper()
	r, s, err := tjsm2.Sm2Sign(key, msg, []byte(id), rand.Reader)
	if err != nil {
		t.Fatalf("tjfoc Sm2Sign: %v", err)
	}
	return derSignature(t, r, s)
}
