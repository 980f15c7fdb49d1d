// The subscriber side of attach (sessions.h) through Service::attach_backend(): every check of
// DESIGN.md "Attach", the session in the API and in the published tables, the events, and
// durability only at flush().
#include <gtest/gtest.h>

#include "control/daemon/service_test_support.h"
#include "core/flat_index.h"

namespace simcore::ctl {
namespace {

using gtpc::AttachAnswer;
using gtpc::AttachAsk;
using gtpc::Refusal;
namespace json = boost::json;

constexpr const char* kImsi1 = "204080000000001";
constexpr const char* kImsi2 = "204080000000002";
constexpr const char* kImsi3 = "204080000000003";

class AttachTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const testing::Reply r = h.call(
        http::Verb::post, "/things",
        R"({"things":[{"iccid":"8931000000000000001","imsi":"204080000000001","imeiLock":true},)"
        R"({"iccid":"8931000000000000002","imsi":"204080000000002"},)"
        R"({"iccid":"8931000000000000003","imsi":"204080000000003"}]})");
    ASSERT_EQ(r.status, 201) << r.body;
    const json::value things = r.json();
    for (const json::value& t : things.as_array()) {
      ids.push_back(std::string(t.at("thingId").as_string()));
    }
    activate(ids[0]);
    activate(ids[1]);
  }

  void activate(const std::string& id) {
    ASSERT_EQ(h.call(http::Verb::put, "/things/" + id + "/state", R"({"state":"ACTIVE"})").status,
              200);
  }

  static AttachAsk ask(const char* imsi) {
    AttachAsk a;
    a.imsi = imsi;
    a.imei = "35345678901234";
    a.apn = "iot.simcore";
    a.rat_known = true;
    a.rat = core::Rat::kLteM;
    a.serving_known = true;
    a.mcc = 204;
    a.mnc = 8;
    a.peer_addr = core::Ipv4{0xC0000201};  // 192.0.2.1
    a.peer_teid = 0x1234;
    return a;
  }

  gtpc::AttachBackend& backend() { return h.svc->attach_backend(); }

  json::value session(const std::string& id) {
    const testing::Reply r = h.call(http::Verb::get, "/things/" + id + "/session");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json();
  }

  std::vector<json::object> events(const char* type) {
    const testing::Reply r = h.call(http::Verb::get, std::string("/events?type=") + type);
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<json::object> out;
    const json::value list = r.json();
    for (const json::value& e : list.as_array()) out.push_back(e.as_object());
    return out;
  }

  bool published(uint32_t teid) {
    return h.sink.last->by_teid.find(__builtin_bswap32(teid)) != core::FlatIndex::kNotFound;
  }

  testing::ServiceHarness h;
  std::vector<std::string> ids;
};

TEST_F(AttachTest, AnAcceptedAttachIsInTheApiTheTablesAndTheEventsAfterFlush) {
  const uint64_t before = h.sink.generations.size();
  const AttachAnswer a = backend().attach(ask(kImsi1));
  ASSERT_EQ(a.refusal, Refusal::kNone);
  EXPECT_EQ(a.thing.value, std::stoull(ids[0]));
  EXPECT_NE(a.uplink_teid, 0u);
  EXPECT_EQ(a.dns, h.config.dns_servers);
  EXPECT_EQ(h.sink.generations.size(), before);  // nothing published before flush()
  ASSERT_TRUE(backend().flush());
  EXPECT_EQ(h.sink.generations.size(), before + 1);
  EXPECT_TRUE(published(a.uplink_teid));

  const json::value s = session(ids[0]);
  EXPECT_EQ(s.at("online").as_bool(), true);
  EXPECT_EQ(s.at("ipAddress").as_string(), a.ue_addr.str());
  EXPECT_EQ(s.at("imei").as_string(), "35345678901234");
  EXPECT_EQ(s.at("mcc").as_string(), "204");
  EXPECT_EQ(s.at("rat").as_string(), "LTE_M");
  const auto attached = events("ATTACH");
  ASSERT_EQ(attached.size(), 1u);
  EXPECT_EQ(attached[0].at("thingId").as_string(), ids[0]);
  EXPECT_EQ(attached[0].at("details").at("ipAddress").as_string(), a.ue_addr.str());
}

TEST_F(AttachTest, EachCheckRefusesWithItsReasonAndAnEvent) {
  struct Case {
    const char* what;
    AttachAsk ask;
    Refusal want;
  };
  std::vector<Case> cases;
  cases.push_back({"unknown IMSI", ask("204089999999999"), Refusal::kUnknownImsi});
  cases.push_back({"PROVISIONED", ask(kImsi3), Refusal::kNotActive});
  AttachAsk nbiot = ask(kImsi2);
  nbiot.rat = core::Rat::kNbIot;
  cases.push_back({"NB-IoT", nbiot, Refusal::kRatNotAllowed});
  AttachAsk nr = ask(kImsi2);
  nr.rat = core::Rat::kNr;
  cases.push_back({"NR", nr, Refusal::kRatNotAllowed});
  AttachAsk wlan = ask(kImsi2);
  wlan.rat_served = false;
  cases.push_back({"a RAT we cannot name", wlan, Refusal::kRatNotAllowed});
  AttachAsk germany = ask(kImsi2);
  germany.mcc = 262;
  cases.push_back({"roaming in DE", germany, Refusal::kRoamingNotAllowed});
  AttachAsk apn = ask(kImsi2);
  apn.apn = "internet";
  cases.push_back({"another APN", apn, Refusal::kUnknownApn});
  for (const Case& c : cases) {
    EXPECT_EQ(backend().attach(c.ask).refusal, c.want) << c.what;
  }
  ASSERT_TRUE(backend().flush());
  EXPECT_EQ(events("ATTACH_REJECTED").size(), cases.size());
  EXPECT_TRUE(events("ATTACH").empty());
  EXPECT_FALSE(session(ids[1]).at("online").as_bool());

  // Belgium and Luxembourg are served; so is an APN with its operator identifier.
  AttachAsk be = ask(kImsi2);
  be.mcc = 206;
  EXPECT_EQ(backend().attach(be).refusal, Refusal::kNone);
  AttachAsk oi = ask(kImsi2);
  oi.mcc = 270;
  oi.apn = "IoT.SimCore.mnc008.mcc204.gprs";
  EXPECT_EQ(backend().attach(oi).refusal, Refusal::kNone);
  // GTPv1 may carry no RAT and no serving network: not checked then.
  AttachAsk bare = ask(kImsi2);
  bare.rat_known = bare.serving_known = false;
  bare.mcc = 0;
  EXPECT_EQ(backend().attach(bare).refusal, Refusal::kNone);
}

TEST_F(AttachTest, DataOffAndImeiLockRefuseAndAnImeiChangeIsAnEvent) {
  ASSERT_EQ(h.call(http::Verb::patch, "/things/" + ids[1], R"({"services":{"data":false}})").status,
            200);
  EXPECT_EQ(backend().attach(ask(kImsi2)).refusal, Refusal::kDataOff);

  // The first IMEI is captured; under the lock another device is refused.
  ASSERT_EQ(backend().attach(ask(kImsi1)).refusal, Refusal::kNone);
  AttachAsk swapped = ask(kImsi1);
  swapped.imei = "35345678909999";
  EXPECT_EQ(backend().attach(swapped).refusal, Refusal::kImeiLocked);
  ASSERT_TRUE(backend().flush());

  ASSERT_EQ(h.call(http::Verb::patch, "/things/" + ids[0], R"({"imeiLock":false})").status, 200);
  ASSERT_EQ(backend().attach(swapped).refusal, Refusal::kNone);
  ASSERT_TRUE(backend().flush());
  const auto changed = events("IMEI_CHANGED");
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].at("details").at("from").as_string(), "35345678901234");
  EXPECT_EQ(changed[0].at("details").at("to").as_string(), "35345678909999");
  EXPECT_EQ(session(ids[0]).at("imei").as_string(), "35345678909999");
}

TEST_F(AttachTest, ModifyAndDetachFollowTheTeid) {
  const AttachAnswer a = backend().attach(ask(kImsi2));
  ASSERT_EQ(a.refusal, Refusal::kNone);
  EXPECT_TRUE(backend().modify(a.uplink_teid, core::Ipv4{0xC0000202}, 0x5678));
  EXPECT_FALSE(backend().modify(a.uplink_teid + 1000, core::Ipv4{0xC0000202}, 0x5678));
  ASSERT_TRUE(backend().flush());
  const core::SessionRow& row = h.sink.last->sessions[core::ThingSlot{1}.value];
  EXPECT_EQ(row.peer_teid.raw, __builtin_bswap32(0x5678u));

  EXPECT_TRUE(backend().detach(a.uplink_teid));
  EXPECT_FALSE(backend().detach(a.uplink_teid));
  ASSERT_TRUE(backend().flush());
  EXPECT_FALSE(published(a.uplink_teid));
  EXPECT_FALSE(session(ids[1]).at("online").as_bool());
  EXPECT_EQ(events("DETACH").size(), 1u);
}

TEST_F(AttachTest, SuspendingThroughTheApiListsTheSessionForThePeer) {
  const AttachAnswer a = backend().attach(ask(kImsi2));
  ASSERT_TRUE(backend().flush());
  EXPECT_TRUE(h.svc->take_ended_sessions().empty());
  ASSERT_EQ(
      h.call(http::Verb::put, "/things/" + ids[1] + "/state", R"({"state":"SUSPENDED"})").status,
      200);
  EXPECT_EQ(h.svc->take_ended_sessions(), std::vector<uint32_t>{a.uplink_teid});
  EXPECT_FALSE(published(a.uplink_teid));
}

TEST_F(AttachTest, OnlyFlushedAttachesSurviveARestartWhichRaisesTheRestartCounter) {
  const uint8_t restarts = h.svc->gtp_restart_counter();
  const AttachAnswer kept = backend().attach(ask(kImsi1));
  ASSERT_TRUE(backend().flush());
  const AttachAnswer lost = backend().attach(ask(kImsi2));  // never flushed: never acknowledged
  ASSERT_EQ(lost.refusal, Refusal::kNone);
  h.reopen();
  EXPECT_EQ(h.svc->gtp_restart_counter(), static_cast<uint8_t>(restarts + 1));
  EXPECT_TRUE(session(ids[0]).at("online").as_bool());
  EXPECT_FALSE(session(ids[1]).at("online").as_bool());
  EXPECT_TRUE(published(kept.uplink_teid));
  // A TEID that survived is never handed out again.
  const AttachAnswer next = backend().attach(ask(kImsi2));
  ASSERT_EQ(next.refusal, Refusal::kNone);
  EXPECT_NE(next.uplink_teid, kept.uplink_teid);
  EXPECT_TRUE(backend().detach(kept.uplink_teid));
}

}  // namespace
}  // namespace simcore::ctl
