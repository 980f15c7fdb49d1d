#!/usr/bin/env bash
# bench/api/api_bench.sh — simcored's API under wrk on loopback (issue 3's benchmarks).
# Starts the real daemon on a temp data dir, provisions N Things, activates them all with one
# bulk action (timed until the job reports DONE: its last slice has been published to the
# tables), then runs wrk against:
#   baseline           GET without a token: answered 401 before routing (the server's own cost)
#   GET /things/{id}   token check, rate limit, route, JSON
#   GET /things?limit=100 over all N Things (paging through the list)
#   PUT /things/{id}/state   each one a durable SQLite commit (synchronous=FULL) + republish
# and prints requests/s, p99 latency and each rate as a ratio of the baseline of the same run
# (these machines are shared and noisy: compare ratios, not absolute numbers).
# usage: bench/api/api_bench.sh [BUILD_DIR] [--things N] [--duration S] [--connections C]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=build things=100000 duration=10 conns=16
while [[ $# -gt 0 ]]; do
  case $1 in
    --things) things=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) conns=$2; shift 2 ;;
    -h|--help) sed -n 2,14p "$0"; exit 0 ;;
    *) build=$1; shift ;;
  esac
done
simcored=$build/control/daemon/simcored
[[ -x $simcored ]] || { echo "no $simcored: build first (cmake --build $build)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk missing: run scripts/bootstrap" >&2; exit 2; }

work=$(mktemp -d /tmp/simcore-api-bench-XXXXXX)
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
secret=bench-secret-0123456789
cat >"$work/simcored.yaml" <<YAML
adminClientId: bench
adminClientSecret: $secret
rateLimitPerSecond: 1000000000
rateLimitBurst: 1000000000
maxBodyBytes: 67108864
YAML
"$simcored" --config "$work/simcored.yaml" --data-dir "$work/data" --port 0 \
  >"$work/out" 2>"$work/log" &
pid=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$work/out")
  [[ -n $port ]] && break
  sleep 0.1
done
[[ -n $port ]] || { echo "simcored did not start" >&2; cat "$work/log" >&2; exit 1; }
base=http://127.0.0.1:$port
prefix=/iot/jpu/iotprogrammablesim
token=$(curl -sf --max-time 10 -d client_id=bench -d client_secret=$secret \
  "$base/oauth/client_credential/accesstoken?grant_type=client_credentials" |
  sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
[[ -n $token ]] || { echo "no token" >&2; exit 1; }
api() {  # api METHOD PATH [BODY_FILE]: the body on stdout; a non-2xx ends the run
  local code
  code=$(curl -s --max-time 120 -o "$work/reply" -w '%{http_code}' -X "$1" \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    ${3:+--data-binary @$3} "$base$prefix$2")
  [[ $code == 2* ]] || { echo "$1 $2 -> $code: $(head -c 400 "$work/reply")" >&2; exit 1; }
  cat "$work/reply"
}
now_ms() { date +%s%3N; }

# The shipped default group and network (pool 10.64.0.0/12) hold the Things.
echo "provisioning $things Things..."
t0=$(now_ms)
first_id=
for ((start = 0; start < things; start += 10000)); do
  n=$((things - start < 10000 ? things - start : 10000))
  awk -v s=$start -v n=$n 'BEGIN {
    printf "{\"things\":["
    for (i = s; i < s + n; i++) {
      printf "%s{\"iccid\":\"8931%015d\",\"imsi\":\"20408%010d\",\"tags\":[\"bench\"]}",
             (i > s ? "," : ""), i, i
    }
    printf "]}"
  }' >"$work/batch.json"
  api POST /things "$work/batch.json" >"$work/prov"
  [[ -n $first_id ]] || first_id=$(sed -n 's/^\[{"thingId":"\([0-9]*\)".*/\1/p' "$work/prov")
done
echo "  provisioned in $(( $(now_ms) - t0 )) ms (first thingId $first_id)"

echo "bulk activation of $things Things (tag bench)..."
t0=$(now_ms)
api POST /bulkactions \
  <(echo '{"action":"ACTIVATE","selector":{"tags":["bench"]}}') >"$work/job"
jid=$(sed -n 's/^{"id":"\([0-9]*\)".*/\1/p' "$work/job")
while :; do
  api GET "/bulkactions/$jid" >"$work/job"
  grep -q '"status":"DONE"' "$work/job" && break
  (( $(now_ms) - t0 < 120000 )) || { echo "bulk action did not finish" >&2; exit 1; }
  sleep 0.02
done
bulk_ms=$(( $(now_ms) - t0 ))
grep -q "\"succeeded\":$things" "$work/job" || { echo "bulk: $(cat "$work/job")" >&2; exit 1; }
echo "  bulk activation: $bulk_ms ms until DONE (target < 5000 ms)"

run() {  # run NAME SCRIPT [ARGS...] -> "rps p99_ms non2xx"
  local name=$1 script=$2; shift 2
  wrk -t1 -c"$conns" -d"${duration}s" --latency -s "$here/$script" "$base" -- "$@" \
    >"$work/wrk.$name" 2>&1
  local rps p99 bad
  rps=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.$name")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v/=1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v*=1000}; print v}' "$work/wrk.$name")
  bad=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.$name")
  echo "$rps ${p99:-?} ${bad:-0}"
}
printf '%-28s %12s %10s %10s %9s\n' request 'req/s' 'p99 ms' 'non-2xx' 'x base'
read -r b_rps b_p99 _ < <(run baseline baseline.lua)
printf '%-28s %12s %10s %10s %9s\n' 'baseline (401, no route)' "$b_rps" "$b_p99" '(all)' 1.00
report() {
  local name=$1 rps=$2 p99=$3 bad=$4
  printf '%-28s %12s %10s %10s %9.2f\n' "$name" "$rps" "$p99" "$bad" \
    "$(awk -v a="$rps" -v b="$b_rps" 'BEGIN {print a / b}')"
}
read -r rps p99 bad < <(run get get_thing.lua "$token" "$prefix" "$first_id" "$things")
report 'GET /things/{id}' "$rps" "$p99" "$bad"
read -r rps p99 bad < <(run list list_things.lua "$token" "$prefix" "$things")
report 'GET /things?limit=100' "$rps" "$p99" "$bad"
read -r rps p99 bad < <(run put put_state.lua "$token" "$prefix" "$first_id" "$things")
report 'PUT /things/{id}/state' "$rps" "$p99" "$bad"
echo "bulk activation of $things Things: $bulk_ms ms"
