#include "dataplane/dpdk/mbuf_pool.h"

#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "dataplane/testing/mappings.h"

namespace simcore::dp {
namespace {

using testing::mapped;
using testing::vm_flags_of;

TEST(MbufPool, PacksEveryMbufOnMemoryAdvisedForHugePagesAndUnmapsItWhenFreed) {
  ASSERT_FALSE(rte_eal_has_hugepages()) << "the lab defaults run EAL without hugepages";
  constexpr unsigned kMbufs = 2047;
  rte_mempool* pool = create_packed_mbuf_pool("mbuf_pool_test", kMbufs, 0, 0);
  ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
  std::vector<rte_mbuf*> all(kMbufs);
  ASSERT_EQ(rte_pktmbuf_alloc_bulk(pool, all.data(), kMbufs), 0);
  EXPECT_EQ(rte_mempool_avail_count(pool), 0u);
  for (rte_mbuf* m : all) {
    ASSERT_EQ(m->pool, pool);
    EXPECT_EQ(m->buf_len, RTE_MBUF_DEFAULT_BUF_SIZE);
    EXPECT_EQ(rte_pktmbuf_headroom(m), RTE_PKTMBUF_HEADROOM);
    EXPECT_EQ(rte_pktmbuf_tailroom(m), RTE_MBUF_DEFAULT_DATAROOM);
  }
  // Packed: the stock pool without hugepages gives each 2.4 KiB mbuf a 4 KiB page.
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (rte_mbuf* m : all) {
    lo = std::min(lo, reinterpret_cast<uintptr_t>(m));
    hi = std::max(hi, reinterpret_cast<uintptr_t>(m));
  }
  EXPECT_LT(hi - lo, size_t{kMbufs} * 3072);
  // Every byte of every data room is its own: fill each with its index and read all back.
  for (size_t i = 0; i < all.size(); ++i) {
    std::memset(rte_pktmbuf_mtod(all[i], void*), static_cast<int>(i), RTE_MBUF_DEFAULT_DATAROOM);
  }
  for (size_t i = 0; i < all.size(); ++i) {
    const auto* d = rte_pktmbuf_mtod(all[i], const uint8_t*);
    ASSERT_EQ(d[0], static_cast<uint8_t>(i));
    ASSERT_EQ(d[RTE_MBUF_DEFAULT_DATAROOM - 1], static_cast<uint8_t>(i));
  }
  // "hg": madvise(MADV_HUGEPAGE) holds for the mapping (whether the kernel found huge pages
  // is its business; the advice is ours).
  const std::string flags = vm_flags_of(all[0]);
  EXPECT_NE(flags.find(" hg"), std::string::npos) << flags;
  const void* some = all[kMbufs / 2];
  rte_pktmbuf_free_bulk(all.data(), kMbufs);
  EXPECT_EQ(rte_mempool_avail_count(pool), kMbufs);
  rte_mempool_free(pool);
  EXPECT_FALSE(mapped(some));
}

// What the packed pool is the alternative to (mbuf_pool.h): without hugepages the stock pool
// keeps each mbuf inside a 4 KiB page of its own, all at the same offset in it.
TEST(MbufPool, TheStockPoolWithoutHugepagesGivesEachMbufA4KiBPageAtOneOffset) {
  ASSERT_FALSE(rte_eal_has_hugepages());
  constexpr unsigned kMbufs = 255;
  rte_mempool* pool = rte_pktmbuf_pool_create("mbuf_pool_stock", kMbufs, 0, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, 0);
  ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
  std::vector<rte_mbuf*> all(kMbufs);
  ASSERT_EQ(rte_pktmbuf_alloc_bulk(pool, all.data(), kMbufs), 0);
  std::vector<uintptr_t> pages;
  for (rte_mbuf* m : all) {
    const auto a = reinterpret_cast<uintptr_t>(m);
    EXPECT_EQ(a % 4096, reinterpret_cast<uintptr_t>(all[0]) % 4096);
    pages.push_back(a / 4096);
  }
  std::sort(pages.begin(), pages.end());
  EXPECT_EQ(std::unique(pages.begin(), pages.end()), pages.end()) << "two mbufs in one page";
  rte_pktmbuf_free_bulk(all.data(), kMbufs);
  rte_mempool_free(pool);
}

}  // namespace
}  // namespace simcore::dp
