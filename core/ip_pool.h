// core/ip_pool.h — the IPv4 address allocator of one Network: its pools, dynamic leases and
// reserved (locked) addresses. Addresses are host byte order. Control thread only; a plain value
// type, so the account can copy it, change the copy and swap it in to apply a change atomically.
//
// Each pool keeps a bitmap of leased addresses, a bump cursor over never-leased addresses and a
// FIFO of released ones: allocation is amortised O(1) and a released address is handed out again
// as late as possible. Memory is about 0.25 byte per address plus 4 bytes per queued release.
// The network and broadcast address of every pool are never leased.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/types.h"

namespace simcore::core {

class IpAllocator {
 public:
  // Pools must have a prefix length in this range: /8 is 16M addresses, /30 two usable ones.
  static constexpr uint8_t kMinPrefixLen = 8;
  static constexpr uint8_t kMaxPrefixLen = 30;

  // Adds a pool, used for allocation after the pools added before it. Fails with kInvalidArgument
  // on "id" (0) or "cidr" (length outside /8../30, host bits set), kAlreadyExists on "id" if the
  // id is taken, kConflict on "cidr" if it overlaps another pool. Nothing changes on failure.
  Status add_pool(PoolId id, Cidr cidr);

  // Replaces a pool's CIDR (grow, shrink or move); leases and queued releases carry over.
  // Fails with kNotFound on "id", the add_pool errors on "cidr", or kFailedPrecondition on "cidr"
  // if a leased address would fall outside the new range or become its network/broadcast address.
  // Nothing changes on failure.
  Status resize_pool(PoolId id, Cidr cidr);

  // Removes a pool. Fails with kNotFound on "id", or kFailedPrecondition on "id" while any address
  // of the pool is leased. Nothing changes on failure.
  Status remove_pool(PoolId id);

  // Returns a free address, leased from now on: a never-leased one if any, else the one released
  // longest ago; from the first pool (in add order) with a free address. Fails with
  // kResourceExhausted when every pool is full.
  Result<Ipv4> allocate();

  // Leases exactly `addr` (a locked IP). Fails with kInvalidArgument if it is in no pool or is a
  // pool's network or broadcast address, kFailedPrecondition if it is already leased. No field is
  // blamed: the caller knows which field held the address (FieldErrors::merge adds it).
  Status reserve(Ipv4 addr);

  // Ends the lease of `addr`, dynamic or reserved. Fails with kNotFound if it was not leased.
  Status release(Ipv4 addr);

  // Returns true if `addr` is leased.
  bool is_leased(Ipv4 addr) const noexcept;
  // Returns true if `addr` is in some pool (network and broadcast addresses included).
  bool contains(Ipv4 addr) const noexcept;
  // Returns the number of leased addresses.
  uint64_t leased() const noexcept { return leased_; }
  // Returns the number of leasable addresses: each pool's size minus its network and broadcast.
  uint64_t capacity() const noexcept { return capacity_; }
  // Returns the pools in add order.
  std::vector<std::pair<PoolId, Cidr>> pools() const;
  // Returns an estimate of the heap and object bytes this allocator holds (for benchmarks).
  size_t memory_bytes() const noexcept;

 private:
  // A half-open range of offsets [lo, hi) from a pool's network address.
  struct Range {
    uint32_t lo = 0;
    uint32_t hi = 0;
  };

  struct Pool {
    PoolId id;
    Cidr cidr;
    uint64_t leased = 0;
    std::vector<uint64_t> leased_bits;  // bit i: offset i is leased
    std::vector<uint64_t> queued_bits;  // bit i: offset i is in free_list
    std::vector<Range> fresh;           // never-leased offsets, ascending; the bump cursor
    std::deque<uint32_t> free_list;     // released offsets, oldest first; may hold leased ones

    uint64_t usable() const noexcept { return cidr.size() - 2; }
    bool has_free() const noexcept { return leased < usable(); }
  };

  // Returns the index in pools_ of the pool containing `addr`, or pools_.size().
  size_t find_pool(Ipv4 addr) const noexcept;
  // Returns the index in pools_ of pool `id`, or pools_.size().
  size_t find_id(PoolId id) const noexcept;
  // Returns Ok or the "cidr" error for a pool shape or overlap; `self` is skipped (resize).
  Status check_cidr(Cidr cidr, size_t self) const;
  void rebuild_index();

  // Returns a free offset of `pool` and leases it; the pool must have a free address.
  static uint32_t take(Pool& pool) noexcept;
  static void put(Pool& pool, uint32_t offset);
  static Pool moved(const Pool& from, Cidr to);

  std::vector<Pool> pools_;        // add order, which is allocation order
  std::vector<uint32_t> by_base_;  // indices into pools_, ascending by network address
  size_t first_free_ = 0;          // no pool before this index has a free address
  uint64_t leased_ = 0;
  uint64_t capacity_ = 0;
};

}  // namespace simcore::core
