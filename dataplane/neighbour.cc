#include "dataplane/neighbour.h"

namespace simcore::dp {
namespace {

// Readers give up after this many torn reads of one entry: the writer holds an entry for a
// few stores, so only a writer preempted mid-update gets here, and then a miss (drop + ARP)
// is better than a stalled worker.
constexpr int kMaxRetries = 64;

uint64_t pack(const Mac& m) noexcept {
  uint64_t v = 0;
  for (uint8_t b : m) v = (v << 8) | b;
  return v;
}

Mac unpack(uint64_t v) noexcept {
  Mac m;
  for (int i = 5; i >= 0; --i) {
    m[static_cast<size_t>(i)] = static_cast<uint8_t>(v);
    v >>= 8;
  }
  return m;
}

}  // namespace

NeighbourTable::NeighbourTable() noexcept = default;

size_t NeighbourTable::home(uint32_t addr) noexcept {
  // Fibonacci hashing: neighbours on one subnet differ in the low bits only.
  return static_cast<size_t>((addr * 0x9e3779b9u) >> 24) & (kCapacity - 1);
}

bool NeighbourTable::set(uint32_t addr, const Mac& mac) noexcept {
  if (addr == 0) return false;
  for (size_t i = 0, at = home(addr); i < kCapacity; ++i, at = (at + 1) & (kCapacity - 1)) {
    Entry& e = entries_[at];
    // Only this thread writes addr, so relaxed loads of our own stores are exact.
    const uint32_t cur = e.addr.load(std::memory_order_relaxed);
    if (cur != 0 && cur != addr) continue;
    // Seqlock write (Boehm, "Can seqlocks get along with programming language memory
    // models?"): odd sequence, release fence, the data, even sequence with release.
    const uint32_t s = e.seq.load(std::memory_order_relaxed);
    e.seq.store(s + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    e.mac.store(pack(mac), std::memory_order_relaxed);
    e.addr.store(addr, std::memory_order_relaxed);
    e.seq.store(s + 2, std::memory_order_release);
    if (cur == 0) size_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  return false;
}

bool NeighbourTable::lookup(uint32_t addr, Mac& mac) const noexcept {
  if (addr == 0) return false;
  for (size_t i = 0, at = home(addr); i < kCapacity; ++i, at = (at + 1) & (kCapacity - 1)) {
    const Entry& e = entries_[at];
    uint32_t a = 0;
    uint64_t m = 0;
    int tries = 0;
    for (;; ++tries) {
      if (tries == kMaxRetries) return false;
      const uint32_t s1 = e.seq.load(std::memory_order_acquire);
      if (s1 & 1) continue;
      a = e.addr.load(std::memory_order_relaxed);
      m = e.mac.load(std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (e.seq.load(std::memory_order_relaxed) == s1) break;
    }
    if (a == 0) return false;  // end of the probe chain: entries are never removed
    if (a == addr) {
      mac = unpack(m);
      return true;
    }
  }
  return false;
}

}  // namespace simcore::dp
