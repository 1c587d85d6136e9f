package main

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/courtledger/courtledger/evidence/webcapture/bundle"
)

// captureZip is a sealed capture bundle made without a browser, with a
// 4x4 PNG as its screenshot; change, if not nil, rewrites one file's bytes
// in the zip afterwards, as anyone with a zip tool could.
func captureZip(t *testing.T, receipt []byte, change func(name string, data []byte) []byte) (z, shot []byte, fp string) {
	t.Helper()
	var pb bytes.Buffer
	if err := png.Encode(&pb, image.NewGray(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 4, 4, 0, 0, 0, time.UTC)
	b := &bundle.Bundle{Manifest: bundle.Manifest{Format: bundle.Format, URL: "https://shop.example/item/1",
		FinalURL: "https://shop.example/item/1", Title: "商品", StartedAt: at, FinishedAt: at.Add(2 * time.Second),
		Browser: bundle.Browser{Product: "Chrome/140"}, Warnings: []string{}}}
	b.Add(bundle.ScreenshotName, pb.Bytes())
	b.Add(bundle.DOMName, []byte("<html><body>侵权商品</body></html>"))
	if err := b.Seal("test"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := b.WriteZip(&buf, receipt); err != nil {
		t.Fatal(err)
	}
	d := b.Fingerprint()
	z = buf.Bytes()
	if change != nil {
		zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		zw := zip.NewWriter(&out)
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			w, err := zw.Create(f.Name)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(change(f.Name, data))
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		z = out.Bytes()
	}
	return z, pb.Bytes(), hex.EncodeToString(d[:])
}

// TestWasmReadsBundles: courtledgerReadBundle, run as the page runs it,
// says of each bundle what bundle.Read (evidencectl verify) says, gives
// the manifest's SM3 as the fingerprint, and the screenshot only for a
// bundle whose every file matches.
func TestWasmReadsBundles(t *testing.T) {
	good, shot, fp := captureZip(t, []byte(`{"evidence_id":"hz-42"}`), nil)
	oneByte := func(name string, data []byte) []byte {
		if name == bundle.DOMName {
			data = bytes.Clone(data)
			data[len(data)-3] ^= 0x01
		}
		return data
	}
	changed, _, _ := captureZip(t, nil, oneByte)
	shotChanged, _, _ := captureZip(t, nil, func(name string, data []byte) []byte {
		if name == bundle.ScreenshotName {
			data = bytes.Clone(data)
			data[len(data)-20] ^= 0x80
		}
		return data
	})
	badFormat, _, _ := captureZip(t, nil, func(name string, data []byte) []byte {
		if name == bundle.ManifestName {
			return bytes.Replace(data, []byte(bundle.Format), []byte("courtledger-capture/9"), 1)
		}
		return data
	})
	var plainZip bytes.Buffer
	zw := zip.NewWriter(&plainZip)
	w, _ := zw.Create("report.txt")
	w.Write([]byte("a zip, not a capture"))
	zw.Close()

	cases := []struct {
		name, kind string
		data       []byte
		problem    string // in the problems, or ""
		screenshot bool
	}{
		{"sound bundle", "bundle", good, "", true},
		{"one byte of the DOM changed", "mismatch", changed, bundle.DOMName + ": SM3", false},
		{"one byte of the screenshot changed", "mismatch", shotChanged, bundle.ScreenshotName + ": SM3", false},
		{"manifest of another format", "malformed", badFormat, "", false},
		{"a zip without a manifest", "not_bundle", plainZip.Bytes(), "", false},
		{"a PDF", "not_bundle", []byte("%PDF-1.7\n"), "", false},
		{"empty", "not_bundle", nil, "", false},
	}
	var calls []call
	for _, tc := range cases {
		calls = append(calls, call{Name: tc.name, Args: []any{bytesArg(tc.data)}, Fn: "courtledgerReadBundle"})
	}
	calls = append(calls,
		call{Name: "as an ArrayBuffer", Args: []any{map[string]any{"buffer": base64.StdEncoding.EncodeToString(good)}}, Fn: "courtledgerReadBundle"},
		call{Name: "text", Args: []any{value("PK")}, Fn: "courtledgerReadBundle"},
		call{Name: "no argument", Args: []any{}, Fn: "courtledgerReadBundle"},
		call{Name: "over the bound", Args: []any{map[string]any{"zeros": MaxBundleForTest + 1}}, Fn: "courtledgerReadBundle"})
	a := runWasm(t, calls)

	for i, tc := range cases {
		var got bundleAnswerForTest
		if err := json.Unmarshal([]byte(a.Answers[i].Answer), &got); err != nil {
			t.Fatalf("%s: %v: %s", tc.name, err, a.Answers[i].Answer)
		}
		// What evidencectl verify's reader says of the same bytes.
		c, err := bundle.Read(bytes.NewReader(tc.data), int64(len(tc.data)))
		var mm *bundle.MismatchError
		switch {
		case got.Kind != tc.kind:
			t.Errorf("%s: kind %q (%s), want %q", tc.name, got.Kind, got.Reason, tc.kind)
		case tc.kind == "not_bundle" && !errors.Is(err, bundle.ErrNotBundle),
			tc.kind == "malformed" && !errors.Is(err, bundle.ErrMalformed),
			tc.kind == "mismatch" && (!errors.As(err, &mm) || strings.Join(mm.Problems, "\n") != strings.Join(got.Problems, "\n")),
			tc.kind == "bundle" && err != nil:
			t.Errorf("%s: the wasm says %q %q, bundle.Read says %v", tc.name, got.Kind, got.Problems, err)
		}
		if c != nil && got.Fingerprint != hex.EncodeToString(c.Fingerprint[:]) {
			t.Errorf("%s: fingerprint %s, bundle.Read gives %x", tc.name, got.Fingerprint, c.Fingerprint[:])
		}
		if tc.problem != "" && !strings.Contains(strings.Join(got.Problems, "\n"), tc.problem) {
			t.Errorf("%s: problems %q, want %q among them", tc.name, got.Problems, tc.problem)
		}
		if (got.Screenshot != "") != tc.screenshot {
			t.Errorf("%s: screenshot given %v, want %v", tc.name, got.Screenshot != "", tc.screenshot)
		}
		if got.Error != "" {
			t.Errorf("%s: error %s", tc.name, got.Error)
		}
	}
	var sound bundleAnswerForTest
	json.Unmarshal([]byte(a.Answers[0].Answer), &sound)
	if sound.Fingerprint != fp || sound.ReceiptEvidenceID != "hz-42" || sound.Capture == nil ||
		sound.Capture.URL != "https://shop.example/item/1" || sound.Capture.Title != "商品" || sound.Capture.Files != 3 {
		t.Errorf("sound bundle: %s", a.Answers[0].Answer)
	}
	if want := "data:image/png;base64," + base64.StdEncoding.EncodeToString(shot); sound.Screenshot != want {
		t.Errorf("screenshot %.60q..., want the bundle's PNG", sound.Screenshot)
	}
	if ab := a.Answers[len(cases)].Answer; ab != a.Answers[0].Answer {
		t.Errorf("as an ArrayBuffer: %s", ab)
	}
	for i, want := range []string{"bytes: want the file's bytes as a Uint8Array, got a string", "takes 1 argument", "use evidencectl verify"} {
		ans := a.Answers[len(cases)+1+i]
		var e bundleAnswerForTest
		if json.Unmarshal([]byte(ans.Answer), &e); !strings.Contains(e.Error, want) || e.Kind != "" {
			t.Errorf("%s: %s, want an error with %q", ans.Name, ans.Answer, want)
		}
	}
	t.Logf("node: sound bundle (%d bytes) checked in %.1f ms", len(good), a.Answers[0].MS)
}

// MaxBundleForTest is the verifier's MaxBundle (its file builds only for
// js/wasm).
const MaxBundleForTest = 512 << 20

// bundleAnswerForTest is the verifier's bundleAnswer, read back.
type bundleAnswerForTest struct {
	Kind              string   `json:"kind"`
	Fingerprint       string   `json:"fingerprint"`
	Reason            string   `json:"reason"`
	Problems          []string `json:"problems"`
	ReceiptEvidenceID string   `json:"receipt_evidence_id"`
	Screenshot        string   `json:"screenshot"`
	Error             string   `json:"error"`
	Capture           *struct {
		URL   string `json:"url"`
		Title string `json:"title"`
		Files int    `json:"files"`
	} `json:"capture"`
}
