package sm2_test

import (
	"bytes"
	"errors"
	"math/big"
	"testing"

	gmsm2 "github.com/emmansun/gmsm/sm2"

	"github.com/courtledger/courtledger/crypto/sm2"
)

// FuzzParsePublicKeyPEM: no input panics, and an accepted key re-marshals
// and re-parses to an equal key with the same bytes.
func FuzzParsePublicKeyPEM(f *testing.F) {
	v := loadOpenSSLVector(f)
	_, p256Pub := p256PEMs(f)
	f.Add(v.pubPEM)
	f.Add(v.keyPEM)
	f.Add(p256Pub)
	f.Add(concat(v.pubPEM, v.pubPEM))
	f.Add(pemWrap("PUBLIC KEY", pemBody(f, v.pubPEM)[:40]))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		pub, err := sm2.ParsePublicKeyPEM(data)
		if err != nil {
			return
		}
		again := pub.MarshalPEM()
		pub2, err := sm2.ParsePublicKeyPEM(again)
		if err != nil {
			t.Fatalf("accepted key re-marshals to PEM we reject: %v\n%s", err, again)
		}
		if !pub2.Equal(pub) {
			t.Fatalf("re-parsed key differs")
		}
		if third := pub2.MarshalPEM(); !bytes.Equal(third, again) {
			t.Fatalf("marshalling is not stable:\n%s\n%s", again, third)
		}
	})
}

// FuzzParsePrivateKeyPEM: no input panics, and an accepted key re-marshals
// and re-parses to the same bytes and public key, and can sign.
func FuzzParsePrivateKeyPEM(f *testing.F) {
	v := loadOpenSSLVector(f)
	p256Priv, _ := p256PEMs(f)
	f.Add(v.keyPEM)
	f.Add(v.pubPEM)
	f.Add(p256Priv)
	f.Add(concat(v.keyPEM, v.pubPEM))
	f.Add(pemWrap("PRIVATE KEY", pemBody(f, v.keyPEM)[:60]))
	n := gmsm2.P256().Params().N
	for _, d := range []*big.Int{big.NewInt(0), big.NewInt(1), new(big.Int).Sub(n, big.NewInt(2)), new(big.Int).Sub(n, big.NewInt(1)), n} {
		f.Add(pkcs8SM2(f, d))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		key, err := sm2.ParsePrivateKeyPEM(data)
		if err != nil {
			return
		}
		again, err := key.MarshalPEM()
		if err != nil {
			t.Fatalf("accepted key does not marshal: %v", err)
		}
		key2, err := sm2.ParsePrivateKeyPEM(again)
		if err != nil {
			t.Fatalf("accepted key re-marshals to PEM we reject: %v\n%s", err, again)
		}
		if !key2.Public().Equal(key.Public()) {
			t.Fatalf("re-parsed key has another public key")
		}
		third, err := key2.MarshalPEM()
		if err != nil || !bytes.Equal(third, again) {
			t.Fatalf("marshalling is not stable (err %v):\n%s\n%s", err, again, third)
		}
		// The public half must marshal too (it panics on a bad point).
		if _, err := sm2.ParsePublicKeyPEM(key.Public().MarshalPEM()); err != nil {
			t.Fatalf("public key of an accepted private key: %v", err)
		}
		msg := []byte("fuzz")
		sig, err := key.Sign(msg)
		if err != nil {
			t.Fatalf("accepted key cannot sign: %v", err)
		}
		if err := key2.Public().Verify(msg, sig); err != nil {
			t.Fatalf("signature of an accepted key does not verify: %v", err)
		}
	})
}

// FuzzVerify: arbitrary signature bytes against a fixed key and message
// never panic and never verify, except the one known-valid signature
// (SM2 DER signatures have a single encoding, so no other bytes may pass).
func FuzzVerify(f *testing.F) {
	v := loadOpenSSLVector(f)
	r, s := splitSignature(f, v.sig)
	f.Add(v.sig)
	f.Add(v.sigEmptyID)
	f.Add(v.sig[:len(v.sig)-1])
	f.Add(append(bytes.Clone(v.sig), 0))
	f.Add(berLongFormLength(f, v.sig))
	f.Add(padR(f, v.sig))
	f.Add(derSignature(f, s, r))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, sig []byte) {
		err := v.pub.Verify(v.msg, sig)
		switch {
		case err == nil && !bytes.Equal(sig, v.sig):
			t.Fatalf("Verify accepts %x, which is not the known-valid signature %x", sig, v.sig)
		case err == nil:
		case len(sig) > sm2.MaxSignatureSize && !errors.Is(err, sm2.ErrSignatureSize):
			t.Fatalf("Verify(%d bytes) = %v, want ErrSignatureSize", len(sig), err)
		case len(sig) <= sm2.MaxSignatureSize && !errors.Is(err, sm2.ErrBadSignature):
			t.Fatalf("Verify(%x) = %v, want ErrBadSignature", sig, err)
		}
	})
}
