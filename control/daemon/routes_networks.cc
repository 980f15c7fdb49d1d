// control/daemon/routes_networks.cc — Networks and their pools, routes, NAT rules and IPsec
// tunnels.
#include "control/daemon/service_impl.h"

namespace simcore::ctl {

void Service::Impl::register_network_routes() {
  // ---- Networks and pools
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
  route(Verb::get, "/networks/{networkId}/ippools", Access::kRead,
        [this](const Request& req, const PathParams& p) {
          const core::Network* n = network_at(p);
          if (!n) return fail(req, not_found("network", p.at("networkId")));
          std::vector<const core::IpPool*> all;
          for (const core::IpPool& x : n->pools) all.push_back(&x);
          return list(
              req, all, [](const core::IpPool&) { return true; },
              [](const core::IpPool& x) { return api::to_json(x); });
        });
  route(Verb::post, "/networks/{networkId}/ippools", Access::kWrite,
        [this](const Request& req, const PathParams& p) {
          const core::NetworkId nid{
              static_cast<uint32_t>(api::parse_id_text(p.at("networkId"), 0xffffffffu))};
          if (!account.network(nid)) return fail(req, not_found("network", p.at("networkId")));
          auto cidr = parsed(req, api::pool_from_json);
          if (!cidr) return fail(req, cidr.error());
          auto pid = account.add_pool(nid, *cidr);
          if (!pid) return fail(req, pid.error());
          const core::Network& n = *account.network(nid);
          if (core::Status st = persist([&](Store::Txn& txn) { return txn.put_network(n); }); !st) {
            return fail(req, st.error());
          }
          (void)republish_full();
          return json_ok(req, 201, api::to_json(core::IpPool{*pid, *cidr}));
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
}

}  // namespace simcore::ctl
