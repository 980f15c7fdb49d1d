// control/daemon/routes_jobs.cc — bulk actions: jobs over many Things that run in tick() slices.
//
// POST resolves the selector at once into a snapshot of Thing ids (Things created or moved
// later are not swept in) and stores it as a job; tick_bulk() then applies the action to one
// slice of that list per call, each slice in one transaction with the job's progress, so a
// restart resumes exactly where the last committed slice ended. A dry run applies the action to
// a scratch copy of the account and is DONE before POST returns.
#include "control/daemon/service_impl.h"

namespace simcore::ctl {
namespace {

constexpr const char* kBulkKind = "BULK_ACTION";
// Enough to keep a slice's transaction and republish well under a second, few enough ticks
// that 100,000 Things take about twenty.
constexpr uint64_t kSliceThings = 5000;
constexpr size_t kMaxFailuresShown = 1000;

// Thing ids in increasing order, as inclusive runs: a selector usually matches provisioning
// batches, whose ids are consecutive, so a job of 100,000 Things stores a handful of pairs.
using IdRuns = std::vector<std::pair<uint64_t, uint64_t>>;

struct BulkJob {
  int64_t id = 0;
  std::string status = "QUEUED";  // QUEUED, RUNNING, DONE
  api::BulkActionRequest req;
  uint64_t user = 0;  // who asked: a GROUP_USER sees only its own jobs
  IdRuns targets;
  uint64_t matched = 0;
  uint64_t processed = 0;  // targets[0, processed) are handled
  uint64_t succeeded = 0;
  uint64_t failed = 0;
  json::array failures;  // the first kMaxFailuresShown
  int64_t created_ms = 0;
  std::optional<int64_t> finished_ms;
};

void add_id(IdRuns& runs, uint64_t id) {
  if (!runs.empty() && runs.back().second + 1 == id) {
    runs.back().second = id;
  } else {
    runs.emplace_back(id, id);
  }
}

// Calls fn(ThingId) for the ids at positions [from, to) of the runs.
template <class Fn>
void for_each_target(const IdRuns& runs, uint64_t from, uint64_t to, Fn fn) {
  uint64_t pos = 0;
  for (const auto& [first, last] : runs) {
    const uint64_t len = last - first + 1;
    if (pos + len > from) {
      for (uint64_t i = std::max(from, pos) - pos; i < len && pos + i < to; ++i) {
        fn(core::ThingId{first + i});
      }
    }
    pos += len;
    if (pos >= to) return;
  }
}

JobRecord encode(const BulkJob& j, int64_t now_ms) {
  json::array runs;
  runs.reserve(j.targets.size());
  for (const auto& [first, last] : j.targets) runs.push_back(json::array{first, last});
  JobRecord r;
  r.id = j.id;
  r.kind = kBulkKind;
  r.status = j.status;
  r.request_json = json::serialize(json::object{
      {"request", api::to_json(j.req)}, {"userId", j.user}, {"targets", std::move(runs)}});
  json::object result{{"processed", j.processed},
                      {"succeeded", j.succeeded},
                      {"failed", j.failed},
                      {"failures", j.failures}};
  if (j.finished_ms) result["finishedMs"] = *j.finished_ms;
  r.result_json = json::serialize(result);
  r.created_ms = j.created_ms;
  r.updated_ms = now_ms;
  return r;
}

// The stored form is ours, but a database edited by hand must not crash the daemon.
core::Result<BulkJob> decode(const JobRecord& r) {
  const core::Error bad(core::Code::kInternal,
                        "bulk action " + std::to_string(r.id) + " is stored in an unknown form");
  auto request = api::parse_body(r.request_json);
  auto result = api::parse_body(r.result_json);
  if (!request || !result || !request->is_object() || !result->is_object()) return bad;
  const json::object& q = request->get_object();
  const json::object& s = result->get_object();
  const json::value* req = q.if_contains("request");
  auto parsed = req ? api::bulk_action_from_json(*req) : core::Result<api::BulkActionRequest>(bad);
  if (!parsed) return bad;
  BulkJob j;
  j.id = r.id;
  j.status = r.status;
  j.req = std::move(*parsed);
  j.created_ms = r.created_ms;
  boost::system::error_code ec;
  const auto u64 = [&ec](const json::object& o, std::string_view key) -> uint64_t {
    const json::value* v = o.if_contains(key);
    return v ? v->to_number<uint64_t>(ec) : (ec = boost::json::error::not_found, 0);
  };
  j.user = u64(q, "userId");
  j.processed = u64(s, "processed");
  j.succeeded = u64(s, "succeeded");
  j.failed = u64(s, "failed");
  if (const json::value* f = s.if_contains("finishedMs")) j.finished_ms = f->to_number<int64_t>(ec);
  const json::array* runs = q.contains("targets") ? q.at("targets").if_array() : nullptr;
  const json::array* failures = s.contains("failures") ? s.at("failures").if_array() : nullptr;
  if (!runs || !failures) return bad;
  j.failures = *failures;
  for (const json::value& run : *runs) {
    const json::array* pair = run.if_array();
    if (!pair || pair->size() != 2) return bad;
    const uint64_t first = (*pair)[0].to_number<uint64_t>(ec);
    const uint64_t last = (*pair)[1].to_number<uint64_t>(ec);
    if (ec || last < first) return bad;
    j.targets.emplace_back(first, last);
    j.matched += last - first + 1;
  }
  if (ec || j.processed > j.matched) return bad;
  return j;
}

json::value bulk_to_json(const BulkJob& j) {
  json::object o{{"id", std::to_string(j.id)}};
  const json::value request = api::to_json(j.req);
  for (const auto& kv : request.as_object()) o[kv.key()] = kv.value();
  o["status"] = j.status;
  o["matched"] = j.matched;
  o["processed"] = j.processed;
  o["succeeded"] = j.succeeded;
  o["failed"] = j.failed;
  o["failures"] = j.failures;
  o["createdAt"] = api::time_text(j.created_ms);
  o["finishedAt"] = j.finished_ms ? json::value(api::time_text(*j.finished_ms)) : nullptr;
  return o;
}

std::optional<core::ThingState> target_state(api::BulkAction a) {
  switch (a) {
    case api::BulkAction::kActivate: return core::ThingState::kActive;
    case api::BulkAction::kSuspend: return core::ThingState::kSuspended;
    case api::BulkAction::kRetire: return core::ThingState::kRetired;
    default: return std::nullopt;
  }
}

// The patch the action makes to `t`, or nothing when `t` already is as asked.
std::optional<core::ThingPatch> patch_for(const api::BulkActionRequest& r, const core::Thing& t) {
  core::ThingPatch p;
  const bool tagged = std::find(t.tags.begin(), t.tags.end(), r.tag) != t.tags.end();
  switch (r.action) {
    case api::BulkAction::kSetGroup:
      if (t.group == r.group) return std::nullopt;
      p.group = r.group;
      return p;
    case api::BulkAction::kAddTag:
      if (tagged) return std::nullopt;
      p.tags = t.tags;
      p.tags->push_back(r.tag);
      return p;
    case api::BulkAction::kRemoveTag:
      if (!tagged) return std::nullopt;
      p.tags = t.tags;
      std::erase(*p.tags, r.tag);
      return p;
    case api::BulkAction::kSetServices: {
      core::Services s = t.services;
      s.data = r.data.value_or(s.data);
      s.sms = r.sms.value_or(s.sms);
      if (s == t.services) return std::nullopt;
      p.services = s;
      return p;
    }
    default: return std::nullopt;
  }
}

// Applies the action to one Thing through `acc`. Returns whether the Thing changed; a Thing
// already as asked (ACTIVATE on an ACTIVE Thing, ADD_TAG of a tag it has) succeeds unchanged.
core::Result<bool> apply(core::Account& acc, const api::BulkActionRequest& r,
                         const core::Thing& t) {
  if (auto to = target_state(r.action)) {
    if (t.state == *to) return false;
    if (core::Status s = acc.set_state(t.id, *to); !s) return s.error();
    return true;
  }
  auto patch = patch_for(r, t);
  if (!patch) return false;
  if (core::Status s = acc.update_thing(t.id, *patch); !s) return s.error();
  return true;
}

// A changed Thing as it was before the action.
struct BulkChange {
  core::ThingState from;
  bool had_session;
};

// Applies the job's action to targets[processed, to) through `acc`, counting outcomes;
// on_change(thing now, before) sees every Thing that changed.
template <class OnChange>
void run_targets(core::Account& acc, BulkJob& j, uint64_t to, OnChange on_change) {
  const bool state_action = target_state(j.req.action).has_value();
  for_each_target(j.targets, j.processed, to, [&](core::ThingId id) {
    const core::Thing* t = acc.thing(id);
    const BulkChange before{t ? t->state : core::ThingState::kProvisioned,
                            t && t->session.has_value()};
    auto changed = t ? apply(acc, j.req, *t)
                     : core::Result<bool>(not_found("thing", std::to_string(id.value)));
    if (changed) {
      ++j.succeeded;
      if (*changed) on_change(*acc.thing(id), before);
      return;
    }
    ++j.failed;
    if (j.failures.size() < kMaxFailuresShown) {
      const core::Error& e = changed.error();
      const bool transition = state_action && e.code() == core::Code::kFailedPrecondition;
      j.failures.push_back(json::object{
          {"thingId", std::to_string(id.value)},
          {"code", transition ? "INVALID_STATE_TRANSITION" : core::code_name(e.code())},
          {"message", e.message()}});
    }
  });
  j.processed = to;
}

bool may_see_job(const Service::Impl& s, uint64_t user) {
  return s.caller->role != core::Role::kGroupUser || s.caller->user.value == user;
}

// Checks what the selector and the parameter name (400 for what does not exist, 403 for what
// a GROUP_USER may not touch) and returns the matched Things in slot order.
core::Result<std::vector<core::ThingId>> bulk_targets(const Service::Impl& s,
                                                      const api::BulkActionRequest& r) {
  const api::BulkSelector& sel = r.selector;
  const core::Account& account = s.account;
  core::FieldErrors missing, denied;
  const auto check_group = [&](std::optional<core::GroupId> g, const std::string& field) {
    if (!g) return;
    if (!account.group(*g)) {
      missing.add(field, "no such things group");
    } else if (!s.may_see_group(*g)) {
      denied.add(field, "not one of your things groups");
    }
  };
  check_group(sel.group, "selector.thingsGroupId");
  if (r.action == api::BulkAction::kSetGroup) check_group(r.group, "thingsGroupId");
  std::vector<const core::Thing*> candidates;
  if (sel.thing_ids) {
    for (size_t i = 0; i < sel.thing_ids->size(); ++i) {
      const core::Thing* t = account.thing((*sel.thing_ids)[i]);
      const std::string f = "selector.thingIds[" + std::to_string(i) + "]";
      if (!t) {
        missing.add(f, "no such thing");
      } else if (!s.may_see_group(t->group)) {
        denied.add(f, "not in your things groups");
      } else {
        candidates.push_back(t);
      }
    }
    std::sort(candidates.begin(), candidates.end(),
              [](const core::Thing* a, const core::Thing* b) { return a->slot < b->slot; });
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  } else {
    candidates.reserve(account.model().things.size());
    for (const core::Thing& t : account.model().things) candidates.push_back(&t);
  }
  if (core::Status st = missing.status(); !st) return st.error();
  if (core::Status st = denied.status(); !st) {
    const core::FieldError& first = st.error().fields().front();
    return core::Error::on_field(core::Code::kPermissionDenied, first.field, first.message);
  }
  std::vector<core::ThingId> out;
  for (const core::Thing* t : candidates) {
    if (!s.may_see_group(t->group)) continue;
    if (sel.group && t->group != *sel.group) continue;
    if (sel.state && t->state != *sel.state) continue;
    if (!sel.tags.empty() && !Service::Impl::has_tags(*t, sel.tags, sel.all_tags)) continue;
    out.push_back(t->id);
  }
  return out;
}

// One slice of the job: the Things through core::Account, then the changed Things, their
// events and the job's progress in one transaction, then one republish. False when the store
// refused (the account is then reloaded by persist()).
bool run_bulk_slice(Service::Impl& s, BulkJob& j) {
  const bool starting = j.status == "QUEUED";
  std::vector<core::Thing> changed;
  std::vector<BulkChange> before;
  run_targets(s.account, j, std::min(j.matched, j.processed + kSliceThings),
              [&](const core::Thing& now, const BulkChange& b) {
                changed.push_back(now);
                before.push_back(b);
              });
  const int64_t now_ms = s.clock();
  j.status = j.processed == j.matched ? "DONE" : "RUNNING";
  if (j.status == "DONE") j.finished_ms = now_ms;
  const bool state_action = target_state(j.req.action).has_value();
  const json::object job_detail{{"bulkActionId", std::to_string(j.id)}};
  core::Status st = s.persist([&](Store::Txn& txn) -> core::Status {
    if (starting) {
      if (core::Status e = s.event(txn, "BULK_STARTED", nullptr, job_detail); !e) return e;
    }
    if (core::Status e = txn.put_things(changed); !e) return e;
    for (size_t i = 0; state_action && i < changed.size(); ++i) {
      core::Status e =
          s.state_changed_events(txn, changed[i], before[i].from, before[i].had_session);
      if (!e) return e;
    }
    if (j.status == "DONE") {
      json::object d = job_detail;
      d["matched"] = j.matched;
      d["succeeded"] = j.succeeded;
      d["failed"] = j.failed;
      if (core::Status e = s.event(txn, "BULK_FINISHED", nullptr, std::move(d)); !e) return e;
    }
    return txn.put_job(encode(j, now_ms)).status();
  });
  if (!st) return false;
  std::vector<core::ThingSlot> slots;
  slots.reserve(changed.size());
  for (const core::Thing& t : changed) slots.push_back(t.slot);
  if (!slots.empty()) s.republish_things(slots);
  return true;
}

}  // namespace

void Service::Impl::register_job_routes() {
  route(Verb::post, "/bulkactions", Access::kThingWrite,
        [this](const Request& req, const PathParams&) {
          auto body = parsed(req, api::bulk_action_from_json);
          if (!body) return fail(req, body.error());
          auto targets = bulk_targets(*this, *body);
          if (!targets) return fail(req, targets.error());
          BulkJob j;
          j.req = std::move(*body);
          j.user = caller->user.value;
          j.created_ms = clock();
          for (core::ThingId id : *targets) add_id(j.targets, id.value);
          j.matched = targets->size();
          if (j.req.dry_run) {
            core::Account scratch = account;  // one copy for the whole run, not one per Thing
            run_targets(scratch, j, j.matched, [](const core::Thing&, const BulkChange&) {});
            j.status = "DONE";
            j.finished_ms = j.created_ms;
          }
          core::Status st = persist([&](Store::Txn& txn) -> core::Status {
            auto id = txn.put_job(encode(j, j.created_ms));
            if (!id) return id.status();
            j.id = *id;
            return core::Status::Ok();
          });
          if (!st) return fail(req, st.error());
          if (!j.req.dry_run && bulk_pending) bulk_pending->push_back(j.id);
          Response res = json_ok(req, 202, bulk_to_json(j));
          res.set(http::bhttp::field::location,
                  cfg.api_prefix + "/bulkactions/" + std::to_string(j.id));
          return res;
        });

  route(Verb::get, "/bulkactions", Access::kRead, [this](const Request& req, const PathParams&) {
    auto records = jobs_of_kind(kBulkKind);
    if (!records) return fail(req, records.error());
    std::vector<BulkJob> jobs;
    jobs.reserve(records->size());
    for (const JobRecord& r : *records) {
      auto j = decode(r);
      if (!j) return fail(req, j.error());
      jobs.push_back(std::move(*j));
    }
    std::vector<const BulkJob*> newest_first;
    for (auto it = jobs.rbegin(); it != jobs.rend(); ++it) newest_first.push_back(&*it);
    return list(
        req, newest_first, [this](const BulkJob& j) { return may_see_job(*this, j.user); },
        bulk_to_json);
  });

  route(Verb::get, "/bulkactions/{bulkActionId}", Access::kRead,
        [this](const Request& req, const PathParams& p) {
          const std::string& text = p.at("bulkActionId");
          const auto id = static_cast<int64_t>(api::parse_id_text(text, INT64_MAX));
          auto r = id ? store->get_job(id) : core::Result<JobRecord>(not_found("job", text));
          if (!r && r.error().code() != core::Code::kNotFound) return fail(req, r.error());
          if (!r || r->kind != kBulkKind) return fail(req, not_found("bulk action", text));
          auto j = decode(*r);
          if (!j) return fail(req, j.error());
          if (!may_see_job(*this, j->user)) return fail(req, not_found("bulk action", text));
          return json_ok(req, 200, bulk_to_json(*j));
        });
}

bool Service::Impl::tick_bulk() {
  if (!bulk_pending) {
    auto records = jobs_of_kind(kBulkKind);
    if (!records) return false;
    bulk_pending.emplace();
    for (const JobRecord& r : *records) {
      if (r.status != "DONE") bulk_pending->push_back(r.id);
    }
  }
  if (bulk_pending->empty()) return false;
  auto record = store->get_job(bulk_pending->front());
  auto job = record ? decode(*record) : core::Result<BulkJob>(record.error());
  if (!job) {
    bulk_pending->pop_front();  // nothing can run it; the rest of the queue still can
    return !bulk_pending->empty();
  }
  if (!run_bulk_slice(*this, *job)) return false;  // the store refused: a later tick retries
  if (job->status == "DONE") bulk_pending->pop_front();
  return !bulk_pending->empty();
}

}  // namespace simcore::ctl
