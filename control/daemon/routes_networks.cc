// control/daemon/routes_networks.cc — Networks and their pools, routes, NAT rules and IPsec
// tunnels.
#include <cstdio>

#include "control/daemon/service_impl.h"

namespace simcore::ctl {
namespace {

using Impl = Service::Impl;

// One kind of network child: where it lives in the path and in core::Network.
template <class T>
struct Children {
  const char* path;   // "/routes": appended to "/networks/{networkId}"
  const char* param;  // "routeId"
  const char* what;   // "route", for 404 messages
  std::vector<T> core::Network::*items;

  std::string collection() const { return std::string("/networks/{networkId}") + path; }
  std::string member() const { return collection() + "/{" + param + "}"; }
};

const Children<core::IpPool> kPools{"/ippools", "poolId", "pool", &core::Network::pools};
const Children<core::Route> kRoutes{"/routes", "routeId", "route", &core::Network::routes};
const Children<core::NatRule> kNatRules{"/natrules", "ruleId", "NAT rule",
                                        &core::Network::nat_rules};
const Children<core::IpsecTunnel> kTunnels{"/ipsectunnels", "tunnelId", "tunnel",
                                           &core::Network::tunnels};

template <class T>
const T* find_child(const core::Network& n, const Children<T>& c, uint64_t id) {
  const std::vector<T>& items = n.*c.items;
  auto it = std::find_if(items.begin(), items.end(), [id](const T& x) { return x.id.value == id; });
  return it == items.end() ? nullptr : &*it;
}

// The network and the child the path names; the error is a 404 naming the missing one.
template <class T>
core::Result<std::pair<core::NetworkId, const T*>> child_at(Impl& s, const Children<T>& c,
                                                            const PathParams& p) {
  const core::Network* n = s.network_at(p);
  if (!n) return not_found("network", p.at("networkId"));
  const T* x = find_child(*n, c, api::parse_id_text(p.at(c.param), 0xffffffffu));
  if (!x) return not_found(c.what, p.at(c.param));
  return std::pair{n->id, x};
}

// Stores the network after a change to one of its children, then recompiles everything: pools,
// routes, NAT rules and tunnels all feed tables shared by every Thing of the network.
core::Status store_network(Impl& s, core::NetworkId id) {
  const core::Network& n = *s.account.network(id);
  if (core::Status st = s.persist([&](Store::Txn& txn) { return txn.put_network(n); }); !st) {
    return st;
  }
  (void)s.republish_full();
  return core::Status::Ok();
}

// GET the collection (paged) and GET one member with its ETag. `visible` hides members the
// caller may not see.
template <class T, class Visible>
void register_child_reads(Impl& s, const Children<T>& c, Visible visible) {
  s.route(Verb::get, c.collection(), Access::kRead,
          [&s, c, visible](const Request& req, const PathParams& p) {
            const core::Network* n = s.network_at(p);
            if (!n) return s.fail(req, not_found("network", p.at("networkId")));
            std::vector<const T*> all;
            for (const T& x : (*n).*c.items) all.push_back(&x);
            return s.list(req, all, visible, [](const T& x) { return api::to_json(x); });
          });
  s.route(Verb::get, c.member(), Access::kRead,
          [&s, c, visible](const Request& req, const PathParams& p) {
            auto x = child_at(s, c, p);
            if (!x) return s.fail(req, x.error());
            if (!visible(*x->second)) return s.fail(req, not_found(c.what, p.at(c.param)));
            return s.json_tagged(req, 200, api::to_json(*x->second));
          });
}

// POST to the collection: `add(nid, body)` validates through core::Account and returns the
// new child's id.
template <class T, class Add>
void register_child_create(Impl& s, const Children<T>& c, Add add) {
  s.route(Verb::post, c.collection(), Access::kWrite,
          [&s, c, add](const Request& req, const PathParams& p) {
            const core::Network* n = s.network_at(p);
            if (!n) return s.fail(req, not_found("network", p.at("networkId")));
            const core::NetworkId nid = n->id;
            auto body = api::parse_body(req.msg.body());
            if (!body) return s.fail(req, body.error());
            auto id = add(nid, *body);
            if (!id) return s.fail(req, id.error());
            if (core::Status st = store_network(s, nid); !st) return s.fail(req, st.error());
            const T& x = *find_child(*s.account.network(nid), c, id->value);
            Response res = s.json_tagged(req, 201, api::to_json(x));
            res.set(http::bhttp::field::location, s.cfg.api_prefix + "/networks/" +
                                                      std::to_string(nid.value) + c.path + "/" +
                                                      std::to_string(id->value));
            return res;
          });
}

// PATCH one member: `apply(nid, current, body)` changes it through core::Account. If-Match is
// checked against the member as GET shows it.
template <class T, class Apply>
void register_child_patch(Impl& s, const Children<T>& c, Apply apply) {
  s.route(Verb::patch, c.member(), Access::kWrite,
          [&s, c, apply](const Request& req, const PathParams& p) {
            auto x = child_at(s, c, p);
            if (!x) return s.fail(req, x.error());
            const auto [nid, current] = *x;
            if (core::Status st = Impl::check_if_match(req, api::to_json(*current)); !st) {
              return s.fail(req, st.error());
            }
            auto body = api::parse_body(req.msg.body());
            if (!body) return s.fail(req, body.error());
            const uint64_t id = current->id.value;
            if (core::Status st = apply(nid, *current, *body); !st) return s.fail(req, st.error());
            if (core::Status st = store_network(s, nid); !st) return s.fail(req, st.error());
            return s.json_tagged(req, 200,
                                 api::to_json(*find_child(*s.account.network(nid), c, id)));
          });
}

// DELETE one member through `remove(nid, id)`.
template <class T, class Remove>
void register_child_delete(Impl& s, const Children<T>& c, Remove remove) {
  s.route(Verb::delete_, c.member(), Access::kWrite,
          [&s, c, remove](const Request& req, const PathParams& p) {
            auto x = child_at(s, c, p);
            if (!x) return s.fail(req, x.error());
            const auto [nid, current] = *x;
            if (core::Status st = remove(nid, current->id); !st) return s.fail(req, st.error());
            if (core::Status st = store_network(s, nid); !st) return s.fail(req, st.error());
            return s.no_content(req);
          });
}

std::string hex(uint64_t v, int digits) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%0*llx", digits, static_cast<unsigned long long>(v));
  return buf;
}

json::value time_or_null(int64_t ms) {
  return ms ? json::value(api::time_text(ms)) : json::value(nullptr);
}

// charon's IKE_SA states, as the API names them.
const char* ike_state_name(const std::string& s) {
  if (s == "ESTABLISHED") return "ESTABLISHED";
  if (s == "REKEYING" || s == "REKEYED") return "REKEYING";
  if (s == "DELETING" || s == "DESTROYING") return "DELETING";
  if (s == "DOWN") return "DOWN";
  return "CONNECTING";  // CREATED, CONNECTING, PASSIVE
}

// charon's CHILD_SA states, as the API names them.
const char* child_state_name(const std::string& s) {
  if (s == "INSTALLED" || s == "UPDATING") return "INSTALLED";
  if (s == "REKEYING" || s == "REKEYED" || s == "RETRYING") return "REKEYING";
  if (s == "DELETING" || s == "DELETED" || s == "DESTROYING") return "DELETING";
  return "CREATING";  // CREATED, ROUTED, INSTALLING
}

// The tunnel's status from the IKE daemon, or, when it does not run or has not taken the
// tunnel up yet, DOWN with the reason: never invented state, SPIs or traffic.
json::value tunnel_status_json(const core::IpsecTunnel& t,
                               const std::optional<ike::TunnelStatus>& status, bool ike_running) {
  ike::TunnelStatus s;
  if (status) {
    s = *status;
  } else {
    s.last_error = ike_running ? "the IKE daemon has not taken this tunnel up yet"
                               : "IKE is not running in this simcored (enable it with "
                                 "dataplane.ike in the config): no security association is "
                                 "negotiated";
  }
  const bool up = s.ike_state != "DOWN";
  json::array children;
  uint64_t bytes_in = 0, bytes_out = 0;
  for (const ike::ChildSaStatus& c : s.child_sas) {
    bytes_in += c.bytes_in;
    bytes_out += c.bytes_out;
    children.push_back(json::object{
        {"state", child_state_name(c.state)},
        {"spiIn", hex(c.spi_in, 8)},
        {"spiOut", hex(c.spi_out, 8)},
        {"encryption", c.encryption},
        {"integrity", c.integrity.empty() ? json::value(nullptr) : json::value(c.integrity)},
        {"keyBits", c.encryption_key_bits},
        {"udpEncapsulation", c.udp_encapsulation},
        {"keyFingerprintIn", c.key_fingerprint_in},
        {"keyFingerprintOut", c.key_fingerprint_out},
        {"bytesIn", c.bytes_in},
        {"bytesOut", c.bytes_out},
        {"packetsIn", c.packets_in},
        {"packetsOut", c.packets_out},
        {"installedAt", time_or_null(c.installed_ms)},
    });
  }
  return json::object{
      {"tunnelId", std::to_string(t.id.value)},
      {"ikeSa",
       json::object{
           {"state", ike_state_name(s.ike_state)},
           {"spiInitiator", up ? json::value(hex(s.ike_spi_initiator, 16)) : json::value(nullptr)},
           {"spiResponder", up ? json::value(hex(s.ike_spi_responder, 16)) : json::value(nullptr)},
           {"proposal", s.ike_proposal.empty() || !up ? json::value(nullptr)
                                                       : json::value(s.ike_proposal)},
           {"establishedAt", up ? time_or_null(s.established_ms) : json::value(nullptr)},
       }},
      {"childSas", std::move(children)},
      {"bytesIn", bytes_in},
      {"bytesOut", bytes_out},
      {"rekeys", s.rekeys},
      {"lastRekeyAt", time_or_null(s.last_rekey_ms)},
      {"lastError", s.last_error.empty() ? json::value(nullptr) : json::value(s.last_error)},
  };
}

}  // namespace

void Service::Impl::register_network_routes() {
  // ---- Networks
  route(Verb::get, "/networks", Access::kRead, [this](const Request& req, const PathParams&) {
    std::vector<const core::Network*> all;
    for (const auto& [id, n] : account.model().networks) all.push_back(&n);
    return list(
        req, all, [](const core::Network&) { return true; },
        [](const core::Network& n) { return api::to_json(n); });
  });
  route(Verb::post, "/networks", Access::kWrite, [this](const Request& req, const PathParams&) {
    auto spec = parsed(req, api::network_create_from_json);
    if (!spec) return fail(req, spec.error());
    auto id = account.create_network(*spec);
    if (!id) return fail(req, id.error());
    const core::Network& n = *account.network(*id);
    if (core::Status st = persist([&](Store::Txn& txn) { return txn.put_network(n); }); !st) {
      return fail(req, st.error());
    }
    (void)republish_full();
    Response res = json_ok(req, 201, api::to_json(n));
    res.set(http::bhttp::field::location,
            cfg.api_prefix + "/networks/" + std::to_string(id->value));
    return res;
  });
  route(Verb::get, "/networks/{networkId}", Access::kRead,
        [this](const Request& req, const PathParams& p) {
          const core::Network* n = network_at(p);
          if (!n) return fail(req, not_found("network", p.at("networkId")));
          return json_ok(req, 200, api::to_json(*n));
        });
  route(Verb::patch, "/networks/{networkId}", Access::kWrite,
        [this](const Request& req, const PathParams& p) {
          const core::Network* n = network_at(p);
          if (!n) return fail(req, not_found("network", p.at("networkId")));
          auto patch = parsed(req, api::network_patch_from_json);
          if (!patch) return fail(req, patch.error());
          const core::NetworkId id = n->id;
          if (core::Status st = account.update_network(id, *patch); !st) {
            return fail(req, st.error());
          }
          const core::Network& now = *account.network(id);
          if (core::Status st = persist([&](Store::Txn& txn) { return txn.put_network(now); });
              !st) {
            return fail(req, st.error());
          }
          (void)republish_full();
          return json_ok(req, 200, api::to_json(now));
        });
  route(Verb::delete_, "/networks/{networkId}", Access::kWrite,
        [this](const Request& req, const PathParams& p) {
          const core::Network* n = network_at(p);
          if (!n) return fail(req, not_found("network", p.at("networkId")));
          const core::NetworkId id = n->id;
          if (core::Status st = account.delete_network(id); !st) return fail(req, st.error());
          if (core::Status st = persist([&](Store::Txn& txn) { return txn.delete_network(id); });
              !st) {
            return fail(req, st.error());
          }
          (void)republish_full();
          return no_content(req);
        });

  auto everyone = [](const auto&) { return true; };

  // ---- IP pools
  register_child_reads(*this, kPools, everyone);
  register_child_create(*this, kPools, [this](core::NetworkId nid, const json::value& body) {
    auto cidr = api::pool_from_json(body);
    return cidr ? account.add_pool(nid, *cidr) : core::Result<core::PoolId>(cidr.error());
  });
  register_child_patch(
      *this, kPools,
      [this](core::NetworkId nid, const core::IpPool& current, const json::value& body) {
        auto cidr = api::pool_from_json(body);
        return cidr ? account.resize_pool(nid, current.id, *cidr) : cidr.status();
      });
  register_child_delete(*this, kPools, [this](core::NetworkId nid, core::PoolId id) {
    return account.remove_pool(nid, id);
  });

  // ---- Routes
  register_child_reads(*this, kRoutes, everyone);
  register_child_create(*this, kRoutes, [this](core::NetworkId nid, const json::value& body) {
    auto r = api::route_create_from_json(body);
    return r ? account.add_route(nid, *r) : core::Result<core::RouteId>(r.error());
  });
  register_child_delete(*this, kRoutes, [this](core::NetworkId nid, core::RouteId id) {
    return account.remove_route(nid, id);
  });

  // ---- NAT rules. A GROUP_USER sees only the rules forwarding to its groups' Things.
  register_child_reads(*this, kNatRules, [this](const core::NatRule& r) {
    const core::Thing* t = account.thing(r.thing);
    return t && may_see_group(t->group);
  });
  register_child_create(*this, kNatRules, [this](core::NetworkId nid, const json::value& body) {
    auto r = api::nat_rule_create_from_json(body);
    return r ? account.add_nat_rule(nid, *r) : core::Result<core::NatRuleId>(r.error());
  });
  register_child_delete(*this, kNatRules, [this](core::NetworkId nid, core::NatRuleId id) {
    return account.remove_nat_rule(nid, id);
  });

  // ---- IPsec tunnels. The pre-shared key goes from the body to the account and the store only:
  // to_json omits it and the codecs and core never quote it in an error.
  register_child_reads(*this, kTunnels, everyone);
  register_child_create(*this, kTunnels, [this](core::NetworkId nid, const json::value& body) {
    auto t = api::tunnel_create_from_json(body);
    return t ? account.add_tunnel(nid, *t) : core::Result<core::TunnelId>(t.error());
  });
  register_child_patch(
      *this, kTunnels,
      [this](core::NetworkId nid, const core::IpsecTunnel& current, const json::value& body) {
        auto t = api::tunnel_patch_from_json(body, current);
        return t ? account.update_tunnel(nid, current.id, *t) : t.status();
      });
  register_child_delete(*this, kTunnels, [this](core::NetworkId nid, core::TunnelId id) {
    return account.remove_tunnel(nid, id);
  });
  route(Verb::get, kTunnels.member() + "/status", Access::kRead,
        [this](const Request& req, const PathParams& p) {
          auto t = child_at(*this, kTunnels, p);
          if (!t) return fail(req, t.error());
          std::optional<ike::TunnelStatus> st;
          if (tunnel_status_source) st = tunnel_status_source(t->second->id);
          return json_ok(req, 200,
                         tunnel_status_json(*t->second, st, bool(tunnel_status_source)));
        });
}

}  // namespace simcore::ctl
