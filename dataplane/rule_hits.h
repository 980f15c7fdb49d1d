// dataplane/rule_hits.h — per-rule hit counters of one worker: how many packets each firewall
// rule decided, keyed by the API's rule id. A fixed open-addressing table allocated once; the
// worker counts without allocating, control reads while it counts. Rules beyond the capacity
// (more distinct rules hit than slots) are counted in `overflow` instead of being lost.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace simcore::dp {

class RuleHits {
 public:
  // `capacity` slots (a power of two); a rule id of 0 is "no rule" and never counted.
  explicit RuleHits(size_t capacity = 1 << 14);
  RuleHits(const RuleHits&) = delete;
  RuleHits& operator=(const RuleHits&) = delete;

  // Counts one packet decided by `rule_id`. The owning worker only.
  void hit(uint32_t rule_id) noexcept;
  // Every (rule id, hits) seen so far, in no particular order. Any thread: an id appears once
  // its slot is claimed, with the count read at that moment.
  std::vector<std::pair<uint32_t, uint64_t>> snapshot() const;

  uint64_t overflow() const noexcept { return overflow_.load(std::memory_order_relaxed); }
  size_t bytes() const noexcept { return (mask_ + 1) * sizeof(Slot); }

 private:
  static constexpr size_t kMaxProbe = 16;
  struct Slot {
    std::atomic<uint32_t> id{0};
    std::atomic<uint64_t> hits{0};
  };
  std::unique_ptr<Slot[]> slots_;
  size_t mask_;
  std::atomic<uint64_t> overflow_{0};
};

}  // namespace simcore::dp
