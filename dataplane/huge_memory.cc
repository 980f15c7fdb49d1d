#include "dataplane/huge_memory.h"

#include <sys/mman.h>

#include <cstdint>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace simcore::dp {
namespace {

constexpr size_t kAlign = 64;  // a cache line: blocks never share one
constexpr size_t kShared = kHugePage / 2;

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

// Free blocks by size; each size is carved from 2 MiB mappings of its own, so a table's pages
// sit together and no mapping is split between sizes.
class Arena {
 public:
  void* allocate(size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<void*>& free = free_[bytes];
    if (free.empty()) {
      auto* base = static_cast<char*>(map_huge(kHugePage));
      if (base == nullptr) throw std::bad_alloc();
      // Highest first, so blocks are handed out in address order.
      for (size_t off = (kHugePage / bytes - 1) * bytes;; off -= bytes) {
        free.push_back(base + off);
        if (off == 0) break;
      }
    }
    void* p = free.back();
    free.pop_back();
    return p;
  }
  void deallocate(void* p, size_t bytes) noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    try {
      free_[bytes].push_back(p);
    } catch (...) {
      // Out of memory for the free list itself: the block is lost, not corrupted.
    }
  }

 private:
  std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
};

Arena& arena() {
  static Arena* a = new Arena;  // never destroyed: pages may be freed during static destruction
  return *a;
}

void* allocate_page(size_t bytes) { return huge_allocate(bytes); }
void deallocate_page(void* p, size_t bytes) noexcept { huge_deallocate(p, bytes); }
constexpr core::PageMemory kHugePages{allocate_page, deallocate_page};

}  // namespace

void* map_huge(size_t bytes) noexcept {
  void* raw = mmap(nullptr, bytes + kHugePage, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  // THP maps only aligned 2 MiB extents: trim the mapping to one.
  const auto start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
  if (aligned != start) munmap(raw, aligned - start);
  munmap(reinterpret_cast<void*>(aligned + bytes), start + kHugePage - aligned);
  // Fails where THP is off (enabled=never): the memory then works on 4 KiB pages.
  madvise(reinterpret_cast<void*>(aligned), bytes, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(aligned);
}

void* huge_allocate(size_t bytes) {
  bytes = round_up(bytes == 0 ? 1 : bytes, kAlign);
  if (bytes <= kShared) return arena().allocate(bytes);
  void* p = map_huge(round_up(bytes, kHugePage));
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void huge_deallocate(void* p, size_t bytes) noexcept {
  if (p == nullptr) return;
  bytes = round_up(bytes == 0 ? 1 : bytes, kAlign);
  if (bytes <= kShared) {
    arena().deallocate(p, bytes);
  } else {
    munmap(p, round_up(bytes, kHugePage));
  }
}

const core::PageMemory& huge_page_memory() noexcept { return kHugePages; }

}  // namespace simcore::dp
