// control/daemon/routes_users.cc — users and their client credentials (ADMIN only).
#include "control/daemon/service_impl.h"

namespace simcore::ctl {

void Service::Impl::register_user_routes() {
  // ---- Users (ADMIN). The client secret is returned once, at creation; only its hash is kept.
  route(Verb::get, "/users", Access::kAdmin, [this](const Request& req, const PathParams&) {
    std::vector<const core::User*> all;
    for (const auto& [id, u] : account.model().users) all.push_back(&u);
    return list(
        req, all, [](const core::User&) { return true; },
        [](const core::User& u) { return api::to_json(u); });
  });
  route(Verb::post, "/users", Access::kAdmin, [this](const Request& req, const PathParams&) {
    auto spec = parsed(req, api::user_create_from_json);
    if (!spec) return fail(req, spec.error());
    spec->client_id = random_hex(16);
    const std::string secret = random_hex(24);
    auto hash = hash_secret(secret);
    if (!hash) return fail(req, hash.error());
    auto id = account.create_user(*spec);
    if (!id) return fail(req, id.error());
    const core::User& u = account.model().users.at(*id);
    if (core::Status st = persist([&](Store::Txn& txn) { return txn.put_user(u, *hash); }); !st) {
      return fail(req, st.error());
    }
    json::value v = api::to_json(u);
    v.as_object()["clientSecret"] = secret;
    Response res = json_ok(req, 201, v);
    res.set(http::bhttp::field::location, cfg.api_prefix + "/users/" + std::to_string(id->value));
    return res;
  });
  route(Verb::delete_, "/users/{userId}", Access::kAdmin,
        [this](const Request& req, const PathParams& p) {
          const core::UserId id{
              static_cast<uint32_t>(api::parse_id_text(p.at("userId"), 0xffffffffu))};
          if (id == caller->user) {
            return fail(
                req, core::Error(core::Code::kFailedPrecondition, "a user cannot delete itself"));
          }
          if (core::Status st = account.delete_user(id); !st) return fail(req, st.error());
          if (core::Status st = persist([&](Store::Txn& txn) { return txn.delete_user(id); });
              !st) {
            return fail(req, st.error());
          }
          tokens.revoke_user(id);
          return no_content(req);
        });
}

}  // namespace simcore::ctl
