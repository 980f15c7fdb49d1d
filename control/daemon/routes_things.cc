// control/daemon/routes_things.cc — Things: list, provision, read, patch, state, session.
#include "control/daemon/service_impl.h"

namespace simcore::ctl {

void Service::Impl::register_thing_routes() {
  // ---- Things
  route(Verb::get, "/things", Access::kRead, [this](const Request& req, const PathParams&) {
    auto q = http::Query::parse(req.target());
    if (!q) return fail(req, q.error());
    std::optional<core::ThingState> state;
    core::FieldErrors errs;
    if (auto s = q->get("state")) {
      auto st = core::parse_state(*s);
      if (st)
        state = *st;
      else
        errs.add("state", st.error().message());
    }
    core::GroupId group;
    if (auto g = q->get("thingsGroupId")) {
      group = core::GroupId{static_cast<uint32_t>(api::parse_id_text(*g, 0xffffffffu))};
      if (!group) errs.add("thingsGroupId", "not an id");
    }
    const std::vector<std::string_view> tags = q->get_all("tag");
    const std::string match(q->get("tagMatch").value_or("any"));
    if (match != "any" && match != "all") errs.add("tagMatch", "must be any or all");
    const std::string text(q->get("q").value_or(""));
    if (core::Status st = errs.status(); !st) return fail(req, st.error());
    const auto& things = account.model().things;
    auto to = [](const core::Thing& t) { return api::to_json(t); };
    const bool filtered =
        caller->role == core::Role::kGroupUser || state || group || !tags.empty() || !text.empty();
    if (!filtered) return list(req, things, nullptr, to);
    auto keep = [&](const core::Thing& t) {
      if (!may_see_group(t.group)) return false;
      if (state && t.state != *state) return false;
      if (group && t.group != group) return false;
      if (!tags.empty() && !has_tags(t, tags, match == "all")) return false;
      if (!text.empty() && t.name.find(text) == std::string::npos &&
          t.iccid.find(text) == std::string::npos && t.imsi.find(text) == std::string::npos &&
          t.msisdn.find(text) == std::string::npos) {
        return false;
      }
      return true;
    };
    return list(req, things, keep, to);
  });

  route(Verb::post, "/things", Access::kAdmin, [this](const Request& req, const PathParams&) {
    auto specs = parsed(req, api::things_create_from_json);
    if (!specs) return fail(req, specs.error());
    auto ids = account.provision(*specs);
    if (!ids) return fail(req, ids.error().prefixed("things"));
    std::vector<core::Thing> stored;
    std::vector<core::ThingSlot> slots;
    for (core::ThingId id : *ids) {
      stored.push_back(*account.thing(id));
      slots.push_back(stored.back().slot);
    }
    if (core::Status st = persist([&](Store::Txn& txn) { return txn.put_things(stored); }); !st) {
      return fail(req, st.error());
    }
    republish_things(slots);
    json::array out;
    for (const core::Thing& t : stored) out.push_back(api::to_json(t));
    return json_ok(req, 201, out);
  });

  route(Verb::get, "/things/{thingId}", Access::kRead,
        [this](const Request& req, const PathParams& p) {
          auto t = visible_thing(p);
          if (!t) return fail(req, t.error());
          Response res = json_ok(req, 200, api::to_json(**t));
          res.set(http::bhttp::field::etag, etag_of(res.body()));
          return res;
        });

  route(Verb::patch, "/things/{thingId}", Access::kThingWrite,
        [this](const Request& req, const PathParams& p) {
          auto t = visible_thing(p);
          if (!t) return fail(req, t.error());
          const std::string_view if_match = req.header(http::bhttp::field::if_match);
          if (!if_match.empty() && if_match != "*" &&
              if_match != etag_of(json::serialize(api::to_json(**t)))) {
            return fail(req, core::Error(core::Code::kFailedPrecondition,
                                         "If-Match does not match the thing's ETag"));
          }
          auto patch = parsed(req, [&](const json::value& b) {
            return api::thing_patch_from_json(b, (*t)->services);
          });
          if (!patch) return fail(req, patch.error());
          if (patch->group && !may_see_group(*patch->group)) {
            return fail(req, core::Error::on_field(core::Code::kPermissionDenied, "thingsGroupId",
                                                   "not one of your things groups"));
          }
          const core::ThingId id = (*t)->id;
          if (core::Status st = account.update_thing(id, *patch); !st) return fail(req, st.error());
          const core::Thing& now = *account.thing(id);
          if (core::Status st = persist([&](Store::Txn& txn) { return txn.put_thing(now); }); !st) {
            return fail(req, st.error());
          }
          republish_things({&now.slot, 1});
          Response res = json_ok(req, 200, api::to_json(now));
          res.set(http::bhttp::field::etag, etag_of(res.body()));
          return res;
        });

  route(Verb::put, "/things/{thingId}/state", Access::kThingWrite,
        [this](const Request& req, const PathParams& p) {
          auto t = visible_thing(p);
          if (!t) return fail(req, t.error());
          auto to = parsed(req, api::state_change_from_json);
          if (!to) return fail(req, to.error());
          const core::ThingId id = (*t)->id;
          const core::ThingState from = (*t)->state;
          const bool had_session = (*t)->session.has_value();
          if (core::Status st = account.set_state(id, *to); !st) {
            return http::error_response(req, st.error(),
                                        st.error().code() == core::Code::kFailedPrecondition
                                            ? "INVALID_STATE_TRANSITION"
                                            : "");
          }
          const core::Thing& now = *account.thing(id);
          core::Status st = persist([&](Store::Txn& txn) {
            if (core::Status s = txn.put_thing(now); !s) return s;
            return state_changed_events(txn, now, from, had_session);
          });
          if (!st) return fail(req, st.error());
          republish_things({&now.slot, 1});
          return json_ok(req, 200, api::to_json(now));
        });

  route(Verb::get, "/things/{thingId}/session", Access::kRead,
        [this](const Request& req, const PathParams& p) {
          auto t = visible_thing(p);
          if (!t) return fail(req, t.error());
          return json_ok(req, 200, api::session_to_json(**t, 0, 0));
        });
}

}  // namespace simcore::ctl
