#include "dataplane/dpdk/eal.h"

#include <gtest/gtest.h>
#include <rte_lcore.h>

#include <algorithm>

namespace simcore::dp {
namespace {

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(Eal, LabDefaultsNeedNoHugepagesAndNoNic) {
  const std::vector<std::string> a = eal_arguments(EalOptions{});
  EXPECT_TRUE(has(a, "--no-huge"));
  EXPECT_TRUE(has(a, "--no-pci"));
  EXPECT_TRUE(has(a, "--no-shconf"));
  EXPECT_TRUE(has(a, "--no-telemetry"));
  EXPECT_FALSE(has(a, "--in-memory"));  // fails together with --no-huge (DESIGN.md)
}

TEST(Eal, RealHardwareDropsTheLabFlagsAndKeepsVdevs) {
  EalOptions o;
  o.hugepages = true;
  o.pci = true;
  o.vdevs = {"net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap"};
  const std::vector<std::string> a = eal_arguments(o);
  EXPECT_FALSE(has(a, "--no-huge"));
  EXPECT_FALSE(has(a, "--no-pci"));
  EXPECT_TRUE(has(a, "--vdev=net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap"));
}

TEST(Eal, InitialisedOnceForTheProcessWithWorkerLcores) {
  ASSERT_TRUE(eal_ready());
  EXPECT_GE(rte_lcore_count(), 2u);  // the main lcore and at least one worker
  EalOptions o;
  o.memory_mb = 1024;
  EXPECT_TRUE(eal_init(o).ok());  // the same options again: already done, fine
  o.memory_mb = 64;
  const core::Status s = eal_init(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), core::Code::kFailedPrecondition);
}

}  // namespace
}  // namespace simcore::dp
