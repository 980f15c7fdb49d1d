// simcored end to end: the real daemon binary over the socket (see daemon_test_support.h).
#include "control/daemon/daemon_test_support.h"

#include <algorithm>
#include <ctime>

namespace simcore::ctl {
namespace {

using namespace e2e;

TEST_F(Simcored, SeedWorkflowSurvivesSigkill) {
  Daemon d(dir_);
  ASSERT_GT(d.start(), 0) << "simcored did not report its port";
  const std::string tok = d.token();
  ASSERT_FALSE(tok.empty());

  Reply groups = d.call("GET", p("/thingsgroups"), tok);
  ASSERT_EQ(groups.status, 200) << groups.body;
  ASSERT_EQ(groups.json().as_array().size(), 1u);
  EXPECT_TRUE(groups.json().as_array()[0].at("isDefault").as_bool());

  Reply net =
      d.call("POST", p("/networks"), tok, R"({"name":"meters","apnName":"meters.example"})");
  ASSERT_EQ(net.status, 201) << net.body;
  const std::string nid(net.json().at("id").as_string());
  Reply pool = d.call("POST", p("/networks/" + nid + "/ippools"), tok, R"({"cidr":"10.8.0.0/20"})");
  ASSERT_EQ(pool.status, 201) << pool.body;
  Reply prof = d.call("POST", p("/ipprofiles"), tok,
                      R"({"name":"meters","outbound":{"defaultAction":"DENY","rules":[)"
                      R"({"priority":10,"action":"ALLOW","protocol":"UDP","remote":"192.0.2.0/24",)"
                      R"("remotePorts":"5683"}]}})");
  ASSERT_EQ(prof.status, 201) << prof.body;
  const std::string pid(prof.json().at("id").as_string());
  Reply grp =
      d.call("POST", p("/thingsgroups"), tok,
             R"({"name":"meters","networkId":")" + nid + R"(","ipProfileId":")" + pid + R"("})");
  ASSERT_EQ(grp.status, 201) << grp.body;
  const std::string gid(grp.json().at("id").as_string());

  json::array items;
  for (int i = 0; i < 1000; ++i) {
    items.push_back(json::object{{"iccid", "89310000000000" + std::to_string(10000 + i)},
                                 {"imsi", "2040800000" + std::to_string(10000 + i)},
                                 {"thingsGroupId", gid},
                                 {"tags", json::array{"batch-1"}}});
  }
  Reply prov = d.call("POST", p("/things"), tok, json::serialize(json::object{{"things", items}}));
  ASSERT_EQ(prov.status, 201) << prov.body.substr(0, 400);
  const std::string tid(prov.json().as_array()[0].at("thingId").as_string());

  // Activate the whole batch by tag with a bulk action and watch it finish.
  Reply job = d.call("POST", p("/bulkactions"), tok,
                     R"({"action":"ACTIVATE","selector":{"tags":["batch-1"]}})");
  ASSERT_EQ(job.status, 202) << job.body;
  const size_t loc = job.headers.find("Location: ");
  ASSERT_NE(loc, std::string::npos) << job.headers;
  const std::string job_path =
      job.headers.substr(loc + 10, job.headers.find("\r\n", loc) - loc - 10);
  json::value progress;
  for (int i = 0; i < 200; ++i) {  // 20 s at most
    Reply r = d.call("GET", job_path, tok);
    ASSERT_EQ(r.status, 200) << r.body;
    progress = r.json();
    if (progress.at("status").as_string() == "DONE") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(progress.at("status").as_string(), "DONE") << json::serialize(progress);
  EXPECT_EQ(progress.at("matched").as_int64(), 1000);
  EXPECT_EQ(progress.at("succeeded").as_int64(), 1000);
  EXPECT_EQ(progress.at("failed").as_int64(), 0);
  Reply active = d.call("GET", p("/things?limit=1&state=ACTIVE&tag=batch-1"), tok);
  EXPECT_NE(active.headers.find("X-Total-Count: 1000"), std::string::npos) << active.headers;

  // Suspend one; an SMS to it is accepted, then fails because the Thing is not ACTIVE.
  const std::string sid(prov.json().as_array()[1].at("thingId").as_string());
  Reply sus = d.call("PUT", p("/things/" + sid + "/state"), tok, R"({"state":"SUSPENDED"})");
  ASSERT_EQ(sus.status, 200) << sus.body;
  Reply sms = d.call("POST", p("/things/" + sid + "/sms"), tok, R"({"text":"wake up"})");
  ASSERT_EQ(sms.status, 202) << sms.body;
  EXPECT_EQ(sms.json().at("status").as_string(), "QUEUED");
  const std::string sms_id(sms.json().at("id").as_string());
  std::string sms_status;
  for (int i = 0; i < 100 && sms_status != "FAILED"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    sms_status =
        std::string(d.call("GET", p("/sms/" + sms_id), tok).json().at("status").as_string());
  }
  EXPECT_EQ(sms_status, "FAILED");

  // Usage of the activated Thing: one row per day, zeros until the data plane counts bytes.
  Reply usage = d.call("GET", p("/things/" + tid + "/usage"), tok);
  ASSERT_EQ(usage.status, 200) << usage.body;
  EXPECT_EQ(d.call("GET", p("/things/" + tid + "/usage?from=2026-13-01"), tok).status, 400);

  // A billing report of the current cycle: 202, then 200 with a line per Thing, then the CSV.
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char cycle[8];
  std::strftime(cycle, sizeof cycle, "%Y-%m", &utc);
  Reply rep = d.call("POST", p("/billingreports"), tok,
                     std::string(R"({"scope":"ACCOUNT","cycle":")") + cycle + "\"}");
  ASSERT_EQ(rep.status, 202) << rep.body;
  const std::string rid(rep.json().at("id").as_string());
  Reply done;
  for (int i = 0; i < 200; ++i) {
    done = d.call("GET", p("/billingreports/" + rid), tok);
    if (done.status != 202) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(done.status, 200) << done.body.substr(0, 400);
  const json::value report = done.json();
  EXPECT_EQ(report.at("lines").as_array().size(), 1000u);
  Reply redirect = d.call("GET", p("/billingreports/" + rid + "/download"), tok);
  EXPECT_EQ(redirect.status, 302);
  EXPECT_NE(redirect.headers.find("/billingreports/" + rid + "/csv"), std::string::npos);
  Reply csv = d.call("GET", p("/billingreports/" + rid + "/download"), tok, "", "-L");
  ASSERT_EQ(csv.status, 200) << csv.headers;
  EXPECT_EQ(csv.body.rfind("thingId,iccid,cycleFee,", 0), 0u) << csv.body.substr(0, 200);
  EXPECT_EQ(std::count(csv.body.begin(), csv.body.end(), '\n'), 1001);

  Reply back = d.call("PUT", p("/things/" + tid + "/state"), tok, R"({"state":"PROVISIONED"})");
  EXPECT_EQ(back.status, 412);
  EXPECT_NE(back.body.find("INVALID_STATE_TRANSITION"), std::string::npos) << back.body;

  Reply page = d.call("GET", p("/things?limit=10&thingsGroupId=" + gid + "&tag=batch-1"), tok);
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.json().as_array().size(), 10u);
  EXPECT_NE(page.headers.find("X-Total-Count: 1000"), std::string::npos) << page.headers;
  EXPECT_NE(page.headers.find("rel=\"next\""), std::string::npos) << page.headers;

  // Acknowledged writes survive SIGKILL.
  EXPECT_EQ(d.stop(SIGKILL), -SIGKILL);
  ASSERT_GT(d.start(), 0);
  const std::string tok2 = d.token();
  ASSERT_FALSE(tok2.empty());
  EXPECT_EQ(d.call("GET", p("/things"), tok).status, 401) << "tokens do not survive a restart";
  Reply thing = d.call("GET", p("/things/" + tid), tok2);
  ASSERT_EQ(thing.status, 200) << thing.body;
  EXPECT_EQ(thing.json().at("state").as_string(), "ACTIVE");
  EXPECT_EQ(thing.json().at("thingsGroupId").as_string(), gid);
  Reply all = d.call("GET", p("/things?limit=1"), tok2);
  EXPECT_NE(all.headers.find("X-Total-Count: 1000"), std::string::npos) << all.headers;
  EXPECT_EQ(d.stop(SIGTERM), 0) << "SIGTERM must stop simcored cleanly";
}

TEST_F(Simcored, BadRequestsGetTheRight4xxAndChangeNothing) {
  Daemon d(dir_);
  ASSERT_GT(d.start(), 0);
  const std::string tok = d.token();
  ASSERT_FALSE(tok.empty());
  EXPECT_EQ(d.call("GET", p("/things"), "").status, 401);
  EXPECT_EQ(d.call("GET", p("/things"), "not-a-token").status, 401);
  Reply wrong = d.call("POST", "/oauth/client_credential/accesstoken?grant_type=client_credentials",
                       "", "", std::string("-d client_id=") + kId + " -d client_secret=nope");
  EXPECT_EQ(wrong.status, 401);

  Reply malformed = d.call("POST", p("/networks"), tok, R"({"name": )");
  EXPECT_EQ(malformed.status, 400);
  Reply unknown =
      d.call("POST", p("/networks"), tok, R"({"name":"n","apnName":"n.example","colour":"blue"})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("colour"), std::string::npos) << unknown.body;
  Reply badcidr = d.call("POST", p("/networks/1/ippools"), tok, R"({"cidr":"10.0.0.1/24"})");
  EXPECT_EQ(badcidr.status, 400);
  EXPECT_NE(badcidr.body.find("cidr"), std::string::npos);
  EXPECT_EQ(d.call("GET", p("/things/424242"), tok).status, 404);
  EXPECT_EQ(d.call("GET", p("/things?limit=0"), tok).status, 400);
  Reply del = d.call(
      "DELETE",
      p("/thingsgroups/" +
        std::string(
            d.call("GET", p("/thingsgroups"), tok).json().as_array()[0].at("id").as_string())),
      tok);
  EXPECT_EQ(del.status, 405);
  EXPECT_NE(del.headers.find("Allow:"), std::string::npos);
  EXPECT_EQ(d.call("DELETE", p("/things"), tok).status, 405);
  // Nothing of the above was created.
  EXPECT_EQ(d.call("GET", p("/networks"), tok).json().as_array().size(), 1u);
  EXPECT_EQ(d.stop(SIGTERM), 0);
}

TEST_F(Simcored, RolesEtagsAndResourcesInUse) {
  Daemon d(dir_);
  ASSERT_GT(d.start(), 0);
  const std::string admin = d.token();
  ASSERT_FALSE(admin.empty());
  const std::string def_group(
      d.call("GET", p("/thingsgroups"), admin).json().as_array()[0].at("id").as_string());
  Reply net = d.call("POST", p("/networks"), admin, R"({"name":"cams","apnName":"cams.example"})");
  ASSERT_EQ(net.status, 201);
  const std::string nid(net.json().at("id").as_string());
  ASSERT_EQ(
      d.call("POST", p("/networks/" + nid + "/ippools"), admin, R"({"cidr":"10.9.0.0/24"})").status,
      201);
  const std::string prof(
      d.call("GET", p("/ipprofiles"), admin).json().as_array()[0].at("id").as_string());
  Reply grp =
      d.call("POST", p("/thingsgroups"), admin,
             R"({"name":"cams","networkId":")" + nid + R"(","ipProfileId":")" + prof + R"("})");
  ASSERT_EQ(grp.status, 201);
  const std::string gid(grp.json().at("id").as_string());
  Reply prov = d.call("POST", p("/things"), admin,
                      R"({"things":[{"iccid":"8931000000000000001","imsi":"204080000000001",)"
                      R"("thingsGroupId":")" +
                          gid +
                          R"("},{"iccid":"8931000000000000002",)"
                          R"("imsi":"204080000000002"}]})");
  ASSERT_EQ(prov.status, 201) << prov.body;
  const std::string cam(prov.json().as_array()[0].at("thingId").as_string());
  const std::string other(prov.json().as_array()[1].at("thingId").as_string());

  // A network in use by a group cannot be deleted.
  EXPECT_EQ(d.call("DELETE", p("/networks/" + nid), admin).status, 412);

  // Users: the secret is shown once and works; roles limit what a token may do.
  auto make_user = [&](const std::string& role, const std::string& groups) {
    Reply u = d.call("POST", p("/users"), admin,
                     R"({"name":")" + role + R"(","email":")" + role + R"(@example.com","role":")" +
                         role + R"(","thingsGroupIds":[)" + groups + "]}");
    EXPECT_EQ(u.status, 201) << u.body;
    EXPECT_EQ(u.body.find("secret_hash"), std::string::npos);
    const std::string token = d.token_for(u);
    EXPECT_FALSE(token.empty());
    return token;
  };
  const std::string monitor = make_user("MONITOR", "");
  const std::string groupie = make_user("GROUP_USER", "\"" + gid + "\"");
  EXPECT_EQ(d.call("GET", p("/things"), monitor).status, 200);
  EXPECT_EQ(d.call("PUT", p("/things/" + cam + "/state"), monitor, R"({"state":"ACTIVE"})").status,
            403);
  EXPECT_EQ(d.call("GET", p("/users"), monitor).status, 403);
  Reply mine = d.call("GET", p("/things"), groupie);
  ASSERT_EQ(mine.status, 200);
  ASSERT_EQ(mine.json().as_array().size(), 1u) << "GROUP_USER sees only its groups' Things";
  EXPECT_EQ(mine.json().as_array()[0].at("thingId").as_string(), cam);
  EXPECT_EQ(d.call("GET", p("/things/" + other), groupie).status, 403);
  EXPECT_EQ(d.call("PUT", p("/things/" + cam + "/state"), groupie, R"({"state":"ACTIVE"})").status,
            200);
  EXPECT_EQ(d.call("POST", p("/networks"), groupie, R"({"name":"x","apnName":"x.example"})").status,
            403);

  // ETag + If-Match: a stale tag is refused and changes nothing.
  Reply got = d.call("GET", p("/things/" + cam), admin);
  const size_t at = got.headers.find("ETag: ");
  ASSERT_NE(at, std::string::npos) << got.headers;
  const std::string etag = got.headers.substr(at + 6, got.headers.find("\r\n", at) - at - 6);
  EXPECT_EQ(d.call("PATCH", p("/things/" + cam), admin, R"({"name":"gate"})",
                   "-H 'If-Match: " + etag + "'")
                .status,
            200);
  EXPECT_EQ(d.call("PATCH", p("/things/" + cam), admin, R"({"name":"stale"})",
                   "-H 'If-Match: " + etag + "'")
                .status,
            412);
  EXPECT_EQ(d.call("GET", p("/things/" + cam), admin).json().at("name").as_string(), "gate");
  EXPECT_EQ(d.stop(SIGTERM), 0);
}

// A flood from one client is limited (429 + Retry-After) while another client is still served,
// and a body over maxBodyBytes is refused with 413 before it reaches the API.
TEST_F(Simcored, AFloodGets429WhileAnotherClientIsServedAndBigBodiesGet413) {
  std::ofstream(dir_ / "simcored.yaml", std::ios::app)
      << "rateLimitPerSecond: 2\nrateLimitBurst: 10\nmaxBodyBytes: 65536\n";
  Daemon d(dir_);
  ASSERT_GT(d.start(), 0);
  const std::string admin = d.token();
  ASSERT_FALSE(admin.empty());
  Reply u = d.call("POST", p("/users"), admin,
                   R"({"name":"other","email":"other@example.com","role":"MONITOR"})");
  ASSERT_EQ(u.status, 201) << u.body;
  const std::string other = d.token_for(u);
  ASSERT_FALSE(other.empty());

  int limited = 0;
  Reply last;
  for (int i = 0; i < 30 && limited == 0; ++i) {
    last = d.call("GET", p("/things"), admin);
    if (last.status == 429) ++limited;
  }
  ASSERT_EQ(limited, 1) << "the admin's bucket never ran dry";
  EXPECT_NE(last.headers.find("Retry-After: "), std::string::npos) << last.headers;
  EXPECT_NE(last.body.find("\"status\":429"), std::string::npos) << last.body;
  EXPECT_EQ(d.call("GET", p("/things"), other).status, 200) << "another client is still served";

  const std::string big = R"({"name":")" + std::string(70000, 'x') + R"(","apnName":"x.example"})";
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // let the bucket refill a bit
  Reply huge = d.call("POST", p("/networks"), admin, big);
  EXPECT_EQ(huge.status, 413) << huge.body.substr(0, 200);
  EXPECT_EQ(d.call("GET", p("/networks"), other).json().as_array().size(), 1u);
  EXPECT_EQ(d.stop(SIGTERM), 0);
}

// GET /metrics over the socket, as a scraper with a MONITOR user would fetch it: Prometheus text
// with its content type; a GROUP_USER may not read the account-wide figures.
TEST_F(Simcored, MetricsAreServedAsPrometheusTextToAMonitor) {
  Daemon d(dir_);
  ASSERT_GT(d.start(), 0);
  const std::string admin = d.token();
  ASSERT_FALSE(admin.empty());
  Reply u = d.call("POST", p("/users"), admin,
                   R"({"name":"prometheus","email":"ops@example.com","role":"MONITOR"})");
  ASSERT_EQ(u.status, 201) << u.body;
  const std::string monitor = d.token_for(u);
  ASSERT_FALSE(monitor.empty());

  Reply m = d.call("GET", p("/metrics"), monitor);
  ASSERT_EQ(m.status, 200) << m.body;
  EXPECT_NE(m.headers.find("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
            std::string::npos)
      << m.headers;
  EXPECT_NE(m.body.find("# TYPE simcored_tables_generation gauge\nsimcored_tables_generation "),
            std::string::npos)
      << m.body;
  // Two tokens and the POST /users before this request.
  EXPECT_NE(m.body.find("simcored_http_requests_total{class=\"2xx\"} 3\n"), std::string::npos)
      << m.body;
  EXPECT_EQ(d.call("GET", p("/metrics")).status, 401);

  const std::string group(
      d.call("GET", p("/thingsgroups"), admin).json().as_array()[0].at("id").as_string());
  Reply g =
      d.call("POST", p("/users"), admin,
             R"({"name":"g","email":"g@example.com","role":"GROUP_USER","thingsGroupIds":[")" +
                 group + R"("]})");
  ASSERT_EQ(g.status, 201) << g.body;
  const std::string group_user = d.token_for(g);
  ASSERT_FALSE(group_user.empty());
  EXPECT_EQ(d.call("GET", p("/metrics"), group_user).status, 403);
  EXPECT_EQ(d.stop(SIGTERM), 0);
}

}  // namespace
}  // namespace simcore::ctl
