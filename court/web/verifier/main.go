//go:build js && wasm

// Command verifier is the certificate check of the court's web page
// (court/web): the project's own verifier compiled to WebAssembly, so the
// page and `evidencectl cert verify` cannot disagree. Both call
// attach.VerifyInput and print certificate.Result.JSON.
//
// Loaded with wasm_exec.js, it defines three globals and then waits for
// calls (it must keep running: a Go function called from JavaScript needs
// the Go program alive):
//
//	courtledgerVerifierReady = true
//	courtledgerVerifyCertificate(cert, trust, fingerprint, minWitnesses) → string
//	courtledgerReadBundle(bytes) → string
//
// cert is the certificate's JSON or its PDF, as a Uint8Array (or an
// ArrayBuffer); trust is the trust file's text; fingerprint is the file's
// SM3 in 64 hex digits, or "" to check the certificate alone;
// minWitnesses is how many trusted witness courts must have cosigned. The
// answer is the JSON `evidencectl cert verify --json` prints, or, for an
// argument that cannot be used, {"error": "..."} naming it.
//
// courtledgerReadBundle checks a web capture bundle (evidencectl capture)
// as `evidencectl verify BUNDLE` does, with the same code
// (evidence/webcapture/bundle): every file against the manifest. Its
// answer (bundleAnswer) gives the manifest's SM3, the fingerprint the page
// then verifies like a plain file's, what was captured, and the
// screenshot; or the files that differ; or "not_bundle" for any other zip.
//
// A page loads it with the wasm_exec.js generated beside it:
//
//	const go = new Go();
//	const { instance } = await WebAssembly.instantiateStreaming(fetch("verifier.wasm"), go.importObject);
//	go.run(instance); // not awaited: it settles only if the program exits; the globals are set now
//	const result = JSON.parse(courtledgerVerifyCertificate(bytes, trustText, fingerprint, 0));
//
// instantiateStreaming needs the module served as application/wasm, and a
// Content-Security-Policy must allow compiling it: script-src 'self'
// 'wasm-unsafe-eval' (no inline script and no 'unsafe-eval' needed).
//
// court/web/generate.sh builds it into court/web/static/verifier.wasm.
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"syscall/js"

	"github.com/courtledger/courtledger/evidence"
	"github.com/courtledger/courtledger/evidence/certificate"
	"github.com/courtledger/courtledger/evidence/certpdf/attach"
)

// Bounds on what the page may hand over: a certificate's JSON is a few KiB
// and its PDF a few hundred; a trust file is a line per court key.
const (
	maxCert  = 16 << 20
	maxTrust = 1 << 20
	// maxWitnesses is far above any number of courts; it keeps a typo
	// (1e9) from reading as a policy.
	maxWitnesses = 1000
)

func main() {
	js.Global().Set("courtledgerVerifyCertificate", js.FuncOf(verifyCertificate))
	js.Global().Set("courtledgerReadBundle", js.FuncOf(readBundle))
	js.Global().Set("courtledgerVerifierReady", true)
	select {}
}

// verifyCertificate is courtledgerVerifyCertificate.
func verifyCertificate(_ js.Value, args []js.Value) (answer any) {
	defer func() {
		// A panic would kill the Go program and every later call with it;
		// the page gets an error instead and can be reloaded.
		if p := recover(); p != nil {
			answer = errorJSON(fmt.Errorf("the verifier failed: %v", p))
		}
	}()
	in, err := readArgs(args)
	if err != nil {
		return errorJSON(err)
	}
	trust, err := certificate.ParseTrustFile([]byte(in.trust))
	if err != nil {
		return errorJSON(fmt.Errorf("trust file: %w", err))
	}
	v, err := attach.NewVerifier(trust)
	if err != nil {
		return errorJSON(fmt.Errorf("trust file: %w", err))
	}
	return string(attach.VerifyInput(v, in.cert, in.policy).JSON())
}

type input struct {
	cert   []byte
	trust  string
	policy certificate.Policy
}

// readArgs checks the four arguments, each error naming the argument and
// what it must be.
func readArgs(args []js.Value) (input, error) {
	var in input
	if len(args) != 4 {
		return in, fmt.Errorf("courtledgerVerifyCertificate takes 4 arguments (cert, trust, fingerprint, minWitnesses), got %d", len(args))
	}
	cert := args[0]
	if cert.InstanceOf(js.Global().Get("ArrayBuffer")) {
		cert = js.Global().Get("Uint8Array").New(cert)
	}
	if !cert.InstanceOf(js.Global().Get("Uint8Array")) {
		return in, fmt.Errorf("cert: want the certificate file's bytes as a Uint8Array (new Uint8Array(await file.arrayBuffer())), got %s", describe(args[0]))
	}
	// An empty file is no error but MALFORMED, as evidencectl says of it.
	n := cert.Get("length").Int()
	if n > maxCert {
		return in, fmt.Errorf("cert: %d bytes is more than the %d MiB a certificate's JSON or PDF can be: is it the right file?", n, maxCert>>20)
	}
	in.cert = make([]byte, n)
	js.CopyBytesToGo(in.cert, cert)

	if args[1].Type() != js.TypeString {
		return in, fmt.Errorf("trust: want the trust file's text as a string, got %s", describe(args[1]))
	}
	// Bound the string before copying it into Go: its length (in UTF-16
	// units, read through a String object: syscall/js reads no property of
	// a primitive), then its UTF-8 bytes.
	if js.Global().Get("Object").New(args[1]).Get("length").Int() > maxTrust {
		return in, fmt.Errorf("trust: more than %d MiB is not a trust file (one line per court key)", maxTrust>>20)
	}
	in.trust = args[1].String()
	if len(in.trust) > maxTrust {
		return in, fmt.Errorf("trust: more than %d MiB is not a trust file (one line per court key)", maxTrust>>20)
	}

	if args[2].Type() != js.TypeString {
		return in, fmt.Errorf("fingerprint: want the file's SM3 as a string of 64 hex digits, or \"\" to check the certificate alone, got %s", describe(args[2]))
	}
	if s := args[2].String(); s != "" {
		fp, err := evidence.ParseFingerprint(s)
		if err != nil {
			return in, fmt.Errorf("fingerprint: %w: want the file's SM3 in 64 hex digits, or \"\" to check the certificate alone", err)
		}
		in.policy.Fingerprint = &fp
	}

	w := args[3]
	if w.Type() != js.TypeNumber {
		return in, fmt.Errorf("minWitnesses: want a number (0 for none), got %s", describe(w))
	}
	f := w.Float()
	if f != math.Trunc(f) || f < 0 || f > maxWitnesses {
		return in, fmt.Errorf("minWitnesses: want a whole number from 0 to %d, got %v", maxWitnesses, f)
	}
	in.policy.MinWitnesses = int(f)
	return in, nil
}

// describe names a JavaScript value's kind for an error.
func describe(v js.Value) string {
	if v.Type() == js.TypeObject {
		if c := v.Get("constructor"); c.Type() == js.TypeFunction {
			return "a " + c.Get("name").String()
		}
	}
	switch v.Type() {
	case js.TypeUndefined, js.TypeNull:
		return v.Type().String()
	}
	return "a " + v.Type().String()
}

func errorJSON(err error) string {
	b, _ := json.Marshal(map[string]string{"error": err.Error()})
	return string(b)
}
