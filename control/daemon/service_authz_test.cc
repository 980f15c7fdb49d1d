// The authorization matrix: every route the daemon serves × every role, allowed or 403; and
// 401 for every route without a token, with a garbage token and with an expired one. The
// expected table below is the policy (control/README.md "Roles"); a route missing from it
// fails the test, so a new route cannot ship without a decision about who may call it.
#include <map>
#include <regex>
#include <set>

#include "control/daemon/service_test_support.h"

namespace simcore::ctl {
namespace {

using namespace testing;

enum : unsigned { A = 1, S = 2, G = 4, M = 8 };  // ADMIN, STANDARD, GROUP_USER, MONITOR
constexpr unsigned kAll = A | S | G | M;
constexpr unsigned kWriters = A | S;

// "METHOD /path/{}" → the roles that may call it.
const std::map<std::string, unsigned>& policy() {
  static const std::map<std::string, unsigned> p = {
      {"GET /things", kAll},
      {"POST /things", A},  // SIM inventory
      {"GET /things/{}", kAll},
      {"PATCH /things/{}", A | S | G},
      {"PUT /things/{}/state", A | S | G},
      {"GET /things/{}/session", kAll},
      {"GET /things/{}/usage", kAll},
      {"GET /things/{}/sms", kAll},
      {"POST /things/{}/sms", A | S | G},
      {"POST /things/{}/evaluate", kAll},  // a what-if changes nothing
      {"GET /thingsgroups", kAll},
      {"POST /thingsgroups", kWriters},
      {"GET /thingsgroups/{}", kAll},
      {"PATCH /thingsgroups/{}", kWriters},
      {"DELETE /thingsgroups/{}", kWriters},
      {"GET /networks", kAll},
      {"POST /networks", kWriters},
      {"GET /networks/{}", kAll},
      {"PATCH /networks/{}", kWriters},
      {"DELETE /networks/{}", kWriters},
      {"GET /networks/{}/ippools", kAll},
      {"POST /networks/{}/ippools", kWriters},
      {"GET /networks/{}/ippools/{}", kAll},
      {"PATCH /networks/{}/ippools/{}", kWriters},
      {"DELETE /networks/{}/ippools/{}", kWriters},
      {"GET /networks/{}/routes", kAll},
      {"POST /networks/{}/routes", kWriters},
      {"GET /networks/{}/routes/{}", kAll},
      {"DELETE /networks/{}/routes/{}", kWriters},
      {"GET /networks/{}/natrules", kAll},
      {"POST /networks/{}/natrules", kWriters},
      {"GET /networks/{}/natrules/{}", kAll},
      {"DELETE /networks/{}/natrules/{}", kWriters},
      {"GET /networks/{}/ipsectunnels", kAll},
      {"POST /networks/{}/ipsectunnels", kWriters},
      {"GET /networks/{}/ipsectunnels/{}", kAll},
      {"PATCH /networks/{}/ipsectunnels/{}", kWriters},
      {"DELETE /networks/{}/ipsectunnels/{}", kWriters},
      {"GET /networks/{}/ipsectunnels/{}/status", kAll},
      {"GET /ipprofiles", kAll},
      {"POST /ipprofiles", kWriters},
      {"GET /ipprofiles/{}", kAll},
      {"PATCH /ipprofiles/{}", kWriters},
      {"DELETE /ipprofiles/{}", kWriters},
      {"GET /sms", kAll},
      {"GET /sms/{}", kAll},
      {"GET /billingreports", kAll},
      {"POST /billingreports", kWriters},
      {"GET /billingreports/{}", kAll},
      {"GET /billingreports/{}/download", kAll},
      {"GET /billingreports/{}/csv", kAll},
      {"GET /bulkactions", kAll},
      {"POST /bulkactions", A | S | G},  // a GROUP_USER's selector is limited to its groups
      {"GET /bulkactions/{}", kAll},
      {"GET /users", A},
      {"POST /users", A},
      {"GET /users/{}", A},
      {"PATCH /users/{}", A},
      {"DELETE /users/{}", A},
      {"GET /events", kAll},
      {"GET /openapi.json", kAll},
      {"GET /metrics", A | S | M},  // account-wide figures: not for a GROUP_USER
  };
  return p;
}

std::string generic(const http::RouteInfo& r, const std::string& prefix) {
  static const std::regex param("\\{[^}]*\\}");
  std::string path = r.full_pattern;
  if (path.rfind(prefix, 0) == 0) path = path.substr(prefix.size());
  return std::string(http::bhttp::to_string(r.method)) + " " +
         std::regex_replace(path, param, "{}");
}

// Fills every {param} with the id of a real object the GROUP_USER may see, so an allowed call
// fails (if at all) for its body, never for visibility; forbidden calls must be 403 anyway.
std::string concrete(const std::string& pattern, const std::map<std::string, std::string>& ids) {
  std::string out;
  static const std::regex param("\\{([^}]*)\\}");
  std::sregex_iterator it(pattern.begin(), pattern.end(), param), end;
  size_t last = 0;
  for (; it != end; ++it) {
    out += pattern.substr(last, it->position() - last);
    auto found = ids.find((*it)[1].str());
    out += found == ids.end() ? "1" : found->second;
    last = it->position() + it->length();
  }
  return out + pattern.substr(last);
}

class AuthzMatrix : public ::testing::Test {
 protected:
  void SetUp() override {
    ServiceHarness& h = harness;
    Reply net = h.call(http::Verb::post, "/networks", R"({"name":"n","apnName":"n.example"})");
    ASSERT_EQ(net.status, 201) << net.body;
    ids["networkId"] = std::string(net.json().at("id").as_string());
    Reply pool = h.call(http::Verb::post, "/networks/" + ids["networkId"] + "/ippools",
                        R"({"cidr":"10.20.0.0/24"})");
    ASSERT_EQ(pool.status, 201) << pool.body;
    ids["poolId"] = std::string(pool.json().at("id").as_string());
    Reply profiles = h.call(http::Verb::get, "/ipprofiles");
    ASSERT_EQ(profiles.status, 200);
    ids["profileId"] = ids["ipProfileId"] =
        std::string(profiles.json().as_array()[0].at("id").as_string());
    Reply grp = h.call(http::Verb::post, "/thingsgroups",
                       R"({"name":"g","networkId":")" + ids["networkId"] + R"(","ipProfileId":")" +
                           ids["profileId"] + R"("})");
    ASSERT_EQ(grp.status, 201) << grp.body;
    ids["groupId"] = ids["thingsGroupId"] = std::string(grp.json().at("id").as_string());
    Reply thing = h.call(http::Verb::post, "/things",
                         R"({"things":[{"iccid":"8931000000000000001","imsi":"204080000000001",)"
                         R"("thingsGroupId":")" +
                             ids["groupId"] + R"("}]})");
    ASSERT_EQ(thing.status, 201) << thing.body;
    ids["thingId"] = std::string(thing.json().as_array()[0].at("thingId").as_string());
    for (const char* role : {"ADMIN", "STANDARD", "GROUP_USER", "MONITOR"}) {
      Reply u = h.call(http::Verb::post, "/users",
                       std::string(R"({"name":")") + role + R"(","email":")" + role +
                           R"(@example.com","role":")" + role + R"(","thingsGroupIds":[)" +
                           (role == std::string("GROUP_USER") ? "\"" + ids["groupId"] + "\"" : "") +
                           "]}");
      ASSERT_EQ(u.status, 201) << u.body;
      tokens[role] = h.token_for(std::string(u.json().at("clientId").as_string()),
                                 std::string(u.json().at("clientSecret").as_string()));
      ASSERT_FALSE(tokens[role].empty());
      ids["userId"] = std::string(u.json().at("id").as_string());
    }
  }

  ServiceHarness harness;
  std::map<std::string, std::string> ids;
  std::map<std::string, std::string> tokens;
};

TEST_F(AuthzMatrix, EveryRouteTimesEveryRoleIsAllowedOrForbiddenAsThePolicySays) {
  const std::map<std::string, unsigned> roles = {
      {"ADMIN", A}, {"STANDARD", S}, {"GROUP_USER", G}, {"MONITOR", M}};
  size_t checked = 0;
  for (const http::RouteInfo& r : harness.svc->routes()) {
    if (r.full_pattern.rfind("/oauth/", 0) == 0) continue;
    const std::string key = generic(r, kApi);
    auto want = policy().find(key);
    ASSERT_NE(want, policy().end()) << key << " is served but has no entry in the policy table";
    std::string path = concrete(r.full_pattern, ids).substr(std::string(kApi).size());
    if (r.method == http::Verb::delete_) {
      // An allowed DELETE must not remove the fixture: it names an absent object (404).
      path = path.substr(0, path.rfind('/') + 1) + "999999";
    }
    for (const auto& [role, bit] : roles) {
      // Writes get an empty body, which every write route refuses (400) before changing
      // anything; the role check comes before both.
      Reply res = harness.call(r.method, path, "", tokens[role]);
      if (want->second & bit) {
        EXPECT_NE(res.status, 403) << role << " " << key << ": " << res.body;
        EXPECT_NE(res.status, 401) << role << " " << key;
      } else {
        EXPECT_EQ(res.status, 403) << role << " " << key << ": " << res.body;
        EXPECT_NE(res.body.find("role " + role), std::string::npos) << res.body;
      }
      ++checked;
    }
  }
  EXPECT_GE(checked, 4 * policy().size() - 4);
}

TEST_F(AuthzMatrix, EveryRouteRefusesMissingGarbageAndExpiredTokens) {
  const std::string still_valid = tokens["ADMIN"];
  harness.now_ms += (harness.config.token_ttl_s + 1) * 1000;
  for (const http::RouteInfo& r : harness.svc->routes()) {
    if (r.full_pattern.rfind("/oauth/", 0) == 0) continue;
    const std::string path = concrete(r.full_pattern, ids);
    for (const std::string& tok : {std::string(), std::string("garbage"), still_valid}) {
      http::Request req;
      req.msg.method(r.method);
      req.msg.target(path);
      if (!tok.empty()) req.msg.set(http::bhttp::field::authorization, "Bearer " + tok);
      const http::Response res = harness.svc->handle(req);
      EXPECT_EQ(res.result_int(), 401) << generic(r, kApi) << " token '" << tok << "'";
      EXPECT_FALSE(res[http::bhttp::field::www_authenticate].empty());
    }
  }
}

}  // namespace
}  // namespace simcore::ctl
