// control/daemon/routes_events.cc — the event log and the what-if evaluate call.
#include <charconv>
#include <chrono>
#include <deque>

#include "control/daemon/service_impl.h"
#include "core/reference_eval.h"

namespace simcore::ctl {
namespace {

// Parses a number of exactly `n` digits at `at`; -1 when it is not one.
int digits_at(std::string_view s, size_t at, size_t n) {
  int v = 0;
  if (at + n > s.size()) return -1;
  auto [p, ec] = std::from_chars(s.data() + at, s.data() + at + n, v);
  return ec == std::errc() && p == s.data() + at + n ? v : -1;
}

// An RFC 3339 date-time ("2027-01-15T08:00:00Z", fractions and "+01:00" offsets allowed) or
// milliseconds since the epoch, as ms since the epoch.
core::Result<int64_t> parse_time(std::string_view s, const std::string& field) {
  const core::Error bad = core::Error::invalid(
      field, "must be an RFC 3339 date-time such as 2027-01-15T08:00:00Z or epoch milliseconds");
  if (!s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos) {
    int64_t ms = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), ms);
    if (ec != std::errc() || p != s.data() + s.size()) return bad;
    return ms;
  }
  // YYYY-MM-DDTHH:MM:SS
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
      s[13] != ':' || s[16] != ':') {
    return bad;
  }
  const int year = digits_at(s, 0, 4), month = digits_at(s, 5, 2), day = digits_at(s, 8, 2);
  const int hour = digits_at(s, 11, 2), minute = digits_at(s, 14, 2), sec = digits_at(s, 17, 2);
  const std::chrono::year_month_day date{std::chrono::year{year},
                                         std::chrono::month{static_cast<unsigned>(month)},
                                         std::chrono::day{static_cast<unsigned>(day)}};
  if (year < 0 || month < 0 || day < 0 || !date.ok() || hour < 0 || hour > 23 || minute < 0 ||
      minute > 59 || sec < 0 || sec > 59) {
    return bad;
  }
  size_t at = 19;
  int64_t ms = 0;
  if (s[at] == '.') {
    const size_t first = ++at;
    for (; at < s.size() && s[at] >= '0' && s[at] <= '9'; ++at) {
      if (at - first < 3) ms = ms * 10 + (s[at] - '0');
    }
    if (at == first) return bad;
    for (size_t i = std::min<size_t>(at - first, 3); i < 3; ++i) ms *= 10;
  }
  int64_t offset_min = 0;
  const std::string_view zone = s.substr(std::min(at, s.size()));
  if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    const int oh = digits_at(zone, 1, 2), om = digits_at(zone, 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return bad;
    offset_min = (zone[0] == '+' ? 1 : -1) * (oh * 60 + om);
  } else if (zone != "Z" && zone != "z") {
    return bad;
  }
  const int64_t days = std::chrono::sys_days(date).time_since_epoch().count();
  const int64_t secs = days * 86400 + hour * 3600 + minute * 60 + sec - offset_min * 60;
  return secs * 1000 + ms;
}

// Event types are upper-case words joined by '_'; unknown ones simply match no event.
bool is_event_type(std::string_view s) {
  return !s.empty() && s.size() <= 32 &&
         s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == std::string_view::npos;
}

json::value event_json(const EventRecord& e) {
  boost::system::error_code ec;
  json::value details = json::parse(e.detail_json, ec);
  if (ec || !details.is_object()) details = json::object{};
  return json::object{
      {"id", std::to_string(e.id)},
      {"type", e.type},
      {"time", api::time_text(e.time_ms)},
      {"thingId", e.thing ? json::value(std::to_string(e.thing->value)) : json::value(nullptr)},
      {"details", std::move(details)},
  };
}

// The query of GET /events. The store filters by one type at most; several are filtered here.
struct EventQuery {
  http::Page page;
  EventFilter filter;
  std::set<std::string, std::less<>> types;
};

core::Result<EventQuery> parse_event_query(const http::Query& q) {
  EventQuery out;
  core::FieldErrors errs;
  auto page = http::parse_page(q);
  if (page) out.page = *page;
  errs.merge("", page.status());
  if (auto t = q.get("thingId")) {
    const uint64_t id = api::parse_id_text(*t, ~0ull);
    if (id == 0) errs.add("thingId", "not an id");
    out.filter.thing = core::ThingId{id};
  }
  for (std::string_view t : q.get_all("type")) {
    if (!is_event_type(t)) errs.add("type", "not an event type: upper-case letters and '_'");
    out.types.emplace(t);
  }
  if (out.types.size() == 1) out.filter.type = *out.types.begin();
  for (auto [name, bound] :
       {std::pair{"since", &out.filter.since_ms}, {"until", &out.filter.until_ms}}) {
    auto text = q.get(name);
    if (!text) continue;
    auto ms = parse_time(*text, name);
    if (ms) *bound = *ms;
    errs.merge("", ms.status());
  }
  if (core::Status st = errs.status(); !st) return st.error();
  return out;
}

// Returns the page of the matching events, newest first, and how many match in all. The store
// pages oldest first by id, so one pass keeps the newest offset+limit matches (memory bounded by
// the page asked for) and counts them all.
template <class Keep>
core::Result<std::pair<json::array, size_t>> newest_events(Store& store, const EventQuery& q,
                                                           Keep keep) {
  constexpr int kBatch = 1000;
  const size_t window = q.page.offset + q.page.limit;
  std::deque<EventRecord> newest;
  size_t total = 0;
  for (int64_t after = 0;;) {
    auto batch = store.list_events(after, kBatch, q.filter);
    if (!batch) return batch.error();
    for (EventRecord& e : *batch) {
      after = e.id;
      if (!keep(e)) continue;
      ++total;
      newest.push_back(std::move(e));
      if (newest.size() > window) newest.pop_front();
    }
    if (batch->size() < static_cast<size_t>(kBatch)) break;
  }
  json::array page;
  for (size_t i = q.page.offset; i < newest.size(); ++i) {
    page.push_back(event_json(newest[newest.size() - 1 - i]));
  }
  return std::pair{std::move(page), total};
}

// The session a Thing without one would get if it attached now: its locked address, or the one
// its pool would lease next, and a TEID no open session uses. Changes nothing.
core::Result<core::Session> what_if_session(const core::Account& account, const core::Thing& t) {
  const core::Network& net = *account.network(account.group(t.group)->network);
  core::Session s;
  if (t.locked_addr) {
    s.ue_addr = *t.locked_addr;
  } else {
    core::IpAllocator pools = *account.allocator(net.id);  // a copy: nothing is leased
    auto addr = pools.allocate();
    if (!addr) {
      return core::Error(core::Code::kFailedPrecondition,
                         "the thing has no session and its network has no free address to "
                         "evaluate it with");
    }
    s.ue_addr = *addr;
  }
  s.uplink_teid = 1;
  while (account.thing_by_teid(s.uplink_teid)) ++s.uplink_teid;
  s.apn = net.apn;
  return s;
}

}  // namespace

void Service::Impl::register_event_routes() {
  // ---- Events, newest first. A GROUP_USER sees only events of its groups' Things.
  route(Verb::get, "/events", Access::kRead, [this](const Request& req, const PathParams&) {
    auto q = http::Query::parse(req.target());
    if (!q) return fail(req, q.error());
    auto query = parse_event_query(*q);
    if (!query) return fail(req, query.error());
    auto page = newest_events(*store, *query, [&](const EventRecord& e) {
      if (query->types.size() > 1 && !query->types.count(e.type)) return false;
      if (caller->role != core::Role::kGroupUser) return true;
      const core::Thing* t = e.thing ? account.thing(*e.thing) : nullptr;
      return t && may_see_group(t->group);
    });
    if (!page) return fail(req, page.error());
    Response res = json_ok(req, 200, page->first);
    http::set_page_headers(res, *q, query->page, page->second);
    return res;
  });

  // ---- What-if. A Thing without a session is evaluated as if it attached now, on a copy of
  // the model, so the answer shows what the policy does to it instead of stopping at
  // "no session".
  route(Verb::post, "/things/{thingId}/evaluate", Access::kRead,
        [this](const Request& req, const PathParams& p) {
          auto t = visible_thing(p);
          if (!t) return fail(req, t.error());
          auto ask = parsed(req, api::evaluate_from_json);
          if (!ask) return fail(req, ask.error());
          const core::Thing& thing = **t;
          std::optional<core::Model> what_if;
          core::Session session;
          if (thing.session) {
            session = *thing.session;
          } else {
            auto assumed = what_if_session(account, thing);
            if (!assumed) return fail(req, assumed.error());
            session = *assumed;
            what_if = account.model();
            what_if->things[thing.slot.value].session = session;
          }
          const core::Model& model = what_if ? *what_if : account.model();
          core::FlowMemory flows;  // a what-if remembers no flow
          const core::Decision d = core::evaluate_reference(
              model, api::to_packet(*ask, session.ue_addr, session.uplink_teid), flows);
          json::value v = api::to_json(d, model);
          v.as_object()["simulatedSession"] = what_if.has_value();
          return json_ok(req, 200, v);
        });
}

}  // namespace simcore::ctl
