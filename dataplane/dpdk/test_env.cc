// dataplane/dpdk/test_env.cc — the one GoogleTest environment of every test binary that needs
// EAL: rte_eal_init runs once per process, before the first test, with the lab defaults.
// Linked into DPDK test binaries only; gtest_main runs it.
#include <gtest/gtest.h>

#include "dataplane/dpdk/eal.h"

namespace {

class EalEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    simcore::dp::EalOptions o;
    o.memory_mb = 1024;  // room for 100k-session tables next to the test mempools
    const simcore::core::Status s = simcore::dp::eal_init(o);
    ASSERT_TRUE(s.ok()) << s.error().message();
  }
};

// Registered during static initialisation; gtest takes ownership.
[[maybe_unused]] ::testing::Environment* const kEal =
    ::testing::AddGlobalTestEnvironment(new EalEnvironment);

}  // namespace
