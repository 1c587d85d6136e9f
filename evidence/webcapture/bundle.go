package webcapture

import "github.com/courtledger/courtledger/evidence/webcapture/bundle"

// The bundle and its manifest live in package bundle, which builds without
// a browser (for the web page's WebAssembly verifier too); these names
// keep webcapture's callers whole.

type (
	Bundle        = bundle.Bundle
	Manifest      = bundle.Manifest
	Browser       = bundle.Browser
	Settings      = bundle.Settings
	PageInfo      = bundle.PageInfo
	Redirect      = bundle.Redirect
	Origin        = bundle.Origin
	TLSInfo       = bundle.TLSInfo
	ResourceCount = bundle.ResourceCount
	File          = bundle.File
	Checked       = bundle.Checked
	MismatchError = bundle.MismatchError
)

const (
	Format         = bundle.Format
	ManifestName   = bundle.ManifestName
	ReceiptName    = bundle.ReceiptName
	ScreenshotName = bundle.ScreenshotName
	DOMName        = bundle.DOMName
	HARName        = bundle.HARName
	WARCName       = bundle.WARCName
	CDXJName       = bundle.CDXJName
	PagesName      = bundle.PagesName
	DatapackName   = bundle.DatapackName
)

var (
	ErrNotBundle = bundle.ErrNotBundle
	ErrMalformed = bundle.ErrMalformed
	Read         = bundle.Read
	Fingerprint  = bundle.Fingerprint
)
