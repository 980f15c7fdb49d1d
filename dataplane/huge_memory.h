// dataplane/huge_memory.h — anonymous memory advised for transparent huge pages, for what the
// fast path reads at random on every packet: session rows and index buckets (as core's table
// pages), per-Thing counters, flow entries, packed mbufs. A hugepage EAL heap gives DPDK's own
// tables 2 MiB pages; these are ours, and malloc gives them 4 KiB ones (THP runs in "madvise"
// mode here), so at a million Things a lookup can cost a page walk on top of its cache miss.
// Measured on this lab's VM: 4-5% fewer pipeline cycles at 1M sessions uplink, even elsewhere
// (README). Where THP is off the memory works the same on 4 KiB pages.
#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>

#include "core/paged_array.h"

namespace simcore::dp {

inline constexpr size_t kHugePage = size_t{2} << 20;  // an x86-64 transparent huge page

// Returns `bytes` (a multiple of kHugePage) of zeroed memory aligned on kHugePage and advised
// for huge pages, or nullptr. Release it with munmap.
void* map_huge(size_t bytes) noexcept;

// Blocks of huge memory, any thread (a mutex: control-path use only, never per packet). Blocks
// up to kHugePage / 2 bytes are carved from shared 2 MiB mappings, 64-byte aligned, and a freed
// one is kept for the next block of its size (never returned to the system: table pages are
// freed and allocated again with every publish); bigger blocks get mappings of their own.
void* huge_allocate(size_t bytes);  // throws std::bad_alloc
void huge_deallocate(void* p, size_t bytes) noexcept;

// core::PageMemory on huge_allocate. eal_init installs it: from then on the process is a data
// plane, and the tables it compiles are read per packet.
const core::PageMemory& huge_page_memory() noexcept;

// A fixed number of value-initialised Ts in huge memory, owning its block.
template <class T>
class HugeArray {
  static_assert(std::is_trivially_default_constructible_v<T> &&
                std::is_trivially_destructible_v<T>);

 public:
  HugeArray() = default;
  explicit HugeArray(size_t n)
      : data_(static_cast<T*>(huge_allocate(n * sizeof(T)))), size_(n) {
    std::uninitialized_value_construct_n(data_, n);
  }
  HugeArray(HugeArray&& o) noexcept : data_(o.data_), size_(o.size_) {
    o.data_ = nullptr;
    o.size_ = 0;
  }
  HugeArray& operator=(HugeArray&& o) noexcept {
    if (this != &o) {
      release();
      data_ = o.data_;
      size_ = o.size_;
      o.data_ = nullptr;
      o.size_ = 0;
    }
    return *this;
  }
  HugeArray(const HugeArray&) = delete;
  HugeArray& operator=(const HugeArray&) = delete;
  ~HugeArray() { release(); }

  T* get() const noexcept { return data_; }
  T& operator[](size_t i) const noexcept { return data_[i]; }
  size_t size() const noexcept { return size_; }

 private:
  void release() noexcept {
    if (data_ != nullptr) huge_deallocate(data_, size_ * sizeof(T));
  }
  T* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace simcore::dp
