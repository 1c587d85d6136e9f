#!/usr/bin/env bash
# Regenerates api/gen/ from api/proto/ and api/http.yaml: Go messages, gRPC
# stubs, grpc-gateway handlers and the OpenAPI document. The plugins are the
# versions pinned by go.mod's tool block; protoc is Debian's protobuf-compiler.
# CI runs this and fails if api/gen/ changes.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "protoc missing: apt-get install -y protobuf-compiler" >&2; exit 1; }

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
GOBIN="$bin" go install tool
export PATH="$bin:$PATH"

rm -rf api/gen
mkdir -p api/gen/openapi
protos=$(cd api/proto && find . -name '*.proto' | sort)
(cd api/proto && protoc -I . \
  --go_out=../gen --go_opt=paths=source_relative \
  --go-grpc_out=../gen --go-grpc_opt=paths=source_relative \
  --grpc-gateway_out=../gen --grpc-gateway_opt=paths=source_relative \
  --grpc-gateway_opt=grpc_api_configuration=../http.yaml \
  --openapiv2_out=../gen/openapi \
  --openapiv2_opt=grpc_api_configuration=../http.yaml,allow_merge=true,merge_file_name=courtledger \
  $protos)
echo "generated: $(find api/gen -type f | wc -l) files"
