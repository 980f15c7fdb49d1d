// dataplane/flow_table.h — one worker's stateful-firewall memory: which flows its Things
// opened, so replies pass the inbound chain. Same interface as core::FlowMemory, but a fixed
// capacity chosen at construction (the only allocation), open addressing with a probe window
// of kProbe entries, idle ageing on the caller's clock (set_now once per burst), and, when a
// window is full of live flows, eviction of its least recently used entry (counted). Owned
// and used by one worker thread; not thread-safe; open/established never allocate or throw.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/flow_memory.h"
#include "dataplane/huge_memory.h"

namespace simcore::dp {

// Idle timeouts. Defaults: TCP 7440 s (RFC 5382 REQ-5: established ≥ 2 h 4 min), UDP 120 s
// (RFC 4787 REQ-5: ≥ 2 min), others (ICMP, ...) 120 s as well.
struct FlowTimeouts {
  uint64_t tcp_ns = 7440ull * 1'000'000'000ull;
  uint64_t udp_ns = 120ull * 1'000'000'000ull;
  uint64_t other_ns = 120ull * 1'000'000'000ull;
};

class FlowTable {
 public:
  static constexpr size_t kProbe = 8;  // entries looked at per key, from its home slot

  // `capacity` must be valid_capacity (SIMCORE_CHECK: a configuration error).
  explicit FlowTable(size_t capacity, FlowTimeouts timeouts = {});
  // Returns whether a table can have `capacity` entries: a power of two ≥ kProbe.
  static constexpr bool valid_capacity(size_t capacity) noexcept {
    return capacity >= kProbe && (capacity & (capacity - 1)) == 0;
  }

  // The clock (monotonic ns) for the following calls; once per burst.
  void set_now(uint64_t now_ns) noexcept { now_ns_ = now_ns; }

  // Records that the flow was seen now (opens it or refreshes its idle timer). When the key's
  // window has no free or expired entry, the least recently used one is replaced (evictions).
  void open(const core::FlowKey& k) noexcept;
  // Starts loading the first two lines of k's probe window, where open() and established()
  // mostly find it (a burst calls it well before them: the window is a cache miss).
  void prefetch(const core::FlowKey& k) const noexcept;
  // Returns true when the flow was opened and has not been idle longer than its timeout.
  bool established(const core::FlowKey& k) const noexcept;

  // Returns a count that grows whenever open() changes what established() answers: a flow
  // added (perhaps evicting another) or an expired one revived. While it stays the same (and
  // set_now is not called) an established() answer still holds: a burst reuses its own.
  uint64_t changes() const noexcept { return changes_; }

  size_t capacity() const noexcept { return mask_ + 1; }
  uint64_t evictions() const noexcept { return evictions_; }
  // Entries holding a flow that has not expired (a scan: for statistics, not per packet).
  size_t live() const noexcept;

  struct Entry {
    uint64_t last_ns;  // last open(); 0 with slot == kEmpty: never used
    uint32_t slot;     // the Thing's session slot; kEmpty when unused
    uint32_t remote_addr;
    uint16_t local_port;
    uint16_t remote_port;
    uint8_t proto;
    uint8_t pad[3];
  };
  static constexpr size_t kBytesPerEntry = sizeof(Entry);
  static constexpr uint32_t kEmpty = ~0u;

 private:
  size_t home(const core::FlowKey& k) const noexcept;
  bool live(const Entry& e) const noexcept;
  static bool same(const Entry& e, const core::FlowKey& k) noexcept;

  HugeArray<Entry> entries_;  // huge memory: probed at random
  size_t mask_;
  FlowTimeouts timeouts_;
  uint64_t now_ns_ = 0;
  uint64_t evictions_ = 0;
  uint64_t changes_ = 0;
};
static_assert(FlowTable::kBytesPerEntry == 24);

}  // namespace simcore::dp
