package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/courtledger/courtledger/court"
	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
)

func courtd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.Execute()
	return out.String(), err
}

// The key keygen writes loads as a court key, and its trust line names the
// court and the same public key.
func TestKeygen(t *testing.T) {
	const id = "hangzhou.court.example/evidence"
	dir := t.TempDir()
	t.Setenv("TEST_COURT_KEY_PASSWORD", "s3cret")
	for _, tc := range []struct {
		name, prefix, passwordEnv string
	}{
		{"plain", filepath.Join(dir, "court-2027"), ""},
		{"encrypted", filepath.Join(dir, "court-2028"), "TEST_COURT_KEY_PASSWORD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"keygen", "--court", id, tc.prefix}
			if tc.passwordEnv != "" {
				args = append(args, "--password-env", tc.passwordEnv)
			}
			out, err := courtd(t, args...)
			if err != nil {
				t.Fatalf("keygen: %v\n%s", err, out)
			}
			_, line, ok := strings.Cut(out, "trust line:  ")
			if !ok {
				t.Fatalf("no trust line in\n%s", out)
			}
			v, err := checkpoint.ParseVerifier(strings.TrimSpace(line))
			if err != nil || v.Name() != id {
				t.Fatalf("trust line %q: %v", line, err)
			}
			if _, err := courtd(t, args...); err == nil || !errors.Is(err, os.ErrExist) {
				t.Fatalf("keygen again: %v, want the existing key kept", err)
			}
			passwordEnv := tc.passwordEnv
			if passwordEnv == "" {
				passwordEnv = "TEST_UNSET_PASSWORD"
			}
			k, err := court.LoadCourtKey(tc.prefix+".key.pem", passwordEnv)
			if err != nil {
				t.Fatal(err)
			}
			pubPEM, err := os.ReadFile(tc.prefix + ".pub.pem")
			if err != nil {
				t.Fatal(err)
			}
			pub, err := sm2.ParsePublicKeyPEM(pubPEM)
			if err != nil {
				t.Fatal(err)
			}
			if !k.Public().Equal(pub) || !v.PublicKey().Equal(pub) {
				t.Fatal("private key, public key file and trust line disagree")
			}
		})
	}
	if _, err := courtd(t, "keygen", filepath.Join(dir, "nameless")); !errors.Is(err, errUsage) {
		t.Fatalf("keygen without --court: %v, want a usage error", err)
	}
}
