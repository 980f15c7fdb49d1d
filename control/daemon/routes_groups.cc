// control/daemon/routes_groups.cc — Things Groups; the default group stays.
#include "control/daemon/service_impl.h"

namespace simcore::ctl {

void Service::Impl::register_group_routes() {
  // ---- Things Groups
  route(Verb::get, "/thingsgroups", Access::kRead, [this](const Request& req, const PathParams&) {
    std::vector<const core::ThingsGroup*> all;
    for (const auto& [id, g] : account.model().groups) all.push_back(&g);
    return list(
        req, all, [&](const core::ThingsGroup& g) { return may_see_group(g.id); },
        [](const core::ThingsGroup& g) { return api::to_json(g); });
  });
  route(Verb::post, "/thingsgroups", Access::kWrite, [this](const Request& req, const PathParams&) {
    auto spec = parsed(req, api::group_create_from_json);
    if (!spec) return fail(req, spec.error());
    auto id = account.create_group(*spec);
    if (!id) return fail(req, id.error());
    const core::ThingsGroup& g = *account.group(*id);
    if (core::Status st = persist([&](Store::Txn& txn) { return txn.put_group(g); }); !st) {
      return fail(req, st.error());
    }
    Response res = json_ok(req, 201, api::to_json(g));
    res.set(http::bhttp::field::location,
            cfg.api_prefix + "/thingsgroups/" + std::to_string(id->value));
    return res;
  });
  route(Verb::get, "/thingsgroups/{groupId}", Access::kRead,
        [this](const Request& req, const PathParams& p) {
          const core::GroupId id{
              static_cast<uint32_t>(api::parse_id_text(p.at("groupId"), 0xffffffffu))};
          const core::ThingsGroup* g = account.group(id);
          if (!g || !may_see_group(id))
            return fail(req, not_found("things group", p.at("groupId")));
          return json_ok(req, 200, api::to_json(*g));
        });
  route(Verb::delete_, "/thingsgroups/{groupId}", Access::kWrite,
        [this](const Request& req, const PathParams& p) {
          const core::GroupId id{
              static_cast<uint32_t>(api::parse_id_text(p.at("groupId"), 0xffffffffu))};
          if (id == account.default_group()) {
            const Verb allowed[] = {Verb::get, Verb::patch};
            return http::method_not_allowed(req, allowed);
          }
          std::vector<core::ThingSlot> moved;
          for (const core::Thing& t : account.model().things) {
            if (t.group == id) moved.push_back(t.slot);
          }
          if (core::Status st = account.delete_group(id); !st) return fail(req, st.error());
          core::Status st = persist([&](Store::Txn& txn) {
            for (core::ThingSlot s : moved) {
              if (core::Status w = txn.put_thing(account.model().things[s.value]); !w) return w;
            }
            return txn.delete_group(id);
          });
          if (!st) return fail(req, st.error());
          republish_things(moved);
          return no_content(req);
        });

  route(Verb::patch, "/thingsgroups/{groupId}", Access::kWrite,
        [this](const Request& req, const PathParams& p) {
          const core::GroupId id{
              static_cast<uint32_t>(api::parse_id_text(p.at("groupId"), 0xffffffffu))};
          const core::ThingsGroup* g = account.group(id);
          if (!g) return fail(req, not_found("things group", p.at("groupId")));
          auto next =
              parsed(req, [&](const json::value& b) { return api::group_patch_from_json(b, *g); });
          if (!next) return fail(req, next.error());
          if (core::Status st = account.update_group(id, *next); !st) return fail(req, st.error());
          const core::ThingsGroup& now = *account.group(id);
          if (core::Status st = persist([&](Store::Txn& txn) { return txn.put_group(now); }); !st) {
            return fail(req, st.error());
          }
          // A group's profile, network or services reach every Thing row in it.
          (void)republish_full();
          return json_ok(req, 200, api::to_json(now));
        });
}

}  // namespace simcore::ctl
