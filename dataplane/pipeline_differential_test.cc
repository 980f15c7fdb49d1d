// The pipeline against the reference evaluator: seeded random accounts (tests/support), random
// packets encoded as frames, through process(); the verdict, drop reason and the 5-tuple
// decoded from the bytes that leave must be what core::evaluate_reference says for the same
// PacketDesc, with stateful memory carried along on both sides. Replay one seed with
// SIMCORE_SEED=<seed>.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "core/compiler.h"
#include "core/reference_eval.h"
#include "dataplane/packet/wire.h"
#include "dataplane/pipeline.h"
#include "dataplane/testing/frame_builder.h"
#include "dataplane/testing/packet_encode.h"
#include "tests/support/model_gen.h"

namespace simcore::dp {
namespace {

using testing::Bytes;
using testing::Ip4;

constexpr size_t kPackets = 100000;  // per seed

const PortConfig kPorts{testing::ip("192.0.0.1"), testing::ip("192.0.0.2"), Mac{2, 0, 0, 0, 1, 1},
                        Mac{2, 0, 0, 0, 1, 2},    Mac{2, 0, 0, 0, 2, 1},    Mac{2, 0, 0, 0, 2, 2}};

// Checks the 5-tuple, TTL and checksums of the IPv4 packet `ip` against the decision.
void expect_packet(const Frame& f, const Ipv4View& ip, const core::Decision& want, size_t i) {
  EXPECT_EQ(ip.src, want.out.src.value) << "packet #" << i;
  EXPECT_EQ(ip.dst, want.out.dst.value) << "packet #" << i;
  EXPECT_EQ(ip.proto, want.out.proto) << "packet #" << i;
  if (core::has_ports(ip.proto)) {
    EXPECT_EQ(ip.sport, want.out.sport) << "packet #" << i;
    EXPECT_EQ(ip.dport, want.out.dport) << "packet #" << i;
  }
  EXPECT_EQ(ip.ttl, 63) << "packet #" << i;
  const uint8_t* h = f.data() + ip.off;
  EXPECT_EQ(load_be16(h + 10), testing::ipv4_header_checksum(h)) << "packet #" << i;
  const uint8_t* l4 = h + ip.hdr_len;
  if (ip.proto == kProtoTcp || (ip.proto == kProtoUdp && load_be16(l4 + 6) != 0)) {
    EXPECT_EQ(load_be16(l4 + (ip.proto == kProtoTcp ? 16 : 6)), testing::l4_checksum(h))
        << "packet #" << i;
  }
}

std::vector<uint64_t> seeds() {
  if (const char* s = std::getenv("SIMCORE_SEED")) return {std::strtoull(s, nullptr, 10)};
  return {5, 20261126};
}

TEST(PipelineDifferential, BytesOutAgreeWithTheReferenceEvaluator) {
  size_t verdicts[kVerdictCount] = {};
  size_t nat = 0;
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
    ::simcore::testing::PacketGen gen(model, g.hot_prefixes, seed * 7919);
    std::mt19937_64 rng(seed);
    core::FlowMemory ref_flows;
    core::FlowMemory dp_flows;
    TableClassifier classify{**tables, dp_flows};
    NeighbourTable neighbours;
    WorkerContext worker;
    for (size_t i = 0; i < kPackets; ++i) {
      const core::PacketDesc p = gen.next();
      if (p.dst.value == kPorts.core_addr) continue;
      const core::Decision want = core::evaluate_reference(model, p, ref_flows);
      gen.remember(p, want);
      ++verdicts[static_cast<size_t>(want.verdict)];
      nat += want.out.src != p.src || want.out.dst != p.dst;

      testing::OwnedFrame f(testing::encode_packet(p, kPorts, rng));
      const Port in = p.dir == core::Direction::kUplink ? Port::kAccess : Port::kCore;
      const Outcome o = process(classify, kPorts, neighbours, in, f.frame, worker);
      ASSERT_EQ(o.parse, ParseStatus::kOk) << "packet #" << i;
      ASSERT_TRUE(o.policed) << "packet #" << i;
      ASSERT_EQ(o.verdict, want.verdict) << "packet #" << i;
      ASSERT_EQ(o.policy_drop, want.drop) << "packet #" << i;
      PacketView v;
      switch (want.verdict) {
        case core::Verdict::kDrop:
          ASSERT_EQ(o.out, Port::kNone);
          ASSERT_EQ(o.drop, PipelineDrop::kNone);
          break;
        case core::Verdict::kTunnel:
          // The inner packet, rewritten as the evaluator says, handed to the ESP stage.
          ASSERT_EQ(o.out, Port::kEsp) << "packet #" << i;
          ASSERT_EQ(o.drop, PipelineDrop::kNone);
          ASSERT_EQ(o.tunnel, want.tunnel) << "packet #" << i;
          {
            // It has no L2 header: give it one to parse it like the others.
            Bytes l2(kEthHeaderLen + f.frame.data_len, 0);
            l2[12] = static_cast<uint8_t>(kEtherTypeIpv4 >> 8);
            std::copy(f.frame.data(), f.frame.data() + f.frame.data_len,
                      l2.begin() + kEthHeaderLen);
            testing::OwnedFrame bare(l2);
            ASSERT_EQ(parse_frame(bare.frame.data(), bare.frame.data_len, ParseMode::kCore, v),
                      ParseStatus::kOk);
            expect_packet(bare.frame, v.outer, want, i);
          }
          break;
        case core::Verdict::kForward:
          ASSERT_EQ(o.out, Port::kCore) << "packet #" << i;
          ASSERT_EQ(parse_frame(f.frame.data(), f.frame.data_len, ParseMode::kCore, v),
                    ParseStatus::kOk);
          ASSERT_EQ(v.vlan_count, want.vlan ? 1 : 0) << "packet #" << i;
          if (want.vlan) {
            EXPECT_EQ(v.vlan_tci[0], want.vlan);
          }
          expect_packet(f.frame, v.outer, want, i);
          break;
        case core::Verdict::kHairpin:
        case core::Verdict::kDeliver:
          ASSERT_EQ(o.out, Port::kAccess) << "packet #" << i;
          ASSERT_EQ(parse_frame(f.frame.data(), f.frame.data_len, ParseMode::kAccess, v),
                    ParseStatus::kOk);
          ASSERT_TRUE(v.has_gtpu);
          EXPECT_EQ(v.outer.src, kPorts.access_addr);
          EXPECT_EQ(v.outer.dst, want.peer_addr.value) << "packet #" << i;
          EXPECT_EQ(v.gtpu.teid, want.peer_teid) << "packet #" << i;
          expect_packet(f.frame, v.inner, want, i);
          break;
      }
      if (HasFailure()) return;
    }
  }
  for (size_t v = 0; v < kVerdictCount; ++v) {
    EXPECT_GT(verdicts[v], 0u) << "verdict never seen: "
                               << core::verdict_name(static_cast<core::Verdict>(v));
  }
  EXPECT_GT(nat, 0u) << "no NAT rewrite";
}

}  // namespace
}  // namespace simcore::dp
