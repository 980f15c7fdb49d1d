#include "dataplane/rule_hits.h"

#include "core/check.h"

namespace simcore::dp {

RuleHits::RuleHits(size_t capacity) : slots_(new Slot[capacity]), mask_(capacity - 1) {
  SIMCORE_CHECK(capacity >= kMaxProbe && (capacity & (capacity - 1)) == 0);
}

void RuleHits::hit(uint32_t rule_id) noexcept {
  if (rule_id == 0) return;
  size_t i = (rule_id * 0x9e3779b1u) & mask_;
  for (size_t probe = 0; probe < kMaxProbe; ++probe, i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    const uint32_t id = s.id.load(std::memory_order_relaxed);
    if (id == rule_id || id == 0) {
      // One writer: plain read-modify-write through relaxed atomics, so control's reads are
      // never torn. The id is published (release) after its count starts, for snapshot().
      s.hits.store(s.hits.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      if (id == 0) s.id.store(rule_id, std::memory_order_release);
      return;
    }
  }
  overflow_.store(overflow_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

std::vector<std::pair<uint32_t, uint64_t>> RuleHits::snapshot() const {
  std::vector<std::pair<uint32_t, uint64_t>> out;
  for (size_t i = 0; i <= mask_; ++i) {
    const uint32_t id = slots_[i].id.load(std::memory_order_acquire);
    if (id != 0) out.emplace_back(id, slots_[i].hits.load(std::memory_order_relaxed));
  }
  return out;
}

}  // namespace simcore::dp
