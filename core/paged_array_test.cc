#include "core/paged_array.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>

namespace simcore::core {
namespace {

// Four rows per page, so page boundaries are easy to cross.
using Small = PagedArray<uint32_t, 2>;
static_assert(Small::kPageSize == 4);

struct Row {
  uint32_t a;
  uint16_t b;
  uint16_t c;
};

size_t page_bytes(size_t pages) {
  return pages * (sizeof(Small::Page) + sizeof(std::shared_ptr<Small::Page>));
}

TEST(PagedArray, FillsAndIndexesAcrossPages) {
  Small a(10, 7);
  EXPECT_EQ(a.size(), 10u);
  EXPECT_EQ(a.bytes(), page_bytes(3));  // ceil(10 / 4) pages
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], 7u) << i;
  for (size_t i = 0; i < a.size(); ++i) a.mut(i) = static_cast<uint32_t>(100 + i);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], 100 + i) << i;
  EXPECT_EQ(a.pages_cloned(),
            0u);  // it made its pages, so it writes them in place
}

TEST(PagedArray, DefaultIsEmpty) {
  Small a;
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(a.bytes(), 0u);
}

TEST(PagedArray, CopySharesPagesUntilWritten) {
  Small a(12, 0);  // three pages
  for (size_t i = 0; i < a.size(); ++i) a.mut(i) = static_cast<uint32_t>(i);

  Small b = a;
  EXPECT_EQ(b.size(), 12u);
  EXPECT_EQ(b.pages_cloned(), 0u);
  for (size_t i = 0; i < b.size(); ++i) {
    EXPECT_EQ(&b[i], &a[i]) << "row " << i << " should live in a shared page";
  }

  // Two writes in page 0 and one in page 2: two pages cloned, page 1 still shared.
  b.mut(1) = 1001;
  b.mut(3) = 1003;
  b.mut(9) = 1009;
  EXPECT_EQ(b.pages_cloned(), 2u);
  b.mut(1) = 2001;  // page 0 is b's own now: no second clone
  EXPECT_EQ(b.pages_cloned(), 2u);

  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], i) << "original changed at " << i;
  EXPECT_EQ(b[0], 0u);  // the clone kept the rows that were not written
  EXPECT_EQ(b[1], 2001u);
  EXPECT_EQ(b[2], 2u);
  EXPECT_EQ(b[3], 1003u);
  EXPECT_EQ(b[9], 1009u);
  EXPECT_EQ(b[8], 8u);
  EXPECT_NE(&b[0], &a[0]);
  EXPECT_NE(&b[8], &a[8]);
  for (size_t i = 4; i < 8; ++i) EXPECT_EQ(&b[i], &a[i]) << "page 1 was not written";
  EXPECT_EQ(a.pages_cloned(), 0u);
}

TEST(PagedArray, CopyOfACopyClonesAgainAndLeavesBothParentsAlone) {
  Small a(8, 5);
  Small b = a;
  b.mut(0) = 6;
  Small c = b;  // shares b's clone of page 0 and a's page 1
  EXPECT_EQ(c.pages_cloned(), 0u);
  c.mut(0) = 7;
  c.mut(5) = 8;
  EXPECT_EQ(c.pages_cloned(), 2u);
  EXPECT_EQ(a[0], 5u);
  EXPECT_EQ(b[0], 6u);
  EXPECT_EQ(c[0], 7u);
  EXPECT_EQ(a[5], 5u);
  EXPECT_EQ(b[5], 5u);
  EXPECT_EQ(c[5], 8u);
}

TEST(PagedArray, CopyAssignmentSharesAndRestartsTheCloneCount) {
  Small a(8, 1);
  Small c(4, 9);
  Small b = a;
  b.mut(0) = 2;
  ASSERT_EQ(b.pages_cloned(), 1u);

  b = c;  // now a fresh copy of c: it owns nothing and has cloned nothing yet
  EXPECT_EQ(b.size(), 4u);
  EXPECT_EQ(b.pages_cloned(), 0u);
  EXPECT_EQ(&b[0], &c[0]);
  b.mut(0) = 3;
  EXPECT_EQ(b.pages_cloned(), 1u);
  EXPECT_EQ(c[0], 9u);
  EXPECT_EQ(a[0], 1u);
}

TEST(PagedArray, MoveKeepsPagesAndOwnership) {
  Small a(8, 1);
  const uint32_t* row = &a[5];
  Small b = std::move(a);
  EXPECT_EQ(b.size(), 8u);
  EXPECT_EQ(&b[5], row);  // no copy of the rows
  b.mut(5) = 2;           // b inherited a's ownership: written in place
  EXPECT_EQ(b.pages_cloned(), 0u);
  EXPECT_EQ(&b[5], row);
}

TEST(PagedArray, ResizeAcrossPageBoundariesFillsOnlyNewRows) {
  Small a(3, 7);  // one page, rows 0..2 used
  a.mut(1) = 42;
  a.resize(9, 9);  // row 3 is in page 0, rows 4..8 in two new pages
  EXPECT_EQ(a.size(), 9u);
  EXPECT_EQ(a.bytes(), page_bytes(3));
  EXPECT_EQ(a[0], 7u);
  EXPECT_EQ(a[1], 42u);
  EXPECT_EQ(a[2], 7u);
  for (size_t i = 3; i < 9; ++i) EXPECT_EQ(a[i], 9u) << "new row " << i;

  a.resize(8, 0);  // never shrinks
  EXPECT_EQ(a.size(), 9u);
  EXPECT_EQ(a[8], 9u);

  a.resize(12,
           5);  // exactly to a page boundary: rows 9..11 in the last existing page
  EXPECT_EQ(a.size(), 12u);
  EXPECT_EQ(a.bytes(), page_bytes(3));
  for (size_t i = 9; i < 12; ++i) EXPECT_EQ(a[i], 5u) << "new row " << i;
  EXPECT_EQ(a[8], 9u);
}

TEST(PagedArray, ResizeOfACopyLeavesTheOriginalAlone) {
  Small a(6, 1);  // two pages, rows 6 and 7 of page 1 unused
  Small b = a;
  b.resize(10,
           1);  // same fill: the shared page already holds it, no clone needed
  EXPECT_EQ(b.pages_cloned(), 0u);
  EXPECT_EQ(&b[5], &a[5]);
  b.mut(9) = 3;  // a page b made itself: no clone
  EXPECT_EQ(b.pages_cloned(), 0u);
  EXPECT_EQ(b.size(), 10u);
  EXPECT_EQ(a.size(), 6u);
  EXPECT_EQ(a.bytes(), page_bytes(2));

  Small c = a;
  c.resize(8,
           4);  // a different fill for rows 6..7 of the shared page: c clones it
  EXPECT_EQ(c[6], 4u);
  EXPECT_EQ(c[7], 4u);
  EXPECT_EQ(c[5], 1u);
  EXPECT_EQ(c.pages_cloned(), 1u);
  EXPECT_EQ(a.size(), 6u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], 1u) << i;
  // The original's spare rows are not its rows, but they must not have been written either.
  EXPECT_EQ(b[6], 1u);
}

TEST(PagedArray, DefaultPageSizeHoldsStructRows) {
  using Table = PagedArray<Row>;
  static_assert(Table::kPageSize == 4096);
  Table t(Table::kPageSize + 1, Row{1, 2, 3});
  EXPECT_EQ(t.size(), Table::kPageSize + 1);
  EXPECT_EQ(t[Table::kPageSize].a, 1u);
  Table copy = t;
  copy.mut(Table::kPageSize) = Row{9, 9, 9};
  EXPECT_EQ(copy.pages_cloned(), 1u);
  EXPECT_EQ(t[Table::kPageSize].a, 1u);
  EXPECT_EQ(copy[Table::kPageSize].a, 9u);
  EXPECT_EQ(&copy[0], &t[0]);
}

}  // namespace
}  // namespace simcore::core
