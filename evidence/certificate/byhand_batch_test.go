package certificate

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/courtledger/courtledger/crypto/merkle"
)

// The script of docs/verify-by-hand.md checks a batch-filed entry as
// evidencectl does: the path from the submission to the batch's signed root
// (MALFORMED if it does not lead there, as decoding refuses it), and the
// platform's signature over the batch header with OpenSSL (INVALID PROOF),
// even when the court and the issuer re-sign everything around a changed
// entry. The bytes checked are the batch part of the entry, sampled.
func TestVerifyByHandBatch(t *testing.T) {
	doc, err := os.ReadFile(byHandDoc)
	if err != nil {
		t.Fatal(err)
	}
	python := needPythonAndOpenSSL(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "verify_certificate.py")
	if err := os.WriteFile(script, docScript(t, doc), 0o755); err != nil {
		t.Fatal(err)
	}
	l := newBatchLog(t, 5, nil)
	const target = 3
	good := l.cert(t, target, false)
	trust := filepath.Join(dir, "trust.txt")
	if err := os.WriteFile(trust, []byte(l.court.Verifier().String()+"\n"+l.issuerVerifier(t).String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "evidence.txt")
	os.WriteFile(file, l.files[target], 0o644)
	run := func(cert []byte) (int, string) {
		t.Helper()
		path := filepath.Join(dir, "cert.json")
		os.WriteFile(path, cert, 0o644)
		out, err := exec.Command(python, script, path, trust, file).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	code, out := run(good.Marshal())
	if code != 0 || !strings.Contains(out, "filed in batch batch-2026-11-25, entry 4 of 5") || !strings.Contains(out, "its signature verifies") {
		t.Fatalf("script on a batch-filed certificate: exit %d\n%s", code, out)
	}

	raw := l.entries[target]
	start := bytes.Index(raw, []byte("evidence-batch/v1")) - 8
	if start <= 0 {
		t.Fatal("no batch header in the entry")
	}
	v, _ := NewVerifier(VerifierConfig{Trust: l.trustWithIssuer(t)})
	checked := 0
	for i := start; i < len(raw); i += 13 {
		changed := bytes.Clone(raw)
		changed[i] ^= 0x01
		store := merkle.NewMemStore()
		for j, e := range l.entries {
			if j == target {
				e = changed
			}
			store.AppendLeaf(e)
		}
		forged := l.reissue(t, good, store, changed)
		code, out := run(forged)
		if code != 6 && code != 7 {
			t.Errorf("byte %d of the entry changed (batch part from %d): script exit %d\n%s", i, start, code, out)
		}
		// The script and evidencectl agree on the verdict.
		exits := map[Verdict]int{Valid: 0, InvalidProof: 6, Malformed: 7}
		if r := v.Verify(forged, Policy{}); exits[r.Verdict] != code || r.Verdict == Valid {
			t.Errorf("byte %d: script exit %d, Verify %s (%s)", i, code, r.Verdict, r.Reason)
		}
		checked++
	}
	t.Logf("%d changed bytes of the batch part checked by the script", checked)
}
