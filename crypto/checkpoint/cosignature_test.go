package checkpoint

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/sm2"
)

func newCosigner(t testing.TB, name string, at time.Time) *Cosigner {
	t.Helper()
	k, err := sm2.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCosigner(name, k, func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func signedTestHead(t *testing.T) (*Signer, []byte) {
	t.Helper()
	s := newSigner(t, origin)
	signed, err := Sign(testHead(), s)
	if err != nil {
		t.Fatal(err)
	}
	return s, signed
}

func TestCosignRoundTrip(t *testing.T) {
	s, signed := signedTestHead(t)
	at := time.Unix(1764050300, 0).UTC()
	bj := newCosigner(t, "beijing.court.example/evidence", at)
	gz := newCosigner(t, "guangzhou.court.example/evidence", at.Add(time.Second))

	var lines [][]byte
	for _, c := range []*Cosigner{bj, gz} {
		l, err := Cosign(signed, c)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	// A line twice, and the court's own signer again, are added once.
	witnessed, err := WithSignatures(signed, lines[0], lines[1], lines[0])
	if err != nil {
		t.Fatal(err)
	}
	sigs, err := Signatures(witnessed)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 3 || sigs[1].Name != bj.Name() || sigs[2].Name != gz.Name() {
		t.Fatalf("signatures: %+v", sigs)
	}
	if sigs[1].KeyID != bj.KeyHash() {
		t.Fatalf("key ID %08x, want %08x", sigs[1].KeyID, bj.KeyHash())
	}
	if got, err := CosignedAt(sigs[2]); err != nil || !got.Equal(at.Add(time.Second)) {
		t.Fatalf("CosignedAt = %v, %v", got, err)
	}

	h, n, err := Open(witnessed, s.Verifier(), bj.Verifier(), gz.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	if h.Size != testHead().Size || len(n.Sigs) != 3 || len(n.UnverifiedSigs) != 0 {
		t.Fatalf("Open: size %d, %d verified, %d unverified", h.Size, len(n.Sigs), len(n.UnverifiedSigs))
	}
	// Without the witnesses' keys their lines are unverified, not errors.
	if _, n, err := Open(witnessed, s.Verifier()); err != nil || len(n.UnverifiedSigs) != 2 {
		t.Fatalf("Open without witness keys: %v, %+v", err, n)
	}
}

func TestCosignatureIsNotACheckpointSignature(t *testing.T) {
	// The same SM2 key as checkpoint signer and as witness has two key IDs,
	// and neither signature verifies as the other.
	k, err := sm2.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	name := "beijing.court.example/evidence"
	cs, err := NewSigner(name, k)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := NewCosigner(name, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cs.KeyHash() == cc.KeyHash() {
		t.Fatal("checkpoint and cosignature key IDs coincide")
	}
	text := []byte("some text\n")
	plain, _ := cs.Sign(text)
	cosig, _ := cc.Sign(text)
	if cc.Verifier().Verify(text, plain) {
		t.Error("a checkpoint signature verified as a cosignature")
	}
	if cs.Verifier().Verify(text, cosig) || cs.Verifier().Verify(text, cosig[cosigTimeLen:]) {
		t.Error("a cosignature verified as a checkpoint signature")
	}
	if !cc.Verifier().Verify(text, cosig) {
		t.Error("cosignature does not verify")
	}
}

func TestCosignatureTampered(t *testing.T) {
	s, signed := signedTestHead(t)
	bj := newCosigner(t, "beijing.court.example/evidence", time.Unix(1764050300, 0))
	line, err := Cosign(signed, bj)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := ParseSignatureLine(line)
	if err != nil {
		t.Fatal(err)
	}
	// Change the timestamp: the signature covers it.
	raw := binary.BigEndian.AppendUint32(nil, sig.KeyID)
	ts := bytes.Clone(sig.Sig)
	ts[cosigTimeLen-1] ^= 1
	bad := []byte("— " + sig.Name + " " + base64.StdEncoding.EncodeToString(append(raw, ts...)) + "\n")
	witnessed, err := WithSignatures(signed, bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(witnessed, s.Verifier(), bj.Verifier()); !errors.Is(err, ErrSignature) {
		t.Fatalf("Open with a tampered cosignature: %v, want ErrSignature", err)
	}
}

func TestParseSignatureLineRejects(t *testing.T) {
	for _, line := range []string{
		"",
		"— name\n",
		"- name AAAAAAAA\n",
		"— name AAAAAAAA",
		"— name AAAA\n",
		"— name !!!!\n",
		"— na me AAAAAAAAAA==\n",
		"— name AAAAAAAAAA==\nmore\n",
	} {
		if _, err := ParseSignatureLine([]byte(line)); !errors.Is(err, ErrCosignature) {
			t.Errorf("ParseSignatureLine(%q) = %v, want ErrCosignature", line, err)
		}
	}
}

func TestWithSignaturesBounded(t *testing.T) {
	_, signed := signedTestHead(t)
	var lines [][]byte
	for i := 0; len(signed)+len(lines)*100 <= MaxNoteSize; i++ {
		c := newCosigner(t, "w"+string(rune('a'+i%26))+string(rune('a'+i/26)), time.Unix(1764050300, 0))
		l, err := Cosign(signed, c)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	if _, err := WithSignatures(signed, lines...); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("WithSignatures of %d lines: %v, want ErrTooLarge", len(lines), err)
	}
}

// TestCosignatureOpenSSL checks a cosignature with OpenSSL 3, as a third
// party would: rebuild the cosigned message and verify the DER signature.
func TestCosignatureOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	_, signed := signedTestHead(t)
	k, err := sm2.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCosigner("beijing.court.example/evidence", k, func() time.Time { return time.Unix(1764050300, 0) })
	if err != nil {
		t.Fatal(err)
	}
	line, err := Cosign(signed, c)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := ParseSignatureLine(line)
	if err != nil {
		t.Fatal(err)
	}
	text, _, _ := bytes.Cut(signed, []byte("\n\n"))
	msg := append([]byte("cosignature/v1\ntime 1764050300\n"), append(text, '\n')...)
	dir := t.TempDir()
	pem := k.Public().MarshalPEM()
	files := map[string][]byte{"pub.pem": pem, "msg": msg, "sig": sig.Sig[cosigTimeLen:]}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-digest", "sm3",
		"-pkeyopt", "distid:1234567812345678", "-in", "msg", "-sigfile", "sig")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("openssl rejected the cosignature: %v\n%s", err, out)
	}
}

func FuzzParseSignatureLine(f *testing.F) {
	f.Add([]byte("— beijing.court.example/evidence AAAAAQAAAABpJVl8MEUCIQ==\n"))
	f.Add([]byte("— x \n"))
	f.Fuzz(func(t *testing.T, line []byte) {
		s, err := ParseSignatureLine(line)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Line, line) || !ValidOrigin(s.Name) {
			t.Fatalf("parsed %q into %+v", line, s)
		}
		_, _ = CosignedAt(s)
	})
}
