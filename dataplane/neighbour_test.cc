// The neighbour table: set/lookup/replace, capacity, and one writer against concurrent
// readers (run under TSan by scripts/test): a reader never sees an address with another
// address's MAC or a half-written MAC.
#include "dataplane/neighbour.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace simcore::dp {
namespace {

TEST(Neighbour, SetLookupReplace) {
  NeighbourTable t;
  Mac m{};
  EXPECT_FALSE(t.lookup(0x0a000001, m));
  ASSERT_TRUE(t.set(0x0a000001, Mac{2, 0, 0, 0, 0, 1}));
  ASSERT_TRUE(t.lookup(0x0a000001, m));
  EXPECT_EQ(m, (Mac{2, 0, 0, 0, 0, 1}));
  ASSERT_TRUE(t.set(0x0a000001, Mac{2, 0, 0, 0, 0, 9}));
  ASSERT_TRUE(t.lookup(0x0a000001, m));
  EXPECT_EQ(m, (Mac{2, 0, 0, 0, 0, 9}));
  EXPECT_EQ(t.size(), 1u);
  EXPECT_FALSE(t.lookup(0x0a000002, m));
  EXPECT_FALSE(t.set(0, Mac{1}));
}

TEST(Neighbour, FillsToCapacityThenRefuses) {
  NeighbourTable t;
  for (uint32_t i = 0; i < NeighbourTable::kCapacity; ++i) {
    ASSERT_TRUE(t.set(0x0a000000 + i + 1, Mac{2, 0, 0, 0, static_cast<uint8_t>(i >> 8),
                                              static_cast<uint8_t>(i)}));
  }
  EXPECT_FALSE(t.set(0x0b000001, Mac{2}));
  EXPECT_TRUE(t.set(0x0a000001, Mac{2, 1}));  // replacing still works when full
  for (uint32_t i = 0; i < NeighbourTable::kCapacity; ++i) {
    Mac m{};
    ASSERT_TRUE(t.lookup(0x0a000000 + i + 1, m)) << i;
    if (i > 0) {
      EXPECT_EQ(m[5], static_cast<uint8_t>(i));
    }
  }
  Mac m{};
  EXPECT_FALSE(t.lookup(0x0b000001, m));
}

// The MAC written for (addr, version): bytes 3..4 are the address's low 16 bits and the other
// four the version's low byte, so a torn read shows.
Mac mac_of(uint32_t addr, uint32_t version) {
  const auto v = static_cast<uint8_t>(version);
  return Mac{v, v, v, static_cast<uint8_t>(addr >> 8), static_cast<uint8_t>(addr), v};
}

TEST(Neighbour, OneWriterManyReadersSeeWholeEntries) {
  NeighbourTable t;
  constexpr uint32_t kAddrs = 200;  // a nearly full table: long probe chains
  constexpr int kWrites = 100000;
  constexpr int kReads = 200000;
  std::atomic<bool> bad{false};
  std::atomic<uint64_t> hits{0};
  for (uint32_t a = 1; a <= kAddrs / 2; ++a) ASSERT_TRUE(t.set(0x0a000000 + a, mac_of(a, 0)));
  std::thread writer([&] {
    for (int i = 0; i < kWrites; ++i) {
      const uint32_t a = 1 + static_cast<uint32_t>(i) % kAddrs;
      if (!t.set(0x0a000000 + a, mac_of(a, static_cast<uint32_t>(i)))) bad = true;
    }
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      uint64_t n = 0;
      for (int i = 0; i < kReads; ++i) {
        const uint32_t a = 1 + static_cast<uint32_t>(i * 7 + r) % kAddrs;
        Mac m{};
        if (!t.lookup(0x0a000000 + a, m)) continue;
        ++n;
        if (m[3] != static_cast<uint8_t>(a >> 8) || m[4] != static_cast<uint8_t>(a) ||
            m[0] != m[1] || m[1] != m[2] || m[2] != m[5]) {
          bad = true;
        }
      }
      hits += n;
    });
  }
  writer.join();
  for (std::thread& th : readers) th.join();
  EXPECT_FALSE(bad.load());
  EXPECT_GT(hits.load(), 0u);
  EXPECT_EQ(t.size(), kAddrs);
}

}  // namespace
}  // namespace simcore::dp
