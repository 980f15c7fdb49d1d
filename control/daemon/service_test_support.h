// control/daemon/service_test_support.h — drives a Service as a function (no socket): a temp
// data dir, a fake TablesSink that records what control publishes, a settable clock, and
// call() that builds a request with a bearer token. For the service_*_test.cc files.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <memory>
#include <string>

#include "control/daemon/service.h"
#include "control/http/errors.h"

namespace simcore::ctl::testing {

namespace fs = std::filesystem;

constexpr const char* kApi = "/iot/jpu/iotprogrammablesim";

// The test seam the data plane will fill: records what control publishes.
class FakeSink final : public TablesSink {
 public:
  void publish(core::TablesPtr t) override {
    generations.push_back(t->generation);
    last = std::move(t);
  }
  std::vector<uint64_t> generations;
  core::TablesPtr last;
};

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/simcore-service-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  fs::path path;
};

struct Reply {
  int status = 0;
  std::string body;
  http::Response raw;
  boost::json::value json() const { return boost::json::parse(body); }
};

// A Service on a temp dir with admin credentials "admin" / "0123456789abcdef" and a clock the
// test moves (`now_ms`).
class ServiceHarness {
 public:
  explicit ServiceHarness(DaemonConfig cfg = {}) {
    cfg.data_dir = (dir.path / "data").string();
    cfg.admin_client_id = "admin";
    cfg.admin_client_secret = "0123456789abcdef";
    config = cfg;
    reopen();
  }

  // Closes and reopens the service on the same data dir (a restart).
  void reopen() {
    svc.reset();
    admin_token_.clear();  // tokens live in memory: a restart forgets them
    auto s = Service::open(config, sink, [this] { return now_ms; });
    EXPECT_TRUE(s.ok()) << s.error().message();
    if (s.ok()) svc = std::move(*s);
  }

  Reply call(http::Verb verb, const std::string& target, const std::string& body = "",
             const std::string& token = "") {
    http::Request req;
    req.msg.method(verb);
    req.msg.target(target.rfind("/oauth/", 0) == 0 ? target : kApi + target);
    if (!body.empty()) req.msg.body() = body;
    const std::string& tok = token.empty() ? admin_token() : token;
    req.msg.set(http::bhttp::field::authorization, "Bearer " + tok);
    req.peer = "127.0.0.1";
    Reply r;
    r.raw = svc->handle(req);
    r.status = r.raw.result_int();
    r.body = r.raw.body();
    return r;
  }

  // A token for these client credentials ("" when refused).
  std::string token_for(const std::string& client_id, const std::string& secret) {
    http::Request req;
    req.msg.method(http::Verb::post);
    req.msg.target("/oauth/client_credential/accesstoken?grant_type=client_credentials");
    req.msg.body() = "client_id=" + client_id + "&client_secret=" + secret;
    req.peer = "127.0.0.1";
    const http::Response res = svc->handle(req);
    if (res.result_int() != 200) return "";
    return std::string(boost::json::parse(res.body()).at("access_token").as_string());
  }
  const std::string& admin_token() {
    if (admin_token_.empty()) admin_token_ = token_for("admin", "0123456789abcdef");
    return admin_token_;
  }

  // Runs tick() until it reports no pending work (at most `max` times).
  void drain(int max = 100000) {
    for (int i = 0; i < max && svc->tick(); ++i) {
    }
  }

  TempDir dir;
  FakeSink sink;
  DaemonConfig config;
  int64_t now_ms = 1'800'000'000'000;  // 2027-01-15T08:00:00Z
  std::unique_ptr<Service> svc;

 private:
  std::string admin_token_;
};

}  // namespace simcore::ctl::testing
