#include "dataplane/huge_memory.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "core/paged_array.h"
#include "dataplane/flow_table.h"
#include "dataplane/testing/mappings.h"
#include "dataplane/thing_counters.h"

namespace simcore::dp {
namespace {

using testing::mapped;
using testing::vm_flags_of;

bool advised(const void* p) { return vm_flags_of(p).find(" hg") != std::string::npos; }

TEST(HugeMemory, MapsAlignedZeroedAdvisedMemory) {
  void* p = map_huge(2 * kHugePage);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kHugePage, 0u);
  EXPECT_TRUE(advised(p)) << vm_flags_of(p);
  const auto* bytes = static_cast<const uint8_t*>(p);
  EXPECT_EQ(bytes[0], 0);
  EXPECT_EQ(bytes[2 * kHugePage - 1], 0);
}

TEST(HugeMemory, SmallBlocksAreDistinctAlignedAndReusedBySize) {
  constexpr size_t kBytes = 96 * 1024 + 16;  // a session-row page with its control block
  std::vector<void*> blocks;
  std::set<uintptr_t> seen;
  for (int i = 0; i < 50; ++i) {  // more than one 2 MiB mapping holds
    void* p = huge_allocate(kBytes);
    ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
    EXPECT_TRUE(advised(p));
    std::memset(p, i, kBytes);  // all of it is ours: a neighbour's fill would show below
    blocks.push_back(p);
    seen.insert(reinterpret_cast<uintptr_t>(p));
  }
  EXPECT_EQ(seen.size(), blocks.size());
  for (size_t i = 0; i < blocks.size(); ++i) {
    const auto* b = static_cast<const uint8_t*>(blocks[i]);
    ASSERT_EQ(b[0], static_cast<uint8_t>(i));
    ASSERT_EQ(b[kBytes - 1], static_cast<uint8_t>(i));
  }
  // A freed block serves the next request of its size, not of another size.
  huge_deallocate(blocks[7], kBytes);
  void* other = huge_allocate(kBytes * 2);
  EXPECT_NE(other, blocks[7]);
  EXPECT_EQ(huge_allocate(kBytes), blocks[7]);
  for (void* p : blocks) huge_deallocate(p, kBytes);
  huge_deallocate(other, kBytes * 2);
}

TEST(HugeMemory, BigBlocksGetMappingsOfTheirOwnAndAreUnmapped) {
  const size_t bytes = 3 * kHugePage + 5;
  void* p = huge_allocate(bytes);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kHugePage, 0u);
  EXPECT_TRUE(advised(p));
  static_cast<uint8_t*>(p)[bytes - 1] = 1;
  huge_deallocate(p, bytes);
  EXPECT_FALSE(mapped(p));
}

TEST(HugeMemory, PagedArrayPagesComeFromTheInstalledMemoryAndGoBackWhereTheyCameFrom) {
  using Rows = core::PagedArray<uint64_t>;
  Rows before(5000, 7);  // two pages from operator new
  EXPECT_FALSE(advised(&before[0]));
  core::set_page_memory(huge_page_memory());
  Rows after(5000, 9);
  EXPECT_TRUE(advised(&after[0])) << vm_flags_of(&after[0]);
  EXPECT_TRUE(advised(&after[4999]));
  Rows copy = before;  // shares before's pages; a write clones into huge memory
  copy.mut(1) = 1;
  EXPECT_TRUE(advised(&copy[1]));
  EXPECT_FALSE(advised(&copy[4999]));  // still before's page
  EXPECT_EQ(copy[0], 7u);
  EXPECT_EQ(before[1], 7u);
  core::set_page_memory(core::default_page_memory());
  // Destroyed after the switch back: each page is freed by the memory it came from (ASan and
  // the arena would both notice otherwise).
}

TEST(HugeMemory, ThingCountersLiveInItAndFlowTablesWorkOnIt) {
  ThingCounterTable counters;
  counters.ensure(10);
  EXPECT_TRUE(advised(counters.find(0))) << vm_flags_of(counters.find(0));
  EXPECT_EQ(counters.read(9).up_bytes, 0u);
  FlowTable flows(1 << 10);
  flows.open({3, 17, 1000, 0x0a000001, 53});
  EXPECT_TRUE(flows.established({3, 17, 1000, 0x0a000001, 53}));
  EXPECT_EQ(flows.live(), 1u);
  HugeArray<uint32_t> a(100);
  EXPECT_TRUE(advised(a.get()));
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], 0u);
}

}  // namespace
}  // namespace simcore::dp
