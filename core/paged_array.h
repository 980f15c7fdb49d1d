// core/paged_array.h — a fixed-page array whose pages are shared between table snapshots.
// Copying a PagedArray copies only the page directory; the first write to a page through the
// copy clones that page (copy-on-write), so an incremental change to a 1M-row table costs one
// page, not the table. Reads are lock-free and safe from any thread once the owning snapshot
// is published; writes (mut, resize) are for the control thread on an unpublished copy.
// Pages come from the installed PageMemory (operator new unless a data plane installed its own).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

namespace simcore::core {

// Where table pages come from. The fast path reads the session rows and index buckets of a
// million Things at random, so a data plane installs memory advised for huge pages
// (dataplane/huge_memory.h), where such a read costs no 4 KiB page walk.
struct PageMemory {
  void* (*allocate)(size_t bytes);  // at least 16-byte aligned; throws std::bad_alloc
  void (*deallocate)(void* p, size_t bytes) noexcept;
};
// operator new and delete.
const PageMemory& default_page_memory() noexcept;
// Installs `m` (which must outlive every page) for pages allocated from now on; each page is
// freed by the memory it came from. Any thread, though it is meant for start-up.
void set_page_memory(const PageMemory& m) noexcept;
const PageMemory& page_memory() noexcept;

// An allocator on one PageMemory, for allocate_shared: a page's control block keeps a copy, so
// the page goes back where it came from whatever is installed meanwhile.
template <class U>
struct PageAllocator {
  using value_type = U;
  const PageMemory* memory;
  explicit PageAllocator(const PageMemory& m) noexcept : memory(&m) {}
  template <class V>
  PageAllocator(const PageAllocator<V>& o) noexcept : memory(o.memory) {}  // NOLINT: rebinding
  U* allocate(size_t n) { return static_cast<U*>(memory->allocate(n * sizeof(U))); }
  void deallocate(U* p, size_t n) noexcept { memory->deallocate(p, n * sizeof(U)); }
  template <class V>
  bool operator==(const PageAllocator<V>& o) const noexcept {
    return memory == o.memory;
  }
};

template <class T, unsigned kShift = 12>
class PagedArray {
  static_assert(std::is_trivially_copyable_v<T>, "table rows must be trivially copyable");

 public:
  static constexpr size_t kPageSize = size_t{1} << kShift;
  static constexpr size_t kPageMask = kPageSize - 1;
  struct Page {
    T rows[kPageSize];
  };

  PagedArray() = default;
  PagedArray(size_t n, const T& fill) { resize(n, fill); }
  // A copy shares every page and owns none of them: writes through it clone first.
  PagedArray(const PagedArray& o) : pages_(o.pages_), owned_(o.pages_.size(), 0), size_(o.size_) {}
  PagedArray& operator=(const PagedArray& o) {
    if (this != &o) {
      pages_ = o.pages_;
      owned_.assign(pages_.size(), 0);
      size_ = o.size_;
      pages_cloned_ = 0;
    }
    return *this;
  }
  PagedArray(PagedArray&&) noexcept = default;
  PagedArray& operator=(PagedArray&&) noexcept = default;

  size_t size() const noexcept { return size_; }
  const T& operator[](size_t i) const noexcept { return pages_[i >> kShift]->rows[i & kPageMask]; }

  // Returns a writable row, cloning its page first when another snapshot shares it.
  T& mut(size_t i) {
    const size_t p = i >> kShift;
    if (!owned_[p]) {
      pages_[p] = std::allocate_shared<Page>(PageAllocator<Page>(page_memory()), *pages_[p]);
      owned_[p] = 1;
      ++pages_cloned_;
    }
    return pages_[p]->rows[i & kPageMask];
  }

  // Grows to n rows (new rows = fill); never shrinks. Control thread.
  void resize(size_t n, const T& fill) {
    // Spare rows of the last page still hold the fill of the resize that made it; rewrite only
    // those that differ, so growing a copy with the same fill clones nothing.
    const size_t spare_end = std::min(n, pages_.size() * kPageSize);
    for (size_t i = size_; i < spare_end; ++i) {
      if (std::memcmp(&(*this)[i], &fill, sizeof(T)) != 0) mut(i) = fill;
    }
    while (pages_.size() * kPageSize < n) {
      auto page = std::allocate_shared<Page>(PageAllocator<Page>(page_memory()));
      for (auto& r : page->rows) r = fill;
      pages_.push_back(std::move(page));
      owned_.push_back(1);
    }
    size_ = n > size_ ? n : size_;
  }

  // Returns the bytes held by pages (shared pages counted in full) plus the directory.
  size_t bytes() const noexcept {
    return pages_.size() * (sizeof(Page) + sizeof(std::shared_ptr<Page>));
  }
  // Returns how many pages this copy has cloned since it was made (for tests and benchmarks).
  size_t pages_cloned() const noexcept { return pages_cloned_; }

 private:
  std::vector<std::shared_ptr<Page>> pages_;
  std::vector<uint8_t> owned_;  // 1 = created or cloned by this copy: safe to write in place
  size_t size_ = 0;
  size_t pages_cloned_ = 0;
};

}  // namespace simcore::core
