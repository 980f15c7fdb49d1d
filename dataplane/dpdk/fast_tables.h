// dataplane/dpdk/fast_tables.h — a CompiledTables snapshot materialised into DPDK structures:
// rte_hash for NAT (both directions), one rte_lpm for every pool of the account, per-network
// routes (a short linear scan, or one shared rte_fib6 for networks with many routes) and one
// rte_acl context per (IP Profile, chain). Sessions (TEID, UE address) are found in the
// CompiledTables' own FlatIndexes, which measured faster than rte_hash copies and cost no
// per-snapshot rebuild (fast_tables.cc). Built on the control thread next to each CompiledTables
// it mirrors, immutable afterwards, read by any worker without locks (fast_lookup.h). Rows
// (sessions, NAT, routes, chains) still live in the CompiledTables, which a FastTables keeps
// alive. Keys are stored as the packet carries them (network byte order).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/result.h"
#include "core/tables.h"
#include "core/types.h"

struct rte_hash;
struct rte_lpm;
struct rte_fib6;
struct rte_acl_ctx;

namespace simcore::dp {

// One rte_acl context, freed with its last owner. Several snapshots share one when a profile is
// unchanged between them.
class AclContext {
 public:
  explicit AclContext(rte_acl_ctx* ctx) noexcept : ctx_(ctx) {}
  ~AclContext();
  AclContext(const AclContext&) = delete;
  AclContext& operator=(const AclContext&) = delete;
  const rte_acl_ctx* get() const noexcept { return ctx_; }

 private:
  rte_acl_ctx* ctx_;
};

// A profile as the fast path reads it: its chains' rte_acl contexts (nullptr for an empty chain,
// which only has its default action) next to the CompiledProfile whose rules they index.
struct FastProfile {
  std::shared_ptr<const core::CompiledProfile> rows;  // identity = cache key; keeps rules alive
  std::shared_ptr<const AclContext> inbound;
  std::shared_ptr<const AclContext> outbound;
};

// The rte_acl search key of one packet, as rte_acl wants it: the 1-byte protocol first, then
// 4-byte input words; address and ports in network byte order. Ports are 0 without ports.
struct AclKey {
  uint8_t proto;
  uint8_t pad[3];
  uint32_t remote_addr;  // network order
  uint16_t remote_port;  // network order
  uint16_t local_port;   // network order
};
static_assert(sizeof(AclKey) == 12);

// How a network's routes are looked up: by scanning its CompiledTables rows (longest first, so
// the first containing row is the longest match) or in the shared rte_fib6.
struct FastNetwork {
  uint8_t use_fib;  // 1: FastTables::routes_fib_ holds this network's routes
  uint8_t reserved[3];
};

// A one-hash Bloom filter over 64-bit keys: "no" is certain, "maybe" is wrong for about one key
// in 16 (16 bits per key, at least 64 Ki bits). It spares a miss its rte_hash lookup: most
// packets have no port forwarding, and one bit test costs a fraction of the lookup.
class KeyFilter {
 public:
  void build(const std::vector<uint64_t>& keys);
  bool maybe(uint64_t key) const noexcept {
    const uint64_t h = (key * 0x9e3779b97f4a7c15ull) >> shift_;
    return (bits_[h >> 6] >> (h & 63)) & 1;
  }

 private:
  std::vector<uint64_t> bits_ = std::vector<uint64_t>(1, 0);
  unsigned shift_ = 63;  // 64 − log2(bits); one always-clear bit until built
};

struct FastBuildOptions {
  // Networks with more routes than this go into the shared rte_fib6; the others scan their rows
  // (see fast_tables.cc for the measurements behind the default). Tests set 0 to force the fib.
  uint32_t linear_routes_max = 6;
};

class FastTables {
 public:
  // Returns the fast tables of `tables`. ACL contexts of profiles that `previous` already built
  // (same CompiledProfile object) are shared, not rebuilt; so are the pool and route tables when
  // those rows are unchanged. Control thread (creates DPDK objects); needs EAL. Fails with
  // kResourceExhausted when DPDK cannot allocate, kInternal when it rejects a table.
  static core::Result<std::shared_ptr<const FastTables>> build(
      std::shared_ptr<const core::CompiledTables> tables, const FastTables* previous = nullptr,
      const FastBuildOptions& options = {});

  // Frees the DPDK objects it alone owns. Drop the last reference on the control thread after
  // the workers' grace period (the rte_*_free calls take EAL's tailq lock).
  ~FastTables();
  FastTables(const FastTables&) = delete;
  FastTables& operator=(const FastTables&) = delete;

  const core::CompiledTables& tables() const noexcept { return *tables_; }

  // Returns the bytes of the two session indexes (TEID and UE address) and their bytes per
  // attached session.
  size_t session_bytes() const noexcept {
    return tables_->by_teid.bytes() + tables_->by_ue.bytes();
  }
  double bytes_per_session() const noexcept {
    const size_t n = sessions();
    return n == 0 ? 0.0 : static_cast<double>(session_bytes()) / static_cast<double>(n);
  }
  size_t sessions() const noexcept { return tables_->by_teid.size(); }

  // Returns how many (profile, chain) ACL contexts this build created and how many it took over
  // from `previous` (for tests and benchmarks).
  size_t acl_built() const noexcept { return acl_built_; }
  size_t acl_reused() const noexcept { return acl_reused_; }
  // Returns the rte_acl context of a profile's chain, or nullptr for an empty chain.
  const AclContext* acl(core::ProfileIndex profile, bool inbound) const noexcept {
    const FastProfile& p = profiles_[profile];
    return inbound ? p.inbound.get() : p.outbound.get();
  }
  bool routes_in_fib(core::NetworkIndex n) const noexcept { return networks_[n].use_fib != 0; }

  // For fast_lookup.h: the lookups, each on one immutable structure. Any thread; no allocation.
  uint32_t find_teid(core::TeidBe teid) const noexcept {  // → slot, or kNotFound
    return tables_->by_teid.find(teid.raw);
  }
  uint32_t find_ue(core::Ipv4Be ue) const noexcept {  // → slot, or kNotFound
    return tables_->by_ue.find(ue.raw);
  }
  // Returns the nat_in / nat_out row for a key, or nullptr.
  const core::NatRow* find_nat_in(core::Ipv4Be ip, uint8_t proto, core::PortBe port) const noexcept;
  const core::NatRow* find_nat_out(core::Ipv4Be ip, uint8_t proto,
                                   core::PortBe port) const noexcept;
  // Returns whether `dst` (host order) lies in a pool of network `n`.
  bool in_pool_of(uint32_t dst, core::NetworkIndex n) const noexcept;
  // Returns the route of network `n` for `dst` (host order), or nullptr (INTERNET, the default).
  const core::RouteRow* find_route(core::NetworkIndex n, uint32_t dst) const noexcept;
  // Returns the remote subnets (SPD rows) of the tunnel with id `tunnel_id`, none for an
  // unknown tunnel: a binary search for the tunnel. The engine looks them up once for all the
  // packets one SA decrypted.
  std::span<const core::Cidr> tunnel_selectors(uint32_t tunnel_id) const noexcept;
  // Returns whether `src` (host order) lies in one of `selectors`: RFC 4301 §5.2's check on a
  // packet the tunnel's SA decrypted.
  static bool inside(std::span<const core::Cidr> selectors, uint32_t src) noexcept {
    for (const core::Cidr& c : selectors) {
      if (c.contains(core::Ipv4{src})) return true;
    }
    return false;
  }
  // Returns the index of the first matching rule of the chain, or -1. Host-order arguments.
  int lookup_chain(core::ProfileIndex profile, bool inbound, uint8_t proto, uint32_t remote,
                   uint16_t remote_port, uint16_t local_port) const noexcept;

  // Returns the rte_acl search key of a packet (host-order arguments; ports ignored without
  // ports), as lookup_chain builds it.
  static AclKey acl_key(uint8_t proto, uint32_t remote, uint16_t remote_port,
                        uint16_t local_port) noexcept {
    // As core::lookup_chain: packets without ports carry 0. Inline: once per packet.
    const bool ports = core::has_ports(proto);
    return AclKey{proto,
                  {0, 0, 0},
                  core::host_to_be32(remote),
                  core::host_to_be16(ports ? remote_port : 0),
                  core::host_to_be16(ports ? local_port : 0)};
  }
  // Classifies keys[0, n) (n <= 64) against one context: results[i] = index of the first
  // matching rule, or -1. One rte_acl call for the lot, which is where rte_acl is fast.
  static void classify(const AclContext& ctx, const AclKey* const* keys, unsigned n,
                       int32_t* results) noexcept;

  // Bulk forms for bursts of up to 64 keys: slots[i] = slot or kNotFound.
  void find_teid_bulk(const uint32_t* teid_raw, unsigned n, uint32_t* slots) const noexcept;
  void find_ue_bulk(const uint32_t* ue_raw, unsigned n, uint32_t* slots) const noexcept;

  static constexpr uint32_t kNotFound = core::FlatIndex::kNotFound;

 private:
  explicit FastTables(std::shared_ptr<const core::CompiledTables> tables);
  core::Status build_nat();
  core::Status build_pools(const FastTables* previous);
  core::Status build_routes(const FastTables* previous, uint32_t linear_routes_max);
  core::Status build_profiles(const FastTables* previous);
  void build_tunnels();

  struct Lpm;   // owns an rte_lpm
  struct Fib6;  // owns an rte_fib6

  std::shared_ptr<const core::CompiledTables> tables_;
  rte_hash* nat_in_ = nullptr;  // nullptr when there are no rules: skip the lookup
  rte_hash* nat_out_ = nullptr;
  KeyFilter nat_in_filter_;  // over nat_in_'s keys
  KeyFilter nat_out_filter_;
  std::shared_ptr<const Lpm> pools_;
  rte_lpm* pools_lpm_ = nullptr;  // pools_'s, cached for the fast path
  std::shared_ptr<const Fib6> routes_;
  rte_fib6* routes_fib_ = nullptr;  // routes_'s; nullptr when every network scans
  std::vector<FastNetwork> networks_;
  std::vector<FastProfile> profiles_;  // by ProfileIndex
  // Each tunnel's remote subnets, for tunnel_selectors: the tunnels sorted by id, each naming
  // its run of selectors.
  struct TunnelSelectors {
    uint32_t tunnel_id;
    uint32_t first;
    uint32_t count;
  };
  std::vector<TunnelSelectors> tunnels_;
  std::vector<core::Cidr> selectors_;
  size_t acl_built_ = 0;
  size_t acl_reused_ = 0;
};

}  // namespace simcore::dp
