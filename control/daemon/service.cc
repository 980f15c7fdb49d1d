#include "control/daemon/service.h"

#include <openssl/rand.h>

#include <algorithm>
#include <boost/json.hpp>
#include <set>

#include "control/api/json_model.h"
#include "control/http/errors.h"
#include "control/http/query.h"
#include "control/store/secret.h"
#include "core/check.h"

namespace simcore::ctl {
namespace {

namespace json = boost::json;
using http::PathParams;
using http::Request;
using http::Response;
using http::Verb;

// Who may call a route. Reads are open to every role (GROUP_USER sees only its groups'
// Things); writes need STANDARD or ADMIN, except Thing writes a GROUP_USER makes on its own
// Things; user management and provisioning SIM inventory are ADMIN's.
enum class Access { kRead, kWrite, kThingWrite, kAdmin };

bool role_allows(core::Role role, Access a) {
  switch (a) {
    case Access::kRead: return true;
    case Access::kThingWrite: return role != core::Role::kMonitor;
    case Access::kWrite: return role == core::Role::kAdmin || role == core::Role::kStandard;
    case Access::kAdmin: return role == core::Role::kAdmin;
  }
  return false;
}

std::string random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  SIMCORE_CHECK(RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) ==
                1);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (unsigned char c : raw) {
    s += kHex[c >> 4];
    s += kHex[c & 15];
  }
  return s;
}

// A strong ETag from the representation (FNV-1a 64): equal bodies, equal tags.
std::string etag_of(const std::string& body) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : body) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[24];
  std::snprintf(buf, sizeof buf, "\"%016llx\"", static_cast<unsigned long long>(h));
  return buf;
}

core::Error not_found(const std::string& what, std::string_view id) {
  return core::Error(core::Code::kNotFound, what + " " + std::string(id) + " does not exist");
}

}  // namespace

struct Service::Impl {
  DaemonConfig cfg;
  TablesSink& sink;
  Clock clock;
  std::unique_ptr<Store> store;
  core::Account account;
  core::Compiler compiler;
  TokenIssuer tokens;
  http::RateLimiter limiter;
  http::Router router;
  std::optional<std::string> generated_secret;
  std::string admin_client_id;
  const Principal* caller = nullptr;  // set for the duration of one routed request

  Impl(const DaemonConfig& c, TablesSink& s, Clock clk)
      : cfg(c),
        sink(s),
        clock(std::move(clk)),
        tokens(clock, c.token_ttl_s),
        limiter(http::RateLimiter::Options{c.rate_limit_per_s, c.rate_limit_burst, 10000}),
        router(c.api_prefix) {}

  // ------------------------------------------------------------------ plumbing

  Response json_ok(const Request& req, int status, const json::value& v) {
    return http::json_response(status, json::serialize(v), req.request_id);
  }
  Response fail(const Request& req, const core::Error& e) { return http::error_response(req, e); }

  // Parses the JSON body and then the object from it; either failure names what is wrong.
  template <class FromJson>
  static auto parsed(const Request& req, FromJson from_json)
      -> decltype(from_json(std::declval<const json::value&>())) {
    auto body = api::parse_body(req.msg.body());
    if (!body) return body.error();
    return from_json(*body);
  }

  // Runs `write` in one transaction. On a store failure the account is reloaded from the
  // store (nothing acknowledged is lost, nothing unacknowledged survives) and 503 follows.
  core::Status persist(const std::function<core::Status(Store::Txn&)>& write) {
    auto txn = store->begin();
    core::Status st = txn ? write(*txn) : txn.status();
    if (st.ok()) st = txn->commit();
    if (st.ok()) return st;
    auto model = store->load_model();
    if (model) {
      if (auto restored = core::Account::restore(std::move(*model))) {
        account = std::move(*restored);
      }
    }
    (void)republish_full();
    return core::Error(core::Code::kUnavailable,
                       "the store refused the write: " + st.error().message());
  }

  core::Status republish_full() {
    auto t = compiler.compile(account.model());
    if (!t) return t.status();
    sink.publish(*t);
    return core::Status::Ok();
  }
  void republish_things(std::span<const core::ThingSlot> slots) {
    auto t = compiler.update_things(account.model(), slots);
    if (t) sink.publish(*t);
  }

  core::Status event(Store::Txn& txn, const char* type, const core::Thing* t, json::object d) {
    EventRecord e;
    e.time_ms = clock();
    e.type = type;
    if (t) e.thing = t->id;
    e.detail_json = json::serialize(d);
    auto r = txn.append_event(e);
    return r.status();
  }

  // The Thing named by the path, if this caller may see it.
  core::Result<const core::Thing*> visible_thing(const PathParams& p) {
    const auto& id = p.at("thingId");
    const core::Thing* t = account.thing(core::ThingId{api::parse_id_text(id, ~0ull)});
    if (!t) return not_found("thing", id);
    if (caller->role == core::Role::kGroupUser &&
        std::find(caller->groups.begin(), caller->groups.end(), t->group) == caller->groups.end()) {
      return core::Error(core::Code::kPermissionDenied,
                         "thing " + id + " is not in your things groups");
    }
    return t;
  }

  const core::Network* network_at(const PathParams& p) const {
    return account.network(
        core::NetworkId{static_cast<uint32_t>(api::parse_id_text(p.at("networkId"), 0xffffffffu))});
  }
  const core::IpProfile* profile_at(const PathParams& p) const {
    return account.profile(
        core::ProfileId{static_cast<uint32_t>(api::parse_id_text(p.at("profileId"), 0xffffffffu))});
  }
  Response no_content(const Request& req) {
    Response res = http::json_response(204, "", req.request_id);
    res.erase(http::bhttp::field::content_type);
    return res;
  }

  bool may_see_group(core::GroupId g) const {
    return caller->role != core::Role::kGroupUser ||
           std::find(caller->groups.begin(), caller->groups.end(), g) != caller->groups.end();
  }

  // Lists: limit/offset over the filtered items, X-Total-Count and Link headers.
  template <class T, class Pred, class ToJson>
  Response list(const Request& req, const std::vector<const T*>& items, Pred keep, ToJson to) {
    auto q = http::Query::parse(req.target());
    if (!q) return fail(req, q.error());
    auto page = http::parse_page(*q);
    if (!page) return fail(req, page.error());
    std::vector<const T*> kept;
    for (const T* x : items) {
      if (keep(*x)) kept.push_back(x);
    }
    json::array out;
    for (size_t i = page->offset; i < kept.size() && out.size() < page->limit; ++i) {
      out.push_back(to(*kept[i]));
    }
    Response res = json_ok(req, 200, out);
    http::set_page_headers(res, *q, *page, kept.size());
    return res;
  }

  // ------------------------------------------------------------------ token endpoint

  Response token(const Request& req) {
    auto q = http::Query::parse(req.target());
    if (!q) return fail(req, q.error());
    if (q->get("grant_type").value_or("") != "client_credentials") {
      return fail(req, core::Error::invalid("grant_type", "must be client_credentials"));
    }
    // The form body, decoded like a query string.
    auto form = http::Query::parse("/?" + req.msg.body());
    if (!form) return fail(req, core::Error::invalid("body", "not a form body"));
    const std::string id(form->get("client_id").value_or(""));
    const std::string secret(form->get("client_secret").value_or(""));
    auto stored = store->get_user_by_client_id(id);
    if (id.empty() || !stored || !verify_secret(secret, stored->secret_hash)) {
      return http::unauthenticated(req, "invalid client credentials");
    }
    Principal p{stored->user.id, id, stored->user.role, stored->user.groups};
    const IssuedToken t = tokens.issue(p);
    return http::json_response(200, token_response_json(t, p, cfg.organization), req.request_id);
  }

  // ------------------------------------------------------------------ routes

  void route(Verb v, std::string_view pattern, Access access,
             std::function<Response(const Request&, const PathParams&)> fn) {
    core::Status st =
        router.add(v, pattern, [this, access, fn](const Request& req, const PathParams& p) {
          if (!role_allows(caller->role, access)) {
            return fail(req, core::Error(core::Code::kPermissionDenied,
                                         std::string("role ") + core::role_name(caller->role) +
                                             " may not do this"));
          }
          return fn(req, p);
        });
    SIMCORE_CHECK(st.ok());
  }

  void register_routes();
};

void Service::Impl::register_routes() {
  SIMCORE_CHECK(
      router
          .add_unprefixed(Verb::post, "/oauth/client_credential/accesstoken",
                          [this](const Request& req, const PathParams&) { return token(req); })
          .ok());

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
    std::vector<const core::Thing*> all;
    all.reserve(account.model().things.size());
    for (const core::Thing& t : account.model().things) all.push_back(&t);
    auto keep = [&](const core::Thing& t) {
      if (!may_see_group(t.group)) return false;
      if (state && t.state != *state) return false;
      if (group && t.group != group) return false;
      if (!tags.empty()) {
        size_t hits = 0;
        for (auto tag : tags) hits += std::count(t.tags.begin(), t.tags.end(), tag) > 0;
        if (match == "all" ? hits != tags.size() : hits == 0) return false;
      }
      if (!text.empty() && t.name.find(text) == std::string::npos &&
          t.iccid.find(text) == std::string::npos && t.imsi.find(text) == std::string::npos &&
          t.msisdn.find(text) == std::string::npos) {
        return false;
      }
      return true;
    };
    return list(req, all, keep, [](const core::Thing& t) { return api::to_json(t); });
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
            json::object d{{"from", core::state_name(from)}, {"to", core::state_name(*to)}};
            if (core::Status s = event(txn, "STATE_CHANGED", &now, d); !s) return s;
            if (had_session && !now.session) return event(txn, "DETACH", &now, {});
            return core::Status::Ok();
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

// ------------------------------------------------------------------ Service

Service::Service(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Service::~Service() = default;

core::Result<std::unique_ptr<Service>> Service::open(const DaemonConfig& cfg, TablesSink& sink,
                                                     Clock clock) {
  auto impl = std::make_unique<Impl>(cfg, sink, std::move(clock));
  auto store = Store::open(cfg.data_dir);
  if (!store) return store.error();
  impl->store = std::move(*store);
  auto model = impl->store->load_model();
  if (!model) return model.error();
  if (model->groups.empty()) {
    // First start: the shipped account and the first admin, stored in one transaction.
    core::User admin;
    admin.name = "admin";
    admin.email = cfg.admin_email;
    admin.role = core::Role::kAdmin;
    admin.client_id = cfg.admin_client_id.empty() ? random_hex(16) : cfg.admin_client_id;
    std::string secret = cfg.admin_client_secret;
    if (secret.empty()) {
      secret = random_hex(24);
      impl->generated_secret = secret;
    }
    auto uid = impl->account.create_user(admin);
    if (!uid) return uid.error();
    auto hash = hash_secret(secret);
    if (!hash) return hash.error();
    const core::Model& m = impl->account.model();
    core::Status st = impl->persist([&](Store::Txn& txn) -> core::Status {
      for (const auto& [id, n] : m.networks) {
        if (core::Status s = txn.put_network(n); !s) return s;
      }
      for (const auto& [id, p] : m.profiles) {
        if (core::Status s = txn.put_profile(p); !s) return s;
      }
      for (const auto& [id, g] : m.groups) {
        if (core::Status s = txn.put_group(g); !s) return s;
      }
      return txn.put_user(m.users.at(*uid), *hash);
    });
    if (!st) return st.error();
  } else {
    auto restored = core::Account::restore(std::move(*model));
    if (!restored) return restored.error();
    impl->account = std::move(*restored);
  }
  for (const auto& [id, u] : impl->account.model().users) {
    if (u.role == core::Role::kAdmin) {
      impl->admin_client_id = u.client_id;
      break;
    }
  }
  if (core::Status st = impl->republish_full(); !st) return st.error();
  impl->register_routes();
  return std::unique_ptr<Service>(new Service(std::move(impl)));
}

http::Response Service::handle(const http::Request& req) {
  Impl& s = *impl_;
  const std::string_view target = req.target();
  if (target.rfind("/oauth/", 0) == 0) {
    // No client is known yet: limit credential guessing per peer address.
    const http::RateLimiter::Decision d = s.limiter.acquire("peer:" + req.peer);
    if (!d.allowed) return http::too_many_requests(req, d.retry_after_s);
    return s.router.handle(req);
  }
  auto token = bearer_token(req.header(http::bhttp::field::authorization));
  if (!token) return http::unauthenticated(req, token.error().message());
  auto principal = s.tokens.check(*token);
  if (!principal) return http::unauthenticated(req, principal.error().message(), true);
  const http::RateLimiter::Decision d = s.limiter.acquire(principal->client_id);
  if (!d.allowed) return http::too_many_requests(req, d.retry_after_s);
  s.caller = &*principal;
  http::Response res = s.router.handle(req);
  s.caller = nullptr;
  return res;
}

const std::optional<std::string>& Service::generated_admin_secret() const {
  return impl_->generated_secret;
}
const std::string& Service::admin_client_id() const { return impl_->admin_client_id; }
uint64_t Service::generation() const {
  return impl_->compiler.last() ? impl_->compiler.last()->generation : 0;
}
std::vector<http::RouteInfo> Service::routes() const { return impl_->router.routes(); }

}  // namespace simcore::ctl
