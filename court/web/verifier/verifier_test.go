package main

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/checkpoint"
	"github.com/courtledger/courtledger/crypto/merkle"
	"github.com/courtledger/courtledger/crypto/sm2"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence"
	"github.com/courtledger/courtledger/evidence/certificate"
	"github.com/courtledger/courtledger/evidence/certpdf"
	"github.com/courtledger/courtledger/evidence/certpdf/attach"
)

// The tests here build the verifier for js/wasm and run it under Node.js,
// as the web page runs it in a browser: each answer must be, byte for
// byte, what `evidencectl cert verify --json` prints for the same input
// (attach.VerifyInput, then Result.JSON, in Go).

const (
	hangzhou = "hangzhou.court.example/evidence"
	beijing  = "beijing.court.example/evidence"
)

// driverJS loads wasm_exec.js and the verifier as a page does, without
// Node's file system (a browser has none), then makes each call of the
// corpus and prints the answers as JSON. An argument is given as
// {"bytes": base64} (a Uint8Array), {"buffer": base64} (an ArrayBuffer),
// {"zeros": n} (a Uint8Array of n zero bytes), {"repeat": s, "times": n}
// (a string) or {"value": v} (v itself).
const driverJS = `"use strict";
const fs = require("fs");
const [wasmExec, wasmFile, corpusFile] = process.argv.slice(2);
require(wasmExec);
const arg = (a) => {
  if ("bytes" in a) return new Uint8Array(Buffer.from(a.bytes, "base64"));
  if ("buffer" in a) { const b = Buffer.from(a.buffer, "base64"); return b.buffer.slice(b.byteOffset, b.byteOffset + b.length); }
  if ("zeros" in a) return new Uint8Array(a.zeros);
  if ("repeat" in a) return a.repeat.repeat(a.times);
  return a.value;
};
(async () => {
  const corpus = JSON.parse(fs.readFileSync(corpusFile, "utf8"));
  const wasm = fs.readFileSync(wasmFile);
  const t0 = performance.now();
  const go = new Go();
  const { instance } = await WebAssembly.instantiate(wasm, go.importObject);
  go.run(instance);
  if (globalThis.courtledgerVerifierReady !== true) throw new Error("courtledgerVerifierReady is not set after go.run");
  const ready = performance.now();
  const out = { instantiate_ms: ready - t0, answers: [] };
  for (const c of corpus) {
    const args = c.args.map(arg);
    const s = performance.now();
    const answer = globalThis[c.fn || "courtledgerVerifyCertificate"](...args);
    out.answers.push({ name: c.name, answer, type: typeof answer, ms: performance.now() - s });
  }
  process.stdout.write(JSON.stringify(out));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
`

// fixture is a certificate of entry 1 of a two-entry log at Hangzhou,
// cosigned by Beijing, with the trust file of both courts' keys.
type fixture struct {
	cert, pdf   []byte
	file        []byte
	trust       string // Hangzhou and Beijing
	trustNoHZ   string // Beijing only
	fingerprint string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	at := time.Date(2026, 11, 25, 8, 0, 3, 0, time.UTC)
	hzKey, _ := sm2.GenerateKey()
	hz, err := checkpoint.NewSigner(hangzhou, hzKey)
	if err != nil {
		t.Fatal(err)
	}
	bjKey, _ := sm2.GenerateKey()
	bj, err := checkpoint.NewCosigner(beijing, bjKey, func() time.Time { return at.Add(time.Minute) })
	if err != nil {
		t.Fatal(err)
	}
	bjVerifier, _ := checkpoint.NewVerifier(beijing, bjKey.Public())
	platform, _ := sm2.GenerateKey()
	store := merkle.NewMemStore()
	var entries, files [][]byte
	for i := 0; i < 2; i++ {
		file := []byte(fmt.Sprintf("租赁合同 %d, signed by both parties", i))
		s := evidence.Submission{Court: hangzhou, Platform: "esign.example", RequestID: fmt.Sprintf("req-%d", i),
			Fingerprint: sm3.Sum(file), Category: evidence.CategoryContract,
			Title: "房屋租赁合同 Lease No. 7 <西湖区>", SignedAt: at.Add(-time.Minute)}
		sig, err := platform.Sign(s.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		e := evidence.NewEntry(hangzhou, uint64(i), at, s, sig)
		entries, files = append(entries, e.Marshal()), append(files, file)
		store.AppendLeaf(entries[i])
	}
	signed, err := checkpoint.Sign(checkpoint.TreeHead{Origin: hangzhou, Size: 2, Root: store.Root(), Time: at}, hz)
	if err != nil {
		t.Fatal(err)
	}
	line, err := checkpoint.Cosign(signed, bj)
	if err != nil {
		t.Fatal(err)
	}
	if signed, err = checkpoint.WithSignatures(signed, line); err != nil {
		t.Fatal(err)
	}
	proof, err := merkle.Inclusion(context.Background(), store, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	c, err := certificate.Issue(certificate.Input{Entry: entries[1], Index: 1, Proof: proof, SignedHead: signed,
		IssuedBy: hangzhou, IssuedAt: at.Add(time.Hour), Signer: hzKey})
	if err != nil {
		t.Fatal(err)
	}
	fp := sm3.Sum(files[1])
	return fixture{
		cert: c.Marshal(), pdf: renderPDF(t, c), file: files[1],
		trust:       "# courts\ntrust line: " + hz.Verifier().String() + "\n" + bjVerifier.String() + "\n",
		trustNoHZ:   bjVerifier.String() + "\n",
		fingerprint: fmt.Sprintf("%x", fp[:]),
	}
}

// renderPDF renders a certificate as certpdf does for a court.
func renderPDF(t *testing.T, c *certificate.Certificate) []byte {
	t.Helper()
	r, err := certpdf.New(certpdf.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var pdf bytes.Buffer
	if err := r.Render(&pdf, c); err != nil {
		t.Fatal(err)
	}
	return pdf.Bytes()
}

// withAttachment is a certificate PDF with its attached JSON replaced by
// certJSON (certpdf renders only certificates that decode, which an edited
// one does not), deflated as certpdf attaches it.
func withAttachment(t *testing.T, pdf, certJSON []byte) []byte {
	t.Helper()
	i := bytes.Index(pdf, []byte("/Type /EmbeddedFile"))
	s := i + bytes.Index(pdf[i:], []byte("stream\n"))
	dict := pdf[i:s]
	m := regexp.MustCompile(`/Length (\d+)`).FindSubmatchIndex(dict)
	if i < 0 || s < i || m == nil || !bytes.Contains(dict, []byte("/FlateDecode")) {
		t.Fatal("the PDF has no deflated attachment where certpdf puts it")
	}
	n, _ := strconv.Atoi(string(dict[m[2]:m[3]]))
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(certJSON)
	w.Close()
	var out bytes.Buffer
	out.Write(pdf[:i+m[2]])
	fmt.Fprint(&out, z.Len())
	out.Write(pdf[i+m[3] : s+len("stream\n")])
	out.Write(z.Bytes())
	out.Write(pdf[s+len("stream\n")+n:])
	return out.Bytes()
}

// member returns a string member of a certificate's JSON and a function
// that gives the JSON with that member replaced, every other byte kept.
func member(t *testing.T, cert []byte, name string) (string, func(string) []byte) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(cert, &m); err != nil {
		t.Fatal(err)
	}
	old, _ := m[name].(string)
	enc := func(s string) []byte {
		var b bytes.Buffer
		e := json.NewEncoder(&b)
		e.SetEscapeHTML(false)
		e.Encode(s)
		return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	}
	if bytes.Count(cert, enc(old)) != 1 {
		t.Fatalf("member %s is not found once, as encoded, in the certificate", name)
	}
	return old, func(s string) []byte { return bytes.Replace(cert, enc(old), enc(s), 1) }
}

// flipBase64 decodes b64, applies change and encodes it again.
func flipBase64(t *testing.T, b64 string, change func([]byte)) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	change(raw)
	return base64.StdEncoding.EncodeToString(raw)
}

// tampered returns the certificate with one byte changed in the entry's
// title, in an inclusion proof hash, and in the court's signature.
func tampered(t *testing.T, cert []byte) (title, proof, signature []byte) {
	t.Helper()
	entry, setEntry := member(t, cert, "entry")
	title = setEntry(flipBase64(t, entry, func(b []byte) {
		i := bytes.Index(b, []byte("Lease"))
		if i < 0 {
			t.Fatal("no title in the entry")
		}
		b[i] = 'M'
	}))
	tp, setProof := member(t, cert, "tlog_proof")
	lines := strings.Split(tp, "\n")
	// c2sp.org/tlog-proof@v1, index N, then the proof's hashes.
	lines[2] = flipBase64(t, lines[2], func(b []byte) { b[7] ^= 0x20 })
	proof = setProof(strings.Join(lines, "\n"))
	lines = strings.Split(tp, "\n")
	for i, l := range lines {
		if sig, ok := strings.CutPrefix(l, "— "+hangzhou+" "); ok {
			// Past the 4-byte key ID, so the key still matches.
			lines[i] = "— " + hangzhou + " " + flipBase64(t, sig, func(b []byte) { b[len(b)-5] ^= 0x01 })
			signature = setProof(strings.Join(lines, "\n"))
		}
	}
	if signature == nil {
		t.Fatal("no signature line of Hangzhou in the tlog proof")
	}
	return title, proof, signature
}

type call struct {
	Name string `json:"name"`
	Args []any  `json:"args"`
	Fn   string `json:"fn,omitempty"` // the global called; courtledgerVerifyCertificate if ""
}

type answers struct {
	InstantiateMS float64 `json:"instantiate_ms"`
	Answers       []struct {
		Name   string  `json:"name"`
		Answer string  `json:"answer"`
		Type   string  `json:"type"`
		MS     float64 `json:"ms"`
	} `json:"answers"`
}

func bytesArg(b []byte) any { return map[string]any{"bytes": base64.StdEncoding.EncodeToString(b)} }
func value(v any) any       { return map[string]any{"value": v} }

// runWasm builds the verifier, runs the calls under Node.js and returns
// the answers by name.
func runWasm(t *testing.T, calls []call) answers {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node (Node.js) is not installed: the web page's verifier is tested under it; .ci/run installs it (Debian package nodejs: apt-get install nodejs)")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("the go command is not on PATH: it builds the verifier for js/wasm")
	}
	dir := t.TempDir()
	wasm := filepath.Join(dir, "verifier.wasm")
	// The flags of court/web/generate.sh.
	build := exec.Command(goTool, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", wasm, ".")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the verifier for js/wasm: %v\n%s", err, out)
	}
	goroot, err := exec.Command(goTool, "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	wasmExec := filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js")
	corpus, _ := json.Marshal(calls)
	for name, data := range map[string][]byte{"driver.js": []byte(driverJS), "corpus.json": corpus} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "driver.js"), wasmExec, wasm, filepath.Join(dir, "corpus.json"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.Bytes())
	}
	var a answers
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatalf("the driver's output: %v\n%s", err, out)
	}
	if len(a.Answers) != len(calls) {
		t.Fatalf("%d answers to %d calls", len(a.Answers), len(calls))
	}
	for i, ans := range a.Answers {
		if ans.Name != calls[i].Name || ans.Type != "string" {
			t.Fatalf("answer %d: %q of type %s, want a string for %q", i, ans.Name, ans.Type, calls[i].Name)
		}
	}
	return a
}

// TestWasmAgreesWithCLI feeds the WebAssembly verifier and the Go one
// (attach.VerifyInput, which `evidencectl cert verify` calls) the same good
// and bad certificates, as JSON and as PDF, and compares their JSON byte
// for byte and the verdict with the one expected.
func TestWasmAgreesWithCLI(t *testing.T) {
	f := newFixture(t)
	title, proof, signature := tampered(t, f.cert)
	wrongFP := fmt.Sprintf("%x", sm3.Sum([]byte("another file")))
	pdfCut := f.pdf[:bytes.Index(f.pdf, []byte("/Type /EmbeddedFile"))+200]
	proofPDF := withAttachment(t, f.pdf, proof)
	type testCase struct {
		name        string
		cert        []byte
		trust, fp   string
		minWitness  int
		wantVerdict string
	}
	cases := []testCase{
		{"good JSON", f.cert, f.trust, "", 0, "VALID"},
		{"good JSON, the right file", f.cert, f.trust, f.fingerprint, 0, "VALID"},
		{"good JSON, the right file in capitals", f.cert, f.trust, strings.ToUpper(f.fingerprint), 0, "VALID"},
		{"good JSON, another file", f.cert, f.trust, wrongFP, 0, "TAMPERED"},
		{"good JSON, one witness required", f.cert, f.trust, f.fingerprint, 1, "VALID"},
		{"good JSON, two witnesses required", f.cert, f.trust, "", 2, "UNTRUSTED"},
		{"good PDF", f.pdf, f.trust, "", 0, "VALID"},
		{"good PDF, the right file", f.pdf, f.trust, f.fingerprint, 0, "VALID"},
		{"good PDF, another file", f.pdf, f.trust, wrongFP, 0, "TAMPERED"},
		{"title changed", title, f.trust, "", 0, "INVALID PROOF"},
		{"proof changed", proof, f.trust, "", 0, "INVALID PROOF"},
		{"signature changed", signature, f.trust, "", 0, "INVALID PROOF"},
		{"PDF carrying the changed proof", proofPDF, f.trust, "", 0, "INVALID PROOF"},
		{"PDF carrying its own certificate, spliced", withAttachment(t, f.pdf, f.cert), f.trust, "", 0, "VALID"},
		{"trust file without the court", f.cert, f.trustNoHZ, "", 0, "UNTRUSTED"},
		{"PDF, trust file without the court", f.pdf, f.trustNoHZ, "", 0, "UNTRUSTED"},
		{"empty trust file", f.cert, "", "", 0, "UNTRUSTED"},
		{"truncated JSON", f.cert[:len(f.cert)/2], f.trust, "", 0, "MALFORMED"},
		{"PDF cut inside its attachment", pdfCut, f.trust, "", 0, "MALFORMED"},
		{"PDF without attachment", []byte("%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"), f.trust, "", 0, "MALFORMED"},
		{"neither JSON nor PDF", []byte("\x89PNG\r\n\x1a\n\x00\x00"), f.trust, "", 0, "MALFORMED"},
		{"empty file", nil, f.trust, "", 0, "MALFORMED"},
	}
	var calls []call
	for _, tc := range cases {
		calls = append(calls, call{Name: tc.name, Args: []any{bytesArg(tc.cert), value(tc.trust), value(tc.fp), value(tc.minWitness)}})
	}
	// The page may hand over file.arrayBuffer() as it is.
	calls = append(calls, call{Name: "good PDF as an ArrayBuffer", Args: []any{map[string]any{"buffer": base64.StdEncoding.EncodeToString(f.pdf)}, value(f.trust), value(""), value(0)}})
	a := runWasm(t, calls)

	goodPDF := slices.IndexFunc(cases, func(c testCase) bool { return c.name == "good PDF" })
	for i, tc := range append(cases, cases[goodPDF]) /* the ArrayBuffer */ {
		trust, err := certificate.ParseTrustFile([]byte(tc.trust))
		if err != nil {
			t.Fatal(err)
		}
		v, err := certificate.NewVerifier(certificate.VerifierConfig{Trust: trust})
		if err != nil {
			t.Fatal(err)
		}
		p := certificate.Policy{MinWitnesses: tc.minWitness}
		if tc.fp != "" {
			fp, err := evidence.ParseFingerprint(tc.fp)
			if err != nil {
				t.Fatal(err)
			}
			p.Fingerprint = &fp
		}
		want := string(attach.VerifyInput(v, tc.cert, p).JSON())
		got := a.Answers[i]
		if got.Answer != want {
			t.Errorf("%s: the wasm answered\n%s\nGo (evidencectl cert verify --json) gives\n%s", got.Name, got.Answer, want)
			continue
		}
		var r struct{ Verdict, Reason string }
		json.Unmarshal([]byte(got.Answer), &r)
		if r.Verdict != tc.wantVerdict {
			t.Errorf("%s: %s (%s), want %s", got.Name, r.Verdict, r.Reason, tc.wantVerdict)
		}
		t.Logf("%s: %s: %s", got.Name, r.Verdict, r.Reason)
	}
	t.Logf("node: instantiate %.0f ms; first verification (JSON) %.1f ms, PDF %.1f ms",
		a.InstantiateMS, a.Answers[0].MS, a.Answers[goodPDF].MS)
}

// TestWasmRefusesBadArguments: an argument the verifier cannot use gets
// {"error": ...} naming it and what to give, and the verifier keeps
// answering afterwards.
func TestWasmRefusesBadArguments(t *testing.T) {
	f := newFixture(t)
	good := []any{bytesArg(f.cert), value(f.trust), value(""), value(0)}
	with := func(i int, v any) []any { a := append([]any(nil), good...); a[i] = v; return a }
	cases := []struct {
		name string
		args []any
		want string
	}{
		{"three arguments", good[:3], "takes 4 arguments (cert, trust, fingerprint, minWitnesses), got 3"},
		{"cert as text", with(0, value(string(f.cert))), "cert: want the certificate file's bytes as a Uint8Array"},
		{"cert missing", with(0, value(nil)), "cert: want the certificate file's bytes as a Uint8Array (new Uint8Array(await file.arrayBuffer())), got null"},
		{"cert over 16 MiB", with(0, map[string]any{"zeros": 16<<20 + 1}), "cert: 16777217 bytes is more than the 16 MiB"},
		{"trust as bytes", with(1, bytesArg([]byte(f.trust))), "trust: want the trust file's text as a string, got a Uint8Array"},
		{"trust over 1 MiB", with(1, map[string]any{"repeat": "#", "times": 1<<20 + 1}), "trust: more than 1 MiB"},
		{"trust with a bad line", with(1, value(f.trust+"hangzhou.court.example/evidence+1234\n")), "trust file: line 4 is not a court key"},
		{"fingerprint too short", with(2, value("abc")), "fingerprint: "},
		{"fingerprint not hex", with(2, value(strings.Repeat("g", 64))), "fingerprint: "},
		{"fingerprint as a number", with(2, value(7)), "fingerprint: want the file's SM3 as a string of 64 hex digits"},
		{"minWitnesses negative", with(3, value(-1)), "minWitnesses: want a whole number from 0 to 1000, got -1"},
		{"minWitnesses a fraction", with(3, value(1.5)), "minWitnesses: want a whole number from 0 to 1000, got 1.5"},
		{"minWitnesses as text", with(3, value("2")), "minWitnesses: want a number (0 for none), got a string"},
		{"good, after all that", good, ""},
	}
	var calls []call
	for _, tc := range cases {
		calls = append(calls, call{Name: tc.name, Args: tc.args})
	}
	a := runWasm(t, calls)
	for i, tc := range cases {
		got := a.Answers[i].Answer
		var e struct {
			Error   *string `json:"error"`
			Verdict string  `json:"verdict"`
		}
		if err := json.Unmarshal([]byte(got), &e); err != nil {
			t.Errorf("%s: not JSON: %q", tc.name, got)
			continue
		}
		switch {
		case tc.want == "" && (e.Error != nil || e.Verdict != "VALID"):
			t.Errorf("%s: %s, want VALID", tc.name, got)
		case tc.want != "" && (e.Error == nil || !strings.Contains(*e.Error, tc.want) || e.Verdict != ""):
			t.Errorf("%s: %s, want {\"error\": ...%q...}", tc.name, got, tc.want)
		}
	}
}

// TestVerifierLinksNoFont: the verifier does not link evidence/certpdf,
// whose font and PDF libraries would add 5 MB (2 MB gzipped) to the
// page's download.
func TestVerifierLinksNoFont(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("the go command is not on PATH")
	}
	cmd := exec.Command(goTool, "list", "-deps", ".")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps: %q", out)
	}
	for _, d := range deps {
		if d == "github.com/courtledger/courtledger/evidence/certpdf" || strings.Contains(d, "fpdf") {
			t.Errorf("the verifier links %s", d)
		}
	}
}
