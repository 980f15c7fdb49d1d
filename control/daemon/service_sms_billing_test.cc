// SMS (MT lifecycle, MO), usage per day and billing reports, driven through Service::handle,
// tick() and the harness clock, with the events and usage rows read back from the store.
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "control/daemon/service_test_support.h"
#include "control/store/store.h"
#include "core/account.h"

namespace simcore::ctl {
namespace {

using namespace testing;
namespace json = boost::json;
using http::Verb;
using std::chrono::hours;
using std::chrono::milliseconds;

std::string str(const json::value& v) { return std::string(v.as_string()); }

// Reply::json() is not used: another test header defines a different testing::Reply, and the
// linker keeps one of the two inline definitions.
json::value parse(const Reply& r) { return json::parse(r.body); }

// Milliseconds since the epoch of a UTC time.
int64_t utc_ms(int y, unsigned m, unsigned d, int hour = 12) {
  const std::chrono::sys_days day{std::chrono::year(y) / std::chrono::month(m) /
                                  std::chrono::day(d)};
  return std::chrono::duration_cast<milliseconds>((day + hours(hour)).time_since_epoch()).count();
}

DaemonConfig long_tokens() {
  DaemonConfig cfg;
  cfg.token_ttl_s = 400 * 86400;  // the tests move the clock by months
  return cfg;
}

class SmsBilling : public ::testing::Test {
 protected:
  SmsBilling() : h(long_tokens()) { token_ = h.admin_token(); }

  Reply call(Verb v, const std::string& path, const std::string& body = "",
             const std::string& token = "") {
    return h.call(v, path, body, token.empty() ? token_ : token);
  }
  // A restart: tokens do not survive it.
  void restart() {
    h.reopen();
    token_ = h.token_for("admin", "0123456789abcdef");
  }

  // Provisions Things (default group unless `group`), optionally straight into `state`.
  std::vector<std::string> provision(int n, const std::string& group = "",
                                     const std::string& state = "") {
    json::array items;
    for (int i = 0; i < n; ++i, ++serial_) {
      char iccid[24], imsi[16];
      std::snprintf(iccid, sizeof iccid, "8931%015d", serial_);
      std::snprintf(imsi, sizeof imsi, "20408%010d", serial_);
      json::object t{{"iccid", iccid}, {"imsi", imsi}};
      if (!group.empty()) t["thingsGroupId"] = group;
      if (!state.empty()) t["state"] = state;
      items.push_back(std::move(t));
    }
    Reply r = call(Verb::post, "/things", json::serialize(json::object{{"things", items}}));
    EXPECT_EQ(r.status, 201) << r.body.substr(0, 300);
    std::vector<std::string> ids;
    if (r.status == 201) {
      const json::value body = parse(r);
      for (const auto& t : body.as_array()) ids.push_back(str(t.at("thingId")));
    }
    return ids;
  }
  std::string provision_one(const std::string& state = "") { return provision(1, "", state)[0]; }

  void set_state(const std::string& id, const std::string& state) {
    Reply r = call(Verb::put, "/things/" + id + "/state", R"({"state":")" + state + R"("})");
    EXPECT_EQ(r.status, 200) << id << " → " << state << ": " << r.body;
  }

  std::string new_group(const std::string& name) {
    const json::value def = parse(call(Verb::get, "/thingsgroups")).as_array()[0];
    Reply g = call(Verb::post, "/thingsgroups",
                   json::serialize(json::object{{"name", name},
                                                {"networkId", def.at("networkId")},
                                                {"ipProfileId", def.at("ipProfileId")}}));
    EXPECT_EQ(g.status, 201) << g.body;
    return g.status == 201 ? str(parse(g).at("id")) : "";
  }

  // A token of a new user with this role (and things group).
  std::string user_token(const std::string& role, const std::string& group = "") {
    const std::string name = "user" + std::to_string(serial_++);
    json::array group_ids;
    if (!group.empty()) group_ids.emplace_back(group);
    Reply u = call(Verb::post, "/users",
                   json::serialize(json::object{{"name", name},
                                                {"email", name + "@example.com"},
                                                {"role", role},
                                                {"thingsGroupIds", std::move(group_ids)}}));
    EXPECT_EQ(u.status, 201) << u.body;
    if (u.status != 201) return "";
    const json::value user = parse(u);
    return h.token_for(str(user.at("clientId")), str(user.at("clientSecret")));
  }

  // Gives the Thing a data session the way the attach code will (core::Account::attach, then
  // stored), while the daemon is down: Service has no attach entry point yet.
  void attach(const std::string& id) {
    h.svc.reset();
    {
      auto store = Store::open(h.config.data_dir);
      ASSERT_TRUE(store.ok());
      auto model = (*store)->load_model();
      ASSERT_TRUE(model.ok());
      auto acc = core::Account::restore(std::move(*model));
      ASSERT_TRUE(acc.ok());
      const core::ThingId tid{std::stoull(id)};
      core::AttachRequest req;
      req.uplink_teid = 0x100 + static_cast<uint32_t>(tid.value);
      req.peer_addr = core::Ipv4{(198u << 24) | (51u << 16) | (100u << 8) | 7u};
      req.peer_teid = 0x77;
      req.apn = "iot.simcore";
      req.mcc = 204;
      req.mnc = 8;
      auto s = acc->attach(tid, req);
      ASSERT_TRUE(s.ok()) << s.error().message();
      auto txn = (*store)->begin();
      ASSERT_TRUE(txn.ok());
      ASSERT_TRUE(txn->put_thing(*acc->thing(tid)).ok());
      ASSERT_TRUE(txn->commit().ok());
    }
    restart();
  }

  // The stored events of a type, read through a second connection to the store.
  std::vector<EventRecord> events(const std::string& type) {
    auto store = Store::open(h.config.data_dir);
    EXPECT_TRUE(store.ok());
    if (!store.ok()) return {};
    EventFilter f;
    f.type = type;
    auto ev = (*store)->list_events(0, 100000, f);
    EXPECT_TRUE(ev.ok());
    return ev.ok() ? *ev : std::vector<EventRecord>{};
  }
  // The smsId (and reason) of each event of a type.
  std::vector<std::string> sms_events(const std::string& type) {
    std::vector<std::string> out;
    for (const EventRecord& e : events(type)) {
      const json::object d = json::parse(e.detail_json).as_object();
      std::string s = str(d.at("smsId"));
      if (d.contains("reason")) s += ":" + str(d.at("reason"));
      out.push_back(s);
    }
    return out;
  }

  // The fields a 400 reply names, each followed by a space ("" unless 400 with fields).
  static std::string fields_of(const Reply& r) {
    EXPECT_EQ(r.status, 400) << r.body;
    std::string out;
    const json::value body = r.status == 400 ? parse(r) : json::object{};
    if (!body.as_object().contains("fields")) return out;
    for (const auto& f : body.at("fields").as_array()) out += str(f.at("field")) + " ";
    return out;
  }

  // POSTs an SMS; returns its id ("" unless 202).
  std::string send(const std::string& thing, const std::string& body = R"({"text":"ping"})") {
    Reply r = call(Verb::post, "/things/" + thing + "/sms", body);
    EXPECT_EQ(r.status, 202) << r.body;
    if (r.status != 202) return "";
    const std::string id = str(parse(r).at("id"));
    EXPECT_EQ(r.raw[http::bhttp::field::location], std::string(kApi) + "/sms/" + id);
    return id;
  }
  json::object sms(const std::string& id) {
    Reply r = call(Verb::get, "/sms/" + id);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? parse(r).as_object() : json::object{};
  }
  std::string status_of(const std::string& sms_id) { return str(sms(sms_id).at("status")); }

  json::array usage(const std::string& thing, const std::string& query = "") {
    Reply r = call(Verb::get, "/things/" + thing + "/usage" + query);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? parse(r).at("days").as_array() : json::array{};
  }

  // POSTs a billing report; returns its id ("" unless 202).
  std::string report(const std::string& body, const std::string& token = "") {
    Reply r = call(Verb::post, "/billingreports", body, token);
    EXPECT_EQ(r.status, 202) << body << " → " << r.body;
    if (r.status != 202) return "";
    const std::string id = str(parse(r).at("id"));
    EXPECT_EQ(r.raw[http::bhttp::field::location], std::string(kApi) + "/billingreports/" + id);
    EXPECT_EQ(str(parse(r).at("status")), "RUNNING");
    return id;
  }
  // The finished report's lines by thingId.
  std::map<std::string, json::object> lines_of(const json::value& report) {
    std::map<std::string, json::object> out;
    for (const auto& l : report.at("lines").as_array()) {
      out[str(l.at("thingId"))] = l.as_object();
    }
    return out;
  }

  ServiceHarness h;
  std::string token_;
  int serial_ = 1;
};

double num(const json::value& v) { return v.to_number<double>(); }

// ------------------------------------------------------------------------------------ SMS

TEST_F(SmsBilling, AnSmsToAThingThatIsNotActiveIsAcceptedThenSentThenFailed) {
  const std::string thing = provision_one();  // PROVISIONED
  Reply r = call(Verb::post, "/things/" + thing + "/sms", R"({"text":"wake up"})");
  ASSERT_EQ(r.status, 202) << r.body;
  const json::object s = parse(r).as_object();
  EXPECT_EQ(str(s.at("status")), "QUEUED");
  EXPECT_EQ(str(s.at("direction")), "MT");
  EXPECT_EQ(str(s.at("thingId")), thing);
  EXPECT_EQ(str(s.at("text")), "wake up");
  EXPECT_TRUE(s.at("failureReason").is_null());
  EXPECT_EQ(str(s.at("createdAt")), "2027-01-15T08:00:00.000Z");
  EXPECT_EQ(str(s.at("expiresAt")), "2027-01-16T08:00:00.000Z") << "the config's 1 day";
  const std::string id = str(s.at("id"));

  h.now_ms += 1000;
  h.drain();
  EXPECT_EQ(status_of(id), "SENT");
  h.now_ms += 1000;
  h.drain();
  const json::object failed = sms(id);
  EXPECT_EQ(str(failed.at("status")), "FAILED");
  EXPECT_EQ(str(failed.at("failureReason")), "THING_NOT_ACTIVE");
  EXPECT_EQ(str(failed.at("updatedAt")), "2027-01-15T08:00:02.000Z");
  EXPECT_EQ(sms_events("SMS_QUEUED"), std::vector<std::string>{id});
  EXPECT_EQ(sms_events("SMS_SENT"), std::vector<std::string>{id});
  EXPECT_EQ(sms_events("SMS_FAILED"), std::vector<std::string>{id + ":THING_NOT_ACTIVE"});
  EXPECT_EQ(usage(thing).back().at("smsCount").as_int64(), 0) << "a failed SMS is not billed";
}

TEST_F(SmsBilling, AnSmsFailsWhenTheThingsOrItsGroupsSmsServiceIsOff) {
  const std::string own = provision_one("ACTIVE");
  ASSERT_EQ(call(Verb::patch, "/things/" + own, R"({"services":{"sms":false}})").status, 200);
  const std::string group = new_group("no-sms");
  ASSERT_EQ(call(Verb::patch, "/thingsgroups/" + group, R"({"services":{"sms":false}})").status,
            200);
  const std::string in_group = provision(1, group, "ACTIVE")[0];
  const std::string a = send(own);
  const std::string b = send(in_group);
  h.drain();
  h.drain();
  EXPECT_EQ(str(sms(a).at("failureReason")), "SMS_SERVICE_OFF");
  EXPECT_EQ(str(sms(b).at("failureReason")), "SMS_SERVICE_OFF");
  EXPECT_EQ(sms_events("SMS_FAILED").size(), 2u);
}

TEST_F(SmsBilling, ASentSmsWaitsForASessionAndExpiresWhenItsValidityPasses) {
  const std::string thing = provision_one("ACTIVE");
  const std::string id = send(thing, R"({"text":"later","validitySeconds":600})");
  EXPECT_EQ(str(sms(id).at("expiresAt")), "2027-01-15T08:10:00.000Z");
  h.drain();
  h.now_ms += 599'999;
  h.drain();
  EXPECT_EQ(status_of(id), "SENT") << "no session yet: it waits";
  EXPECT_TRUE(sms_events("SMS_EXPIRED").empty());
  h.now_ms += 1;
  h.drain();
  EXPECT_EQ(status_of(id), "EXPIRED");
  EXPECT_EQ(sms_events("SMS_EXPIRED"), std::vector<std::string>{id});
  EXPECT_TRUE(sms_events("SMS_DELIVERED").empty());
}

TEST_F(SmsBilling, AnSmsToAnAttachedThingIsDeliveredAndCountedInTodaysUsage) {
  const std::string thing = provision_one("ACTIVE");
  attach(thing);
  const std::string id = send(thing);
  h.drain();
  EXPECT_EQ(status_of(id), "SENT");
  h.now_ms += 5000;
  h.drain();
  const json::object s = sms(id);
  EXPECT_EQ(str(s.at("status")), "DELIVERED");
  EXPECT_TRUE(s.at("failureReason").is_null());
  EXPECT_EQ(sms_events("SMS_DELIVERED"), std::vector<std::string>{id});
  const json::array days = usage(thing);
  ASSERT_EQ(days.size(), 15u) << "the cycle so far: January 1 to 15";
  EXPECT_EQ(str(days.back().at("date")), "2027-01-15");
  EXPECT_EQ(days.back().at("smsCount").as_int64(), 1);
  h.drain();
  EXPECT_EQ(sms_events("SMS_DELIVERED").size(), 1u) << "settled once";
}

TEST_F(SmsBilling, SmsRequestsAreValidatedNamingTheField) {
  const std::string thing = provision_one("ACTIVE");
  auto post = [&](const std::string& body) {
    return call(Verb::post, "/things/" + thing + "/sms", body);
  };
  auto text_of = [](const std::string& unit, int n) {
    std::string t;
    for (int i = 0; i < n; ++i) t += unit;
    return json::serialize(json::object{{"text", t}});
  };
  for (const std::string& bad :
       {std::string(R"({"text":""})"), text_of("a", 1531), text_of("{", 766),
        text_of("\xD0\xB6", 671) /* Cyrillic: UCS-2 */, std::string(R"({"text":5})")}) {
    EXPECT_EQ(fields_of(post(bad)), "text ") << bad.substr(0, 40);
  }
  EXPECT_EQ(post(text_of("a", 1530)).status, 202);
  EXPECT_EQ(post(text_of("{", 765)).status, 202) << "extension characters count two septets";
  EXPECT_EQ(post(text_of("\xD0\xB6", 670)).status, 202);
  EXPECT_EQ(fields_of(post(R"({"validitySeconds":59,"extra":1})")), "text validitySeconds extra ");
  EXPECT_EQ(post("not json").status, 400);
  EXPECT_EQ(call(Verb::post, "/things/999999/sms", R"({"text":"x"})").status, 404);
  EXPECT_EQ(call(Verb::post, "/things/" + thing + "/sms", R"({"text":"x"})", user_token("MONITOR"))
                .status,
            403);
  EXPECT_EQ(call(Verb::get, "/sms?limit=1").raw["X-Total-Count"], "3") << "only the accepted";
}

TEST_F(SmsBilling, SmsListsAreNewestFirstPagedAndFiltered) {
  const auto things = provision(2, "", "ACTIVE");
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(send(things[0]));
  ids.push_back(send(things[1]));
  h.drain();  // all SENT
  const std::string newest = send(things[0]);

  Reply page = call(Verb::get, "/sms?limit=2");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.raw["X-Total-Count"], "5");
  EXPECT_NE(std::string(page.raw[http::bhttp::field::link]).find("rel=\"next\""),
            std::string::npos);
  ASSERT_EQ(parse(page).as_array().size(), 2u);
  EXPECT_EQ(str(parse(page).as_array()[0].at("id")), newest);
  EXPECT_EQ(str(parse(page).as_array()[1].at("id")), ids[3]);
  Reply rest = call(Verb::get, "/sms?limit=2&offset=4");
  ASSERT_EQ(parse(rest).as_array().size(), 1u);
  EXPECT_EQ(str(parse(rest).as_array()[0].at("id")), ids[0]);

  Reply mine = call(Verb::get, "/things/" + things[0] + "/sms");
  EXPECT_EQ(mine.raw["X-Total-Count"], "4");
  EXPECT_EQ(call(Verb::get, "/sms?thingId=" + things[1]).raw["X-Total-Count"], "1");
  EXPECT_EQ(call(Verb::get, "/sms?status=SENT").raw["X-Total-Count"], "4");
  Reply queued = call(Verb::get, "/things/" + things[0] + "/sms?status=QUEUED");
  ASSERT_EQ(parse(queued).as_array().size(), 1u);
  EXPECT_EQ(str(parse(queued).as_array()[0].at("id")), newest);
  EXPECT_EQ(call(Verb::get, "/sms?direction=MO").raw["X-Total-Count"], "0");
  EXPECT_EQ(call(Verb::get, "/sms?direction=MT").raw["X-Total-Count"], "5");

  EXPECT_EQ(fields_of(call(Verb::get, "/sms?status=LOST&direction=UP&thingId=x&limit=0")),
            "thingId status direction limit ");
  EXPECT_EQ(call(Verb::get, "/sms/999999").status, 404);
  EXPECT_EQ(call(Verb::get, "/sms/abc").status, 404);
  EXPECT_EQ(call(Verb::get, "/things/999999/sms").status, 404);
}

TEST_F(SmsBilling, AGroupUserSeesAndSendsOnlyItsGroupsSms) {
  const std::string group = new_group("fleet");
  const std::string mine = provision(1, group, "ACTIVE")[0];
  const std::string other = provision_one("ACTIVE");
  const std::string mine_sms = send(mine);
  const std::string other_sms = send(other);
  const std::string tok = user_token("GROUP_USER", group);
  Reply list = call(Verb::get, "/sms", "", tok);
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.raw["X-Total-Count"], "1");
  ASSERT_EQ(parse(list).as_array().size(), 1u);
  EXPECT_EQ(str(parse(list).as_array()[0].at("id")), mine_sms);
  EXPECT_EQ(call(Verb::get, "/sms?thingId=" + other, "", tok).raw["X-Total-Count"], "0");
  EXPECT_EQ(call(Verb::get, "/sms/" + mine_sms, "", tok).status, 200);
  EXPECT_EQ(call(Verb::get, "/sms/" + other_sms, "", tok).status, 403);
  EXPECT_EQ(call(Verb::get, "/things/" + other + "/sms", "", tok).status, 403);
  EXPECT_EQ(call(Verb::post, "/things/" + other + "/sms", R"({"text":"x"})", tok).status, 403);
  EXPECT_EQ(call(Verb::post, "/things/" + mine + "/sms", R"({"text":"x"})", tok).status, 202);
  EXPECT_EQ(call(Verb::get, "/things/" + other + "/usage", "", tok).status, 403);
}

TEST_F(SmsBilling, AnMoSmsIsReceivedWithAnEventAndCountedButRefusedWhenBarred) {
  const std::string active = provision_one("ACTIVE");
  const std::string idle = provision_one();
  const core::ThingId tid{std::stoull(active)};
  auto id = h.svc->receive_sms(tid, "temperature=21");
  ASSERT_TRUE(id.ok()) << id.error().message();
  const json::object s = sms(std::to_string(*id));
  EXPECT_EQ(str(s.at("direction")), "MO");
  EXPECT_EQ(str(s.at("status")), "RECEIVED");
  EXPECT_EQ(str(s.at("text")), "temperature=21");
  EXPECT_TRUE(s.at("expiresAt").is_null());
  EXPECT_EQ(sms_events("SMS_RECEIVED"), std::vector<std::string>{std::to_string(*id)});
  EXPECT_EQ(usage(active).back().at("smsCount").as_int64(), 1);
  h.drain();
  EXPECT_EQ(status_of(std::to_string(*id)), "RECEIVED") << "the MT lifecycle leaves MO alone";

  auto refused = h.svc->receive_sms(core::ThingId{std::stoull(idle)}, "hi");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), core::Code::kFailedPrecondition);
  EXPECT_EQ(h.svc->receive_sms(core::ThingId{999999}, "hi").error().code(), core::Code::kNotFound);
  EXPECT_EQ(h.svc->receive_sms(tid, "").error().code(), core::Code::kInvalidArgument);
  EXPECT_EQ(h.svc->receive_sms(tid, "\xff").error().code(), core::Code::kInvalidArgument);
  EXPECT_EQ(call(Verb::get, "/sms?direction=MO").raw["X-Total-Count"], "1") << "refused: none";
}

// ---------------------------------------------------------------------------------- usage

TEST_F(SmsBilling, UsageIsPerUtcDayWithZerosForQuietDays) {
  const std::string thing = provision_one("ACTIVE");
  const core::ThingId tid{std::stoull(thing)};
  h.now_ms = utc_ms(2027, 1, 10, 23);
  ASSERT_TRUE(h.svc->record_usage(tid, 1000, 2000).ok());
  ASSERT_TRUE(h.svc->record_usage(tid, 1, 1).ok());
  h.now_ms = utc_ms(2027, 1, 12, 0);
  ASSERT_TRUE(h.svc->record_usage(tid, 5, 0).ok());
  EXPECT_EQ(h.svc->record_usage(core::ThingId{999999}, 1, 1).error().code(), core::Code::kNotFound);

  Reply r = call(Verb::get, "/things/" + thing + "/usage?from=2027-01-10&to=2027-01-12");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(str(parse(r).at("thingId")), thing);
  EXPECT_EQ(str(parse(r).at("from")), "2027-01-10");
  EXPECT_EQ(str(parse(r).at("to")), "2027-01-12");
  const json::value body = parse(r);
  const json::array& days = body.at("days").as_array();
  ASSERT_EQ(days.size(), 3u);
  EXPECT_EQ(json::serialize(days[0]),
            R"({"date":"2027-01-10","bytesUp":1001,"bytesDown":2001,"smsCount":0})");
  EXPECT_EQ(json::serialize(days[1]),
            R"({"date":"2027-01-11","bytesUp":0,"bytesDown":0,"smsCount":0})");
  EXPECT_EQ(days[2].at("bytesUp").as_int64(), 5);

  // Default: the current cycle (this month) up to today.
  h.now_ms = utc_ms(2027, 2, 3);
  const json::array feb = usage(thing);
  ASSERT_EQ(feb.size(), 3u);
  EXPECT_EQ(str(feb.front().at("date")), "2027-02-01");
  EXPECT_EQ(usage(thing, "?from=2026-02-02&to=2027-02-02").size(), 366u);
}

// The data plane reports by ThingSlot, many Things in one transaction. Slots are positions
// in the account: the first Thing provisioned into the shipped account is slot 0.
TEST_F(SmsBilling, UsageFromTheDataPlaneBySlotLandsOnEachThing) {
  const std::string first = provision_one("ACTIVE");
  const std::string second = provision_one("ACTIVE");
  h.now_ms = utc_ms(2027, 3, 5, 12);
  const Service::SlotUsage batch[] = {{core::ThingSlot{1}, 300, 400},
                                      {core::ThingSlot{0}, 10, 20},
                                      {core::ThingSlot{7777}, 1, 1},  // no such Thing: skipped
                                      {core::ThingSlot{0}, 0, 0}};
  ASSERT_TRUE(h.svc->record_usage_by_slot(batch).ok());
  ASSERT_TRUE(h.svc->record_usage_by_slot(std::span(batch, 1)).ok());
  EXPECT_EQ(json::serialize(usage(first, "?from=2027-03-05&to=2027-03-05").at(0)),
            R"({"date":"2027-03-05","bytesUp":10,"bytesDown":20,"smsCount":0})");
  EXPECT_EQ(json::serialize(usage(second, "?from=2027-03-05&to=2027-03-05").at(0)),
            R"({"date":"2027-03-05","bytesUp":600,"bytesDown":800,"smsCount":0})");
}

TEST_F(SmsBilling, UsageQueriesAreValidatedNamingFromAndTo) {
  const std::string thing = provision_one();
  auto field_of = [&](const std::string& query) {
    return fields_of(call(Verb::get, "/things/" + thing + "/usage" + query));
  };
  EXPECT_EQ(field_of("?from=2027-02-30"), "from ");
  EXPECT_EQ(field_of("?from=2027-1-01"), "from ");
  EXPECT_EQ(field_of("?to=tomorrow"), "to ");
  EXPECT_EQ(field_of("?from=x&to=y"), "from to ");
  EXPECT_EQ(field_of("?from=2027-01-10&to=2027-01-09"), "to ");
  EXPECT_EQ(field_of("?from=2026-01-01&to=2027-01-02"), "to ") << "367 days";
  EXPECT_EQ(call(Verb::get, "/things/999999/usage").status, 404);
}

// -------------------------------------------------------------------------------- billing

// The fee rule over February 2027, with the states changed through the API at known times.
TEST_F(SmsBilling, ReportLinesFollowTheFeeRuleAndUsageOfTheCycleOnly) {
  h.now_ms = utc_ms(2027, 1, 15);
  const std::vector<std::string> t = provision(8);
  const std::string provisioned = t[0], active = t[1], activated_in_cycle = t[2],
                    suspended_all = t[3], suspended_in_cycle = t[4], suspended_then_retired = t[5],
                    retired_before = t[6], provisioned_then_retired = t[7];
  const std::string born_active = provision_one("ACTIVE");  // no STATE_CHANGED event at all
  for (const auto& id :
       {active, suspended_all, suspended_in_cycle, suspended_then_retired, retired_before}) {
    set_state(id, "ACTIVE");
  }
  h.now_ms = utc_ms(2027, 1, 20);
  set_state(suspended_all, "SUSPENDED");
  set_state(suspended_then_retired, "SUSPENDED");
  set_state(retired_before, "RETIRED");
  const core::ThingId tid{std::stoull(active)};
  h.now_ms = utc_ms(2027, 1, 31, 23);
  ASSERT_TRUE(h.svc->record_usage(tid, 7'000'000, 0).ok());  // January: not in the report
  h.now_ms = utc_ms(2027, 2, 1, 0);
  ASSERT_TRUE(h.svc->record_usage(tid, 2'000'000, 0).ok());
  h.now_ms = utc_ms(2027, 2, 10);
  set_state(activated_in_cycle, "ACTIVE");
  set_state(suspended_in_cycle, "SUSPENDED");
  set_state(suspended_then_retired, "RETIRED");
  set_state(provisioned_then_retired, "RETIRED");
  h.now_ms = utc_ms(2027, 2, 28, 23);
  ASSERT_TRUE(h.svc->record_usage(tid, 0, 1'000'000).ok());
  ASSERT_TRUE(h.svc->receive_sms(tid, "hello").ok());
  ASSERT_TRUE(h.svc->receive_sms(tid, "again").ok());
  h.now_ms = utc_ms(2027, 3, 1, 0);
  ASSERT_TRUE(h.svc->record_usage(tid, 9'000'000, 0).ok());  // March: not in the report
  h.now_ms = utc_ms(2027, 3, 2);

  const std::string id = report(R"({"scope":"ACCOUNT","cycle":"2027-02"})");
  Reply running = call(Verb::get, "/billingreports/" + id);
  EXPECT_EQ(running.status, 202);
  EXPECT_TRUE(parse(running).at("total").is_null());
  EXPECT_TRUE(parse(running).at("lines").as_array().empty());
  h.drain();
  Reply done = call(Verb::get, "/billingreports/" + id);
  ASSERT_EQ(done.status, 200) << done.body;
  const json::value r = parse(done);
  EXPECT_EQ(str(r.at("status")), "DONE");
  EXPECT_EQ(str(r.at("scope")), "ACCOUNT");
  EXPECT_EQ(str(r.at("cycle")), "2027-02");
  EXPECT_EQ(str(r.at("currency")), "EUR");
  EXPECT_FALSE(r.at("partial").as_bool());
  EXPECT_EQ(str(r.at("completedAt")), "2027-03-02T12:00:00.000Z");
  auto lines = lines_of(r);
  ASSERT_EQ(lines.size(), 9u);
  const std::map<std::string, double> fee{{provisioned, 0},        {active, 1},
                                          {activated_in_cycle, 1}, {suspended_all, 0},
                                          {suspended_in_cycle, 1}, {suspended_then_retired, 1},
                                          {retired_before, 0},     {provisioned_then_retired, 0},
                                          {born_active, 1}};
  for (const auto& [thing, want] : fee) {
    EXPECT_NEAR(num(lines[thing].at("cycleFee")), want, 1e-9) << "thing " << thing;
  }
  const json::object& a = lines[active];
  EXPECT_EQ(str(a.at("iccid")), "8931000000000000002");
  EXPECT_NEAR(num(a.at("dataMegabytes")), 3.0, 1e-9);
  EXPECT_NEAR(num(a.at("dataCharge")), 0.15, 1e-9);
  EXPECT_EQ(a.at("smsCount").as_int64(), 2);
  EXPECT_NEAR(num(a.at("smsCharge")), 0.04, 1e-9);
  EXPECT_NEAR(num(a.at("total")), 1.19, 1e-9);
  EXPECT_NEAR(num(lines[provisioned].at("total")), 0.0, 1e-9);
  double sum = 0;
  for (const auto& [thing, l] : lines) sum += num(l.at("total"));
  EXPECT_NEAR(num(r.at("total")), sum, 1e-9);
  EXPECT_NEAR(num(r.at("total")), 5.19, 1e-9);
}

TEST_F(SmsBilling, ScopesSelectTheirThingsAndAReportOfTheCurrentCycleIsPartial) {
  const std::string group = new_group("meters");
  const auto in_group = provision(2, group, "ACTIVE");
  const std::string outside = provision_one("ACTIVE");
  const std::string g =
      report(R"({"scope":"THINGS_GROUP","thingsGroupId":")" + group + R"(","cycle":"2027-01"})");
  const std::string one =
      report(R"({"scope":"THING","thingId":")" + outside + R"(","cycle":"2027-01"})");
  h.drain();
  const json::value gr = parse(call(Verb::get, "/billingreports/" + g));
  EXPECT_EQ(str(gr.at("thingsGroupId")), group);
  EXPECT_TRUE(gr.at("thingId").is_null());
  EXPECT_TRUE(gr.at("partial").as_bool()) << "January is not over on January 15";
  auto lines = lines_of(gr);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(lines.count(in_group[0]) && lines.count(in_group[1]));
  EXPECT_NEAR(num(gr.at("total")), 2.0, 1e-9);
  const json::value tr = parse(call(Verb::get, "/billingreports/" + one));
  EXPECT_EQ(str(tr.at("thingId")), outside);
  ASSERT_EQ(tr.at("lines").as_array().size(), 1u);
  EXPECT_EQ(str(tr.at("lines").as_array()[0].at("thingId")), outside);

  Reply list = call(Verb::get, "/billingreports?limit=1");
  EXPECT_EQ(list.raw["X-Total-Count"], "2");
  ASSERT_EQ(parse(list).as_array().size(), 1u);
  EXPECT_EQ(str(parse(list).as_array()[0].at("id")), one) << "newest first";
  EXPECT_TRUE(parse(list).as_array()[0].at("lines").as_array().empty()) << "lines: GET the report";
}

TEST_F(SmsBilling, BillingRequestsAreValidated) {
  const std::string thing = provision_one();
  auto field_of = [&](const std::string& body) {
    return fields_of(call(Verb::post, "/billingreports", body));
  };
  EXPECT_EQ(field_of(R"({})"), "scope cycle ");
  EXPECT_EQ(field_of(R"({"scope":"WORLD","cycle":"2027-13"})"), "scope cycle ");
  EXPECT_EQ(field_of(R"({"scope":"THINGS_GROUP","cycle":"2027-01"})"), "thingsGroupId ");
  EXPECT_EQ(field_of(R"({"scope":"THING","cycle":"2027-01"})"), "thingId ");
  EXPECT_EQ(field_of(R"({"scope":"ACCOUNT","thingId":")" + thing + R"(","cycle":"2027-01"})"),
            "thingId ");
  EXPECT_EQ(field_of(R"({"scope":"ACCOUNT","cycle":"2027-02"})"), "cycle ") << "not started";
  EXPECT_EQ(field_of(R"({"scope":"ACCOUNT","cycle":"2027-1"})"), "cycle ");
  EXPECT_EQ(call(Verb::post, "/billingreports",
                 R"({"scope":"THING","thingId":"999999","cycle":"2027-01"})")
                .status,
            404);
  EXPECT_EQ(call(Verb::post, "/billingreports",
                 R"({"scope":"THINGS_GROUP","thingsGroupId":"999","cycle":"2027-01"})")
                .status,
            404);
  EXPECT_EQ(call(Verb::get, "/billingreports?limit=1").raw["X-Total-Count"], "0");
  EXPECT_EQ(call(Verb::get, "/billingreports/999999").status, 404);
  EXPECT_EQ(call(Verb::get, "/billingreports/999999/download").status, 404);
  EXPECT_EQ(call(Verb::get, "/billingreports/999999/csv").status, 404);
}

// Reports are asked for by writers (ADMIN, STANDARD); a GROUP_USER reads its groups' ones.
TEST_F(SmsBilling, AGroupUserSeesReportsOfItsGroupsAndTheirThingsOnly) {
  const std::string group = new_group("mine");
  const std::string mine = provision(1, group)[0];
  const std::string other = provision_one();
  const std::string tok = user_token("GROUP_USER", group);
  for (const std::string& who : {tok, user_token("MONITOR")}) {
    EXPECT_EQ(call(Verb::post, "/billingreports",
                   R"({"scope":"THING","thingId":")" + mine + R"(","cycle":"2027-01"})", who)
                  .status,
              403);
  }
  const std::string of_group =
      report(R"({"scope":"THINGS_GROUP","thingsGroupId":")" + group + R"(","cycle":"2027-01"})");
  const std::string of_thing =
      report(R"({"scope":"THING","thingId":")" + mine + R"(","cycle":"2027-01"})");
  const std::string of_other =
      report(R"({"scope":"THING","thingId":")" + other + R"(","cycle":"2027-01"})");
  const std::string of_account = report(R"({"scope":"ACCOUNT","cycle":"2027-01"})");
  h.drain();
  Reply list = call(Verb::get, "/billingreports", "", tok);
  EXPECT_EQ(list.raw["X-Total-Count"], "2");
  const json::value seen = parse(list);
  ASSERT_EQ(seen.as_array().size(), 2u);
  EXPECT_EQ(str(seen.as_array()[0].at("id")), of_thing);
  EXPECT_EQ(str(seen.as_array()[1].at("id")), of_group);
  EXPECT_EQ(call(Verb::get, "/billingreports/" + of_thing, "", tok).status, 200);
  EXPECT_EQ(call(Verb::get, "/billingreports/" + of_thing + "/csv", "", tok).status, 200);
  for (const std::string& id : {of_other, of_account}) {
    EXPECT_EQ(call(Verb::get, "/billingreports/" + id, "", tok).status, 404);
    EXPECT_EQ(call(Verb::get, "/billingreports/" + id + "/download", "", tok).status, 404);
  }
}

TEST_F(SmsBilling, DownloadRedirectsToTheCsvOnceTheReportIsDone) {
  const std::string thing = provision_one("ACTIVE");
  ASSERT_TRUE(h.svc->record_usage(core::ThingId{std::stoull(thing)}, 1'234'567, 0).ok());
  const std::string idle = provision_one();
  const std::string id = report(R"({"scope":"ACCOUNT","cycle":"2027-01"})");
  EXPECT_EQ(call(Verb::get, "/billingreports/" + id + "/download").status, 412);
  EXPECT_EQ(call(Verb::get, "/billingreports/" + id + "/csv").status, 412);
  h.drain();
  Reply dl = call(Verb::get, "/billingreports/" + id + "/download");
  EXPECT_EQ(dl.status, 302);
  EXPECT_EQ(dl.raw[http::bhttp::field::location],
            std::string(kApi) + "/billingreports/" + id + "/csv");
  Reply csv = call(Verb::get, "/billingreports/" + id + "/csv");
  ASSERT_EQ(csv.status, 200);
  EXPECT_EQ(csv.raw[http::bhttp::field::content_type], "text/csv; charset=utf-8");
  EXPECT_EQ(csv.body,
            "thingId,iccid,cycleFee,dataMegabytes,dataCharge,smsCount,smsCharge,total\r\n" + thing +
                ",\"8931000000000000001\",1.00,1.23,0.06,0,0.00,1.06\r\n" + idle +
                ",\"8931000000000000002\",0.00,0.00,0.00,0,0.00,0.00\r\n");
}

TEST_F(SmsBilling, ABigReportRunsInSlicesAndResumesAfterARestart) {
  provision(1200, "", "ACTIVE");
  const std::string id = report(R"({"scope":"ACCOUNT","cycle":"2027-01"})");
  EXPECT_TRUE(h.svc->tick()) << "more slices to go";
  EXPECT_EQ(call(Verb::get, "/billingreports/" + id).status, 202);
  restart();
  EXPECT_EQ(call(Verb::get, "/billingreports/" + id).status, 202) << "still RUNNING";
  h.drain();
  Reply done = call(Verb::get, "/billingreports/" + id);
  ASSERT_EQ(done.status, 200);
  EXPECT_EQ(parse(done).at("lines").as_array().size(), 1200u);
  EXPECT_NEAR(num(parse(done).at("total")), 1200.0, 1e-6);
}

TEST_F(SmsBilling, SmsUsageAndReportsSurviveARestart) {
  const std::string thing = provision_one("ACTIVE");
  const core::ThingId tid{std::stoull(thing)};
  const std::string mt = send(thing);
  auto mo = h.svc->receive_sms(tid, "up");
  ASSERT_TRUE(mo.ok());
  ASSERT_TRUE(h.svc->record_usage(tid, 10, 20).ok());
  const std::string id = report(R"({"scope":"ACCOUNT","cycle":"2027-01"})");
  h.drain();
  const std::string before = call(Verb::get, "/billingreports/" + id).body;
  restart();
  EXPECT_EQ(status_of(mt), "SENT");
  EXPECT_EQ(status_of(std::to_string(*mo)), "RECEIVED");
  const json::value today = usage(thing).back();
  EXPECT_EQ(today.at("bytesUp").as_int64(), 10);
  EXPECT_EQ(today.at("bytesDown").as_int64(), 20);
  EXPECT_EQ(today.at("smsCount").as_int64(), 1);
  EXPECT_EQ(call(Verb::get, "/billingreports/" + id).body, before);
  EXPECT_EQ(lines_of(parse(call(Verb::get, "/billingreports/" + id))).size(), 1u);
  h.now_ms += 86'400'000;
  h.drain();
  EXPECT_EQ(status_of(mt), "EXPIRED") << "the lifecycle goes on after the restart";
}

}  // namespace
}  // namespace simcore::ctl
