// Service as a function (no socket): what it publishes, and that its routes are documented.
#include "control/daemon/service.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <set>

#include "control/daemon/service_test_support.h"
#include "control/http/errors.h"

namespace simcore::ctl {
namespace {

namespace fs = std::filesystem;

using testing::FakeSink;
using testing::TempDir;

std::unique_ptr<Service> open_service(const TempDir& dir, FakeSink& sink, DaemonConfig cfg = {}) {
  cfg.data_dir = (dir.path / "data").string();
  cfg.admin_client_id = "admin";
  cfg.admin_client_secret = "0123456789abcdef";
  auto s = Service::open(cfg, sink, [] { return int64_t{1'800'000'000'000}; });
  EXPECT_TRUE(s.ok()) << s.error().message();
  return s.ok() ? std::move(*s) : nullptr;
}

TEST(Service, PublishesOnStartAndAfterEveryCommittedChange) {
  TempDir dir;
  FakeSink sink;
  auto svc = open_service(dir, sink);
  ASSERT_TRUE(svc);
  ASSERT_EQ(sink.generations.size(), 1u);
  EXPECT_EQ(svc->generation(), sink.generations.back());

  http::Request token;
  token.msg.method(http::Verb::post);
  token.msg.target("/oauth/client_credential/accesstoken?grant_type=client_credentials");
  token.msg.body() = "client_id=admin&client_secret=0123456789abcdef";
  http::Response t = svc->handle(token);
  ASSERT_EQ(t.result_int(), 200) << t.body();
  const std::string body = t.body();
  const size_t at = body.find("\"access_token\":\"") + 16;
  const std::string tok = body.substr(at, body.find('"', at) - at);

  http::Request create;
  create.msg.method(http::Verb::post);
  create.msg.target("/iot/jpu/iotprogrammablesim/networks");
  create.msg.set(http::bhttp::field::authorization, "Bearer " + tok);
  create.msg.body() = R"({"name":"n2","apnName":"n2.example"})";
  ASSERT_EQ(svc->handle(create).result_int(), 201);
  ASSERT_EQ(sink.generations.size(), 2u);
  EXPECT_GT(sink.generations[1], sink.generations[0]);

  // A refused write publishes nothing.
  create.msg.body() = R"({"name":"n2","apnName":"n2.example"})";
  EXPECT_EQ(svc->handle(create).result_int(), 409);
  EXPECT_EQ(sink.generations.size(), 2u);
}

// Every route the daemon serves is in control/openapi.yaml (the document also lists routes
// not served yet; the reverse check comes with the rest of the API).
TEST(Service, EveryRouteIsInTheOpenApiDocument) {
  TempDir dir;
  FakeSink sink;
  auto svc = open_service(dir, sink);
  ASSERT_TRUE(svc);
  const std::string cmd = std::string("node ") + SIMCORE_SOURCE_DIR +
                          "/tests/js/list-routes.mjs --absolute --generic-params 2>&1";
  std::set<std::string> documented;
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    ASSERT_EQ(pclose(p), 0) << "list-routes failed (run scripts/bootstrap for node_modules): "
                            << out;
  }
  size_t pos = 0;
  while (pos < out.size()) {
    const size_t nl = out.find('\n', pos);
    documented.insert(out.substr(pos, nl - pos));
    pos = nl == std::string::npos ? out.size() : nl + 1;
  }
  ASSERT_GT(documented.size(), 50u);
  const std::regex param("\\{[^}]*\\}");
  for (const http::RouteInfo& r : svc->routes()) {
    std::string method(http::bhttp::to_string(r.method));
    const std::string line = method + " " + std::regex_replace(r.full_pattern, param, "{}");
    EXPECT_TRUE(documented.count(line)) << line << " is served but not in openapi.yaml";
  }
}

TEST(Service, CredentialGuessingFromOnePeerIsRateLimited) {
  TempDir dir;
  FakeSink sink;
  DaemonConfig cfg;
  cfg.rate_limit_per_s = 0.01;
  cfg.rate_limit_burst = 3;
  auto svc = open_service(dir, sink, cfg);
  ASSERT_TRUE(svc);
  http::Request guess;
  guess.msg.method(http::Verb::post);
  guess.msg.target("/oauth/client_credential/accesstoken?grant_type=client_credentials");
  guess.msg.body() = "client_id=nobody&client_secret=guess";
  guess.peer = "192.0.2.1";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(svc->handle(guess).result_int(), 401);
  const http::Response limited = svc->handle(guess);
  EXPECT_EQ(limited.result_int(), 429);
  EXPECT_FALSE(limited[http::bhttp::field::retry_after].empty());
  guess.peer = "192.0.2.2";  // another client is still served
  EXPECT_EQ(svc->handle(guess).result_int(), 401);
}

// An id is never given twice, even across a restart after the newest object was deleted.
TEST(Service, ADeletedNewestIdIsNotReusedAfterARestart) {
  testing::ServiceHarness h;
  testing::Reply net =
      h.call(http::Verb::post, "/networks", R"({"name":"a","apnName":"a.example"})");
  ASSERT_EQ(net.status, 201) << net.body;
  const std::string id(net.json().at("id").as_string());
  ASSERT_EQ(h.call(http::Verb::delete_, "/networks/" + id).status, 204);
  h.reopen();
  testing::Reply again =
      h.call(http::Verb::post, "/networks", R"({"name":"b","apnName":"b.example"})");
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_GT(std::stoul(std::string(again.json().at("id").as_string())), std::stoul(id));
}

}  // namespace
}  // namespace simcore::ctl
