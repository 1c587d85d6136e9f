package bundle

import (
	"archive/zip"
	"bytes"
	"encoding/hex"
	"errors"
	"image"
	"image/png"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/courtledger/courtledger/crypto/sm3"
)

// testBundle is a sealed bundle made without a browser: the files of a
// capture with made-up contents.
func testBundle(t testing.TB) *Bundle {
	t.Helper()
	at := time.Date(2026, 12, 4, 4, 0, 0, 0, time.UTC)
	b := &Bundle{Manifest: Manifest{Format: Format, URL: "https://shop.example/item/1", FinalURL: "https://shop.example/item/1",
		Title: "商品", StartedAt: at, FinishedAt: at.Add(3 * time.Second), Warnings: []string{}}}
	b.Add(ScreenshotName, pngOf(t))
	b.Add(DOMName, []byte("<html><body>侵权商品</body></html>"))
	b.Add(HARName, []byte(`{"log":{"version":"1.2"}}`))
	b.Add(WARCName, []byte("not really a warc, but bytes all the same"))
	b.Add(CDXJName, []byte("example,shop)/item/1 20261204040000 {}\n"))
	b.Add(PagesName, []byte(`{"format":"json-pages-1.0","id":"pages"}`+"\n"))
	b.Add(CertsDir+"00-shop.example.pem", []byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	if err := b.Seal("test"); err != nil {
		t.Fatal(err)
	}
	return b
}

func zipOf(t testing.TB, b *Bundle, receipt []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := b.WriteZip(&buf, receipt); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type entry struct {
	name string
	data []byte
}

// entries reads a zip's entries in order.
func entries(t testing.TB, z []byte) []entry {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		t.Fatal(err)
	}
	var out []entry
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(rc)
		rc.Close()
		out = append(out, entry{f.Name, b.Bytes()})
	}
	return out
}

// rezip writes entries as a zip, as an attacker with any zip tool would.
func rezip(t testing.TB, es []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range es {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	zw.Close()
	return buf.Bytes()
}

func read(z []byte) (*Checked, error) { return Read(bytes.NewReader(z), int64(len(z))) }

// withDirs is es with a directory entry before each directory's first
// file, as `unzip` then `zip -r` packs a bundle again.
func withDirs(es []entry) []entry {
	var out []entry
	seen := map[string]bool{}
	for _, e := range es {
		if i := strings.LastIndexByte(e.name, '/'); i > 0 && !seen[e.name[:i+1]] {
			seen[e.name[:i+1]] = true
			out = append(out, entry{e.name[:i+1], nil})
		}
		out = append(out, e)
	}
	return out
}

// A bundle unpacked and packed again by a zip tool, which adds directory
// entries, is the same bundle: its files still match.
func TestRepackedWithDirectoriesStillMatches(t *testing.T) {
	b := testBundle(t)
	z := rezip(t, withDirs(entries(t, zipOf(t, b, nil))))
	dirs := 0
	for _, e := range entries(t, z) {
		if strings.HasSuffix(e.name, "/") {
			dirs++
		}
	}
	if dirs == 0 {
		t.Fatal("the repacked zip has no directory entries")
	}
	c, err := read(z)
	if err != nil {
		t.Fatalf("repacked with directory entries: %v", err)
	}
	if c.Fingerprint != b.Fingerprint() {
		t.Fatal("another fingerprint")
	}
}

func TestReadSealedBundle(t *testing.T) {
	b := testBundle(t)
	for _, receipt := range [][]byte{nil, []byte(`{"evidence_id":"x"}`)} {
		c, err := read(zipOf(t, b, receipt))
		if err != nil {
			t.Fatalf("receipt %q: %v", receipt, err)
		}
		if c.Fingerprint != b.Fingerprint() || !bytes.Equal(c.ManifestJSON, b.ManifestJSON) || !bytes.Equal(c.Receipt, receipt) {
			t.Errorf("read back %x receipt %q", c.Fingerprint, c.Receipt)
		}
	}
	// Every file, and datapackage.json, is in the manifest; the manifest is not.
	var listed []string
	for _, f := range b.Manifest.Files {
		listed = append(listed, f.Path)
	}
	if got, want := strings.Join(listed, " "), strings.Join(append(b.Names()[:0:0], b.Names()...), " "); got != want || !strings.Contains(got, DatapackName) {
		t.Errorf("manifest lists %s, bundle has %s", got, want)
	}
	if strings.Contains(string(b.File(DatapackName)), ManifestName) || !strings.Contains(string(b.File(DatapackName)), `"hash": "sha256:`) {
		t.Errorf("datapackage.json:\n%s", b.File(DatapackName))
	}
}

// One changed byte in any file of the bundle is found: a listed file gives
// a MismatchError naming it; the manifest gives another fingerprint (or
// does not parse), which the court does not know.
func TestOneChangedByteInAnyFile(t *testing.T) {
	b := testBundle(t)
	orig := entries(t, zipOf(t, b, nil))
	for i, e := range orig {
		for _, at := range []int{0, len(e.data) / 2, len(e.data) - 1} {
			es := append([]entry(nil), orig...)
			changed := bytes.Clone(e.data)
			changed[at] ^= 0x01
			es[i] = entry{e.name, changed}
			c, err := read(rezip(t, es))
			var mm *MismatchError
			switch {
			case e.name == ManifestName:
				if err == nil && c.Fingerprint == b.Fingerprint() {
					t.Errorf("%s byte %d changed: same fingerprint", e.name, at)
				}
				if err != nil && !errors.Is(err, ErrMalformed) && !errors.As(err, &mm) {
					t.Errorf("%s byte %d changed: %v", e.name, at, err)
				}
			case !errors.As(err, &mm) || !strings.Contains(mm.Error(), e.name):
				t.Errorf("%s byte %d changed: %v, want a mismatch naming it", e.name, at, err)
			}
		}
	}
	// A byte changed in the zip itself, past the zip's own CRC-32.
	z := zipOf(t, b, nil)
	dom := bytes.Index(z, []byte("侵权商品"))
	if dom < 0 {
		// Deflated: change a byte inside the screenshot, which is stored.
		dom = bytes.Index(z, []byte("IHDR"))
	}
	raw := bytes.Clone(z)
	raw[dom] ^= 0x01
	var mm *MismatchError
	if _, err := read(raw); !errors.As(err, &mm) {
		t.Errorf("a byte of the zip changed: %v, want a mismatch", err)
	}
}

func TestReadRefuses(t *testing.T) {
	b := testBundle(t)
	orig := entries(t, zipOf(t, b, nil))
	without := func(name string) []entry {
		var out []entry
		for _, e := range orig {
			if e.name != name {
				out = append(out, e)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		zip     []byte
		want    error // ErrNotBundle or ErrMalformed; nil: a mismatch
		mention string
	}{
		{"not a zip", []byte("%PDF-1.7 a plain file"), ErrNotBundle, ""},
		{"empty", nil, ErrNotBundle, ""},
		{"zip without manifest", rezip(t, without(ManifestName)), ErrNotBundle, ""},
		{"file missing", rezip(t, without(DOMName)), nil, DOMName + ": missing"},
		{"file added", rezip(t, append(orig, entry{"capture/extra.js", []byte("x")})), nil, "capture/extra.js: not in the manifest"},
		{"name twice", rezip(t, append(orig, entry{DOMName, []byte("<html>other</html>")})), ErrMalformed, "twice"},
		{"manifest twice", rezip(t, append([]entry{{ManifestName, []byte("{}")}}, orig...)), ErrMalformed, "twice"},
		{"path traversal", rezip(t, append(orig, entry{"../../etc/cron.d/x", []byte("x")})), ErrMalformed, "unsafe"},
		{"absolute path", rezip(t, append(orig, entry{"/etc/x", []byte("x")})), ErrMalformed, "unsafe"},
		{"backslash", rezip(t, append(orig, entry{`capture\..\x`, []byte("x")})), ErrMalformed, "unsafe"},
		{"manifest not JSON", rezip(t, append(without(ManifestName), entry{ManifestName, []byte("not json")})), ErrMalformed, "manifest"},
		{"other format", rezip(t, append(without(ManifestName), entry{ManifestName, bytes.Replace(b.ManifestJSON, []byte(Format), []byte("courtledger-capture/9"), 1)})), ErrMalformed, "format"},
		{"manifest lists traversal", rezip(t, append(without(ManifestName), entry{ManifestName, bytes.Replace(b.ManifestJSON, []byte(`"`+DOMName+`"`), []byte(`"../page.html"`), 1)})), ErrMalformed, "unsafe"},
		{"bomb: a file inflating past its size", bomb(t, b), nil, "bytes"},
		{"directory entry outside", rezip(t, append(orig, entry{"../", nil})), ErrMalformed, "unsafe"},
		{"changed file, repacked with directories", rezip(t, append(withDirs(orig), entry{"capture/extra.js", []byte("x")})), nil, "capture/extra.js: not in the manifest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := read(tc.zip)
			var mm *MismatchError
			switch {
			case tc.want == nil && !errors.As(err, &mm):
				t.Fatalf("got %v, want a mismatch", err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("got %v, want %v", err, tc.want)
			case !strings.Contains(err.Error(), tc.mention):
				t.Fatalf("got %v, want it to mention %q", err, tc.mention)
			}
		})
	}
}

// bomb is a bundle whose DOM entry inflates to 8 MiB while the manifest
// says it is small: Read stops at the manifest's size.
func bomb(t testing.TB, b *Bundle) []byte {
	es := entries(t, zipOf(t, b, nil))
	for i, e := range es {
		if e.name == DOMName {
			es[i].data = bytes.Repeat([]byte{0}, 8<<20)
		}
	}
	return rezip(t, es)
}

func FuzzReadBundle(f *testing.F) {
	// Small seeds: the fuzzer minimizes each new input it finds, and a
	// smaller input takes fewer tries to minimize.
	one := []byte(`{"format":"courtledger-capture/1","files":[{"path":"a","sm3":"` + hex.EncodeToString(sm3Of("x")) + `","bytes":1}]}`)
	f.Add(rezip(f, []entry{{ManifestName, one}, {"a", []byte("x")}}))
	f.Add(rezip(f, []entry{{ManifestName, one}, {"a", []byte("y")}, {ReceiptName, []byte("{}")}}))
	f.Add(zipOf(f, testBundle(f), []byte(`{"evidence_id":"x"}`)))
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := read(data)
		var mm *MismatchError
		switch {
		case err == nil:
			if c == nil || c.Fingerprint != Fingerprint(c.ManifestJSON) {
				t.Fatal("read without error but no consistent result")
			}
		case errors.Is(err, ErrNotBundle), errors.Is(err, ErrMalformed), errors.As(err, &mm):
		default:
			t.Fatalf("an error of no kind: %v", err)
		}
	})
}

func FuzzParseManifest(f *testing.F) {
	f.Add(testBundle(f).ManifestJSON)
	f.Add([]byte(`{"format":"courtledger-capture/1","files":[{"path":"a","sm3":"` + strings.Repeat("0", 64) + `","bytes":1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseManifest(data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, fl := range m.Files {
			if checkPath(fl.Path) != nil || seen[fl.Path] || fl.Bytes < 0 || fl.Path == ManifestName {
				t.Fatalf("accepted %+v", fl)
			}
			seen[fl.Path] = true
		}
	})
}

func sm3Of(s string) []byte { d := sm3.Sum([]byte(s)); return d[:] }

// pngOf is a small grey PNG, as a screenshot.
func pngOf(t testing.TB) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 8, 8))
	for i := range img.Pix {
		img.Pix[i] = 128
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReadFile(t *testing.T) {
	b := testBundle(t)
	z := zipOf(t, b, nil)
	shot := b.File(ScreenshotName)
	for _, tc := range []struct {
		name, file string
		zip        []byte
		limit      int64
		want       []byte
		err        error  // errors.Is, or nil
		msg        string // in the error, or ""
	}{
		{"screenshot", ScreenshotName, z, 1 << 20, shot, nil, ""},
		{"exactly the limit", ScreenshotName, z, int64(len(shot)), shot, nil, ""},
		{"over the limit", ScreenshotName, z, int64(len(shot)) - 1, nil, nil, "at most"},
		{"absent", "capture/none.png", z, 1 << 20, nil, fs.ErrNotExist, ""},
		{"not a zip", ScreenshotName, []byte("%PDF-1.7"), 1 << 20, nil, ErrMalformed, ""},
		{"inflates past its header", DOMName, bomb(t, b), 1 << 20, nil, nil, "bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadFile(bytes.NewReader(tc.zip), int64(len(tc.zip)), tc.file, tc.limit)
			switch {
			case tc.want != nil:
				if err != nil || !bytes.Equal(got, tc.want) {
					t.Fatalf("got %d bytes, %v; want %d bytes", len(got), err, len(tc.want))
				}
			case err == nil:
				t.Fatalf("got %d bytes, no error", len(got))
			case tc.err != nil && !errors.Is(err, tc.err):
				t.Fatalf("error %v, want %v", err, tc.err)
			case !strings.Contains(err.Error(), tc.msg):
				t.Fatalf("error %v, want %q in it", err, tc.msg)
			}
		})
	}
}

func FuzzReadFile(f *testing.F) {
	f.Add(zipOf(f, testBundle(f), nil))
	f.Add(rezip(f, []entry{{ScreenshotName, []byte("png")}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ReadFile(bytes.NewReader(data), int64(len(data)), ScreenshotName, 1<<10)
		if err == nil && len(got) > 1<<10 {
			t.Fatalf("%d bytes past the limit", len(got))
		}
	})
}
