// control/daemon/routes_profiles.cc — IP Profiles (firewall chains).
#include "control/daemon/service_impl.h"

namespace simcore::ctl {

void Service::Impl::register_profile_routes() {
  // ---- IP Profiles
  route(Verb::get, "/ipprofiles", Access::kRead, [this](const Request& req, const PathParams&) {
    std::vector<const core::IpProfile*> all;
    for (const auto& [id, x] : account.model().profiles) all.push_back(&x);
    return list(
        req, all, [](const core::IpProfile&) { return true; },
        [](const core::IpProfile& x) { return api::to_json(x); });
  });
  route(Verb::post, "/ipprofiles", Access::kWrite, [this](const Request& req, const PathParams&) {
    auto spec = parsed(req, api::profile_create_from_json);
    if (!spec) return fail(req, spec.error());
    auto id = account.create_profile(*spec);
    if (!id) return fail(req, id.error());
    const core::IpProfile& prof = *account.profile(*id);
    if (core::Status st = persist([&](Store::Txn& txn) { return txn.put_profile(prof); }); !st) {
      return fail(req, st.error());
    }
    (void)republish_full();
    Response res = json_ok(req, 201, api::to_json(prof));
    res.set(http::bhttp::field::location,
            cfg.api_prefix + "/ipprofiles/" + std::to_string(id->value));
    return res;
  });
  route(Verb::get, "/ipprofiles/{profileId}", Access::kRead,
        [this](const Request& req, const PathParams& p) {
          const core::IpProfile* x = profile_at(p);
          if (!x) return fail(req, not_found("IP profile", p.at("profileId")));
          return json_ok(req, 200, api::to_json(*x));
        });
  route(
      Verb::patch, "/ipprofiles/{profileId}", Access::kWrite,
      [this](const Request& req, const PathParams& p) {
        const core::IpProfile* x = profile_at(p);
        if (!x) return fail(req, not_found("IP profile", p.at("profileId")));
        auto next =
            parsed(req, [&](const json::value& b) { return api::profile_patch_from_json(b, *x); });
        if (!next) return fail(req, next.error());
        const core::ProfileId id = x->id;
        if (core::Status st = account.replace_profile(id, *next); !st) {
          return fail(req, st.error());
        }
        const core::IpProfile& now = *account.profile(id);
        if (core::Status st = persist([&](Store::Txn& txn) { return txn.put_profile(now); }); !st) {
          return fail(req, st.error());
        }
        // Only this profile's chains change: the compiler swaps them in place.
        if (auto t = compiler.update_profile(account.model(), id)) sink.publish(*t);
        return json_ok(req, 200, api::to_json(now));
      });
  route(Verb::delete_, "/ipprofiles/{profileId}", Access::kWrite,
        [this](const Request& req, const PathParams& p) {
          const core::IpProfile* x = profile_at(p);
          if (!x) return fail(req, not_found("IP profile", p.at("profileId")));
          const core::ProfileId id = x->id;
          if (core::Status st = account.delete_profile(id); !st) return fail(req, st.error());
          if (core::Status st = persist([&](Store::Txn& txn) { return txn.delete_profile(id); });
              !st) {
            return fail(req, st.error());
          }
          (void)republish_full();
          return no_content(req);
        });
}

}  // namespace simcore::ctl
