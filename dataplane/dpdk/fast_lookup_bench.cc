// Cycles per policy decision: fast_lookup (FlatIndex, rte_hash, rte_lpm, rte_acl), its burst
// form, and core::lookup_packet on the same CompiledTables and the same packets as the baseline
// of the same run. Uplink and downlink, 1k / 100k / 1M sessions, IP Profiles of 10 / 100 /
// 10,000 rules per chain. Also the route stage alone: scanning a network's rows against the
// shared rte_fib6, which sets FastBuildOptions::linear_routes_max.
//
// The session-scale tables are built row by row (as the compiler lays them out), not through
// model_gen: a 1M-Thing account takes minutes to generate. One network (pool 10.0.0.0/8, three
// routes), 4 stateless profiles of random rules (see random_chain), default allow; only packets the
// policy forwards (uplink) or delivers (downlink) are timed, chosen with lookup_packet, so every
// packet runs every stage. Stateless, because core::FlowMemory's std::set would dominate otherwise.
// 65,536 distinct packets over random sessions, so the 1M tables are read from memory, not cache.
//   build-h1/dataplane/dpdk/fast_lookup_bench --benchmark_repetitions=3
//       --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <x86intrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>

#include "core/check.h"
#include "core/model.h"
#include "core/table_lookup.h"
#include "dataplane/dpdk/eal.h"
#include "dataplane/dpdk/fast_lookup.h"

namespace simcore::dp {
namespace {

constexpr size_t kDistinct = 65536;
constexpr size_t kProfiles = 4;
constexpr uint16_t kHotPorts[] = {53, 80, 443, 1883, 5683, 8080};

// Remote addresses of rules and packets: two /16s.
uint32_t remote(std::mt19937_64& rng) {
  return (rng() % 2 ? 0xC6330000u : 0xCB000000u) | static_cast<uint32_t>(rng() & 0xffff);
}

// Rules as long allow/deny lists look: /24../32 remotes, TCP or UDP to one service port. A
// packet matches few of them, so the portable first-match scan walks most of the chain (its
// worst case, and the common case for lists of hosts); rte_acl's cost barely depends on it.
core::CompiledChain random_chain(std::mt19937_64& rng, size_t rules) {
  core::CompiledChain c;
  c.default_action = static_cast<uint8_t>(core::Action::kAllow);
  for (size_t i = 0; i < rules; ++i) {
    core::AclRule r{};
    r.remote_len = static_cast<uint8_t>(24 + rng() % 9);
    r.remote_addr = remote(rng) & (~uint32_t{0} << (32 - r.remote_len));
    r.proto = rng() % 10 == 0 ? 0 : rng() % 2 ? 6 : 17;
    // Mostly allow rules: a deny-heavy chain would leave few packets to time.
    r.action = static_cast<uint8_t>(rng() % 4 == 0 ? core::Action::kDeny : core::Action::kAllow);
    r.remote_port_lo = 0;
    r.remote_port_hi = 65535;
    r.local_port_lo = 0;
    r.local_port_hi = 65535;
    if (r.proto != 0) {
      const uint16_t p = kHotPorts[rng() % std::size(kHotPorts)];
      r.remote_port_lo = p;
      r.remote_port_hi = static_cast<uint16_t>(p + rng() % 2);
    }
    r.rule_id = static_cast<uint32_t>(i + 1);
    r.priority = static_cast<uint32_t>(i + 1);
    c.rules.push_back(r);
  }
  return c;
}

std::shared_ptr<core::CompiledTables> session_tables(
    size_t sessions, const std::vector<std::shared_ptr<const core::CompiledProfile>>& profiles) {
  auto t = std::make_shared<core::CompiledTables>();
  t->profiles = profiles;
  t->networks = {core::NetworkRow{.network_id = 1,
                                  .vlan = 100,
                                  .isolated = 0,
                                  .reserved = 0,
                                  .pool_first = 0,
                                  .pool_count = 1,
                                  .route_first = 0,
                                  .route_count = 3}};
  t->pools = {core::PoolRow{0x0A000000u, 0x0AFFFFFFu, 0, 0}};
  t->routes = {core::RouteRow{0xCB007107u, 32, static_cast<uint8_t>(core::RouteKind::kBlackhole),
                              core::kNoTunnel},
               core::RouteRow{0xAC100000u, 24, static_cast<uint8_t>(core::RouteKind::kTunnel), 0},
               core::RouteRow{0xC6336400u, 23, static_cast<uint8_t>(core::RouteKind::kInternet),
                              core::kNoTunnel}};
  t->tunnels = {core::TunnelRow{7, core::to_be(core::Ipv4{0xC6120001u}), 0, 0, ~0u}};
  t->sessions.resize(sessions, core::SessionRow{});
  t->by_teid = core::FlatIndex(sessions);
  t->by_ue = core::FlatIndex(sessions);
  for (uint32_t i = 0; i < sessions; ++i) {
    core::SessionRow& s = t->sessions.mut(i);
    s.ue_addr = core::to_be(core::Ipv4{0x0A000001u + i});
    s.peer_addr = core::to_be(core::Ipv4{0x64400001u + i % 64});
    s.peer_teid = core::teid_be(0x80000000u + i);
    s.local_teid = core::teid_be(0x1000u + i * 7);
    s.profile = static_cast<core::ProfileIndex>(i % profiles.size());
    s.network = 0;
    s.flags = core::kSessionAttached | core::kSessionActive | core::kSessionDataAllowed;
    t->by_teid.insert(s.local_teid.raw, i);
    t->by_ue.insert(s.ue_addr.raw, i);
  }
  return t;
}

struct Setup {
  size_t sessions = 0, rules = 0;
  std::shared_ptr<const core::CompiledTables> tables;
  std::shared_ptr<const FastTables> fast;
  std::vector<core::PacketDesc> uplink, downlink;
  double build_ms = 0;
};

// One setup at a time (a 1M one holds a few hundred MB); benchmarks run rules-major, so the
// next setup with the same rule count takes the ACL contexts over from the current one.
Setup& setup_of(size_t sessions, size_t rules) {
  static std::unique_ptr<Setup> current;
  static std::vector<std::shared_ptr<const core::CompiledProfile>> profiles;
  static size_t profiles_rules = 0;
  if (current && current->sessions == sessions && current->rules == rules) return *current;
  if (profiles_rules != rules) {
    profiles.clear();
    std::mt19937_64 rng(rules);
    for (size_t i = 0; i < kProfiles; ++i) {
      auto p = std::make_shared<core::CompiledProfile>();
      p->profile_id = static_cast<uint32_t>(i + 1);
      p->inbound = random_chain(rng, rules);
      p->outbound = random_chain(rng, rules);
      profiles.push_back(std::move(p));
    }
    profiles_rules = rules;
  }
  auto s = std::make_unique<Setup>();
  s->sessions = sessions;
  s->rules = rules;
  s->tables = session_tables(sessions, profiles);
  const auto start = std::chrono::steady_clock::now();
  auto fast = FastTables::build(s->tables, current ? current->fast.get() : nullptr);
  s->build_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  SIMCORE_CHECK(fast.ok());
  s->fast = *fast;
  current.reset();  // before choosing packets: only one 1M setup in memory at a time

  std::mt19937_64 rng(7);
  core::FlowMemory none;
  for (size_t tries = 0;
       tries < 20 * kDistinct && (s->uplink.size() < kDistinct || s->downlink.size() < kDistinct);
       ++tries) {
    const auto slot = static_cast<uint32_t>(rng() % sessions);
    const core::SessionRow& row = s->tables->sessions[slot];
    core::PacketDesc p;
    p.proto = rng() % 2 ? 6 : 17;
    const uint32_t far = remote(rng);
    const uint16_t port = kHotPorts[rng() % std::size(kHotPorts)];
    const auto local = static_cast<uint16_t>(1024 + rng() % 60000);
    if (tries % 2 == 0) {
      p.dir = core::Direction::kUplink;
      p.teid = core::teid_host(row.local_teid);
      p.src = core::from_be(row.ue_addr);
      p.dst = core::Ipv4{far};
      p.sport = local;
      p.dport = port;
      if (s->uplink.size() < kDistinct &&
          core::lookup_packet(*s->tables, p, none).verdict == core::Verdict::kForward) {
        s->uplink.push_back(p);
      }
    } else {
      p.dir = core::Direction::kDownlink;
      p.src = core::Ipv4{far};
      p.dst = core::from_be(row.ue_addr);
      p.sport = port;
      p.dport = local;
      if (s->downlink.size() < kDistinct &&
          core::lookup_packet(*s->tables, p, none).verdict == core::Verdict::kDeliver) {
        s->downlink.push_back(p);
      }
    }
  }
  SIMCORE_CHECK(!s->uplink.empty() && !s->downlink.empty());
  current = std::move(s);
  return *current;
}

enum class Impl { kPortable, kFast, kFastBurst };

void run(benchmark::State& state, core::Direction dir, Impl impl) {
  const Setup& s =
      setup_of(static_cast<size_t>(state.range(0)), static_cast<size_t>(state.range(1)));
  const std::vector<core::PacketDesc>& pkts =
      dir == core::Direction::kUplink ? s.uplink : s.downlink;
  const size_t n = pkts.size();
  core::FlowMemory flows;
  core::Decision out[kFastBurstMax];
  size_t i = 0;
  uint64_t cycles = 0, packets = 0, sent = 0;
  for (auto _ : state) {
    const uint64_t start = __rdtsc();
    for (int k = 0; k < 8; ++k) {
      if (i + kFastBurstMax > n) i = 0;
      switch (impl) {
        case Impl::kPortable:
          for (size_t j = 0; j < kFastBurstMax; ++j) {
            out[j] = core::lookup_packet(*s.tables, pkts[i + j], flows);
          }
          break;
        case Impl::kFast:
          for (size_t j = 0; j < kFastBurstMax; ++j)
            out[j] = fast_lookup(*s.fast, pkts[i + j], flows);
          break;
        case Impl::kFastBurst:
          fast_lookup_burst(*s.fast, pkts.data() + i, kFastBurstMax, flows, out);
          break;
      }
      benchmark::DoNotOptimize(out);
      for (const core::Decision& d : out) sent += d.verdict != core::Verdict::kDrop;
      i += kFastBurstMax;
    }
    cycles += __rdtsc() - start;
    packets += 8 * kFastBurstMax;
  }
  state.SetItemsProcessed(static_cast<int64_t>(packets));
  // rdtsc counts wall time, preemption by other processes on a shared machine included;
  // ns_per_pkt is from the thread's CPU time (Google Benchmark's), the steadier of the two.
  state.counters["tsc_per_pkt"] = static_cast<double>(cycles) / static_cast<double>(packets);
  state.counters["ns_per_pkt"] =
      benchmark::Counter(static_cast<double>(packets) * 1e-9,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["sent_fraction"] = static_cast<double>(sent) / static_cast<double>(packets);
  state.counters["distinct_pkts"] = static_cast<double>(n);
  // Both forms find sessions in the same FlatIndexes (fast_tables.cc says why).
  state.counters["bytes_per_session"] = s.fast->bytes_per_session();
  if (impl != Impl::kPortable) state.counters["build_ms"] = s.build_ms;
}

// The route stage alone on one network of `routes` routes: nested prefixes over two /16s (a
// /0 among them), destinations from the same /16s.
void route_stage(benchmark::State& state, bool fib) {
  const auto routes = static_cast<size_t>(state.range(0));
  auto t = session_tables(1, {std::make_shared<core::CompiledProfile>()});
  std::mt19937_64 rng(routes);
  std::vector<core::RouteRow> rows;
  rows.push_back({0, 0, static_cast<uint8_t>(core::RouteKind::kInternet), core::kNoTunnel});
  while (rows.size() < routes) {
    const auto len = static_cast<uint8_t>(16 + rng() % 17);
    uint32_t a = (rng() % 2 ? 0xC6330000u : 0xCB000000u) | static_cast<uint32_t>(rng() & 0xffff);
    a &= ~uint32_t{0} << (32 - len);
    if (std::any_of(rows.begin(), rows.end(),
                    [&](const core::RouteRow& r) { return r.prefix == a && r.len == len; })) {
      continue;
    }
    rows.push_back({a, len, static_cast<uint8_t>(core::RouteKind::kInternet), core::kNoTunnel});
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const core::RouteRow& x, const core::RouteRow& y) { return x.len > y.len; });
  t->routes = rows;
  t->networks[0].route_count = static_cast<uint32_t>(rows.size());
  auto ft =
      FastTables::build(t, nullptr, FastBuildOptions{.linear_routes_max = fib ? 0u : 1u << 20});
  SIMCORE_CHECK(ft.ok() && (*ft)->routes_in_fib(0) == fib);
  std::vector<uint32_t> dst(4096);
  for (uint32_t& d : dst)
    d = (rng() % 2 ? 0xC6330000u : 0xCB000000u) | static_cast<uint32_t>(rng() & 0xffff);
  uint64_t cycles = 0, lookups = 0;
  size_t i = 0;
  for (auto _ : state) {
    const uint64_t start = __rdtsc();
    for (int k = 0; k < 256; ++k, ++i) {
      benchmark::DoNotOptimize((*ft)->find_route(0, dst[i % dst.size()]));
    }
    cycles += __rdtsc() - start;
    lookups += 256;
  }
  state.SetItemsProcessed(static_cast<int64_t>(lookups));
  state.counters["tsc_per_lookup"] = static_cast<double>(cycles) / static_cast<double>(lookups);
  state.counters["ns_per_lookup"] =
      benchmark::Counter(static_cast<double>(lookups) * 1e-9,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void register_all() {
  struct Fn {
    const char* name;
    core::Direction dir;
    Impl impl;
  };
  const Fn fns[] = {
      {"BM_UplinkPortable", core::Direction::kUplink, Impl::kPortable},
      {"BM_UplinkFast", core::Direction::kUplink, Impl::kFast},
      {"BM_UplinkFastBurst", core::Direction::kUplink, Impl::kFastBurst},
      {"BM_DownlinkPortable", core::Direction::kDownlink, Impl::kPortable},
      {"BM_DownlinkFast", core::Direction::kDownlink, Impl::kFast},
      {"BM_DownlinkFastBurst", core::Direction::kDownlink, Impl::kFastBurst},
  };
  for (const int64_t rules : {10, 100, 10000}) {
    for (const int64_t sessions : {1000, 100000, 1000000}) {
      for (const Fn& f : fns) {
        benchmark::RegisterBenchmark(f.name, [f](benchmark::State& st) {
          run(st, f.dir, f.impl);
        })->Args({sessions, rules});
      }
    }
  }
  for (const int64_t routes : {1, 4, 8, 16, 32, 64, 256}) {
    benchmark::RegisterBenchmark("BM_RouteScan", [](benchmark::State& st) {
      route_stage(st, false);
    })->Arg(routes);
    benchmark::RegisterBenchmark("BM_RouteFib6", [](benchmark::State& st) {
      route_stage(st, true);
    })->Arg(routes);
  }
}

}  // namespace
}  // namespace simcore::dp

int main(int argc, char** argv) {
  simcore::dp::EalOptions o;
  o.memory_mb = 4096;  // 1M-session hashes, the pool LPM and 10k-rule ACL contexts
  const simcore::core::Status s = simcore::dp::eal_init(o);
  if (!s) {
    std::fprintf(stderr, "eal_init: %s\n", s.error().message().c_str());
    return 1;
  }
  simcore::dp::register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
