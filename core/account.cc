#include "core/account.h"

#include <algorithm>
#include <set>

#include "core/check.h"
#include "core/thing_state.h"
#include "core/validate.h"

namespace simcore::core {
namespace {

std::string idx(size_t i) { return "[" + std::to_string(i) + "]"; }

Error not_found(const std::string& what, uint64_t id) {
  return Error(Code::kNotFound, what + " " + std::to_string(id) + " does not exist");
}

template <class V, class IdT>
auto find_by_id(V& vec, IdT id) -> decltype(vec.begin()) {
  return std::find_if(vec.begin(), vec.end(), [&](const auto& x) { return x.id == id; });
}

// The rules a tunnel keeps on creation and on change; `self` is the tunnel being changed.
Status check_tunnel(const Network& n, const IpsecTunnel& spec, TunnelId self) {
  if (Status s = validate_tunnel(spec); !s) return s;
  for (const IpsecTunnel& t : n.tunnels) {
    if (t.id != self && t.name == spec.name) {
      return Error::on_field(Code::kAlreadyExists, "name", "name taken");
    }
  }
  return Status::Ok();
}

// The rules a user keeps on creation and on change; `self` is the user being changed.
Status check_user(const Model& m, const User& spec, UserId self) {
  if (Status s = validate_user(spec); !s) return s;
  FieldErrors errs;
  for (size_t i = 0; i < spec.groups.size(); ++i) {
    if (!m.groups.count(spec.groups[i])) {
      errs.add("thingsGroupIds" + idx(i), "no such things group");
    }
  }
  for (const auto& [id, u] : m.users) {
    if (id != self && u.email == spec.email) errs.add("email", "already used by another user");
  }
  return errs.status();
}

}  // namespace

Account::Account(const ShippedDefaults& d) {
  // The defaults are the program's own constants: failing here is a bug, not bad input.
  Network net;
  net.name = d.network_name;
  net.apn = d.apn;
  Result<NetworkId> nid = create_network(net);
  SIMCORE_CHECK(nid.ok());
  SIMCORE_CHECK(add_pool(*nid, d.pool).ok());
  IpProfile prof;
  prof.name = d.profile_name;
  Result<ProfileId> pid = create_profile(prof);
  SIMCORE_CHECK(pid.ok());
  ThingsGroup g;
  g.name = d.group_name;
  g.network = *nid;
  g.profile = *pid;
  Result<GroupId> gid = create_group(g);
  SIMCORE_CHECK(gid.ok());
  default_group_ = *gid;
  model_.groups[default_group_].is_default = true;
}

void Account::raise_id_counters(IdCounters floor) noexcept {
  next_id_ = std::max(next_id_, floor.next_id);
  next_thing_id_ = std::max(next_thing_id_, floor.next_thing_id);
}

Result<Account> Account::restore(Model model) {
  Account a(ShippedDefaults{});
  a.model_ = Model{};
  a.allocators_.clear();
  a.default_group_ = GroupId{};
  uint32_t max_id = 0;
  auto seen = [&](uint32_t v) { max_id = std::max(max_id, v); };
  for (const auto& [gid, g] : model.groups) {
    seen(gid.value);
    if (g.is_default) {
      if (a.default_group_) return Error::invalid("groups", "two default groups");
      a.default_group_ = gid;
    }
  }
  if (!a.default_group_) return Error::invalid("groups", "no default group");
  for (const auto& [pid, p] : model.profiles) {
    seen(pid.value);
    for (const auto* chain : {&p.inbound, &p.outbound}) {
      for (const FirewallRule& r : chain->rules) seen(r.id.value);
    }
  }
  for (const auto& [uid, u] : model.users) seen(uid.value);
  for (const auto& [nid, n] : model.networks) {
    seen(nid.value);
    IpAllocator& alloc = a.allocators_[nid];
    for (const IpPool& p : n.pools) {
      seen(p.id.value);
      if (Status s = alloc.add_pool(p.id, p.cidr); !s) {
        return Error::invalid("networks[" + std::to_string(nid.value) + "].pools",
                              s.error().message());
      }
    }
    for (const Route& r : n.routes) seen(r.id.value);
    for (const NatRule& r : n.nat_rules) seen(r.id.value);
    for (const IpsecTunnel& t : n.tunnels) seen(t.id.value);
  }
  for (size_t i = 0; i < model.things.size(); ++i) {
    Thing& t = model.things[i];
    const std::string f = "things[" + std::to_string(t.id.value) + "]";
    if (t.slot.value != i) return Error::invalid(f + ".slot", "slot does not match position");
    const auto g = model.groups.find(t.group);
    if (g == model.groups.end()) return Error::invalid(f + ".thingsGroupId", "no such group");
    if (!a.by_id_.emplace(t.id.value, t.slot.value).second ||
        !a.by_iccid_.emplace(t.iccid, t.slot.value).second ||
        !a.by_imsi_.emplace(t.imsi, t.slot.value).second) {
      return Error::invalid(f, "duplicate id, ICCID or IMSI");
    }
    a.next_thing_id_ = std::max(a.next_thing_id_, t.id.value + 1);
    IpAllocator& alloc = a.allocators_[g->second.network];
    if (t.locked_addr) {
      if (Status s = alloc.reserve(*t.locked_addr); !s) {
        return Error::invalid(f + ".lockedAddress", s.error().message());
      }
    }
    if (t.session) {
      const bool locked_same = t.locked_addr && *t.locked_addr == t.session->ue_addr;
      if (!locked_same) {
        if (Status s = alloc.reserve(t.session->ue_addr); !s) {
          return Error::invalid(f + ".session.ueAddress", s.error().message());
        }
      }
      if (!a.by_teid_.emplace(t.session->uplink_teid, t.slot.value).second) {
        return Error::invalid(f + ".session.uplinkTeid", "TEID used twice");
      }
    }
  }
  a.next_id_ = max_id + 1;
  a.model_ = std::move(model);
  return a;
}

// ---------------------------------------------------------------- lookups

const Thing* Account::thing(ThingId id) const noexcept {
  auto it = by_id_.find(id.value);
  return it == by_id_.end() ? nullptr : &model_.things[it->second];
}
Thing* Account::mutable_thing(ThingId id) noexcept {
  auto it = by_id_.find(id.value);
  return it == by_id_.end() ? nullptr : &model_.things[it->second];
}
const Thing* Account::thing_by_iccid(std::string_view iccid) const noexcept {
  auto it = by_iccid_.find(std::string(iccid));
  return it == by_iccid_.end() ? nullptr : &model_.things[it->second];
}
const Thing* Account::thing_by_imsi(std::string_view imsi) const noexcept {
  auto it = by_imsi_.find(std::string(imsi));
  return it == by_imsi_.end() ? nullptr : &model_.things[it->second];
}
const Thing* Account::thing_by_teid(uint32_t teid) const noexcept {
  auto it = by_teid_.find(teid);
  return it == by_teid_.end() ? nullptr : &model_.things[it->second];
}
const ThingsGroup* Account::group(GroupId id) const noexcept {
  auto it = model_.groups.find(id);
  return it == model_.groups.end() ? nullptr : &it->second;
}
const Network* Account::network(NetworkId id) const noexcept {
  auto it = model_.networks.find(id);
  return it == model_.networks.end() ? nullptr : &it->second;
}
Network* Account::mutable_network(NetworkId id) noexcept {
  auto it = model_.networks.find(id);
  return it == model_.networks.end() ? nullptr : &it->second;
}
const IpProfile* Account::profile(ProfileId id) const noexcept {
  auto it = model_.profiles.find(id);
  return it == model_.profiles.end() ? nullptr : &it->second;
}
const IpAllocator* Account::allocator(NetworkId id) const noexcept {
  auto it = allocators_.find(id);
  return it == allocators_.end() ? nullptr : &it->second;
}
NetworkId Account::network_of(const Thing& t) const noexcept {
  const ThingsGroup* g = group(t.group);
  return g ? g->network : NetworkId{};
}
bool Account::data_allowed(const Thing& t) const noexcept {
  const ThingsGroup* g = group(t.group);
  return t.services.data && g != nullptr && g->services.data;
}

// ---------------------------------------------------------------- networks

Result<NetworkId> Account::create_network(const Network& spec) {
  if (Status s = validate_network(spec); !s) return s.error();
  for (const auto& [id, n] : model_.networks) {
    if (n.name == spec.name) return Error::on_field(Code::kAlreadyExists, "name", "name taken");
    if (n.apn == spec.apn) return Error::on_field(Code::kAlreadyExists, "apnName", "APN taken");
  }
  Network n;
  n.id = NetworkId{next_id_++};
  n.name = spec.name;
  n.apn = spec.apn;
  n.isolation = spec.isolation;
  n.vlan = spec.vlan;
  allocators_.emplace(n.id, IpAllocator{});
  model_.networks.emplace(n.id, std::move(n));
  return NetworkId{next_id_ - 1};
}

Status Account::update_network(NetworkId id, const NetworkPatch& patch) {
  Network* n = mutable_network(id);
  if (!n) return not_found("network", id.value);
  Network next = *n;
  if (patch.name) next.name = *patch.name;
  if (patch.isolation) next.isolation = *patch.isolation;
  if (patch.vlan) next.vlan = *patch.vlan;
  if (Status s = validate_network(next); !s) return s;
  for (const auto& [oid, o] : model_.networks) {
    if (oid != id && o.name == next.name) {
      return Error::on_field(Code::kAlreadyExists, "name", "name taken");
    }
  }
  *n = std::move(next);
  return Status::Ok();
}

Status Account::delete_network(NetworkId id) {
  if (!network(id)) return not_found("network", id.value);
  for (const auto& [gid, g] : model_.groups) {
    if (g.network == id) {
      return Error(Code::kFailedPrecondition,
                   "network is used by things group " + std::to_string(gid.value));
    }
  }
  model_.networks.erase(id);
  allocators_.erase(id);
  return Status::Ok();
}

Status Account::check_pool_free(Cidr cidr, NetworkId self, PoolId except) const {
  for (const auto& [nid, n] : model_.networks) {
    for (const IpPool& p : n.pools) {
      if (nid == self && p.id == except) continue;
      if (p.cidr.overlaps(cidr)) {
        return Error::invalid(
            "cidr", "overlaps pool " + p.cidr.str() + " of network " + std::to_string(nid.value));
      }
    }
    for (const NatRule& r : n.nat_rules) {
      if (cidr.contains(r.public_ip)) {
        return Error::invalid("cidr", "contains NAT public address " + r.public_ip.str());
      }
    }
  }
  return Status::Ok();
}

Result<PoolId> Account::add_pool(NetworkId nid, Cidr cidr) {
  Network* n = mutable_network(nid);
  if (!n) return not_found("network", nid.value);
  if (Status s = validate_pool_cidr(cidr); !s) return s.error();
  if (Status s = check_pool_free(cidr, nid, PoolId{}); !s) return s.error();
  const PoolId pid{next_id_++};
  if (Status s = allocators_.at(nid).add_pool(pid, cidr); !s) return s.error();
  n->pools.push_back({pid, cidr});
  return pid;
}

Status Account::resize_pool(NetworkId nid, PoolId pid, Cidr cidr) {
  Network* n = mutable_network(nid);
  if (!n) return not_found("network", nid.value);
  auto it = find_by_id(n->pools, pid);
  if (it == n->pools.end()) return not_found("pool", pid.value);
  if (Status s = validate_pool_cidr(cidr); !s) return s;
  if (Status s = check_pool_free(cidr, nid, pid); !s) return s;
  // Locked addresses are leases too, so the allocator's check covers them.
  if (Status s = allocators_.at(nid).resize_pool(pid, cidr); !s) return s;
  it->cidr = cidr;
  return Status::Ok();
}

Status Account::remove_pool(NetworkId nid, PoolId pid) {
  Network* n = mutable_network(nid);
  if (!n) return not_found("network", nid.value);
  auto it = find_by_id(n->pools, pid);
  if (it == n->pools.end()) return not_found("pool", pid.value);
  if (Status s = allocators_.at(nid).remove_pool(pid); !s) return s;
  n->pools.erase(it);
  return Status::Ok();
}

Result<RouteId> Account::add_route(NetworkId nid, const Route& spec) {
  Network* n = mutable_network(nid);
  if (!n) return not_found("network", nid.value);
  if (Status s = validate_route(spec); !s) return s.error();
  if (spec.target == RouteTarget::kIpsecTunnel &&
      find_by_id(n->tunnels, spec.tunnel) == n->tunnels.end()) {
    return Error::invalid("tunnelId",
                          "no tunnel " + std::to_string(spec.tunnel.value) + " in this network");
  }
  for (const Route& r : n->routes) {
    if (r.destination == spec.destination) {
      return Error::on_field(Code::kConflict, "destination",
                             "a route to " + r.destination.str() + " exists");
    }
  }
  Route r = spec;
  r.id = RouteId{next_id_++};
  n->routes.push_back(r);
  return r.id;
}

Status Account::remove_route(NetworkId nid, RouteId rid) {
  Network* n = mutable_network(nid);
  if (!n) return not_found("network", nid.value);
  auto it = find_by_id(n->routes, rid);
  if (it == n->routes.end()) return not_found("route", rid.value);
  n->routes.erase(it);
  return Status::Ok();
}

Result<NatRuleId> Account::add_nat_rule(NetworkId nid, const NatRule& spec) {
  Network* n = mutable_network(nid);
  if (!n) return not_found("network", nid.value);
  if (Status s = validate_nat_rule(spec); !s) return s.error();
  const Thing* t = thing(spec.thing);
  if (!t) return Error::invalid("thingId", "no such thing");
  if (network_of(*t) != nid) {
    return Error::invalid("thingId", "thing is not in a group of this network");
  }
  if (!t->ip_lock) {
    return Error::on_field(Code::kFailedPrecondition, "thingId", "the thing's IP must be locked");
  }
  for (const auto& [oid, o] : model_.networks) {
    for (const IpPool& p : o.pools) {
      if (p.cidr.contains(spec.public_ip)) {
        return Error::invalid("publicIp", "inside pool " + p.cidr.str());
      }
    }
    for (const NatRule& r : o.nat_rules) {
      if (r.public_ip == spec.public_ip && r.protocol == spec.protocol &&
          r.public_port == spec.public_port) {
        return Error::on_field(Code::kConflict, "publicPort",
                               "already forwarded by NAT rule " + std::to_string(r.id.value));
      }
      if (r.thing == spec.thing && r.protocol == spec.protocol && r.thing_port == spec.thing_port) {
        return Error::on_field(Code::kConflict, "thingPort",
                               "already forwarded by NAT rule " + std::to_string(r.id.value));
      }
    }
  }
  NatRule r = spec;
  r.id = NatRuleId{next_id_++};
  n->nat_rules.push_back(r);
  return r.id;
}

Status Account::remove_nat_rule(NetworkId nid, NatRuleId rid) {
  Network* n = mutable_network(nid);
  if (!n) return not_found("network", nid.value);
  auto it = find_by_id(n->nat_rules, rid);
  if (it == n->nat_rules.end()) return not_found("NAT rule", rid.value);
  n->nat_rules.erase(it);
  return Status::Ok();
}

Result<TunnelId> Account::add_tunnel(NetworkId nid, const IpsecTunnel& spec) {
  Network* n = mutable_network(nid);
  if (!n) return not_found("network", nid.value);
  if (Status s = check_tunnel(*n, spec, TunnelId{}); !s) return s.error();
  IpsecTunnel t = spec;
  t.id = TunnelId{next_id_++};
  n->tunnels.push_back(t);
  return t.id;
}

Status Account::update_tunnel(NetworkId nid, TunnelId tid, const IpsecTunnel& spec) {
  Network* n = mutable_network(nid);
  if (!n) return not_found("network", nid.value);
  auto it = find_by_id(n->tunnels, tid);
  if (it == n->tunnels.end()) return not_found("tunnel", tid.value);
  if (Status s = check_tunnel(*n, spec, tid); !s) return s;
  *it = spec;
  it->id = tid;
  return Status::Ok();
}

Status Account::remove_tunnel(NetworkId nid, TunnelId tid) {
  Network* n = mutable_network(nid);
  if (!n) return not_found("network", nid.value);
  auto it = find_by_id(n->tunnels, tid);
  if (it == n->tunnels.end()) return not_found("tunnel", tid.value);
  for (const Route& r : n->routes) {
    if (r.target == RouteTarget::kIpsecTunnel && r.tunnel == tid) {
      return Error(Code::kFailedPrecondition,
                   "tunnel is used by route " + std::to_string(r.id.value));
    }
  }
  n->tunnels.erase(it);
  return Status::Ok();
}

// ---------------------------------------------------------------- profiles

Result<ProfileId> Account::create_profile(const IpProfile& spec) {
  if (Status s = validate_profile(spec); !s) return s.error();
  for (const auto& [id, p] : model_.profiles) {
    if (p.name == spec.name) return Error::on_field(Code::kAlreadyExists, "name", "name taken");
  }
  IpProfile p = spec;
  p.id = ProfileId{next_id_++};
  for (auto* chain : {&p.inbound, &p.outbound}) {
    for (FirewallRule& r : chain->rules) r.id = RuleId{next_id_++};
  }
  const ProfileId id = p.id;
  model_.profiles.emplace(id, std::move(p));
  return id;
}

Status Account::replace_profile(ProfileId id, const IpProfile& spec) {
  auto it = model_.profiles.find(id);
  if (it == model_.profiles.end()) return not_found("IP profile", id.value);
  if (Status s = validate_profile(spec); !s) return s;
  for (const auto& [oid, p] : model_.profiles) {
    if (oid != id && p.name == spec.name) {
      return Error::on_field(Code::kAlreadyExists, "name", "name taken");
    }
  }
  IpProfile p = spec;
  p.id = id;
  // Rules keep their ids when the caller passes them (hit counters survive an edit).
  std::set<uint32_t> known;
  for (const auto* chain : {&it->second.inbound, &it->second.outbound}) {
    for (const FirewallRule& r : chain->rules) known.insert(r.id.value);
  }
  for (auto* chain : {&p.inbound, &p.outbound}) {
    for (FirewallRule& r : chain->rules) {
      if (!r.id || !known.erase(r.id.value)) r.id = RuleId{next_id_++};
    }
  }
  it->second = std::move(p);
  return Status::Ok();
}

Status Account::delete_profile(ProfileId id) {
  if (!profile(id)) return not_found("IP profile", id.value);
  for (const auto& [gid, g] : model_.groups) {
    if (g.profile == id) {
      return Error(Code::kFailedPrecondition,
                   "IP profile is used by things group " + std::to_string(gid.value));
    }
  }
  model_.profiles.erase(id);
  return Status::Ok();
}

// ---------------------------------------------------------------- groups

Result<GroupId> Account::create_group(const ThingsGroup& spec) {
  if (Status s = validate_group(spec); !s) return s.error();
  FieldErrors errs;
  if (!network(spec.network)) errs.add("networkId", "no such network");
  if (!profile(spec.profile)) errs.add("ipProfileId", "no such IP profile");
  if (Status s = errs.status(); !s) return s.error();
  for (const auto& [id, g] : model_.groups) {
    if (g.name == spec.name) return Error::on_field(Code::kAlreadyExists, "name", "name taken");
  }
  ThingsGroup g = spec;
  g.id = GroupId{next_id_++};
  g.is_default = false;
  model_.groups.emplace(g.id, g);
  return g.id;
}

Status Account::update_group(GroupId id, const ThingsGroup& spec) {
  auto it = model_.groups.find(id);
  if (it == model_.groups.end()) return not_found("things group", id.value);
  if (Status s = validate_group(spec); !s) return s;
  FieldErrors errs;
  if (!network(spec.network)) errs.add("networkId", "no such network");
  if (!profile(spec.profile)) errs.add("ipProfileId", "no such IP profile");
  if (Status s = errs.status(); !s) return s;
  for (const auto& [oid, g] : model_.groups) {
    if (oid != id && g.name == spec.name) {
      return Error::on_field(Code::kAlreadyExists, "name", "name taken");
    }
  }
  if (spec.network != it->second.network) {
    for (const Thing& t : model_.things) {
      if (t.group == id && (t.session || t.ip_lock)) {
        return Error::on_field(Code::kFailedPrecondition, "networkId",
                               "thing " + std::to_string(t.id.value) +
                                   " is attached or has a locked IP in the current network");
      }
    }
  }
  ThingsGroup g = spec;
  g.id = id;
  g.is_default = it->second.is_default;
  it->second = g;
  return Status::Ok();
}

Status Account::delete_group(GroupId id) {
  auto it = model_.groups.find(id);
  if (it == model_.groups.end()) return not_found("things group", id.value);
  if (it->second.is_default) {
    return Error(Code::kFailedPrecondition, "the default things group cannot be deleted");
  }
  const NetworkId def_net = model_.groups.at(default_group_).network;
  if (it->second.network != def_net) {
    for (const Thing& t : model_.things) {
      if (t.group == id && (t.session || t.ip_lock)) {
        return Error(Code::kFailedPrecondition,
                     "thing " + std::to_string(t.id.value) +
                         " is attached or has a locked IP; it cannot move to the default group");
      }
    }
  }
  for (const auto& [uid, u] : model_.users) {
    if (u.role == Role::kGroupUser && u.groups.size() == 1 && u.groups[0] == id) {
      return Error(Code::kFailedPrecondition,
                   "the group is the only group of user " + std::to_string(uid.value));
    }
  }
  for (Thing& t : model_.things) {
    if (t.group == id) t.group = default_group_;
  }
  for (auto& [uid, u] : model_.users) {
    std::erase(u.groups, id);
  }
  model_.groups.erase(it);
  return Status::Ok();
}

// ---------------------------------------------------------------- things

Result<std::vector<ThingId>> Account::provision(const std::vector<Thing>& specs) {
  // Validate the whole batch before touching anything: nothing is half-applied.
  FieldErrors errs;
  std::unordered_map<std::string, size_t> iccids;
  std::unordered_map<std::string, size_t> imsis;
  std::map<NetworkId, std::set<uint32_t>> locked;  // batch-local reservations
  for (size_t i = 0; i < specs.size(); ++i) {
    Thing t = specs[i];
    if (!t.group) t.group = default_group_;
    FieldErrors one;
    one.merge("", validate_thing(t));
    const ThingsGroup* g = group(t.group);
    if (!g) one.add("thingsGroupId", "no such things group");
    if (t.session) one.add("session", "a provisioned thing has no session");
    if (t.state == ThingState::kRetired && t.ip_lock) {
      one.add("ipLock", "a RETIRED thing holds no address");
    }
    if (!t.iccid.empty()) {
      if (by_iccid_.count(t.iccid)) one.add("iccid", "already provisioned");
      if (auto [it, fresh] = iccids.emplace(t.iccid, i); !fresh) {
        one.add("iccid", "duplicate of item " + std::to_string(it->second));
      }
    }
    if (!t.imsi.empty()) {
      if (by_imsi_.count(t.imsi)) one.add("imsi", "already provisioned");
      if (auto [it, fresh] = imsis.emplace(t.imsi, i); !fresh) {
        one.add("imsi", "duplicate of item " + std::to_string(it->second));
      }
    }
    if (g && t.locked_addr) {
      const IpAllocator& a = allocators_.at(g->network);
      if (!a.contains(*t.locked_addr)) {
        one.add("lockedAddress", "not in a pool of the group's network");
      } else if (a.is_leased(*t.locked_addr) ||
                 !locked[g->network].insert(t.locked_addr->value).second) {
        one.add("lockedAddress", "already in use");
      }
    }
    errs.merge(idx(i), one.status());
  }
  if (Status s = errs.status(); !s) return s.error();

  // Reserve locked addresses first; a failure here (network/broadcast address) undoes them.
  std::vector<std::pair<NetworkId, Ipv4>> reserved;
  for (size_t i = 0; i < specs.size(); ++i) {
    if (!specs[i].locked_addr) continue;
    const NetworkId nid =
        model_.groups.at(specs[i].group ? specs[i].group : default_group_).network;
    if (Status s = allocators_.at(nid).reserve(*specs[i].locked_addr); !s) {
      for (auto& [n, a] : reserved) (void)allocators_.at(n).release(a);
      return Error::on_field(s.error().code(), idx(i) + ".lockedAddress", s.error().message());
    }
    reserved.emplace_back(nid, *specs[i].locked_addr);
  }

  std::vector<ThingId> ids;
  ids.reserve(specs.size());
  model_.things.reserve(model_.things.size() + specs.size());
  for (const Thing& spec : specs) {
    Thing t = spec;
    if (!t.group) t.group = default_group_;
    t.id = ThingId{next_thing_id_++};
    t.slot = ThingSlot{static_cast<uint32_t>(model_.things.size())};
    by_id_.emplace(t.id.value, t.slot.value);
    by_iccid_.emplace(t.iccid, t.slot.value);
    by_imsi_.emplace(t.imsi, t.slot.value);
    ids.push_back(t.id);
    model_.things.push_back(std::move(t));
  }
  return ids;
}

Status Account::update_thing(ThingId id, const ThingPatch& patch) {
  Thing* cur = mutable_thing(id);
  if (!cur) return not_found("thing", id.value);
  Thing next = *cur;
  if (patch.name) next.name = *patch.name;
  if (patch.tags) next.tags = *patch.tags;
  if (patch.group) next.group = *patch.group;
  if (patch.services) next.services = *patch.services;
  if (patch.imei_lock) next.imei_lock = *patch.imei_lock;
  if (patch.ip_lock) {
    next.ip_lock = *patch.ip_lock;
    if (!next.ip_lock) next.locked_addr.reset();
  }
  if (patch.locked_addr) next.locked_addr = *patch.locked_addr;
  // Locking while attached without naming an address locks the address in use.
  if (next.ip_lock && !next.locked_addr && next.session) next.locked_addr = next.session->ue_addr;

  if (Status s = validate_thing(next); !s) return s;
  const ThingsGroup* g = group(next.group);
  if (!g) return Error::invalid("thingsGroupId", "no such things group");
  if (cur->state == ThingState::kRetired && (patch.ip_lock || patch.locked_addr || patch.group)) {
    return Error::on_field(Code::kFailedPrecondition, "state", "the thing is RETIRED");
  }
  const NetworkId old_net = network_of(*cur);
  const NetworkId new_net = g->network;
  if (new_net != old_net && (cur->session || cur->ip_lock)) {
    return Error::on_field(Code::kFailedPrecondition, "thingsGroupId",
                           "the thing is attached or has a locked IP in its current network");
  }
  const bool addr_changes = next.locked_addr != cur->locked_addr;
  if (addr_changes && cur->locked_addr) {
    for (const NatRule& r : model_.networks.at(old_net).nat_rules) {
      if (r.thing == id) {
        return Error::on_field(Code::kFailedPrecondition, "ipLock",
                               "NAT rule " + std::to_string(r.id.value) + " uses the locked IP");
      }
    }
  }
  if (addr_changes && next.locked_addr && cur->session &&
      cur->session->ue_addr != *next.locked_addr) {
    return Error::on_field(Code::kFailedPrecondition, "lockedAddress",
                           "the thing is attached with another address; detach first");
  }
  IpAllocator& alloc = allocators_.at(new_net);
  if (addr_changes && next.locked_addr) {
    const bool in_use_by_self = cur->session && cur->session->ue_addr == *next.locked_addr;
    if (!alloc.contains(*next.locked_addr)) {
      return Error::invalid("lockedAddress", "not in a pool of the group's network");
    }
    if (!in_use_by_self) {
      if (Status s = alloc.reserve(*next.locked_addr); !s) {
        return Error::on_field(s.error().code(), "lockedAddress", s.error().message());
      }
    }
  }
  if (addr_changes && cur->locked_addr) {
    const bool still_in_use = cur->session && cur->session->ue_addr == *cur->locked_addr;
    if (!still_in_use) (void)alloc.release(*cur->locked_addr);
  }
  *cur = std::move(next);
  return Status::Ok();
}

void Account::end_session(Thing& t) {
  if (!t.session) return;
  by_teid_.erase(t.session->uplink_teid);
  if (!(t.locked_addr && *t.locked_addr == t.session->ue_addr)) {
    (void)allocators_.at(network_of(t)).release(t.session->ue_addr);
  }
  t.session.reset();
}

Status Account::set_state(ThingId id, ThingState to) {
  Thing* t = mutable_thing(id);
  if (!t) return not_found("thing", id.value);
  if (Status s = check_transition(t->state, to); !s) return s;
  if (to == ThingState::kRetired) {
    for (const NatRule& r : model_.networks.at(network_of(*t)).nat_rules) {
      if (r.thing == id) {
        return Error::on_field(
            Code::kFailedPrecondition, "state",
            "NAT rule " + std::to_string(r.id.value) + " forwards to this thing");
      }
    }
  }
  if (ends_session(to) && t->session) {
    ended_sessions_.push_back(t->session->uplink_teid);
    end_session(*t);
  }
  if (to == ThingState::kRetired && t->locked_addr) {
    (void)allocators_.at(network_of(*t)).release(*t->locked_addr);
    t->locked_addr.reset();
    t->ip_lock = false;
  }
  t->state = to;
  return Status::Ok();
}

Result<Session> Account::attach(ThingId id, const AttachRequest& req) {
  Thing* t = mutable_thing(id);
  if (!t) return not_found("thing", id.value);
  if (!may_pass_traffic(t->state)) {
    return Error::on_field(Code::kFailedPrecondition, "state",
                           std::string("thing is ") + state_name(t->state));
  }
  if (!data_allowed(*t)) {
    return Error::on_field(Code::kFailedPrecondition, "services.data", "data service is off");
  }
  if (req.uplink_teid == 0) return Error::invalid("uplinkTeid", "TEID 0 is reserved");
  if (auto it = by_teid_.find(req.uplink_teid);
      it != by_teid_.end() && it->second != t->slot.value) {
    return Error::on_field(Code::kConflict, "uplinkTeid", "TEID in use by another session");
  }
  if (!req.imei.empty() && (!is_digits(req.imei) || req.imei.size() < 14 || req.imei.size() > 16)) {
    return Error::invalid("imei", "must be 14 to 16 digits (IMEI or IMEISV)");
  }
  if (!req.imei.empty() && t->imei_lock && !t->imei.empty() && req.imei != t->imei) {
    return Error::on_field(Code::kPermissionDenied, "imei", "IMEI lock: device changed");
  }
  end_session(*t);  // a new Create for an attached Thing replaces its session
  IpAllocator& alloc = allocators_.at(network_of(*t));
  Ipv4 addr;
  if (t->locked_addr) {
    addr = *t->locked_addr;
  } else {
    Result<Ipv4> leased = alloc.allocate();
    if (!leased) return leased.error();
    addr = *leased;
  }
  Session s;
  s.ue_addr = addr;
  s.uplink_teid = req.uplink_teid;
  s.peer_addr = req.peer_addr;
  s.peer_teid = req.peer_teid;
  s.apn = req.apn;
  s.rat = req.rat;
  s.mcc = req.mcc;
  s.mnc = req.mnc;
  if (!req.imei.empty()) t->imei = req.imei;
  t->session = s;
  by_teid_[req.uplink_teid] = t->slot.value;
  return s;
}

Status Account::detach(ThingId id) {
  Thing* t = mutable_thing(id);
  if (!t) return not_found("thing", id.value);
  if (!t->session) return Error(Code::kFailedPrecondition, "thing has no session");
  end_session(*t);
  return Status::Ok();
}

Status Account::modify_session(ThingId id, Ipv4 peer_addr, uint32_t peer_teid) {
  Thing* t = mutable_thing(id);
  if (!t) return not_found("thing", id.value);
  if (!t->session) return Error(Code::kFailedPrecondition, "thing has no session");
  t->session->peer_addr = peer_addr;
  t->session->peer_teid = peer_teid;
  return Status::Ok();
}

std::vector<uint32_t> Account::take_ended_sessions() {
  std::vector<uint32_t> ended;
  ended.swap(ended_sessions_);
  return ended;
}

// ---------------------------------------------------------------- users

Result<UserId> Account::create_user(const User& spec) {
  if (Status s = check_user(model_, spec, UserId{}); !s) return s.error();
  User u = spec;
  u.id = UserId{next_id_++};
  model_.users.emplace(u.id, u);
  return u.id;
}

Status Account::update_user(UserId id, const User& spec) {
  auto it = model_.users.find(id);
  if (it == model_.users.end()) return not_found("user", id.value);
  if (Status s = check_user(model_, spec, id); !s) return s;
  if (it->second.role == Role::kAdmin && spec.role != Role::kAdmin) {
    const bool other_admin =
        std::any_of(model_.users.begin(), model_.users.end(),
                    [&](const auto& u) { return u.first != id && u.second.role == Role::kAdmin; });
    if (!other_admin) {
      return Error::on_field(Code::kFailedPrecondition, "role", "the last ADMIN must stay ADMIN");
    }
  }
  const std::string client_id = it->second.client_id;
  it->second = spec;
  it->second.id = id;
  it->second.client_id = client_id;
  return Status::Ok();
}

Status Account::delete_user(UserId id) {
  if (!model_.users.erase(id)) return not_found("user", id.value);
  return Status::Ok();
}

}  // namespace simcore::core
