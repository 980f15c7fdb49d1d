#include "core/ip_pool.h"

#include <algorithm>
#include <bit>
#include <string>

namespace simcore::core {
namespace {

// Bitmaps are indexed by offset from the pool's network address; 64 offsets per word.
bool test_bit(const std::vector<uint64_t>& bits, uint32_t i) noexcept {
  return (bits[i >> 6] >> (i & 63)) & 1;
}
void set_bit(std::vector<uint64_t>& bits, uint32_t i) noexcept {
  bits[i >> 6] |= uint64_t{1} << (i & 63);
}
void clear_bit(std::vector<uint64_t>& bits, uint32_t i) noexcept {
  bits[i >> 6] &= ~(uint64_t{1} << (i & 63));
}

// Returns the first offset in [lo, hi) whose bit is clear, or hi. Word at a time, so skipping
// reserved addresses in the fresh range costs 1/64 of a step each.
uint32_t find_clear(const std::vector<uint64_t>& bits, uint32_t lo, uint32_t hi) noexcept {
  if (lo >= hi) return hi;
  size_t w = lo >> 6;
  const size_t last = (hi - 1) >> 6;
  uint64_t free_bits = ~bits[w] & (~uint64_t{0} << (lo & 63));
  while (free_bits == 0) {
    if (w == last) return hi;
    free_bits = ~bits[++w];
  }
  const uint64_t off = w * 64 + static_cast<uint64_t>(std::countr_zero(free_bits));
  return off < hi ? static_cast<uint32_t>(off) : hi;
}

// Calls fn(offset) for every set bit, ascending.
template <class Fn>
void for_each_set(const std::vector<uint64_t>& bits, Fn&& fn) {
  for (size_t w = 0; w < bits.size(); ++w) {
    for (uint64_t b = bits[w]; b != 0; b &= b - 1) {
      fn(static_cast<uint32_t>(w * 64 + static_cast<size_t>(std::countr_zero(b))));
    }
  }
}

size_t words_for(const Cidr& cidr) noexcept { return static_cast<size_t>((cidr.size() + 63) / 64); }

std::string pool_name(PoolId id, const Cidr& cidr) {
  return "pool " + std::to_string(id.value) + " (" + cidr.str() + ")";
}

}  // namespace

Status IpAllocator::add_pool(PoolId id, Cidr cidr) {
  if (!id) return Error::invalid("id", "pool id must not be 0");
  if (find_id(id) != pools_.size()) {
    return Error::on_field(Code::kAlreadyExists, "id",
                           "pool " + std::to_string(id.value) + " already exists");
  }
  if (Status s = check_cidr(cidr, pools_.size()); !s) return s;

  Pool pool;
  pool.id = id;
  pool.cidr = cidr;
  pool.leased_bits.assign(words_for(cidr), 0);
  pool.queued_bits.assign(words_for(cidr), 0);
  pool.fresh.push_back({1, static_cast<uint32_t>(cidr.size() - 1)});
  capacity_ += pool.usable();
  // Appended after first_free_, so its invariant still holds.
  pools_.push_back(std::move(pool));
  rebuild_index();
  return Status::Ok();
}

Status IpAllocator::resize_pool(PoolId id, Cidr cidr) {
  const size_t i = find_id(id);
  if (i == pools_.size()) {
    return Error::on_field(Code::kNotFound, "id", "no pool " + std::to_string(id.value));
  }
  const Pool& old = pools_[i];
  if (old.cidr == cidr) return Status::Ok();
  if (Status s = check_cidr(cidr, i); !s) return s;

  // Every lease must stay a usable address of the new range; name the first that would not.
  const uint32_t old_first = old.cidr.first();
  uint64_t stranded = 0;
  uint32_t first_stranded = 0;
  for_each_set(old.leased_bits, [&](uint32_t off) {
    const uint32_t addr = old_first + off;
    if (addr <= cidr.first() || addr >= cidr.last()) {
      if (stranded++ == 0) first_stranded = addr;
    }
  });
  if (stranded > 0) {
    const char* why = first_stranded == cidr.first()  ? "would become its network address"
                      : first_stranded == cidr.last() ? "would become its broadcast address"
                                                      : "would fall outside it";
    std::string msg = "cannot change " + pool_name(id, old.cidr) + " to " + cidr.str() + ": " +
                      Ipv4{first_stranded}.str() + " is leased and " + why;
    if (stranded > 1) msg += " (" + std::to_string(stranded - 1) + " more leased addresses too)";
    return Error::on_field(Code::kFailedPrecondition, "cidr", std::move(msg));
  }

  Pool next = moved(old, cidr);
  capacity_ = capacity_ - old.usable() + next.usable();
  pools_[i] = std::move(next);
  rebuild_index();
  first_free_ = std::min(first_free_, i);  // a grown pool may have room again
  return Status::Ok();
}

Status IpAllocator::remove_pool(PoolId id) {
  const size_t i = find_id(id);
  if (i == pools_.size()) {
    return Error::on_field(Code::kNotFound, "id", "no pool " + std::to_string(id.value));
  }
  const Pool& pool = pools_[i];
  if (pool.leased > 0) {
    return Error::on_field(Code::kFailedPrecondition, "id",
                           pool_name(id, pool.cidr) + " has " + std::to_string(pool.leased) +
                               " leased addresses; release them first");
  }
  capacity_ -= pool.usable();
  pools_.erase(pools_.begin() + static_cast<std::ptrdiff_t>(i));
  if (i < first_free_) --first_free_;
  rebuild_index();
  return Status::Ok();
}

Result<Ipv4> IpAllocator::allocate() {
  // The totals answer "all full" in O(1), so exhaustion under attach storms stays cheap.
  if (leased_ == capacity_) {
    if (pools_.empty()) {
      return Error(Code::kResourceExhausted, "no free IP address: the network has no IP pool");
    }
    return Error(Code::kResourceExhausted,
                 "no free IP address: every pool of the network is full (" +
                     std::to_string(leased_) + " of " + std::to_string(capacity_) +
                     " addresses leased in " + std::to_string(pools_.size()) + " pools)");
  }
  for (size_t i = first_free_; i < pools_.size(); ++i) {
    Pool& pool = pools_[i];
    if (!pool.has_free()) continue;
    first_free_ = i;
    const uint32_t off = take(pool);
    if (off == 0) break;
    ++leased_;
    return Ipv4{pool.cidr.first() + off};
  }
  return Error(Code::kInternal,
               "IP allocator out of sync: leased count below capacity but no "
               "free address found");
}

Status IpAllocator::reserve(Ipv4 addr) {
  const size_t i = find_pool(addr);
  if (i == pools_.size()) {
    return Error(Code::kInvalidArgument, addr.str() + " is in no IP pool of the network");
  }
  Pool& pool = pools_[i];
  const uint32_t off = addr.value - pool.cidr.first();
  if (off == 0) {
    return Error(Code::kInvalidArgument,
                 addr.str() + " is the network address of " + pool_name(pool.id, pool.cidr));
  }
  if (addr.value == pool.cidr.last()) {
    return Error(Code::kInvalidArgument,
                 addr.str() + " is the broadcast address of " + pool_name(pool.id, pool.cidr));
  }
  if (test_bit(pool.leased_bits, off)) {
    return Error(Code::kFailedPrecondition, addr.str() + " is already leased");
  }
  // The offset may still sit in fresh or free_list; take() skips it while it is leased.
  set_bit(pool.leased_bits, off);
  ++pool.leased;
  ++leased_;
  return Status::Ok();
}

Status IpAllocator::release(Ipv4 addr) {
  const size_t i = find_pool(addr);
  if (i == pools_.size() || !test_bit(pools_[i].leased_bits, addr.value - pools_[i].cidr.first())) {
    return Error(Code::kNotFound, addr.str() + " is not leased");
  }
  put(pools_[i], addr.value - pools_[i].cidr.first());
  --leased_;
  first_free_ = std::min(first_free_, i);
  return Status::Ok();
}

bool IpAllocator::is_leased(Ipv4 addr) const noexcept {
  const size_t i = find_pool(addr);
  return i != pools_.size() && test_bit(pools_[i].leased_bits, addr.value - pools_[i].cidr.first());
}

bool IpAllocator::contains(Ipv4 addr) const noexcept { return find_pool(addr) != pools_.size(); }

std::vector<std::pair<PoolId, Cidr>> IpAllocator::pools() const {
  std::vector<std::pair<PoolId, Cidr>> out;
  out.reserve(pools_.size());
  for (const Pool& p : pools_) out.emplace_back(p.id, p.cidr);
  return out;
}

size_t IpAllocator::memory_bytes() const noexcept {
  // libstdc++ deques hold 512-byte blocks plus one map pointer per block.
  constexpr size_t kDequeBlock = 512;
  constexpr size_t kPerBlock = kDequeBlock / sizeof(uint32_t);
  size_t bytes =
      sizeof(*this) + pools_.capacity() * sizeof(Pool) + by_base_.capacity() * sizeof(uint32_t);
  for (const Pool& p : pools_) {
    bytes += (p.leased_bits.capacity() + p.queued_bits.capacity()) * sizeof(uint64_t);
    bytes += p.fresh.capacity() * sizeof(Range);
    bytes += (p.free_list.size() / kPerBlock + 1) * (kDequeBlock + sizeof(void*));
  }
  return bytes;
}

size_t IpAllocator::find_pool(Ipv4 addr) const noexcept {
  auto it = std::upper_bound(by_base_.begin(), by_base_.end(), addr.value,
                             [this](uint32_t a, uint32_t i) { return a < pools_[i].cidr.first(); });
  if (it == by_base_.begin()) return pools_.size();
  const uint32_t i = *--it;
  return pools_[i].cidr.contains(addr) ? i : pools_.size();
}

size_t IpAllocator::find_id(PoolId id) const noexcept {
  for (size_t i = 0; i < pools_.size(); ++i) {
    if (pools_[i].id == id) return i;
  }
  return pools_.size();
}

Status IpAllocator::check_cidr(Cidr cidr, size_t self) const {
  if (cidr.len < kMinPrefixLen || cidr.len > kMaxPrefixLen) {
    return Error::invalid("cidr", "prefix length must be /" + std::to_string(kMinPrefixLen) +
                                      " to /" + std::to_string(kMaxPrefixLen) + ", not /" +
                                      std::to_string(cidr.len));
  }
  if ((cidr.base.value & cidr.mask()) != cidr.base.value) {
    return Error::invalid("cidr", cidr.str() + " has host bits set");
  }
  // API.md: overlapping pools are a validation error (400), not a 409 conflict.
  for (size_t i = 0; i < pools_.size(); ++i) {
    if (i != self && pools_[i].cidr.overlaps(cidr)) {
      return Error::invalid("cidr",
                            cidr.str() + " overlaps " + pool_name(pools_[i].id, pools_[i].cidr));
    }
  }
  return Status::Ok();
}

void IpAllocator::rebuild_index() {
  by_base_.resize(pools_.size());
  for (uint32_t i = 0; i < by_base_.size(); ++i) by_base_[i] = i;
  std::sort(by_base_.begin(), by_base_.end(), [this](uint32_t a, uint32_t b) {
    return pools_[a].cidr.first() < pools_[b].cidr.first();
  });
}

// Never-leased offsets first, then the FIFO of releases. Each fresh offset is passed once and
// each queued entry popped once, so the loops cost O(1) amortised over reserve/release calls.
// Returns 0 (the network address, never leasable) if the pool has nothing free.
uint32_t IpAllocator::take(Pool& pool) noexcept {
  while (!pool.fresh.empty()) {
    Range& r = pool.fresh.front();
    const uint32_t off = find_clear(pool.leased_bits, r.lo, r.hi);
    if (off < r.hi) {
      r.lo = off + 1;
      if (r.lo == r.hi) pool.fresh.erase(pool.fresh.begin());
      set_bit(pool.leased_bits, off);
      ++pool.leased;
      return off;
    }
    pool.fresh.erase(pool.fresh.begin());
  }
  while (!pool.free_list.empty()) {
    const uint32_t off = pool.free_list.front();
    pool.free_list.pop_front();
    clear_bit(pool.queued_bits, off);
    if (test_bit(pool.leased_bits, off)) continue;  // reserved since it was released
    set_bit(pool.leased_bits, off);
    ++pool.leased;
    return off;
  }
  return 0;
}

// Invariant: every usable offset that is not leased is in fresh or queued in free_list. The queued
// bit keeps each offset in free_list at most once, so reserve/release cycles cannot grow it.
void IpAllocator::put(Pool& pool, uint32_t offset) {
  clear_bit(pool.leased_bits, offset);
  --pool.leased;
  if (test_bit(pool.queued_bits, offset)) return;
  for (const Range& r : pool.fresh) {
    if (offset < r.lo) break;
    if (offset < r.hi) return;  // the bump cursor will reach it
  }
  pool.free_list.push_back(offset);
  set_bit(pool.queued_bits, offset);
}

// Returns `from` re-based on `to`. The caller has checked that every lease is usable in `to`.
// Fresh in `to` = usable(to) minus the addresses `from` ever handed out, i.e. from's fresh ranges
// plus whatever lies outside from's usable range (its old network and broadcast included).
IpAllocator::Pool IpAllocator::moved(const Pool& from, Cidr to) {
  Pool p;
  p.id = from.id;
  p.cidr = to;
  p.leased = from.leased;
  p.leased_bits.assign(words_for(to), 0);
  p.queued_bits.assign(words_for(to), 0);

  const uint64_t old_first = from.cidr.first();
  const uint64_t old_last = from.cidr.last();
  const uint64_t lo = uint64_t{to.first()} + 1;  // usable range of `to`, inclusive
  const uint64_t hi = uint64_t{to.last()} - 1;
  for_each_set(from.leased_bits, [&](uint32_t off) {
    set_bit(p.leased_bits, static_cast<uint32_t>(old_first + off - to.first()));
  });

  auto add_fresh = [&](uint64_t a, uint64_t b) {  // inclusive absolute addresses
    a = std::max(a, lo);
    b = std::min(b, hi);
    if (a > b) return;
    const Range r{static_cast<uint32_t>(a - to.first()), static_cast<uint32_t>(b + 1 - to.first())};
    if (!p.fresh.empty() && p.fresh.back().hi == r.lo) {
      p.fresh.back().hi = r.hi;
    } else {
      p.fresh.push_back(r);
    }
  };
  add_fresh(lo, old_first);  // below the old range, its network address included
  for (const Range& r : from.fresh) add_fresh(old_first + r.lo, old_first + r.hi - 1);
  add_fresh(old_last, hi);  // above the old range, its broadcast address included

  for (const uint32_t off : from.free_list) {
    const uint64_t addr = old_first + off;
    if (addr < lo || addr > hi) continue;
    const auto n = static_cast<uint32_t>(addr - to.first());
    if (test_bit(p.leased_bits, n)) continue;  // stale entry
    p.free_list.push_back(n);
    set_bit(p.queued_bits, n);
  }
  return p;
}

}  // namespace simcore::core
