// Tests of the transport over real sockets on 127.0.0.1 port 0. Every client operation has a
// deadline (beast::tcp_stream timeouts) and the server thread is joined with a watchdog, so a bug
// fails a test instead of hanging it.
#include "control/http/server.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json/parse.hpp>

#include "control/http/errors.h"

namespace simcore::ctl::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;
using Tcp = asio::ip::tcp;
using ErrorCode = boost::system::error_code;
using namespace std::chrono_literals;

// Answers "<METHOD> <target> <body bytes> <peer>[ tls]"; /throw throws, /close asks to close.
Response echo(const Request& req) {
  if (req.target() == "/throw") throw std::runtime_error("boom");
  Response res{bhttp::status::ok, 11};
  res.set(bhttp::field::content_type, "text/plain");
  auto m = bhttp::to_string(req.method());
  res.body() = std::string(m.data(), m.size()) + " " + std::string(req.target()) + " " +
               std::to_string(req.msg.body().size()) + " " + req.peer + (req.tls ? " tls" : "");
  if (req.target() == "/close") res.set(bhttp::field::connection, "close");
  return res;
}

// A server running on its own thread; stop() joins it with a watchdog.
class Running {
 public:
  Running(ServerOptions options, Handler handler = echo) {
    auto r = Server::create(std::move(options), std::move(handler));
    if (!r.ok()) {
      ADD_FAILURE() << "Server::create: " << r.error().message();
      return;
    }
    server_ = std::move(r).value();
    auto done = std::make_shared<std::promise<void>>();
    done_ = done->get_future();
    thread_ = std::thread([s = server_.get(), done] {
      s->run();
      done->set_value();
    });
    thread_id_ = thread_.get_id();
  }
  ~Running() { stop(); }

  void stop() {
    if (!thread_.joinable()) return;
    server_->stop();
    if (done_.wait_for(5s) != std::future_status::ready) {
      ADD_FAILURE() << "run() did not return within 5 s of stop()";
      std::abort();  // never hang the test suite
    }
    thread_.join();
  }

  bool ok() const { return server_ != nullptr; }
  Server& server() { return *server_; }
  std::uint16_t port() const { return server_->port(); }
  std::thread::id thread_id() const { return thread_id_; }

 private:
  std::unique_ptr<Server> server_;
  std::thread thread_;
  std::thread::id thread_id_;
  std::future<void> done_;
};

// A Beast client whose every operation completes within `timeout`.
template <bool kTls>
class BasicClient {
 public:
  using Stream = std::conditional_t<kTls, ssl::stream<beast::tcp_stream>, beast::tcp_stream>;

  explicit BasicClient(ssl::context* tls = nullptr, std::chrono::milliseconds timeout = 3s)
      : stream_(make(tls)), timeout_(timeout) {}

  ErrorCode connect(std::uint16_t port) {
    ErrorCode ec;
    lowest().expires_after(timeout_);
    lowest().async_connect(Tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                           [&](ErrorCode e) { ec = e; });
    run();
    if (ec) return ec;
    if constexpr (kTls) {
      SSL_set_tlsext_host_name(stream_.native_handle(), "localhost");
      stream_.set_verify_callback(ssl::host_name_verification("localhost"));
      lowest().expires_after(timeout_);
      stream_.async_handshake(ssl::stream_base::client, [&](ErrorCode e) { ec = e; });
      run();
    }
    return ec;
  }

  ErrorCode write(std::string_view raw) {
    ErrorCode ec;
    lowest().expires_after(timeout_);
    asio::async_write(stream_, asio::buffer(raw.data(), raw.size()),
                      [&](ErrorCode e, std::size_t) { ec = e; });
    run();
    return ec;
  }

  ErrorCode get(std::string_view target, bool keep_alive = true) {
    return write("GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" +
                 (keep_alive ? "" : "Connection: close\r\n") + "\r\n");
  }

  ErrorCode read(Response& res) {
    ErrorCode ec;
    res = {};
    lowest().expires_after(timeout_);
    bhttp::async_read(stream_, buffer_, res, [&](ErrorCode e, std::size_t) { ec = e; });
    run();
    return ec;
  }

  // Reads one response or fails the test.
  Response read() {
    Response res;
    auto ec = read(res);
    EXPECT_FALSE(ec) << ec.message();
    return res;
  }

  // Returns the error ending a read that the server is expected to answer by closing.
  ErrorCode read_until_closed() {
    Response res;
    return read(res);
  }

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

 private:
  Stream make(ssl::context* tls) {
    if constexpr (kTls) {
      return Stream(ioc_, *tls);
    } else {
      (void)tls;
      return Stream(ioc_);
    }
  }
  void run() {
    ioc_.restart();
    ioc_.run();  // bounded: each operation has a stream deadline
  }

  asio::io_context ioc_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::chrono::milliseconds timeout_;
};
using Client = BasicClient<false>;

// Returns once `counter` reaches `want` or after 2 s; the server's completion handlers run a
// moment after the client sees their effect.
std::uint64_t wait_count(const std::atomic<std::uint64_t>& counter, std::uint64_t want) {
  const auto t0 = std::chrono::steady_clock::now();
  while (counter.load() < want && std::chrono::steady_clock::now() - t0 < 2s) {
    std::this_thread::sleep_for(5ms);
  }
  return counter.load();
}

bool closed_cleanly(const ErrorCode& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::connection_reset ||
         ec == asio::error::eof;
}

std::string json_code(const Response& res) {
  return std::string(boost::json::parse(res.body()).at("code").as_string());
}

ServerOptions quick_options() {
  ServerOptions o;
  o.read_timeout = 2s;
  o.idle_timeout = 2s;
  o.write_timeout = 2s;
  return o;
}

TEST(Server, BindsAnEphemeralPort) {
  Running s(quick_options());
  ASSERT_TRUE(s.ok());
  EXPECT_NE(s.port(), 0);
}

TEST(Server, KeepAliveServesTwoRequestsOnOneConnection) {
  Running s(quick_options());
  ASSERT_TRUE(s.ok());
  Client c;
  ASSERT_FALSE(c.connect(s.port()));
  ASSERT_FALSE(c.get("/a"));
  auto r1 = c.read();
  EXPECT_EQ(r1.result_int(), 200u);
  EXPECT_EQ(r1.body(), "GET /a 0 127.0.0.1");
  EXPECT_TRUE(r1.keep_alive());
  ASSERT_FALSE(c.get("/b?x=1"));
  auto r2 = c.read();
  EXPECT_EQ(r2.body(), "GET /b?x=1 0 127.0.0.1");
  EXPECT_FALSE(r1["X-Request-Id"].empty());
  EXPECT_NE(r1["X-Request-Id"], r2["X-Request-Id"]);
  EXPECT_EQ(s.server().stats().accepted.load(), 1u);
  EXPECT_EQ(s.server().stats().requests.load(), 2u);
}

TEST(Server, PipelinedRequestsAreAnsweredInOrderOnTheServerThread) {
  std::mutex mu;
  std::vector<std::string> order;
  std::set<std::thread::id> threads;
  Running s(quick_options(), [&](const Request& req) {
    std::lock_guard lock(mu);
    order.emplace_back(req.target());
    threads.insert(std::this_thread::get_id());
    return echo(req);
  });
  ASSERT_TRUE(s.ok());
  Client c;
  ASSERT_FALSE(c.connect(s.port()));
  std::string batch;
  for (int i = 1; i <= 5; ++i) {
    batch += "POST /" + std::to_string(i) +
             " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(i) + "\r\n\r\n" +
             std::string(i, 'x');
  }
  ASSERT_FALSE(c.write(batch));  // all five in one write
  for (int i = 1; i <= 5; ++i) {
    EXPECT_EQ(c.read().body(),
              "POST /" + std::to_string(i) + " " + std::to_string(i) + " 127.0.0.1");
  }
  std::lock_guard lock(mu);
  EXPECT_EQ(order, (std::vector<std::string>{"/1", "/2", "/3", "/4", "/5"}));
  EXPECT_EQ(threads, (std::set<std::thread::id>{s.thread_id()}));
}

TEST(Server, OversizedBodyGets413AndTheConnectionClosesCleanly) {
  auto o = quick_options();
  o.body_limit = 1024;
  Running s(o);
  ASSERT_TRUE(s.ok());
  Client c;
  ASSERT_FALSE(c.connect(s.port()));
  ASSERT_FALSE(c.write("POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: 4096\r\n\r\n" +
                       std::string(4096, 'x')));
  auto res = c.read();
  EXPECT_EQ(res.result_int(), 413u);
  EXPECT_EQ(json_code(res), "PAYLOAD_TOO_LARGE");
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(closed_cleanly(c.read_until_closed()));
  // A body at the limit is fine, on a new connection.
  Client c2;
  ASSERT_FALSE(c2.connect(s.port()));
  ASSERT_FALSE(c2.write("POST /ok HTTP/1.1\r\nHost: t\r\nContent-Length: 1024\r\n\r\n" +
                        std::string(1024, 'x')));
  EXPECT_EQ(c2.read().body(), "POST /ok 1024 127.0.0.1");
}

TEST(Server, ChunkedBodyOverTheLimitGets413) {
  auto o = quick_options();
  o.body_limit = 100;
  Running s(o);
  ASSERT_TRUE(s.ok());
  Client c;
  ASSERT_FALSE(c.connect(s.port()));
  ASSERT_FALSE(
      c.write("POST /big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
              "c8\r\n" +
              std::string(200, 'x') + "\r\n0\r\n\r\n"));
  EXPECT_EQ(c.read().result_int(), 413u);
}

TEST(Server, OversizedHeadersGet431) {
  auto o = quick_options();
  o.header_limit = 1024;
  Running s(o);
  ASSERT_TRUE(s.ok());
  Client c;
  ASSERT_FALSE(c.connect(s.port()));
  ASSERT_FALSE(
      c.write("GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(2048, 'y') + "\r\n\r\n"));
  auto res = c.read();
  EXPECT_EQ(res.result_int(), 431u);
  EXPECT_EQ(json_code(res), "REQUEST_HEADER_FIELDS_TOO_LARGE");
}

TEST(Server, MalformedRequestGets400) {
  Running s(quick_options());
  ASSERT_TRUE(s.ok());
  Client c;
  ASSERT_FALSE(c.connect(s.port()));
  ASSERT_FALSE(c.write("GET / HTTP/1.1\r\nHost t\r\n\r\n"));
  auto res = c.read();
  EXPECT_EQ(res.result_int(), 400u);
  EXPECT_EQ(json_code(res), "INVALID_ARGUMENT");
  EXPECT_TRUE(closed_cleanly(c.read_until_closed()));
  EXPECT_EQ(s.server().stats().bad_requests.load(), 1u);
}

TEST(Server, SlowClientIsClosedAfterTheReadTimeout) {
  auto o = quick_options();
  o.read_timeout = 200ms;
  Running s(o);
  ASSERT_TRUE(s.ok());
  Client c;
  ASSERT_FALSE(c.connect(s.port()));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_FALSE(c.write("GET /slow HTTP/1.1\r\nHost: t\r\n"));  // half a request, then stall
  const auto ec = c.read_until_closed();
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(closed_cleanly(ec)) << ec.message();
  EXPECT_GE(elapsed, 150ms);
  EXPECT_LT(elapsed, 2s);
  EXPECT_EQ(wait_count(s.server().stats().timeouts, 1), 1u);
  EXPECT_EQ(s.server().stats().requests.load(), 0u);
}

TEST(Server, IdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  auto o = quick_options();
  o.idle_timeout = 200ms;
  Running s(o);
  ASSERT_TRUE(s.ok());
  Client c;
  ASSERT_FALSE(c.connect(s.port()));
  ASSERT_FALSE(c.get("/a"));
  EXPECT_EQ(c.read().result_int(), 200u);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(closed_cleanly(c.read_until_closed()));
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(elapsed, 150ms);
  EXPECT_LT(elapsed, 2s);
}

TEST(Server, ConnectionsOverTheLimitGet503WithRetryAfter) {
  auto o = quick_options();
  o.max_connections = 1;
  o.busy_retry_after_s = 3;
  Running s(o);
  ASSERT_TRUE(s.ok());
  Client a;
  ASSERT_FALSE(a.connect(s.port()));
  ASSERT_FALSE(a.get("/a"));
  EXPECT_EQ(a.read().result_int(), 200u);  // a is now being served

  Client b;
  ASSERT_FALSE(b.connect(s.port()));
  auto busy = b.read();
  EXPECT_EQ(busy.result_int(), 503u);
  EXPECT_EQ(busy[bhttp::field::retry_after], "3");
  EXPECT_EQ(json_code(busy), "UNAVAILABLE");
  EXPECT_TRUE(closed_cleanly(b.read_until_closed()));
  EXPECT_EQ(s.server().stats().rejected_busy.load(), 1u);

  ASSERT_FALSE(a.get("/again"));  // the served connection is unaffected
  EXPECT_EQ(a.read().result_int(), 200u);
  ASSERT_FALSE(a.get("/close", /*keep_alive=*/false));
  EXPECT_EQ(a.read().result_int(), 200u);

  // Once a's close is noticed, a new connection is served.
  bool served = false;
  for (int i = 0; i < 40 && !served; ++i) {
    Client c;
    ASSERT_FALSE(c.connect(s.port()));
    ASSERT_FALSE(c.get("/c"));
    Response res;
    served = !c.read(res) && res.result_int() == 200;
    if (!served) std::this_thread::sleep_for(50ms);
  }
  EXPECT_TRUE(served);
}

TEST(Server, HandlerExceptionBecomes500) {
  Running s(quick_options());
  ASSERT_TRUE(s.ok());
  Client c;
  ASSERT_FALSE(c.connect(s.port()));
  ASSERT_FALSE(c.get("/throw"));
  auto res = c.read();
  EXPECT_EQ(res.result_int(), 500u);
  EXPECT_EQ(json_code(res), "INTERNAL");
  ASSERT_FALSE(c.get("/after"));  // the connection survives
  EXPECT_EQ(c.read().result_int(), 200u);
}

TEST(Server, ConnectionCloseFromClientOrHandlerAndHttp10AreHonoured) {
  Running s(quick_options());
  ASSERT_TRUE(s.ok());
  {
    Client c;
    ASSERT_FALSE(c.connect(s.port()));
    ASSERT_FALSE(c.get("/a", /*keep_alive=*/false));
    EXPECT_FALSE(c.read().keep_alive());
    EXPECT_TRUE(closed_cleanly(c.read_until_closed()));
  }
  {
    Client c;
    ASSERT_FALSE(c.connect(s.port()));
    ASSERT_FALSE(c.get("/close"));
    EXPECT_FALSE(c.read().keep_alive());
    EXPECT_TRUE(closed_cleanly(c.read_until_closed()));
  }
  {
    Client c;
    ASSERT_FALSE(c.connect(s.port()));
    ASSERT_FALSE(c.write("GET /old HTTP/1.0\r\n\r\n"));
    auto res = c.read();
    EXPECT_EQ(res.version(), 10u);
    EXPECT_EQ(res.body(), "GET /old 0 127.0.0.1");
    EXPECT_TRUE(closed_cleanly(c.read_until_closed()));
  }
}

TEST(Server, ExpectContinueGets100BeforeTheBody) {
  Running s(quick_options());
  ASSERT_TRUE(s.ok());
  Client c;
  ASSERT_FALSE(c.connect(s.port()));
  ASSERT_FALSE(
      c.write("POST /e HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
              "Content-Length: 5\r\n\r\n"));
  EXPECT_EQ(c.read().result_int(), 100u);
  ASSERT_FALSE(c.write("hello"));
  EXPECT_EQ(c.read().body(), "POST /e 5 127.0.0.1");
}

TEST(Server, StopClosesOpenConnectionsAndRunReturns) {
  Running s(quick_options());
  ASSERT_TRUE(s.ok());
  Client c;
  ASSERT_FALSE(c.connect(s.port()));
  ASSERT_FALSE(c.get("/a"));
  EXPECT_EQ(c.read().result_int(), 200u);
  Client half;
  ASSERT_FALSE(half.connect(s.port()));
  ASSERT_FALSE(half.write("GET / HTTP/1.1\r\n"));
  const auto t0 = std::chrono::steady_clock::now();
  s.stop();  // joins run() with a watchdog
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  EXPECT_TRUE(closed_cleanly(c.read_until_closed()));
  EXPECT_TRUE(closed_cleanly(half.read_until_closed()));
  Client late;
  EXPECT_TRUE(late.connect(s.port()));  // the listener is gone
}

TEST(Server, RunForServesOnTheCallingThread) {
  auto r = Server::create(quick_options(), echo);
  ASSERT_TRUE(r.ok());
  auto& server = *r.value();
  std::thread client([port = server.port()] {
    Client c;
    ASSERT_FALSE(c.connect(port));
    ASSERT_FALSE(c.get("/x"));
    EXPECT_EQ(c.read().body(), "GET /x 0 127.0.0.1");
  });
  const auto t0 = std::chrono::steady_clock::now();
  while (server.stats().requests.load() == 0 && std::chrono::steady_clock::now() - t0 < 3s) {
    (void)server.run_for(20ms);
  }
  (void)server.run_for(50ms);  // flush the response
  client.join();
  EXPECT_EQ(server.stats().requests.load(), 1u);
}

TEST(Server, CreateReportsBadAddressBusyPortAndBadTlsFiles) {
  auto o = quick_options();
  o.address = "not-an-ip";
  auto bad = Server::create(o, echo);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), core::Code::kInvalidArgument);

  Running s(quick_options());
  ASSERT_TRUE(s.ok());
  o = quick_options();
  o.port = s.port();
  auto busy = Server::create(o, echo);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().code(), core::Code::kUnavailable);

  o = quick_options();
  o.tls = TlsFiles{"/nonexistent/cert.pem", "/nonexistent/key.pem"};
  auto tls = Server::create(o, echo);
  ASSERT_FALSE(tls.ok());
  EXPECT_EQ(tls.error().code(), core::Code::kInvalidArgument);
  ASSERT_FALSE(tls.error().fields().empty());
  EXPECT_EQ(tls.error().fields()[0].field, "tls.certFile");
}

// ---- TLS, with a self-signed certificate made by the openssl CLI in a temp dir ----

// scripts/bootstrap installs curl and the openssl CLI, so in CI (CI set) a missing tool is a
// failure; a developer's machine without them skips with the reason.
#define SIMCORE_SKIP_OR_FAIL(msg)                                                      \
  do {                                                                                 \
    if (std::getenv("CI") != nullptr) FAIL() << msg << " (CI runs scripts/bootstrap)"; \
    GTEST_SKIP() << msg;                                                               \
  } while (0)

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("openssl version > /dev/null 2>&1") != 0) {
      SIMCORE_SKIP_OR_FAIL("openssl CLI not installed; skipping the TLS tests");
    }
    std::string tmpl = testing::TempDir() + "simcore-http-tls-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    cert_ = dir_ / "cert.pem";
    key_ = dir_ / "key.pem";
    const std::string cmd =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
        "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout '" +
        key_.string() + "' -out '" + cert_.string() + "' > '" + (dir_ / "log").string() + "' 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl req failed; see " << dir_ / "log";
    client_ctx_.load_verify_file(cert_.string());
    client_ctx_.set_verify_mode(ssl::verify_peer);
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  ServerOptions tls_options() {
    auto o = quick_options();
    o.tls = TlsFiles{cert_.string(), key_.string()};
    return o;
  }

  std::filesystem::path dir_, cert_, key_;
  ssl::context client_ctx_{ssl::context::tls_client};
};

TEST_F(TlsTest, RoundTripWithKeepAlive) {
  Running s(tls_options());
  ASSERT_TRUE(s.ok());
  BasicClient<true> c(&client_ctx_);
  auto ec = c.connect(s.port());
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_FALSE(c.get("/secure"));
  EXPECT_EQ(c.read().body(), "GET /secure 0 127.0.0.1 tls");
  ASSERT_FALSE(c.get("/again"));
  EXPECT_EQ(c.read().body(), "GET /again 0 127.0.0.1 tls");
  EXPECT_EQ(s.server().stats().accepted.load(), 1u);
}

TEST_F(TlsTest, OversizedBodyAndTimeoutWorkOverTls) {
  auto o = tls_options();
  o.body_limit = 10;
  o.read_timeout = 200ms;
  Running s(o);
  ASSERT_TRUE(s.ok());
  BasicClient<true> c(&client_ctx_);
  ASSERT_FALSE(c.connect(s.port()));
  ASSERT_FALSE(c.write("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n"));
  EXPECT_EQ(c.read().result_int(), 413u);

  BasicClient<true> slow(&client_ctx_);
  ASSERT_FALSE(slow.connect(s.port()));
  ASSERT_FALSE(slow.write("GET / HTTP/1.1\r\n"));
  EXPECT_TRUE(slow.read_until_closed());  // closed (TLS truncation or EOF), not a client timeout
  EXPECT_EQ(wait_count(s.server().stats().timeouts, 1), 1u);
}

TEST_F(TlsTest, PlainHttpOnTheTlsPortIsRefused) {
  Running s(tls_options());
  ASSERT_TRUE(s.ok());
  Client c;
  ASSERT_FALSE(c.connect(s.port()));
  ASSERT_FALSE(c.get("/plain"));
  Response res;
  EXPECT_TRUE(c.read(res));  // not an HTTP answer
  EXPECT_EQ(wait_count(s.server().stats().tls_failures, 1), 1u);
  EXPECT_EQ(s.server().stats().requests.load(), 0u);
}

// ---- curl, a real third-party client ----

// Runs a shell command; returns its exit status and stdout.
std::pair<int, std::string> run_command(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return {-1, out};
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  return {pclose(p), out};
}

bool have_curl() { return std::system("curl --version > /dev/null 2>&1") == 0; }

TEST(ServerCurl, KeepAliveAndLargePostWithCurl) {
  if (!have_curl()) SIMCORE_SKIP_OR_FAIL("curl not installed; skipping the curl test");
  Running s(quick_options());
  ASSERT_TRUE(s.ok());
  const std::string base = "http://127.0.0.1:" + std::to_string(s.port());
  // Two URLs in one invocation reuse the connection.
  auto [rc, out] =
      run_command("curl -sS --max-time 5 -i '" + base + "/one?a=%20b' '" + base + "/two' 2>&1");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("HTTP/1.1 200 OK"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Request-Id: "), std::string::npos) << out;
  EXPECT_NE(out.find("GET /one?a=%20b 0 127.0.0.1"), std::string::npos) << out;
  EXPECT_NE(out.find("GET /two 0 127.0.0.1"), std::string::npos) << out;
  EXPECT_EQ(s.server().stats().accepted.load(), 1u);

  // A body over 1 KiB makes curl send "Expect: 100-continue"; the answer must not wait for
  // curl's 1 s fallback.
  const auto t0 = std::chrono::steady_clock::now();
  auto [rc2, out2] = run_command(
      "head -c 5000 /dev/zero | curl -sS --max-time 5 "
      "--data-binary @- '" +
      base + "/post' 2>&1");
  ASSERT_EQ(rc2, 0) << out2;
  EXPECT_EQ(out2, "POST /post 5000 127.0.0.1");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 900ms);
}

TEST_F(TlsTest, CurlVerifiesAndTalksTls) {
  if (!have_curl()) SIMCORE_SKIP_OR_FAIL("curl not installed; skipping the curl TLS test");
  Running s(tls_options());
  ASSERT_TRUE(s.ok());
  const std::string port = std::to_string(s.port());
  auto [rc, out] = run_command("curl -sS --max-time 5 --cacert '" + cert_.string() +
                               "' --resolve localhost:" + port +
                               ":127.0.0.1 https://localhost:" + port + "/tls 2>&1");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "GET /tls 0 127.0.0.1 tls");
}

}  // namespace
}  // namespace simcore::ctl::http
