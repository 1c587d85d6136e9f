package court

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/courtledger/courtledger/crypto/sm2"
)

func TestLoadCourtKey(t *testing.T) {
	dir := t.TempDir()
	k, _ := sm2.GenerateKey()
	enc, err := k.MarshalEncryptedPEM([]byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "court.key.pem")
	os.WriteFile(path, enc, 0o600)

	const env = "COURTLEDGER_TEST_KEY_PASSWORD"
	if _, err := LoadCourtKey(path, env); err == nil || !strings.Contains(err.Error(), env) {
		t.Fatalf("no password: %v", err)
	}
	t.Setenv(env, "wrong")
	if _, err := LoadCourtKey(path, env); err == nil {
		t.Fatal("wrong password accepted")
	}
	t.Setenv(env, "s3cret")
	got, err := LoadCourtKey(path, env)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Public().MarshalPKIX(), k.Public().MarshalPKIX()) {
		t.Fatal("another key")
	}
	if _, set := os.LookupEnv(env); set {
		t.Fatal("password left in the environment")
	}
	os.Chmod(path, 0o640)
	if _, err := LoadCourtKey(path, env); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Fatalf("group-readable key accepted: %v", err)
	}
}
