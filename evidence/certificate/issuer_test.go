package certificate

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
)

// Issue 13, item 8: a certificate shows as proven only what is signed.
// Before, issued_by and issued_at were unsigned: a holder who edited them
// and recomputed the certificate ID got VALID, "issued by Beijing at
// 2020-01-01", and nothing said where the platform's key came from.

func TestIssuerSignatureVerified(t *testing.T) {
	l := newTestLog(t, 4, guangzhou)
	c := l.cert(t, 2, true)
	if c.Version != 2 || len(c.IssuerSignature) == 0 || c.Platform == nil {
		t.Fatalf("issued certificate: version %d, %d signature bytes, platform %v", c.Version, len(c.IssuerSignature), c.Platform)
	}
	v, err := NewVerifier(VerifierConfig{Trust: l.trustWithIssuer(t, 0)})
	if err != nil {
		t.Fatal(err)
	}
	r := v.Verify(c.Marshal(), Policy{Fingerprint: fp(l.files[2])})
	d := r.Details
	if r.Verdict != Valid || !d.IssuerVerified || d.IssuerNote != "" {
		t.Fatalf("%s (%s): issuer verified %v (%s)", r.Verdict, r.Reason, d.IssuerVerified, d.IssuerNote)
	}
	if d.IssuedBy != beijing || !d.IssuedAt.Equal(l.headTime.Add(2*time.Hour)) {
		t.Errorf("issued by %s at %v", d.IssuedBy, d.IssuedAt)
	}
	want := base64.StdEncoding.EncodeToString(l.platform.Public().MarshalPKIX())
	if k := d.PlatformKey; k == nil || k.Court != hangzhou || !k.RegisteredAt.Equal(l.registeredAt) || k.SPKI != want || !d.PlatformSigned {
		t.Fatalf("platform key %+v, signed %v; want %s registered at %v, %s", k, d.PlatformSigned, hangzhou, l.registeredAt, want)
	}
}

func TestIssuerSignatureEdits(t *testing.T) {
	l := newTestLog(t, 4, guangzhou)
	good := l.cert(t, 2, true)
	otherPlatform, _ := sm2.GenerateKey()
	v, err := NewVerifier(VerifierConfig{Trust: l.trustWithIssuer(t, 0)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(c *Certificate)
	}{
		{"issued_at moved to 2020", func(c *Certificate) { c.IssuedAt = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"issued_by Guangzhou", func(c *Certificate) { c.IssuedBy = guangzhou }},
		{"platform key replaced", func(c *Certificate) {
			c.Platform = &PlatformKey{Court: hangzhou, RegisteredAt: l.registeredAt, Key: otherPlatform.Public()}
		}},
		{"platform registered later", func(c *Certificate) {
			p := *c.Platform
			p.RegisteredAt = p.RegisteredAt.Add(time.Hour)
			c.Platform = &p
		}},
		{"platform key removed", func(c *Certificate) { c.Platform = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := *good
			tc.edit(&c)
			c.ID = c.computeID() // as a careful forger would
			r := v.Verify(c.Marshal(), Policy{})
			// Guangzhou as issuer: its key is in the trust file, but
			// Beijing's key ID is not one of Guangzhou's: unverified.
			if c.IssuedBy == guangzhou {
				if r.Verdict != Valid || r.Details.IssuerVerified || !strings.Contains(r.Details.IssuerNote, "not one of court "+guangzhou) {
					t.Fatalf("%s (%s): verified %v, note %q", r.Verdict, r.Reason, r.Details.IssuerVerified, r.Details.IssuerNote)
				}
				return
			}
			if r.Verdict != InvalidProof || !strings.Contains(r.Reason, "issuing court "+beijing) || r.Details.IssuerVerified {
				t.Fatalf("%s (%s), issuer verified %v; want INVALID PROOF naming the issuer's signature", r.Verdict, r.Reason, r.Details.IssuerVerified)
			}
		})
	}
}

// Whatever the issuer's signature does not cover is reported unverified,
// and the certificate still proves its entry.
func TestIssuerUnverified(t *testing.T) {
	l := newTestLog(t, 4, guangzhou)
	c := l.cert(t, 2, true)
	v1, err := os.ReadFile(filepath.Join(byHandDir, "cert_v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	byHandTrust, err := os.Open(filepath.Join(byHandDir, "trust.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer byHandTrust.Close()
	tr, err := ParseTrust(byHandTrust)
	if err != nil {
		t.Fatal(err)
	}
	byHand, _ := NewVerifier(VerifierConfig{Trust: tr})
	noIssuer := l.verifier(t, 0)

	noSig := c.Marshal()
	noSig = []byte(strings.Replace(string(noSig), `"issuer_signature": "`+base64.StdEncoding.EncodeToString(c.IssuerSignature)+`"`, `"issuer_signature": ""`, 1))

	for _, tc := range []struct {
		name string
		v    *Verifier
		cert []byte
		want Verdict
		note string
	}{
		{"version 1 certificate", byHand, v1, Valid, "is not signed by its issuer"},
		{"issuer not in the trust file", noIssuer, c.Marshal(), Valid, beijing + ", named as issuer, is not in the trust file"},
		{"version 2 without a signature", noIssuer, noSig, Malformed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.v.Verify(tc.cert, Policy{})
			if r.Verdict != tc.want || r.Details.IssuerVerified || !strings.Contains(r.Details.IssuerNote, tc.note) {
				t.Fatalf("%s (%s): issuer verified %v, note %q; want %s, note %q", r.Verdict, r.Reason, r.Details.IssuerVerified, r.Details.IssuerNote, tc.want, tc.note)
			}
			if r.Details.PlatformSigned {
				t.Errorf("platform signature reported verified under a key no trusted issuer stated")
			}
		})
	}
}

// A certificate of another court's evidence (the issuer mirrors it) names
// no platform key: the issuer does not hold that court's registry.
func TestIssueWithoutRegistration(t *testing.T) {
	l := newTestLog(t, 3)
	in := l.input(t, 1, false)
	in.PlatformKeyOf = func(string, string) (*PlatformKey, error) { return nil, nil }
	c, err := Issue(in)
	if err != nil {
		t.Fatal(err)
	}
	// A registration whose key did not sign the entry (the platform was
	// registered again with a new key since) is not stated either.
	in.PlatformKeyOf = func(court, _ string) (*PlatformKey, error) {
		k, _ := sm2.GenerateKey()
		return &PlatformKey{Court: court, RegisteredAt: l.registeredAt, Key: k.Public()}, nil
	}
	c2, err := Issue(in)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := NewVerifier(VerifierConfig{Trust: l.trustWithIssuer(t)})
	for _, c := range []*Certificate{c, c2} {
		if c.Platform != nil {
			t.Fatalf("platform key stated: %+v", c.Platform)
		}
		b := c.Marshal()
		if strings.Contains(string(b), "platform_key") {
			t.Errorf("JSON names a platform key:\n%s", b)
		}
		if r := v.Verify(b, Policy{}); r.Verdict != Valid || !r.Details.IssuerVerified || r.Details.PlatformKey != nil {
			t.Fatalf("%s (%s), issuer verified %v, platform key %+v", r.Verdict, r.Reason, r.Details.IssuerVerified, r.Details.PlatformKey)
		}
	}
	in.Signer = nil
	if _, err := Issue(in); err == nil || !strings.Contains(err.Error(), "Signer") {
		t.Fatalf("issued without a signer: %v", err)
	}
}

// OpenSSL 3 verifies the issuer's signature over SignedBytes with the
// issuer's public key and the default user ID, like every other signature
// of the project: a third party needs nothing of ours.
func TestIssuerSignatureOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	l := newTestLog(t, 3)
	c := l.cert(t, 1, false)
	dir := t.TempDir()
	files := map[string][]byte{"pub.pem": l.issuer.Public().MarshalPEM(), "msg": c.SignedBytes(), "sig": c.IssuerSignature}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	openssl := func(msg string) error {
		return exec.Command("openssl", "pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pubin",
			"-inkey", filepath.Join(dir, "pub.pem"), "-in", filepath.Join(dir, msg), "-sigfile", filepath.Join(dir, "sig"),
			"-pkeyopt", "distid:1234567812345678").Run()
	}
	if err := openssl("msg"); err != nil {
		t.Fatalf("openssl rejects the issuer's signature: %v", err)
	}
	changed := c.SignedBytes()
	changed[len(changed)-1] ^= 1
	if err := os.WriteFile(filepath.Join(dir, "changed"), changed, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := openssl("changed"); err == nil {
		t.Fatal("openssl accepts the issuer's signature over changed bytes")
	}
}

// A signature line on the head that is no cosignature (here a plain note
// signature by a court the trust file does not know) is reported without a
// time: before, it read as cosigned at 0001-01-01T00:00:00Z.
func TestWitnessLineWithoutTime(t *testing.T) {
	l := newTestLog(t, 3)
	in := l.input(t, 1, false)
	stranger, _ := sm2.GenerateKey()
	signer, err := checkpoint.NewSigner("shanghai.court.example/evidence", stranger)
	if err != nil {
		t.Fatal(err)
	}
	// A note signature of the head's text by that court's key:
	// key ID || DER, no time.
	text, _, _ := bytes.Cut(in.SignedHead, []byte("\n\n"))
	sig, err := signer.Sign(append(text, '\n'))
	if err != nil {
		t.Fatal(err)
	}
	raw := append(binaryKeyID(signer.Verifier().KeyHash()), sig...)
	line := []byte("— shanghai.court.example/evidence " + base64.StdEncoding.EncodeToString(raw) + "\n")
	if in.SignedHead, err = checkpoint.WithSignatures(in.SignedHead, line); err != nil {
		t.Fatal(err)
	}
	c, err := Issue(in)
	if err != nil {
		t.Fatal(err)
	}
	r := l.verifier(t).Verify(c.Marshal(), Policy{})
	if r.Verdict != Valid || len(r.Details.Witnesses) != 1 {
		t.Fatalf("%s (%s), witnesses %+v", r.Verdict, r.Reason, r.Details.Witnesses)
	}
	if w := r.Details.Witnesses[0]; w.Trusted || !w.CosignedAt.IsZero() {
		t.Fatalf("witness %+v: want untrusted, no time", w)
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("0001-01-01")) {
		t.Fatalf("the result's JSON shows a zero time: %s", out)
	}
}
