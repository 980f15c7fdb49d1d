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
#include <optional>
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

// Returns an API date-time: RFC 3339 in UTC with milliseconds, "2027-01-15T08:00:00.000Z".
std::string time_text(int64_t ms_since_epoch);

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

// Ok when an SMS text fits 10 concatenated SMS: 1 to 1530 GSM 03.38 septets (the extension
// characters ^ { } \ [ ] ~ | € take two), or, with any character outside that alphabet, 1 to 670
// UCS-2 code units. Fails kInvalidArgument on the field "text"; invalid UTF-8 is refused too.
core::Status check_sms_text(std::string_view text);
// POST /things/{thingId}/sms: text (required; check_sms_text), validitySeconds (60 to 604800;
// unset: the daemon's default).
struct SmsCreate {
  std::string text;
  std::optional<int64_t> validity_s;
};
core::Result<SmsCreate> sms_create_from_json(const json::value& v);

// POST /billingreports: scope and cycle ("YYYY-MM", a calendar month in UTC) required;
// thingsGroupId is required for scope THINGS_GROUP and thingId for THING, and each is refused
// with another scope. Whether the ids exist is the caller's business.
enum class BillingScope : uint8_t { kAccount, kThingsGroup, kThing };
const char* billing_scope_name(BillingScope s) noexcept;  // "ACCOUNT", ...
struct BillingReportRequest {
  BillingScope scope = BillingScope::kAccount;
  core::GroupId group;  // THINGS_GROUP
  core::ThingId thing;  // THING
  int year = 0;
  unsigned month = 0;  // 1-12
};
core::Result<BillingReportRequest> billing_report_from_json(const json::value& v);
// Returns the request in the form billing_report_from_json reads.
json::value to_json(const BillingReportRequest& r);

// POST /bulkactions: action and selector (required), dryRun (default false), and the action's
// parameter, required for it and refused for the others: thingsGroupId (SET_GROUP), tag
// (ADD_TAG, REMOVE_TAG), services (SET_SERVICES; a field left out keeps each Thing's value).
// The selector needs at least one of tags, thingsGroupId, thingIds, state; tags and thingIds
// (at most kMaxBulkThingIds) must not be empty when given. Whether the ids exist is the
// caller's business.
enum class BulkAction : uint8_t {
  kActivate,
  kSuspend,
  kRetire,
  kSetGroup,
  kAddTag,
  kRemoveTag,
  kSetServices
};
const char* bulk_action_name(BulkAction a) noexcept;  // "ACTIVATE", ...
inline constexpr size_t kMaxBulkThingIds = 100000;
struct BulkSelector {
  std::vector<std::string> tags;
  bool all_tags = false;  // tagMatch "all" (default "any")
  std::optional<core::GroupId> group;
  std::optional<std::vector<core::ThingId>> thing_ids;
  std::optional<core::ThingState> state;
};
struct BulkActionRequest {
  BulkAction action = BulkAction::kActivate;
  BulkSelector selector;
  bool dry_run = false;
  core::GroupId group;            // SET_GROUP
  std::string tag;                // ADD_TAG, REMOVE_TAG
  std::optional<bool> data, sms;  // SET_SERVICES
};
core::Result<BulkActionRequest> bulk_action_from_json(const json::value& v);
// Returns the request in the form bulk_action_from_json reads (no defaults filled in).
json::value to_json(const BulkActionRequest& r);

}  // namespace simcore::ctl::api
