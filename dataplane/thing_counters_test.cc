#include "dataplane/thing_counters.h"

#include <gtest/gtest.h>

#include <thread>

namespace simcore::dp {
namespace {

TEST(ThingCounters, PagesAppearWhenControlGrowsTheTable) {
  ThingCounterTable t;
  EXPECT_EQ(t.find(0), nullptr);  // nothing until control sizes it
  t.ensure(5000);                 // two pages
  EXPECT_EQ(t.capacity(), 2 * ThingCounterTable::kPageSlots);
  ASSERT_NE(t.find(4999), nullptr);
  EXPECT_NE(t.find(8191), nullptr);
  EXPECT_EQ(t.find(8192), nullptr);
  EXPECT_EQ(t.find(ThingCounterTable::kCapacity), nullptr);
  t.find(4999)->up_bytes += 1500;
  ++t.find(4999)->blocked;
  EXPECT_EQ(t.read(4999).up_bytes, 1500u);
  EXPECT_EQ(t.read(4999).blocked, 1u);
  EXPECT_EQ(t.read(4998).up_bytes, 0u);  // pages start zeroed
  EXPECT_EQ(t.read(9000).up_bytes, 0u);  // unpaged reads as zeros
  ThingCounters* before = t.find(1);
  t.ensure(20000);  // growing never moves existing pages: workers may hold pointers
  EXPECT_EQ(t.find(1), before);
  EXPECT_EQ(t.bytes(), 5 * ThingCounterTable::kPageSlots * sizeof(ThingCounters));
}

TEST(ThingCounters, AWorkerCountsWhileControlGrowsAndReads) {
  ThingCounterTable t;
  t.ensure(1);
  std::atomic<bool> done{false};
  constexpr uint32_t kSlots = 3 * ThingCounterTable::kPageSlots;
  std::thread worker([&] {
    for (int round = 0; round < 200; ++round) {
      for (uint32_t s = 0; s < kSlots; s += 97) {
        if (ThingCounters* c = t.find(s)) {
          ++c->up_packets;
        } else {
          ++t.unpaged;
        }
      }
    }
    done = true;
  });
  t.ensure(kSlots);  // concurrently with the worker's lookups
  uint64_t seen = 0;
  while (!done) seen = std::max(seen, t.read(0).up_packets);
  worker.join();
  uint64_t counted = t.unpaged;
  for (uint32_t s = 0; s < kSlots; s += 97) counted += t.read(s).up_packets;
  EXPECT_EQ(counted, 200u * ((kSlots + 96) / 97));  // every count landed somewhere
  EXPECT_EQ(t.read(0).up_packets, 200u);            // slot 0 was paged from the start
}

}  // namespace
}  // namespace simcore::dp
