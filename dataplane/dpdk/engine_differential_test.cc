// The engine against the reference evaluator: seeded random accounts and 100,000 random
// packets per seed through the real DPDK path (net_ring ports, one worker, FastTables and the
// per-worker FlowTable, replayed in order): each packet's verdict and drop reason must be the
// reference evaluator's, and every frame sent must be byte for byte what the portable
// pipeline makes of it (whose bytes PipelineDifferential checks field by field against the
// reference). Stateful memory is carried along on every side. Replay one seed with
// SIMCORE_SEED=<seed>.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "core/compiler.h"
#include "core/reference_eval.h"
#include "dataplane/dpdk/replay.h"
#include "dataplane/testing/packet_encode.h"
#include "tests/support/model_gen.h"

namespace simcore::dp {
namespace {

constexpr size_t kPackets = 100000;  // per seed

const PortConfig kPorts{testing::ip("192.0.0.1"), testing::ip("192.0.0.2"), Mac{2, 0, 0, 0, 1, 1},
                        Mac{2, 0, 0, 0, 1, 2},    Mac{2, 0, 0, 0, 2, 1},    Mac{2, 0, 0, 0, 2, 2}};

std::vector<uint64_t> seeds() {
  if (const char* s = std::getenv("SIMCORE_SEED")) return {std::strtoull(s, nullptr, 10)};
  return {11, 20261126};
}

TEST(EngineDifferential, VerdictsAndBytesAgreeWithTheReference) {
  for (const uint64_t seed : seeds()) {
    SCOPED_TRACE("seed " + std::to_string(seed) +
                 " (rerun with SIMCORE_SEED=" + std::to_string(seed) + ")");
    ::simcore::testing::ModelGenOptions opt;
    opt.seed = seed;
    ::simcore::testing::GeneratedModel g = ::simcore::testing::generate_model(opt);
    core::Model model = g.account.model();
    ::simcore::testing::perturb_model(model, seed, 0.05);
    core::Compiler compiler;
    auto tables = compiler.compile(model);
    ASSERT_TRUE(tables.ok()) << tables.error().message();

    // The reference decides every packet first (in order, with its own flow memory).
    ::simcore::testing::PacketGen gen(model, g.hot_prefixes, seed * 7919);
    std::mt19937_64 rng(seed);
    core::FlowMemory ref_flows;
    std::vector<core::Decision> want;
    std::vector<ReplayFrame> frames;
    while (frames.size() < kPackets) {
      const core::PacketDesc p = gen.next();
      if (p.dst.value == kPorts.core_addr) continue;  // for control, not policed
      want.push_back(core::evaluate_reference(model, p, ref_flows));
      gen.remember(p, want.back());
      const Port in = p.dir == core::Direction::kUplink ? Port::kAccess : Port::kCore;
      frames.push_back({frames.size(), in, testing::encode_packet(p, kPorts, rng)});
    }

    ReplayOptions o;
    o.addressing = kPorts;
    o.keep_output = true;
    auto r = replay(frames, *tables, o);
    ASSERT_TRUE(r.ok()) << r.error().message();
    ASSERT_EQ(r->records.size(), frames.size());

    // The portable pipeline on the same frames, for the bytes.
    core::FlowMemory dp_flows;
    TableClassifier classify{**tables, dp_flows};
    NeighbourTable neighbours;
    WorkerContext worker;
    size_t verdicts[kVerdictCount] = {};
    for (size_t i = 0; i < frames.size(); ++i) {
      const Outcome& got = r->records[i].outcome;
      ASSERT_TRUE(got.policed) << "packet #" << i;
      ASSERT_EQ(got.verdict, want[i].verdict) << "packet #" << i;
      ASSERT_EQ(got.policy_drop, want[i].drop) << "packet #" << i;
      ASSERT_EQ(got.rule_id, want[i].rule_id) << "packet #" << i;
      ++verdicts[static_cast<size_t>(got.verdict)];
      testing::OwnedFrame f(frames[i].bytes);
      const Outcome portable =
          process(classify, kPorts, neighbours, frames[i].port, f.frame, worker);
      ASSERT_EQ(portable.out, got.out) << "packet #" << i;
      if (got.out == Port::kAccess || got.out == Port::kCore) {
        ASSERT_EQ(r->output[i], f.out()) << "packet #" << i;
      }
    }
    // The generated accounts have no IPsec routes; every other verdict must have been tested.
    for (core::Verdict v : {core::Verdict::kForward, core::Verdict::kHairpin,
                            core::Verdict::kDeliver, core::Verdict::kDrop}) {
      EXPECT_GT(verdicts[static_cast<size_t>(v)], 100u) << core::verdict_name(v);
    }
  }
}

}  // namespace
}  // namespace simcore::dp
