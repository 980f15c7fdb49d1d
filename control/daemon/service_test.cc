// Service as a function (no socket): what it publishes, and that its routes are documented.
#include "control/daemon/service.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <map>
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

// A strict reading of the Prometheus text format 0.0.4: every line a # HELP, a # TYPE or a
// sample; a family's HELP/TYPE at most once and before its samples; a family's lines together;
// no repeated series; a final line feed. Returns "" or what is wrong; fills `values` with
// "name{labels}" → value.
std::string check_exposition(const std::string& text, std::map<std::string, double>& values) {
  static const std::regex meta(R"(# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*))");
  static const std::regex type(R"(counter|gauge|histogram|summary|untyped)");
  static const std::regex sample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})? )"
      R"(([-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|Inf|NaN)))");
  if (text.empty() || text.back() != '\n') return "no final line feed";
  std::set<std::string> seen_meta, closed, series, sampled;
  std::string current;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    std::smatch m;
    std::string family;
    if (std::regex_match(line, m, meta)) {
      family = m[2];
      if (!seen_meta.insert(std::string(m[1]) + " " + family).second) return "twice: " + line;
      if (m[1] == "TYPE" && !std::regex_match(std::string(m[3]), type)) return "type: " + line;
      if (sampled.count(family)) return "after its samples: " + line;
    } else if (std::regex_match(line, m, sample)) {
      family = m[1];
      sampled.insert(family);
      if (!series.insert(std::string(m[1]) + std::string(m[2])).second) return "again: " + line;
      values[std::string(m[1]) + std::string(m[2])] = std::stod(m[3]);
    } else {
      return "not HELP, TYPE or a sample: " + line;
    }
    if (family != current) {
      if (closed.count(family)) return "family not together: " + line;
      closed.insert(current);
      current = family;
    }
  }
  return "";
}

TEST(ServiceMetrics, ServesItsOwnMetricsThenTheDataPlanesAsPrometheusText) {
  testing::ServiceHarness h;
  ASSERT_EQ(h.call(http::Verb::post, "/things",
                   R"({"things":[{"iccid":"8931000000000000001","imsi":"204080000000001"},)"
                   R"({"iccid":"8931000000000000002","imsi":"204080000000002"}]})")
                .status,
            201);
  ASSERT_EQ(h.call(http::Verb::get, "/networks/999999").status, 404);
  h.svc->set_metrics_source([] {
    return std::string(
        "# HELP simcore_drops_total Frames dropped by the policy, by reason.\n"
        "# TYPE simcore_drops_total counter\n"
        "simcore_drops_total{reason=\"uplink.firewall\",worker=\"0\"} 3\n"
        "simcore_drops_total{reason=\"uplink.firewall\",worker=\"1\"} 4");  // no final LF
  });
  testing::Reply r = h.call(http::Verb::get, "/metrics");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.raw[http::bhttp::field::content_type], "text/plain; version=0.0.4; charset=utf-8");
  std::map<std::string, double> v;
  ASSERT_EQ(check_exposition(r.body, v), "") << r.body;
  // The token request, the POST and the GET before this one; 404 counts as 4xx.
  EXPECT_EQ(v["simcored_http_requests_total{class=\"2xx\"}"], 2) << r.body;
  EXPECT_EQ(v["simcored_http_requests_total{class=\"4xx\"}"], 1) << r.body;
  EXPECT_EQ(v["simcored_http_requests_total{class=\"5xx\"}"], 0) << r.body;
  EXPECT_EQ(v["simcored_things{state=\"PROVISIONED\"}"], 2) << r.body;
  EXPECT_EQ(v["simcored_things{state=\"ACTIVE\"}"], 0) << r.body;
  EXPECT_EQ(v["simcored_sessions"], 0) << r.body;
  EXPECT_EQ(v["simcored_tables_generation"], static_cast<double>(h.svc->generation()));
  EXPECT_EQ(v["simcore_drops_total{reason=\"uplink.firewall\",worker=\"1\"}"], 4);
  EXPECT_NE(r.body.find("# TYPE simcored_things gauge\n"), std::string::npos);
  EXPECT_NE(r.body.find("# TYPE simcored_http_requests_total counter\n"), std::string::npos);

  // Without a data plane only simcored's own families; the scrape above counts as 2xx now.
  h.svc->set_metrics_source(nullptr);
  r = h.call(http::Verb::get, "/metrics");
  v.clear();
  ASSERT_EQ(check_exposition(r.body, v), "") << r.body;
  EXPECT_EQ(r.body.find("simcore_drops_total"), std::string::npos);
  EXPECT_EQ(v["simcored_http_requests_total{class=\"2xx\"}"], 3) << r.body;
  // Behind the bearer check like every API route.
  EXPECT_EQ(h.call(http::Verb::get, "/metrics", "", "no-such-token").status, 401);
}

TEST(ServiceMetrics, TheCheckerRefusesMalformedText) {
  std::map<std::string, double> v;
  EXPECT_EQ(check_exposition("a 1\n# TYPE b gauge\nb{x=\"y\"} 2\n", v), "");
  for (const char* bad : {"a 1", "a 1\n\n", "a 1\nb 1\na 2\n", "a{x=\"1\"} 1\na{x=\"1\"} 1\n",
                          "# TYPE a counter\n# TYPE a counter\n", "# TYPE a kind\n",
                          "a 1\n# TYPE a counter\n", "a{x=1} 1\n", "a one\n", "# other\n"}) {
    v.clear();
    EXPECT_NE(check_exposition(bad, v), "") << bad;
  }
}

}  // namespace
}  // namespace simcore::ctl
