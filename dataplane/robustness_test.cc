// Random and mutated frames through the parser and the pipeline: no read or write outside the
// frame (run under ASan+UBSan by scripts/test), every frame counted exactly once, and whatever
// is sent parses cleanly. Seeded; the seed is printed; replay with SIMCORE_SEED=<seed>.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "core/compiler.h"
#include "dataplane/packet/wire.h"
#include "dataplane/pipeline.h"
#include "dataplane/testing/frame_builder.h"

namespace simcore::dp {
namespace {

using testing::Bytes;
using testing::Ip4;

const uint32_t kUe = testing::ip("10.64.0.1");

// An account whose one Thing (10.64.0.1, TEID 7) is attached, so mutated G-PDUs reach every
// stage of the pipeline.
std::shared_ptr<const core::CompiledTables> tables_with_one_session() {
  core::Account account;
  core::Thing spec;
  spec.iccid = "8931000000000000009";
  spec.imsi = "204080000000009";
  spec.ip_lock = true;
  spec.locked_addr = core::Ipv4{kUe};
  const core::ThingId id = account.provision({spec}).value()[0];
  EXPECT_TRUE(account.set_state(id, core::ThingState::kActive).ok());
  core::AttachRequest req;
  req.uplink_teid = 7;
  req.peer_addr = core::Ipv4{testing::ip("100.64.0.1")};
  req.peer_teid = 8;
  req.apn = "iot.simcore";
  EXPECT_TRUE(account.attach(id, req).ok());
  core::Compiler c;
  return c.compile(account.model()).value();
}

// Valid frames of every kind the parser knows, to be mutated.
std::vector<Bytes> seeds_frames() {
  const Mac a{2, 0, 0, 0, 0, 1}, b{2, 0, 0, 0, 0, 2};
  const Ip4 o = testing::ip4(testing::ip("100.64.0.1"), testing::ip("192.0.0.1"));
  const Ip4 up = testing::ip4(kUe, testing::ip("198.51.100.1"));
  const Ip4 down = testing::ip4(testing::ip("198.51.100.1"), kUe);
  auto gpdu = [&](const Bytes& inner, const testing::GtpuOpts& opts, uint8_t type = 255) {
    return testing::ethernet(
        a, b, kEtherTypeIpv4,
        testing::ipv4(
            o, kProtoUdp,
            testing::udp(o, kGtpuPort, kGtpuPort, testing::gtpu(type, 7, inner, opts), false)),
        {{kEtherTypeVlan, 5}});
  };
  testing::GtpuOpts ext;
  ext.seq = 3;
  ext.ext = {{0x85, {0, 9}}, {0x40, {1, 2, 3, 4, 5, 6}}};
  testing::GtpuOpts seq;
  seq.seq = 9;
  Ip4 up_frag = up, down_frag = down;  // first fragments (MF set)
  up_frag.frag = 0x2000;
  down_frag.frag = 0x2000;
  const Bytes body{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  return {
      gpdu(testing::ipv4(up_frag, kProtoUdp, testing::udp(up, 1000, 53, body)), {}),
      testing::ethernet(a, b, kEtherTypeIpv4,
                        testing::ipv4(down_frag, kProtoUdp, testing::udp(down, 53, 1000, body))),
      testing::ethernet(a, b, kEtherTypeIpv4,
                        testing::ipv4(down, kProtoIcmp, testing::icmp_echo(1, 1, body))),
      gpdu(testing::ipv4(up, kProtoUdp, testing::udp(up, 1000, 53, {1, 2, 3})), {}),
      gpdu(testing::ipv4(up, kProtoTcp, testing::tcp(up, 1000, 443, {})), ext),
      gpdu(testing::ipv4(up, kProtoIcmp, testing::icmp_echo(1, 1, {})), seq),
      gpdu(testing::ipv6_udp(Bytes(8, 0)), {}),
      gpdu({}, seq, kGtpuMsgEchoRequest),
      testing::ethernet(a, b, kEtherTypeIpv4,
                        testing::ipv4(down, kProtoTcp, testing::tcp(down, 443, 1000, {7})),
                        {{kEtherTypeQinQ, 1}, {kEtherTypeVlan, 2}}),
      testing::ethernet(a, b, kEtherTypeIpv4,
                        testing::ipv4(down, kProtoUdp, testing::udp(down, 53, 1000, {}))),
      testing::ethernet(Mac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, b, kEtherTypeArp,
                        testing::arp(kArpOpRequest, b, testing::ip("192.0.0.9"), Mac{},
                                     testing::ip("192.0.0.1"))),
      gpdu(testing::ipv4(testing::ip4(kUe, testing::ip("198.51.100.1"), 1), kProtoUdp,
                         testing::udp(up, 1000, 53, {1, 2, 3})),
           {}),
  };
}

TEST(Robustness, RandomAndMutatedFramesStayInBounds) {
  const uint64_t seed = std::getenv("SIMCORE_SEED")
                            ? std::strtoull(std::getenv("SIMCORE_SEED"), nullptr, 10)
                            : 20261126;
  SCOPED_TRACE("seed " + std::to_string(seed) +
               " (rerun with SIMCORE_SEED=" + std::to_string(seed) + ")");
  std::mt19937_64 rng(seed);
  const auto tables = tables_with_one_session();
  const std::vector<Bytes> valid = seeds_frames();
  // Static gateway MACs, so forwarded packets leave (the neighbour path has its own tests).
  const PortConfig ports{testing::ip("192.0.0.1"), testing::ip("192.0.0.2"), Mac{2, 0, 0, 0, 1, 1},
                         Mac{2, 0, 0, 0, 1, 2},    Mac{2, 0, 0, 0, 2, 1},    Mac{2, 0, 0, 0, 2, 2}};
  core::FlowMemory flows;
  TableClassifier classify{*tables, flows};
  NeighbourTable neighbours;
  WorkerContext worker;
  Counters& counters = worker.counters;
  size_t statuses[kParseStatusCount] = {};
  size_t sent = 0;
  constexpr int kFrames = 200000;
  for (int i = 0; i < kFrames; ++i) {
    Bytes b;
    if (i % 4 == 0) {
      b.resize(rng() % 128);
      for (uint8_t& x : b) x = static_cast<uint8_t>(rng());
    } else {
      b = valid[rng() % valid.size()];
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < flips && !b.empty(); ++k) {
        b[rng() % b.size()] = static_cast<uint8_t>(rng());
      }
      if (rng() % 4 == 0) b.resize(rng() % (b.size() + 1));  // truncate anywhere
    }
    // Exact-size buffers, no headroom or tailroom: any access outside is an ASan error.
    {
      std::vector<uint8_t> exact(b);
      PacketView v;
      const ParseStatus s = parse_frame(exact.data(), static_cast<uint32_t>(exact.size()),
                                        i % 2 ? ParseMode::kAccess : ParseMode::kCore, v);
      ASSERT_LT(static_cast<size_t>(s), kParseStatusCount);
      ++statuses[static_cast<size_t>(s)];
    }
    const Port in = i % 2 ? Port::kAccess : Port::kCore;
    testing::OwnedFrame f(b, rng() % 2 ? kDefaultHeadroom : 0, static_cast<uint32_t>(rng() % 3));
    const Outcome o = process(classify, ports, neighbours, in, f.frame, worker);
    if (o.out != Port::kNone) {
      ++sent;
      PacketView v;
      const ParseStatus s =
          parse_frame(f.frame.data(), f.frame.data_len,
                      o.out == Port::kAccess ? ParseMode::kAccess : ParseMode::kCore, v);
      // What we send is well formed (an Echo Response is consumed by a peer's parser; ARP
      // replies and requests are ARP).
      ASSERT_TRUE(s == ParseStatus::kOk || s == ParseStatus::kGtpuEchoResponse ||
                  s == ParseStatus::kArp)
          << "frame #" << i << ": " << parse_status_name(s) << "\n"
          << testing::hex(f.out());
    }
  }
  EXPECT_EQ(counters.rx[0] + counters.rx[1], uint64_t{kFrames});
  uint64_t accounted = counters.tx[0] + counters.tx[1];
  for (size_t p = 0; p < kPortCount; ++p) {
    for (size_t s = 0; s < kParseStatusCount; ++s) {
      if (s != size_t(ParseStatus::kOk) && s != size_t(ParseStatus::kGtpuEchoRequest) &&
          s != size_t(ParseStatus::kArp)) {
        accounted += counters.parse[p][s];
      }
    }
  }
  for (size_t r = 1; r < kPolicyDropCount; ++r) accounted += counters.policy_drop[r];
  for (size_t r = 1; r < kPipelineDropCount; ++r) accounted += counters.pipeline_drop[r];
  for (size_t r = 1; r < kPuntCount; ++r) accounted += counters.punt[r];
  EXPECT_EQ(accounted, uint64_t{kFrames}) << "a frame was neither sent nor counted as a drop";
  EXPECT_GT(sent, 1000u);
  // The mutations reach deep: most statuses are seen.
  size_t seen = 0;
  for (size_t s = 0; s < kParseStatusCount; ++s) {
    seen += statuses[s] > 0;
    if (statuses[s] == 0) std::printf("never seen: %s\n", parse_status_name(ParseStatus(s)));
  }
  EXPECT_GE(seen, kParseStatusCount - 2);
}

}  // namespace
}  // namespace simcore::dp
