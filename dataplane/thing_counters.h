// dataplane/thing_counters.h — per-Thing traffic counters, one table per worker: packets and
// bytes each way and firewall blocks, indexed by ThingSlot. Usage records and billing are
// built from them (control sums the workers' tables and turns growth into usage).
//
// Workers never allocate: control grows the table in pages before it publishes a snapshot
// with more slots, and a worker finds a page by one acquire load. A slot whose page does not
// exist yet (a race with a growing account, or a slot beyond the capacity) is counted in
// `unpaged` instead of being lost silently. Each table is written by its worker only; control
// reads values while they change (each is a single aligned 64-bit word: never torn on x86-64,
// though the five values of one Thing are not read at one instant).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/prefetch.h"
#include "dataplane/huge_memory.h"

namespace simcore::dp {

struct ThingCounters {
  uint64_t up_packets;    // uplink G-PDUs the policy let through (forward, tunnel, hairpin)
  uint64_t up_bytes;      // their inner IP bytes (what the Thing sent)
  uint64_t down_packets;  // packets delivered to the Thing (downlink and hairpin)
  uint64_t down_bytes;    // their inner IP bytes (what the Thing received)
  uint64_t blocked;       // packets its firewall chains denied, either way
};
static_assert(sizeof(ThingCounters) == 40);

class ThingCounterTable {
 public:
  static constexpr size_t kPageSlots = 4096;
  static constexpr size_t kMaxPages = 1024;  // 4M Things
  static constexpr size_t kCapacity = kPageSlots * kMaxPages;

  ThingCounterTable() = default;
  ThingCounterTable(const ThingCounterTable&) = delete;
  ThingCounterTable& operator=(const ThingCounterTable&) = delete;

  // Makes slots [0, slots) countable (up to kCapacity). Control thread only; allocates
  // zeroed pages that workers see from their next lookup.
  void ensure(size_t slots);

  // The counters of `slot`, or nullptr when its page does not exist. The owning worker.
  ThingCounters* find(uint32_t slot) noexcept {
    if (slot >= kCapacity) return nullptr;
    ThingCounters* page = pages_[slot / kPageSlots].load(std::memory_order_acquire);
    return page == nullptr ? nullptr : page + slot % kPageSlots;
  }
  // Starts loading `slot`'s counters into the cache (the owning worker, a few packets before it
  // counts them: at 100k Things they are a cache miss), the whole record: at 3 slots of 8 the
  // downlink pair lies wholly or partly in its second line.
  void prefetch(uint32_t slot) const noexcept {
    if (slot >= kCapacity) return;
    const ThingCounters* page = pages_[slot / kPageSlots].load(std::memory_order_acquire);
    if (page != nullptr) core::prefetch_record(page + slot % kPageSlots);
  }
  // Returns a copy of `slot`'s counters (zeros when unpaged). Any thread.
  ThingCounters read(uint32_t slot) const noexcept;

  size_t capacity() const noexcept { return owned_.size() * kPageSlots; }
  size_t bytes() const noexcept { return capacity() * sizeof(ThingCounters); }

  uint64_t unpaged = 0;  // counts meant for a slot without a page (worker-written)

 private:
  std::array<std::atomic<ThingCounters*>, kMaxPages> pages_{};
  std::vector<HugeArray<ThingCounters>> owned_;  // control thread only; huge memory: read at random
};

}  // namespace simcore::dp
