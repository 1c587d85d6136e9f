package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/evidence/certificate"
)

// During a key rotation a trust file lists a court's new key beside the
// one it still signs with, in either order; every command that checks the
// court's signature accepts any listed key.
func TestTrustFileWithSeveralKeysPerCourt(t *testing.T) {
	dir := t.TempDir()
	content := []byte("2026-11-25 王五：货已收到。")
	file := filepath.Join(dir, "chat.txt")
	if err := os.WriteFile(file, content, 0o644); err != nil {
		t.Fatal(err)
	}
	addr, trust, id := oneNodeCourt(t, content)
	current, err := os.ReadFile(trust)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := sm2.GenerateKey()
	next, _ := checkpoint.NewSigner(certTestCourt, k)
	rotating := filepath.Join(dir, "rotating-trust.txt")
	if err := os.WriteFile(rotating, []byte("# the next key first, then the current one\n"+next.Verifier().String()+"\n"+string(current)), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		{"get", id, "--server", addr, "--trust", rotating},
		{"head", "--server", addr, "--trust", rotating},
		{"cert", "get", id, "--server", addr, "--trust", rotating, "--out-json", filepath.Join(dir, "c.json")},
	} {
		if out, err := run(t, args...); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args[:2], " "), err, out)
		}
	}
	_, err = run(t, "cert", "verify", filepath.Join(dir, "c.json"), "--file", file, "--trust", rotating)
	wantVerdict(t, err, certificate.Valid, 0)
	_, err = run(t, "verify", file, "--server", addr, "--trust", rotating)
	wantVerdict(t, err, certificate.Valid, 0)

	only := filepath.Join(dir, "only-next.txt")
	if err := os.WriteFile(only, []byte(next.Verifier().String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "head", "--server", addr, "--trust", only); err == nil {
		t.Fatal("head verified under a trust file without the key the court signs with")
	}
}
