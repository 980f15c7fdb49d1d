// control/api/json_model.h — the JSON shapes of the API's objects (API.md, control/openapi.yaml),
// both ways, with Boost.JSON. Field names are camelCase; ids are JSON strings of decimal digits
// ("42") on output and must be such strings on input; addresses are dotted quads, prefixes
// "10.0.0.0/24", ports "80", "1000-2000" or "*"; enum values are upper-case names.
//
// Parsing is strict and checks the shape only: malformed JSON is one error without fields; an
// unknown field, a read-only field, a wrong type, a missing required field or a value that
// core's parsers (Ipv4, Cidr, PortRange, protocol, state, role, action, route target) reject is
// a field error named by its path ("inbound.rules[2].remotePorts", "things[3].iccid"), and every
// bad field of a body is named in one kInvalidArgument error. Rules between fields and objects
// (name lengths, ICCID digits, uniqueness, references) are core::Account's, which names fields
// the same way. Duplicate keys in one object: the last one wins (Boost.JSON's behaviour).
//
// Pure functions; any thread. to_json never emits an IPsec pre-shared key.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "core/account.h"
#include "core/model.h"
#include "core/result.h"
#include "core/verdict.h"

namespace simcore::ctl::api {

namespace json = boost::json;

// ------------------------------------------------------------------------------------ output

// Returns the Thing as GET /things/{thingId} shows it (no session: see session_to_json).
json::value to_json(const core::Thing& t);
// Returns GET /things/{thingId}/session: {online, ipAddress, apnName, rat, mcc, mnc, imei,
// bytesUp, bytesDown}; every key is present, null when offline. Byte counts come from the data
// plane's per-Thing counters.
json::value session_to_json(const core::Thing& t, uint64_t bytes_up, uint64_t bytes_down);
json::value to_json(const core::ThingsGroup& g);
// The network itself; pools, routes, NAT rules and tunnels have their own sub-resources.
json::value to_json(const core::Network& n);
json::value to_json(const core::IpPool& p);
json::value to_json(const core::Route& r);
json::value to_json(const core::NatRule& r);
// preSharedKey is write-only: never emitted.
json::value to_json(const core::IpsecTunnel& t);
json::value to_json(const core::FirewallRule& r);
json::value to_json(const core::Chain& c);
json::value to_json(const core::IpProfile& p);
json::value to_json(const core::User& u);
// Returns the answer of POST /things/{thingId}/evaluate: {verdict, stage, dropReason (null when
// not dropped), ruleId (null for a default action or none), statefulFlow, vlanId, tunnelId,
// thingId, targetThingId, out {protocol, srcAddress, dstAddress, srcPort, dstPort}}. `model`
// maps the decision's Thing slots to public ids.
json::value to_json(const core::Decision& d, const core::Model& model);

// Returns "UTRAN", "GERAN", "EUTRAN", "LTE_M", "NB_IOT" or "NR".
const char* rat_name(core::Rat r) noexcept;

// ------------------------------------------------------------------------------------- input

// Parses a request body. Malformed JSON: kInvalidArgument without fields, message with offset.
core::Result<json::value> parse_body(std::string_view text);

// Parses a decimal id as it appears in a path or a body ("42"): digits only, no leading zero,
// not 0, fits the id's type. Returns 0 on failure.
uint64_t parse_id_text(std::string_view text, uint64_t max) noexcept;

// POST /things: {"things": [item, ...]} with 1 to kMaxThingsPerRequest items; each item has
// iccid and imsi (required), msisdn, name, tags, thingsGroupId (default: the default group),
// state (default PROVISIONED), services ({data, sms}, each defaulting to true), imeiLock, ipLock,
// lockedAddress. Errors are named "things[i].field". Ids and slots are left for Account.
inline constexpr size_t kMaxThingsPerRequest = 10000;
core::Result<std::vector<core::Thing>> things_create_from_json(const json::value& v);

// PATCH /things/{thingId}: name, tags, thingsGroupId, services, ipLock, lockedAddress, imeiLock.
// A partial `services` object is completed from `current` (the Thing's services now).
core::Result<core::ThingPatch> thing_patch_from_json(const json::value& v,
                                                     const core::Services& current);

// PUT /things/{thingId}/state: {"state": "ACTIVE"}.
core::Result<core::ThingState> state_change_from_json(const json::value& v);

// POST /thingsgroups: name, networkId, ipProfileId (required), services (default all on).
core::Result<core::ThingsGroup> group_create_from_json(const json::value& v);
// PATCH /thingsgroups/{id}: any of name, networkId, ipProfileId, services, applied to
// `current`; returns the whole group for Account::update_group.
core::Result<core::ThingsGroup> group_patch_from_json(const json::value& v,
                                                      const core::ThingsGroup& current);

// POST /networks: name, apnName (required), isolation (default true), vlanId (default 0).
core::Result<core::Network> network_create_from_json(const json::value& v);
// PATCH /networks/{id}: name, isolation, vlanId; apnName is read-only after creation.
core::Result<core::NetworkPatch> network_patch_from_json(const json::value& v);

// POST and PATCH /networks/{id}/ippools[/{poolId}]: {"cidr": "10.1.0.0/16"}.
core::Result<core::Cidr> pool_from_json(const json::value& v);
// POST /networks/{id}/routes: destination, target (required), tunnelId (IPSEC_TUNNEL only).
core::Result<core::Route> route_create_from_json(const json::value& v);
// POST /networks/{id}/natrules: protocol, publicIp, publicPort, thingId, thingPort (all required).
core::Result<core::NatRule> nat_rule_create_from_json(const json::value& v);

// POST /networks/{id}/ipsectunnels: name, peerAddress, remoteSubnets, ikeProposals,
// espProposals, preSharedKey (required); localSubnets (default []), dpdSeconds (default 30),
// initiator (default true). The key is write-only: no error message repeats it.
core::Result<core::IpsecTunnel> tunnel_create_from_json(const json::value& v);
// PATCH .../ipsectunnels/{tunnelId}: any of the create fields, applied to `current`.
core::Result<core::IpsecTunnel> tunnel_patch_from_json(const json::value& v,
                                                       const core::IpsecTunnel& current);

// POST /ipprofiles: name (required), stateful (default false), inbound and outbound chains
// (default allow-all). A chain: defaultAction (default ALLOW), rules (default []); a rule:
// priority and action (required), protocol (default ANY), remote (default 0.0.0.0/0),
// remotePorts and localPorts (default "*"). Rule ids are assigned by Account (read-only here).
core::Result<core::IpProfile> profile_create_from_json(const json::value& v);
// PATCH /ipprofiles/{id}: any of name, stateful, inbound, outbound (a chain given replaces the
// whole chain), applied to `current`; returns the whole profile for Account::replace_profile.
core::Result<core::IpProfile> profile_patch_from_json(const json::value& v,
                                                      const core::IpProfile& current);

// POST /users: name, email, role (required), thingsGroupIds (default []). clientId is
// read-only (the daemon issues credentials).
core::Result<core::User> user_create_from_json(const json::value& v);
// PATCH /users/{id}: any of name, email, role, thingsGroupIds, applied to `current`.
core::Result<core::User> user_patch_from_json(const json::value& v, const core::User& current);

// POST /things/{thingId}/evaluate: a packet described from the Thing's side.
struct EvaluateRequest {
  core::Direction direction = core::Direction::kUplink;
  uint8_t protocol = 17;  // TCP, UDP or ICMP
  core::Ipv4 remote_address;
  uint16_t remote_port = 0;  // TCP/UDP only
  uint16_t local_port = 0;   // TCP/UDP only
};
// Fields: direction (UPLINK | DOWNLINK), protocol (TCP | UDP | ICMP), remoteAddress (required);
// remotePort, localPort (integers 0-65535, default 0; refused for ICMP).
core::Result<EvaluateRequest> evaluate_from_json(const json::value& v);
// Returns the packet the request describes for a Thing at `thing_addr` whose uplink TEID is
// `uplink_teid`: uplink thing→remote, downlink remote→thing.
core::PacketDesc to_packet(const EvaluateRequest& r, core::Ipv4 thing_addr, uint32_t uplink_teid);

}  // namespace simcore::ctl::api
