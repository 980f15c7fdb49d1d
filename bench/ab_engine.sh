#!/usr/bin/env bash
# bench/ab_engine.sh ROUNDS CASE... — two engine_bench binaries alternated per case, the order
# flipped every round, printing each run's pipeline cycles per packet. These machines drift by
# up to ~40% between invocations, so a change is judged by the rounds it wins, not one run.
#   OLD=/tmp/old/engine_bench NEW=build/dataplane/dpdk/engine_bench \
#     bench/ab_engine.sh 5 EngineUplink/160000/64/100 EngineDownlink/160000/64/100
# Build OLD from the commit before (a git worktree with its own build directory).
set -euo pipefail

if [[ $# -lt 2 || -z "${OLD:-}" || -z "${NEW:-}" ]]; then
  echo "usage: OLD=<engine_bench> NEW=<engine_bench> $0 ROUNDS CASE..." >&2
  exit 2
fi
rounds=$1
shift

# Each run prints its pipeline cycles and, in brackets, line_rt: a cache line's round trip
# between the two CPUs in that run. It swings ~8x on these VMs (where the host runs the vCPUs)
# and the cycles with it, so only rounds at like line_rt compare.
cycles() {  # cycles <binary> <case>
  "$1" --benchmark_filter="^BM_$2/real_time\$" --benchmark_min_time=0.5 \
    --benchmark_format=json 2>/dev/null |
    awk -F'[:,]' '/"pipeline_cycles"/ { c = $2 } /"line_rt"/ { r = $2 }
                  END { printf "%.0f (rt %.0f)\n", c, r }'
}

for c in "$@"; do
  for ((r = 1; r <= rounds; ++r)); do
    if ((r % 2)); then
      echo "$c round $r: old $(cycles "$OLD" "$c") new $(cycles "$NEW" "$c")"
    else
      n=$(cycles "$NEW" "$c")
      echo "$c round $r: old $(cycles "$OLD" "$c") new $n (new ran first)"
    fi
  done
done
