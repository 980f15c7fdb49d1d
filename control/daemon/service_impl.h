// control/daemon/service_impl.h — the inside of Service, shared by service.cc and the
// routes_*.cc files (one per resource family). Not part of the daemon's interface.
#pragma once

#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <iterator>
#include <set>
#include <type_traits>

#include "control/api/json_model.h"
#include "control/daemon/service.h"
#include "control/http/errors.h"
#include "control/http/query.h"
#include "control/store/secret.h"
#include "core/check.h"

namespace simcore::ctl {

namespace json = boost::json;
using http::PathParams;
using http::Request;
using http::Response;
using http::Verb;

// Who may call a route. Reads are open to every role (GROUP_USER sees only its groups'
// Things); writes need STANDARD or ADMIN, except Thing writes a GROUP_USER makes on its own
// Things; user management and provisioning SIM inventory are ADMIN's. Account-wide figures
// (metrics: all groups' Things and traffic) are for every role but GROUP_USER.
enum class Access { kRead, kAccountRead, kWrite, kThingWrite, kAdmin };

inline bool role_allows(core::Role role, Access a) {
  switch (a) {
    case Access::kRead: return true;
    case Access::kAccountRead: return role != core::Role::kGroupUser;
    case Access::kThingWrite: return role != core::Role::kMonitor;
    case Access::kWrite: return role == core::Role::kAdmin || role == core::Role::kStandard;
    case Access::kAdmin: return role == core::Role::kAdmin;
  }
  return false;
}

inline std::string random_hex(size_t bytes) {
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
inline std::string etag_of(const std::string& body) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : body) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[24];
  std::snprintf(buf, sizeof buf, "\"%016llx\"", static_cast<unsigned long long>(h));
  return buf;
}

inline core::Error not_found(const std::string& what, std::string_view id) {
  return core::Error(core::Code::kNotFound, what + " " + std::string(id) + " does not exist");
}

// UTC calendar days: usage_daily rows, usage queries, billing cycles (calendar months, UTC).
using Day = std::chrono::sys_days;
inline Day utc_day(int64_t ms) {
  return std::chrono::floor<std::chrono::days>(
      std::chrono::sys_time<std::chrono::milliseconds>(std::chrono::milliseconds(ms)));
}
inline int64_t day_start_ms(Day d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d.time_since_epoch()).count();
}
// Returns "YYYY-MM-DD", the form of usage_daily.day and of the API's dates.
inline std::string day_text(Day d) {
  const std::chrono::year_month_day ymd(d);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}
// Parses "YYYY-MM-DD" naming a real calendar day, else nullopt.
inline std::optional<Day> parse_day(std::string_view s) {
  auto num = [&s](size_t at, size_t len) {
    int v = 0;
    for (size_t i = at; i < at + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return -1;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  const int y = num(0, 4), m = num(5, 2), d = num(8, 2);
  if (y < 0 || m < 0 || d < 0) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year(y),
                                        std::chrono::month(static_cast<unsigned>(m)),
                                        std::chrono::day(static_cast<unsigned>(d))};
  if (!ymd.ok()) return std::nullopt;
  return Day(ymd);
}

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
  // Bulk action ids not DONE yet, oldest first; read from the store by the first tick_bulk().
  std::optional<std::deque<int64_t>> bulk_pending;
  // tick_sms(): SENT SMS with ids above this are retried next (a pass walks the rest, wraps).
  int64_t sms_retry_after = 0;
  // Billing reports still RUNNING, oldest first, read from the store by the first
  // tick_billing(); and the one being computed (routes_billing.cc).
  struct BillingRun;
  std::optional<std::deque<int64_t>> billing_pending;
  std::shared_ptr<BillingRun> billing_run;
  // GET /metrics (routes_metrics.cc): the data plane's text, and the responses handle() gave
  // by status class (index 0 for 1xx .. 4 for 5xx).
  MetricsSource metrics_source;
  // GET .../ipsectunnels/{id}/status (routes_networks.cc): the IKE daemon's view, if it runs.
  TunnelStatusSource tunnel_status_source;
  std::array<uint64_t, 5> responses_by_class{};
  // Attach's subscriber side (sessions.h), made by open() once the account is loaded.
  std::unique_ptr<gtpc::AttachBackend> attach_sessions;
  uint8_t gtp_restart_counter = 0;

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

  // The id counters the last committed write stored (absent in a store from before they were
  // kept: then restore()'s max + 1 stands).
  core::Result<core::Account::IdCounters> stored_id_counters() {
    core::Account::IdCounters c;
    auto id = store->get_meta("next_id");
    auto thing = store->get_meta("next_thing_id");
    if (!id) return id.error();
    if (!thing) return thing.error();
    if (*id) c.next_id = static_cast<uint32_t>(std::strtoul((*id)->c_str(), nullptr, 10));
    if (*thing) c.next_thing_id = std::strtoull((*thing)->c_str(), nullptr, 10);
    return c;
  }

  // Runs `write` in one transaction. On a store failure the account is reloaded from the
  // store (nothing acknowledged is lost, nothing unacknowledged survives) and 503 follows.
  core::Status persist(const std::function<core::Status(Store::Txn&)>& write) {
    auto txn = store->begin();
    core::Status st = txn ? write(*txn) : txn.status();
    // The id counters go with every write, so a restart never hands a deleted id out again.
    const core::Account::IdCounters ids = account.id_counters();
    if (st.ok()) st = txn->set_meta("next_id", std::to_string(ids.next_id));
    if (st.ok()) st = txn->set_meta("next_thing_id", std::to_string(ids.next_thing_id));
    if (st.ok()) st = txn->commit();
    if (st.ok()) return st;
    const core::Account::IdCounters used = account.id_counters();  // never reuse these either
    auto model = store->load_model();
    if (model) {
      if (auto restored = core::Account::restore(std::move(*model))) {
        account = std::move(*restored);
        account.raise_id_counters(used);
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
  // A single resource with its ETag, so a client can PATCH it with If-Match.
  Response json_tagged(const Request& req, int status, const json::value& v) {
    Response res = json_ok(req, status, v);
    res.set(http::bhttp::field::etag, etag_of(res.body()));
    return res;
  }
  // Ok unless If-Match is given and names another version than `current` (412).
  static core::Status check_if_match(const Request& req, const json::value& current) {
    const std::string_view tag = req.header(http::bhttp::field::if_match);
    if (tag.empty() || tag == "*" || tag == etag_of(json::serialize(current))) {
      return core::Status::Ok();
    }
    return core::Error(core::Code::kFailedPrecondition, "If-Match does not match the ETag");
  }

  // The Thing-selector rule of GET /things and bulk actions: any (or all) of `tags`.
  template <class Tags>
  static bool has_tags(const core::Thing& t, const Tags& tags, bool all) {
    size_t hits = 0;
    for (const auto& tag : tags) hits += std::count(t.tags.begin(), t.tags.end(), tag) > 0;
    return all ? hits == tags.size() : hits > 0;
  }

  // The events of a lifecycle change: STATE_CHANGED {from, to}, and DETACH when it ended the
  // Thing's session.
  core::Status state_changed_events(Store::Txn& txn, const core::Thing& now, core::ThingState from,
                                    bool had_session) {
    json::object d{{"from", core::state_name(from)}, {"to", core::state_name(now.state)}};
    if (core::Status s = event(txn, "STATE_CHANGED", &now, std::move(d)); !s) return s;
    if (had_session && !now.session) return event(txn, "DETACH", &now, {});
    return core::Status::Ok();
  }

  bool may_see_group(core::GroupId g) const {
    return caller->role != core::Role::kGroupUser ||
           std::find(caller->groups.begin(), caller->groups.end(), g) != caller->groups.end();
  }

  // Lists: limit/offset over the filtered items, X-Total-Count and Link headers.
  // Lists: limit/offset over the items `keep` accepts, X-Total-Count and Link headers. One
  // pass and no copy of the item list; `keep` = nullptr (no filter) pages by index, so an
  // unfiltered page of 100k Things costs its 100 rows, not 100k.
  template <class Range, class Pred, class ToJson>
  Response list(const Request& req, const Range& items, Pred keep, ToJson to) {
    auto q = http::Query::parse(req.target());
    if (!q) return fail(req, q.error());
    auto page = http::parse_page(*q);
    if (!page) return fail(req, page.error());
    json::array out;
    size_t total = 0;
    if constexpr (std::is_same_v<Pred, std::nullptr_t>) {
      total = std::size(items);
      for (size_t i = page->offset; i < total && out.size() < page->limit; ++i) {
        out.push_back(to(deref(items[i])));
      }
    } else {
      for (const auto& x : items) {
        if (!keep(deref(x))) continue;
        if (total >= page->offset && out.size() < page->limit) out.push_back(to(deref(x)));
        ++total;
      }
    }
    Response res = json_ok(req, 200, out);
    http::set_page_headers(res, *q, *page, total);
    return res;
  }
  template <class T>
  static const T& deref(const T* x) {
    return *x;
  }
  template <class T>
  static const T& deref(const T& x) {
    return x;
  }

  // Every stored job of one kind (bulk action, billing report), oldest first.
  core::Result<std::vector<JobRecord>> jobs_of_kind(const std::string& kind) {
    std::vector<JobRecord> out;
    for (int64_t after = 0;;) {
      auto page = store->list_jobs(after, 1000, kind);
      if (!page) return page.error();
      if (page->empty()) return out;
      after = page->back().id;
      std::move(page->begin(), page->end(), std::back_inserter(out));
    }
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

  // Service::handle() before counting the response: token endpoint, or bearer, limit, route.
  Response dispatch(const Request& req);

  // Background work for Service::tick(); each returns whether more is pending.
  bool tick_sms();      // routes_sms.cc
  bool tick_bulk();     // routes_jobs.cc
  bool tick_billing();  // routes_billing.cc

  // One function per resource family, each in its routes_*.cc.
  void register_routes();
  void register_thing_routes();
  void register_group_routes();
  void register_network_routes();
  void register_profile_routes();
  void register_user_routes();
  void register_sms_routes();
  void register_job_routes();
  void register_billing_routes();
  void register_event_routes();
  void register_metrics_routes();  // routes_metrics.cc
};

}  // namespace simcore::ctl
