#include "core/flat_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace simcore::core {
namespace {

constexpr uint32_t kNone = FlatIndex::kNotFound;

// murmur3's 32-bit finaliser and the multiply-high bucket choice that flat_index.h documents.
// Used only to pick keys that collide in a 16-bucket table; the randomised tests do not need it.
uint32_t home16(uint32_t k) {
  k ^= k >> 16;
  k *= 0x85ebca6bu;
  k ^= k >> 13;
  k *= 0xc2b2ae35u;
  k ^= k >> 16;
  return static_cast<uint32_t>((uint64_t{k} * 16) >> 32);
}

// Returns `count` distinct keys whose home bucket in a 16-bucket table is `home`, skipping `used`.
std::vector<uint32_t> keys_with_home(uint32_t home, size_t count, std::vector<uint32_t>& used) {
  std::vector<uint32_t> out;
  for (uint32_t k = 1; out.size() < count; ++k) {
    if (home16(k) != home) continue;
    if (std::find(used.begin(), used.end(), k) != used.end()) continue;
    out.push_back(k);
    used.push_back(k);
  }
  return out;
}

// Checks that `idx` holds exactly `want` among `universe`.
void expect_contents(const FlatIndex& idx, const std::unordered_map<uint32_t, uint32_t>& want,
                     const std::vector<uint32_t>& universe) {
  EXPECT_EQ(idx.size(), want.size());
  for (uint32_t k : universe) {
    auto it = want.find(k);
    const uint32_t expected = it == want.end() ? kNone : it->second;
    ASSERT_EQ(idx.find(k), expected) << "key " << k;
  }
}

// The header's promise: grown past 75% load.
bool within_load(const FlatIndex& idx) { return idx.size() * 4 <= idx.capacity() * 3; }

TEST(FlatIndex, EmptyFindsNothingIncludingKeyZero) {
  FlatIndex idx;
  EXPECT_EQ(idx.size(), 0u);
  EXPECT_EQ(idx.capacity(), 16u);
  // Empty buckets hold key 0: a lookup of 0 must still miss.
  EXPECT_EQ(idx.find(0), kNone);
  EXPECT_EQ(idx.find(1), kNone);
  EXPECT_EQ(idx.find(0xffffffffu), kNone);
  EXPECT_FALSE(idx.erase(0));
  EXPECT_FALSE(idx.erase(123));
}

TEST(FlatIndex, KeyZeroIsAnOrdinaryKey) {
  FlatIndex idx;
  idx.insert(0, 5);
  EXPECT_EQ(idx.find(0), 5u);
  EXPECT_EQ(idx.size(), 1u);
  idx.insert(1, 6);
  EXPECT_EQ(idx.find(0), 5u);
  EXPECT_EQ(idx.find(1), 6u);
  EXPECT_TRUE(idx.erase(0));
  EXPECT_EQ(idx.find(0), kNone);
  EXPECT_EQ(idx.find(1), 6u);
  EXPECT_FALSE(idx.erase(0));
  EXPECT_EQ(idx.size(), 1u);
  idx.insert(0, 0);  // value 0 is a value, not "empty"
  EXPECT_EQ(idx.find(0), 0u);
}

TEST(FlatIndex, InsertReplacesAndEraseReports) {
  FlatIndex idx;
  idx.insert(7, 1);
  idx.insert(7, 2);
  EXPECT_EQ(idx.size(), 1u);
  EXPECT_EQ(idx.find(7), 2u);
  idx.insert(0xffffffffu, 0xfffffffeu);  // the largest key and value
  EXPECT_EQ(idx.find(0xffffffffu), 0xfffffffeu);
  EXPECT_TRUE(idx.erase(7));
  EXPECT_FALSE(idx.erase(7));
  EXPECT_EQ(idx.find(7), kNone);
  EXPECT_EQ(idx.size(), 1u);
}

TEST(FlatIndex, GrowsPastThreeQuartersLoadAndKeepsEveryKey) {
  FlatIndex idx;
  ASSERT_EQ(idx.capacity(), 16u);
  for (uint32_t k = 0; k < 12; ++k) idx.insert(k, k + 100);
  EXPECT_EQ(idx.capacity(), 16u);  // 12 of 16 is exactly 75%: no growth yet
  idx.insert(12, 112);
  EXPECT_GT(idx.capacity(), 16u);  // the 13th key would pass 75%
  for (uint32_t k = 13; k < 5000; ++k) {
    const size_t before = idx.capacity();
    idx.insert(k, k + 100);
    ASSERT_TRUE(within_load(idx)) << "after key " << k << ": " << idx.size() << " in "
                                  << idx.capacity();
    ASSERT_GE(idx.capacity(), before) << "never shrinks";
  }
  EXPECT_EQ(idx.size(), 5000u);
  for (uint32_t k = 0; k < 5000; ++k) ASSERT_EQ(idx.find(k), k + 100) << k;
  EXPECT_EQ(idx.find(5000), kNone);
  // Replacing a value at the load limit does not need room.
  const size_t cap = idx.capacity();
  for (uint32_t k = 0; k < 5000; ++k) idx.insert(k, k);
  EXPECT_EQ(idx.capacity(), cap);
}

TEST(FlatIndex, SizedForExpectedDoesNotGrow) {
  for (size_t expected : {size_t{1}, size_t{13}, size_t{1000}, size_t{4097}}) {
    SCOPED_TRACE(expected);
    FlatIndex idx(expected);
    const size_t cap = idx.capacity();
    EXPECT_GE(cap * 3, expected * 4);
    for (uint32_t k = 0; k < expected; ++k) idx.insert(k * 2654435761u, k);
    EXPECT_EQ(idx.capacity(), cap);
    for (uint32_t k = 0; k < expected; ++k) ASSERT_EQ(idx.find(k * 2654435761u), k);
  }
}

TEST(FlatIndex, AMillionKeysCostThirteenToEighteenBytesEach) {
  constexpr uint32_t kKeys = 1000000;
  FlatIndex idx(kKeys);
  const size_t cap = idx.capacity();
  for (uint32_t k = 0; k < kKeys; ++k) idx.insert(0x0a000000u + k, k);  // 10.0.0.0/12-ish keys
  EXPECT_EQ(idx.capacity(), cap);
  const double per_key = static_cast<double>(idx.bytes()) / kKeys;
  EXPECT_GE(per_key, 13.0);
  EXPECT_LE(per_key, 18.0);
  for (uint32_t k = 0; k < kKeys; k += 997) ASSERT_EQ(idx.find(0x0a000000u + k), k);
}

// A probe run 5..9 (three keys whose home is 5, then homes 6 and 7) and a run that wraps:
// inserted in the order homes 15, 0, 15, it sits in buckets 15, 0, 1, so erasing the first key
// must leave the home-0 key in bucket 0 and move the second home-15 key back across the wrap.
// Erasing any one key, or a run in any order, must leave every other key findable.
TEST(FlatIndex, BackwardShiftDeletionKeepsEveryOtherKeyFindable) {
  std::vector<uint32_t> used;
  std::vector<uint32_t> keys;
  for (auto [home, n] :
       {std::pair<uint32_t, size_t>{5, 3}, {6, 1}, {7, 1}, {15, 1}, {0, 1}, {15, 1}}) {
    for (uint32_t k : keys_with_home(home, n, used)) keys.push_back(k);
  }
  ASSERT_EQ(keys.size(), 8u);

  FlatIndex full;
  std::unordered_map<uint32_t, uint32_t> want;
  for (size_t i = 0; i < keys.size(); ++i) {
    full.insert(keys[i], static_cast<uint32_t>(i));
    want[keys[i]] = static_cast<uint32_t>(i);
  }
  ASSERT_EQ(full.capacity(), 16u);
  expect_contents(full, want, keys);

  // Every single erasure.
  for (uint32_t victim : keys) {
    SCOPED_TRACE("erase " + std::to_string(victim));
    FlatIndex idx = full;
    auto w = want;
    ASSERT_TRUE(idx.erase(victim));
    w.erase(victim);
    expect_contents(idx, w, keys);
  }
  // Every order of erasing each run: the one at 5 (three home-5 keys, 6 and 7) and the wrap.
  for (std::vector<uint32_t> run : {std::vector<uint32_t>(keys.begin(), keys.begin() + 5),
                                    std::vector<uint32_t>(keys.begin() + 5, keys.end())}) {
    std::sort(run.begin(), run.end());
    do {
      FlatIndex idx = full;
      auto w = want;
      for (uint32_t victim : run) {
        SCOPED_TRACE("erase " + std::to_string(victim));
        ASSERT_TRUE(idx.erase(victim));
        w.erase(victim);
        expect_contents(idx, w, keys);
        if (HasFatalFailure()) return;
      }
    } while (std::next_permutation(run.begin(), run.end()));
  }
}

// Hash-independent: random small tables at the load limit, erased in random order.
TEST(FlatIndex, RandomEraseOrdersInFullSmallTables) {
  const uint32_t seed = 20240611;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  for (int round = 0; round < 2000; ++round) {
    std::vector<uint32_t> keys;
    std::unordered_map<uint32_t, uint32_t> want;
    FlatIndex idx;
    while (keys.size() < 12) {
      const uint32_t k = rng() % 64;  // small keys: some runs share homes
      if (want.count(k)) continue;
      keys.push_back(k);
      want[k] = static_cast<uint32_t>(rng() % 1000);
      idx.insert(k, want[k]);
    }
    ASSERT_EQ(idx.capacity(), 16u);
    std::shuffle(keys.begin(), keys.end(), rng);
    for (uint32_t victim : keys) {
      ASSERT_TRUE(idx.erase(victim)) << "round " << round;
      want.erase(victim);
      expect_contents(idx, want, keys);
      if (HasFatalFailure()) return;
    }
  }
}

// Long random insert/erase/replace sequences checked against std::unordered_map.
TEST(FlatIndex, MatchesUnorderedMapUnderRandomChurn) {
  for (uint32_t seed : {1u, 42u, 0xC0FFEEu}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    // A universe small enough that keys are erased and re-inserted many times, with the extremes.
    std::vector<uint32_t> universe = {0u, 1u, 0xffffffffu, 0x80000000u};
    while (universe.size() < 3000) universe.push_back(static_cast<uint32_t>(rng()));
    std::unordered_map<uint32_t, uint32_t> want;
    FlatIndex idx;
    size_t erased = 0;
    for (int op = 0; op < 300000; ++op) {
      const uint32_t k = universe[rng() % universe.size()];
      const uint32_t roll = rng() % 100;
      // Phases shift the balance so the table fills up, drains, and fills again.
      const uint32_t insert_pct = (op / 50000) % 2 == 0 ? 60 : 35;
      if (roll < insert_pct) {
        const uint32_t v = rng() % 0xfffffffeu;
        idx.insert(k, v);
        want[k] = v;
      } else {
        const bool had = want.erase(k) > 0;
        ASSERT_EQ(idx.erase(k), had) << "op " << op << " key " << k;
        erased += had;
      }
      ASSERT_EQ(idx.size(), want.size()) << "op " << op;
      ASSERT_TRUE(within_load(idx)) << "op " << op;
      if (op % 20000 == 0) {
        expect_contents(idx, want, universe);
        if (HasFatalFailure()) return;
      }
    }
    expect_contents(idx, want, universe);
    EXPECT_GT(erased, 50000u);  // the test really exercised deletion
    // Drain completely; every remaining key must be found until it is erased.
    for (uint32_t k : universe) {
      const bool had = want.erase(k) > 0;
      ASSERT_EQ(idx.erase(k), had);
    }
    EXPECT_EQ(idx.size(), 0u);
    for (uint32_t k : universe) ASSERT_EQ(idx.find(k), kNone);
  }
}

TEST(FlatIndex, CopyIsCopyOnWrite) {
  FlatIndex a(100000);
  ASSERT_GT(a.capacity(), 4096u * 4);  // several pages
  for (uint32_t k = 0; k < 100000; ++k) a.insert(k, k);
  ASSERT_EQ(a.size(), 100000u);

  FlatIndex b = a;
  EXPECT_EQ(b.pages_cloned(), 0u);
  b.insert(500000, 1);
  EXPECT_TRUE(b.erase(17));
  b.insert(42, 4242);
  // Three changes touch at most a few pages, not the table.
  EXPECT_GE(b.pages_cloned(), 1u);
  EXPECT_LE(b.pages_cloned(), 6u);

  EXPECT_EQ(a.size(), 100000u);
  EXPECT_EQ(a.find(500000), kNone);
  EXPECT_EQ(a.find(17), 17u);
  EXPECT_EQ(a.find(42), 42u);
  EXPECT_EQ(b.size(), 100000u);
  EXPECT_EQ(b.find(500000), 1u);
  EXPECT_EQ(b.find(17), kNone);
  EXPECT_EQ(b.find(42), 4242u);
  for (uint32_t k = 0; k < 100000; k += 97) {
    ASSERT_EQ(a.find(k), k);
    if (k != 17 && k != 42) {
      ASSERT_EQ(b.find(k), k);
    }
  }
}

TEST(FlatIndex, GrowingACopyLeavesTheOriginalAlone) {
  FlatIndex a;
  for (uint32_t k = 0; k < 8; ++k) a.insert(k, k);
  FlatIndex b = a;
  for (uint32_t k = 8; k < 100; ++k) b.insert(k, k);  // rebuilds b several times
  EXPECT_EQ(a.capacity(), 16u);
  EXPECT_EQ(a.size(), 8u);
  for (uint32_t k = 0; k < 8; ++k) EXPECT_EQ(a.find(k), k);
  EXPECT_EQ(a.find(50), kNone);
  for (uint32_t k = 0; k < 100; ++k) EXPECT_EQ(b.find(k), k);
}

}  // namespace
}  // namespace simcore::core
