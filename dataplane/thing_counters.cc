#include "dataplane/thing_counters.h"

#include <algorithm>

namespace simcore::dp {

void ThingCounterTable::ensure(size_t slots) {
  const size_t pages = std::min((slots + kPageSlots - 1) / kPageSlots, kMaxPages);
  while (owned_.size() < pages) {
    owned_.emplace_back(kPageSlots);  // value-initialised: 0
    // Release: the zeroed page is visible before its pointer.
    pages_[owned_.size() - 1].store(owned_.back().get(), std::memory_order_release);
  }
}

ThingCounters ThingCounterTable::read(uint32_t slot) const noexcept {
  if (slot >= kCapacity) return {};
  const ThingCounters* page = pages_[slot / kPageSlots].load(std::memory_order_acquire);
  if (page == nullptr) return {};
  const ThingCounters& c = page[slot % kPageSlots];
  // Relaxed atomic reads of words the worker writes plainly: one value each, never torn.
  auto load = [](const uint64_t& v) {
    return std::atomic_ref<const uint64_t>(v).load(std::memory_order_relaxed);
  };
  return {load(c.up_packets), load(c.up_bytes), load(c.down_packets), load(c.down_bytes),
          load(c.blocked)};
}

}  // namespace simcore::dp
