#!/bin/sh
# The Postman path end to end: starts the real simcored (port 0, a temp data dir, known admin
# credentials), converts the OpenAPI document to a Postman collection with openapi-to-postmanv2,
# and runs the collection's token request and a few reads with newman (newman-collection.mjs).
#   newman-test.sh path/to/simcored [path/to/openapi.yaml]
# Exit 0 when every request succeeded with a 2xx, 1 otherwise, 77 (ctest SKIP_RETURN_CODE) only
# when node_modules is absent and npm is not installed. Every step is bounded by a timeout and
# the daemon is always stopped.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
simcored=${1:?usage: newman-test.sh path/to/simcored [openapi.yaml]}
spec=${2:-$root/control/openapi.yaml}
bin=$here/node_modules/.bin

if [ ! -x "$bin/newman" ] || [ ! -x "$bin/openapi2postmanv2" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "SKIP: $here/node_modules is absent and npm is not installed" >&2
    [ -z "${CI:-}" ] || exit 1  # CI installs npm (scripts/bootstrap): absence is a failure
    exit 77
  fi
  echo "node_modules incomplete: running npm ci --prefix $here" >&2
  timeout 600 npm ci --prefix "$here" --no-audit --no-fund >&2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/simcore-newman-XXXXXX")
daemon=""
cleanup() {
  if [ -n "$daemon" ]; then
    kill "$daemon" 2>/dev/null || true
    wait "$daemon" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

secret=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
cat >"$work/simcored.yaml" <<CONFIG
listenAddress: 127.0.0.1
port: 0
dataDir: $work/data
adminClientId: newman-admin
adminClientSecret: $secret
CONFIG

# timeout bounds the daemon even if this script is killed before its trap runs.
timeout 300 "$simcored" --config "$work/simcored.yaml" >"$work/stdout" 2>"$work/stderr" &
daemon=$!
port=""
for _ in $(seq 100); do
  port=$(sed -n 's|^simcored: listening on http://[^:]*:\([0-9]*\)/.*|\1|p' "$work/stdout")
  [ -n "$port" ] && break
  if ! kill -0 "$daemon" 2>/dev/null; then break; fi
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "FAIL: simcored did not report its port" >&2
  cat "$work/stdout" "$work/stderr" >&2
  exit 1
fi

export NO_COLOR=1
timeout 120 "$bin/openapi2postmanv2" -s "$spec" -o "$work/converted.json" \
  -O enableOptionalParameters=false >"$work/convert.log" 2>&1 || {
  echo "FAIL: openapi2postmanv2 could not convert $spec" >&2
  cat "$work/convert.log" >&2
  exit 1
}
timeout 60 node "$here/newman-collection.mjs" "$work/converted.json" "$work/collection.json" \
  --origin "http://127.0.0.1:$port" --client-id newman-admin --client-secret "$secret"
# newman exits non-zero when a request fails or any test (2xx, token, array) does.
timeout 120 "$bin/newman" run "$work/collection.json" --timeout 100000 \
  --timeout-request 10000 --reporters cli --color off --disable-unicode --no-insecure-file-read
