#include "core/validate.h"

#include <set>

namespace simcore::core {
namespace {

constexpr size_t kMaxName = 128;
constexpr size_t kMaxTags = 32;

void check_name(FieldErrors& errs, const std::string& field, const std::string& name,
                bool required) {
  if (required && name.empty()) errs.add(field, "must not be empty");
  if (name.size() > kMaxName) errs.add(field, "longer than 128 characters");
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) {
      errs.add(field, "contains a control character");
      break;
    }
  }
}

void check_services_ports(FieldErrors& errs, const FirewallRule& r) {
  const bool ported = r.protocol == Protocol::kTcp || r.protocol == Protocol::kUdp;
  if (!ported && !r.remote_ports.is_any()) {
    errs.add("remotePorts", "ports need protocol TCP or UDP");
  }
  if (!ported && !r.local_ports.is_any()) {
    errs.add("localPorts", "ports need protocol TCP or UDP");
  }
}

}  // namespace

bool is_digits(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool is_valid_apn(std::string_view s) noexcept {
  if (s.empty() || s.size() > 100) return false;
  size_t label = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '.') {
      if (label == 0 || label > 63) return false;
      label = 0;
      continue;
    }
    const char c = s[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-';
    if (!ok) return false;
    ++label;
  }
  return true;
}

bool is_valid_tag(std::string_view s) noexcept {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

Status validate_thing(const Thing& t) {
  FieldErrors errs;
  // ICCID: ITU-T E.118, 19 or 20 digits (the check digit included).
  if (!is_digits(t.iccid) || t.iccid.size() < 19 || t.iccid.size() > 20) {
    errs.add("iccid", "must be 19 or 20 digits");
  }
  // IMSI: E.212, MCC(3) + MNC(2-3) + MSIN, 6 to 15 digits. MCC 001 (test networks, as in real
  // lab captures) starts with 0, so a leading zero is allowed.
  if (!is_digits(t.imsi) || t.imsi.size() < 6 || t.imsi.size() > 15) {
    errs.add("imsi", "must be 6 to 15 digits");
  }
  if (!t.msisdn.empty() && (!is_digits(t.msisdn) || t.msisdn.size() > 15)) {
    errs.add("msisdn", "must be up to 15 digits");
  }
  check_name(errs, "name", t.name, false);
  if (!t.imei.empty() && (!is_digits(t.imei) || t.imei.size() < 14 || t.imei.size() > 16)) {
    errs.add("imei", "must be 14 to 16 digits (IMEI or IMEISV)");
  }
  if (t.tags.size() > kMaxTags) errs.add("tags", "more than 32 tags");
  std::set<std::string> seen;
  for (size_t i = 0; i < t.tags.size(); ++i) {
    const std::string f = "tags[" + std::to_string(i) + "]";
    if (!is_valid_tag(t.tags[i])) errs.add(f, "must be 1-64 of A-Z a-z 0-9 - _ . :");
    if (!seen.insert(t.tags[i]).second) errs.add(f, "duplicate tag");
  }
  if (t.ip_lock && !t.locked_addr.has_value()) errs.add("lockedAddress", "ipLock needs an address");
  if (!t.ip_lock && t.locked_addr.has_value()) errs.add("lockedAddress", "set without ipLock");
  if (!t.group) errs.add("thingsGroupId", "must be set");
  return errs.status();
}

Status validate_group(const ThingsGroup& g) {
  FieldErrors errs;
  check_name(errs, "name", g.name, true);
  if (!g.network) errs.add("networkId", "must be set");
  if (!g.profile) errs.add("ipProfileId", "must be set");
  return errs.status();
}

Status validate_network(const Network& n) {
  FieldErrors errs;
  check_name(errs, "name", n.name, true);
  if (!is_valid_apn(n.apn)) errs.add("apnName", "must be dot-separated labels of A-Z a-z 0-9 -");
  if (n.vlan > 4094) errs.add("vlanId", "must be 0 (untagged) to 4094");
  return errs.status();
}

Status validate_pool_cidr(const Cidr& c) {
  if (c.len < 8 || c.len > 30) {
    return Error::invalid("cidr", "prefix length must be /8 to /30 (" + c.str() + ")");
  }
  return Status::Ok();
}

Status validate_route(const Route& r) {
  FieldErrors errs;
  if (r.target == RouteTarget::kIpsecTunnel && !r.tunnel) {
    errs.add("tunnelId", "required for target IPSEC_TUNNEL");
  }
  if (r.target != RouteTarget::kIpsecTunnel && r.tunnel) {
    errs.add("tunnelId", "only for target IPSEC_TUNNEL");
  }
  return errs.status();
}

Status validate_nat_rule(const NatRule& r) {
  FieldErrors errs;
  if (r.protocol != Protocol::kTcp && r.protocol != Protocol::kUdp) {
    errs.add("protocol", "must be TCP or UDP");
  }
  if (r.public_ip.value == 0) errs.add("publicIp", "must be set");
  if (r.public_port == 0) errs.add("publicPort", "must be 1 to 65535");
  if (!r.thing) errs.add("thingId", "must be set");
  if (r.thing_port == 0) errs.add("thingPort", "must be 1 to 65535");
  return errs.status();
}

Status validate_tunnel(const IpsecTunnel& t) {
  FieldErrors errs;
  check_name(errs, "name", t.name, true);
  if (t.peer.value == 0) errs.add("peerAddress", "must be set");
  if (t.remote_subnets.empty()) errs.add("remoteSubnets", "at least one subnet");
  if (t.ike_proposals.empty()) errs.add("ikeProposals", "at least one proposal");
  if (t.esp_proposals.empty()) errs.add("espProposals", "at least one proposal");
  if (t.pre_shared_key.size() < 16) errs.add("preSharedKey", "at least 16 characters");
  if (t.dpd_seconds > 3600) errs.add("dpdSeconds", "at most 3600");
  return errs.status();
}

Status validate_chain(const Chain& c) {
  FieldErrors errs;
  if (c.rules.size() > 10000) errs.add("rules", "more than 10000 rules");
  std::set<uint32_t> priorities;
  for (size_t i = 0; i < c.rules.size(); ++i) {
    const FirewallRule& r = c.rules[i];
    FieldErrors rule;
    if (!priorities.insert(r.priority).second) rule.add("priority", "duplicate priority in chain");
    check_services_ports(rule, r);
    errs.merge("rules[" + std::to_string(i) + "]", rule.status());
  }
  return errs.status();
}

Status validate_profile(const IpProfile& p) {
  FieldErrors errs;
  check_name(errs, "name", p.name, true);
  errs.merge("inbound", validate_chain(p.inbound));
  errs.merge("outbound", validate_chain(p.outbound));
  return errs.status();
}

Status validate_user(const User& u) {
  FieldErrors errs;
  check_name(errs, "name", u.name, true);
  const size_t at = u.email.find('@');
  if (at == std::string::npos || at == 0 || at + 1 == u.email.size() || u.email.size() > 254) {
    errs.add("email", "not an e-mail address");
  }
  if (u.role == Role::kGroupUser && u.groups.empty()) {
    errs.add("thingsGroupIds", "GROUP_USER needs at least one group");
  }
  if (u.role != Role::kGroupUser && !u.groups.empty()) {
    errs.add("thingsGroupIds", "only for GROUP_USER");
  }
  return errs.status();
}

}  // namespace simcore::core
