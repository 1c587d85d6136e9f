package certificate

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
)

// The worked example of docs/verify-by-hand.md is checked here so the
// document cannot drift from the code: the certificate and trust file it
// shows, the values of each step, and the script it gives, run on the
// example with python3 and OpenSSL 3 as a third party would. The court and
// platform keys are docs/formats.md's (evidence/testdata/worked_example);
// the witness key was made with `openssl genpkey -algorithm SM2`. SM2
// signatures are randomized, so the certificate is made once and stored;
// remake it with
//
//	go test ./evidence/certificate -run TestVerifyByHand -update
var update = flag.Bool("update", false, "remake the worked example of docs/verify-by-hand.md")

const (
	byHandDir  = "testdata/by_hand"
	wexKeysDir = "../testdata/worked_example"
	byHandDoc  = "../../docs/verify-by-hand.md"
)

func readKey(t *testing.T, path string) *sm2.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := sm2.ParsePrivateKeyPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// byHandRegisteredAt is when esign.example registered at Hangzhou.
var byHandRegisteredAt = time.Date(2026, 11, 1, 9, 30, 0, 0, time.UTC)

// makeByHandCertificate files three documents at Hangzhou, the second being
// evidence.txt, has Beijing cosign the head and Hangzhou issue (and sign)
// the certificate of entry 1, stating the platform's registration.
func makeByHandCertificate(t *testing.T) []byte {
	courtKey := readKey(t, filepath.Join(wexKeysDir, "court_key.pem"))
	court, err := checkpoint.NewSigner(hangzhou, courtKey)
	if err != nil {
		t.Fatal(err)
	}
	platform := readKey(t, filepath.Join(wexKeysDir, "platform_key.pem"))
	file, err := os.ReadFile(filepath.Join(byHandDir, "evidence.txt"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	store := merkle.NewMemStore()
	var entries [][]byte
	for i, f := range [][]byte{[]byte("chat log\n"), file, []byte("web page capture\n")} {
		s := evidence.Submission{Court: hangzhou, Platform: "esign.example", RequestID: fmt.Sprintf("req-%04d", i+1),
			Fingerprint: sm3.Sum(f), Category: evidence.CategoryContract, Title: "房屋租赁合同", SignedAt: at}
		sig, err := s.Sign(platform)
		if err != nil {
			t.Fatal(err)
		}
		e := evidence.NewEntry(hangzhou, uint64(i), at.Add(3*time.Second+time.Duration(i)*time.Millisecond), s, sig)
		entries = append(entries, e.Marshal())
		store.AppendLeaf(entries[i])
	}
	signed, err := checkpoint.Sign(checkpoint.TreeHead{Origin: hangzhou, Size: 3, Root: store.Root(), Time: at.Add(3250 * time.Millisecond)}, court)
	if err != nil {
		t.Fatal(err)
	}
	witness, err := checkpoint.NewCosigner(beijing, readKey(t, filepath.Join(byHandDir, "witness_key.pem")),
		func() time.Time { return at.Add(10 * time.Second) })
	if err != nil {
		t.Fatal(err)
	}
	line, err := checkpoint.Cosign(signed, witness)
	if err != nil {
		t.Fatal(err)
	}
	if signed, err = checkpoint.WithSignatures(signed, line); err != nil {
		t.Fatal(err)
	}
	proof, err := merkle.Inclusion(context.Background(), store, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Issue(Input{Entry: entries[1], Index: 1, Proof: proof, SignedHead: signed,
		IssuedBy: hangzhou, IssuedAt: at.Add(2*time.Hour + 125*time.Millisecond), Signer: courtKey,
		PlatformKeyOf: func(court, _ string) (*PlatformKey, error) {
			return &PlatformKey{Court: court, RegisteredAt: byHandRegisteredAt, Key: platform.Public()}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return c.Marshal()
}

func byHandTrust(t *testing.T) string {
	t.Helper()
	var lines []string
	for name, pub := range map[string]string{hangzhou: filepath.Join(wexKeysDir, "court_pub.pem"), beijing: filepath.Join(byHandDir, "witness_pub.pem")} {
		b, err := os.ReadFile(pub)
		if err != nil {
			t.Fatal(err)
		}
		k, err := sm2.ParsePublicKeyPEM(b)
		if err != nil {
			t.Fatal(err)
		}
		v, err := checkpoint.NewVerifier(name, k)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, v.String())
	}
	if lines[0] > lines[1] {
		lines[0], lines[1] = lines[1], lines[0]
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestVerifyByHand(t *testing.T) {
	certPath := filepath.Join(byHandDir, "cert.json")
	if *update {
		if err := os.WriteFile(certPath, makeByHandCertificate(t), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	certJSON, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	trust := byHandTrust(t)
	if *update {
		if err := os.WriteFile(filepath.Join(byHandDir, "trust.txt"), []byte(trust), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if stored, _ := os.ReadFile(filepath.Join(byHandDir, "trust.txt")); string(stored) != trust {
		t.Fatalf("trust.txt is stale; remake with -update")
	}
	tr, err := ParseTrust(strings.NewReader(trust))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := NewVerifier(VerifierConfig{Trust: tr})
	file, _ := os.ReadFile(filepath.Join(byHandDir, "evidence.txt"))
	r := v.Verify(certJSON, Policy{Fingerprint: fp(file), MinWitnesses: 1})
	if r.Verdict != Valid || !r.Details.IssuerVerified || !r.Details.PlatformSigned {
		t.Fatalf("the worked example is %s: %s (issuer verified %v: %s; platform signed %v)", r.Verdict, r.Reason,
			r.Details.IssuerVerified, r.Details.IssuerNote, r.Details.PlatformSigned)
	}

	dump := byHandDump(t, certJSON, trust, file)
	if *update {
		if err := os.WriteFile(filepath.Join(byHandDir, "example.md"), []byte(dump), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if stored, _ := os.ReadFile(filepath.Join(byHandDir, "example.md")); string(stored) != dump {
		t.Fatalf("worked example changed; remake with -update and paste example.md into %s.\ngot:\n%s", byHandDoc, dump)
	}
	doc, err := os.ReadFile(byHandDoc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, []byte(dump)) {
		t.Fatalf("%s does not contain %s/example.md verbatim; paste it in", byHandDoc, byHandDir)
	}
	// The step-by-step commands quote values of the example: they must be
	// this example's.
	c, _ := Unmarshal(certJSON)
	text, _, _ := bytes.Cut(c.SignedHead, []byte("\n\n"))
	var courtSig []byte
	sigs, _ := checkpoint.Signatures(c.SignedHead)
	for _, s := range sigs {
		if s.Name == hangzhou {
			courtSig = s.Sig
		}
	}
	for _, want := range []string{
		fmt.Sprintf("node %x %x\n", c.Proof[0], merkle.LeafHash(c.EntryBytes)),
		"printf '" + strings.ReplaceAll(string(text), "\n", `\n`) + `\n' > note.txt`,
		"echo " + hex.EncodeToString(courtSig) + " | xxd",
	} {
		if !bytes.Contains(doc, []byte(want)) {
			t.Errorf("%s's step-by-step commands do not quote this example: missing %q", byHandDoc, want)
		}
	}
	runDocScript(t, doc, certPath, file)
}

// byHandDump writes out every intermediate value of a check by hand, from
// the stored certificate, with SM3 and the proof walk done here step by step
// (not through package merkle) as the document describes them.
func byHandDump(t *testing.T, certJSON []byte, trust string, file []byte) string {
	t.Helper()
	c, err := Unmarshal(certJSON)
	if err != nil {
		t.Fatal(err)
	}
	h := func(parts ...[]byte) []byte { d := sm3.Sum(bytes.Join(parts, nil)); return d[:] }
	fileSum := sm3.Sum(file)
	leaf := h([]byte{0}, c.EntryBytes)
	var b strings.Builder
	fmt.Fprintf(&b, "The certificate, `cert.json`:\n\n```json\n%s```\n\n", certJSON)
	fmt.Fprintf(&b, "The trust file, `trust.txt` (Hangzhou's court key and Beijing's):\n\n```\n%s```\n\n", trust)
	signedBytes := c.SignedBytes()
	sub := c.Entry.Submission.Marshal()
	fmt.Fprintf(&b, "The bytes Hangzhou signed as issuer (`signed.bin`, %d bytes; the certificate ID is the first 16 bytes of their SM3):\n\n```\n", len(signedBytes))
	fmt.Fprintf(&b, "bytes \"%s\" || bytes issued_by || u64 %d || bytes entry (%d) || bytes tlog_proof (%d)\n", Format, c.IssuedAt.UnixMilli(), len(c.EntryBytes), len(c.TlogProof()))
	fmt.Fprintf(&b, "|| bytes \"%s\" || u64 %d || bytes platform_key (%d)\n", c.Platform.Court, c.Platform.RegisteredAt.UnixMilli(), len(c.Platform.Key.MarshalPKIX()))
	sum := sm3.Sum(signedBytes)
	fmt.Fprintf(&b, "SM3(signed.bin)                   = %x\n```\n\n", sum[:])
	fmt.Fprintf(&b, "The issuer's signature (`issuer_sig.der`, hex), key ID `%08x`:\n\n```\n%s\n```\n\n", c.IssuerKeyID, hex.EncodeToString(c.IssuerSignature))
	fmt.Fprintf(&b, "The submission the platform signed (`submission.bin`, %d bytes, version %d) and its signature (`platform_sig.der`, hex), checked with `platform_key`:\n\n```\n%s\n```\n\n",
		len(sub), c.Entry.Submission.Version(), hex.EncodeToString(c.Entry.Signature))
	fmt.Fprintf(&b, "The file at hand, `evidence.txt` (%d bytes): `%s`\n\n", len(file), strings.TrimSuffix(string(file), "\n")+`\n`)
	fmt.Fprintf(&b, "```\n")
	fmt.Fprintf(&b, "SM3(evidence.txt)                 = %x\n", fileSum[:])
	fmt.Fprintf(&b, "fingerprint in the entry          = %x\n", c.Entry.Submission.Fingerprint[:])
	fmt.Fprintf(&b, "entry                             = %d bytes, index %d, court %s\n", len(c.EntryBytes), c.Entry.Index, c.Entry.Court)
	fmt.Fprintf(&b, "leaf    = SM3(00 || entry)        = %x\n", leaf)
	// Index 1 of 3: the proof is [leaf 0, leaf 2].
	if c.Entry.Index != 1 || c.Head.Size != 3 || len(c.Proof) != 2 {
		t.Fatalf("the walk below is written for index 1 of 3, got %d of %d", c.Entry.Index, c.Head.Size)
	}
	n01 := h([]byte{1}, c.Proof[0], leaf)
	root := h([]byte{1}, n01, c.Proof[1])
	fmt.Fprintf(&b, "proof[0] (leaf 0)                 = %x\n", c.Proof[0])
	fmt.Fprintf(&b, "step 1  = SM3(01 || proof[0] || leaf) = %x\n", n01)
	fmt.Fprintf(&b, "proof[1] (leaf 2)                 = %x\n", c.Proof[1])
	fmt.Fprintf(&b, "step 2  = SM3(01 || step 1 || proof[1]) = %x\n", root)
	fmt.Fprintf(&b, "root in the signed head           = %x\n", c.Head.Root)
	fmt.Fprintf(&b, "```\n")
	if !bytes.Equal(root, c.Head.Root) || fileSum != c.Entry.Submission.Fingerprint {
		t.Fatal("the walk by hand does not reach the signed root")
	}
	sigs, _ := checkpoint.Signatures(c.SignedHead)
	text, _, _ := bytes.Cut(c.SignedHead, []byte("\n\n"))
	fmt.Fprintf(&b, "\nThe note text the court signed (`note.txt`, %d bytes with its final newline):\n\n```\n%s\n```\n\n", len(text)+1, text)
	for _, s := range sigs {
		switch s.Name {
		case hangzhou:
			fmt.Fprintf(&b, "Hangzhou's signature line: key ID `%08x`, then the DER signature (`court_sig.der`, hex):\n\n```\n%s\n```\n\n", s.KeyID, hex.EncodeToString(s.Sig))
		case beijing:
			at, _ := checkpoint.CosignedAt(s)
			fmt.Fprintf(&b, "Beijing's cosignature line: key ID `%08x`, time %d (%s), then the DER signature (`witness_sig.der`, hex):\n\n```\n%s\n```\n",
				s.KeyID, at.Unix(), at.Format(time.RFC3339), hex.EncodeToString(s.Sig[8:]))
		}
	}
	return b.String()
}

// docScript is the document's ```python block.
func docScript(t *testing.T, doc []byte) []byte {
	t.Helper()
	_, after, ok := bytes.Cut(doc, []byte("```python\n"))
	script, _, ok2 := bytes.Cut(after, []byte("```\n"))
	if !ok || !ok2 {
		t.Fatalf("%s has no ```python block", byHandDoc)
	}
	return script
}

// needPythonAndOpenSSL is python3's path; without python3 or openssl the
// test is skipped (CI installs both: .ci/run).
func needPythonAndOpenSSL(t *testing.T) string {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: the document's script is not run")
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed: the document's script is not run")
	}
	return python
}

// runDocScript runs the script given in the document on the example: VALID
// for evidence.txt, TAMPERED for a changed copy, INVALID PROOF for a
// certificate with one proof byte changed.
func runDocScript(t *testing.T, doc []byte, certPath string, file []byte) {
	t.Helper()
	script := docScript(t, doc)
	python := needPythonAndOpenSSL(t)
	dir := t.TempDir()
	scriptPath := filepath.Join(dir, "verify_certificate.py")
	os.WriteFile(scriptPath, script, 0o755)
	changed := filepath.Join(dir, "changed.txt")
	os.WriteFile(changed, append([]byte("L"), file[1:]...), 0o644)
	certJSON, _ := os.ReadFile(certPath)
	badProof := filepath.Join(dir, "bad-proof.json")
	i := bytes.Index(certJSON, []byte(`\nindex 1\n`)) + len(`\nindex 1\n`)
	bad := bytes.Clone(certJSON)
	// A base64 digit of proof[0] changed to another: another hash.
	if bad[i+3] == 'A' {
		bad[i+3] = 'B'
	} else {
		bad[i+3] = 'A'
	}
	os.WriteFile(badProof, bad, 0o644)
	truncated := filepath.Join(dir, "truncated.json")
	os.WriteFile(truncated, certJSON[:len(certJSON)/2], 0o644)
	trust := filepath.Join(byHandDir, "trust.txt")
	evidenceTxt := filepath.Join(byHandDir, "evidence.txt")
	// After a key rotation the trust file lists the court's next key too.
	trustBytes, err := os.ReadFile(trust)
	if err != nil {
		t.Fatal(err)
	}
	rotated := filepath.Join(dir, "rotated-trust.txt")
	os.WriteFile(rotated, append([]byte(mustVerifier(t, hangzhou).String()+"\n"), trustBytes...), 0o644)
	// issued_at moved back, the certificate ID recomputed: the issuer's
	// signature no longer holds.
	backdated := filepath.Join(dir, "backdated.json")
	{
		c, err := Unmarshal(certJSON)
		if err != nil {
			t.Fatal(err)
		}
		c.IssuedAt = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		c.ID = c.computeID()
		os.WriteFile(backdated, c.Marshal(), 0o644)
	}
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{certPath, trust, evidenceTxt}, 0, "VALID: evidence "},
		{[]string{certPath, trust, evidenceTxt}, 0, "issued by " + hangzhou + " at 2026-11-25T10:00:00.125Z (signed by the issuer)"},
		{[]string{certPath, trust, evidenceTxt}, 0, "platform esign.example's key registered at " + hangzhou},
		{[]string{backdated, trust, evidenceTxt}, 6, "INVALID PROOF: the issuer's signature"},
		{[]string{filepath.Join(byHandDir, "cert_v1.json"), trust, evidenceTxt}, 0, "(unverified: version 1 certificates are not signed)"},
		{[]string{certPath, rotated, evidenceTxt}, 0, "VALID: evidence "},
		{[]string{certPath, trust, changed}, 4, "TAMPERED: "},
		{[]string{badProof, trust}, 6, "INVALID PROOF: "},
		{[]string{truncated, trust}, 7, "MALFORMED: "},
	} {
		out, err := exec.Command(python, append([]string{scriptPath}, tc.args...)...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || !strings.Contains(string(out), tc.out) {
			t.Errorf("script %v: exit %d, want %d with %q:\n%s", tc.args, code, tc.code, tc.out, out)
		}
	}
}

// TestVerifyByHandEveryByte runs the document's script on every single-byte
// change of the example certificate (each byte XORed with 0x01, 0x20 and
// 0x80: a neighbouring digit or letter, `U` for `T` in a time, the other
// case, a non-ASCII byte) and wants a verdict for each, never a traceback,
// and never VALID unless the change is provably harmless: the JSON decodes
// to the same members (white space), or the change is to issuer_key_id and
// the script then reports the issuer unverified (a key the trust file does
// not hold proves nothing about the issuer, and the verdict on the entry
// does not depend on it: check 6 of the document, as evidencectl does).
func TestVerifyByHandEveryByte(t *testing.T) {
	doc, err := os.ReadFile(byHandDoc)
	if err != nil {
		t.Fatal(err)
	}
	python := needPythonAndOpenSSL(t)
	dir := t.TempDir()
	scriptPath := filepath.Join(dir, "verify_certificate.py")
	if err := os.WriteFile(scriptPath, docScript(t, doc), 0o755); err != nil {
		t.Fatal(err)
	}
	certPath, _ := filepath.Abs(filepath.Join(byHandDir, "cert.json"))
	trust, _ := filepath.Abs(filepath.Join(byHandDir, "trust.txt"))
	file, _ := filepath.Abs(filepath.Join(byHandDir, "evidence.txt"))
	driver, _ := filepath.Abs("testdata/flips.py")
	certJSON, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	masks := []byte{0x01, 0x20, 0x80}
	cmd := exec.Command(python, driver, scriptPath, certPath, trust, file, "1,32,128")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("flips.py: %v\n%s", err, stderr.String())
	}
	var original map[string]any
	if err := json.Unmarshal(certJSON, &original); err != nil {
		t.Fatal(err)
	}
	kidStart := bytes.Index(certJSON, []byte(`"issuer_key_id": "`)) + len(`"issuer_key_id": "`)
	verdicts := map[int]string{0: "VALID: ", 5: "UNTRUSTED: ", 6: "INVALID PROOF: ", 7: "MALFORMED: "}
	n, counts := 0, map[int]int{}
	for line := range strings.Lines(string(out)) {
		var r struct {
			Pos, Mask int
			Code      *int
			Out       string
			Traceback string
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("flips.py printed %q: %v", line, err)
		}
		n++
		mutated := bytes.Clone(certJSON)
		mutated[r.Pos] ^= byte(r.Mask)
		what := fmt.Sprintf("byte %d %q XOR %#x (%q)", r.Pos, certJSON[r.Pos], r.Mask, mutated[max(0, r.Pos-12):min(len(mutated), r.Pos+12)])
		if r.Traceback != "" || r.Code == nil {
			t.Errorf("%s: a traceback, not a verdict:\n%s", what, r.Traceback)
			continue
		}
		code := *r.Code
		counts[code]++
		lines := strings.Split(strings.TrimSpace(r.Out), "\n")
		if want, ok := verdicts[code]; !ok || !strings.HasPrefix(lines[len(lines)-1], want) {
			t.Errorf("%s: exit %d, want a verdict line for a changed certificate:\n%s", what, code, r.Out)
			continue
		}
		if code != 0 {
			continue
		}
		var m map[string]any
		sameJSON := json.Unmarshal(mutated, &m) == nil && reflect.DeepEqual(m, original)
		inKeyID := r.Pos >= kidStart && r.Pos < kidStart+8
		downgraded := strings.Contains(r.Out, "(unverified: key ") && !strings.Contains(r.Out, "(signed by the issuer)") && !strings.Contains(r.Out, "its signature verifies")
		if !sameJSON && !(inKeyID && downgraded) {
			t.Errorf("%s: still VALID:\n%s", what, r.Out)
		}
	}
	if want := len(certJSON) * len(masks); n != want {
		t.Fatalf("flips.py reported %d changes, want %d:\n%s", n, want, stderr.String())
	}
	t.Logf("%d single-byte changes: %d VALID (issuer unverified or white space), %d UNTRUSTED, %d INVALID PROOF, %d MALFORMED",
		n, counts[0], counts[5], counts[6], counts[7])
}
