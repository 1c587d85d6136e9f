package sm2_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/courtledger/courtledger/crypto/sm2"
)

// openSSLVector is the set made by OpenSSL 3.0 with the commands in
// testdata/README.md.
type openSSLVector struct {
	keyPEM, pubPEM []byte
	key            *sm2.PrivateKey
	pub            *sm2.PublicKey
	msg            []byte
	sig            []byte // signed with -pkeyopt distid:1234567812345678
	sigEmptyID     []byte // signed without distid: OpenSSL's empty ID
}

func loadOpenSSLVector(t testing.TB) openSSLVector {
	t.Helper()
	v := openSSLVector{
		keyPEM:     readTestdata(t, "openssl_key.pem"),
		pubPEM:     readTestdata(t, "openssl_pub.pem"),
		msg:        readTestdata(t, "message.txt"),
		sig:        readTestdata(t, "openssl_sig.der"),
		sigEmptyID: readTestdata(t, "openssl_sig_empty_id.der"),
	}
	var err error
	if v.key, err = sm2.ParsePrivateKeyPEM(v.keyPEM); err != nil {
		t.Fatalf("ParsePrivateKeyPEM(openssl_key.pem): %v", err)
	}
	if v.pub, err = sm2.ParsePublicKeyPEM(v.pubPEM); err != nil {
		t.Fatalf("ParsePublicKeyPEM(openssl_pub.pem): %v", err)
	}
	return v
}

func TestOpenSSLVectors(t *testing.T) {
	v := loadOpenSSLVector(t)

	t.Run("key files describe one key pair", func(t *testing.T) {
		if !v.key.Public().Equal(v.pub) {
			t.Errorf("public key of openssl_key.pem differs from openssl_pub.pem")
		}
	})
	t.Run("our encodings are byte-identical to OpenSSL's", func(t *testing.T) {
		if got := mustMarshalPrivate(t, v.key); !bytes.Equal(got, v.keyPEM) {
			t.Errorf("MarshalPEM(private) =\n%s\nopenssl genpkey wrote\n%s", got, v.keyPEM)
		}
		if got := v.pub.MarshalPEM(); !bytes.Equal(got, v.pubPEM) {
			t.Errorf("MarshalPEM(public) =\n%s\nopenssl pkey -pubout wrote\n%s", got, v.pubPEM)
		}
	})
	t.Run("signature with distid 1234567812345678 verifies", func(t *testing.T) {
		if err := v.pub.Verify(v.msg, v.sig); err != nil {
			t.Errorf("Verify(openssl_sig.der) = %v", err)
		}
	})
	// The trap of DESIGN.md "Interoperability": without -pkeyopt distid,
	// OpenSSL 3 hashes an empty ID into Z_A. Such a signature must not
	// verify under the GM/T 0009 default ID.
	t.Run("signature with OpenSSL's default empty ID is rejected", func(t *testing.T) {
		if err := v.pub.Verify(v.msg, v.sigEmptyID); !errors.Is(err, sm2.ErrBadSignature) {
			t.Errorf("Verify(openssl_sig_empty_id.der) = %v, want ErrBadSignature", err)
		}
	})
}

// TestOpenSSLLive has the openssl command line check our output and make
// fresh input for us, so the stored vectors cannot go stale unnoticed.
func TestOpenSSLLive(t *testing.T) {
	openssl := requireOpenSSL3(t)
	const distID = "distid:" + sm2.DefaultUserID
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	msg := []byte("evidence fingerprint, checked by openssl\n")
	writeFile(t, path("msg"), msg)
	writeFile(t, path("tampered"), append(bytes.Clone(msg), 'x'))

	t.Run("openssl verifies our signature", func(t *testing.T) {
		key := mustGenerateKey(t)
		writeFile(t, path("ours_pub.pem"), key.Public().MarshalPEM())
		writeFile(t, path("ours.sig"), mustSign(t, key, msg))
		verify := func(in string, opts ...string) error {
			args := append([]string{"pkeyutl", "-verify", "-rawin", "-digest", "sm3",
				"-pubin", "-inkey", path("ours_pub.pem"), "-in", path(in), "-sigfile", path("ours.sig")}, opts...)
			_, err := run(t, openssl, args...)
			return err
		}
		if err := verify("msg", "-pkeyopt", distID); err != nil {
			t.Errorf("openssl rejects our signature: %v", err)
		}
		if err := verify("tampered", "-pkeyopt", distID); err == nil {
			t.Errorf("openssl accepts our signature on a tampered message")
		}
		if err := verify("msg"); err == nil {
			t.Errorf("openssl accepts our signature without distid; the empty-ID trap has changed, update DESIGN.md")
		}
	})

	t.Run("we verify openssl's signature with a fresh key", func(t *testing.T) {
		mustRun(t, openssl, "genpkey", "-algorithm", "SM2", "-out", path("fresh_key.pem"))
		mustRun(t, openssl, "pkey", "-in", path("fresh_key.pem"), "-pubout", "-out", path("fresh_pub.pem"))
		mustRun(t, openssl, "pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", path("fresh_key.pem"),
			"-in", path("msg"), "-out", path("fresh.sig"), "-pkeyopt", distID)
		mustRun(t, openssl, "pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", path("fresh_key.pem"),
			"-in", path("msg"), "-out", path("fresh_empty_id.sig"))

		pub, err := sm2.ParsePublicKeyPEM(readFile(t, path("fresh_pub.pem")))
		if err != nil {
			t.Fatalf("ParsePublicKeyPEM(openssl pkey -pubout): %v", err)
		}
		key, err := sm2.ParsePrivateKeyPEM(readFile(t, path("fresh_key.pem")))
		if err != nil {
			t.Fatalf("ParsePrivateKeyPEM(openssl genpkey): %v", err)
		}
		if !key.Public().Equal(pub) {
			t.Errorf("parsed openssl private and public keys do not match")
		}
		if err := pub.Verify(msg, readFile(t, path("fresh.sig"))); err != nil {
			t.Errorf("Verify(openssl signature with distid) = %v", err)
		}
		if err := pub.Verify(append(bytes.Clone(msg), 'x'), readFile(t, path("fresh.sig"))); !errors.Is(err, sm2.ErrBadSignature) {
			t.Errorf("Verify(openssl signature, tampered message) = %v, want ErrBadSignature", err)
		}
		if err := pub.Verify(msg, readFile(t, path("fresh_empty_id.sig"))); !errors.Is(err, sm2.ErrBadSignature) {
			t.Errorf("Verify(openssl signature without distid) = %v, want ErrBadSignature", err)
		}
	})

	t.Run("openssl reads and signs with our private key", func(t *testing.T) {
		key := mustGenerateKey(t)
		writeFile(t, path("ours_key.pem"), mustMarshalPrivate(t, key))

		pubPEM := mustRun(t, openssl, "pkey", "-in", path("ours_key.pem"), "-pubout")
		if want := key.Public().MarshalPEM(); !bytes.Equal(pubPEM, want) {
			t.Errorf("openssl derives public key\n%s\nfrom our private key, want\n%s", pubPEM, want)
		}
		mustRun(t, openssl, "pkeyutl", "-sign", "-rawin", "-digest", "sm3", "-inkey", path("ours_key.pem"),
			"-in", path("msg"), "-out", path("by_openssl.sig"), "-pkeyopt", distID)
		if err := key.Public().Verify(msg, readFile(t, path("by_openssl.sig"))); err != nil {
			t.Errorf("Verify(openssl's signature with our key) = %v", err)
		}
	})
}

// requireOpenSSL3 returns the path of openssl, or skips the test when it is
// missing or older than 3.0 (which lacks pkeyutl -rawin).
func requireOpenSSL3(t *testing.T) string {
	t.Helper()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not on PATH: skipping the live OpenSSL interop test (CI installs OpenSSL 3, where it runs)")
	}
	version, err := run(t, openssl, "version")
	if err != nil {
		t.Fatalf("openssl version: %v", err)
	}
	if !strings.HasPrefix(string(version), "OpenSSL 3.") {
		t.Skipf("need OpenSSL 3 for pkeyutl -rawin, have %q: skipping the live OpenSSL interop test", strings.TrimSpace(string(version)))
	}
	return openssl
}

// run runs a command and returns its standard output; the error carries
// its standard error.
func run(t testing.TB, name string, args ...string) ([]byte, error) {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, errors.New(strings.Join(cmd.Args, " ") + ": " + err.Error() + ": " + strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func mustRun(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	out, err := run(t, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func writeFile(t testing.TB, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
