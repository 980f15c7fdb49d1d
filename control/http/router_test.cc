#include "control/http/router.h"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

namespace simcore::ctl::http {
namespace {

constexpr const char* kPrefix = "/iot/jpu/iotprogrammablesim";

Request make_request(Verb v, std::string target) {
  Request r;
  r.msg.method(v);
  r.msg.target(target);
  r.request_id = "rid-1";
  return r;
}

// A handler that answers "<name> k=v k=v".
RouteHandler echo(std::string name) {
  return [name](const Request&, const PathParams& params) {
    Response res{bhttp::status::ok, 11};
    res.body() = name;
    for (const auto& [k, v] : params) res.body() += " " + k + "=" + v;
    return res;
  };
}

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(router.add(Verb::get, "/things", echo("list")).ok());
    ASSERT_TRUE(router.add(Verb::post, "/things", echo("create")).ok());
    ASSERT_TRUE(router.add(Verb::get, "/things/{thingId}", echo("get")).ok());
    ASSERT_TRUE(router.add(Verb::patch, "/things/{thingId}", echo("patch")).ok());
    ASSERT_TRUE(router.add(Verb::put, "/things/{thingId}/state", echo("state")).ok());
    ASSERT_TRUE(router.add(Verb::get, "/things/search", echo("search")).ok());
    ASSERT_TRUE(
        router.add(Verb::delete_, "/networks/{networkId}/routes/{routeId}", echo("rm")).ok());
    ASSERT_TRUE(
        router.add_unprefixed(Verb::post, "/oauth/client_credential/accesstoken", echo("token"))
            .ok());
  }
  Response call(Verb v, const std::string& path, bool prefixed = true) {
    return router.handle(make_request(v, (prefixed ? kPrefix : "") + path));
  }
  Router router{kPrefix};
};

TEST_F(RouterTest, MatchesLiteralAndParamRoutes) {
  const struct {
    const char* name;
    Verb verb;
    const char* path;
    const char* want;
  } kCases[] = {
      {"list", Verb::get, "/things", "list"},
      {"create", Verb::post, "/things", "create"},
      {"param", Verb::get, "/things/8981100000000000001", "get thingId=8981100000000000001"},
      {"param then literal", Verb::put, "/things/t1/state", "state thingId=t1"},
      {"two params", Verb::delete_, "/networks/n1/routes/r9", "rm networkId=n1 routeId=r9"},
      {"literal beats param", Verb::get, "/things/search", "search"},
      {"percent-decoded param", Verb::get, "/things/a%20b%2Fc", "get thingId=a b/c"},
      {"trailing slash ignored", Verb::get, "/things/", "list"},
      {"query ignored", Verb::get, "/things?limit=5", "list"},
  };
  for (const auto& c : kCases) {
    auto res = call(c.verb, c.path);
    EXPECT_EQ(res.result_int(), 200u) << c.name;
    EXPECT_EQ(res.body(), c.want) << c.name;
  }
}

TEST_F(RouterTest, UnprefixedRouteLivesOutsideThePrefix) {
  EXPECT_EQ(
      call(Verb::post, "/oauth/client_credential/accesstoken?grant_type=client_credentials", false)
          .body(),
      "token");
  EXPECT_EQ(call(Verb::post, "/oauth/client_credential/accesstoken").result_int(), 404u);
  EXPECT_EQ(call(Verb::get, "/things", false).result_int(), 404u);
}

TEST_F(RouterTest, UnknownPathIs404Json) {
  for (const char* p : {"/nothing", "/things/t1/state/x", "/things//state", ""}) {
    auto res = call(Verb::get, p);
    EXPECT_EQ(res.result_int(), 404u) << p;
    auto v = boost::json::parse(res.body()).as_object();
    EXPECT_EQ(v.at("code").as_string(), "NOT_FOUND") << p;
    EXPECT_EQ(v.at("requestId").as_string(), "rid-1");
  }
}

TEST_F(RouterTest, WrongMethodIs405WithAllow) {
  auto res = call(Verb::delete_, "/things/t1");
  EXPECT_EQ(res.result_int(), 405u);
  EXPECT_EQ(res[bhttp::field::allow], "GET, PATCH");
  EXPECT_EQ(boost::json::parse(res.body()).at("code").as_string(), "METHOD_NOT_ALLOWED");
  // The literal resource's methods, not those of the parameter route it shadows.
  EXPECT_EQ(call(Verb::patch, "/things/search")[bhttp::field::allow], "GET");
  EXPECT_EQ(call(Verb::get, "/things/t1/state")[bhttp::field::allow], "PUT");
}

TEST_F(RouterTest, MalformedTargetIs400) {
  auto res = router.handle(make_request(Verb::get, "not a path"));
  EXPECT_EQ(res.result_int(), 400u);
}

TEST_F(RouterTest, RoutesListsEveryRouteInOrder) {
  auto routes = router.routes();
  ASSERT_EQ(routes.size(), 8u);
  EXPECT_EQ(routes[0].method, Verb::get);
  EXPECT_EQ(routes[0].pattern, "/things");
  EXPECT_EQ(routes[0].full_pattern, std::string(kPrefix) + "/things");
  EXPECT_TRUE(routes[0].prefixed);
  EXPECT_EQ(routes[4].pattern, "/things/{thingId}/state");
  EXPECT_EQ(routes[7].full_pattern, "/oauth/client_credential/accesstoken");
  EXPECT_FALSE(routes[7].prefixed);
}

TEST_F(RouterTest, RejectsDuplicatesAndBadPatterns) {
  auto dup = router.add(Verb::get, "/things/{id}", echo("x"));  // same shape, other name
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code(), core::Code::kAlreadyExists);
  EXPECT_TRUE(router.add(Verb::delete_, "/things/{thingId}", echo("del")).ok());
  for (const char* bad : {"", "things", "/a//b", "/a/{}", "/a/{b", "/a/{b-c}", "/a/{x}/{x}"}) {
    auto st = router.add(Verb::get, bad, echo("x"));
    ASSERT_FALSE(st.ok()) << bad;
    EXPECT_EQ(st.error().code(), core::Code::kInvalidArgument) << bad;
  }
}

TEST(Router, RootAndNoPrefix) {
  Router r;
  ASSERT_TRUE(r.add(Verb::get, "/", echo("root")).ok());
  ASSERT_TRUE(r.add(Verb::get, "/openapi.json", echo("doc")).ok());
  EXPECT_EQ(r.handle(make_request(Verb::get, "/")).body(), "root");
  EXPECT_EQ(r.handle(make_request(Verb::get, "/openapi.json")).body(), "doc");
  EXPECT_EQ(r.routes()[0].full_pattern, "/");
}

}  // namespace
}  // namespace simcore::ctl::http
