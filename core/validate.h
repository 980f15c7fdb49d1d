// core/validate.h — field validation of single objects, independent of the rest of the account.
// Each returns Ok or one kInvalidArgument error naming every bad field with the API's
// camelCase names ("iccid", "inbound.rules[2].localPorts"). Cross-object rules (uniqueness,
// references, overlaps) are core::Account's. Pure functions; any thread.
#pragma once

#include "core/model.h"

namespace simcore::core {

Status validate_thing(const Thing& t);
Status validate_group(const ThingsGroup& g);
Status validate_network(const Network& n);  // name, apn, vlan; pools etc. are added separately
Status validate_route(const Route& r);
Status validate_nat_rule(const NatRule& r);
Status validate_tunnel(const IpsecTunnel& t);
Status validate_chain(const Chain& c);
Status validate_profile(const IpProfile& p);
Status validate_user(const User& u);
Status validate_pool_cidr(const Cidr& c);  // prefix /8 to /30

bool is_digits(std::string_view s) noexcept;
// An APN network identifier (TS 23.003 9.1.1): dot-separated labels of letters, digits and
// hyphens, 1..63 characters each, at most 100 in all.
bool is_valid_apn(std::string_view s) noexcept;
bool is_valid_tag(std::string_view s) noexcept;

}  // namespace simcore::core
