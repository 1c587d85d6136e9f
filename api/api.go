// Package api holds the court's API contract: the protobuf definitions in
// proto/, the REST mapping in http.yaml, and the code generated from them in
// gen/ (regenerate with api/generate.sh; never edit gen/ by hand).
package api

import _ "embed"

// OpenAPI is the generated OpenAPI 2 document of the REST gateway, served
// by every court node.
//
//go:embed gen/openapi/courtledger.swagger.json
var OpenAPI []byte
