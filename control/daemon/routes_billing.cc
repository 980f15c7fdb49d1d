// control/daemon/routes_billing.cc — billing reports: usage and the rate plan per cycle, as jobs.
//
// POST stores a RUNNING job (kind BILLING_REPORT). tick_billing() computes one report at a
// time, kBillingSlice Things per tick, keeping the lines in memory (BillingRun) and storing the
// whole report once, DONE, in one transaction: rewriting a growing report every slice would
// cost the square of its size. A restart computes a RUNNING report again from the start; the
// figures come from stored records only:
// - the cycle fee (API.md "Billing"): due when the Thing was ACTIVE at some time of the cycle,
//   or SUSPENDED for part of it but not all of it. So a Thing PROVISIONED, SUSPENDED or RETIRED
//   for the whole cycle pays none, nor one that went PROVISIONED → RETIRED. The states come from
//   the STATE_CHANGED events {from, to}: the state at the cycle's start is the `to` of the last
//   change before it, else the `from` of the first change after, else the current state (a
//   Thing provisioned straight into a state has no event);
// - megabytes (10^6 bytes, up and down) and SMS from the cycle's usage_daily rows.
// Money is kept in integer cents: each charge is rounded to the cent once, and a report's total
// is the exact sum of its lines.
#include <cmath>

#include "control/daemon/service_impl.h"

namespace simcore::ctl {

struct Service::Impl::BillingRun {
  JobRecord job;
  api::BillingReportRequest req;
  std::vector<core::ThingId> things;  // the scope's Things when the run started, by id
  size_t next = 0;                    // things[0, next) have their line
  json::array lines;
  int64_t total_cents = 0;
};

namespace {

using Impl = Service::Impl;

constexpr const char* kBillingKind = "BILLING_REPORT";
// Things per tick: two indexed reads each, a few milliseconds per slice.
constexpr size_t kBillingSlice = 500;
constexpr int kEventPage = 1000;

// A billing cycle: the calendar month [first, next) in UTC.
struct CycleSpan {
  Day first;
  Day next;
};

CycleSpan cycle_span(const api::BillingReportRequest& r) {
  const std::chrono::year_month_day first{std::chrono::year(r.year), std::chrono::month(r.month),
                                          std::chrono::day(1)};
  return {Day(first), Day(first + std::chrono::months(1))};
}

int64_t to_cents(double amount) { return std::llround(amount * 100); }
double amount(int64_t cents) { return static_cast<double>(cents) / 100; }

// A STATE_CHANGED event's {from, to}; nullopt when its detail is not one.
std::optional<std::pair<core::ThingState, core::ThingState>> state_change(const EventRecord& e) {
  auto d = api::parse_body(e.detail_json);
  const json::object* o = d ? d->if_object() : nullptr;
  auto state = [o](const char* key) -> std::optional<core::ThingState> {
    const json::value* v = o ? o->if_contains(key) : nullptr;
    if (!v || !v->is_string()) return std::nullopt;
    auto s = core::parse_state(v->get_string());
    if (!s) return std::nullopt;
    return *s;
  };
  const auto from = state("from");
  const auto to = state("to");
  if (!from || !to) return std::nullopt;
  return std::pair{*from, *to};
}

// The fee rule on a cycle's states: the one at its start and those entered during it.
bool fee_rule(core::ThingState at_start, const std::vector<core::ThingState>& entered) {
  auto visited = [&](core::ThingState s) {
    return at_start == s || std::find(entered.begin(), entered.end(), s) != entered.end();
  };
  // A change during the cycle means SUSPENDED did not last all of it.
  return visited(core::ThingState::kActive) ||
         (visited(core::ThingState::kSuspended) && !entered.empty());
}

core::Result<bool> fee_due(Store& store, const core::Thing& t, const CycleSpan& c) {
  const int64_t start = day_start_ms(c.first);
  const int64_t end = day_start_ms(c.next);
  std::optional<core::ThingState> at_start;
  std::vector<core::ThingState> entered;
  const EventFilter f{.thing = t.id, .type = "STATE_CHANGED"};
  for (int64_t after = 0;;) {
    auto page = store.list_events(after, kEventPage, f);
    if (!page) return page.error();
    for (const EventRecord& e : *page) {
      const auto change = state_change(e);
      if (!change) continue;
      if (e.time_ms < start) {
        at_start = change->second;
        continue;
      }
      if (!at_start) at_start = change->first;
      if (e.time_ms >= end) return fee_rule(*at_start, entered);
      entered.push_back(change->second);
    }
    if (static_cast<int>(page->size()) < kEventPage) break;
    after = page->back().id;
  }
  return fee_rule(at_start.value_or(t.state), entered);
}

struct Line {
  json::object json;
  int64_t total_cents = 0;
};

core::Result<Line> billing_line(Store& store, const core::Thing& t, const CycleSpan& c,
                                const RatePlan& plan) {
  auto due = fee_due(store, t, c);
  if (!due) return due.error();
  auto days = store.list_usage(day_text(c.first), day_text(c.next - std::chrono::days(1)), t.id);
  if (!days) return days.error();
  uint64_t bytes = 0;
  uint64_t sms = 0;
  for (const UsageDay& d : *days) {
    bytes += d.bytes_up + d.bytes_down;
    sms += d.sms_count;
  }
  const int64_t fee = *due ? to_cents(plan.fee_per_cycle) : 0;
  const int64_t data = to_cents(static_cast<double>(bytes) / 1e6 * plan.price_per_mb);
  const int64_t sms_charge = to_cents(static_cast<double>(sms) * plan.price_per_sms);
  Line line;
  line.total_cents = fee + data + sms_charge;
  line.json = {{"thingId", std::to_string(t.id.value)},
               {"iccid", t.iccid},
               {"cycleFee", amount(fee)},
               {"dataMegabytes", static_cast<double>(bytes) / 1e6},
               {"dataCharge", amount(data)},
               {"smsCount", sms},
               {"smsCharge", amount(sms_charge)},
               {"total", amount(line.total_cents)}};
  return line;
}

// A stored report: the job, its request and (once DONE) its result.
struct Report {
  JobRecord job;
  api::BillingReportRequest req;
  json::object result;  // {currency, partial, total, lines}; empty unless DONE
};

core::Result<Report> decode(JobRecord job) {
  auto req = api::parse_body(job.request_json);
  auto r = req ? api::billing_report_from_json(*req)
               : core::Result<api::BillingReportRequest>(req.error());
  if (!r) {
    return core::Error(core::Code::kInternal, "billing report " + std::to_string(job.id) +
                                                  " is stored malformed: " + r.error().message());
  }
  auto result = api::parse_body(job.result_json);
  Report out{std::move(job), *r, {}};
  if (result && result->is_object()) out.result = std::move(result->get_object());
  return out;
}

// `lines` false: the list shows reports without their lines.
json::value report_to_json(const Impl& s, const Report& r, bool lines) {
  const json::object& res = r.result;
  const bool done = r.job.status == "DONE";
  const json::value* currency = res.if_contains("currency");
  const json::value* partial = res.if_contains("partial");
  const json::value* total = res.if_contains("total");
  const json::value* stored_lines = res.if_contains("lines");
  json::object o = api::to_json(r.req).as_object();
  o["id"] = std::to_string(r.job.id);
  if (!o.contains("thingsGroupId")) o["thingsGroupId"] = nullptr;
  if (!o.contains("thingId")) o["thingId"] = nullptr;
  o["status"] = r.job.status;
  o["currency"] = currency ? *currency : json::value(s.cfg.rate_plan.currency);
  o["partial"] = partial ? *partial : json::value(s.clock() < day_start_ms(cycle_span(r.req).next));
  o["createdAt"] = api::time_text(r.job.created_ms);
  o["completedAt"] = r.job.status == "RUNNING" ? json::value(nullptr)
                                               : json::value(api::time_text(r.job.updated_ms));
  o["total"] = done && total ? *total : json::value(nullptr);
  o["lines"] = lines && done && stored_lines ? *stored_lines : json::array();
  return o;
}

bool may_see_report(const Impl& s, const api::BillingReportRequest& r) {
  if (s.caller->role != core::Role::kGroupUser) return true;
  switch (r.scope) {
    case api::BillingScope::kAccount: return false;
    case api::BillingScope::kThingsGroup: return s.may_see_group(r.group);
    case api::BillingScope::kThing: {
      const core::Thing* t = s.account.thing(r.thing);
      return t && s.may_see_group(t->group);
    }
  }
  return false;
}

// The report named by the path, if this caller may see it (404 otherwise, as for a bulk action).
core::Result<Report> visible_report(Impl& s, const PathParams& p) {
  const std::string& text = p.at("reportId");
  const auto id = static_cast<int64_t>(api::parse_id_text(text, INT64_MAX));
  auto job = id ? s.store->get_job(id) : core::Result<JobRecord>(not_found("billing report", text));
  if (!job && job.error().code() != core::Code::kNotFound) return job.error();
  if (!job || job->kind != kBillingKind) return not_found("billing report", text);
  auto r = decode(std::move(*job));
  if (!r) return r.error();
  if (!may_see_report(s, r->req)) return not_found("billing report", text);
  return r;
}

// Ok when the report's Thing or group exists (who may ask is the route's Access: writers).
core::Status check_scope(const Impl& s, const api::BillingReportRequest& r) {
  if (r.scope == api::BillingScope::kThingsGroup && !s.account.group(r.group)) {
    return not_found("things group", std::to_string(r.group.value));
  }
  if (r.scope == api::BillingScope::kThing && !s.account.thing(r.thing)) {
    return not_found("thing", std::to_string(r.thing.value));
  }
  return core::Status::Ok();
}

std::vector<core::ThingId> scope_things(const core::Account& account,
                                        const api::BillingReportRequest& r) {
  std::vector<core::ThingId> out;
  for (const core::Thing& t : account.model().things) {
    const bool in = r.scope == api::BillingScope::kAccount ||
                    (r.scope == api::BillingScope::kThingsGroup && t.group == r.group) ||
                    (r.scope == api::BillingScope::kThing && t.id == r.thing);
    if (in) out.push_back(t.id);
  }
  std::sort(out.begin(), out.end(),
            [](core::ThingId a, core::ThingId b) { return a.value < b.value; });
  return out;
}

// RFC 4180: CRLF line ends; the ICCID quoted, so that a spreadsheet keeps it as text.
std::string report_csv(const json::array& lines) {
  std::string out = "thingId,iccid,cycleFee,dataMegabytes,dataCharge,smsCount,smsCharge,total\r\n";
  auto text = [](const json::object& l, const char* key) {
    const json::value* v = l.if_contains(key);
    return v && v->is_string() ? std::string(v->get_string()) : std::string();
  };
  auto number = [](const json::object& l, const char* key) {
    const json::value* v = l.if_contains(key);
    boost::system::error_code ec;
    const double x = v ? v->to_number<double>(ec) : 0;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", ec ? 0 : x);
    return std::string(buf);
  };
  for (const json::value& v : lines) {
    const json::object* l = v.if_object();
    if (!l) continue;
    std::string iccid;
    for (char c : text(*l, "iccid")) iccid += c == '"' ? std::string("\"\"") : std::string(1, c);
    const json::value* sms = l->if_contains("smsCount");
    out += text(*l, "thingId") + ",\"" + iccid + "\"," + number(*l, "cycleFee") + "," +
           number(*l, "dataMegabytes") + "," + number(*l, "dataCharge") + "," +
           (sms ? json::serialize(*sms) : "0") + "," + number(*l, "smsCharge") + "," +
           number(*l, "total") + "\r\n";
  }
  return out;
}

// Stores the finished report (DONE) in one transaction; false when the store refused.
bool finish_run(Impl& s, Impl::BillingRun& run) {
  JobRecord job = run.job;
  job.status = "DONE";
  job.updated_ms = s.clock();
  const bool partial = job.updated_ms < day_start_ms(cycle_span(run.req).next);
  job.result_json = json::serialize(json::object{{"currency", s.cfg.rate_plan.currency},
                                                 {"partial", partial},
                                                 {"total", amount(run.total_cents)},
                                                 {"lines", std::move(run.lines)}});
  return s.persist([&](Store::Txn& txn) { return txn.put_job(job).status(); }).ok();
}

// Starts computing the report: nullptr when the store could not be read (retried later).
std::shared_ptr<Impl::BillingRun> start_run(Impl& s, int64_t id) {
  auto job = s.store->get_job(id);
  if (!job) return nullptr;
  auto run = std::make_shared<Impl::BillingRun>();
  run->job = *job;
  auto r = decode(std::move(*job));
  if (!r) {
    // It can never be computed: FAILED, so that it stops being pending.
    run->job.status = "FAILED";
    run->job.updated_ms = s.clock();
    (void)s.persist([&](Store::Txn& txn) { return txn.put_job(run->job).status(); });
    return run;
  }
  run->req = r->req;
  run->things = scope_things(s.account, run->req);
  return run;
}

}  // namespace

void Service::Impl::register_billing_routes() {
  route(Verb::post, "/billingreports", Access::kWrite,
        [this](const Request& req, const PathParams&) {
          auto body = parsed(req, api::billing_report_from_json);
          if (!body) return fail(req, body.error());
          if (core::Status st = check_scope(*this, *body); !st) return fail(req, st.error());
          const int64_t now = clock();
          if (day_start_ms(cycle_span(*body).first) > now) {
            return fail(req, core::Error::invalid("cycle", "has not started yet"));
          }
          JobRecord job{.kind = kBillingKind,
                        .status = "RUNNING",
                        .request_json = json::serialize(api::to_json(*body)),
                        .created_ms = now,
                        .updated_ms = now};
          core::Status st = persist([&](Store::Txn& txn) -> core::Status {
            auto id = txn.put_job(job);
            if (!id) return id.status();
            job.id = *id;
            return core::Status::Ok();
          });
          if (!st) return fail(req, st.error());
          if (billing_pending) billing_pending->push_back(job.id);
          Response res = json_ok(req, 202, report_to_json(*this, Report{job, *body, {}}, false));
          res.set(http::bhttp::field::location,
                  cfg.api_prefix + "/billingreports/" + std::to_string(job.id));
          return res;
        });

  route(Verb::get, "/billingreports", Access::kRead, [this](const Request& req, const PathParams&) {
    auto records = jobs_of_kind(kBillingKind);
    if (!records) return fail(req, records.error());
    std::vector<Report> reports;
    for (JobRecord& j : *records) {
      auto r = decode(std::move(j));
      if (!r) return fail(req, r.error());
      reports.push_back(std::move(*r));
    }
    std::vector<const Report*> newest_first;
    for (auto it = reports.rbegin(); it != reports.rend(); ++it) newest_first.push_back(&*it);
    return list(
        req, newest_first, [this](const Report& r) { return may_see_report(*this, r.req); },
        [this](const Report& r) { return report_to_json(*this, r, false); });
  });

  route(Verb::get, "/billingreports/{reportId}", Access::kRead,
        [this](const Request& req, const PathParams& p) {
          auto r = visible_report(*this, p);
          if (!r) return fail(req, r.error());
          return json_ok(req, r->job.status == "RUNNING" ? 202 : 200,
                         report_to_json(*this, *r, true));
        });

  // Ok when the report is DONE; 412 while it runs (or when it failed).
  auto done_report = [this](const PathParams& p) -> core::Result<Report> {
    auto r = visible_report(*this, p);
    if (r && r->job.status != "DONE") {
      return core::Error(core::Code::kFailedPrecondition,
                         "billing report " + p.at("reportId") + " is " + r->job.status);
    }
    return r;
  };

  route(Verb::get, "/billingreports/{reportId}/download", Access::kRead,
        [this, done_report](const Request& req, const PathParams& p) {
          auto r = done_report(p);
          if (!r) return fail(req, r.error());
          Response res = no_content(req);
          res.result(http::bhttp::status::found);
          res.set(http::bhttp::field::location,
                  cfg.api_prefix + "/billingreports/" + p.at("reportId") + "/csv");
          return res;
        });

  route(Verb::get, "/billingreports/{reportId}/csv", Access::kRead,
        [this, done_report](const Request& req, const PathParams& p) {
          auto r = done_report(p);
          if (!r) return fail(req, r.error());
          const json::value* lines = r->result.if_contains("lines");
          Response res = http::json_response(
              200, report_csv(lines && lines->is_array() ? lines->get_array() : json::array()),
              req.request_id);
          res.set(http::bhttp::field::content_type, "text/csv; charset=utf-8");
          res.set(http::bhttp::field::content_disposition,
                  "attachment; filename=\"billing-report-" + p.at("reportId") + ".csv\"");
          return res;
        });
}

bool Service::Impl::tick_billing() {
  if (!billing_pending) {
    auto records = jobs_of_kind(kBillingKind);
    if (!records) return false;
    billing_pending.emplace();
    for (const JobRecord& r : *records) {
      if (r.status == "RUNNING") billing_pending->push_back(r.id);
    }
  }
  if (!billing_run) {
    if (billing_pending->empty()) return false;
    billing_run = start_run(*this, billing_pending->front());
    if (!billing_run) return false;
  }
  BillingRun& run = *billing_run;
  if (run.job.status == "RUNNING") {
    const CycleSpan cycle = cycle_span(run.req);
    for (const size_t stop = std::min(run.things.size(), run.next + kBillingSlice); run.next < stop;
         ++run.next) {
      const core::Thing* t = account.thing(run.things[run.next]);
      if (!t) continue;  // never deleted, but the run must not depend on it
      auto line = billing_line(*store, *t, cycle, cfg.rate_plan);
      if (!line) return false;  // a read failed: this Thing again on the next tick
      run.total_cents += line->total_cents;
      run.lines.push_back(std::move(line->json));
    }
    if (run.next < run.things.size()) return true;
    if (!finish_run(*this, run)) {
      billing_run.reset();  // its lines went into the refused write: compute it again
      return false;
    }
  }
  billing_pending->pop_front();
  billing_run.reset();
  return !billing_pending->empty();
}

}  // namespace simcore::ctl
