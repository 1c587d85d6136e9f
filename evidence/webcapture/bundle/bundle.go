package bundle

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/courtledger/courtledger/crypto/sm3"
)

// Bounds on a bundle that is read. They keep reading a hostile zip (a bomb,
// a directory of millions of names) within known memory and work.
const (
	MaxFiles         = 10000
	MaxManifestBytes = 8 << 20
	MaxReceiptBytes  = 1 << 20
	MaxTotalBytes    = 4 << 30 // all listed files together, uncompressed
)

// ErrNotBundle: the input is not a zip holding a capture manifest (so it is
// some other file, to be verified as such).
var ErrNotBundle = errors.New("not a capture bundle")

// ErrMalformed: the input claims to be a bundle (a zip with a manifest)
// but cannot be read as one.
var ErrMalformed = errors.New("malformed capture bundle")

// MismatchError lists how a bundle differs from its manifest: files
// changed, missing or added. The capture is not what was recorded.
type MismatchError struct {
	Problems []string
}

func (e *MismatchError) Error() string {
	return "bundle differs from its manifest: " + strings.Join(e.Problems, "; ")
}

// Bundle is a capture in memory, ready to be written.
type Bundle struct {
	Manifest Manifest
	// ManifestJSON is the manifest's exact bytes once sealed; its SM3 is the
	// fingerprint.
	ManifestJSON []byte
	files        map[string][]byte
}

// Add puts a file in the bundle (before Seal).
func (b *Bundle) Add(name string, data []byte) {
	if b.files == nil {
		b.files = map[string][]byte{}
	}
	b.files[name] = data
}

// File returns a file of the bundle, or nil.
func (b *Bundle) File(name string) []byte { return b.files[name] }

// Names lists the bundle's files (without the manifest), sorted.
func (b *Bundle) Names() []string {
	var out []string
	for n := range b.files {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Seal writes datapackage.json over the other files, then the manifest
// over all of them, and fixes the manifest's bytes.
func (b *Bundle) Seal(software string) error {
	m := &b.Manifest
	dp := datapackage{Profile: "data-package", WACZVersion: "1.1.1", Title: m.URL + " @ " + m.StartedAt.UTC().Format(time.RFC3339),
		Software: software, Created: m.StartedAt.UTC().Format(time.RFC3339), Modified: m.FinishedAt.UTC().Format(time.RFC3339),
		MainPageURL: m.FinalURL, MainPageDate: m.StartedAt.UTC().Format(time.RFC3339)}
	for _, n := range b.Names() {
		sum := sha256.Sum256(b.files[n])
		dp.Resources = append(dp.Resources, dpResource{Name: strings.ReplaceAll(n, "/", "-"), Path: n,
			Hash: "sha256:" + hex.EncodeToString(sum[:]), Bytes: int64(len(b.files[n]))})
	}
	dpJSON, err := json.MarshalIndent(dp, "", "  ")
	if err != nil {
		return fmt.Errorf("datapackage: %w", err)
	}
	b.Add(DatapackName, dpJSON)
	m.Files = nil
	for _, n := range b.Names() {
		d := sm3.Sum(b.files[n])
		m.Files = append(m.Files, File{Path: n, SM3: hex.EncodeToString(d[:]), Bytes: int64(len(b.files[n]))})
	}
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	b.ManifestJSON = append(mj, '\n')
	return nil
}

// Fingerprint is the SM3 of the sealed manifest.
func (b *Bundle) Fingerprint() sm3.Digest { return Fingerprint(b.ManifestJSON) }

// WriteZip writes the bundle as one zip: the manifest, the files in name
// order, and receipt (if not nil) as courtledger-receipt.json. Files
// already compressed (PNG, gzip) are stored, others deflated.
func (b *Bundle) WriteZip(w io.Writer, receipt []byte) error {
	if b.ManifestJSON == nil {
		return errors.New("bundle not sealed")
	}
	zw := zip.NewWriter(w)
	mod := b.Manifest.FinishedAt
	put := func(name string, data []byte) error {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: mod}
		if strings.HasSuffix(name, ".png") || strings.HasSuffix(name, ".gz") {
			h.Method = zip.Store
		}
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return fmt.Errorf("zip %s: %w", name, err)
		}
		if _, err := fw.Write(data); err != nil {
			return fmt.Errorf("zip %s: %w", name, err)
		}
		return nil
	}
	if err := put(ManifestName, b.ManifestJSON); err != nil {
		return err
	}
	for _, n := range b.Names() {
		if err := put(n, b.files[n]); err != nil {
			return err
		}
	}
	if receipt != nil {
		if err := put(ReceiptName, receipt); err != nil {
			return err
		}
	}
	return zw.Close()
}

// Checked is a bundle whose files all match its manifest. With a
// MismatchError it is the bundle read, and with an unparsable manifest
// (ErrMalformed) only ManifestJSON, Fingerprint and Receipt are set.
type Checked struct {
	Manifest     *Manifest // nil if it did not parse
	ManifestJSON []byte
	Fingerprint  sm3.Digest
	Receipt      []byte // courtledger-receipt.json, if present; a claim, not checked here
}

// ReceiptEvidenceID is the evidence ID the bundle's receipt names, or ""
// without a receipt or one that does not parse: a claim to ask the court
// about (a manifest changed after filing has a new fingerprint, but the
// receipt still names what was filed), never a verdict by itself.
func (c *Checked) ReceiptEvidenceID() string {
	var v struct {
		EvidenceID string `json:"evidence_id"`
	}
	if json.Unmarshal(c.Receipt, &v) != nil || len(v.EvidenceID) > 256 {
		return ""
	}
	return v.EvidenceID
}

// Read checks a bundle: a zip holding courtledger-capture.json, every
// other file listed in it with that size and SM3, and nothing else but an
// optional courtledger-receipt.json. It returns ErrNotBundle for anything
// that is not a zip with a manifest, an error wrapping ErrMalformed for a
// bundle it cannot read safely (unsafe or duplicate names, too many files,
// a manifest it cannot parse: then the manifest's bytes and the receipt
// come back too), and *MismatchError when files differ.
// Reading is bounded: names and sizes are checked before any data is read,
// and no file is read past the size its manifest gives.
func Read(r io.ReaderAt, size int64) (*Checked, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, ErrNotBundle
	}
	if zr == nil {
		return nil, ErrNotBundle
	}
	// Any zip without a manifest is some other evidence file, however many
	// entries it has.
	if !slices.ContainsFunc(zr.File, func(f *zip.File) bool { return f.Name == ManifestName }) {
		return nil, ErrNotBundle
	}
	if len(zr.File) > 2*(MaxFiles+2) {
		return nil, fmt.Errorf("%w: %d entries, at most %d files", ErrMalformed, len(zr.File), MaxFiles+2)
	}
	// Directory entries, which zip tools add when a bundle is unpacked and
	// packed again, hold nothing: a safe name and no bytes, and then they
	// are not files of the bundle.
	files := make([]*zip.File, 0, len(zr.File))
	for _, f := range zr.File {
		if dir, ok := strings.CutSuffix(f.Name, "/"); ok {
			if err := checkPath(dir); err != nil {
				return nil, fmt.Errorf("%w: directory entry: %w", ErrMalformed, err)
			}
			if f.UncompressedSize64 != 0 || f.CompressedSize64 > 2 {
				return nil, fmt.Errorf("%w: directory entry %q holds data", ErrMalformed, f.Name)
			}
			continue
		}
		files = append(files, f)
	}
	if len(files) > MaxFiles+2 {
		return nil, fmt.Errorf("%w: %d files, at most %d", ErrMalformed, len(files), MaxFiles+2)
	}
	byName := make(map[string]*zip.File, len(files))
	var dup []string
	for _, f := range files {
		if byName[f.Name] != nil {
			dup = append(dup, f.Name)
		}
		byName[f.Name] = f
	}
	mf := byName[ManifestName]
	for _, f := range files {
		if err := checkPath(f.Name); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
	}
	if len(dup) > 0 {
		// Two entries of one name: readers differ on which they show, so the
		// bundle cannot stand for one capture.
		return nil, fmt.Errorf("%w: names held twice: %s", ErrMalformed, strings.Join(dup, ", "))
	}
	mj, err := readBounded(mf, MaxManifestBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, ManifestName, err)
	}
	out := &Checked{ManifestJSON: mj, Fingerprint: Fingerprint(mj)}
	if rf := byName[ReceiptName]; rf != nil {
		if out.Receipt, err = readBounded(rf, MaxReceiptBytes); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, ReceiptName, err)
		}
	}
	m, err := parseManifest(mj)
	if err != nil {
		// The manifest's bytes and the receipt still go back: the court can
		// say whether the recording the receipt names is of these bytes.
		return out, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	out.Manifest = m
	var problems []string
	listed := make(map[string]bool, len(m.Files))
	for _, want := range m.Files {
		listed[want.Path] = true
		f := byName[want.Path]
		if f == nil {
			problems = append(problems, want.Path+": missing")
			continue
		}
		if f.UncompressedSize64 != uint64(want.Bytes) {
			problems = append(problems, fmt.Sprintf("%s: %d bytes, the manifest says %d", want.Path, f.UncompressedSize64, want.Bytes))
			continue
		}
		got, n, err := sumFile(f, want.Bytes)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: %v", want.Path, err))
		case n != want.Bytes:
			problems = append(problems, fmt.Sprintf("%s: %d bytes, the manifest says %d", want.Path, n, want.Bytes))
		case hex.EncodeToString(got[:]) != strings.ToLower(want.SM3):
			problems = append(problems, fmt.Sprintf("%s: SM3 %x, the manifest says %s", want.Path, got[:], want.SM3))
		}
	}
	for _, f := range files {
		if f.Name != ManifestName && f.Name != ReceiptName && !listed[f.Name] {
			problems = append(problems, f.Name+": not in the manifest")
		}
	}
	if len(problems) > 0 {
		return out, &MismatchError{Problems: problems}
	}
	return out, nil
}

// readBounded reads a whole zip entry of at most limit bytes.
func readBounded(f *zip.File, limit int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("%d bytes, at most %d", f.UncompressedSize64, limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(rc, limit+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("more than %d bytes", limit)
	}
	return buf.Bytes(), nil
}

// sumFile hashes a zip entry, reading at most want+1 bytes: a file that
// inflates past its declared size is caught without inflating the rest.
func sumFile(f *zip.File, want int64) (sm3.Digest, int64, error) {
	rc, err := f.Open()
	if err != nil {
		return sm3.Digest{}, 0, err
	}
	defer rc.Close()
	h := sm3.New()
	n, err := io.Copy(h, io.LimitReader(rc, want+1))
	if err != nil {
		// A changed byte in a stored or deflated entry fails its CRC-32.
		return sm3.Digest{}, n, err
	}
	var d sm3.Digest
	h.Sum(d[:0])
	return d, n, nil
}

// datapackage is WACZ 1.1.1's datapackage.json.
type datapackage struct {
	Profile      string       `json:"profile"`
	WACZVersion  string       `json:"wacz_version"`
	Title        string       `json:"title"`
	Software     string       `json:"software"`
	Created      string       `json:"created"`
	Modified     string       `json:"modified"`
	MainPageURL  string       `json:"mainPageURL"`
	MainPageDate string       `json:"mainPageDate"`
	Resources    []dpResource `json:"resources"`
}

type dpResource struct {
	Name  string `json:"name"`
	Path  string `json:"path"`
	Hash  string `json:"hash"`
	Bytes int64  `json:"bytes"`
}

// ReadFile returns one file of a bundle's zip, of at most limit bytes. It
// checks nothing against the manifest: call it on a bundle Read found
// sound, for a file to show (the screenshot on the court's web page).
func ReadFile(r io.ReaderAt, size int64, name string, limit int64) ([]byte, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	for _, f := range zr.File {
		if f.Name == name {
			b, err := readBounded(f, limit)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
}
