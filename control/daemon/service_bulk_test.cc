// Bulk actions (POST/GET /bulkactions) driven through Service::handle and tick(), the served
// OpenAPI document, and the router against the document in the direction documented → served.
#include <array>
#include <cstdio>
#include <map>
#include <regex>
#include <set>

#include "control/daemon/openapi_doc.h"
#include "control/daemon/service_test_support.h"
#include "control/store/store.h"
#include "core/tables.h"

namespace simcore::ctl {
namespace {

using namespace testing;
namespace json = boost::json;
using http::Verb;

std::string str(const json::value& v) { return std::string(v.as_string()); }

// Runs a command and returns its stdout; fails the test when it exits non-zero.
std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) {
    ADD_FAILURE() << "cannot run " << cmd;
    return out;
  }
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  EXPECT_EQ(pclose(p), 0) << cmd << " failed (run scripts/bootstrap for node_modules): " << out;
  return out;
}

std::set<std::string> lines_of(const std::string& text) {
  std::set<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    out.insert(text.substr(pos, nl - pos));
    pos = nl == std::string::npos ? text.size() : nl + 1;
  }
  return out;
}

// The session rows the data plane would switch as ACTIVE.
int64_t active_rows(const core::CompiledTables& t) {
  int64_t n = 0;
  for (size_t i = 0; i < t.sessions.size(); ++i)
    n += (t.sessions[i].flags & core::kSessionActive) != 0;
  return n;
}

// Returns the JSON path of the first difference ("" when equal). JavaScript has one number
// type, so numbers compare by value.
std::string first_difference(const json::value& a, const json::value& b, const std::string& at) {
  if (a.is_number() && b.is_number()) {
    return a.to_number<double>() == b.to_number<double>() ? "" : at;
  }
  if (a.kind() != b.kind()) return at;
  if (a.is_array()) {
    const json::array &x = a.as_array(), &y = b.as_array();
    if (x.size() != y.size()) return at + " (length)";
    for (size_t i = 0; i < x.size(); ++i) {
      std::string d = first_difference(x[i], y[i], at + "[" + std::to_string(i) + "]");
      if (!d.empty()) return d;
    }
    return "";
  }
  if (a.is_object()) {
    const json::object &x = a.as_object(), &y = b.as_object();
    for (const auto& kv : y) {
      if (!x.contains(kv.key())) return at + "." + std::string(kv.key()) + " (missing)";
    }
    for (const auto& kv : x) {
      const std::string key = at + "." + std::string(kv.key());
      if (!y.contains(kv.key())) return key + " (extra)";
      std::string d = first_difference(kv.value(), y.at(kv.key()), key);
      if (!d.empty()) return d;
    }
    return "";
  }
  return a == b ? "" : at;
}

class BulkActions : public ::testing::Test {
 protected:
  // Provisions n Things (in requests of at most 10,000) with these tags in `group` ("" for
  // the default group); returns their ids.
  std::vector<std::string> provision(int n, const std::vector<std::string>& tags,
                                     const std::string& group = "") {
    std::vector<std::string> ids;
    for (int done = 0; done < n;) {
      json::array items;
      for (; done < n && items.size() < 10000; ++done, ++serial_) {
        char iccid[24], imsi[16];
        std::snprintf(iccid, sizeof iccid, "8931%015d", serial_);
        std::snprintf(imsi, sizeof imsi, "20408%010d", serial_);
        json::object t{{"iccid", iccid}, {"imsi", imsi}};
        json::array tag_list;
        for (const auto& tag : tags) tag_list.emplace_back(tag);
        t["tags"] = std::move(tag_list);
        if (!group.empty()) t["thingsGroupId"] = group;
        items.push_back(std::move(t));
      }
      Reply r = h.call(Verb::post, "/things", json::serialize(json::object{{"things", items}}));
      EXPECT_EQ(r.status, 201) << r.body.substr(0, 300);
      if (r.status != 201) return ids;
      const json::value made = r.json();
      for (const auto& t : made.as_array()) ids.push_back(str(t.at("thingId")));
    }
    return ids;
  }

  std::string new_group(const std::string& name) {
    const json::value def = h.call(Verb::get, "/thingsgroups").json().as_array()[0];
    Reply g = h.call(Verb::post, "/thingsgroups",
                     json::serialize(json::object{{"name", name},
                                                  {"networkId", def.at("networkId")},
                                                  {"ipProfileId", def.at("ipProfileId")}}));
    EXPECT_EQ(g.status, 201) << g.body;
    return g.status == 201 ? str(g.json().at("id")) : "";
  }

  // POSTs a bulk action; returns its id ("" unless 202).
  std::string start(const std::string& body, const std::string& token = "") {
    Reply r = h.call(Verb::post, "/bulkactions", body, token);
    EXPECT_EQ(r.status, 202) << body << " → " << r.body;
    if (r.status != 202) return "";
    const std::string id = str(r.json().at("id"));
    EXPECT_EQ(r.raw[http::bhttp::field::location], std::string(kApi) + "/bulkactions/" + id);
    return id;
  }
  json::object job(const std::string& id) {
    Reply r = h.call(Verb::get, "/bulkactions/" + id);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? r.json().as_object() : json::object{};
  }
  json::object thing(const std::string& id) {
    return h.call(Verb::get, "/things/" + id).json().as_object();
  }
  std::string state_of(const std::string& id) { return str(thing(id).at("state")); }

  // Counts the stored events of a type (read through a second connection to the store).
  std::vector<EventRecord> events(const std::string& type) {
    auto store = Store::open(h.config.data_dir);
    EXPECT_TRUE(store.ok());
    if (!store.ok()) return {};
    EventFilter f;
    f.type = type;
    auto ev = (*store)->list_events(0, 1'000'000, f);
    EXPECT_TRUE(ev.ok());
    return ev.ok() ? *ev : std::vector<EventRecord>{};
  }

  ServiceHarness h;
  int serial_ = 1;
};

TEST_F(BulkActions, EachActionChangesTheMatchedThingsOnly) {
  const std::string g2 = new_group("second");
  const auto x = provision(2, {"x"});
  const auto xy = provision(2, {"x", "y"});
  const auto y = provision(2, {"y"});
  const auto none = provision(2, {});
  const auto run_all = [&](const std::string& body) {
    const std::string id = start(body);
    h.drain();
    EXPECT_EQ(str(job(id).at("status")), "DONE");
  };

  run_all(R"({"action":"ACTIVATE","selector":{"tags":["x"]}})");
  for (const auto& id : x) EXPECT_EQ(state_of(id), "ACTIVE");
  for (const auto& id : xy) EXPECT_EQ(state_of(id), "ACTIVE");
  for (const auto& id : y) EXPECT_EQ(state_of(id), "PROVISIONED");
  for (const auto& id : none) EXPECT_EQ(state_of(id), "PROVISIONED");

  run_all(R"({"action":"SUSPEND","selector":{"tags":["y"],"state":"ACTIVE"}})");
  for (const auto& id : xy) EXPECT_EQ(state_of(id), "SUSPENDED");
  for (const auto& id : x) EXPECT_EQ(state_of(id), "ACTIVE");

  run_all(R"({"action":"RETIRE","selector":{"thingIds":[")" + y[0] + R"("]}})");
  EXPECT_EQ(state_of(y[0]), "RETIRED");
  EXPECT_EQ(state_of(y[1]), "PROVISIONED");

  run_all(R"({"action":"SET_GROUP","thingsGroupId":")" + g2 + R"(","selector":{"tags":["x"]}})");
  for (const auto& id : x) EXPECT_EQ(str(thing(id).at("thingsGroupId")), g2);
  for (const auto& id : xy) EXPECT_EQ(str(thing(id).at("thingsGroupId")), g2);
  EXPECT_NE(str(thing(y[1]).at("thingsGroupId")), g2);

  run_all(R"({"action":"ADD_TAG","tag":"z","selector":{"thingsGroupId":")" + g2 + R"("}})");
  EXPECT_EQ(json::serialize(thing(x[0]).at("tags")), R"(["x","z"])");
  EXPECT_EQ(json::serialize(thing(xy[1]).at("tags")), R"(["x","y","z"])");
  EXPECT_EQ(json::serialize(thing(y[1]).at("tags")), R"(["y"])");

  run_all(R"({"action":"REMOVE_TAG","tag":"x","selector":{"tags":["y","z"],"tagMatch":"all"}})");
  EXPECT_EQ(json::serialize(thing(xy[0]).at("tags")), R"(["y","z"])");
  EXPECT_EQ(json::serialize(thing(x[0]).at("tags")), R"(["x","z"])");

  run_all(R"({"action":"SET_SERVICES","services":{"sms":false},"selector":{"thingIds":[")" +
          none[0] + R"("]}})");
  EXPECT_EQ(json::serialize(thing(none[0]).at("services")), R"({"data":true,"sms":false})");
  EXPECT_EQ(json::serialize(thing(none[1]).at("services")), R"({"data":true,"sms":true})");
}

// The selector's criteria, checked by a dry run's match count.
TEST_F(BulkActions, SelectorsMatchByTagsAnyOrAllGroupIdsAndState) {
  const std::string g2 = new_group("second");
  const auto x = provision(3, {"x"});
  const auto xy = provision(2, {"x", "y"});
  const auto y = provision(4, {"y"}, g2);
  const auto none = provision(1, {});
  start(R"({"action":"ACTIVATE","selector":{"thingIds":[")" + x[0] + R"("]}})");
  h.drain();
  struct Case {
    const char* name;
    std::string selector;
    uint64_t matched;
  };
  const Case cases[] = {
      {"one tag", R"({"tags":["x"]})", 5},
      {"any of two tags (default)", R"({"tags":["x","y"]})", 9},
      {"all of two tags", R"({"tags":["x","y"],"tagMatch":"all"})", 2},
      {"a tag nobody has", R"({"tags":["nope"]})", 0},
      {"group", R"({"thingsGroupId":")" + g2 + R"("})", 4},
      {"group and tag", R"({"thingsGroupId":")" + g2 + R"(","tags":["x"]})", 0},
      {"state", R"({"state":"ACTIVE"})", 1},
      {"state and tag", R"({"state":"PROVISIONED","tags":["x"]})", 4},
      {"ids, repeated",
       R"({"thingIds":[")" + none[0] + R"(",")" + xy[1] + R"(",")" + none[0] + R"("]})", 2},
      {"ids and state", R"({"thingIds":[")" + x[0] + R"(",")" + x[1] + R"("],"state":"ACTIVE"})",
       1},
  };
  for (const Case& c : cases) {
    Reply r =
        h.call(Verb::post, "/bulkactions",
               R"({"action":"ADD_TAG","tag":"t","dryRun":true,"selector":)" + c.selector + "}");
    ASSERT_EQ(r.status, 202) << c.name << ": " << r.body;
    EXPECT_EQ(r.json().at("matched").as_int64(), static_cast<int64_t>(c.matched)) << c.name;
    EXPECT_EQ(str(r.json().at("status")), "DONE") << c.name;
  }
}

TEST_F(BulkActions, PerThingFailuresAreRecordedWithReasonsAndDoNotStopTheRest) {
  const auto ids = provision(4, {"fleet"});
  start(R"({"action":"RETIRE","selector":{"thingIds":[")" + ids[1] + R"("]}})");
  h.drain();
  const std::string id = start(R"({"action":"ACTIVATE","selector":{"tags":["fleet"]}})");
  h.drain();
  const json::object j = job(id);
  EXPECT_EQ(str(j.at("status")), "DONE");
  EXPECT_EQ(j.at("matched").as_int64(), 4);
  EXPECT_EQ(j.at("processed").as_int64(), 4);
  EXPECT_EQ(j.at("succeeded").as_int64(), 3);
  EXPECT_EQ(j.at("failed").as_int64(), 1);
  ASSERT_EQ(j.at("failures").as_array().size(), 1u);
  const json::object& f = j.at("failures").as_array()[0].as_object();
  EXPECT_EQ(str(f.at("thingId")), ids[1]);
  EXPECT_EQ(str(f.at("code")), "INVALID_STATE_TRANSITION");
  EXPECT_NE(str(f.at("message")).find("RETIRED"), std::string::npos) << f.at("message");
  EXPECT_EQ(state_of(ids[0]), "ACTIVE");
  EXPECT_EQ(state_of(ids[1]), "RETIRED");
  EXPECT_EQ(state_of(ids[3]), "ACTIVE");
  // Already as asked is a success without a change (and without an event).
  const size_t changes = events("STATE_CHANGED").size();
  const std::string again =
      start(R"({"action":"ACTIVATE","selector":{"thingIds":[")" + ids[0] + R"("]}})");
  h.drain();
  EXPECT_EQ(job(again).at("succeeded").as_int64(), 1);
  EXPECT_EQ(events("STATE_CHANGED").size(), changes);
}

TEST_F(BulkActions, DryRunReportsWhatWouldHappenAndChangesNothing) {
  const auto ids = provision(3, {"fleet"});
  start(R"({"action":"RETIRE","selector":{"thingIds":[")" + ids[2] + R"("]}})");
  h.drain();
  const size_t published = h.sink.generations.size();
  const size_t state_events = events("STATE_CHANGED").size();
  const size_t bulk_events = events("BULK_STARTED").size();
  Reply r = h.call(Verb::post, "/bulkactions",
                   R"({"action":"SUSPEND","dryRun":true,"selector":{"tags":["fleet"]}})");
  ASSERT_EQ(r.status, 202) << r.body;
  const json::value j = r.json();
  EXPECT_EQ(str(j.at("status")), "DONE");
  EXPECT_TRUE(j.at("dryRun").as_bool());
  EXPECT_EQ(j.at("matched").as_int64(), 3);
  EXPECT_EQ(j.at("failed").as_int64(), 3) << "PROVISIONED and RETIRED Things cannot be SUSPENDED";
  EXPECT_FALSE(j.at("finishedAt").is_null());
  EXPECT_FALSE(h.svc->tick());
  for (const auto& id : ids) EXPECT_NE(state_of(id), "SUSPENDED");
  EXPECT_EQ(h.sink.generations.size(), published);
  EXPECT_EQ(events("STATE_CHANGED").size(), state_events);
  EXPECT_EQ(events("BULK_STARTED").size(), bulk_events);

  // A dry run sees the effect of earlier Things on later ones exactly as the real run would.
  Reply ok = h.call(Verb::post, "/bulkactions",
                    R"({"action":"ACTIVATE","dryRun":true,"selector":{"tags":["fleet"]}})");
  EXPECT_EQ(ok.json().at("succeeded").as_int64(), 2);
  EXPECT_EQ(state_of(ids[0]), "PROVISIONED");
}

// 12,000 Things take three slices: each tick commits one, publishes once and shows progress.
TEST_F(BulkActions, RunsInSlicesOneTickAtATimeAndPublishesOncePerSlice) {
  provision(12000, {"fleet"});
  const std::string id = start(R"({"action":"ACTIVATE","selector":{"tags":["fleet"]}})");
  json::object j = job(id);
  EXPECT_EQ(str(j.at("status")), "QUEUED");
  EXPECT_EQ(j.at("matched").as_int64(), 12000);
  EXPECT_EQ(j.at("processed").as_int64(), 0);
  EXPECT_TRUE(j.at("finishedAt").is_null());
  std::vector<int64_t> progress;
  for (int i = 0; i < 10; ++i) {
    const size_t published = h.sink.generations.size();
    const bool more = h.svc->tick();
    EXPECT_EQ(h.sink.generations.size(), published + 1) << "tick " << i;
    j = job(id);
    progress.push_back(j.at("processed").as_int64());
    EXPECT_EQ(active_rows(*h.sink.last), progress.back()) << "published tables lag the job";
    if (!more) break;
    EXPECT_EQ(str(j.at("status")), "RUNNING");
  }
  EXPECT_EQ(progress, (std::vector<int64_t>{5000, 10000, 12000}));
  EXPECT_EQ(str(j.at("status")), "DONE");
  EXPECT_EQ(j.at("succeeded").as_int64(), 12000);
  EXPECT_FALSE(j.at("finishedAt").is_null());
  const size_t published = h.sink.generations.size();
  EXPECT_FALSE(h.svc->tick());
  EXPECT_EQ(h.sink.generations.size(), published) << "no work, no publish";
  Reply active = h.call(Verb::get, "/things?state=ACTIVE&limit=1");
  EXPECT_EQ(active.raw["X-Total-Count"], "12000");
}

TEST_F(BulkActions, WritesStateChangedPerThingAndStartedFinishedOnce) {
  const auto ids = provision(3, {"fleet"});
  const std::string id = start(R"({"action":"ACTIVATE","selector":{"tags":["fleet"]}})");
  h.drain();
  const auto changed = events("STATE_CHANGED");
  ASSERT_EQ(changed.size(), 3u);
  std::set<std::string> things;
  for (const EventRecord& e : changed) {
    ASSERT_TRUE(e.thing.has_value());
    things.insert(std::to_string(e.thing->value));
    EXPECT_EQ(e.detail_json, R"({"from":"PROVISIONED","to":"ACTIVE"})");
  }
  EXPECT_EQ(things, (std::set<std::string>(ids.begin(), ids.end())));
  const auto started = events("BULK_STARTED");
  const auto finished = events("BULK_FINISHED");
  ASSERT_EQ(started.size(), 1u);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(str(json::parse(started[0].detail_json).at("bulkActionId")), id);
  EXPECT_EQ(json::parse(finished[0].detail_json).at("succeeded").as_int64(), 3);
  EXPECT_LT(started[0].id, changed.front().id);
  EXPECT_GT(finished[0].id, changed.back().id);
}

// A session ended by the action is a DETACH, as PUT .../state writes it. The API cannot attach
// yet, so the session is stored directly and the service restarted onto it.
TEST_F(BulkActions, SuspendingAnAttachedThingWritesDetach) {
  const auto ids = provision(2, {"fleet"});
  start(R"({"action":"ACTIVATE","selector":{"tags":["fleet"]}})");
  h.drain();
  {
    auto store = Store::open(h.config.data_dir);
    ASSERT_TRUE(store.ok());
    auto model = (*store)->load_model();
    ASSERT_TRUE(model.ok());
    core::Thing t = model->things.front();
    ASSERT_EQ(std::to_string(t.id.value), ids[0]);
    t.session = core::Session{.ue_addr = *core::Ipv4::parse("10.64.0.9"),
                              .uplink_teid = 77,
                              .peer_addr = *core::Ipv4::parse("198.51.100.1"),
                              .peer_teid = 78,
                              .apn = "iot.simcore"};
    auto txn = (*store)->begin();
    ASSERT_TRUE(txn.ok());
    ASSERT_TRUE(txn->put_thing(t).ok());
    ASSERT_TRUE(txn->commit().ok());
  }
  h.reopen();
  ASSERT_TRUE(h.call(Verb::get, "/things/" + ids[0] + "/session").json().at("online").as_bool());
  const auto attached = [&] {
    return (h.sink.last->sessions[0].flags & core::kSessionAttached) != 0;
  };
  ASSERT_TRUE(attached());
  start(R"({"action":"SUSPEND","selector":{"tags":["fleet"]}})");
  h.drain();
  const auto detached = events("DETACH");
  ASSERT_EQ(detached.size(), 1u);
  EXPECT_EQ(std::to_string(detached[0].thing->value), ids[0]);
  EXPECT_FALSE(h.call(Verb::get, "/things/" + ids[0] + "/session").json().at("online").as_bool());
  EXPECT_FALSE(attached()) << "the published tables still switch its session";
}

TEST_F(BulkActions, ARunningJobResumesAfterARestartFromItsCommittedProgress) {
  provision(12000, {"fleet"});
  const std::string id = start(R"({"action":"ACTIVATE","selector":{"tags":["fleet"]}})");
  ASSERT_TRUE(h.svc->tick());
  EXPECT_EQ(job(id).at("processed").as_int64(), 5000);
  h.reopen();
  json::object j = job(id);
  EXPECT_EQ(str(j.at("status")), "RUNNING");
  EXPECT_EQ(j.at("processed").as_int64(), 5000);
  h.drain();
  j = job(id);
  EXPECT_EQ(str(j.at("status")), "DONE");
  EXPECT_EQ(j.at("processed").as_int64(), 12000);
  EXPECT_EQ(j.at("succeeded").as_int64(), 12000) << "no Thing handled twice";
  EXPECT_EQ(j.at("failed").as_int64(), 0);
  EXPECT_EQ(h.call(Verb::get, "/things?state=ACTIVE&limit=1").raw["X-Total-Count"], "12000");
  EXPECT_EQ(events("STATE_CHANGED").size(), 12000u);
  EXPECT_EQ(events("BULK_STARTED").size(), 1u);
}

// The selector is a snapshot taken at POST: Things provisioned later are not swept in.
TEST_F(BulkActions, MatchesAreFixedWhenTheActionIsAccepted) {
  provision(2, {"fleet"});
  const std::string id = start(R"({"action":"ACTIVATE","selector":{"tags":["fleet"]}})");
  const auto late = provision(1, {"fleet"});
  h.drain();
  EXPECT_EQ(job(id).at("matched").as_int64(), 2);
  EXPECT_EQ(state_of(late[0]), "PROVISIONED");
}

TEST_F(BulkActions, BadRequestsAre400NamingEveryFieldAndStoreNothing) {
  const auto ids = provision(1, {"fleet"});
  struct Case {
    const char* body;
    std::vector<const char*> fields;
  };
  const Case cases[] = {
      {R"({})", {"action", "selector"}},
      {R"({"action":"EXPLODE","selector":{"tags":["a"]}})", {"action"}},
      {R"({"action":"ACTIVATE","selector":{}})", {"selector"}},
      {R"({"action":"ACTIVATE","selector":{"tagMatch":"all"}})", {"selector"}},
      {R"({"action":"ACTIVATE","selector":{"tags":[]}})", {"selector.tags"}},
      {R"({"action":"ACTIVATE","selector":{"tags":["a b"]}})", {"selector.tags[0]"}},
      {R"({"action":"ACTIVATE","selector":{"tags":["a"],"tagMatch":"most"}})",
       {"selector.tagMatch"}},
      {R"({"action":"ACTIVATE","selector":{"thingIds":["x",7]}})",
       {"selector.thingIds[0]", "selector.thingIds[1]"}},
      {R"({"action":"ACTIVATE","selector":{"state":"ASLEEP","colour":"red"}})",
       {"selector.state", "selector.colour"}},
      {R"({"action":"ACTIVATE","selector":{"tags":["a"]},"dryRun":"yes"})", {"dryRun"}},
      {R"({"action":"SET_GROUP","selector":{"tags":["a"]}})", {"thingsGroupId"}},
      {R"({"action":"ADD_TAG","selector":{"tags":["a"]}})", {"tag"}},
      {R"({"action":"REMOVE_TAG","tag":"not ok","selector":{"tags":["a"]}})", {"tag"}},
      {R"({"action":"SET_SERVICES","services":{},"selector":{"tags":["a"]}})", {"services"}},
      {R"({"action":"SET_SERVICES","services":{"data":1},"selector":{"tags":["a"]}})",
       {"services.data"}},
      {R"({"action":"ACTIVATE","tag":"a","services":{"data":true},"selector":{"tags":["a"]}})",
       {"tag", "services"}},
      {R"({"action":"ACTIVATE","selector":{"thingsGroupId":"999"}})", {"selector.thingsGroupId"}},
      {R"({"action":"SET_GROUP","thingsGroupId":"999","selector":{"tags":["a"]}})",
       {"thingsGroupId"}},
  };
  for (const Case& c : cases) {
    Reply r = h.call(Verb::post, "/bulkactions", c.body);
    EXPECT_EQ(r.status, 400) << c.body << " → " << r.body;
    if (r.status != 400) continue;
    std::set<std::string> named;
    const json::value body = r.json();
    for (const auto& f : body.at("fields").as_array()) named.insert(str(f.at("field")));
    for (const char* f : c.fields) EXPECT_TRUE(named.count(f)) << c.body << " names " << r.body;
  }
  Reply unknown =
      h.call(Verb::post, "/bulkactions",
             R"({"action":"ACTIVATE","selector":{"thingIds":[")" + ids[0] + R"(","424242"]}})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("selector.thingIds[1]"), std::string::npos) << unknown.body;
  EXPECT_EQ(h.call(Verb::post, "/bulkactions", R"({"action": )").status, 400);
  Reply listed = h.call(Verb::get, "/bulkactions");
  EXPECT_EQ(listed.body, "[]");
  EXPECT_EQ(state_of(ids[0]), "PROVISIONED");
}

TEST_F(BulkActions, AGroupUserActsOnItsGroupsThingsOnlyAndSeesItsOwnJobs) {
  const std::string mine = new_group("mine");
  const auto theirs = provision(2, {"fleet"});
  const auto own = provision(2, {"fleet"}, mine);
  const std::string admin_job =
      start(R"({"action":"ADD_TAG","tag":"a","selector":{"thingIds":[")" + theirs[0] + R"("]}})");
  h.drain();
  const auto user = [&](const std::string& role, const std::string& groups) {
    Reply u = h.call(Verb::post, "/users",
                     R"({"name":"u","email":")" + role + R"(@example.com","role":")" + role +
                         R"(","thingsGroupIds":)" + groups + "}");
    EXPECT_EQ(u.status, 201) << u.body;
    return h.token_for(str(u.json().at("clientId")), str(u.json().at("clientSecret")));
  };
  const std::string gu = user("GROUP_USER", R"([")" + mine + R"("])");
  const std::string monitor = user("MONITOR", "[]");

  // A tag selector is limited to the caller's groups.
  const std::string id = start(R"({"action":"ACTIVATE","selector":{"tags":["fleet"]}})", gu);
  h.drain();
  EXPECT_EQ(job(id).at("matched").as_int64(), 2);
  for (const auto& t : own) EXPECT_EQ(state_of(t), "ACTIVE");
  for (const auto& t : theirs) EXPECT_EQ(state_of(t), "PROVISIONED");

  // Naming what is not theirs is refused.
  const std::string def = str(thing(theirs[0]).at("thingsGroupId"));
  struct Case {
    std::string body;
    const char* field;
  };
  const Case refused[] = {
      {R"({"action":"SUSPEND","selector":{"thingsGroupId":")" + def + R"("}})",
       "selector.thingsGroupId"},
      {R"({"action":"SUSPEND","selector":{"thingIds":[")" + own[0] + R"(",")" + theirs[1] +
           R"("]}})",
       "selector.thingIds[1]"},
      {R"({"action":"SET_GROUP","thingsGroupId":")" + def + R"(","selector":{"tags":["fleet"]}})",
       "thingsGroupId"},
  };
  for (const Case& c : refused) {
    Reply r = h.call(Verb::post, "/bulkactions", c.body, gu);
    EXPECT_EQ(r.status, 403) << c.body << " → " << r.body;
    EXPECT_NE(r.body.find(c.field), std::string::npos) << r.body;
  }
  EXPECT_EQ(h.call(Verb::post, "/bulkactions",
                   R"({"action":"ACTIVATE","selector":{"tags":["fleet"]}})", monitor)
                .status,
            403);

  // Its own jobs only: another's is as good as absent.
  Reply list = h.call(Verb::get, "/bulkactions", "", gu);
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.json().as_array().size(), 1u);
  EXPECT_EQ(str(list.json().as_array()[0].at("id")), id);
  EXPECT_EQ(h.call(Verb::get, "/bulkactions/" + admin_job, "", gu).status, 404);
  EXPECT_EQ(h.call(Verb::get, "/bulkactions/" + id, "", monitor).status, 200);
}

TEST_F(BulkActions, ListIsNewestFirstAndPagedAndUnknownIdsAre404) {
  provision(1, {"fleet"});
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(start(R"({"action":"ACTIVATE","dryRun":true,"selector":{"tags":["fleet"]}})"));
  }
  Reply page = h.call(Verb::get, "/bulkactions?limit=2");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.raw["X-Total-Count"], "3");
  ASSERT_EQ(page.json().as_array().size(), 2u);
  EXPECT_EQ(str(page.json().as_array()[0].at("id")), ids[2]);
  EXPECT_EQ(str(page.json().as_array()[1].at("id")), ids[1]);
  Reply rest = h.call(Verb::get, "/bulkactions?limit=2&offset=2");
  ASSERT_EQ(rest.json().as_array().size(), 1u);
  EXPECT_EQ(str(rest.json().as_array()[0].at("id")), ids[0]);
  for (const char* bad : {"424242", "abc", "0"}) {
    EXPECT_EQ(h.call(Verb::get, std::string("/bulkactions/") + bad).status, 404) << bad;
  }
}

// ------------------------------------------------------------------ the OpenAPI document

TEST(OpenApiJson, YamlScalarsResolveByTheCoreSchema) {
  auto v = yaml_to_json(
      "a: true\nb: 'true'\nc: 42\nd: -7\ne: 0x1f\nf: 1.5\ng: ~\nh: on\ni: 3.0.3\nj: \"12\"\n"
      "k: [1, x]\nl:\nm: 1e3\n");
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(json::serialize(*v),
            R"({"a":true,"b":"true","c":42,"d":-7,"e":31,"f":1.5E0,"g":null,"h":"on",)"
            R"("i":"3.0.3","j":"12","k":[1,"x"],"l":null,"m":1E3})");
  auto bad = yaml_to_json("a: [1, 2\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("line"), std::string::npos);
}

// The daemon serves control/openapi.yaml as JSON: the same document a JavaScript YAML parser
// reads from the file.
TEST(OpenApiJson, ServedDocumentEqualsTheYamlFile) {
  ServiceHarness h;
  Reply r = h.call(Verb::get, "/openapi.json");
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  EXPECT_EQ(r.raw[http::bhttp::field::content_type], "application/json");
  const json::value served = r.json();
  const std::string file = std::string(SIMCORE_SOURCE_DIR) + "/control/openapi.yaml";
  const json::value expected = json::parse(
      run("node " + std::string(SIMCORE_SOURCE_DIR) + "/tests/js/yaml-to-json.mjs " + file));
  EXPECT_EQ(first_difference(served, expected, ""), "") << "served /openapi.json differs";
  ASSERT_TRUE(served.as_object().contains("paths"));
  EXPECT_TRUE(served.at("paths").as_object().contains("/bulkactions"));
  EXPECT_EQ(h.call(Verb::get, "/openapi.json", "", "no-such-token").status, 401);
}

// The reverse of Service.EveryRouteIsInTheOpenApiDocument: every documented method and path
// is served.
TEST(OpenApiRoutes, EveryDocumentedRouteIsServed) {
  ServiceHarness h;
  const std::set<std::string> documented =
      lines_of(run("node " + std::string(SIMCORE_SOURCE_DIR) +
                   "/tests/js/list-routes.mjs --absolute --generic-params"));
  ASSERT_GT(documented.size(), 50u);
  const std::regex param("\\{[^}]*\\}");
  std::set<std::string> served;
  for (const http::RouteInfo& r : h.svc->routes()) {
    served.insert(std::string(http::bhttp::to_string(r.method)) + " " +
                  std::regex_replace(r.full_pattern, param, "{}"));
  }
  for (const std::string& route : documented) {
    EXPECT_TRUE(served.count(route)) << route << " is in openapi.yaml but not served";
  }
}

}  // namespace
}  // namespace simcore::ctl
