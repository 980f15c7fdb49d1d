// control/daemon/routes_users.cc — users and their client credentials (ADMIN only).
#include "control/daemon/service_impl.h"

namespace simcore::ctl {
namespace {

core::UserId user_id_at(const PathParams& p) {
  return core::UserId{static_cast<uint32_t>(api::parse_id_text(p.at("userId"), 0xffffffffu))};
}

}  // namespace

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
  route(Verb::get, "/users/{userId}", Access::kAdmin,
        [this](const Request& req, const PathParams& p) {
          auto it = account.model().users.find(user_id_at(p));
          if (it == account.model().users.end())
            return fail(req, not_found("user", p.at("userId")));
          return json_tagged(req, 200, api::to_json(it->second));
        });
  route(Verb::patch, "/users/{userId}", Access::kAdmin,
        [this](const Request& req, const PathParams& p) {
          const core::UserId id = user_id_at(p);
          auto it = account.model().users.find(id);
          if (it == account.model().users.end())
            return fail(req, not_found("user", p.at("userId")));
          const core::User before = it->second;
          if (core::Status st = check_if_match(req, api::to_json(before)); !st) {
            return fail(req, st.error());
          }
          auto spec = parsed(
              req, [&](const json::value& b) { return api::user_patch_from_json(b, before); });
          if (!spec) return fail(req, spec.error());
          // Groups belong to GROUP_USER only: leaving that role without naming new groups
          // drops them instead of failing on groups the client did not send.
          if (before.role == core::Role::kGroupUser && spec->role != core::Role::kGroupUser &&
              spec->groups == before.groups) {
            spec->groups.clear();
          }
          if (core::Status st = account.update_user(id, *spec); !st) return fail(req, st.error());
          const core::User& now = account.model().users.at(id);
          if (core::Status st = persist([&](Store::Txn& txn) { return txn.put_user(now, ""); });
              !st) {
            return fail(req, st.error());
          }
          // A token carries the role and groups it was issued with: end them so the next
          // token is issued with what the user may do now.
          if (now.role != before.role || now.groups != before.groups) tokens.revoke_user(id);
          return json_tagged(req, 200, api::to_json(now));
        });
  route(Verb::delete_, "/users/{userId}", Access::kAdmin,
        [this](const Request& req, const PathParams& p) {
          const core::UserId id = user_id_at(p);
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
