#!/usr/bin/env bash
# tessera-hammer.sh runs Tessera's POSIX conformance log on loopback and
# drives it with Tessera's own load tool, the hammer, to a goal of new
# leaves; it prints the entries per second the hammer saw integrated. It is
# the peer's own measurement, beside `benchcourt tessera`, which drives the
# same server with benchcourt's closed-loop clients.
#
#   bench/tessera-hammer.sh [WRITERS [LEAVES]]     defaults: 256 writers, 50000 leaves
#
# Needs Go and the module proxy: it installs the server
# (go install .../cmd/conformance/posix@v1.0.4) and builds the hammer from
# the module cache, since internal/hammer cannot be go-installed from
# outside its module. TESSERA_ANTISPAM=1 runs the server with --antispam
# (persistent deduplication). Everything lives in a temporary directory,
# removed at the end; the server listens on 127.0.0.1 only.
set -euo pipefail

writers=${1:-256}
leaves=${2:-50000}
version=v1.0.4
port=${TESSERA_PORT:-2025}

work=$(mktemp -d /tmp/tessera-hammer.XXXXXX)
server_pid=
cleanup() {
	if [[ -n $server_pid ]]; then
		kill "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

export GOFLAGS=-mod=mod
GOBIN=$work/bin go install "github.com/transparency-dev/tessera/cmd/conformance/posix@$version"
moddir=$(go mod download -json "github.com/transparency-dev/tessera@$version" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
(cd "$moddir" && go build -o "$work/bin/hammer" ./internal/hammer)

# The test key pair of Tessera's own README: the log is thrown away.
export LOG_PRIVATE_KEY="PRIVATE+KEY+example.com/log/testdata+33d7b496+AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg"
pubkey="example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx"

args=(--storage_dir="$work/log" --listen="127.0.0.1:$port")
if [[ ${TESSERA_ANTISPAM:-0} == 1 ]]; then
	args+=(--antispam)
fi
"$work/bin/posix" "${args[@]}" >"$work/posix.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$port/checkpoint" >/dev/null && break
	sleep 0.1
done

echo "# tessera $version POSIX, $writers writers, goal $leaves leaves, $(nproc) CPUs, $(go version | cut -d' ' -f3)"
"$work/bin/hammer" --log_public_key="$pubkey" --log_url="http://127.0.0.1:$port" \
	--max_read_ops=0 --num_readers_random=0 --num_readers_full=0 \
	--num_writers="$writers" --max_write_ops=1000000 --dup_chance=0 \
	--max_runtime=5m --leaf_write_goal="$leaves" --show_ui=false 2>"$work/hammer.log" || {
	tail -5 "$work/hammer.log" >&2
	exit 1
}
# hammer.go logs: Reached tree size goal of N after 12.3s; exiting
secs=$(sed -n 's/.*Reached tree size goal of [0-9]* after \([0-9.]*\)s.*/\1/p' "$work/hammer.log")
if [[ -z $secs ]]; then
	echo "no goal line in the hammer's log:" >&2
	tail -5 "$work/hammer.log" >&2
	exit 1
fi
awk -v n="$leaves" -v s="$secs" 'BEGIN { printf "tessera-hammer: %d leaves integrated in %.1f s: %.0f entries/s\n", n, s, n / s }'
