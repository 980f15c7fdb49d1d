// core/verdict.h — what happens to a packet, and why: the vocabulary shared by the reference
// evaluator, the table lookups and the data plane's counters. One definition of every drop
// reason; the data plane counts drops by this enum.
#pragma once

#include <cstdint>

#include "core/types.h"

namespace simcore::core {

enum class Direction : uint8_t { kUplink, kDownlink };

enum class Verdict : uint8_t {
  kForward,  // uplink: out of the core port (plain IP, the network's VLAN)
  kTunnel,   // uplink: into an IPsec tunnel (ESP toward its peer)
  kHairpin,  // uplink: delivered to another Thing of the same network, down its GTP-U tunnel
  kDeliver,  // downlink: GTP-U encapsulated toward the Thing's eNodeB/SGW
  kDrop,
};

// The pipeline stage that decided (DESIGN.md "The packet pipeline"), in pipeline order.
enum class Stage : uint8_t {
  kSession,      // session lookup by TEID (uplink) or UE address (downlink)
  kState,        // Thing state must be ACTIVE
  kService,      // data service must be allowed
  kAntiSpoof,    // uplink inner source must be the Thing's address
  kFirewallOut,  // outbound chain of the Thing's IP Profile
  kIsolation,    // Thing to Thing within one network
  kNat,          // port forwarding rewrite
  kRoute,        // per-network route lookup
  kFirewallIn,   // inbound chain of the (destination) Thing's IP Profile
  kDeliver,      // nothing dropped it: the last stage that ran
};

// Every reason a packet is dropped, each with its own counter. The names are the counters'.
#define SIMCORE_DROP_REASONS(X)                                                              \
  X(kNone, "none", "not dropped")                                                            \
  X(kUplinkNoSession, "uplink.no_session", "no session for the GTP-U TEID")                  \
  X(kUplinkNotActive, "uplink.thing_not_active", "the Thing's state is not ACTIVE")          \
  X(kUplinkDataDisabled, "uplink.data_disabled", "data service is off for the Thing or group") \
  X(kUplinkSpoofedSource, "uplink.spoofed_source", "inner source is not the Thing's address") \
  X(kUplinkFirewall, "uplink.firewall", "denied by the outbound chain")                      \
  X(kUplinkIsolation, "uplink.isolation", "Thing to Thing in an isolated network")           \
  X(kUplinkNoPeerThing, "uplink.no_peer_thing", "to a pool address with no attached Thing")  \
  X(kUplinkBlackhole, "uplink.blackhole", "route is BLACKHOLE")                              \
  X(kDownlinkNoSession, "downlink.no_session", "no session for the destination address")     \
  X(kDownlinkNotActive, "downlink.thing_not_active", "the Thing's state is not ACTIVE")      \
  X(kDownlinkDataDisabled, "downlink.data_disabled", "data service is off for the Thing")    \
  X(kDownlinkFirewall, "downlink.firewall", "denied by the inbound chain")

enum class DropReason : uint8_t {
#define SIMCORE_X(id, name, desc) id,
  SIMCORE_DROP_REASONS(SIMCORE_X)
#undef SIMCORE_X
      kCount
};

const char* verdict_name(Verdict v) noexcept;
const char* stage_name(Stage s) noexcept;
// Returns the counter name, e.g. "uplink.firewall".
const char* drop_reason_name(DropReason r) noexcept;
// Returns a one-line description for counter listings.
const char* drop_reason_description(DropReason r) noexcept;

// A packet as the policy sees it: the inner IP 5-tuple, host byte order. Ports are 0 for
// protocols without ports. `teid` is the uplink GTP-U TEID (ignored downlink).
struct PacketDesc {
  Direction dir = Direction::kUplink;
  uint32_t teid = 0;
  Ipv4 src;
  Ipv4 dst;
  uint8_t proto = 17;
  uint16_t sport = 0;
  uint16_t dport = 0;
};

// The outcome of one packet. Everything the data plane needs to act on it, and everything a
// person needs to know why. rule_id 0 means the chain's default action decided; kFlowRuleId
// means an established stateful flow let a reply in.
struct Decision {
  Verdict verdict = Verdict::kDrop;
  Stage stage = Stage::kSession;
  DropReason drop = DropReason::kNone;
  uint32_t rule_id = 0;
  ThingSlot thing{~0u};   // the Thing the packet belongs to (uplink: sender), if known
  ThingSlot target{~0u};  // kHairpin/kDeliver: the Thing it is delivered to
  PacketDesc out;         // the packet after rewrites (NAT)
  uint16_t vlan = 0;      // kForward: the 802.1Q tag on the core port (0 untagged)
  uint32_t tunnel = 0;    // kTunnel: the IPsec tunnel id
  Ipv4 peer_addr;         // kDeliver/kHairpin: GTP-U destination
  uint32_t peer_teid = 0;

  bool operator==(const Decision& o) const noexcept;
};

inline constexpr uint32_t kFlowRuleId = 0xffffffffu;
inline constexpr ThingSlot kNoThing{~0u};

}  // namespace simcore::core
