package sm2_test

import (
	"bytes"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"testing"

	gmsm2 "github.com/emmansun/gmsm/sm2"
	gmsm3 "github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/smx509"

	"github.com/courtledger/courtledger/crypto/sm2"
)

// gmtExample is the signature example on the recommended curve of
// GM/T 0003.5-2012 Annex A (GB/T 32918.5), signed with the GM/T 0009 default
// ID. d, k, the message and (r, s) are taken from OpenSSL's
// test/sm2_internal_test.c (sm2_sig_test: "From Annex A in both
// GM/T0003.5-2012 and GB/T 32918.5-2016"); x_A, y_A, Z_A and e are the annex's
// intermediate values as other implementations quote them. The test
// recomputes every one of them instead of trusting the transcription.
var gmtExample = struct {
	id, msg                   string
	d, xA, yA, za, e, k, r, s string
}{
	id:  "1234567812345678",
	msg: "message digest",
	d:   "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8",
	xA:  "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020",
	yA:  "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13",
	za:  "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3",
	e:   "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640",
	k:   "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21",
	r:   "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3",
	s:   "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA",
}

func TestGMT0003Example(t *testing.T) {
	ex := gmtExample
	if ex.id != sm2.DefaultUserID {
		t.Fatalf("example ID %q is not DefaultUserID %q", ex.id, sm2.DefaultUserID)
	}
	curve := gmsm2.P256()
	n := curve.Params().N
	d, r, s, k := hexInt(t, ex.d), hexInt(t, ex.r), hexInt(t, ex.s), hexInt(t, ex.k)

	// P_A = [d]G.
	x, y := curve.ScalarBaseMult(d.Bytes())
	if x.Cmp(hexInt(t, ex.xA)) != 0 || y.Cmp(hexInt(t, ex.yA)) != 0 {
		t.Fatalf("[d]G = (%X, %X), annex P_A = (%s, %s)", x, y, ex.xA, ex.yA)
	}
	ecPub := &ecdsa.PublicKey{Curve: curve, X: x, Y: y}

	// Z_A = SM3(ENTL_A || ID_A || a || b || x_G || y_G || x_A || y_A), e = SM3(Z_A || M).
	za, err := gmsm2.CalculateZA(ecPub, []byte(ex.id))
	if err != nil {
		t.Fatal(err)
	}
	if want := hexInt(t, ex.za).FillBytes(make([]byte, 32)); !bytes.Equal(za, want) {
		t.Fatalf("Z_A = %X, annex %s", za, ex.za)
	}
	e := gmsm3.Sum(append(za, ex.msg...))
	if want := hexInt(t, ex.e).FillBytes(make([]byte, 32)); !bytes.Equal(e[:], want) {
		t.Fatalf("e = %X, annex %s", e, ex.e)
	}

	// r = (e + x_1) mod n with (x_1, y_1) = [k]G; s = (1+d)^-1 (k - r d) mod n.
	x1, _ := curve.ScalarBaseMult(k.Bytes())
	wantR := new(big.Int).Add(new(big.Int).SetBytes(e[:]), x1)
	wantR.Mod(wantR, n)
	wantS := new(big.Int).Sub(k, new(big.Int).Mul(r, d))
	wantS.Mul(wantS, new(big.Int).ModInverse(new(big.Int).Add(d, big.NewInt(1)), n))
	wantS.Mod(wantS, n)
	if r.Cmp(wantR) != 0 || s.Cmp(wantS) != 0 {
		t.Fatalf("annex (r, s) = (%s, %s), recomputed from k (%X, %X)", ex.r, ex.s, wantR, wantS)
	}

	// Our Verify takes the annex signature, DER-encoded per GM/T 0009.
	spki, err := smx509.MarshalPKIXPublicKey(ecPub)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sm2.ParsePublicKeyDER(spki)
	if err != nil {
		t.Fatalf("ParsePublicKeyDER(P_A): %v", err)
	}
	sig := derSignature(t, r, s)
	if err := pub.Verify([]byte(ex.msg), sig); err != nil {
		t.Errorf("Verify(GM/T 0003.5 Annex A signature) = %v", err)
	}
	if err := pub.Verify([]byte("message digesT"), sig); !errors.Is(err, sm2.ErrBadSignature) {
		t.Errorf("Verify(annex signature, other message) = %v, want ErrBadSignature", err)
	}

	// The same d as a PKCS#8 key signs messages that P_A verifies.
	key, err := sm2.ParsePrivateKeyPEM(pkcs8SM2(t, d))
	if err != nil {
		t.Fatalf("ParsePrivateKeyPEM(d): %v", err)
	}
	if !key.Public().Equal(pub) {
		t.Errorf("key parsed from d has another public key than P_A")
	}
	if err := pub.Verify([]byte(ex.msg), mustSign(t, key, []byte(ex.msg))); err != nil {
		t.Errorf("Verify(our signature with d) = %v", err)
	}
}

func hexInt(t testing.TB, s string) *big.Int {
	t.Helper()
	v, ok := new(big.Int).SetString(s, 16)
	if !ok {
		t.Fatalf("bad hex integer %q", s)
	}
	return v
}
