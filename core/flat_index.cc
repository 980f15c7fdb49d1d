#include "core/flat_index.h"

#include <algorithm>

namespace simcore::core {
namespace {

// Sized for 60% load: linear probing then averages ≈ 1.75 probes on a hit, 3.6 on a miss.
size_t capacity_for(size_t expected) { return std::max<size_t>(16, expected * 5 / 3 + 1); }

}  // namespace

FlatIndex::FlatIndex(size_t expected) { rebuild(capacity_for(expected)); }

void FlatIndex::rebuild(size_t capacity) {
  PagedArray<Bucket, 12> old = std::move(buckets_);
  const size_t old_cap = old.size();
  buckets_ = PagedArray<Bucket, 12>(capacity, Bucket{0, kNotFound});
  capacity_ = static_cast<uint32_t>(capacity);
  size_ = 0;
  for (size_t i = 0; i < old_cap; ++i) {
    if (old[i].value != kNotFound) insert(old[i].key, old[i].value);
  }
}

void FlatIndex::insert(uint32_t key, uint32_t value) {
  if ((size_ + 1) * 4 > capacity() * 3) rebuild(capacity_for(2 * (size_ + 1)));
  uint32_t i = home(key);
  for (;;) {
    const Bucket& b = buckets_[i];
    if (b.value == kNotFound) {
      buckets_.mut(i) = Bucket{key, value};
      ++size_;
      return;
    }
    if (b.key == key) {
      if (b.value != value) buckets_.mut(i).value = value;
      return;
    }
    i = step(i);
  }
}

bool FlatIndex::erase(uint32_t key) {
  uint32_t i = home(key);
  for (;;) {
    const Bucket& b = buckets_[i];
    if (b.value == kNotFound) return false;
    if (b.key == key) break;
    i = step(i);
  }
  // Shift later members of the probe run back so that no lookup stops early at the hole.
  uint32_t j = i;
  for (;;) {
    j = step(j);
    const Bucket& b = buckets_[j];
    if (b.value == kNotFound) break;
    const uint32_t h = home(b.key);
    // b may move to the hole at i unless its home lies cyclically in (i, j].
    const bool home_between = i <= j ? (i < h && h <= j) : (i < h || h <= j);
    if (!home_between) {
      buckets_.mut(i) = b;
      i = j;
    }
  }
  buckets_.mut(i) = Bucket{0, kNotFound};
  --size_;
  return true;
}

}  // namespace simcore::core
