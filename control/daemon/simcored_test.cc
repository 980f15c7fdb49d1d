// simcored end to end: the real daemon binary over the socket (see daemon_test_support.h).
#include "control/daemon/daemon_test_support.h"

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

  Reply act = d.call("PUT", p("/things/" + tid + "/state"), tok, R"({"state":"ACTIVE"})");
  ASSERT_EQ(act.status, 200) << act.body;
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
    const std::string id(u.json().at("clientId").as_string());
    const std::string secret(u.json().at("clientSecret").as_string());
    Reply t = d.call("POST", "/oauth/client_credential/accesstoken?grant_type=client_credentials",
                     "", "", "-d client_id=" + id + " -d client_secret=" + secret);
    EXPECT_EQ(t.status, 200);
    return std::string(t.json().at("access_token").as_string());
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

}  // namespace
}  // namespace simcore::ctl
