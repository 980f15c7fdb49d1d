#include "core/compiler.h"

#include <algorithm>
#include <tuple>

namespace simcore::core {
namespace {

std::string net_field(NetworkId id) { return "networks[" + std::to_string(id.value) + "]"; }

Error conflict(std::string field, std::string message) {
  return Error::on_field(Code::kConflict, std::move(field), std::move(message));
}

AclRule compile_rule(const FirewallRule& r) {
  AclRule a{};
  a.remote_len = r.remote.len;
  a.remote_addr = r.remote.base.value & r.remote.mask();
  a.proto = static_cast<uint8_t>(r.protocol);
  a.action = static_cast<uint8_t>(r.action);
  a.remote_port_lo = r.remote_ports.lo;
  a.remote_port_hi = r.remote_ports.hi;
  a.local_port_lo = r.local_ports.lo;
  a.local_port_hi = r.local_ports.hi;
  a.rule_id = r.id.value;
  a.priority = r.priority;
  return a;
}

std::shared_ptr<const CompiledProfile> compile_profile(const IpProfile& p) {
  auto cp = std::make_shared<CompiledProfile>();
  cp->profile_id = p.id.value;
  cp->stateful = p.stateful;
  cp->inbound = compile_chain(p.inbound);
  cp->outbound = compile_chain(p.outbound);
  return cp;
}

}  // namespace

CompiledChain compile_chain(const Chain& chain) {
  CompiledChain c;
  c.default_action = static_cast<uint8_t>(chain.default_action);
  c.rules.reserve(chain.rules.size());
  for (const FirewallRule& r : chain.rules) c.rules.push_back(compile_rule(r));
  // Priorities are unique within a chain (validated), so this order is total.
  std::sort(c.rules.begin(), c.rules.end(),
            [](const AclRule& a, const AclRule& b) { return a.priority < b.priority; });
  return c;
}

Status Compiler::session_row(const Model& model, const Thing& t, SessionRow& row) const {
  row = SessionRow{};
  auto g = model.groups.find(t.group);
  if (g == model.groups.end()) {
    return Error::invalid("things[" + std::to_string(t.id.value) + "].thingsGroupId",
                          "no such things group");
  }
  auto pi = profile_index_.find(g->second.profile);
  auto ni = network_index_.find(g->second.network);
  if (pi == profile_index_.end() || ni == network_index_.end()) {
    return Error(Code::kNotFound, "group refers to an uncompiled profile or network");
  }
  row.profile = pi->second;
  row.network = ni->second;
  if (t.state == ThingState::kActive) row.flags |= kSessionActive;
  if (t.services.data && g->second.services.data) row.flags |= kSessionDataAllowed;
  if (t.session) {
    row.flags |= kSessionAttached;
    row.ue_addr = to_be(t.session->ue_addr);
    row.peer_addr = to_be(t.session->peer_addr);
    row.peer_teid = teid_be(t.session->peer_teid);
    row.local_teid = teid_be(t.session->uplink_teid);
  }
  return Status::Ok();
}

Result<TablesPtr> Compiler::compile(const Model& model) {
  auto t = std::make_shared<CompiledTables>();
  std::map<ProfileId, ProfileIndex> profile_index;
  std::map<NetworkId, NetworkIndex> network_index;
  if (model.profiles.size() > 0xffff || model.networks.size() > 0xffff) {
    return Error(Code::kResourceExhausted, "more than 65535 profiles or networks");
  }

  // Profiles.
  for (const auto& [id, p] : model.profiles) {
    profile_index.emplace(id, static_cast<ProfileIndex>(t->profiles.size()));
    t->profiles.push_back(compile_profile(p));
  }

  // Networks: pools, routes, tunnels, SPD. Pools must not overlap anywhere in the account,
  // because the downlink finds a Thing by destination address alone.
  std::map<TunnelId, uint16_t> tunnel_index;
  struct PoolRef {
    Cidr cidr;
    NetworkId network;
  };
  std::vector<PoolRef> all_pools;
  for (const auto& [nid, n] : model.networks) {
    const auto ni = static_cast<NetworkIndex>(t->networks.size());
    network_index.emplace(nid, ni);
    NetworkRow row{};
    row.network_id = nid.value;
    row.vlan = n.vlan;
    row.isolated = n.isolation ? 1 : 0;
    row.pool_first = static_cast<uint32_t>(t->pools.size());
    for (const IpPool& p : n.pools) {
      t->pools.push_back(PoolRow{p.cidr.first(), p.cidr.last(), ni, 0});
      all_pools.push_back({p.cidr, nid});
    }
    row.pool_count = static_cast<uint32_t>(t->pools.size()) - row.pool_first;
    for (const IpsecTunnel& tun : n.tunnels) {
      if (t->tunnels.size() >= kNoTunnel) return Error(Code::kResourceExhausted, "too many tunnels");
      const auto ti = static_cast<uint16_t>(t->tunnels.size());
      tunnel_index.emplace(tun.id, ti);
      t->tunnels.push_back(TunnelRow{tun.id.value, to_be(tun.peer), ni, 0, ~0u});
      for (const Cidr& c : tun.remote_subnets) {
        t->spd.push_back(SpdRow{c.first(), c.len, 0, ti, ni, 0});
      }
    }
    row.route_first = static_cast<uint32_t>(t->routes.size());
    std::vector<RouteRow> routes;
    for (size_t i = 0; i < n.routes.size(); ++i) {
      const Route& r = n.routes[i];
      RouteRow rr{r.destination.first(), r.destination.len, 0, kNoTunnel};
      if (r.target == RouteTarget::kIpsecTunnel) {
        auto ti = tunnel_index.find(r.tunnel);
        const bool here = std::any_of(n.tunnels.begin(), n.tunnels.end(),
                                      [&](const IpsecTunnel& x) { return x.id == r.tunnel; });
        if (ti == tunnel_index.end() || !here) {
          return Error::invalid(net_field(nid) + ".routes[" + std::to_string(i) + "].tunnelId",
                                "route to " + r.destination.str() + " names missing tunnel " +
                                    std::to_string(r.tunnel.value));
        }
        rr.kind = static_cast<uint8_t>(RouteKind::kTunnel);
        rr.tunnel = ti->second;
      } else if (r.target == RouteTarget::kBlackhole) {
        rr.kind = static_cast<uint8_t>(RouteKind::kBlackhole);
      }
      for (const RouteRow& o : routes) {
        if (o.prefix == rr.prefix && o.len == rr.len) {
          return conflict(net_field(nid) + ".routes[" + std::to_string(i) + "].destination",
                          "two routes to " + r.destination.str());
        }
      }
      routes.push_back(rr);
    }
    // Longest prefix first: the first containing route is the longest match.
    std::stable_sort(routes.begin(), routes.end(),
                     [](const RouteRow& a, const RouteRow& b) { return a.len > b.len; });
    t->routes.insert(t->routes.end(), routes.begin(), routes.end());
    row.route_count = static_cast<uint32_t>(routes.size());
    t->networks.push_back(row);
  }
  std::sort(all_pools.begin(), all_pools.end(),
            [](const PoolRef& a, const PoolRef& b) { return a.cidr.first() < b.cidr.first(); });
  for (size_t i = 1; i < all_pools.size(); ++i) {
    if (all_pools[i].cidr.first() <= all_pools[i - 1].cidr.last()) {
      return Error::invalid(net_field(all_pools[i].network) + ".pools",
                            "pool " + all_pools[i].cidr.str() + " overlaps pool " +
                                all_pools[i - 1].cidr.str() + " of network " +
                                std::to_string(all_pools[i - 1].network.value));
    }
  }
  // Returns the network whose pool holds the address, or none.
  auto pool_network = [&](Ipv4 a) -> NetworkId {
    auto it = std::upper_bound(all_pools.begin(), all_pools.end(), a.value,
                               [](uint32_t v, const PoolRef& p) { return v < p.cidr.first(); });
    if (it == all_pools.begin() || !std::prev(it)->cidr.contains(a)) return NetworkId{};
    return std::prev(it)->network;
  };
  auto in_any_pool = [&](Ipv4 a) { return static_cast<bool>(pool_network(a)); };

  // Groups must name existing profiles and networks.
  for (const auto& [gid, g] : model.groups) {
    const std::string f = "groups[" + std::to_string(gid.value) + "]";
    if (!network_index.count(g.network)) return Error::invalid(f + ".networkId", "no such network");
    if (!profile_index.count(g.profile)) {
      return Error::invalid(f + ".ipProfileId", "no such IP profile");
    }
  }

  // Sessions: one row per Thing; indexes sized for every Thing so attaches never grow them.
  profile_index_.swap(profile_index);
  network_index_.swap(network_index);
  auto restore = [&](Error e) -> Result<TablesPtr> {
    profile_index_.swap(profile_index);
    network_index_.swap(network_index);
    return e;
  };
  t->sessions = PagedArray<SessionRow>(model.things.size(), SessionRow{});
  t->by_teid = FlatIndex(model.things.size());
  t->by_ue = FlatIndex(model.things.size());
  for (size_t i = 0; i < model.things.size(); ++i) {
    const Thing& th = model.things[i];
    SessionRow row;
    if (Status s = session_row(model, th, row); !s) return restore(s.error());
    if (row.flags & kSessionAttached) {
      const std::string f = "things[" + std::to_string(th.id.value) + "].session";
      if (pool_network(th.session->ue_addr) != model.groups.at(th.group).network) {
        return restore(Error::invalid(f + ".ueAddress", th.session->ue_addr.str() +
                                                            " is not in a pool of its network"));
      }
      if (t->by_teid.find(row.local_teid.raw) != FlatIndex::kNotFound) {
        return restore(conflict(f + ".uplinkTeid", "TEID " +
                                                       std::to_string(th.session->uplink_teid) +
                                                       " used by two sessions"));
      }
      if (t->by_ue.find(row.ue_addr.raw) != FlatIndex::kNotFound) {
        return restore(conflict(f + ".ueAddress",
                                th.session->ue_addr.str() + " used by two sessions"));
      }
      t->by_teid.insert(row.local_teid.raw, static_cast<uint32_t>(i));
      t->by_ue.insert(row.ue_addr.raw, static_cast<uint32_t>(i));
    }
    t->sessions.mut(i) = row;
  }

  // NAT port forwarding: unique public (address, protocol, port) account-wide, on a Thing of
  // the rule's network whose IP is locked, outside every pool.
  std::map<ThingId, const Thing*> nat_things;
  for (const auto& [nid, n] : model.networks) {
    for (const NatRule& r : n.nat_rules) nat_things.emplace(r.thing, nullptr);
  }
  if (!nat_things.empty()) {
    for (const Thing& x : model.things) {
      if (auto it = nat_things.find(x.id); it != nat_things.end()) it->second = &x;
    }
  }
  for (const auto& [nid, n] : model.networks) {
    for (size_t i = 0; i < n.nat_rules.size(); ++i) {
      const NatRule& r = n.nat_rules[i];
      const std::string f = net_field(nid) + ".natRules[" + std::to_string(i) + "]";
      const Thing* th = nat_things.at(r.thing);
      if (!th) return restore(Error::invalid(f + ".thingId", "no such thing"));
      if (!th->ip_lock || !th->locked_addr) {
        return restore(Error::on_field(Code::kFailedPrecondition, f + ".thingId",
                                       "the thing's IP is not locked"));
      }
      if (model.groups.at(th->group).network != nid) {
        return restore(Error::invalid(f + ".thingId", "thing is not in this network"));
      }
      if (in_any_pool(r.public_ip)) {
        return restore(Error::invalid(f + ".publicIp", "inside an IP pool"));
      }
      if (r.protocol != Protocol::kTcp && r.protocol != Protocol::kUdp) {
        return restore(Error::invalid(f + ".protocol", "must be TCP or UDP"));
      }
      NatRow row{};
      row.public_ip = to_be(r.public_ip);
      row.thing_ip = to_be(*th->locked_addr);
      row.public_port = port_be(r.public_port);
      row.thing_port = port_be(r.thing_port);
      row.proto = static_cast<uint8_t>(r.protocol);
      row.thing_slot = th->slot.value;
      row.rule_id = r.id.value;
      t->nat_in.push_back(row);
    }
  }
  t->nat_out = t->nat_in;
  std::sort(t->nat_in.begin(), t->nat_in.end(), nat_in_less);
  std::sort(t->nat_out.begin(), t->nat_out.end(), nat_out_less);
  for (size_t i = 1; i < t->nat_in.size(); ++i) {
    if (!nat_in_less(t->nat_in[i - 1], t->nat_in[i])) {
      return restore(conflict("natRules[" + std::to_string(t->nat_in[i].rule_id) + "].publicPort",
                              "NAT rules " + std::to_string(t->nat_in[i - 1].rule_id) + " and " +
                                  std::to_string(t->nat_in[i].rule_id) +
                                  " forward the same public port"));
    }
  }
  for (size_t i = 1; i < t->nat_out.size(); ++i) {
    if (!nat_out_less(t->nat_out[i - 1], t->nat_out[i])) {
      return restore(conflict("natRules[" + std::to_string(t->nat_out[i].rule_id) + "].thingPort",
                              "NAT rules " + std::to_string(t->nat_out[i - 1].rule_id) + " and " +
                                  std::to_string(t->nat_out[i].rule_id) +
                                  " forward to the same thing port"));
    }
  }

  t->generation = ++generation_;
  last_ = t;
  return TablesPtr(t);
}

Result<TablesPtr> Compiler::update_things(const Model& model, std::span<const ThingSlot> slots) {
  if (!last_) return compile(model);
  auto t = std::make_shared<CompiledTables>(*last_);  // shares every page
  if (t->sessions.size() < model.things.size()) {
    t->sessions.resize(model.things.size(), SessionRow{});
  }
  for (ThingSlot slot : slots) {
    if (slot.value >= model.things.size()) {
      return Error(Code::kInvalidArgument, "no thing at slot " + std::to_string(slot.value));
    }
    const Thing& th = model.things[slot.value];
    SessionRow row;
    if (Status s = session_row(model, th, row); !s) {
      if (s.error().code() == Code::kNotFound) return compile(model);
      return s.error();
    }
    const SessionRow old = t->sessions[slot.value];
    if (old.flags & kSessionAttached) {
      t->by_teid.erase(old.local_teid.raw);
      t->by_ue.erase(old.ue_addr.raw);
    }
    if (row.flags & kSessionAttached) {
      const std::string f = "things[" + std::to_string(th.id.value) + "].session";
      if (t->by_teid.find(row.local_teid.raw) != FlatIndex::kNotFound) {
        return conflict(f + ".uplinkTeid", "TEID used by two sessions");
      }
      if (t->by_ue.find(row.ue_addr.raw) != FlatIndex::kNotFound) {
        return conflict(f + ".ueAddress", "address used by two sessions");
      }
      t->by_teid.insert(row.local_teid.raw, slot.value);
      t->by_ue.insert(row.ue_addr.raw, slot.value);
    }
    t->sessions.mut(slot.value) = row;
  }
  t->generation = ++generation_;
  last_ = t;
  return TablesPtr(t);
}

Result<TablesPtr> Compiler::update_profile(const Model& model, ProfileId id) {
  auto p = model.profiles.find(id);
  auto pi = profile_index_.find(id);
  if (!last_ || p == model.profiles.end() || pi == profile_index_.end()) return compile(model);
  auto t = std::make_shared<CompiledTables>(*last_);
  t->profiles[pi->second] = compile_profile(p->second);
  t->generation = ++generation_;
  last_ = t;
  return TablesPtr(t);
}

}  // namespace simcore::core
