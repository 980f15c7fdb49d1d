// The compiled tables must say exactly what the model says. For seeded random accounts
// (hundreds of Things, profiles of 0-200 rules with overlapping prefixes and port ranges,
// isolation on and off, NAT, routes, tunnels) and ≥100,000 random packets per seed, the
// table lookups agree with the reference evaluator on every field of every decision, with
// stateful memory carried along. Replay one seed with SIMCORE_SEED=<seed>.
#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>

#include "core/compiler.h"
#include "core/reference_eval.h"
#include "core/table_lookup.h"
#include "tests/support/model_gen.h"

namespace simcore {
namespace {

using core::Decision;
using core::PacketDesc;

std::string describe(const PacketDesc& p) {
  std::ostringstream s;
  s << (p.dir == core::Direction::kUplink ? "uplink" : "downlink") << " teid=" << p.teid
    << " " << p.src.str() << ":" << p.sport << " -> " << p.dst.str() << ":" << p.dport
    << " proto=" << int(p.proto);
  return s.str();
}

std::string describe(const Decision& d) {
  std::ostringstream s;
  s << core::verdict_name(d.verdict) << " stage=" << core::stage_name(d.stage)
    << " drop=" << core::drop_reason_name(d.drop) << " rule=" << d.rule_id
    << " thing=" << d.thing.value << " target=" << d.target.value << " out=" << describe(d.out)
    << " vlan=" << d.vlan << " tunnel=" << d.tunnel << " peer=" << d.peer_addr.str() << "/"
    << d.peer_teid;
  return s.str();
}

}  // namespace
}  // namespace simcore

namespace simcore::core {
// gtest prints this instead of raw bytes when a decision differs.
void PrintTo(const Decision& d, std::ostream* os);
}  // namespace simcore::core

namespace simcore {
namespace {

std::vector<uint64_t> seeds() {
  if (const char* s = std::getenv("SIMCORE_SEED")) return {std::strtoull(s, nullptr, 10)};
  return {1, 2, 3, 20261126};
}

struct Coverage {
  size_t verdicts[5] = {};
  size_t drops[static_cast<size_t>(core::DropReason::kCount)] = {};
  size_t flow_allowed = 0;
  size_t nat_rewrites = 0;
};

// Returns after the first disagreement, with a message naming seed and packet.
void check_seed(uint64_t seed, size_t packets, Coverage& cov) {
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with SIMCORE_SEED=" +
               std::to_string(seed) + ")");
  testing::ModelGenOptions o;
  o.seed = seed;
  testing::GeneratedModel g = testing::generate_model(o);
  core::Model model = g.account.model();
  testing::perturb_model(model, seed, 0.05);

  core::Compiler compiler;
  auto tables = compiler.compile(model);
  ASSERT_TRUE(tables.ok()) << tables.error().message();

  testing::PacketGen gen(model, g.hot_prefixes, seed * 7919);
  core::FlowMemory ref_flows;
  core::FlowMemory tab_flows;
  for (size_t i = 0; i < packets; ++i) {
    const PacketDesc p = gen.next();
    const Decision want = core::evaluate_reference(model, p, ref_flows);
    const Decision got = core::lookup_packet(**tables, p, tab_flows);
    ASSERT_EQ(got, want) << "packet #" << i << ": " << describe(p)
                         << "\n  reference: " << describe(want) << "\n  tables:    "
                         << describe(got);
    gen.remember(p, want);
    ++cov.verdicts[static_cast<size_t>(want.verdict)];
    ++cov.drops[static_cast<size_t>(want.drop)];
    cov.flow_allowed += want.rule_id == core::kFlowRuleId;
    cov.nat_rewrites += want.out.src != p.src || want.out.dst != p.dst;
  }
}

}  // namespace
}  // namespace simcore

void simcore::core::PrintTo(const Decision& d, std::ostream* os) { *os << simcore::describe(d); }

namespace simcore {
namespace {

TEST(PolicyProperty, CompiledTablesAgreeWithReferenceEvaluator) {
  Coverage cov;
  for (uint64_t seed : seeds()) {
    check_seed(seed, 100000, cov);
    if (HasFatalFailure()) return;
  }
  // The generator must actually reach every verdict and every drop reason, or agreement
  // would prove little.
  for (size_t v = 0; v < 5; ++v) {
    EXPECT_GT(cov.verdicts[v], 0u) << "verdict never seen: "
                                   << core::verdict_name(static_cast<core::Verdict>(v));
  }
  for (size_t r = 1; r < static_cast<size_t>(core::DropReason::kCount); ++r) {
    EXPECT_GT(cov.drops[r], 0u) << "drop reason never seen: "
                                << core::drop_reason_name(static_cast<core::DropReason>(r));
  }
  EXPECT_GT(cov.flow_allowed, 0u) << "no reply passed by stateful memory";
  EXPECT_GT(cov.nat_rewrites, 0u) << "no NAT rewrite";
}

}  // namespace
}  // namespace simcore
