// core/flat_index.h — a 32-bit key → 32-bit value hash index (open addressing, linear probing)
// on copy-on-write pages, for TEID → session and UE address → session. Keys are opaque (the
// tables use network-byte-order values as they appear in packets). Capacity is any size (keys
// map to buckets by multiply-high, not a mask), sized for 60% load and grown past 75%, so a
// lookup touches one or two buckets and a million keys cost 13-18 bytes each, not the up to
// 32 that power-of-two rounding at 50% load would. find() is lock-free and safe from
// any thread on a published snapshot; insert/erase are for the control thread on a copy.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/paged_array.h"

namespace simcore::core {

class FlatIndex {
 public:
  static constexpr uint32_t kNotFound = ~0u;
  struct Bucket {
    uint32_t key;
    uint32_t value;  // kNotFound marks an empty bucket
  };
  static_assert(sizeof(Bucket) == 8);

  // Sizes the index for `expected` keys without growing.
  explicit FlatIndex(size_t expected = 0);

  // Returns the value for key, or kNotFound. Any thread; no allocation.
  uint32_t find(uint32_t key) const noexcept {
    uint32_t i = home(key);
    for (;;) {
      const Bucket& b = buckets_[i];
      if (b.value == kNotFound) return kNotFound;
      if (b.key == key) return b.value;
      i = step(i);
    }
  }

  // Inserts or replaces. value must not be kNotFound. Grows (rebuilds) past 50% load.
  void insert(uint32_t key, uint32_t value);
  // Removes key; returns whether it was present. Backward-shift deletion: no tombstones.
  bool erase(uint32_t key);

  size_t size() const noexcept { return size_; }
  size_t capacity() const noexcept { return capacity_; }
  size_t bytes() const noexcept { return buckets_.bytes(); }
  size_t pages_cloned() const noexcept { return buckets_.pages_cloned(); }

 private:
  // murmur3's finaliser: sequential TEIDs and addresses spread over the whole table.
  static uint32_t mix(uint32_t k) noexcept {
    k ^= k >> 16;
    k *= 0x85ebca6bu;
    k ^= k >> 13;
    k *= 0xc2b2ae35u;
    k ^= k >> 16;
    return k;
  }
  uint32_t home(uint32_t key) const noexcept {
    return static_cast<uint32_t>((uint64_t{mix(key)} * capacity_) >> 32);
  }
  uint32_t step(uint32_t i) const noexcept { return i + 1 == capacity_ ? 0 : i + 1; }
  void rebuild(size_t capacity);

  PagedArray<Bucket, 12> buckets_;
  uint32_t capacity_ = 0;
  size_t size_ = 0;
};

}  // namespace simcore::core
