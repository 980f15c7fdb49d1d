// The engine on net_pcap ports, as a replay runs it: input pcaps in, output pcaps out, and the
// output checked by tshark (an independent decoder): no malformed frame, no error-level expert
// info, good IPv4/UDP checksums, the peers' TEIDs, the NAT'd source and the network's VLAN tag.
// The real captures of ../shared/pcaps go through the access port and must land in the same
// counters as the portable pipeline gives for the same frames.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "dataplane/dpdk/engine_test_support.h"
#include "dataplane/testing/pcap_io.h"
#include "dataplane/testing/tshark.h"

namespace simcore::dp {
namespace {

using namespace enginetest;  // NOLINT: the test vocabulary
namespace fs = std::filesystem;

const fs::path kSharedPcaps = SIMCORE_PCAP_DIR;

// Runs `command` and returns its stdout (empty on failure, which the caller's checks catch).
std::string run(const std::string& command) {
  std::string out;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    pclose(p);
  }
  return out;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) {
    if (!l.empty()) out.push_back(l);
  }
  return out;
}


// A scratch directory per test, removed afterwards unless SIMCORE_KEEP_PCAPS is set (to open
// the files in Wireshark).
struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/simcore-pcap-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    if (std::getenv("SIMCORE_KEEP_PCAPS") == nullptr) {
      fs::remove_all(path);
    } else {
      std::printf("kept %s\n", path.c_str());
    }
  }
};

// An engine whose ports read in_{access,core}.pcap and write out_{access,core}.pcap in `dir`;
// runs until it has taken `frames` frames in, then closes the ports (which flushes the files).
Counters replay(const fs::path& dir, const core::TablesPtr& tables, size_t frames) {
  static int n = 0;
  const std::string tag = std::to_string(n++);
  EngineConfig c;
  c.workers = 1;
  c.access = {"net_pcap_a" + tag, "rx_pcap=" + (dir / "in_access.pcap").string() +
                                      ",tx_pcap=" + (dir / "out_access.pcap").string()};
  c.core = {"net_pcap_c" + tag, "rx_pcap=" + (dir / "in_core.pcap").string() +
                                    ",tx_pcap=" + (dir / "out_core.pcap").string()};
  c.addressing = kPorts;
  c.idle_sleep_us = 50;
  c.idle_polls = 64;
  auto e = Engine::create(c);
  EXPECT_TRUE(e.ok()) << e.error().message();
  if (!e.ok()) return {};
  Engine& engine = **e;
  EXPECT_TRUE(engine.publish(tables).ok());
  EXPECT_TRUE(engine.start().ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    const Counters t = engine.total();
    if (t.rx[0] + t.rx[1] >= frames) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  engine.stop();
  const Counters total = engine.total();
  EXPECT_EQ(total.rx[0] + total.rx[1], frames);
  return total;
}

TEST(EnginePcap, OutputDecodesInTsharkWithTeidsNatAndVlan) {
  SIMCORE_REQUIRE_TSHARK();
  Policy policy(4);
  const uint32_t kPublic = ip("203.0.113.9");
  policy.forward_port(1, kPublic, 5060, 5060);
  const auto tables = policy.compile();
  TempDir dir;
  std::vector<Bytes> access, core;
  for (uint16_t i = 0; i < 40; ++i) {
    // Thing 1 sends from port 40000 (not forwarded) in uplink_frame; forwarded traffic comes
    // from its port 5060, built here.
    access.push_back(uplink_frame(i % 4, 80, i));
    core.push_back(downlink_frame(i % 4, i));
  }
  const Ip4 o = testing::ip4(kEnb, kPorts.access_addr);
  const Ip4 nat_h = testing::ip4(thing_addr(1), kServer);
  for (uint16_t i = 0; i < 10; ++i) {
    const Bytes inner = testing::ipv4(
        nat_h, kProtoUdp, testing::udp(nat_h, 5060, 5060, {9, 9, 9, static_cast<uint8_t>(i)}));
    access.push_back(testing::ethernet(
        kAccessMac, kAccessPeerMac, kEtherTypeIpv4,
        testing::ipv4(o, kProtoUdp,
                      testing::udp(o, kGtpuPort, kGtpuPort,
                                   testing::gtpu(kGtpuMsgGpdu, thing_teid(1), inner), false))));
    const Ip4 in_h = testing::ip4(kServer, kPublic);  // to the public port: NAT to Thing 1
    core.push_back(testing::ethernet(
        kCoreMac, kCoreRouterMac, kEtherTypeIpv4,
        testing::ipv4(in_h, kProtoUdp,
                      testing::udp(in_h, 5060, 5060, {1, 2, 3, static_cast<uint8_t>(i)}))));
  }
  ASSERT_TRUE(testing::write_pcap(dir.path / "in_access.pcap", access));
  ASSERT_TRUE(testing::write_pcap(dir.path / "in_core.pcap", core));
  const Counters total = replay(dir.path, tables, access.size() + core.size());
  EXPECT_EQ(total.tx[0], core.size());    // every downlink packet delivered
  EXPECT_EQ(total.tx[1], access.size());  // every uplink packet forwarded

  const std::string checks = " -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE";
  for (const char* f : {"out_access.pcap", "out_core.pcap"}) {
    const std::string file = (dir.path / f).string();
    EXPECT_EQ(run("tshark -r " + file + checks +
                  " -Y '_ws.malformed || _ws.expert.severity >= error' -T fields -e frame.number"),
              "")
        << f;
    // Every IPv4 header checksum (outer and inner) is good; UDP checksums good or absent (0,
    // allowed for the GTP-U outer header).
    for (const std::string& l :
         lines(run("tshark -r " + file + checks +
                   " -T fields -E occurrence=a -e ip.checksum.status -e udp.checksum.status"))) {
      EXPECT_EQ(l.find('0'), std::string::npos) << f << ": a bad checksum: " << l;
    }
  }
  // Downlink: GTP-U toward the eNodeB with each Thing's peer TEID; NAT'd packets to Thing 1.
  std::multiset<std::string> teids, inner_dst;
  for (const std::string& l : lines(run("tshark -r " + (dir.path / "out_access.pcap").string() +
                                        " -T fields -e gtp.teid -e ip.dst -E occurrence=l"))) {
    const size_t tab = l.find('\t');
    teids.insert(l.substr(0, tab));
    inner_dst.insert(l.substr(tab + 1));
  }
  EXPECT_EQ(teids.count("0x00008001"), 10u + 10u);  // thing 1: 10 direct + 10 via NAT
  EXPECT_EQ(teids.count("0x00008000"), 10u);
  EXPECT_EQ(inner_dst.count("10.20.0.11"), 20u);
  // Uplink: VLAN 7 on every frame; Thing 1's port-5060 traffic leaves from the public address.
  std::multiset<std::string> vlan_src;
  for (const std::string& l : lines(run("tshark -r " + (dir.path / "out_core.pcap").string() +
                                        " -T fields -e vlan.id -e ip.src -e udp.srcport"))) {
    vlan_src.insert(l);
  }
  EXPECT_EQ(vlan_src.count("7\t203.0.113.9\t5060"), 10u);
  EXPECT_EQ(vlan_src.count("7\t10.20.0.11\t40000"), 10u);
  EXPECT_EQ(vlan_src.size(), access.size());
  for (const std::string& l : vlan_src) EXPECT_EQ(l.rfind("7\t", 0), 0u) << l;
}

// Every real capture through the access port (GTP-U decoded): the engine's counters equal the
// portable pipeline's on the same frames, and nothing crashes. Captures that are not Ethernet
// are converted first (net_pcap passes bytes through whatever the link type).
TEST(EnginePcap, SharedCapturesLandInThePipelinesCounters) {
  if (!fs::exists(kSharedPcaps)) GTEST_SKIP() << "no captures at " << kSharedPcaps;
  Policy policy(4);
  const auto tables = policy.compile();
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(kSharedPcaps)) {
    const std::string ext = entry.path().extension();
    if (ext != ".pcap" && ext != ".pcapng") continue;
    // libpcap gives up part way through one file (a second interface with another snapshot
    // length); read_frames checks that is the one.
    std::vector<Bytes> frames = testing::read_frames(
        entry.path(), entry.path().filename() != "pcapplusplus_gtpv2_edge_cases.pcap");
    // Jumbo frames do not fit one mbuf (2 KiB data room): not what this test is about.
    std::erase_if(frames, [](const Bytes& b) { return b.size() > 9000; });
    if (frames.empty()) continue;
    TempDir dir;
    ASSERT_TRUE(testing::write_pcap(dir.path / "in_access.pcap", frames));
    ASSERT_TRUE(testing::write_pcap(dir.path / "in_core.pcap", {}));
    Counters want{};
    for (const Bytes& f : frames) (void)expect(*tables, Port::kAccess, f, want);
    const Counters got = replay(dir.path, tables, frames.size());
    EXPECT_TRUE(same_counters(got, want)) << entry.path();
    ++files;
  }
  EXPECT_GE(files, 10u);
}

}  // namespace
}  // namespace simcore::dp
