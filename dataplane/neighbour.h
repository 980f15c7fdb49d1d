// dataplane/neighbour.h — the neighbour (ARP) table: IPv4 next hop → MAC, shared by all
// workers. Fixed capacity, no allocation after construction. ONE writer (the control thread:
// static entries from the configuration, and entries learned from punted ARP replies);
// any number of reader workers, lock-free: every entry is a seqlock of atomics, a reader
// retries while the writer is inside it (a bounded number of times, then reports a miss, so a
// writer descheduled mid-update cannot stall a worker). Addresses host order.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "dataplane/packet/rewrite.h"

namespace simcore::dp {

class NeighbourTable {
 public:
  static constexpr size_t kCapacity = 256;  // power of two; open addressing, linear probing

  NeighbourTable() noexcept;
  NeighbourTable(const NeighbourTable&) = delete;
  NeighbourTable& operator=(const NeighbourTable&) = delete;

  // Adds or replaces the MAC of `addr`. Writer thread only. False when the table is full or
  // addr is 0 (0.0.0.0 marks an empty entry). Entries are never removed, only replaced.
  bool set(uint32_t addr, const Mac& mac) noexcept;

  // Returns true and the MAC of `addr`, or false when unknown (or the entry was being written
  // for longer than the bounded retries). Any thread; lock-free; no allocation.
  bool lookup(uint32_t addr, Mac& mac) const noexcept;

  // Entries in use. Writer thread only (readers get an approximation).
  size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    std::atomic<uint32_t> seq{0};   // odd while the writer is changing the entry
    std::atomic<uint32_t> addr{0};  // 0: empty (and the end of a probe chain)
    std::atomic<uint64_t> mac{0};   // the 6 bytes, big-endian in the low 48 bits
  };
  static size_t home(uint32_t addr) noexcept;

  Entry entries_[kCapacity];
  std::atomic<size_t> size_{0};
};

}  // namespace simcore::dp
