package sm2_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
	"strings"
	"testing"

	gmsm2 "github.com/emmansun/gmsm/sm2"

	"github.com/courtledger/courtledger/crypto/sm2"
)

func TestVerifyRejects(t *testing.T) {
	// A fixed OpenSSL-made vector makes every case reproducible byte for byte.
	v := loadOpenSSLVector(t)
	valid := v.sig
	if err := v.pub.Verify(v.msg, valid); err != nil {
		t.Fatalf("the valid vector does not verify, so the cases below prove nothing: %v", err)
	}
	other := mustGenerateKey(t).Public()
	r, s := splitSignature(t, valid)
	n := gmsm2.P256().Params().N

	tests := []struct {
		name string
		pub  *sm2.PublicKey
		msg  []byte
		sig  []byte
		want error
	}{
		{"wrong message", v.pub, append(bytes.Clone(v.msg), '!'), valid, sm2.ErrBadSignature},
		{"empty message", v.pub, nil, valid, sm2.ErrBadSignature},
		{"wrong key", other, v.msg, valid, sm2.ErrBadSignature},
		{"empty signature", v.pub, v.msg, nil, sm2.ErrBadSignature},
		{"truncated by one byte", v.pub, v.msg, valid[:len(valid)-1], sm2.ErrBadSignature},
		{"truncated to half", v.pub, v.msg, valid[:len(valid)/2], sm2.ErrBadSignature},
		{"trailing zero byte after the DER", v.pub, v.msg, append(bytes.Clone(valid), 0), sm2.ErrBadSignature},
		{"r and s swapped", v.pub, v.msg, derSignature(t, s, r), sm2.ErrBadSignature},
		{"s replaced by n-s", v.pub, v.msg, derSignature(t, r, new(big.Int).Sub(n, s)), sm2.ErrBadSignature},
		{"s plus n", v.pub, v.msg, derSignature(t, r, new(big.Int).Add(s, n)), sm2.ErrBadSignature},
		{"r = 0", v.pub, v.msg, derSignature(t, big.NewInt(0), s), sm2.ErrBadSignature},
		{"s = 0", v.pub, v.msg, derSignature(t, r, big.NewInt(0)), sm2.ErrBadSignature},
		{"negative s", v.pub, v.msg, derSignature(t, r, new(big.Int).Neg(s)), sm2.ErrBadSignature},
		// Same (r, s) in BER forms that DER forbids: accepting them would
		// give one signature many byte strings.
		{"BER long-form length", v.pub, v.msg, berLongFormLength(t, valid), sm2.ErrBadSignature},
		{"INTEGER with a redundant leading zero", v.pub, v.msg, padR(t, valid), sm2.ErrBadSignature},
		{"signed with OpenSSL's empty ID", v.pub, v.msg, v.sigEmptyID, sm2.ErrBadSignature},
		{"raw r||s instead of DER", v.pub, v.msg, append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...), sm2.ErrBadSignature},
		{"one byte over the maximum", v.pub, v.msg, append(bytes.Clone(valid), make([]byte, sm2.MaxSignatureSize+1-len(valid))...), sm2.ErrSignatureSize},
		{"1 MiB", v.pub, v.msg, make([]byte, 1<<20), sm2.ErrSignatureSize},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.pub.Verify(tc.msg, tc.sig)
			if !errors.Is(err, tc.want) {
				t.Errorf("Verify(%x) = %v, want %v", tc.sig, err, tc.want)
			}
		})
	}
}

func TestVerifyRejectsEveryBitFlip(t *testing.T) {
	v := loadOpenSSLVector(t)
	for i := range len(v.sig) * 8 {
		sig := bytes.Clone(v.sig)
		sig[i/8] ^= 1 << (i % 8)
		if err := v.pub.Verify(v.msg, sig); !errors.Is(err, sm2.ErrBadSignature) {
			t.Errorf("bit %d of byte %d flipped: Verify = %v, want ErrBadSignature", i%8, i/8, err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	key := mustGenerateKey(t)
	privPEM := mustMarshalPrivate(t, key)
	pubPEM := key.Public().MarshalPEM()
	privDER := pemBody(t, privPEM)
	pubDER := pemBody(t, pubPEM)
	p256Priv, p256Pub := p256PEMs(t)
	edPriv, edPub := ed25519PEMs(t)
	n := gmsm2.P256().Params().N

	// errParse marks inputs that must fail without a sentinel of their own.
	errParse := errors.New("any error")
	type parser struct {
		name  string
		parse func([]byte) error
	}
	parsePub := parser{"ParsePublicKeyPEM", func(b []byte) error { _, err := sm2.ParsePublicKeyPEM(b); return err }}
	parsePriv := parser{"ParsePrivateKeyPEM", func(b []byte) error { _, err := sm2.ParsePrivateKeyPEM(b); return err }}

	tests := []struct {
		name   string
		parser parser
		in     []byte
		want   error
	}{
		{"public: empty input", parsePub, nil, sm2.ErrNoPEMBlock},
		{"public: plain text", parsePub, []byte("not a key"), sm2.ErrNoPEMBlock},
		{"public: bare DER", parsePub, pubDER, sm2.ErrNoPEMBlock},
		{"public: PEM cut before the END line", parsePub, pubPEM[:len(pubPEM)-10], sm2.ErrNoPEMBlock},
		{"public: private key PEM", parsePub, privPEM, sm2.ErrWrongPEMHeader},
		{"public: CERTIFICATE header", parsePub, pemWrap("CERTIFICATE", pubDER), sm2.ErrWrongPEMHeader},
		{"public: second key after the first", parsePub, concat(pubPEM, mustGenerateKey(t).Public().MarshalPEM()), sm2.ErrTrailingData},
		{"public: text after the block", parsePub, concat(pubPEM, []byte("x")), sm2.ErrTrailingData},
		{"public: P-256 key from crypto/ecdsa", parsePub, p256Pub, sm2.ErrNotSM2Key},
		{"public: Ed25519 key", parsePub, edPub, sm2.ErrNotSM2Key},
		{"public: DER cut short", parsePub, pemWrap("PUBLIC KEY", pubDER[:len(pubDER)-1]), errParse},
		{"public: point not on the curve", parsePub, pemWrap("PUBLIC KEY", offCurve(t, pubDER)), errParse},

		{"private: empty input", parsePriv, nil, sm2.ErrNoPEMBlock},
		{"private: bare DER", parsePriv, privDER, sm2.ErrNoPEMBlock},
		{"private: public key PEM", parsePriv, pubPEM, sm2.ErrWrongPEMHeader},
		{"private: SEC 1 EC PRIVATE KEY header", parsePriv, pemWrap("EC PRIVATE KEY", privDER), sm2.ErrWrongPEMHeader},
		{"private: ENCRYPTED PRIVATE KEY header", parsePriv, pemWrap("ENCRYPTED PRIVATE KEY", privDER), sm2.ErrWrongPEMHeader},
		{"private: public key after the block", parsePriv, concat(privPEM, pubPEM), sm2.ErrTrailingData},
		{"private: P-256 key from crypto/ecdsa", parsePriv, p256Priv, sm2.ErrNotSM2Key},
		{"private: Ed25519 key", parsePriv, edPriv, sm2.ErrNotSM2Key},
		{"private: DER cut short", parsePriv, pemWrap("PRIVATE KEY", privDER[:len(privDER)-1]), errParse},
		// GB/T 32918.1 §6.1: d is in [1, n-2].
		{"private: d = 0", parsePriv, pkcs8SM2(t, big.NewInt(0)), errParse},
		{"private: d = n-1", parsePriv, pkcs8SM2(t, new(big.Int).Sub(n, big.NewInt(1))), errParse},
		{"private: d = n", parsePriv, pkcs8SM2(t, n), errParse},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.parser.parse(tc.in)
			switch {
			case err == nil:
				t.Fatalf("%s accepted it", tc.parser.name)
			case tc.want != errParse && !errors.Is(err, tc.want):
				t.Errorf("%s = %v, want %v", tc.parser.name, err, tc.want)
			case !strings.HasPrefix(err.Error(), "sm2: "):
				t.Errorf("%s = %q, want an error that names the package", tc.parser.name, err)
			}
		})
	}
}

// TestParsePrivateKeyBoundaries: the largest valid d, n-2, must still parse
// and sign, so the [1, n-2] check is not off by one; d = 1 likewise.
func TestParsePrivateKeyBoundaries(t *testing.T) {
	n := gmsm2.P256().Params().N
	for name, d := range map[string]*big.Int{"d = 1": big.NewInt(1), "d = n-2": new(big.Int).Sub(n, big.NewInt(2))} {
		t.Run(name, func(t *testing.T) {
			key, err := sm2.ParsePrivateKeyPEM(pkcs8SM2(t, d))
			if err != nil {
				t.Fatalf("ParsePrivateKeyPEM: %v", err)
			}
			msg := []byte("boundary")
			if err := key.Public().Verify(msg, mustSign(t, key, msg)); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

// p256PEMs returns a NIST P-256 key pair made by the standard library, the
// key a platform might send by mistake.
func p256PEMs(t testing.TB) (priv, pub []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pemWrap("PRIVATE KEY", privDER), pemWrap("PUBLIC KEY", pubDER)
}

func ed25519PEMs(t testing.TB) (priv, pub []byte) {
	t.Helper()
	pk, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pk)
	if err != nil {
		t.Fatal(err)
	}
	return pemWrap("PRIVATE KEY", privDER), pemWrap("PUBLIC KEY", pubDER)
}

// pkcs8SM2 encodes d as an SM2 PKCS#8 "PRIVATE KEY" PEM the way OpenSSL
// does (id-ecPublicKey with the SM2 curve OID 1.2.156.10197.1.301), without
// checking d, so tests can build keys no generator would make.
func pkcs8SM2(t testing.TB, d *big.Int) []byte {
	t.Helper()
	ecKey, err := asn1.Marshal(struct {
		Version    int
		PrivateKey []byte
	}{1, d.FillBytes(make([]byte, 32))})
	if err != nil {
		t.Fatal(err)
	}
	type algorithm struct {
		Algorithm, Curve asn1.ObjectIdentifier
	}
	der, err := asn1.Marshal(struct {
		Version    int
		Algorithm  algorithm
		PrivateKey []byte
	}{0, algorithm{asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}, asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 301}}, ecKey})
	if err != nil {
		t.Fatal(err)
	}
	return pemWrap("PRIVATE KEY", der)
}

// offCurve returns spki with the last byte of the point's y changed, which
// takes the point off the curve.
func offCurve(t testing.TB, spki []byte) []byte {
	t.Helper()
	b := bytes.Clone(spki)
	b[len(b)-1] ^= 1
	return b
}

// berLongFormLength re-encodes the outer SEQUENCE length of a short DER
// signature in the long form 0x81 L, which BER allows and DER forbids.
func berLongFormLength(t testing.TB, sig []byte) []byte {
	t.Helper()
	if sig[1] >= 0x80 {
		t.Fatalf("signature already uses a long-form length")
	}
	return concat([]byte{0x30, 0x81, sig[1]}, sig[2:])
}

// padR re-encodes r with one redundant leading zero byte.
func padR(t testing.TB, sig []byte) []byte {
	t.Helper()
	if sig[2] != 0x02 || sig[1] >= 0x7f || sig[3] >= 0x7f {
		t.Fatalf("unexpected signature layout %x", sig)
	}
	return concat([]byte{0x30, sig[1] + 1, 0x02, sig[3] + 1, 0x00}, sig[4:])
}
