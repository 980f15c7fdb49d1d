// Cycles per packet of dataplane::process (parse → lookup_packet on the portable tables →
// rewrite/encap), uplink and downlink, ~1k and ~100k sessions, 100 IP Profiles of 100 rules per
// chain, 64-byte inner packets (IPv4 + UDP + 36 bytes) that the policy forwards/delivers. Baseline
// in the same run: parse only, on the same frames with the same per-packet copy, so the ratio
// survives a noisy machine.
//   build-dp/bench/pipeline_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <x86intrin.h>

#include <cstring>
#include <map>
#include <memory>
#include <random>

#include "core/check.h"
#include "core/compiler.h"
#include "core/table_lookup.h"
#include "dataplane/packet/wire.h"
#include "dataplane/pipeline.h"
#include "dataplane/testing/frame_builder.h"
#include "tests/support/model_gen.h"

namespace simcore::dp {
namespace {

using testing::Bytes;

constexpr size_t kDistinct = 4096;  // distinct frames cycled through (sessions, ports)
const PortConfig kPorts{testing::ip("192.0.0.1"), testing::ip("192.0.0.2"), Mac{2, 0, 0, 0, 1, 1},
                        Mac{2, 0, 0, 0, 1, 2},    Mac{2, 0, 0, 0, 2, 1},    Mac{2, 0, 0, 0, 2, 2}};

struct Setup {
  std::shared_ptr<const core::CompiledTables> tables;
  std::vector<Bytes> uplink;
  std::vector<Bytes> downlink;
  size_t sessions = 0;
};

// Built once per size: the account generation is the slow part.
const Setup& setup_of(size_t things) {
  static std::map<size_t, std::unique_ptr<Setup>> cache;
  auto& slot = cache[things];
  if (slot) return *slot;
  slot = std::make_unique<Setup>();
  ::simcore::testing::ModelGenOptions o;
  o.seed = 42;
  o.things = things;
  o.networks = 3;
  o.pools_per_network = 1;
  o.pool_len = 12;
  o.profiles = 100;
  o.min_rules = 100;
  o.max_rules = 100;
  o.attached = 0.9;
  const auto g = ::simcore::testing::generate_model(o);
  core::Compiler c;
  slot->tables = c.compile(g.account.model()).value();
  struct Sess {
    uint32_t teid, ue;
  };
  std::vector<Sess> sessions;
  for (const core::Thing& t : g.account.model().things) {
    if (t.session) sessions.push_back({t.session->uplink_teid, t.session->ue_addr.value});
  }
  slot->sessions = sessions.size();
  // Only packets the policy sends (FORWARD uplink, DELIVER downlink), so every packet runs the
  // whole path: parse, lookup, rewrite and encapsulation. Chosen with lookup_packet on the same
  // tables and an empty flow memory, as the run starts.
  std::mt19937_64 rng(7);
  core::FlowMemory scratch;
  const Bytes payload(36, 0x5a);
  const testing::Ip4 outer = testing::ip4(testing::ip("100.64.0.1"), kPorts.access_addr);
  for (size_t tries = 0; tries < 50 * 1000 * 1000 &&
                         (slot->uplink.size() < kDistinct || slot->downlink.size() < kDistinct);
       ++tries) {
    const Sess& se = sessions[rng() % sessions.size()];
    const uint32_t remote = testing::ip("198.51.100.0") + static_cast<uint32_t>(rng() % 256);
    const auto port = static_cast<uint16_t>(1024 + rng() % 60000);
    core::PacketDesc p;
    p.proto = kProtoUdp;
    if (tries % 2 == 0 && slot->uplink.size() < kDistinct) {
      p.dir = core::Direction::kUplink;
      p.teid = se.teid;
      p.src = core::Ipv4{se.ue};
      p.dst = core::Ipv4{remote};
      p.sport = port;
      p.dport = 443;
      if (core::lookup_packet(*slot->tables, p, scratch).verdict != core::Verdict::kForward) {
        continue;
      }
      const testing::Ip4 up = testing::ip4(se.ue, remote);
      const Bytes inner = testing::ipv4(up, kProtoUdp, testing::udp(up, port, 443, payload));
      slot->uplink.push_back(testing::ethernet(
          kPorts.access_mac, kPorts.access_next_hop_mac, kEtherTypeIpv4,
          testing::ipv4(outer, kProtoUdp,
                        testing::udp(outer, kGtpuPort, kGtpuPort,
                                     testing::gtpu(kGtpuMsgGpdu, se.teid, inner), false))));
    } else if (tries % 2 == 1 && slot->downlink.size() < kDistinct) {
      p.dir = core::Direction::kDownlink;
      p.src = core::Ipv4{remote};
      p.dst = core::Ipv4{se.ue};
      p.sport = 443;
      p.dport = port;
      core::FlowMemory none;
      if (core::lookup_packet(*slot->tables, p, none).verdict != core::Verdict::kDeliver) {
        continue;
      }
      const testing::Ip4 down = testing::ip4(remote, se.ue);
      slot->downlink.push_back(testing::ethernet(
          kPorts.core_mac, kPorts.core_next_hop_mac, kEtherTypeIpv4,
          testing::ipv4(down, kProtoUdp, testing::udp(down, 443, port, payload))));
    }
  }
  SIMCORE_CHECK(slot->uplink.size() == kDistinct && slot->downlink.size() == kDistinct);
  return *slot;
}

enum class Work { kParseOnly, kPipeline };

void run(benchmark::State& state, Port in, Work work) {
  const Setup& s = setup_of(static_cast<size_t>(state.range(0)));
  const std::vector<Bytes>& frames = in == Port::kAccess ? s.uplink : s.downlink;
  std::vector<uint8_t> storage(2048);
  core::FlowMemory flows;
  TableClassifier classify{*s.tables, flows};
  NeighbourTable neighbours;
  WorkerContext worker;
  Counters& counters = worker.counters;
  size_t i = 0;
  uint64_t cycles = 0, packets = 0;
  for (auto _ : state) {
    const uint64_t start = __rdtsc();
    for (int k = 0; k < 256; ++k, ++i) {
      const Bytes& b = frames[i % kDistinct];
      std::memcpy(storage.data() + kDefaultHeadroom, b.data(), b.size());
      Frame f{storage, kDefaultHeadroom, static_cast<uint32_t>(b.size())};
      if (work == Work::kParseOnly) {
        PacketView v;
        benchmark::DoNotOptimize(parse_frame(
            f.data(), f.data_len, in == Port::kAccess ? ParseMode::kAccess : ParseMode::kCore, v));
        benchmark::DoNotOptimize(v);
      } else {
        benchmark::DoNotOptimize(process(classify, kPorts, neighbours, in, f, worker));
      }
    }
    cycles += __rdtsc() - start;
    packets += 256;
  }
  state.SetItemsProcessed(static_cast<int64_t>(packets));
  state.counters["cycles_per_pkt"] = static_cast<double>(cycles) / static_cast<double>(packets);
  state.counters["sessions"] = static_cast<double>(s.sessions);
  if (work == Work::kPipeline) {
    const uint64_t sent = counters.tx[0] + counters.tx[1];
    state.counters["sent_fraction"] = static_cast<double>(sent) / static_cast<double>(packets);
  }
}

void BM_ParseOnlyUplink(benchmark::State& s) { run(s, Port::kAccess, Work::kParseOnly); }
void BM_PipelineUplink(benchmark::State& s) { run(s, Port::kAccess, Work::kPipeline); }
void BM_ParseOnlyDownlink(benchmark::State& s) { run(s, Port::kCore, Work::kParseOnly); }
void BM_PipelineDownlink(benchmark::State& s) { run(s, Port::kCore, Work::kPipeline); }

// Arguments are Things; about 63% of the generated Things are ACTIVE and attached, so these give
// ~1k and ~100k sessions (the `sessions` counter says exactly).
BENCHMARK(BM_ParseOnlyUplink)->Arg(1600)->Arg(160000);
BENCHMARK(BM_PipelineUplink)->Arg(1600)->Arg(160000);
BENCHMARK(BM_ParseOnlyDownlink)->Arg(1600)->Arg(160000);
BENCHMARK(BM_PipelineDownlink)->Arg(1600)->Arg(160000);

}  // namespace
}  // namespace simcore::dp
