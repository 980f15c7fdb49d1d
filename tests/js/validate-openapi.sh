#!/bin/sh
# Validates the OpenAPI document with Redocly CLI (pinned in package-lock.json).
#   validate-openapi.sh [path/to/openapi.yaml]      (default: control/openapi.yaml)
# Exit 0 when the document has no errors (warnings are listed, not fatal), 1 on errors,
# 77 (ctest SKIP_RETURN_CODE) only when node_modules is absent and npm is not installed.
# Missing node_modules with npm present: installs with `npm ci` first (needs the registry).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
spec=${1:-$root/control/openapi.yaml}
redocly=$here/node_modules/.bin/redocly

if [ ! -x "$redocly" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "SKIP: $here/node_modules is absent and npm is not installed" >&2
    [ -z "${CI:-}" ] || exit 1  # CI installs npm (scripts/bootstrap): absence is a failure
    exit 77
  fi
  echo "node_modules absent: running npm ci --prefix $here" >&2
  npm ci --prefix "$here" --no-audit --no-fund >&2
fi

# No telemetry or update checks: the test must be hermetic apart from the install above.
export REDOCLY_TELEMETRY=off
export REDOCLY_SUPPRESS_UPDATE_NOTICE=true
export NO_COLOR=1

# Redocly's "recommended" ruleset; `lint` exits non-zero on errors only and prints warnings.
cd "$here"
"$redocly" lint --format=stylish --extends=recommended "$spec"
