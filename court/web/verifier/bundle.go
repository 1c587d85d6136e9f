//go:build js && wasm

package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"syscall/js"

	"github.com/courtledger/courtledger/evidence/webcapture/bundle"
)

// Bounds on a capture bundle checked in the page: it is copied whole into
// the verifier's memory (a browser's WebAssembly memory is at most 4 GiB,
// and the page holds a copy too), and its screenshot goes back as a data
// URL. A larger bundle is for `evidencectl verify`.
const (
	MaxBundle     = 512 << 20
	maxScreenshot = 64 << 20
)

// bundleAnswer is courtledgerReadBundle's answer.
type bundleAnswer struct {
	// Kind: "bundle" (every file matches the manifest), "mismatch" (files
	// changed, missing or added: TAMPERED), "malformed" (a zip with a
	// manifest that cannot be read as a bundle) or "not_bundle" (any
	// other file: verify it as it is).
	Kind string `json:"kind"`
	// Fingerprint is the manifest's SM3: the evidence filed.
	Fingerprint string          `json:"fingerprint,omitempty"`
	Reason      string          `json:"reason,omitempty"`
	Problems    []string        `json:"problems,omitempty"`
	Capture     *bundle.Summary `json:"capture,omitempty"`
	// ReceiptEvidenceID is the evidence ID the bundle's receipt names (a
	// claim: the court says whether it records this manifest).
	ReceiptEvidenceID string `json:"receipt_evidence_id,omitempty"`
	// Screenshot is capture/screenshot.png as a data URL, only when every
	// file matches the manifest: the page shows nothing unproven.
	Screenshot string `json:"screenshot,omitempty"`
	Error      string `json:"error,omitempty"`
}

// readBundle is courtledgerReadBundle(bytes) → string: bundle.Read, the
// check `evidencectl verify BUNDLE` makes, on the chosen file's bytes.
func readBundle(_ js.Value, args []js.Value) (answer any) {
	defer func() {
		if p := recover(); p != nil {
			answer = encode(bundleAnswer{Error: fmt.Sprintf("the verifier failed: %v", p)})
		}
	}()
	if len(args) != 1 {
		return encode(bundleAnswer{Error: fmt.Sprintf("courtledgerReadBundle takes 1 argument (bytes), got %d", len(args))})
	}
	v := args[0]
	if v.InstanceOf(js.Global().Get("ArrayBuffer")) {
		v = js.Global().Get("Uint8Array").New(v)
	}
	if !v.InstanceOf(js.Global().Get("Uint8Array")) {
		return encode(bundleAnswer{Error: "bytes: want the file's bytes as a Uint8Array, got " + describe(args[0])})
	}
	n := v.Get("length").Int()
	if n > MaxBundle {
		return encode(bundleAnswer{Error: fmt.Sprintf("bytes: %d bytes is more than the %d MiB the page checks as a bundle: use evidencectl verify", n, MaxBundle>>20)})
	}
	data := make([]byte, n)
	js.CopyBytesToGo(data, v)
	return encode(checkBundle(data))
}

// checkBundle reads data as a capture bundle.
func checkBundle(data []byte) bundleAnswer {
	r := bytes.NewReader(data)
	c, err := bundle.Read(r, int64(len(data)))
	var a bundleAnswer
	var mismatch *bundle.MismatchError
	switch {
	case errors.Is(err, bundle.ErrNotBundle):
		return bundleAnswer{Kind: "not_bundle"}
	case errors.As(err, &mismatch):
		a.Kind, a.Reason, a.Problems = "mismatch", err.Error(), mismatch.Problems
	case err != nil:
		a.Kind, a.Reason = "malformed", err.Error()
	default:
		a.Kind = "bundle"
	}
	if c == nil {
		return a
	}
	a.Fingerprint = hex.EncodeToString(c.Fingerprint[:])
	a.ReceiptEvidenceID = c.ReceiptEvidenceID()
	if m := c.Manifest; m != nil {
		sum := m.Summary()
		a.Capture = &sum
	}
	if a.Kind == "bundle" {
		if png, err := bundle.ReadFile(r, int64(len(data)), bundle.ScreenshotName, maxScreenshot); err == nil {
			a.Screenshot = "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
		}
	}
	return a
}

func encode(a bundleAnswer) string {
	b, err := json.Marshal(a)
	if err != nil {
		return errorJSON(err)
	}
	return string(b)
}
