package evidence

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
)

// The worked example of docs/formats.md is generated and checked here, so the
// document cannot drift from the code. Keys were made with
// `openssl genpkey -algorithm SM2`; SM2 signatures are randomized, so they are
// made once and stored. Regenerate everything with
//
//	go test ./evidence -run TestWorkedExample -update
var update = flag.Bool("update", false, "regenerate the worked example's signatures and dump")

const (
	wexDir   = "testdata/worked_example"
	wexCourt = "hangzhou.court.example/evidence"
)

// wexSubmissions are the example's two submissions in the given version of
// the encoding: version 2 names the court, version 1 (kept documented for
// entries recorded before it) does not.
func wexSubmissions(version int) []Submission {
	court := wexCourt
	if version == 1 {
		court = ""
	}
	signedAt := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	return []Submission{{
		Court:       court,
		Platform:    "esign.example",
		RequestID:   "req-0001",
		Fingerprint: sm3.Sum([]byte("abc")),
		Category:    CategoryContract,
		Title:       "房屋租赁合同",
		Metadata:    map[string]string{"contract_no": "HZ-2026-001", "parties": "2"},
		SignedAt:    signedAt,
	}, {
		Platform:    "esign.example",
		RequestID:   "req-0002",
		Court:       court,
		Fingerprint: sm3.Sum([]byte("abcd")),
		Category:    CategoryChat,
		Title:       "chat log",
		SignedAt:    signedAt.Add(1500 * time.Millisecond),
	}}
}

func wexAcceptedAt(i int) time.Time {
	return time.Date(2026, 11, 25, 8, 0, 3, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
}

var wexHeadTime = time.Date(2026, 11, 25, 8, 0, 3, 250_000_000, time.UTC)

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(wexDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(wexDir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// wexName is the name of one of the example's files: version 1's keep their
// first names, version 2's carry a "_v2" before the extension.
func wexName(version int, name string) string {
	if version == 1 {
		return name
	}
	ext := filepath.Ext(name)
	return strings.TrimSuffix(name, ext) + "_v2" + ext
}

func TestWorkedExample(t *testing.T) {
	for _, version := range []int{1, 2} {
		t.Run(fmt.Sprintf("version %d", version), func(t *testing.T) { testWorkedExample(t, version) })
	}
}

func testWorkedExample(t *testing.T, version int) {
	platformKey, err := sm2.ParsePrivateKeyPEM(readFile(t, "platform_key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	platformPub, err := sm2.ParsePublicKeyPEM(readFile(t, "platform_pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	courtKey, err := sm2.ParsePrivateKeyPEM(readFile(t, "court_key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	courtSigner, err := checkpoint.NewSigner(wexCourt, courtKey)
	if err != nil {
		t.Fatal(err)
	}

	subs := wexSubmissions(version)
	store := merkle.NewMemStore()
	var entries []Entry
	for i := range subs {
		name := wexName(version, fmt.Sprintf("submission_%d.sig", i))
		if *update {
			// Sign refuses version 1, which courts no longer accept; the
			// example of it is signed as its clients did.
			sig, err := platformKey.Sign(subs[i].Marshal())
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, name, sig)
		}
		sig := readFile(t, name)
		if err := VerifySignature(&subs[i], sig, platformPub); err != nil {
			t.Fatalf("stored signature %d: %v", i, err)
		}
		e := NewEntry(wexCourt, uint64(i), wexAcceptedAt(i), subs[i], sig)
		entries = append(entries, e)
		store.AppendLeaf(e.Marshal())
	}

	head := checkpoint.TreeHead{Origin: wexCourt, Size: store.Size(), Root: store.Root(), Time: wexHeadTime}
	if *update {
		signed, err := checkpoint.Sign(head, courtSigner)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, wexName(version, "head.note"), signed)
	}
	signedHead := readFile(t, wexName(version, "head.note"))
	if _, _, err := checkpoint.Open(signedHead, courtSigner.Verifier()); err != nil {
		t.Fatalf("stored head: %v", err)
	}

	proof, err := merkle.Inclusion(context.Background(), store, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	r := Receipt{Entry: entries[1], Proof: proof, SignedHead: signedHead}
	if _, err := r.Verify(courtSigner.Verifier()); err != nil {
		t.Fatalf("receipt of the worked example: %v", err)
	}

	dump := wexDump(t, subs[0], entries, signedHead, courtSigner.Verifier())
	if *update {
		writeFile(t, wexName(version, "example.md"), []byte(dump))
	}
	if want := string(readFile(t, wexName(version, "example.md"))); dump != want {
		t.Fatalf("worked example changed; regenerate with -update and update docs/formats.md.\ngot:\n%s", dump)
	}
	doc, err := os.ReadFile("../docs/formats.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, []byte(dump)) {
		t.Fatalf("docs/formats.md does not contain %s/%s verbatim; paste it in", wexDir, wexName(version, "example.md"))
	}
	wexOpenSSL(t, subs[0].Marshal(), readFile(t, wexName(version, "submission_0.sig")), signedHead)
}

// field is one annotated row of the dump, encoded here by hand from the
// layout in doc.go rather than through the package's encoder.
type field struct{ name, hex string }

func lp(name string, b []byte) field {
	return field{name, hex.EncodeToString(binary.BigEndian.AppendUint32(nil, uint32(len(b)))) + " " + hex.EncodeToString(b)}
}

func u64f(name string, v uint64) field {
	return field{name, hex.EncodeToString(binary.BigEndian.AppendUint64(nil, v))}
}

func joinHex(fields []field) string {
	var b strings.Builder
	for _, f := range fields {
		b.WriteString(strings.ReplaceAll(f.hex, " ", ""))
	}
	return b.String()
}

func table(fields []field) string {
	var b strings.Builder
	for _, f := range fields {
		fmt.Fprintf(&b, "%-28s %s\n", f.name, f.hex)
	}
	return b.String()
}

func submissionFields(s Submission) []field {
	head := []field{lp("tag", []byte("evidence-submission/v1"))}
	if s.Court != "" {
		head = []field{lp("tag", []byte("evidence-submission/v2")), lp("court", []byte(s.Court))}
	}
	return append(head, []field{
		lp("platform", []byte(s.Platform)),
		lp("request ID", []byte(s.RequestID)),
		lp("fingerprint", s.Fingerprint[:]),
		lp("category", []byte(s.Category)),
		lp("title", []byte(s.Title)),
		{"metadata count", "00000002"},
		lp("key", []byte("contract_no")),
		lp("value", []byte(s.Metadata["contract_no"])),
		lp("key", []byte("parties")),
		lp("value", []byte(s.Metadata["parties"])),
		u64f("signed-at (ms)", uint64(s.SignedAt.UnixMilli())),
	}...)
}

func wexDump(t *testing.T, s Submission, entries []Entry, signedHead []byte, v *checkpoint.Verifier) string {
	t.Helper()
	sf := submissionFields(s)
	subHex := joinHex(sf)
	if got := hex.EncodeToString(s.Marshal()); got != subHex {
		t.Fatalf("Marshal differs from the documented layout:\n got %s\nwant %s", got, subHex)
	}
	e := entries[0]
	subBytes, _ := hex.DecodeString(subHex)
	ef := []field{
		lp("tag", []byte("evidence-entry/v1")),
		lp("court", []byte(e.Court)),
		u64f("index", e.Index),
		lp("evidence ID", []byte(e.EvidenceID)),
		u64f("accepted-at (ms)", uint64(e.AcceptedAt.UnixMilli())),
		{"submission", fmt.Sprintf("%08x <the %d submission bytes above>", len(subBytes), len(subBytes))},
		lp("signature", e.Signature),
	}
	entryHex := joinHex(ef[:5]) + fmt.Sprintf("%08x", len(subBytes)) + subHex + joinHex(ef[6:])
	if got := hex.EncodeToString(e.Marshal()); got != entryHex {
		t.Fatalf("entry Marshal differs from the documented layout:\n got %s\nwant %s", got, entryHex)
	}
	idInput := joinHex([]field{lp("", []byte("evidence-id/v1")), lp("", []byte(e.Court)),
		lp("", []byte(s.Platform)), lp("", []byte(s.RequestID))})
	idIn, _ := hex.DecodeString(idInput)
	idSum := sm3.Sum(idIn)
	if hex.EncodeToString(idSum[:16]) != e.EvidenceID {
		t.Fatalf("evidence ID %s differs from the documented derivation", e.EvidenceID)
	}
	entryBytes, _ := hex.DecodeString(entryHex)
	leaf0 := sm3.Sum(append([]byte{0}, entryBytes...))
	leaf1 := sm3.Sum(append([]byte{0}, entries[1].Marshal()...))
	root := sm3.Sum(append(append([]byte{1}, leaf0[:]...), leaf1[:]...))

	var b strings.Builder
	fmt.Fprintf(&b, "Submission 0 (%d bytes), as the platform signs it:\n\n```\n%s```\n\n", len(subBytes), table(sf))
	fmt.Fprintf(&b, "Its hex, in one line:\n\n```\n%s\n```\n\n", subHex)
	fmt.Fprintf(&b, "The platform's SM2 signature over those bytes (DER, hex):\n\n```\n%s\n```\n\n", hex.EncodeToString(e.Signature))
	fmt.Fprintf(&b, "Evidence ID: SM3 of\n\n```\n%s\n```\n\nfirst 16 bytes, hex: `%s`.\n\n", idInput, e.EvidenceID)
	fmt.Fprintf(&b, "Entry 0 (%d bytes), the data of leaf 0:\n\n```\n%s```\n\n", len(entryBytes), table(ef))
	fmt.Fprintf(&b, "Its hex, in one line:\n\n```\n%s\n```\n\n", entryHex)
	fmt.Fprintf(&b, "Leaf hashes and root of the two-entry log:\n\n```\n")
	fmt.Fprintf(&b, "leaf 0 = SM3(00 || entry 0)        = %x\n", leaf0)
	fmt.Fprintf(&b, "leaf 1 = SM3(00 || entry 1)        = %x\n", leaf1)
	fmt.Fprintf(&b, "root   = SM3(01 || leaf 0 || leaf 1) = %x\n```\n\n", root)
	fmt.Fprintf(&b, "The inclusion proof of entry 1 in the tree of size 2 is `[leaf 0]`.\n\n")
	fmt.Fprintf(&b, "The court's signed tree head (a C2SP signed note):\n\n```\n%s```\n\n", signedHead)
	fmt.Fprintf(&b, "The court's verifier key:\n\n```\n%s\n```\n", v.String())
	if base64.StdEncoding.EncodeToString(root[:]) != strings.Split(string(signedHead), "\n")[2] {
		t.Fatal("signed head's root differs from the computed root")
	}
	return b.String()
}

// wexOpenSSL has OpenSSL 3 check the example's two signatures, as a third
// party without our code would.
func wexOpenSSL(t *testing.T, sub, subSig, signedHead []byte) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Log("openssl not installed: skipping the third-party check of the worked example")
		return
	}
	dir := t.TempDir()
	text, sigLine, _ := bytes.Cut(signedHead, []byte("\n\n"))
	text = append(text, '\n')
	_, b64, _ := strings.Cut(strings.TrimSpace(string(sigLine)), " "+wexCourt+" ")
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, pub string
		msg, sig  []byte
	}{
		{"submission", "platform_pub.pem", sub, subSig},
		{"tree head", "court_pub.pem", text, raw[4:]},
	} {
		msg, sig := filepath.Join(dir, "msg"), filepath.Join(dir, "sig")
		if err := os.WriteFile(msg, c.msg, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(sig, c.sig, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("openssl", "pkeyutl", "-verify", "-rawin", "-digest", "sm3",
			"-pubin", "-inkey", filepath.Join(wexDir, c.pub), "-in", msg, "-sigfile", sig,
			"-pkeyopt", "distid:1234567812345678").CombinedOutput()
		if err != nil {
			t.Fatalf("openssl rejects the worked example's %s signature: %v\n%s", c.name, err, out)
		}
	}
}
