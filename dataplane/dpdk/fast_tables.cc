#include "dataplane/dpdk/fast_tables.h"

#include <rte_acl.h>
#include <rte_errno.h>
#include <rte_fib6.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_lcore.h>
// rte_lpm.h pulls in rte_vect.h, whose 22.11 version breaks in C++ outside extern "C".
extern "C" {
#include <rte_lpm.h>
}

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/check.h"

namespace simcore::dp {
namespace {

using core::Code;
using core::Error;
using core::Status;

// DPDK object names are global to the process (rte_acl_create even returns the existing
// context for a taken name), and snapshots overlap in time: every object gets a fresh number.
std::atomic<uint32_t> g_name_counter{0};

std::string unique_name(const char* kind) {
  char buf[RTE_HASH_NAMESIZE];
  std::snprintf(buf, sizeof(buf), "sc%s%u", kind, g_name_counter.fetch_add(1));
  return buf;
}

Error dpdk_error(const char* what, int err) {
  const Code code = err == ENOMEM || err == ENOSPC ? Code::kResourceExhausted : Code::kInternal;
  return Error(code, std::string(what) + ": " + rte_strerror(err));
}

int heap_socket() noexcept {
  const int s = static_cast<int>(rte_socket_id());
  return s < 0 ? 0 : s;
}

// The key comparison for rte_hash: it has specialised ones from 16 bytes up only and calls
// memcmp for shorter keys (once per probed entry, per packet). rte_hash tests the result
// against 0 only.
int equal_keys8(const void* a, const void* b, size_t) {
  uint64_t x, y;
  std::memcpy(&x, a, sizeof x);
  std::memcpy(&y, b, sizeof y);
  return x != y;
}

// A filled rte_hash of `n` keys of `key_len` bytes; key(i) and value(i) give entry i, skipped
// when key(i) is nullptr. A key seen twice keeps its first value, as the binary searches and
// FlatIndex of CompiledTables answer. Cuckoo insertion can fail below full capacity, so the
// table is sized at 1.25 n and doubled (at most 3 times) when an insertion finds no room.
template <class KeyFn, class ValueFn>
core::Result<rte_hash*> make_hash(const char* kind, uint32_t key_len, size_t n, int socket,
                                  KeyFn key, ValueFn value) {
  size_t entries = std::max<size_t>(16, n + n / 4);
  for (int attempt = 0; attempt < 4; ++attempt, entries *= 2) {
    const std::string name = unique_name(kind);
    rte_hash_parameters prm{};
    prm.name = name.c_str();
    prm.entries = static_cast<uint32_t>(entries);
    prm.key_len = key_len;
    prm.hash_func = rte_hash_crc;
    prm.hash_func_init_val = 0;
    prm.socket_id = socket;
    // No concurrency flags: a snapshot's hashes are written before publication only.
    prm.extra_flag = 0;
    rte_hash* h = rte_hash_create(&prm);
    if (h == nullptr) return dpdk_error("rte_hash_create", rte_errno);
    if (key_len == 8) rte_hash_set_cmp_func(h, equal_keys8);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; ++i) {
      const void* k = key(i);
      if (k == nullptr || rte_hash_lookup(h, k) >= 0) continue;
      rc = rte_hash_add_key_data(h, k, reinterpret_cast<void*>(static_cast<uintptr_t>(value(i))));
    }
    if (rc == 0) return h;
    rte_hash_free(h);
    if (rc != -ENOSPC) return dpdk_error("rte_hash_add_key_data", -rc);
  }
  return Error(Code::kResourceExhausted, std::string("rte_hash ") + kind + ": no room");
}

uint64_t nat_key(core::Ipv4Be ip, uint8_t proto, core::PortBe port) noexcept {
  return uint64_t{ip.raw} | uint64_t{proto} << 32 | uint64_t{port.raw} << 48;
}

template <class T>
bool same_rows(const std::vector<T>& a, const std::vector<T>& b) noexcept {
  static_assert(std::is_trivially_copyable_v<T>);
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// rte_acl fields: the 1-byte protocol must come first (rte_acl's rule); the other fields are
// read in 4-byte input words, the two ports sharing one.
enum AclField : uint8_t { kFieldProto, kFieldRemote, kFieldRemotePort, kFieldLocalPort, kFields };
RTE_ACL_RULE_DEF(AclRuleDef, kFields);

const rte_acl_field_def kAclFields[kFields] = {
    {.type = RTE_ACL_FIELD_TYPE_BITMASK,
     .size = sizeof(uint8_t),
     .field_index = kFieldProto,
     .input_index = 0,
     .offset = offsetof(AclKey, proto)},
    {.type = RTE_ACL_FIELD_TYPE_MASK,
     .size = sizeof(uint32_t),
     .field_index = kFieldRemote,
     .input_index = 1,
     .offset = offsetof(AclKey, remote_addr)},
    {.type = RTE_ACL_FIELD_TYPE_RANGE,
     .size = sizeof(uint16_t),
     .field_index = kFieldRemotePort,
     .input_index = 2,
     .offset = offsetof(AclKey, remote_port)},
    {.type = RTE_ACL_FIELD_TYPE_RANGE,
     .size = sizeof(uint16_t),
     .field_index = kFieldLocalPort,
     .input_index = 2,
     .offset = offsetof(AclKey, local_port)},
};

// Returns the chain's context, or nullptr for an empty chain (its default action decides).
core::Result<std::shared_ptr<const AclContext>> build_acl(const core::CompiledChain& chain,
                                                          int socket) {
  const size_t n = chain.rules.size();
  if (n == 0) return std::shared_ptr<const AclContext>();
  const std::string name = unique_name("a");
  const rte_acl_param prm{.name = name.c_str(),
                          .socket_id = socket,
                          .rule_size = RTE_ACL_RULE_SZ(kFields),
                          .max_rule_num = static_cast<uint32_t>(n)};
  rte_acl_ctx* ctx = rte_acl_create(&prm);
  if (ctx == nullptr) return dpdk_error("rte_acl_create", rte_errno);
  auto owner = std::make_shared<const AclContext>(ctx);

  std::vector<AclRuleDef> rules(n);
  for (size_t i = 0; i < n; ++i) {
    const core::AclRule& r = chain.rules[i];
    AclRuleDef& a = rules[i];
    a.data.category_mask = 1;
    // rte_acl picks the highest priority; the chain is in first-match order.
    a.data.priority = static_cast<int32_t>(n - i);
    a.data.userdata = static_cast<uint32_t>(i + 1);  // 0 is rte_acl's "no match"
    a.field[kFieldProto].value.u8 = r.proto;
    a.field[kFieldProto].mask_range.u8 = r.proto == 0 ? 0 : 0xff;
    a.field[kFieldRemote].value.u32 = r.remote_addr;
    a.field[kFieldRemote].mask_range.u32 = r.remote_len;
    a.field[kFieldRemotePort].value.u16 = r.remote_port_lo;
    a.field[kFieldRemotePort].mask_range.u16 = r.remote_port_hi;
    a.field[kFieldLocalPort].value.u16 = r.local_port_lo;
    a.field[kFieldLocalPort].mask_range.u16 = r.local_port_hi;
  }
  int rc = rte_acl_add_rules(ctx, reinterpret_cast<const rte_acl_rule*>(rules.data()),
                             static_cast<uint32_t>(n));
  if (rc != 0) return dpdk_error("rte_acl_add_rules", -rc);
  rte_acl_config cfg{};
  cfg.num_categories = 1;
  cfg.num_fields = kFields;
  std::memcpy(cfg.defs, kAclFields, sizeof(kAclFields));
  rc = rte_acl_build(ctx, &cfg);
  if (rc != 0) return dpdk_error("rte_acl_build", -rc);
  return std::shared_ptr<const AclContext>(std::move(owner));
}

}  // namespace

AclContext::~AclContext() { rte_acl_free(ctx_); }

struct FastTables::Lpm {
  rte_lpm* lpm = nullptr;
  std::vector<core::PoolRow> rows;  // what it was built from, to share it with the next build
  ~Lpm() { rte_lpm_free(lpm); }
};

struct FastTables::Fib6 {
  rte_fib6* fib = nullptr;
  std::vector<core::RouteRow> routes;  // what it was built from
  std::vector<core::NetworkRow> networks;
  ~Fib6() { rte_fib6_free(fib); }
};

FastTables::FastTables(std::shared_ptr<const core::CompiledTables> tables)
    : tables_(std::move(tables)) {}

FastTables::~FastTables() {
  rte_hash_free(nat_in_);
  rte_hash_free(nat_out_);
}

core::Result<std::shared_ptr<const FastTables>> FastTables::build(
    std::shared_ptr<const core::CompiledTables> tables, const FastTables* previous,
    const FastBuildOptions& options) {
  SIMCORE_CHECK(tables != nullptr);
  std::shared_ptr<FastTables> ft(new FastTables(std::move(tables)));
  if (Status s = ft->build_nat(); !s) return s.error();
  if (Status s = ft->build_pools(previous); !s) return s.error();
  if (Status s = ft->build_routes(previous, options.linear_routes_max); !s) return s.error();
  if (Status s = ft->build_profiles(previous); !s) return s.error();
  ft->build_tunnels();
  return std::shared_ptr<const FastTables>(std::move(ft));
}

void FastTables::build_tunnels() {
  const core::CompiledTables& t = *tables_;
  // The SPD rows by tunnel index (a counting sort: the compiler happens to emit them grouped,
  // but nothing promises it), then the tunnels by id.
  std::vector<uint32_t> start(t.tunnels.size() + 1, 0);
  for (const core::SpdRow& r : t.spd) {
    if (r.tunnel < t.tunnels.size()) ++start[r.tunnel + 1];
  }
  for (size_t i = 0; i < t.tunnels.size(); ++i) start[i + 1] += start[i];
  selectors_.resize(start.back());
  std::vector<uint32_t> at(start.begin(), start.end() - 1);
  for (const core::SpdRow& r : t.spd) {
    if (r.tunnel >= t.tunnels.size()) continue;
    core::Cidr c{core::Ipv4{r.prefix}, r.len};
    c.base.value &= c.mask();
    selectors_[at[r.tunnel]++] = c;
  }
  tunnels_.clear();
  for (size_t i = 0; i < t.tunnels.size(); ++i) {
    tunnels_.push_back({t.tunnels[i].tunnel_id, start[i], start[i + 1] - start[i]});
  }
  std::sort(tunnels_.begin(), tunnels_.end(),
            [](const TunnelSelectors& a, const TunnelSelectors& b) {
              return a.tunnel_id < b.tunnel_id;
            });
}

std::span<const core::Cidr> FastTables::tunnel_selectors(uint32_t tunnel_id) const noexcept {
  auto it = std::lower_bound(
      tunnels_.begin(), tunnels_.end(), tunnel_id,
      [](const TunnelSelectors& t, uint32_t id) { return t.tunnel_id < id; });
  if (it == tunnels_.end() || it->tunnel_id != tunnel_id) return {};
  return std::span<const core::Cidr>(selectors_).subspan(it->first, it->count);
}

void KeyFilter::build(const std::vector<uint64_t>& keys) {
  unsigned log2 = 16;
  while ((size_t{1} << log2) < keys.size() * 16) ++log2;
  bits_.assign((size_t{1} << log2) / 64, 0);
  shift_ = 64 - log2;
  for (uint64_t k : keys) {
    const uint64_t h = (k * 0x9e3779b97f4a7c15ull) >> shift_;
    bits_[h >> 6] |= uint64_t{1} << (h & 63);
  }
}

Status FastTables::build_nat() {
  const core::CompiledTables& t = *tables_;
  const int socket = heap_socket();
  // Keys live in these vectors only while the hashes copy them in.
  std::vector<uint64_t> keys(t.nat_in.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    keys[i] = nat_key(t.nat_in[i].public_ip, t.nat_in[i].proto, t.nat_in[i].public_port);
  }
  if (!keys.empty()) {
    auto h = make_hash(
        "ni", sizeof(uint64_t), keys.size(), socket, [&](size_t i) { return &keys[i]; },
        [](size_t i) { return i; });
    if (!h) return h.error();
    nat_in_ = *h;
    nat_in_filter_.build(keys);
  }
  keys.resize(t.nat_out.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    keys[i] = nat_key(t.nat_out[i].thing_ip, t.nat_out[i].proto, t.nat_out[i].thing_port);
  }
  if (!keys.empty()) {
    auto h = make_hash(
        "no", sizeof(uint64_t), keys.size(), socket, [&](size_t i) { return &keys[i]; },
        [](size_t i) { return i; });
    if (!h) return h.error();
    nat_out_ = *h;
    nat_out_filter_.build(keys);
  }
  return {};
}

// Pools never overlap anywhere in the account (the compiler checks), so one LPM over all of
// them answers "which network's pool holds this address" with at most one hit. Its tbl24 is
// 64 MB, so a snapshot whose pool rows are unchanged shares the previous one.
Status FastTables::build_pools(const FastTables* previous) {
  const core::CompiledTables& t = *tables_;
  if (previous != nullptr && same_rows(previous->pools_->rows, t.pools)) {
    pools_ = previous->pools_;
    pools_lpm_ = pools_->lpm;
    return {};
  }
  auto lpm = std::make_shared<Lpm>();
  lpm->rows = t.pools;
  uint32_t tbl8 = 1;
  for (const core::PoolRow& p : t.pools) tbl8 += (p.last - p.first) < 255;  // longer than /24
  const std::string name = unique_name("p");
  const rte_lpm_config cfg{.max_rules = static_cast<uint32_t>(std::max<size_t>(1, t.pools.size())),
                           .number_tbl8s = tbl8,
                           .flags = 0};
  lpm->lpm = rte_lpm_create(name.c_str(), heap_socket(), &cfg);
  if (lpm->lpm == nullptr) return dpdk_error("rte_lpm_create", rte_errno);
  for (const core::PoolRow& p : t.pools) {
    // Pools are aligned CIDRs stored as inclusive ranges: the size gives the prefix back.
    const uint64_t size = uint64_t{p.last} - p.first + 1;
    if (!std::has_single_bit(size) || (p.first & (size - 1)) != 0 || size == (uint64_t{1} << 32)) {
      return Error(Code::kInternal, "pool row is not a CIDR of length 1..32");
    }
    const auto depth = static_cast<uint8_t>(32 - std::countr_zero(size));
    const int rc = rte_lpm_add(lpm->lpm, p.first, depth, p.network);
    if (rc != 0) return dpdk_error("rte_lpm_add", -rc);
  }
  pools_lpm_ = lpm->lpm;
  pools_ = std::move(lpm);
  return {};
}

// Routes. An rte_lpm per network would cost 64 MB each, so the choice is between scanning a
// network's rows (longest first: the first containing row is the longest match) and one shared
// rte_fib6 (a trie with a 2^24 first level) keyed by network index (2 bytes) ‖ IPv4 address
// (4 bytes) at depth 16 + prefix length, so a /0 route is depth 16 and needs no special case,
// and a lookup touches at most four levels. fast_lookup_bench BM_RouteScan vs BM_RouteFib6 on
// this machine (ns of CPU time per lookup, median of 3; destinations that mostly pass every
// row, the scan's worst case):
//   routes   1    4    8    16   32   64   256
//   scan    2.6  5.6 10.5 24.0 33.5 90.3 202.8
//   fib6    5.2  7.1  7.0  7.2  7.6  7.9  10.0
// so networks with at most 6 routes scan (FastBuildOptions::linear_routes_max), and the fib
// (32 MB with 2-byte next hops) exists only while some network has more; a snapshot with the
// same route rows shares the previous one.
Status FastTables::build_routes(const FastTables* previous, uint32_t linear_routes_max) {
  const core::CompiledTables& t = *tables_;
  networks_.assign(t.networks.size(), FastNetwork{});
  size_t in_fib = 0;
  uint32_t tbl8 = 16;
  for (size_t n = 0; n < t.networks.size(); ++n) {
    const core::NetworkRow& net = t.networks[n];
    if (net.route_count <= linear_routes_max) continue;
    networks_[n].use_fib = 1;
    in_fib += net.route_count;
    for (uint32_t r = 0; r < net.route_count; ++r) {
      const uint8_t depth = static_cast<uint8_t>(16 + t.routes[net.route_first + r].len);
      tbl8 += depth > 24 ? (depth - 24 + 7) / 8 : 0;
    }
  }
  if (in_fib == 0) return {};
  if (previous != nullptr && previous->routes_ != nullptr &&
      same_rows(previous->routes_->routes, t.routes) &&
      same_rows(previous->routes_->networks, t.networks)) {
    routes_ = previous->routes_;
    routes_fib_ = routes_->fib;
    return {};
  }
  auto fib = std::make_shared<Fib6>();
  fib->routes = t.routes;
  fib->networks = t.networks;
  const std::string name = unique_name("r");
  rte_fib6_conf cfg{};
  cfg.type = RTE_FIB6_TRIE;
  cfg.default_nh = 0;  // no route: INTERNET
  cfg.max_routes = static_cast<int>(in_fib + 1);
  cfg.rib_ext_sz = 0;
  // Next hop = index into CompiledTables::routes + 1. The trie keeps one bit of each entry.
  cfg.trie.nh_sz = t.routes.size() + 1 < (1u << 15) ? RTE_FIB6_TRIE_2B : RTE_FIB6_TRIE_4B;
  cfg.trie.num_tbl8 = tbl8;
  fib->fib = rte_fib6_create(name.c_str(), heap_socket(), &cfg);
  if (fib->fib == nullptr) return dpdk_error("rte_fib6_create", rte_errno);
  for (size_t n = 0; n < t.networks.size(); ++n) {
    if (!networks_[n].use_fib) continue;
    const core::NetworkRow& net = t.networks[n];
    for (uint32_t r = 0; r < net.route_count; ++r) {
      const core::RouteRow& row = t.routes[net.route_first + r];
      uint8_t key[RTE_FIB6_IPV6_ADDR_SIZE] = {};
      key[0] = static_cast<uint8_t>(n >> 8);
      key[1] = static_cast<uint8_t>(n);
      const uint32_t be = core::host_to_be32(row.prefix);
      std::memcpy(key + 2, &be, 4);
      const int rc =
          rte_fib6_add(fib->fib, key, static_cast<uint8_t>(16 + row.len), net.route_first + r + 1);
      if (rc != 0) return dpdk_error("rte_fib6_add", -rc);
    }
  }
  routes_fib_ = fib->fib;
  routes_ = std::move(fib);
  return {};
}

// rte_acl builds are slow (milliseconds for hundreds of rules), and the compiler keeps a
// profile's CompiledProfile object when the profile did not change: the object's identity is
// the cache key. FastProfile holds the object, so its address cannot be reused while cached.
Status FastTables::build_profiles(const FastTables* previous) {
  const core::CompiledTables& t = *tables_;
  std::unordered_map<const core::CompiledProfile*, const FastProfile*> cache;
  if (previous != nullptr) {
    for (const FastProfile& p : previous->profiles_) cache.emplace(p.rows.get(), &p);
  }
  const int socket = heap_socket();
  profiles_.reserve(t.profiles.size());
  for (const std::shared_ptr<const core::CompiledProfile>& prof : t.profiles) {
    SIMCORE_CHECK(prof != nullptr);
    if (auto it = cache.find(prof.get()); it != cache.end()) {
      profiles_.push_back(*it->second);
      acl_reused_ += (it->second->inbound != nullptr) + (it->second->outbound != nullptr);
      continue;
    }
    auto in = build_acl(prof->inbound, socket);
    if (!in) return in.error();
    auto out = build_acl(prof->outbound, socket);
    if (!out) return out.error();
    acl_built_ += (*in != nullptr) + (*out != nullptr);
    profiles_.push_back(FastProfile{prof, std::move(*in), std::move(*out)});
  }
  return {};
}

// Sessions are found in the CompiledTables' own FlatIndexes, not in rte_hash copies of them.
// Measured against rte_hash (fast_lookup_bench, bursts, medians of 3; README 2026-11-28):
// within 2% at 1k sessions, 1-3% faster at 100k, 13-15% at 1M. A FlatIndex lookup mostly reads
// one line of 8-byte buckets where rte_hash reads its signature bucket and then its key store,
// two dependent misses. The index is shared between snapshots on copy-on-write pages, so a
// publish rebuilds nothing (the copies took 0.2-0.3 s of control-thread time at 1M sessions),
// and it costs 27 bytes per session for both keys against 90 for the two rte_hashes.
// A burst's finds are independent, and the out-of-order core overlaps their misses without
// help: prefetching every key's home bucket first measured the same (fast_lookup_bench and
// engine_bench, README 2026-11-29). The measurements above ran without it, though the code
// asked for it: GCC had deleted that __builtin_prefetch (core/prefetch.h).
namespace {
void bulk(const core::FlatIndex& index, const uint32_t* keys, unsigned n,
          uint32_t* slots) noexcept {
  for (unsigned i = 0; i < n; ++i) slots[i] = index.find(keys[i]);
}
}  // namespace

void FastTables::find_teid_bulk(const uint32_t* teid_raw, unsigned n,
                                uint32_t* slots) const noexcept {
  bulk(tables_->by_teid, teid_raw, n, slots);
}

void FastTables::find_ue_bulk(const uint32_t* ue_raw, unsigned n, uint32_t* slots) const noexcept {
  bulk(tables_->by_ue, ue_raw, n, slots);
}

const core::NatRow* FastTables::find_nat_in(core::Ipv4Be ip, uint8_t proto,
                                            core::PortBe port) const noexcept {
  if (nat_in_ == nullptr) return nullptr;
  const uint64_t key = nat_key(ip, proto, port);
  if (!nat_in_filter_.maybe(key)) return nullptr;
  void* data = nullptr;
  if (rte_hash_lookup_data(nat_in_, &key, &data) < 0) return nullptr;
  return &tables_->nat_in[reinterpret_cast<uintptr_t>(data)];
}

const core::NatRow* FastTables::find_nat_out(core::Ipv4Be ip, uint8_t proto,
                                             core::PortBe port) const noexcept {
  if (nat_out_ == nullptr) return nullptr;
  const uint64_t key = nat_key(ip, proto, port);
  if (!nat_out_filter_.maybe(key)) return nullptr;
  void* data = nullptr;
  if (rte_hash_lookup_data(nat_out_, &key, &data) < 0) return nullptr;
  return &tables_->nat_out[reinterpret_cast<uintptr_t>(data)];
}

bool FastTables::in_pool_of(uint32_t dst, core::NetworkIndex n) const noexcept {
  uint32_t net = 0;
  return rte_lpm_lookup(pools_lpm_, dst, &net) == 0 && net == n;
}

const core::RouteRow* FastTables::find_route(core::NetworkIndex n, uint32_t dst) const noexcept {
  const core::CompiledTables& t = *tables_;
  const core::NetworkRow& net = t.networks[n];
  if (!networks_[n].use_fib) {
    const core::RouteRow* r = t.routes.data() + net.route_first;
    const core::RouteRow* end = r + net.route_count;
    for (; r != end; ++r) {
      const uint32_t mask = r->len == 0 ? 0 : ~uint32_t{0} << (32 - r->len);
      if ((dst & mask) == r->prefix) return r;
    }
    return nullptr;
  }
  uint8_t key[1][RTE_FIB6_IPV6_ADDR_SIZE] = {};
  key[0][0] = static_cast<uint8_t>(n >> 8);
  key[0][1] = static_cast<uint8_t>(n);
  const uint32_t be = core::host_to_be32(dst);
  std::memcpy(&key[0][2], &be, 4);
  uint64_t nh = 0;
  rte_fib6_lookup_bulk(routes_fib_, key, &nh, 1);
  return nh == 0 ? nullptr : &t.routes[nh - 1];
}

void FastTables::classify(const AclContext& ctx, const AclKey* const* keys, unsigned n,
                          int32_t* results) noexcept {
  constexpr unsigned kMax = 64;
  SIMCORE_DCHECK(n <= kMax);
  const uint8_t* data[kMax];
  uint32_t res[kMax];
  for (unsigned i = 0; i < n; ++i) data[i] = reinterpret_cast<const uint8_t*>(keys[i]);
  // rte_acl_classify fails only on bad arguments, which would be a bug here.
  if (rte_acl_classify(ctx.get(), data, res, n, 1) != 0) {
    for (unsigned i = 0; i < n; ++i) res[i] = 0;
  }
  for (unsigned i = 0; i < n; ++i) results[i] = static_cast<int32_t>(res[i]) - 1;  // userdata
}

int FastTables::lookup_chain(core::ProfileIndex profile, bool inbound, uint8_t proto,
                             uint32_t remote, uint16_t remote_port,
                             uint16_t local_port) const noexcept {
  const AclContext* ctx = acl(profile, inbound);
  if (ctx == nullptr) return -1;
  const AclKey key = acl_key(proto, remote, remote_port, local_port);
  const AclKey* keys[1] = {&key};
  int32_t result = -1;
  classify(*ctx, keys, 1, &result);
  return result;
}

}  // namespace simcore::dp
