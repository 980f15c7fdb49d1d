// core/model.h — the desired state of one account, as the API describes it.
// Plain structs; the invariants between objects (unique ICCIDs, pools that do not overlap, NAT
// rules on locked IPs, ...) are kept by core::Account, which is the only writer. Addresses here
// are host byte order. Control-thread only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/types.h"

namespace simcore::core {

// API.md "Thing lifecycle". Transitions are in thing_state.h.
enum class ThingState : uint8_t { kProvisioned, kActive, kSuspended, kRetired };

struct Services {
  bool data = true;
  bool sms = true;
  constexpr bool operator==(const Services&) const = default;
};

// Radio access technologies of TS 29.274 8.17 that an attach may name.
enum class Rat : uint8_t { kUtran = 1, kGeran = 2, kEutran = 6, kLteM = 8, kNbIot = 9, kNr = 10 };

// An open data session (a PDN connection / PDP context). Created by attach, removed by detach.
// The uplink TEID is ours (we allocated it); the peer F-TEID is where downlink goes.
struct Session {
  Ipv4 ue_addr;
  uint32_t uplink_teid = 0;
  Ipv4 peer_addr;          // eNodeB/SGW GTP-U address
  uint32_t peer_teid = 0;  // eNodeB/SGW TEID for downlink encapsulation
  std::string apn;
  Rat rat = Rat::kEutran;
  uint16_t mcc = 0;
  uint16_t mnc = 0;
};

struct Thing {
  ThingId id;
  ThingSlot slot;
  std::string iccid;   // 19-20 digits
  std::string imsi;    // 15 digits
  std::string msisdn;  // up to 15 digits
  std::string name;
  ThingState state = ThingState::kProvisioned;
  GroupId group;
  std::vector<std::string> tags;
  std::string imei;  // last seen, 15 digits or empty
  bool imei_lock = false;
  bool ip_lock = false;
  std::optional<Ipv4> locked_addr;  // set iff ip_lock
  Services services;
  std::optional<Session> session;
};

struct ThingsGroup {
  GroupId id;
  std::string name;
  NetworkId network;
  ProfileId profile;
  Services services;
  bool is_default = false;
};

struct IpPool {
  PoolId id;
  Cidr cidr;
};

enum class RouteTarget : uint8_t { kInternet, kIpsecTunnel, kBlackhole };

struct Route {
  RouteId id;
  Cidr destination;
  RouteTarget target = RouteTarget::kInternet;
  TunnelId tunnel;  // set iff target is kIpsecTunnel
};

// Port forwarding: traffic to public_ip:public_port goes to the Thing's locked IP at thing_port,
// and the Thing's replies from thing_port leave as public_ip:public_port.
struct NatRule {
  NatRuleId id;
  Protocol protocol = Protocol::kTcp;  // TCP or UDP
  Ipv4 public_ip;
  uint16_t public_port = 0;
  ThingId thing;
  uint16_t thing_port = 0;
};

struct IpsecTunnel {
  TunnelId id;
  std::string name;
  Ipv4 peer;
  std::vector<Cidr> local_subnets;   // empty: the network's pools
  std::vector<Cidr> remote_subnets;  // at least one
  std::vector<std::string> ike_proposals;  // strongSwan syntax, e.g. "aes128-sha256-modp2048"
  std::vector<std::string> esp_proposals;  // e.g. "aes128gcm16"
  std::string pre_shared_key;              // write-only at the API; never logged
  uint32_t dpd_seconds = 30;
  bool initiator = true;
};

struct Network {
  NetworkId id;
  std::string name;
  std::string apn;
  std::vector<IpPool> pools;
  std::vector<Route> routes;
  std::vector<NatRule> nat_rules;
  std::vector<IpsecTunnel> tunnels;
  bool isolation = true;  // Things of this network may not reach each other
  uint16_t vlan = 0;      // 802.1Q tag on the core port; 0 = untagged
};

enum class Action : uint8_t { kAllow, kDeny };

struct FirewallRule {
  RuleId id;
  uint32_t priority = 0;  // lower is evaluated first; unique within a chain
  Action action = Action::kAllow;
  Protocol protocol = Protocol::kAny;
  Cidr remote{Ipv4{0}, 0};  // the far end: destination uplink, source downlink
  PortRange remote_ports;   // TCP/UDP only
  PortRange local_ports;    // the Thing's port, TCP/UDP only
};

struct Chain {
  Action default_action = Action::kAllow;  // an empty chain is allow-all
  std::vector<FirewallRule> rules;
};

struct IpProfile {
  ProfileId id;
  std::string name;
  Chain inbound;
  Chain outbound;
  bool stateful = false;  // replies to flows the Thing opened pass the inbound chain
};

enum class Role : uint8_t { kAdmin, kStandard, kGroupUser, kMonitor };

struct User {
  UserId id;
  std::string name;
  std::string email;
  Role role = Role::kMonitor;
  std::vector<GroupId> groups;  // GROUP_USER only
  std::string client_id;
};

const char* state_name(ThingState s) noexcept;
Result<ThingState> parse_state(std::string_view text);
const char* role_name(Role r) noexcept;
Result<Role> parse_role(std::string_view text);
const char* action_name(Action a) noexcept;
Result<Action> parse_action(std::string_view text);
const char* route_target_name(RouteTarget t) noexcept;
Result<RouteTarget> parse_route_target(std::string_view text);

}  // namespace simcore::core
