// control/daemon/routes_sms.cc — SMS to and from Things, and usage per day.
//
// An MT SMS is accepted (202, QUEUED) whatever the Thing's state, as an SMSC accepts a
// submission; tick_sms() then submits it (SENT) and, on a later tick, settles it: EXPIRED once
// its validity has passed, FAILED when the Thing is not ACTIVE or its SMS service is off,
// DELIVERED when it has a session, else it waits. Each transition is stored with its
// SMS_<STATUS> event in one transaction per tick, and a DELIVERED or RECEIVED SMS counts in
// the Thing's usage of that UTC day, which is what billing charges.
#include "control/daemon/service_impl.h"

namespace simcore::ctl {
namespace {

// SMS settled per tick: one transaction of this many rows stays well under a second.
constexpr int kSmsSlice = 1000;
constexpr int64_t kMaxUsageDays = 366;

const char* direction_name(SmsDirection d) { return d == SmsDirection::kMo ? "MO" : "MT"; }

std::optional<SmsStatus> parse_sms_status(std::string_view text) {
  for (auto s : {SmsStatus::kQueued, SmsStatus::kSent, SmsStatus::kDelivered, SmsStatus::kFailed,
                 SmsStatus::kExpired, SmsStatus::kReceived}) {
    if (text == sms_status_name(s)) return s;
  }
  return std::nullopt;
}

std::optional<SmsDirection> parse_direction(std::string_view text) {
  if (text == "MT") return SmsDirection::kMt;
  if (text == "MO") return SmsDirection::kMo;
  return std::nullopt;
}

// Why the Thing cannot exchange SMS now (the API's failureReason), or nullptr when it can.
const char* sms_barred(const core::Account& account, const core::Thing& t) {
  if (t.state != core::ThingState::kActive) return "THING_NOT_ACTIVE";
  const core::ThingsGroup* g = account.group(t.group);
  if (!t.services.sms || !g || !g->services.sms) return "SMS_SERVICE_OFF";
  return nullptr;
}

// The SMS_<STATUS> event of the SMS's status; a DELIVERED or RECEIVED one also counts in the
// usage of its day.
core::Status record(Service::Impl& s, Store::Txn& txn, const SmsRecord& m, const char* reason) {
  json::object d{{"smsId", std::to_string(m.id)}};
  if (reason) d["reason"] = reason;
  const std::string type = std::string("SMS_") + sms_status_name(m.status);
  if (core::Status st = s.event(txn, type.c_str(), s.account.thing(m.thing), d); !st) return st;
  if (m.status != SmsStatus::kDelivered && m.status != SmsStatus::kReceived) {
    return core::Status::Ok();
  }
  return txn.add_usage(
      UsageDay{.thing = m.thing, .day = day_text(utc_day(m.updated_ms)), .sms_count = 1});
}

// A transition of a stored SMS.
core::Status write_status(Service::Impl& s, Store::Txn& txn, const SmsRecord& m,
                          const char* reason) {
  if (core::Status st = txn.update_sms_status(m.id, m.status, m.updated_ms); !st) return st;
  return record(s, txn, m, reason);
}

// A new SMS (QUEUED or RECEIVED); sets m.id.
core::Status write_new(Service::Impl& s, Store::Txn& txn, SmsRecord& m) {
  auto id = txn.insert_sms(m);
  if (!id) return id.status();
  m.id = *id;
  return record(s, txn, m, nullptr);
}

// The reason stored with a FAILED SMS's event (written in the same transaction as the status).
std::optional<std::string> failure_reason(Store& store, const SmsRecord& m) {
  if (m.status != SmsStatus::kFailed) return std::nullopt;
  EventFilter f{.thing = m.thing,
                .type = "SMS_FAILED",
                .since_ms = m.updated_ms,
                .until_ms = m.updated_ms + 1};
  auto events = store.list_events(0, kSmsSlice, f);
  if (!events) return std::nullopt;
  const std::string id = std::to_string(m.id);
  for (const EventRecord& e : *events) {
    auto d = api::parse_body(e.detail_json);
    const json::object* o = d ? d->if_object() : nullptr;
    const json::value* sms = o ? o->if_contains("smsId") : nullptr;
    const json::value* reason = o ? o->if_contains("reason") : nullptr;
    if (sms && reason && sms->is_string() && sms->get_string() == id && reason->is_string()) {
      return std::string(reason->get_string());
    }
  }
  return std::nullopt;
}

json::value sms_to_json(Store& store, const SmsRecord& m) {
  json::value reason = nullptr;
  if (auto r = failure_reason(store, m)) reason = json::string(*r);
  json::value expires = nullptr;
  if (m.direction == SmsDirection::kMt && m.validity_s > 0) {
    expires = json::string(api::time_text(m.created_ms + m.validity_s * 1000));
  }
  return json::object{{"id", std::to_string(m.id)},
                      {"thingId", std::to_string(m.thing.value)},
                      {"direction", direction_name(m.direction)},
                      {"text", m.text},
                      {"status", sms_status_name(m.status)},
                      {"failureReason", std::move(reason)},
                      {"createdAt", api::time_text(m.created_ms)},
                      {"updatedAt", api::time_text(m.updated_ms)},
                      {"expiresAt", std::move(expires)}};
}

// What a tick does to one SMS.
struct Step {
  SmsRecord sms;
  const char* reason = nullptr;
};

// The next status of a SENT SMS at `now`, or nullopt while it waits for a session.
std::optional<Step> settle(const core::Account& account, const SmsRecord& m, int64_t now) {
  Step step{m};
  step.sms.updated_ms = now;
  const core::Thing* t = account.thing(m.thing);
  if (m.validity_s > 0 && now >= m.created_ms + m.validity_s * 1000) {
    step.sms.status = SmsStatus::kExpired;
  } else if (const char* why = t ? sms_barred(account, *t) : "THING_NOT_ACTIVE") {
    step.sms.status = SmsStatus::kFailed;
    step.reason = why;
  } else if (t->session) {
    step.sms.status = SmsStatus::kDelivered;
  } else {
    return std::nullopt;
  }
  return step;
}

}  // namespace

void Service::Impl::register_sms_routes() {
  route(Verb::post, "/things/{thingId}/sms", Access::kThingWrite,
        [this](const Request& req, const PathParams& p) {
          auto t = visible_thing(p);
          if (!t) return fail(req, t.error());
          auto body = parsed(req, api::sms_create_from_json);
          if (!body) return fail(req, body.error());
          const int64_t now = clock();
          SmsRecord m{.thing = (*t)->id,
                      .direction = SmsDirection::kMt,
                      .text = body->text,
                      .status = SmsStatus::kQueued,
                      .created_ms = now,
                      .updated_ms = now,
                      .validity_s = body->validity_s.value_or(cfg.sms_validity_s)};
          if (core::Status st = persist([&](Store::Txn& txn) { return write_new(*this, txn, m); });
              !st) {
            return fail(req, st.error());
          }
          Response res = json_ok(req, 202, sms_to_json(*store, m));
          res.set(http::bhttp::field::location, cfg.api_prefix + "/sms/" + std::to_string(m.id));
          return res;
        });

  // Both lists: newest first, filtered by status and direction, paged by the store.
  auto sms_list = [this](const Request& req, SmsFilter f, core::FieldErrors errs) {
    auto q = http::Query::parse(req.target());
    if (!q) return fail(req, q.error());
    if (auto s = q->get("status")) {
      f.status = parse_sms_status(*s);
      if (!f.status) {
        errs.add("status", "must be QUEUED, SENT, DELIVERED, FAILED, EXPIRED or RECEIVED");
      }
    }
    if (auto d = q->get("direction")) {
      f.direction = parse_direction(*d);
      if (!f.direction) errs.add("direction", "must be MT or MO");
    }
    auto page = http::parse_page(*q);
    if (!page) {
      for (const core::FieldError& e : page.error().fields()) errs.add(e.field, e.message);
    }
    if (core::Status st = errs.status(); !st) return fail(req, st.error());
    if (caller->role == core::Role::kGroupUser) f.groups = caller->groups;
    auto total = store->count_sms(f);
    if (!total) return fail(req, total.error());
    auto rows = store->list_sms_newest(f, static_cast<int64_t>(page->offset),
                                       static_cast<int>(page->limit));
    if (!rows) return fail(req, rows.error());
    json::array out;
    for (const SmsRecord& m : *rows) out.push_back(sms_to_json(*store, m));
    Response res = json_ok(req, 200, out);
    http::set_page_headers(res, *q, *page, static_cast<size_t>(*total));
    return res;
  };

  route(Verb::get, "/things/{thingId}/sms", Access::kRead,
        [this, sms_list](const Request& req, const PathParams& p) {
          auto t = visible_thing(p);
          if (!t) return fail(req, t.error());
          return sms_list(req, SmsFilter{.thing = (*t)->id}, {});
        });

  route(Verb::get, "/sms", Access::kRead, [this, sms_list](const Request& req, const PathParams&) {
    auto q = http::Query::parse(req.target());
    if (!q) return fail(req, q.error());
    SmsFilter f;
    core::FieldErrors errs;
    if (auto id = q->get("thingId")) {
      f.thing = core::ThingId{api::parse_id_text(*id, ~0ull)};
      if (!f.thing->value) errs.add("thingId", "not an id");
    }
    return sms_list(req, f, std::move(errs));
  });

  route(Verb::get, "/sms/{smsId}", Access::kRead, [this](const Request& req, const PathParams& p) {
    const std::string& text = p.at("smsId");
    const auto id = static_cast<int64_t>(api::parse_id_text(text, INT64_MAX));
    auto m = id ? store->get_sms(id) : core::Result<SmsRecord>(not_found("sms", text));
    if (!m) {
      return fail(req,
                  m.error().code() == core::Code::kNotFound ? not_found("sms", text) : m.error());
    }
    const core::Thing* t = account.thing(m->thing);
    if (t && !may_see_group(t->group)) {
      return fail(req, core::Error(core::Code::kPermissionDenied,
                                   "sms " + text + " is not of a thing in your things groups"));
    }
    return json_ok(req, 200, sms_to_json(*store, *m));
  });

  route(Verb::get, "/things/{thingId}/usage", Access::kRead,
        [this](const Request& req, const PathParams& p) {
          auto t = visible_thing(p);
          if (!t) return fail(req, t.error());
          auto q = http::Query::parse(req.target());
          if (!q) return fail(req, q.error());
          // Default: the current billing cycle so far.
          const Day today = utc_day(clock());
          const std::chrono::year_month_day ymd(today);
          std::optional<Day> from = Day(ymd.year() / ymd.month() / 1);
          std::optional<Day> to = today;
          core::FieldErrors errs;
          for (auto [name, day] : {std::pair{"from", &from}, std::pair{"to", &to}}) {
            if (auto text = q->get(name)) {
              *day = parse_day(*text);
              if (!*day) errs.add(name, "must be a date YYYY-MM-DD");
            }
          }
          if (from && to && *to < *from) errs.add("to", "must not be before from");
          if (from && to && (*to - *from).count() >= kMaxUsageDays) {
            errs.add("to", "at most " + std::to_string(kMaxUsageDays) + " days from from");
          }
          if (core::Status st = errs.status(); !st) return fail(req, st.error());
          auto rows = store->list_usage(day_text(*from), day_text(*to), (*t)->id);
          if (!rows) return fail(req, rows.error());
          // Every day of the range, so a chart needs no gap filling; rows come ordered by day.
          json::array days;
          auto row = rows->begin();
          for (Day d = *from; d <= *to; d += std::chrono::days(1)) {
            const std::string date = day_text(d);
            UsageDay u;
            if (row != rows->end() && row->day == date) u = *row++;
            days.push_back(json::object{{"date", date},
                                        {"bytesUp", u.bytes_up},
                                        {"bytesDown", u.bytes_down},
                                        {"smsCount", u.sms_count}});
          }
          return json_ok(req, 200,
                         json::object{{"thingId", std::to_string((*t)->id.value)},
                                      {"from", day_text(*from)},
                                      {"to", day_text(*to)},
                                      {"days", std::move(days)}});
        });
}

bool Service::Impl::tick_sms() {
  const int64_t now = clock();
  // SENT ones first, so that a new SMS is SENT for at least one tick. A pass over waiting SMS
  // takes one slice per tick and does not ask for an immediate next tick: they wait for a
  // session or their expiry, and re-reading them at once would only spin.
  auto sent = store->list_sms(sms_retry_after, kSmsSlice, {}, SmsStatus::kSent);
  auto queued = store->list_sms(0, kSmsSlice, {}, SmsStatus::kQueued);
  if (!sent || !queued) return false;
  std::vector<Step> steps;
  for (const SmsRecord& m : *sent) {
    if (auto step = settle(account, m, now)) steps.push_back(*step);
  }
  for (const SmsRecord& m : *queued) {
    Step& step = steps.emplace_back(Step{m});
    step.sms.status = SmsStatus::kSent;
    step.sms.updated_ms = now;
  }
  if (!steps.empty()) {
    core::Status st = persist([&](Store::Txn& txn) {
      for (const Step& step : steps) {
        if (core::Status e = write_status(*this, txn, step.sms, step.reason); !e) return e;
      }
      return core::Status::Ok();
    });
    if (!st) return false;  // nothing moved; the next tick retries
  }
  sms_retry_after = static_cast<int>(sent->size()) < kSmsSlice ? 0 : sent->back().id;
  return static_cast<int>(queued->size()) == kSmsSlice;
}

// ------------------------------------------------------------------ Service entry points

core::Result<int64_t> Service::receive_sms(core::ThingId thing, std::string_view text) {
  Impl& s = *impl_;
  const core::Thing* t = s.account.thing(thing);
  if (!t) return not_found("thing", std::to_string(thing.value));
  if (core::Status st = api::check_sms_text(text); !st) return st.error();
  if (const char* why = sms_barred(s.account, *t)) {
    return core::Error(core::Code::kFailedPrecondition,
                       "thing " + std::to_string(thing.value) + " may not send SMS: " + why);
  }
  const int64_t now = s.clock();
  SmsRecord m{.thing = thing,
              .direction = SmsDirection::kMo,
              .text = std::string(text),
              .status = SmsStatus::kReceived,
              .created_ms = now,
              .updated_ms = now};
  if (core::Status st = s.persist([&](Store::Txn& txn) { return write_new(s, txn, m); }); !st) {
    return st.error();
  }
  return m.id;
}

core::Status Service::record_usage(core::ThingId thing, uint64_t bytes_up, uint64_t bytes_down) {
  Impl& s = *impl_;
  if (!s.account.thing(thing)) return not_found("thing", std::to_string(thing.value));
  if (bytes_up == 0 && bytes_down == 0) return core::Status::Ok();
  const UsageDay d{.thing = thing,
                   .day = day_text(utc_day(s.clock())),
                   .bytes_up = bytes_up,
                   .bytes_down = bytes_down};
  return s.persist([&](Store::Txn& txn) { return txn.add_usage(d); });
}

core::Status Service::record_usage_by_slot(std::span<const SlotUsage> usage) {
  Impl& s = *impl_;
  const std::string day = day_text(utc_day(s.clock()));
  std::vector<UsageDay> rows;
  const std::vector<core::Thing>& things = s.account.model().things;
  for (const SlotUsage& u : usage) {
    if (u.slot.value >= things.size() || (u.bytes_up == 0 && u.bytes_down == 0)) continue;
    rows.push_back({.thing = things[u.slot.value].id,
                    .day = day,
                    .bytes_up = u.bytes_up,
                    .bytes_down = u.bytes_down});
  }
  if (rows.empty()) return core::Status::Ok();
  return s.persist([&](Store::Txn& txn) -> core::Status {
    for (const UsageDay& d : rows) {
      if (core::Status st = txn.add_usage(d); !st) return st;
    }
    return core::Status::Ok();
  });
}

}  // namespace simcore::ctl
