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

#include "dataplane/packet/wire.h"
#include "dataplane/pipeline.h"
#include "dataplane/testing/frame_builder.h"
#include "dataplane/testing/traffic.h"

namespace simcore::dp {
namespace {

using testing::Bytes;

constexpr size_t kDistinct = 4096;  // distinct frames cycled through (sessions, ports)
const PortConfig kPorts{testing::ip("192.0.0.1"), testing::ip("192.0.0.2"), Mac{2, 0, 0, 0, 1, 1},
                        Mac{2, 0, 0, 0, 1, 2},    Mac{2, 0, 0, 0, 2, 1},    Mac{2, 0, 0, 0, 2, 2}};

// Built once per size: the account generation is the slow part.
const testing::Traffic& setup_of(size_t things) {
  static std::map<size_t, std::unique_ptr<testing::Traffic>> cache;
  auto& slot = cache[things];
  if (!slot) {
    testing::TrafficOptions o;
    o.things = things;
    o.distinct = kDistinct;
    slot = std::make_unique<testing::Traffic>(testing::forwarding_traffic(o, kPorts));
  }
  return *slot;
}

enum class Work { kParseOnly, kPipeline };

void run(benchmark::State& state, Port in, Work work) {
  const testing::Traffic& s = setup_of(static_cast<size_t>(state.range(0)));
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
