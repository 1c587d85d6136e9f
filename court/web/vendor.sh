#!/usr/bin/env bash
# Refreshes the page's one third-party script: hash-wasm's SM3 module (MIT),
# taken from the npm registry at a pinned version and checked against the
# registry's integrity hash, so the committed file is exactly the published
# one. To move to a new version, change VERSION and INTEGRITY (npm view
# hash-wasm@X dist.integrity), run this, and commit what it writes.
set -euo pipefail
VERSION=4.13.0
INTEGRITY='sha512-GrWl7wsV46fKIXQZB5ebskLZLAmKL6d9RS0fspCxDeQyjoNu1AfTJTMLPOJyfzaQm0ldFiwFN21/w+sE/kgEFQ=='
cd "$(dirname "$0")"
out=static/vendor/hash-wasm
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "hash-wasm@$VERSION" >/dev/null)
tgz="$tmp/hash-wasm-$VERSION.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
if [ "$got" != "$INTEGRITY" ]; then
  echo "hash-wasm@$VERSION: integrity $got, want $INTEGRITY" >&2; exit 1
fi
tar -xzf "$tgz" -C "$tmp"
mkdir -p "$out"
cp "$tmp/package/dist/sm3.umd.min.js" "$out/sm3.umd.min.js"
cp "$tmp/package/LICENSE" "$out/LICENSE"
printf 'hash-wasm %s from the npm registry, tarball integrity %s\nsm3.umd.min.js sha256 %s\n' \
  "$VERSION" "$INTEGRITY" "$(sha256sum "$out/sm3.umd.min.js" | cut -d' ' -f1)" > "$out/VERSION"
