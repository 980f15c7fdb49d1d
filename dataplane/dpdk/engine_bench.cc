// The engine with its I/O: one worker lcore on its own CPU busy-polls a net_ring port and
// transmits out of the other, while the main thread plays the wire — it takes what the worker
// sent, rewrites each mbuf back into one of 4096 prepared frames, and feeds it in again, so a
// fixed number of frames circulate and none is allocated in the loop. The baseline, measured
// in the same run on the same ports and the same generator, is a bare loop on the same lcore:
// rx_burst from one port, tx_burst out of the other, no processing. Reported: Mpps, cycles per
// packet of the worker (it polls all the time, so TSC cycles / packets), and vs_bare (the
// pipeline's Mpps over the bare loop's for the same direction and size). BM_TouchLoop* is the
// bare loop plus the frame and mbuf lines the pipeline must touch, nothing else: its
// pipeline_cycles are what the frames' memory traffic alone costs. BM_EngineDownlinkReplies
// first sends the uplink frames that open stateful flows, then measures downlink replies on them.
//   build/dataplane/dpdk/engine_bench --benchmark_min_time=2
// With SIMCORE_HUGEPAGES=1 the EAL takes hugepages (reserve ~600 and mount hugetlbfs first);
// GLIBC_TUNABLES=glibc.malloc.hugetlb=1 puts the compiled tables (malloc'd) on THP as well.
// SIMCORE_PACKED_MBUFS=1 (without hugepages) runs the engine on packed mbufs (mbuf_pool.h).
// The generator shares the machine: if it, not the worker, is the bottleneck, both loops are
// held to its rate and vs_bare reads high; `gen_idle` (the fraction of generator polls that
// found nothing to recycle) near 0 says the generator was the limit. `line_rt` is a cache
// line's round trip between the two CPUs just before and after the run (line_probe.h): every
// frame crosses between them, and on this VM it takes ~130 TSC cycles in some minutes and
// ~1,000 in others (the host decides where the vCPUs run); compare runs only at like values.
#include <benchmark/benchmark.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <memory>
#include <tuple>

#include "core/check.h"
#include "dataplane/dpdk/eal.h"
#include "dataplane/dpdk/engine.h"
#include "dataplane/dpdk/line_probe.h"
#include "dataplane/testing/traffic.h"

namespace simcore::dp {
namespace {

const PortConfig kPorts{testing::ip("192.0.0.1"), testing::ip("192.0.0.2"), Mac{2, 0, 0, 0, 1, 1},
                        Mac{2, 0, 0, 0, 1, 2},    Mac{2, 0, 0, 0, 2, 1},    Mac{2, 0, 0, 0, 2, 2}};
constexpr unsigned kInFlight = 4096;
constexpr size_t kDistinct = 65536;

// 10,000-rule chains come with 4 profiles (as in fast_lookup_bench): 100 of them would be a
// million rules to build, which is not what the case measures.
const testing::Traffic& traffic_of(size_t things, size_t inner_bytes, size_t rules,
                                   uint32_t remotes) {
  static std::map<std::tuple<size_t, size_t, size_t, uint32_t>, std::unique_ptr<testing::Traffic>>
      cache;
  auto& slot = cache[{things, inner_bytes, rules, remotes}];
  if (!slot) {
    testing::TrafficOptions o;
    o.things = things;
    o.inner_bytes = inner_bytes;
    o.rules = rules;
    o.profiles = rules > 1000 ? 4 : 100;
    // The account's Things are in 6 groups, so at most 6 profiles decide every packet. With
    // seed 42 and 10-rule chains the policy passed no frame either way in 50M tries at 1k
    // Things (so none could be drawn); seeds 43 to 48 each gave all 65,536 both ways there.
    if (rules == 10) o.seed = 43;
    // As many distinct frames as fast_lookup_bench's packets: the sessions they touch must not
    // all fit in the caches, or 100k and 1M sessions measure as 4k.
    o.distinct = kDistinct;
    o.replies = true;
    o.remotes = remotes;
    slot = std::make_unique<testing::Traffic>(testing::forwarding_traffic(o, kPorts));
  }
  return *slot;
}

// Mpps of the bare loop per (direction, inner size), for vs_bare.
std::map<std::pair<int, size_t>, double>& bare_mpps() {
  static std::map<std::pair<int, size_t>, double> m;
  return m;
}

struct BareLoop {
  uint16_t in, out;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> packets{0};
  uint64_t touch_cycles = 0;  // loop_main<true>: TSC between a burst's receive and transmit
};

// The bare loop (kTouch false) and the touch loop (kTouch true: the bare loop plus the memory
// traffic every frame costs the pipeline and nothing else). The touch loop reads each mbuf's
// header and the frame's first two lines (where a G-PDU's headers are), writes a byte in each
// line and the mbuf's lengths back, as the pipeline's rewrite does, with the prefetch
// distances of Engine::run (mbufs 8 ahead, frames 4: keep them equal). Its cycles between
// receive and transmit are the share of the engine's pipeline_cycles that comes from where
// the generator leaves the frames.
template <bool kTouch>
int loop_main(void* arg) {
  auto* b = static_cast<BareLoop*>(arg);
  rte_mbuf* burst[32];
  uint64_t n = 0, cycles = 0;
  auto prefetch_frame = [](const rte_mbuf* m) {
    rte_prefetch0(rte_pktmbuf_mtod(m, const uint8_t*));
    rte_prefetch0(rte_pktmbuf_mtod(m, const uint8_t*) + RTE_CACHE_LINE_SIZE);
  };
  while (!b->stop.load(std::memory_order_relaxed)) {
    const uint16_t got = rte_eth_rx_burst(b->in, 0, burst, 32);
    // No transmit call for an empty poll, as the engine makes none: with one, the bare loop
    // ran at a quarter of its rate or less (18.8 against 80-122 Mpps at 64 B, 2026-11-29),
    // most likely the drain ring's lines pulled from the generator's CPU on every empty poll.
    if (got == 0) continue;
    if constexpr (kTouch) {
      const uint64_t t0 = rte_rdtsc();
      for (uint16_t i = 0; i < std::min<uint16_t>(got, 8); ++i) rte_prefetch0(burst[i]);
      for (uint16_t i = 0; i < std::min<uint16_t>(got, 4); ++i) prefetch_frame(burst[i]);
      for (uint16_t i = 0; i < got; ++i) {
        if (i + 8 < got) rte_prefetch0(burst[i + 8]);
        if (i + 4 < got) prefetch_frame(burst[i + 4]);
        rte_mbuf* m = burst[i];
        uint8_t* d = rte_pktmbuf_mtod(m, uint8_t*);
        d[22] ^= 1;                        // the outer IPv4 TTL (untagged Ethernet)
        d[RTE_CACHE_LINE_SIZE + 6] ^= 1;   // a byte of the second line (inner headers)
        m->pkt_len = m->data_len;          // the mbuf's first line, as emit() writes the lengths
      }
      cycles += rte_rdtsc() - t0;
    }
    const uint16_t sent = rte_eth_tx_burst(b->out, 0, burst, got);
    for (uint16_t i = sent; i < got; ++i) rte_pktmbuf_free(burst[i]);
    n += sent;
  }
  b->touch_cycles = cycles;
  b->packets.store(n);
  return 0;
}

// What the generator sends: the traffic's frames in one direction, or downlink replies on
// flows its uplink frames opened first.
enum class Load { kBare, kTouch, kEngine, kReplies };

// Sends each of `frames` once into `feed` and waits until the engine has sent them all out of
// `drain` (bounded: a lost frame aborts the run).
void send_through(const std::vector<testing::Bytes>& frames, rte_mempool* pool, rte_ring* feed,
                  rte_ring* drain) {
  size_t sent = 0, back = 0;
  const uint64_t deadline = rte_rdtsc() + 60 * rte_get_tsc_hz();
  while (back < frames.size()) {
    SIMCORE_CHECK(rte_rdtsc() < deadline);
    for (unsigned k = 0; k < 64 && sent < frames.size() && sent - back < kInFlight; ++k) {
      rte_mbuf* m = rte_pktmbuf_alloc(pool);
      SIMCORE_CHECK(m != nullptr);
      const testing::Bytes& b = frames[sent++];
      std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(b.size())), b.data(), b.size());
      SIMCORE_CHECK(rte_ring_sp_enqueue(feed, m) == 0);
    }
    void* m = nullptr;
    while (rte_ring_sc_dequeue(drain, &m) == 0) {
      rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
      ++back;
    }
  }
}

// `remotes`: how many remote hosts the traffic talks to (testing::TrafficOptions).
void run(benchmark::State& state, Port in, Load load, uint32_t remotes = 256) {
  const bool bare = load == Load::kBare || load == Load::kTouch;
  const size_t things = static_cast<size_t>(state.range(0));
  const size_t inner = static_cast<size_t>(state.range(1));
  const size_t rules = static_cast<size_t>(state.range(2));
  const testing::Traffic& t = traffic_of(things, inner, rules, remotes);
  const std::vector<testing::Bytes>& frames = load == Load::kReplies ? t.replies
                                              : in == Port::kAccess  ? t.uplink
                                                                     : t.downlink;

  static int seq = 0;
  const std::string tag = std::to_string(seq++);
  rte_ring* rings[4];
  for (int i = 0; i < 4; ++i) {
    rings[i] = rte_ring_create(("eb" + tag + "_" + std::to_string(i)).c_str(), 8192,
                               SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    SIMCORE_CHECK(rings[i] != nullptr);
  }
  EngineConfig c;
  c.workers = 1;
  c.access.name = make_ring_port("eba" + tag, rings[0], rings[1]).value();
  c.core.name = make_ring_port("ebc" + tag, rings[2], rings[3]).value();
  c.addressing = kPorts;
  c.idle_sleep_us = 0;  // a dedicated CPU: poll all the time, as in production
  c.mbufs = 2 * kInFlight - 1;
  c.packed_mbufs = std::getenv("SIMCORE_PACKED_MBUFS") != nullptr;
  // Room for every flow the replies need, so none is evicted before its replies come.
  if (load == Load::kReplies) c.flow_entries = 1u << 18;
  auto engine = Engine::create(c).value();
  SIMCORE_CHECK(engine->publish(t.tables).ok());

  rte_ring* feed = in == Port::kAccess ? rings[0] : rings[2];
  rte_ring* drain = in == Port::kAccess ? rings[3] : rings[1];
  WorkerStats warm{};  // the worker's account of the frames that opened the flows
  if (load == Load::kReplies) {
    SIMCORE_CHECK(engine->start().ok());
    send_through(t.reply_opens, engine->pool(), rings[0], rings[3]);
    engine->stop();
    warm = engine->worker_stats()[0];
    SIMCORE_CHECK(warm.flow_evictions == 0);
  }
  // The frames that circulate, each filled with one of the prepared frames.
  size_t next = 0;
  auto refill = [&](rte_mbuf* m) {
    const testing::Bytes& b = frames[next++ % frames.size()];
    m->data_off = RTE_PKTMBUF_HEADROOM;
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), b.data(), b.size());
    m->data_len = static_cast<uint16_t>(b.size());
    m->pkt_len = static_cast<uint32_t>(b.size());
  };
  for (unsigned i = 0; i < kInFlight; ++i) {
    rte_mbuf* m = rte_pktmbuf_alloc(engine->pool());
    SIMCORE_CHECK(m != nullptr);
    refill(m);
    SIMCORE_CHECK(rte_ring_enqueue(feed, m) == 0);
  }

  BareLoop loop;
  const unsigned lcore = rte_get_next_lcore(-1, 1, 0);
  const double line_before = line_round_trip(lcore);
  if (bare) {
    loop.in = engine->port(in).id();
    loop.out = engine->port(in == Port::kAccess ? Port::kCore : Port::kAccess).id();
    SIMCORE_CHECK(rte_eal_remote_launch(load == Load::kTouch ? loop_main<true> : loop_main<false>,
                                        &loop, lcore) == 0);
  } else {
    SIMCORE_CHECK(engine->start().ok());
  }

  uint64_t packets = 0, polls = 0, idle_polls = 0;
  const uint64_t tsc_start = rte_rdtsc();
  rte_mbuf* burst[64];
  for (auto _ : state) {
    for (uint64_t done = 0; done < 1000000;) {
      const unsigned n = rte_ring_sc_dequeue_burst(drain, reinterpret_cast<void**>(burst), 64,
                                                   nullptr);
      ++polls;
      if (n == 0) {
        ++idle_polls;
        continue;
      }
      for (unsigned i = 0; i < n; ++i) refill(burst[i]);
      SIMCORE_CHECK(rte_ring_sp_enqueue_bulk(feed, reinterpret_cast<void**>(burst), n,
                                             nullptr) == n);
      done += n;
    }
    packets += 1000000;
  }
  const double seconds = static_cast<double>(rte_rdtsc() - tsc_start) /
                         static_cast<double>(rte_get_tsc_hz());
  double pipeline_cycles = 0;
  if (bare) {
    loop.stop.store(true);
    rte_eal_wait_lcore(lcore);
    if (load == Load::kTouch) {
      pipeline_cycles =
          static_cast<double>(loop.touch_cycles) / static_cast<double>(loop.packets.load());
    }
  } else {
    engine->stop();
    const WorkerStats st = engine->worker_stats()[0];
    pipeline_cycles = static_cast<double>(st.pipeline_cycles - warm.pipeline_cycles) /
                      static_cast<double>(st.pipeline_frames - warm.pipeline_frames);
    const Counters total = engine->total();
    // Every frame must have been sent, or the rate is not the pipeline's.
    SIMCORE_CHECK(total.tx[0] + total.tx[1] == total.rx[0] + total.rx[1]);
  }
  const double line_rt = (line_before + line_round_trip(lcore)) / 2;
  const double mpps = static_cast<double>(packets) / seconds / 1e6;
  state.SetItemsProcessed(static_cast<int64_t>(packets));
  state.counters["Mpps"] = mpps;
  state.counters["cycles_per_pkt"] =
      static_cast<double>(rte_get_tsc_hz()) / (mpps * 1e6);
  // The worker's own account of the cycles between receive and transmit (I/O excluded).
  if (load != Load::kBare) state.counters["pipeline_cycles"] = pipeline_cycles;
  state.counters["sessions"] = static_cast<double>(t.sessions);
  state.counters["gen_idle"] = static_cast<double>(idle_polls) / static_cast<double>(polls);
  state.counters["line_rt"] = line_rt;
  const auto key = std::make_pair(static_cast<int>(in), inner);
  if (load == Load::kBare) {
    bare_mpps()[key] = mpps;
  } else if (bare_mpps().count(key)) {
    state.counters["vs_bare"] = mpps / bare_mpps()[key];
  }

  // The frames in the rings go back to the engine's pool before the pool goes.
  engine->stop();
  for (rte_ring* r : rings) {
    void* m = nullptr;
    while (rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
  }
  engine.reset();
  for (rte_ring* r : rings) rte_ring_free(r);
}

void BM_BareLoopUplink(benchmark::State& s) { run(s, Port::kAccess, Load::kBare); }
void BM_TouchLoopUplink(benchmark::State& s) { run(s, Port::kAccess, Load::kTouch); }
void BM_EngineUplink(benchmark::State& s) { run(s, Port::kAccess, Load::kEngine); }
void BM_BareLoopDownlink(benchmark::State& s) { run(s, Port::kCore, Load::kBare); }
void BM_TouchLoopDownlink(benchmark::State& s) { run(s, Port::kCore, Load::kTouch); }
void BM_EngineDownlink(benchmark::State& s) { run(s, Port::kCore, Load::kEngine); }
void BM_EngineDownlinkReplies(benchmark::State& s) { run(s, Port::kCore, Load::kReplies); }
void BM_EngineDownlinkManyRemotes(benchmark::State& s) {
  run(s, Port::kCore, Load::kEngine, 1u << 24);
}

// {Things, inner packet bytes, rules per chain}: ~1k, ~100k and ~1M sessions (about 63% of
// the Things are attached); 64- and 512-byte inner packets; chains of 10, 100 and 10,000
// rules. The bare loops (which read no packet: sessions and rules do not matter to them) run
// first so each engine run can report vs_bare.
#define SIMCORE_BARE ->Args({1600, 64, 100})->Args({1600, 512, 100})
#define SIMCORE_SIZES                                                                      \
  ->Args({1600, 64, 100})->Args({1600, 512, 100})->Args({160000, 64, 100})                \
      ->Args({160000, 512, 100})->Args({1600000, 64, 100})->Args({160000, 64, 10000})    \
      ->Args({1600, 64, 10})->Args({160000, 64, 10})
BENCHMARK(BM_BareLoopUplink) SIMCORE_BARE->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BareLoopDownlink) SIMCORE_BARE->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TouchLoopUplink) SIMCORE_BARE->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TouchLoopDownlink) SIMCORE_BARE->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EngineUplink) SIMCORE_SIZES->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EngineDownlink) SIMCORE_SIZES->UseRealTime()->Unit(benchmark::kMillisecond);
// Replies to flows the Things opened (stateful profiles only): what most downlink traffic is.
BENCHMARK(BM_EngineDownlinkReplies)
    ->Args({1600, 64, 100})->Args({160000, 64, 100})->Args({1600000, 64, 100})
    ->UseRealTime()->Unit(benchmark::kMillisecond);
// Downlink from 2^24 remote hosts: a third of the frames are unsolicited on stateful profiles
// (their flow lookups miss), as scans from the internet are.
BENCHMARK(BM_EngineDownlinkManyRemotes)->Args({1600, 64, 100})->Args({160000, 64, 100})
    ->UseRealTime()->Unit(benchmark::kMillisecond);
#undef SIMCORE_BARE
#undef SIMCORE_SIZES

}  // namespace
}  // namespace simcore::dp

int main(int argc, char** argv) {
  simcore::dp::EalOptions o;
  o.lcores = "0@0,1@1";  // the generator on CPU 0, the worker alone on CPU 1
  o.memory_mb = 1024;
  // SIMCORE_HUGEPAGES=1: EAL memory (mbufs, rte_hash, rte_acl, LPM) on 2 MB hugepages, which
  // must be reserved and mounted first (README, "Measurements"). They take the 1M-session runs
  // from 1.5x to 1.3x the 1k cost (likely TLB misses: a two-level walk under a hypervisor).
  if (const char* h = std::getenv("SIMCORE_HUGEPAGES"); h != nullptr && std::string(h) == "1") {
    o.hugepages = true;
  }
  const simcore::core::Status s = simcore::dp::eal_init(o);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.error().message().c_str());
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
