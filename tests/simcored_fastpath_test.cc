// simcored with its `dataplane` section: the real daemon runs the DPDK engine on net_pcap
// ports. Frames in the input pcaps are processed with the account's tables, ARP requests for
// the ports' addresses are answered out of the same port, GTP-C is punted to control (whose
// PGW answers an Echo Request out of the access port), and GET /metrics shows the workers'
// counters. No Thing has attached, so the G-PDUs count as uplink.no_session.
#include <gtest/gtest.h>

#include "control/daemon/daemon_test_support.h"
#include "dataplane/packet/wire.h"
#include "dataplane/testing/frame_builder.h"
#include "dataplane/testing/pcap_io.h"

namespace simcore {
namespace {

using ctl::e2e::Daemon;
using ctl::e2e::p;
using dp::Mac;
using dp::testing::Bytes;
using dp::testing::ip;

const Mac kPeer{2, 0, 0, 0, 9, 9};

class SimcoredFastPath : public ctl::e2e::Simcored {};

std::string metric_line(const std::string& text, const std::string& prefix) {
  const size_t at = text.find(prefix);
  if (at == std::string::npos) return "";
  return text.substr(at, text.find('\n', at) - at);
}

TEST_F(SimcoredFastPath, ServesTheApiAndForwardsOnPcapPorts) {
  const uint32_t access = ip("192.0.2.1"), core = ip("203.0.113.1"), enb = ip("192.0.2.77");
  std::vector<Bytes> in_access, in_core;
  in_access.push_back(
      dp::testing::ethernet(Mac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, kPeer, dp::kEtherTypeArp,
                            dp::testing::arp(dp::kArpOpRequest, kPeer, enb, Mac{}, access)));
  const dp::testing::Ip4 o = dp::testing::ip4(enb, access);
  const dp::testing::Ip4 inner = dp::testing::ip4(ip("10.0.0.5"), ip("198.51.100.1"));
  for (int i = 0; i < 5; ++i) {
    in_access.push_back(dp::testing::ethernet(
        Mac{}, kPeer, dp::kEtherTypeIpv4,
        dp::testing::ipv4(
            o, dp::kProtoUdp,
            dp::testing::udp(
                o, dp::kGtpuPort, dp::kGtpuPort,
                dp::testing::gtpu(
                    dp::kGtpuMsgGpdu, 0x4242,
                    dp::testing::ipv4(inner, dp::kProtoUdp, dp::testing::udp(inner, 1, 2, {}))),
                false))));
  }
  in_access.push_back(dp::testing::ethernet(
      Mac{}, kPeer, dp::kEtherTypeIpv4,
      dp::testing::ipv4(o, dp::kProtoUdp,
                        // GTPv2-C Echo Request: sequence 0x000102, Recovery 7.
                        dp::testing::udp(o, 2123, dp::kGtpcPort,
                                         {0x40, 0x01, 0x00, 0x09, 0x00, 0x01, 0x02, 0x00, 0x03,
                                          0x00, 0x01, 0x00, 0x07}))));
  in_core.push_back(dp::testing::ethernet(
      Mac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, kPeer, dp::kEtherTypeArp,
      dp::testing::arp(dp::kArpOpRequest, kPeer, ip("203.0.113.254"), Mac{}, core)));
  ASSERT_TRUE(dp::testing::write_pcap(dir_ / "in_access.pcap", in_access));
  ASSERT_TRUE(dp::testing::write_pcap(dir_ / "in_core.pcap", in_core));
  std::ofstream(dir_ / "simcored.yaml", std::ios::app)
      << "dataplane:\n"
         "  workers: 1\n"
         "  flowsPerWorker: 4096\n"
         // EAL's SIMD width raised, as README "Measurements" ran the engine.
         "  ealArgs: ['--force-max-simd-bitwidth=512']\n"
         "  access: {port: net_pcap_sa, devargs: 'rx_pcap="
      << (dir_ / "in_access.pcap").string() << ",tx_pcap=" << (dir_ / "out_access.pcap").string()
      << "', address: 192.0.2.1, prefixLength: 24}\n"
         "  core: {port: net_pcap_sc, devargs: 'rx_pcap="
      << (dir_ / "in_core.pcap").string() << ",tx_pcap=" << (dir_ / "out_core.pcap").string()
      << "', address: 203.0.113.1, prefixLength: 24, gateway: 203.0.113.254}\n";

  Daemon d(dir_);
  ASSERT_NE(d.start(), 0) << "simcored did not start with the dataplane section";
  const std::string token = d.token();
  ASSERT_FALSE(token.empty());
  std::string metrics;
  for (int i = 0; i < 100; ++i) {  // the workers take the frames in within milliseconds
    metrics = d.call("GET", p("/metrics"), token).body;
    // All frames in, and out of the access port the ARP reply and control's Echo Response.
    if (metric_line(metrics, "simcore_rx_packets_total{port=\"access\",worker=\"0\"}") ==
            "simcore_rx_packets_total{port=\"access\",worker=\"0\"} 7" &&
        metric_line(metrics, "simcore_tx_packets_total{port=\"access\",worker=\"0\"}") ==
            "simcore_tx_packets_total{port=\"access\",worker=\"0\"} 2") {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(metric_line(metrics, "simcore_rx_packets_total{port=\"access\",worker=\"0\"}"),
            "simcore_rx_packets_total{port=\"access\",worker=\"0\"} 7")
      << metrics;
  EXPECT_EQ(metric_line(metrics, "simcore_rx_packets_total{port=\"core\",worker=\"0\"}"),
            "simcore_rx_packets_total{port=\"core\",worker=\"0\"} 1");
  EXPECT_NE(metrics.find("reason=\"uplink.no_session\",worker=\"0\"} 5"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("punt.gtpc"), std::string::npos);
  // The flow table is the configured size, and nothing was evicted from it.
  EXPECT_NE(metrics.find("\nsimcore_flows_per_worker 4096\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\nsimcore_flow_evictions_total{worker=\"0\"} 0\n"), std::string::npos);
  ASSERT_EQ(d.stop(SIGTERM), 0);  // a clean stop closes the ports, which flushes the output

  // The ARP requests were answered from each port's own address, back to the asker.
  for (const auto& [file, addr, asker] : {std::tuple{"out_access.pcap", access, enb},
                                          std::tuple{"out_core.pcap", core, ip("203.0.113.254")}}) {
    const std::vector<Bytes> out = dp::testing::read_frames(dir_ / file);
    ASSERT_GE(out.size(), 1u) << file;
    const Bytes& r = out[0];
    ASSERT_GE(r.size(), 42u);
    EXPECT_EQ(dp::load_be16(r.data() + 12), dp::kEtherTypeArp);
    EXPECT_EQ(dp::load_be16(r.data() + 20), dp::kArpOpReply) << file;
    EXPECT_EQ(dp::load_be32(r.data() + 28), addr) << file;   // sender: us
    EXPECT_EQ(dp::load_be32(r.data() + 38), asker) << file;  // target: who asked
    EXPECT_TRUE(std::equal(kPeer.begin(), kPeer.end(), r.begin())) << file;
  }
  // The Echo Request was answered by control, out of the access port, back to its sender.
  const std::vector<Bytes> out = dp::testing::read_frames(dir_ / "out_access.pcap");
  ASSERT_EQ(out.size(), 2u);
  const Bytes& e = out[1];
  ASSERT_GE(e.size(), 42u + 12u);
  EXPECT_TRUE(std::equal(kPeer.begin(), kPeer.end(), e.begin()));
  EXPECT_EQ(dp::load_be32(e.data() + 26), access);
  EXPECT_EQ(dp::load_be32(e.data() + 30), enb);
  EXPECT_EQ(dp::load_be16(e.data() + 36), 2123);  // to the request's source port
  const uint8_t* gtp = e.data() + 42;
  EXPECT_EQ(gtp[0] >> 5, 2);                          // GTPv2
  EXPECT_EQ(gtp[1], 2);                               // Echo Response
  EXPECT_EQ(dp::load_be32(gtp + 4) >> 8, 0x000102u);  // the request's sequence number
}

// dataplane.ealArgs reach rte_eal_init: one it does not know stops simcored before it serves.
TEST_F(SimcoredFastPath, AnEalArgumentEalRefusesStopsTheDaemonSayingSo) {
  std::ofstream(dir_ / "simcored.yaml", std::ios::app)
      << "dataplane:\n"
         "  ealArgs: ['--no-such-eal-option']\n"
         "  access: {port: net_null_ea, address: 192.0.2.1}\n"
         "  core: {port: net_null_ec, address: 203.0.113.1}\n";
  Daemon d(dir_);
  EXPECT_EQ(d.start(), 0) << "simcored served with an EAL option EAL does not know";
  EXPECT_EQ(d.stop(SIGTERM), 1);
  EXPECT_NE(d.log_tail(20).find("rte_eal_init failed"), std::string::npos) << d.log_tail(20);
}

}  // namespace
}  // namespace simcore
