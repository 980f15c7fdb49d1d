#!/usr/bin/env bash
# bench/ab_engine.sh ROUNDS CASE... — two engine_bench binaries alternated per case, the order
# flipped every round, printing each run's pipeline cycles per packet. These machines drift by
# up to ~40% between invocations, so a change is judged by the rounds it wins, not one run.
#   OLD=/tmp/old/engine_bench NEW=build/dataplane/dpdk/engine_bench \
#     bench/ab_engine.sh 5 EngineUplink/160000/64/100 EngineDownlink/160000/64/100
# Build OLD from the commit before (a git worktree with its own build directory).
# RT_MAX=N (optional): a round counts only when both runs had line_rt <= N (the fast
# placement reads ~115-195 here); a round that does not is run again, up to 3 tries, and
# reported as skipped after that.
set -euo pipefail

if [[ $# -lt 2 || -z "${OLD:-}" || -z "${NEW:-}" ]]; then
  echo "usage: OLD=<engine_bench> NEW=<engine_bench> [RT_MAX=N] $0 ROUNDS CASE..." >&2
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
rt_of() { sed -E 's/.*\(rt ([0-9]+)\).*/\1/' <<<"$1"; }
# Whether both runs of a round were at line_rt <= RT_MAX (always, without RT_MAX).
placed() { [[ -z "${RT_MAX:-}" ]] || (($(rt_of "$1") <= RT_MAX && $(rt_of "$2") <= RT_MAX)); }

for c in "$@"; do
  for ((r = 1; r <= rounds; ++r)); do
    for _ in 1 2 3; do
      if ((r % 2)); then
        o=$(cycles "$OLD" "$c")
        n=$(cycles "$NEW" "$c")
        order=""
      else
        n=$(cycles "$NEW" "$c")
        o=$(cycles "$OLD" "$c")
        order=" (new ran first)"
      fi
      placed "$o" "$n" && break
    done
    if placed "$o" "$n"; then
      echo "$c round $r: old $o new $n$order"
    else
      echo "$c round $r: skipped, line_rt above $RT_MAX in 3 tries (last: old $o new $n)"
    fi
  done
done
