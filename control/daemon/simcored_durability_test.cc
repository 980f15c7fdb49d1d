// Durability under SIGKILL in the middle of a stream of writes: every write the daemon
// acknowledged (a 2xx received by the client) is present after a restart, and the store passes
// SQLite's integrity and foreign-key checks and restores into a valid account. A write in flight
// when the daemon died may or may not be there; that is what "acknowledged" means.
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include "control/daemon/daemon_test_support.h"
#include "control/store/store.h"

namespace simcore::ctl {
namespace {

using namespace e2e;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

// One keep-alive connection with a short timeout: the writer must notice a dead daemon fast.
class Client {
 public:
  explicit Client(int port) : stream_(ioc_) {
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port));
    beast::error_code ec;
    stream_.expires_after(std::chrono::seconds(5));
    stream_.connect(ep, ec);
    ok_ = !ec;
  }
  // Returns the status, or 0 when the connection failed (nothing acknowledged).
  int send(bhttp::verb verb, const std::string& target, const std::string& token,
           const std::string& body) {
    if (!ok_) return 0;
    bhttp::request<bhttp::string_body> req(verb, target, 11);
    req.set(bhttp::field::host, "127.0.0.1");
    req.set(bhttp::field::authorization, "Bearer " + token);
    req.set(bhttp::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    beast::error_code ec;
    stream_.expires_after(std::chrono::seconds(5));
    bhttp::write(stream_, req, ec);
    if (ec) return ok_ = false, 0;
    beast::flat_buffer buf;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(stream_, buf, res, ec);
    if (ec) return ok_ = false, 0;
    last_body = res.body();
    return res.result_int();
  }
  std::string last_body;

 private:
  asio::io_context ioc_;
  beast::tcp_stream stream_;
  bool ok_ = false;
};

TEST_F(Simcored, EveryAcknowledgedWriteSurvivesSigkillMidStream) {
  // One client writing as fast as it can: lift the per-client limit (429 is tested elsewhere).
  std::ofstream(dir_ / "simcored.yaml", std::ios::app)
      << "rateLimitPerSecond: 1000000\nrateLimitBurst: 1000000\n";
  Daemon d(dir_);
  std::set<std::string> acked_iccids;              // provisioned and acknowledged
  std::map<std::string, std::string> acked_names;  // thingId -> last acknowledged name
  std::mt19937 rng(20261126);
  int next = 0;
  for (int round = 0; round < 3; ++round) {
    const int port = d.start();
    ASSERT_GT(port, 0) << "round " << round;
    const std::string tok = d.token();
    ASSERT_FALSE(tok.empty());
    std::atomic<bool> stop{false};
    std::mutex mu;
    int acked_this_round = 0;
    std::thread writer([&] {
      Client c(port);
      std::vector<std::string> ids;
      while (!stop.load()) {
        // Alternate: provision one Thing, rename one provisioned Thing.
        const int i = next++;
        const std::string iccid = "893100000000" + std::to_string(1000000 + i);
        const std::string imsi = "20408" + std::to_string(1000000000 + i);
        const int st =
            c.send(bhttp::verb::post, p("/things"), tok,
                   R"({"things":[{"iccid":")" + iccid + R"(","imsi":")" + imsi + "\"}]}");
        if (st == 0) return;
        ASSERT_EQ(st, 201) << c.last_body;
        const std::string id(json::parse(c.last_body).as_array()[0].at("thingId").as_string());
        {
          std::lock_guard<std::mutex> l(mu);
          acked_iccids.insert(iccid);
          ++acked_this_round;
        }
        ids.push_back(id);
        const std::string& target = ids[static_cast<size_t>(i) % ids.size()];
        const std::string name = "w" + std::to_string(i);
        const int pst =
            c.send(bhttp::verb::patch, p("/things/" + target), tok, R"({"name":")" + name + "\"}");
        if (pst == 0) return;
        ASSERT_EQ(pst, 200) << c.last_body;
        std::lock_guard<std::mutex> l(mu);
        acked_names[target] = name;
      }
    });
    // Let writes flow, then kill without warning at a different moment each round.
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 400));
    EXPECT_EQ(d.stop(SIGKILL), -SIGKILL);
    stop = true;
    writer.join();
    EXPECT_GT(acked_this_round, 5) << "the stream was too short to mean anything";
  }

  // The store as the daemon left it: consistent, and it restores.
  {
    auto store = Store::open((dir_ / "data").string());
    ASSERT_TRUE(store.ok()) << store.error().message();
    EXPECT_TRUE((*store)->check_integrity().ok());
    auto model = (*store)->load_model();
    ASSERT_TRUE(model.ok());
    EXPECT_TRUE(core::Account::restore(std::move(*model)).ok());
  }

  ASSERT_GT(d.start(), 0);
  const std::string tok = d.token();
  std::set<std::string> present;
  std::map<std::string, std::string> names;
  for (int offset = 0;; offset += 1000) {
    Reply r = d.call("GET", p("/things?limit=1000&offset=" + std::to_string(offset)), tok);
    ASSERT_EQ(r.status, 200);
    const json::value v = r.json();
    const json::array& a = v.as_array();
    for (const json::value& t : a) {
      present.insert(std::string(t.at("iccid").as_string()));
      if (const json::value* n = t.as_object().if_contains("name")) {
        names[std::string(t.at("thingId").as_string())] = std::string(n->as_string());
      }
    }
    if (a.size() < 1000) break;
  }
  for (const std::string& iccid : acked_iccids) EXPECT_TRUE(present.count(iccid)) << iccid;
  // A name may be newer than the last acknowledged one only if that newer PATCH was in flight;
  // the writer renames each Thing with increasing numbers, so the stored one is never older.
  for (const auto& [id, name] : acked_names) {
    ASSERT_TRUE(names.count(id)) << id;
    EXPECT_GE(std::stoi(names[id].substr(1)), std::stoi(name.substr(1))) << id;
  }
  EXPECT_EQ(d.stop(SIGTERM), 0);
}

}  // namespace
}  // namespace simcore::ctl
