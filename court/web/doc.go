// Package web is a court's verification pages (核验): a person with only
// a browser checks a file (hashed with SM3 inside the page; only its
// fingerprint is sent), checks a certificate (verified inside the page by
// the project's own verifier compiled to WebAssembly, against the trust
// anchors the court publishes), signs in as a judge or lawyer, and reads
// the court's status. Templates and assets are embedded; courtd serves
// them on its HTTPS listener and the pages call the court's REST API like
// any other client, so the role table, rate limits and audit apply as
// they do to the API.
package web
