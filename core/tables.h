// core/tables.h — the control → data contract: one immutable, complete snapshot of policy.
// The only definition of every compiled table. Built by core/compiler on the control thread,
// published by core/publisher, read by workers without locks. Rows are plain, trivially
// copyable and indexed by small integers. Byte order is stated per field: session and NAT rows
// hold network order (compared with packet bytes as they are); firewall, pool and route rows
// hold host order (what rte_acl rule fields and rte_lpm take).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <tuple>
#include <type_traits>
#include <vector>

#include "core/flat_index.h"
#include "core/paged_array.h"
#include "core/types.h"

namespace simcore::core {

using ProfileIndex = uint16_t;
using NetworkIndex = uint16_t;
inline constexpr uint16_t kNoTunnel = 0xffff;

enum SessionFlags : uint16_t {
  kSessionAttached = 1 << 0,     // a session is open: TEID and UE address are valid
  kSessionActive = 1 << 1,       // Thing state is ACTIVE
  kSessionDataAllowed = 1 << 2,  // data service on for the Thing and its group
};

// One row per Thing, indexed by ThingSlot (a Thing has at most one data session).
struct SessionRow {
  Ipv4Be ue_addr;        // the Thing's address (valid when attached)
  Ipv4Be peer_addr;      // eNodeB/SGW GTP-U address for downlink encapsulation
  TeidBe peer_teid;      // their TEID, for downlink
  TeidBe local_teid;     // ours, carried by uplink G-PDUs
  ProfileIndex profile;  // IP Profile of the Thing's group
  NetworkIndex network;  // isolation domain, routes, VLAN
  uint16_t flags;        // SessionFlags
  uint16_t reserved;
};
static_assert(sizeof(SessionRow) == 24 && std::is_trivially_copyable_v<SessionRow>);

// One firewall rule normalised for rte_acl: fields are host order; proto 0 matches any
// protocol; ports of rules without ports span 0-65535, and packets without ports carry 0.
struct AclRule {
  uint32_t remote_addr;  // masked to remote_len
  uint8_t remote_len;
  uint8_t proto;
  uint8_t action;  // Action
  uint8_t reserved;
  uint16_t remote_port_lo, remote_port_hi;
  uint16_t local_port_lo, local_port_hi;
  uint32_t rule_id;  // the API's rule id, for per-rule hit counters and verdict reasons
  uint32_t priority;
};
static_assert(sizeof(AclRule) == 24 && std::is_trivially_copyable_v<AclRule>);

// A chain in first-match order (ascending priority). No rule matches → default_action.
struct CompiledChain {
  std::vector<AclRule> rules;
  uint8_t default_action = 0;  // Action
};

struct CompiledProfile {
  uint32_t profile_id = 0;
  bool stateful = false;
  CompiledChain inbound;
  CompiledChain outbound;
};

struct NetworkRow {
  uint32_t network_id;
  uint16_t vlan;         // 0 = untagged
  uint8_t isolated;      // Things of this network may not reach each other
  uint8_t reserved;
  uint32_t pool_first;   // slice of CompiledTables::pools
  uint32_t pool_count;
  uint32_t route_first;  // slice of CompiledTables::routes, longest prefix first
  uint32_t route_count;
};
static_assert(sizeof(NetworkRow) == 24 && std::is_trivially_copyable_v<NetworkRow>);

// An IP pool as an inclusive host-order range (network and broadcast included: they belong to
// the isolation domain even though they are never leased).
struct PoolRow {
  uint32_t first;
  uint32_t last;
  NetworkIndex network;
  uint16_t reserved;
};
static_assert(sizeof(PoolRow) == 12 && std::is_trivially_copyable_v<PoolRow>);

enum class RouteKind : uint8_t { kInternet = 0, kTunnel = 1, kBlackhole = 2 };

struct RouteRow {
  uint32_t prefix;  // host order, masked
  uint8_t len;
  uint8_t kind;     // RouteKind
  uint16_t tunnel;  // index into tunnels for kTunnel, else kNoTunnel
};
static_assert(sizeof(RouteRow) == 8 && std::is_trivially_copyable_v<RouteRow>);

// A port-forwarding rule, both keys network order.
struct NatRow {
  Ipv4Be public_ip;
  Ipv4Be thing_ip;
  PortBe public_port;
  PortBe thing_port;
  uint8_t proto;  // 6 or 17
  uint8_t reserved[3];
  uint32_t thing_slot;
  uint32_t rule_id;
};
static_assert(sizeof(NatRow) == 24 && std::is_trivially_copyable_v<NatRow>);

// The orders nat_in and nat_out are sorted in; lookups binary-search with the same functions.
inline bool nat_in_less(const NatRow& a, const NatRow& b) noexcept {
  return std::tuple(from_be(a.public_ip).value, a.proto, port_host(a.public_port)) <
         std::tuple(from_be(b.public_ip).value, b.proto, port_host(b.public_port));
}
inline bool nat_out_less(const NatRow& a, const NatRow& b) noexcept {
  return std::tuple(from_be(a.thing_ip).value, a.proto, port_host(a.thing_port)) <
         std::tuple(from_be(b.thing_ip).value, b.proto, port_host(b.thing_port));
}

struct TunnelRow {
  uint32_t tunnel_id;
  Ipv4Be peer;
  NetworkIndex network;
  uint16_t reserved;
  uint32_t sa_out;  // SAD index of the outbound SA, or ~0 while no CHILD_SA is installed
};
static_assert(sizeof(TunnelRow) == 16 && std::is_trivially_copyable_v<TunnelRow>);

// Security policy: traffic of `network` toward prefix/len goes to `tunnel`. Host order.
struct SpdRow {
  uint32_t prefix;
  uint8_t len;
  uint8_t reserved;
  uint16_t tunnel;
  NetworkIndex network;
  uint16_t reserved2;
};
static_assert(sizeof(SpdRow) == 12 && std::is_trivially_copyable_v<SpdRow>);

// A CHILD_SA half as the IKE daemon hands it over (filled by the IPsec handoff).
struct SaRow {
  uint32_t spi;  // network order
  uint16_t tunnel;
  uint8_t direction;  // 0 outbound, 1 inbound
  uint8_t algorithm;  // cipher suite id
  uint8_t key_len;
  uint8_t reserved[3];
  uint8_t key[32];
  uint8_t salt[4];
};
static_assert(sizeof(SaRow) == 48 && std::is_trivially_copyable_v<SaRow>);

struct CompiledTables {
  uint64_t generation = 0;

  PagedArray<SessionRow> sessions;  // by ThingSlot
  FlatIndex by_teid;                // local TEID (TeidBe.raw) → ThingSlot, attached only
  FlatIndex by_ue;                  // UE address (Ipv4Be.raw) → ThingSlot, attached only

  std::vector<std::shared_ptr<const CompiledProfile>> profiles;  // by ProfileIndex
  std::vector<NetworkRow> networks;                              // by NetworkIndex
  std::vector<PoolRow> pools;    // grouped by network, see NetworkRow
  std::vector<RouteRow> routes;  // grouped by network, see NetworkRow

  std::vector<NatRow> nat_in;   // sorted by (public_ip, proto, public_port), for downlink
  std::vector<NatRow> nat_out;  // sorted by (thing_ip, proto, thing_port), for uplink

  std::vector<TunnelRow> tunnels;
  std::vector<SpdRow> spd;
  std::vector<SaRow> sad;  // empty until the IKE handoff installs SAs

  // Returns the bytes of the per-Thing tables (session rows and both indexes).
  size_t session_bytes() const noexcept {
    return sessions.bytes() + by_teid.bytes() + by_ue.bytes();
  }
};

}  // namespace simcore::core
