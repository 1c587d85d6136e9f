// Package webcapture records a web page in a headless Chromium as evidence
// (网页取证) and reads such records back for verification.
//
// Capture starts Debian's Chromium with a fresh, empty profile directory
// (removed afterwards), no extensions and no proxy unless one is named,
// loads one http or https URL, waits (bounded), scrolls to bring in lazy
// content and records what the browser saw: a full-page screenshot, the
// rendered DOM, every request and response with headers and bodies (WARC
// 1.1 and HAR 1.2), each origin's TLS certificate chain and address, the
// final URL after redirects, the browser's version and the settings.
//
// # The bundle
//
// A capture is one zip shaped like WACZ 1.1.1, so web-archive tools
// (ReplayWeb.page) open it:
//
//	datapackage.json         WACZ package: every file below with "sha256:..." and size
//	pages/pages.jsonl        WACZ pages list: the captured page
//	archive/data.warc.gz     WARC 1.1, one gzip member per record
//	indexes/index.cdxj       CDXJ index of the WARC's response records
//	capture/screenshot.png   full-page screenshot
//	capture/page.html        the DOM after rendering
//	capture/page.har         HAR 1.2 of every request
//	capture/certs/*.pem      each https origin's certificate chain, leaf first
//	courtledger-capture.json the manifest (Manifest): every file above with
//	                         its SM3 and size, and what was captured how
//	courtledger-receipt.json optional, added after filing: the court's receipt
//
// The manifest's SM3 is the evidence fingerprint filed at the court; it
// fixes every other file's bytes through their SM3s. Read checks a bundle
// against its manifest: a file changed, missing or added is a Mismatch;
// a zip that is not a sound bundle is Malformed. docs/formats.md
// ("Web capture bundle") is the specification. The bundle and its reader
// are package bundle (evidence/webcapture/bundle), which builds without a
// browser; the names here are aliases of its.
package webcapture
