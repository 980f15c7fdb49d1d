#!/usr/bin/env bash
# bench/attach/ggsn_side_by_side.sh — GTPv1-C attach rate of osmo-ggsn and of simcored's GGSN
# under the same sgsnemu load, side by side (see bench/attach/README.md).
#
# Each GGSN gets its own namespaces, addressed identically, so the sgsnemu command line is the
# same byte for byte:
#   osmo-ggsn:  [scbench-<pid>-osgsn] 10.210.0.2.. ──veth── 10.210.0.1 [scbench-<pid>-oggsn]
#   simcored:   [scbench-<pid>-ssgsn] 10.210.0.2.. ──veth── net_af_packet [scbench-<pid>-sgw]
#                                     (access 10.210.0.1)   net_af_packet ──veth── [..-score]
# simcored gets a fresh data dir per run, its admin client in its config, and the N IMSIs that
# sgsnemu uses (IMSI + 10·n) provisioned and bulk-ACTIVATEd over its API (curl). osmo-ggsn gets
# a fresh process per run too (it holds at most 1,024 contexts).
# A run: dumpcap on the SGSN's end of the veth (udp port 2123), P sgsnemu processes (distinct -l
# addresses, N/P contexts each) killed after --window seconds (sgsnemu never exits by itself
# without a long teardown), then tshark reads the capture:
#   creates/s   = Create PDP Context Responses with cause 128 / (last of them − first Request)
#   sgsnemu     = Requests / (last Request − first Request): the offered load
#   latency     = Response time − Request time, matched by (SGSN address, sequence number)
# Runs alternate osmo-ggsn, simcored, osmo-ggsn, ... so background load hits both alike; the
# table shows every run and the per-column median; the ratio is of the median creates/s.
#
# usage: sudo bench/attach/ggsn_side_by_side.sh [--contexts N] [--procs P] [--runs R]
#          [--window S] [--simcored PATH] [--time-limit S] [--rcvbuf BYTES] [--keep]
#   --contexts N    PDP contexts per run, all sgsnemu processes together (1000; ≤ 1024, osmo-ggsn's
#                   limit)
#   --procs P       sgsnemu processes sharing them (1)
#   --runs R        runs per GGSN (3)
#   --window S      seconds each sgsnemu may run before it is killed (2)
#   --simcored PATH the daemon (build/control/daemon/simcored beside this repo); it is copied
#                   first, so a rebuild meanwhile does not change it under the benchmark
#   --time-limit S  the whole script is killed after S seconds (180)
#   --rcvbuf BYTES  UDP receive buffer of osmo-ggsn's and sgsnemu's sockets (4194304), set by a
#                   tiny LD_PRELOAD shim built here with gcc; 0 leaves the kernel default
#                   (212992), with which both drop datagrams in a burst (see README.md)
#   --keep          keep the work dir (captures, configs, logs) and print its path
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
contexts=1000 procs=1 runs=3 window=2 time_limit=180 keep=0 rcvbuf=4194304
simcored_src=$repo/build/control/daemon/simcored
args=("$@")
while [[ $# -gt 0 ]]; do
  case $1 in
    --contexts) contexts=$2; shift 2 ;;
    --procs) procs=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --window) window=$2; shift 2 ;;
    --simcored) simcored_src=$2; shift 2 ;;
    --time-limit) time_limit=$2; shift 2 ;;
    --rcvbuf) rcvbuf=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
               exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

# The whole run is bounded: re-exec under timeout (it signals our whole process group).
if [[ -z ${SCBENCH_BOUNDED:-} ]]; then
  SCBENCH_BOUNDED=1 exec timeout -k 10 "$time_limit" bash "$0" "${args[@]}"
fi

((EUID == 0)) || { echo "needs root (network namespaces, veth pairs, captures)" >&2; exit 2; }
for tool in ip sgsnemu osmo-ggsn dumpcap tshark curl ss; do
  command -v "$tool" >/dev/null || {
    echo "$tool missing (apt-get install -y osmo-ggsn tshark curl iproute2)" >&2; exit 2; }
done
((rcvbuf == 0)) || command -v gcc >/dev/null || { echo "gcc missing (or --rcvbuf 0)" >&2; exit 2; }
[[ -x $simcored_src ]] || { echo "no simcored at $simcored_src (--simcored PATH)" >&2; exit 2; }
((contexts % procs == 0)) || { echo "--contexts must be a multiple of --procs" >&2; exit 2; }
per=$((contexts / procs))
((contexts <= 1024 && per >= 1)) ||
  { echo "--contexts must be 1..1024 (osmo-ggsn holds at most 1024)" >&2; exit 2; }
((procs <= 200)) || { echo "--procs at most 200" >&2; exit 2; }

# ---------------------------------------------------------------------------------------------
# State and cleanup: every process we start is recorded by pid; every namespace is ours.
work=$(mktemp -d /tmp/scbench-ggsn-XXXXXX)
tag=$$
pfx=scbench-$tag
namespaces=()
daemons=()  # long-lived background pids (GGSNs, captures)

stop_pid() {  # stop_pid PID SIGNAL: signal it, give it 3 s, then SIGKILL; reap it
  local pid=$1 sig=$2
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -"$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  set +e
  trap - EXIT
  trap '' INT TERM  # a second ^C (or timeout's TERM to the group) must not cut the cleanup short
  for pid in "${daemons[@]}"; do stop_pid "$pid" TERM; done
  # Anything still inside our namespaces (an sgsnemu past its timeout, say) is ours: by pid.
  for ns in "${namespaces[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  done
  sleep 0.2
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null; done  # veths go with them
  if ((keep)); then echo "work dir kept: $work" >&2; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

bounded() { timeout -k 2 "$@"; }  # bounded SECONDS CMD...: every helper command is bounded
now_ms() { date +%s%3N; }

make_ns() {  # make_ns NAME
  bounded 10 ip netns add "$1"
  namespaces+=("$1")
  bounded 10 ip -n "$1" link set lo up
}
link_ns() {  # link_ns NS_A IF_A NS_B IF_B: a veth pair, one end in each namespace
  bounded 10 ip link add name "$2" netns "$1" type veth peer name "$4" netns "$3"
}
# The SGSN side: P addresses 10.210.0.2.. on one veth end.
sgsn_addresses() {  # sgsn_addresses NS IF
  for ((k = 0; k < procs; k++)); do
    bounded 10 ip -n "$1" addr add "10.210.0.$((2 + k))/24" dev "$2"
  done
  bounded 10 ip -n "$1" link set "$2" up
}

# The socket buffer shim: every UDP socket of the process gets SO_RCVBUFFORCE $SCBENCH_RCVBUF.
preload=()
if ((rcvbuf > 0)); then
  cat >"$work/rcvbuf.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/socket.h>
int socket(int domain, int type, int protocol) {
  static int (*real)(int, int, int);
  if (!real) real = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket");
  int fd = real(domain, type, protocol);
  const char* v = getenv("SCBENCH_RCVBUF");
  if (fd >= 0 && v && (domain == AF_INET || domain == AF_INET6) && (type & 0xf) == SOCK_DGRAM) {
    int n = atoi(v);
    if (n > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &n, sizeof n) != 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &n, sizeof n);
  }
  return fd;
}
C
  bounded 60 gcc -shared -fPIC -O2 -o "$work/rcvbuf.so" "$work/rcvbuf.c" -ldl
  preload=(env "SCBENCH_RCVBUF=$rcvbuf" "LD_PRELOAD=$work/rcvbuf.so")
fi

# ---------------------------------------------------------------------------------------------
# Topology.
cp "$simcored_src" "$work/simcored"
simcored=$work/simcored

o_sgsn=$pfx-osgsn o_ggsn=$pfx-oggsn
make_ns "$o_sgsn"; make_ns "$o_ggsn"
o_sif=sb${tag}os o_gif=sb${tag}og
link_ns "$o_sgsn" "$o_sif" "$o_ggsn" "$o_gif"
sgsn_addresses "$o_sgsn" "$o_sif"
bounded 10 ip -n "$o_ggsn" addr add 10.210.0.1/24 dev "$o_gif"
bounded 10 ip -n "$o_ggsn" link set "$o_gif" up

s_sgsn=$pfx-ssgsn s_gw=$pfx-sgw s_core=$pfx-score
make_ns "$s_sgsn"; make_ns "$s_gw"; make_ns "$s_core"
s_sif=sb${tag}ss s_aif=sb${tag}sa s_cif=sb${tag}sc s_rif=sb${tag}sr
link_ns "$s_sgsn" "$s_sif" "$s_gw" "$s_aif"
link_ns "$s_core" "$s_rif" "$s_gw" "$s_cif"
sgsn_addresses "$s_sgsn" "$s_sif"
bounded 10 ip -n "$s_core" addr add 10.211.0.2/24 dev "$s_rif"
bounded 10 ip -n "$s_core" link set "$s_rif" up
# simcored's ends carry only what DPDK sends: no address, no IPv6 of the kernel's own.
for i in "$s_aif" "$s_cif"; do
  bounded 10 ip netns exec "$s_gw" sysctl -qw "net.ipv6.conf.$i.disable_ipv6=1"
  bounded 10 ip -n "$s_gw" link set "$i" up
done

cat >"$work/osmo-ggsn.cfg" <<CFG
log stderr
 logging filter all 1
 logging color 0
 logging print category 1
 logging timestamp 1
 logging level set-all notice
!
line vty
 no login
!
ggsn ggsn0
 gtp state-dir $work/ggsn-state
 gtp bind-ip 10.210.0.1
 apn iot.simcore
  gtpu-mode tun
  tun-device sb${tag}tun
  type-support v4
  ip prefix dynamic 10.64.0.0/16
  ip dns 0 192.0.2.53
  ip ifconfig 10.64.0.0/16
  no shutdown
 no shutdown ggsn
CFG

secret=scbench-secret-0123456789
cat >"$work/simcored.yaml" <<YAML
adminClientId: scbench
adminClientSecret: $secret
rateLimitPerSecond: 1000000000
rateLimitBurst: 1000000000
maxBodyBytes: 67108864
dataplane:
  workers: 1
  access: {port: net_af_packet_sg, devargs: 'iface=$s_aif', address: 10.210.0.1, prefixLength: 24}
  core: {port: net_af_packet_cr, devargs: 'iface=$s_cif', address: 10.211.0.1, prefixLength: 24}
YAML

first_imsi=204080000200000  # sgsnemu: context n of a process has IMSI + 10·n
awk -v n="$contexts" -v base="$first_imsi" 'BEGIN {
  printf "{\"things\":["
  for (i = 0; i < n; i++)
    printf "%s{\"iccid\":\"8931%015d\",\"imsi\":\"%.0f\",\"tags\":[\"scbench\"]}",
           (i ? "," : ""), i, base + 10 * i
  printf "]}"
}' >"$work/things.json"

# ---------------------------------------------------------------------------------------------
# The GGSNs. Each start_* leaves gw_pid set (a timeout wrapper: signals reach the GGSN).
gw_pid=
start_osmo() {
  rm -rf "$work/ggsn-state"; mkdir -p "$work/ggsn-state"
  ip netns exec "$o_ggsn" "${preload[@]}" timeout -k 2 "$time_limit" \
    osmo-ggsn -c "$work/osmo-ggsn.cfg" >"$work/osmo-ggsn.$1.log" 2>&1 &
  gw_pid=$!; daemons+=("$gw_pid")
  for _ in $(seq 100); do
    [[ -n $(bounded 5 ip netns exec "$o_ggsn" ss -Hlun 'sport = :2123') ]] && return 0
    kill -0 "$gw_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "osmo-ggsn did not start:" >&2; cat "$work/osmo-ggsn.$1.log" >&2; return 1
}

api() {  # api METHOD PATH [BODY_FILE]: prints the body; a non-2xx ends the run
  local code
  code=$(ip netns exec "$s_gw" curl -s --max-time 60 -o "$work/reply" -w '%{http_code}' \
    -X "$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    ${3:+--data-binary @$3} "$base$prefix$2")
  [[ $code == 2* ]] || { echo "$1 $2 -> $code: $(head -c 400 "$work/reply")" >&2; return 1; }
  cat "$work/reply"
}
start_simcored() {
  rm -rf "$work/data"
  : >"$work/simcored.$1.out"  # exists before the daemon opens it: the wait below reads it
  ip netns exec "$s_gw" timeout -k 2 "$time_limit" "$simcored" --config "$work/simcored.yaml" \
    --data-dir "$work/data" --port 0 >"$work/simcored.$1.out" 2>"$work/simcored.$1.log" &
  gw_pid=$!; daemons+=("$gw_pid")
  local port=
  for _ in $(seq 200); do
    port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$work/simcored.$1.out")
    [[ -n $port ]] && break
    kill -0 "$gw_pid" 2>/dev/null || break
    sleep 0.05
  done
  [[ -n $port ]] || { echo "simcored did not start:" >&2; tail -20 "$work/simcored.$1.log" >&2
                      return 1; }
  base=http://127.0.0.1:$port prefix=/iot/jpu/iotprogrammablesim token=
  token=$(ip netns exec "$s_gw" curl -sf --max-time 10 -d client_id=scbench \
    -d "client_secret=$secret" \
    "$base/oauth/client_credential/accesstoken?grant_type=client_credentials" |
    sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  [[ -n $token ]] || { echo "simcored: no token" >&2; return 1; }
  api POST /things "$work/things.json" >/dev/null
  local job jid t0
  job=$(api POST /bulkactions <(echo '{"action":"ACTIVATE","selector":{"tags":["scbench"]}}'))
  jid=$(sed -n 's/^{"id":"\([0-9]*\)".*/\1/p' <<<"$job")
  t0=$(now_ms)
  until grep -q '"status":"DONE"' <<<"$job"; do
    (($(now_ms) - t0 < 30000)) || { echo "bulk ACTIVATE did not finish: $job" >&2; return 1; }
    sleep 0.05
    job=$(api GET "/bulkactions/$jid")
  done
  grep -q "\"succeeded\":$contexts," <<<"$job" || { echo "bulk ACTIVATE: $job" >&2; return 1; }
}

udp_rcvbuf_errors() {  # udp_rcvbuf_errors NS: the namespace's UDP RcvbufErrors counter
  bounded 5 ip netns exec "$1" cat /proc/net/snmp |
    awk '$1 == "Udp:" {
      if (!h) { for (i = 2; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1 } else print $c
    }'
}
simcored_accepted() {  # what simcored itself counts: GTPv1-C creates accepted
  api GET /metrics | sed -n 's/^simcore_gtpc_events_total{gsn="ggsn",event="accepted"} //p'
}

stop_ggsn() {
  stop_pid "$gw_pid" TERM
  local d=() p
  for p in "${daemons[@]}"; do [[ $p == "$gw_pid" ]] || d+=("$p"); done
  daemons=("${d[@]}")
}

# ---------------------------------------------------------------------------------------------
# One measured run: capture on the SGSN's end of the veth, P sgsnemu at once, kill at --window.
measure() {  # measure NAME SGSN_NS SGSN_IF RUN -> the pcap at $work/NAME.RUN.pcap
  local name=$1 ns=$2 ifc=$3 run=$4
  local pcap=$work/$name.$run.pcap
  : >"$work/dumpcap.$name.$run.log"
  # Resolve the GGSN's MAC first (and let it learn ours), so no Create waits in an ARP queue.
  local k
  for ((k = 0; k < procs; k++)); do
    bounded 5 ip netns exec "$ns" ping -n -q -c 1 -W 1 -I "10.210.0.$((2 + k))" 10.210.0.1 \
      >/dev/null 2>&1 || true
  done
  # pcap, not pcapng: past its 24-byte header, the file holds packets only (see below).
  ip netns exec "$ns" timeout -k 2 $((window + 30)) dumpcap -q -P -B 64 -i "$ifc" \
    -f 'udp port 2123 or udp port 9' -w "$pcap" 2>"$work/dumpcap.$name.$run.log" &
  local cap=$!
  daemons+=("$cap")
  # dumpcap says "Capturing on" before it captures: under load the first Creates went missing.
  # So send a datagram to the discard port until one reaches the file (flushed every 100 ms).
  local size=0
  for _ in $(seq 200); do
    bounded 2 ip netns exec "$ns" bash -c 'echo scbench >/dev/udp/10.210.0.1/9' 2>/dev/null ||
      true
    sleep 0.05
    size=$(stat -c %s "$pcap" 2>/dev/null || echo 0)
    ((size > 24)) && break
  done
  ((size > 24)) || { echo "dumpcap did not start capturing:" >&2
                     cat "$work/dumpcap.$name.$run.log" >&2; return 1; }
  local sg=()
  for ((k = 0; k < procs; k++)); do
    local st=$work/sgsnemu.$name.$run.$k
    mkdir -p "$st"
    # stdout to /dev/null: sgsnemu prints a line per context, and a file slows its sending.
    ip netns exec "$ns" "${preload[@]}" timeout --foreground -s KILL "$window" \
      sgsnemu -l "10.210.0.$((2 + k))" -r 10.210.0.1 --contexts "$per" \
      --imsi $((first_imsi + 10 * per * k)) --apn iot.simcore --rai 204.08.1.1 \
      --imeisv 3534567890123401 --statedir "$st" --pidfile "$st/pid" \
      >/dev/null 2>"$st/stderr" &
    sg+=($!)
  done
  for k in "${sg[@]}"; do wait "$k" || true; done  # killed at the window: exit 137
  sleep 0.2
  stop_pid "$cap" INT
  local d=() p
  for p in "${daemons[@]}"; do [[ $p == "$cap" ]] || d+=("$p"); done
  daemons=("${d[@]}")
  local dropped
  dropped=$(sed -n "s/.*received\/dropped on interface '[^']*': [0-9]*\/\([0-9]*\).*/\1/p" \
    "$work/dumpcap.$name.$run.log")
  [[ ${dropped:-0} == 0 ]] ||
    echo "  warning: dumpcap dropped $dropped packets ($name run $run)" >&2
}

# analyse PCAP -> "requests accepted other_responses span_ms rate send_ms send_rate p50_ms p99_ms
# drain_ms causes"
analyse() {
  bounded 60 tshark -r "$1" -n -Y 'gtp.message == 0x10 || gtp.message == 0x11' -T fields \
    -E separator=' ' -e frame.time_relative -e ip.src -e ip.dst -e gtp.message \
    -e gtp.seq_number -e gtp.cause 2>/dev/null |
  awk -v lat="$1.lat" '
    $4 == "0x10" { req++; if (fr == "") fr = $1; lr = $1; sent[$2 " " $5] = $1; next }
    $4 == "0x11" {
      cause[$6]++
      if ($6 == 128) { acc++; la = $1 } else other++
      k = $3 " " $5
      if (k in sent) print ($1 - sent[k]) * 1000 > lat
    }
    END {
      c = ""; for (x in cause) c = c (c == "" ? "" : ",") x ":" cause[x]
      span = (acc > 0 ? la - fr : 0); send = (req > 1 ? lr - fr : 0)
      printf "%d %d %d %.3f %.0f %.3f %.0f %.3f %s\n", req, acc, other + 0, span * 1000,
             (span > 0 ? acc / span : 0), send * 1000, (send > 0 ? req / send : 0),
             (acc > 0 ? la - lr : 0) * 1000, (c == "" ? "-" : c)
    }'
}
percentile() {  # percentile FILE P: the P-th percentile of one number per line
  [[ -s $1 ]] || { echo 0; return 0; }
  sort -g "$1" | awk -v p="$2" '{ v[NR] = $1 } END {
    if (NR == 0) { print "-"; exit } i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1
    printf "%.3f\n", v[i] }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# ---------------------------------------------------------------------------------------------
echo "ggsn side by side: $contexts contexts per run ($procs sgsnemu x $per), $runs runs each," \
     "window ${window}s; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "simcored: $simcored_src;" \
     "osmo-ggsn $(dpkg-query -W -f '${Version}' osmo-ggsn 2>/dev/null || echo '?')"
if ((rcvbuf > 0)); then
  echo "UDP receive buffer of osmo-ggsn and sgsnemu: $rcvbuf bytes (--rcvbuf 0: kernel default)"
else
  echo "UDP receive buffers: kernel default ($(cat /proc/sys/net/core/rmem_default) bytes)"
fi
results=()
for ((r = 1; r <= runs; r++)); do
  for g in osmo-ggsn simcored; do
    if [[ $g == osmo-ggsn ]]; then
      start_osmo "$r"
      before=$(udp_rcvbuf_errors "$o_ggsn") sg_before=$(udp_rcvbuf_errors "$o_sgsn")
      measure "$g" "$o_sgsn" "$o_sif" "$r"
      own="its UDP socket dropped $(($(udp_rcvbuf_errors "$o_ggsn") - before)) (RcvbufErrors)"
      sg_lost=$(($(udp_rcvbuf_errors "$o_sgsn") - sg_before))
    else
      start_simcored "$r"
      sg_before=$(udp_rcvbuf_errors "$s_sgsn")
      measure "$g" "$s_sgsn" "$s_sif" "$r"
      own="it counts $(simcored_accepted) accepted (simcore_gtpc_events_total)"
      sg_lost=$(($(udp_rcvbuf_errors "$s_sgsn") - sg_before))
    fi
    stop_ggsn
    read -r req acc _ span rate send srate drain causes < <(analyse "$work/$g.$r.pcap")
    p50=$(percentile "$work/$g.$r.pcap.lat" 50)
    p99=$(percentile "$work/$g.$r.pcap.lat" 99)
    results+=("$g $r $req $acc $span $rate $send $srate $p50 $p99 $drain $causes")
    printf '  run %d %-9s requests %4d accepted %4d (causes %s) %7.1f ms %6.0f creates/s;' \
      "$r" "$g" "$req" "$acc" "$causes" "$span" "$rate"
    echo " $own; sgsnemu's socket dropped $sg_lost responses"
  done
done

echo
hdr='%-10s %4s %8s %8s %14s %10s %12s %11s %9s %9s %9s\n'
printf "$hdr" GGSN run contexts accepted 'req->resp ms' creates/s 'req->req ms' 'sgsnemu/s' \
  'lat p50' 'lat p99' 'drain ms'
printf "$hdr" ---------- ---- -------- -------- -------------- ---------- ------------ \
  ----------- --------- --------- ---------
fmt='%-10s %4s %8s %8s %14.1f %10.0f %12.1f %11.0f %9s %9s %9.1f\n'
declare -A med
for g in osmo-ggsn simcored; do
  spans=() rates=() sends=() srates=() p50s=() p99s=() drains=() accs=()
  for line in "${results[@]}"; do
    read -r gg r req acc span rate send srate p50 p99 drain causes <<<"$line"
    [[ $gg == "$g" ]] || continue
    printf "$fmt" "$g" "$r" "$contexts" "$acc" "$span" "$rate" "$send" "$srate" "$p50" "$p99" \
      "$drain"
    spans+=("$span") rates+=("$rate") sends+=("$send") srates+=("$srate") p50s+=("$p50")
    p99s+=("$p99") drains+=("$drain") accs+=("$acc")
  done
  med[$g.rate]=$(median "${rates[@]}") med[$g.srate]=$(median "${srates[@]}")
  med[$g.drain]=$(median "${drains[@]}") med[$g.p50]=$(median "${p50s[@]}")
  med[$g.acc]=$(median "${accs[@]}")
  printf "$fmt" "$g" median "$contexts" "${med[$g.acc]}" "$(median "${spans[@]}")" \
    "${med[$g.rate]}" "$(median "${sends[@]}")" "${med[$g.srate]}" "${med[$g.p50]}" \
    "$(median "${p99s[@]}")" "${med[$g.drain]}"
done
echo
awk -v s="${med[simcored.rate]}" -v o="${med[osmo-ggsn.rate]}" 'BEGIN {
  printf "ratio simcored / osmo-ggsn (median creates/s): %.2f\n", (o > 0 ? s / o : 0) }'
# When a GGSN answers as fast as sgsnemu sends, its rate is sgsnemu's: say so.
bound=
for g in osmo-ggsn simcored; do
  awk -v g="$g" -v r="${med[$g.rate]}" -v s="${med[$g.srate]}" -v d="${med[$g.drain]}" \
      -v l="${med[$g.p50]}" 'BEGIN {
    printf "%s: answered at %.2f of sgsnemu'"'"'s send rate; last response %.1f ms after the last" \
           " request; median latency %s ms\n", g, (s > 0 ? r / s : 0), d, l }'
  if awk -v r="${med[$g.rate]}" -v s="${med[$g.srate]}" 'BEGIN { exit !(r >= 0.9 * s) }'; then
    bound+=" $g"
  fi
done
if [[ -n $bound ]]; then
  hint=
  ((procs > 1)) || hint=" (--procs 4 offers more: 4 sgsnemu sending at once)"
  echo "note:$bound kept within 10% of sgsnemu's send rate: there creates/s measures sgsnemu" \
       "as much as the GGSN$hint."
fi
status=0
for g in osmo-ggsn simcored; do
  for line in "${results[@]}"; do
    read -r gg r req acc _ <<<"$line"
    if [[ $gg == "$g" ]] && ((acc != contexts || req != contexts)); then
      echo "FAIL: $g run $r: $req requests, $acc accepted of $contexts" >&2; status=1
    fi
  done
done
exit "$status"
