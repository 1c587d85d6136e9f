package sm2_test

import (
	"bytes"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	gmsm2 "github.com/emmansun/gmsm/sm2"

	"github.com/courtledger/courtledger/crypto/sm2"
)

func TestSignVerify(t *testing.T) {
	key := mustGenerateKey(t)
	msgs := []struct {
		name string
		msg  []byte
	}{
		{"empty", nil},
		{"short", []byte("evidence first")},
		{"1MiB", bytes.Repeat([]byte{0xa5}, 1<<20)},
	}
	for _, tc := range msgs {
		t.Run(tc.name, func(t *testing.T) {
			sig1 := mustSign(t, key, tc.msg)
			sig2 := mustSign(t, key, tc.msg)
			if bytes.Equal(sig1, sig2) {
				t.Errorf("two signatures of one message are equal; SM2 signing must be randomized")
			}
			for _, sig := range [][]byte{sig1, sig2} {
				if len(sig) > sm2.MaxSignatureSize {
					t.Errorf("signature is %d bytes, more than MaxSignatureSize %d", len(sig), sm2.MaxSignatureSize)
				}
				if err := key.Public().Verify(tc.msg, sig); err != nil {
					t.Errorf("Verify(own signature) = %v", err)
				}
			}
		})
	}
}

// TestSignatureIsDER checks the wire form GM/T 0009 §7 fixes for a signature:
// SEQUENCE { r INTEGER, s INTEGER } with 0 < r, s < n.
func TestSignatureIsDER(t *testing.T) {
	key := mustGenerateKey(t)
	sig := mustSign(t, key, []byte("shape"))
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(sig, &rs)
	if err != nil || len(rest) != 0 {
		t.Fatalf("signature %x is not one DER SEQUENCE of two INTEGERs: err=%v, %d trailing bytes", sig, err, len(rest))
	}
	n := gmsm2.P256().Params().N
	for name, v := range map[string]*big.Int{"r": rs.R, "s": rs.S} {
		if v.Sign() <= 0 || v.Cmp(n) >= 0 {
			t.Errorf("%s = %x is outside [1, n-1]", name, v)
		}
	}
	if again, _ := asn1.Marshal(rs); !bytes.Equal(again, sig) {
		t.Errorf("signature %x is not in canonical DER (re-encoded: %x)", sig, again)
	}
}

func TestPrivateKeyPEMRoundTrip(t *testing.T) {
	key := mustGenerateKey(t)
	pemBytes := mustMarshalPrivate(t, key)
	if !bytes.HasPrefix(pemBytes, []byte("-----BEGIN PRIVATE KEY-----\n")) {
		t.Fatalf("private key PEM does not start with a PKCS#8 header:\n%s", pemBytes)
	}

	parsed, err := sm2.ParsePrivateKeyPEM(pemBytes)
	if err != nil {
		t.Fatalf("ParsePrivateKeyPEM(own output): %v", err)
	}
	if again := mustMarshalPrivate(t, parsed); !bytes.Equal(again, pemBytes) {
		t.Errorf("re-marshalled private key differs:\nfirst:\n%s\nsecond:\n%s", pemBytes, again)
	}
	if !parsed.Public().Equal(key.Public()) {
		t.Errorf("parsed private key has another public key")
	}
	msg := []byte("signed by the parsed key")
	if err := key.Public().Verify(msg, mustSign(t, parsed, msg)); err != nil {
		t.Errorf("signature by the parsed key does not verify under the original: %v", err)
	}
}

func TestPublicKeyPEMRoundTrip(t *testing.T) {
	pub := mustGenerateKey(t).Public()
	pemBytes := pub.MarshalPEM()
	if !bytes.HasPrefix(pemBytes, []byte("-----BEGIN PUBLIC KEY-----\n")) {
		t.Fatalf("public key PEM does not start with a SubjectPublicKeyInfo header:\n%s", pemBytes)
	}

	parsed, err := sm2.ParsePublicKeyPEM(pemBytes)
	if err != nil {
		t.Fatalf("ParsePublicKeyPEM(own output): %v", err)
	}
	if !parsed.Equal(pub) {
		t.Errorf("parsed public key is not Equal to the original")
	}
	if again := parsed.MarshalPEM(); !bytes.Equal(again, pemBytes) {
		t.Errorf("re-marshalled public key differs:\nfirst:\n%s\nsecond:\n%s", pemBytes, again)
	}

	fromDER, err := sm2.ParsePublicKeyDER(pub.MarshalPKIX())
	if err != nil {
		t.Fatalf("ParsePublicKeyDER(MarshalPKIX()): %v", err)
	}
	if !fromDER.Equal(pub) {
		t.Errorf("DER round trip changed the key")
	}
	if block, _ := pem.Decode(pemBytes); !bytes.Equal(block.Bytes, pub.MarshalPKIX()) {
		t.Errorf("MarshalPEM does not armor MarshalPKIX")
	}
}

func TestPublicKeyEqual(t *testing.T) {
	a, b := mustGenerateKey(t).Public(), mustGenerateKey(t).Public()
	if !a.Equal(a) {
		t.Errorf("a key is not Equal to itself")
	}
	if a.Equal(b) {
		t.Errorf("two generated keys are Equal")
	}
	if a.Equal(nil) {
		t.Errorf("a key is Equal to nil")
	}
	if !gmsm2.IsSM2PublicKey(a.ECDSA()) {
		t.Errorf("ECDSA() is not on the SM2 curve")
	}
}

// TestParseAcceptsSurroundingWhitespace: files edited by hand or on Windows
// end in blank lines or CRLF; that is not smuggled data.
func TestParseAcceptsSurroundingWhitespace(t *testing.T) {
	key := mustGenerateKey(t)
	privPEM := mustMarshalPrivate(t, key)
	pubPEM := key.Public().MarshalPEM()
	for _, suffix := range []string{"", "\n", "\n\n  \t\n", "\r\n"} {
		if _, err := sm2.ParsePublicKeyPEM(append(bytes.Clone(pubPEM), suffix...)); err != nil {
			t.Errorf("ParsePublicKeyPEM with suffix %q: %v", suffix, err)
		}
		if _, err := sm2.ParsePrivateKeyPEM(append(bytes.Clone(privPEM), suffix...)); err != nil {
			t.Errorf("ParsePrivateKeyPEM with suffix %q: %v", suffix, err)
		}
	}
	crlf := bytes.ReplaceAll(pubPEM, []byte("\n"), []byte("\r\n"))
	if _, err := sm2.ParsePublicKeyPEM(crlf); err != nil {
		t.Errorf("ParsePublicKeyPEM with CRLF line ends: %v", err)
	}
}

func mustGenerateKey(t testing.TB) *sm2.PrivateKey {
	t.Helper()
	key, err := sm2.GenerateKey()
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	return key
}

func mustSign(t testing.TB, key *sm2.PrivateKey, msg []byte) []byte {
	t.Helper()
	sig, err := key.Sign(msg)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return sig
}

func mustMarshalPrivate(t testing.TB, key *sm2.PrivateKey) []byte {
	t.Helper()
	b, err := key.MarshalPEM()
	if err != nil {
		t.Fatalf("MarshalPEM: %v", err)
	}
	return b
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read test vector: %v", err)
	}
	return b
}

func pemBody(t testing.TB, b []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("no PEM block in %q", b)
	}
	return block.Bytes
}

func pemWrap(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func concat(a, b []byte) []byte { return append(bytes.Clone(a), b...) }

func splitSignature(t testing.TB, sig []byte) (r, s *big.Int) {
	t.Helper()
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(sig, &rs); err != nil || len(rest) != 0 {
		t.Fatalf("not a DER signature: %x", sig)
	}
	return rs.R, rs.S
}

func derSignature(t testing.TB, r, s *big.Int) []byte {
	t.Helper()
	b, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
