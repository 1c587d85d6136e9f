#!/usr/bin/env bash
# Builds the web page's certificate verifier (court/web/verifier) into
# court/web/static/verifier.wasm, with the wasm_exec.js of the same Go that
# loads it. The build is reproducible: no paths (-trimpath), no symbol
# table or build ID, and no VCS stamp (-buildvcs=false: a commit's hash
# must not change the bytes), so CI (.ci/run) rebuilds it and fails if the
# committed files differ. Run it after changing anything the verifier
# links (GOOS=js GOARCH=wasm go list -deps ./court/web/verifier: the
# certificate and its crypto) or Go itself, and commit both files.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin"
GOOS=js GOARCH=wasm CGO_ENABLED=0 GOFLAGS= go build -trimpath -buildvcs=false -ldflags='-s -w -buildid=' \
  -o court/web/static/verifier.wasm ./court/web/verifier
cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" court/web/static/wasm_exec.js
chmod 644 court/web/static/verifier.wasm court/web/static/wasm_exec.js
