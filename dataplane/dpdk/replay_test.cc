// Offline replay through the engine: every input frame gets the annotation of what happened,
// each port's pcapng holds what it received and sent with those comments (read back by
// tshark), and two runs of the same input give the same annotations.
#include "dataplane/dpdk/replay.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <sstream>

#include "dataplane/dpdk/engine_test_support.h"

namespace simcore::dp {
namespace {

using namespace enginetest;  // NOLINT: the test vocabulary

std::vector<std::string> tshark_lines(const std::string& args) {
  std::vector<std::string> out;
  if (FILE* p = popen(("tshark " + args + " 2>/dev/null").c_str(), "r")) {
    char line[1024];
    while (fgets(line, sizeof line, p)) {
      std::string l(line);
      if (!l.empty() && l.back() == '\n') l.pop_back();
      out.push_back(l);
    }
    pclose(p);
  }
  return out;
}

std::vector<ReplayFrame> input() {
  const Ip4 o = testing::ip4(kEnb, kPorts.access_addr);
  const Bytes gtpc = testing::ethernet(
      kAccessMac, kAccessPeerMac, kEtherTypeIpv4,
      testing::ipv4(o, kProtoUdp, testing::udp(o, 2123, kGtpcPort, {0x48, 1, 0, 4, 0, 0, 0, 0})));
  std::vector<ReplayFrame> f;
  uint64_t ts = 1'700'000'000'000'000'000;
  auto add = [&](Port p, Bytes b) { f.push_back({ts += 1000, p, std::move(b)}); };
  add(Port::kAccess, uplink_frame(0, 80, 1));  // forward
  add(Port::kAccess, uplink_frame(1, 53, 2));  // uplink.firewall, rule 1 (its API id)
  add(Port::kCore, downlink_frame(2, 3));      // deliver
  add(Port::kCore, downlink_frame(9, 4));      // downlink.no_session
  add(Port::kAccess, gtpc);                    // punted
  add(Port::kAccess, uplink_frame(3, 80, 5));  // forward
  return f;
}

TEST(Replay, AnnotatesEveryFrameAndWritesAPcapngPerPort) {
  Policy policy(4);
  const auto tables = policy.compile();
  char tmpl[] = "/tmp/simcore-replay-XXXXXX";
  const std::filesystem::path dir = mkdtemp(tmpl);
  ReplayOptions o;
  o.addressing = kPorts;
  o.access_pcapng = dir / "access.pcapng";
  o.core_pcapng = dir / "core.pcapng";
  auto r = replay(input(), tables, o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  ASSERT_EQ(r->comments.size(), 6u);
  EXPECT_EQ(r->comments[0].rfind("verdict=FORWARD", 0), 0u) << r->comments[0];
  EXPECT_NE(r->comments[1].find("reason=uplink.firewall stage=firewall-out rule="),
            std::string::npos)
      << r->comments[1];
  EXPECT_EQ(r->comments[2].rfind("verdict=DELIVER", 0), 0u) << r->comments[2];
  EXPECT_NE(r->comments[3].find("reason=downlink.no_session"), std::string::npos);
  EXPECT_EQ(r->comments[4], "verdict=PUNT reason=punt.gtpc stage=pipeline");
  EXPECT_EQ(r->sent[0], 1u);  // the delivered downlink packet, out of the access port
  EXPECT_EQ(r->sent[1], 2u);  // two forwarded uplink packets, out of the core port
  EXPECT_EQ(r->punted, 1u);
  EXPECT_EQ(r->counters.rx[0] + r->counters.rx[1], 6u);

  if (std::system("command -v tshark >/dev/null 2>&1") != 0) {
    if (std::getenv("CI") != nullptr) FAIL() << "tshark is required under CI";
    GTEST_SKIP() << "tshark not installed: files not checked";
  }
  // The access file, in processing order: 4 frames received and 1 sent, with their comments.
  const std::vector<std::string> access =
      tshark_lines("-r " + o.access_pcapng + " -T fields -e frame.interface_name -e frame.comment");
  EXPECT_EQ(access, (std::vector<std::string>{
                        "access-in\t" + r->comments[0],
                        "access-in\t" + r->comments[1],
                        "access-out\t" + r->comments[2],  // the delivered downlink packet
                        "access-in\t" + r->comments[4],
                        "access-in\t" + r->comments[5],
                    }));
  // The core file: 2 received (untagged), 2 forwarded with the network's VLAN 7.
  const std::vector<std::string> core = tshark_lines(
      "-r " + o.core_pcapng + " -T fields -e frame.interface_name -e vlan.id -e frame.comment");
  EXPECT_EQ(core, (std::vector<std::string>{
                      "core-out\t7\t" + r->comments[0],
                      "core-in\t\t" + r->comments[2],
                      "core-in\t\t" + r->comments[3],
                      "core-out\t7\t" + r->comments[5],
                  }));
  std::filesystem::remove_all(dir);
}

TEST(Replay, TheSameInputGivesTheSameAnnotations) {
  Policy policy(4);
  const auto tables = policy.compile();
  ReplayOptions o;
  o.addressing = kPorts;
  std::vector<ReplayFrame> many;
  for (int k = 0; k < 3000; ++k) {  // more than one chunk, alternating runs of ports
    for (ReplayFrame f : input()) many.push_back(std::move(f));
  }
  auto a = replay(many, tables, o);
  auto b = replay(many, tables, o);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->comments, b->comments);
  EXPECT_EQ(a->comments.size(), many.size());
}

}  // namespace
}  // namespace simcore::dp
