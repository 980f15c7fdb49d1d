#include "dataplane/rule_hits.h"

#include <gtest/gtest.h>

#include <map>
#include <thread>

namespace simcore::dp {
namespace {

std::map<uint32_t, uint64_t> as_map(const RuleHits& h) {
  std::map<uint32_t, uint64_t> m;
  for (const auto& [id, n] : h.snapshot()) m[id] = n;
  return m;
}

TEST(RuleHits, CountsPerRuleAndIgnoresNoRule) {
  RuleHits h(64);
  for (int i = 0; i < 5; ++i) h.hit(7);
  h.hit(900001);
  h.hit(0);  // the default action decided: not a rule
  EXPECT_EQ(as_map(h), (std::map<uint32_t, uint64_t>{{7, 5}, {900001, 1}}));
  EXPECT_EQ(h.overflow(), 0u);
}

TEST(RuleHits, MoreRulesThanSlotsOverflowIntoOneCounter) {
  RuleHits h(16);
  uint64_t total = 0;
  for (uint32_t id = 1; id <= 40; ++id) {
    h.hit(id);
    ++total;
  }
  uint64_t counted = h.overflow();
  for (const auto& [id, n] : h.snapshot()) counted += n;
  EXPECT_EQ(counted, total);  // nothing lost
  EXPECT_EQ(h.snapshot().size(), 16u);
  EXPECT_EQ(h.overflow(), 24u);
}

TEST(RuleHits, ControlReadsWhileTheWorkerCounts) {
  RuleHits h(1024);
  std::atomic<bool> done{false};
  std::thread worker([&] {
    for (int i = 0; i < 200000; ++i) h.hit(static_cast<uint32_t>(1 + i % 300));
    done = true;
  });
  uint64_t last = 0;
  while (!done) {
    uint64_t sum = 0;
    for (const auto& [id, n] : h.snapshot()) sum += n;
    EXPECT_GE(sum, last);  // every slot only grows, and claimed slots stay claimed
    last = sum;
  }
  worker.join();
  uint64_t sum = 0;
  for (const auto& [id, n] : h.snapshot()) sum += n;
  EXPECT_EQ(sum, 200000u);
}

}  // namespace
}  // namespace simcore::dp
