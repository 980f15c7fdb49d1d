#include "dataplane/flow_table.h"

#include "core/check.h"
#include "core/prefetch.h"
#include "dataplane/packet/wire.h"

namespace simcore::dp {

FlowTable::FlowTable(size_t capacity, FlowTimeouts timeouts)
    : mask_(capacity - 1), timeouts_(timeouts) {
  SIMCORE_CHECK(valid_capacity(capacity));
  entries_ = HugeArray<Entry>(capacity);
  for (size_t i = 0; i < capacity; ++i) entries_[i] = Entry{0, kEmpty, 0, 0, 0, 0, {}};
}

size_t FlowTable::home(const core::FlowKey& k) const noexcept {
  // A 64-bit mix (the murmur3 finaliser) of the whole key: remote addresses and ports of one
  // Thing's flows differ in few bits.
  uint64_t h = (uint64_t{k.slot} << 32 | k.remote_addr) ^
               (uint64_t{k.local_port} << 40 | uint64_t{k.remote_port} << 16 | k.proto) *
                   0x9e3779b97f4a7c15ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return static_cast<size_t>(h) & mask_;
}

bool FlowTable::same(const Entry& e, const core::FlowKey& k) noexcept {
  return e.slot == k.slot && e.remote_addr == k.remote_addr && e.local_port == k.local_port &&
         e.remote_port == k.remote_port && e.proto == k.proto;
}

bool FlowTable::live(const Entry& e) const noexcept {
  if (e.slot == kEmpty) return false;
  const uint64_t timeout = e.proto == kProtoTcp   ? timeouts_.tcp_ns
                           : e.proto == kProtoUdp ? timeouts_.udp_ns
                                                  : timeouts_.other_ns;
  // A clock that went backwards (or a burst that started earlier on another core) keeps it.
  return now_ns_ < e.last_ns || now_ns_ - e.last_ns <= timeout;
}

void FlowTable::prefetch(const core::FlowKey& k) const noexcept {
  const auto* first = reinterpret_cast<const char*>(&entries_[home(k)]);
  core::prefetch_read(first);
  core::prefetch_read(first + 64);
}

void FlowTable::open(const core::FlowKey& k) noexcept {
  const size_t h = home(k);
  Entry* reuse = nullptr;  // the first free or expired entry of the window
  Entry* oldest = nullptr;
  for (size_t i = 0; i < kProbe; ++i) {
    Entry& e = entries_[(h + i) & mask_];
    if (e.slot != kEmpty && same(e, k)) {
      changes_ += !live(e);
      e.last_ns = now_ns_;
      return;
    }
    if (!live(e)) {
      if (reuse == nullptr) reuse = &e;
    } else if (oldest == nullptr || e.last_ns < oldest->last_ns) {
      oldest = &e;
    }
  }
  if (reuse == nullptr) {
    reuse = oldest;
    ++evictions_;
  }
  *reuse = Entry{now_ns_, k.slot, k.remote_addr, k.local_port, k.remote_port, k.proto, {}};
  ++changes_;
}

bool FlowTable::established(const core::FlowKey& k) const noexcept {
  const size_t h = home(k);
  for (size_t i = 0; i < kProbe; ++i) {
    const Entry& e = entries_[(h + i) & mask_];
    if (e.slot != kEmpty && same(e, k)) return live(e);
  }
  return false;
}

size_t FlowTable::live() const noexcept {
  size_t n = 0;
  for (size_t i = 0; i <= mask_; ++i) n += live(entries_[i]);
  return n;
}

}  // namespace simcore::dp
