// Package bundle writes and reads a web capture's bundle (package
// webcapture): the WACZ-shaped zip and its manifest, courtledger-capture.json,
// whose SM3 is the evidence fingerprint. It is apart from webcapture, which
// drives Chromium, so that what only reads a bundle (the court's web page,
// in WebAssembly: court/web/verifier) links no browser driver. Read checks
// every file against the manifest; docs/formats.md ("Web capture bundle")
// is the specification.
package bundle
