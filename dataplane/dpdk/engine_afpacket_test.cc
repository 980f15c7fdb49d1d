// The engine on a net_af_packet port facing a real Linux network stack: a veth pair, one end
// in a network namespace with an address on the access subnet. The kernel there resolves our
// access address by ARP before it sends a datagram to it; its neighbour table must then hold
// the MAC of our port. Needs root (namespaces, veth); skipped otherwise, except under CI.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "dataplane/dpdk/engine_test_support.h"
#include "tests/support/netns.h"

namespace simcore::dp {
namespace {

using namespace enginetest;  // NOLINT: the test vocabulary

using testlab::sh;

TEST(EngineAfPacket, ALinuxHostResolvesOurAccessAddressByArp) {
  if (!testlab::can_build_namespaces()) {
    if (std::getenv("CI") != nullptr) FAIL() << "CI runs as root with iproute2";
    GTEST_SKIP() << "needs root and iproute2 for a network namespace";
  }
  testlab::Netns veth("afp", "192.0.2.77/24");
  ASSERT_TRUE(veth.ok()) << sh("ip link");
  std::vector<rte_ring*> rings;
  for (int i = 0; i < 2; ++i) {
    rings.push_back(rte_ring_create(("afp_" + std::to_string(i)).c_str(), 1024, SOCKET_ID_ANY, 0));
  }
  auto core_port = make_ring_port("afp_core", rings[0], rings[1]);
  ASSERT_TRUE(core_port.ok());
  EngineConfig c;
  c.workers = 1;
  c.access = {"net_af_packet_t", "iface=" + veth.here};
  c.core = {*core_port, ""};
  c.addressing = kPorts;
  c.addressing.access_mac = {};  // the port's own: the veth's MAC
  c.addressing.access_prefix_len = 24;
  c.idle_sleep_us = 50;
  auto e = Engine::create(c);
  ASSERT_TRUE(e.ok()) << e.error().message();
  Engine& engine = **e;
  ASSERT_TRUE(engine.publish(Policy(1).compile()).ok());
  ASSERT_TRUE(engine.start().ok());

  // A datagram from the namespace to our access address: the kernel ARPs for it first.
  sh("ip netns exec " + veth.ns + " bash -c 'echo hi > /dev/udp/192.0.2.1/9'");
  const std::string mac = sh("cat /sys/class/net/" + veth.here + "/address");
  std::string neigh;
  for (int i = 0; i < 50; ++i) {
    neigh = sh("ip netns exec " + veth.ns + " ip neigh show 192.0.2.1");
    if (neigh.find("lladdr") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  engine.stop();
  EXPECT_NE(neigh.find("lladdr " + mac.substr(0, 17)), std::string::npos)
      << "neighbour entry: " << neigh << " port MAC: " << mac;
  EXPECT_GE(engine.total().arp_replies, 1u);
  e->reset();
  for (rte_ring* r : rings) rte_ring_free(r);
}

}  // namespace
}  // namespace simcore::dp
