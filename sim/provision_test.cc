// sim/provision — the demo account provisioned into a real simcored over its socket, then read
// back with curl (daemon_test_support.h), a client this code does not share.
#include "sim/provision.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "control/account_file.h"
#include "control/daemon/daemon_test_support.h"

namespace simcore::sim {
namespace {

using namespace ctl::e2e;
using core::Result;

const std::string kDemo = std::string(SIMCORE_SOURCE_DIR) + "/configs/demo.yaml";

// The X-Total-Count of a list reply; -1 when absent.
long total(const Reply& r) {
  const size_t at = r.headers.find("X-Total-Count: ");
  return at == std::string::npos ? -1 : std::atol(r.headers.c_str() + at + 15);
}

std::string str(const json::value& v, std::string_view key) {
  const json::value* x = v.as_object().if_contains(key);
  return x && x->is_string() ? std::string(x->get_string()) : std::string();
}

const core::Thing& thing_named(const core::Model& m, std::string_view name) {
  for (const core::Thing& t : m.things) {
    if (t.name == name) return t;
  }
  ADD_FAILURE() << "no Thing " << name << " in the model";
  return m.things.front();
}

class Provision : public Simcored {
 protected:
  void TearDown() override {
    daemon_.reset();  // before its data dir goes
    Simcored::TearDown();
  }
  // Starts the daemon (after SetUp wrote its config) and fetches an admin token.
  void start() {
    daemon_.emplace(dir_);
    const int port = daemon_->start();
    ASSERT_GT(port, 0) << "simcored did not report its port";
    target_.endpoint = Endpoint{"127.0.0.1", static_cast<uint16_t>(port)};
    target_.prefix = kPrefix;
    Result token = fetch_token(target_.endpoint, kId, kSecret);
    ASSERT_TRUE(token.ok()) << token.error().message();
    target_.token = *token;
  }
  // Returns the X-Total-Count of GET path (which has a query already or not).
  long count(const std::string& path) {
    const Reply r = daemon_->call(
        "GET", p(path + (path.find('?') == std::string::npos ? "?" : "&") + "limit=1"),
        target_.token);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    return total(r);
  }
  json::value get(const std::string& path) {
    const Reply r = daemon_->call("GET", p(path), target_.token);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    return r.status == 200 ? r.json() : json::value();
  }

  std::optional<Daemon> daemon_;  // SIGKILLed at the end of the test
  ApiTarget target_;
};

TEST_F(Provision, DemoAccountArrivesWhole) {
  ASSERT_NO_FATAL_FAILURE(start());
  Result<ctl::LoadedAccount> loaded = ctl::load_account_yaml(kDemo);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  const core::Model& m = loaded->account.model();

  const auto t0 = std::chrono::steady_clock::now();
  Result<Provisioned> r = provision(m, target_);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  ASSERT_TRUE(r.ok()) << r.error().message();
  std::printf("provisioned %zu Things in %zu requests on %zu connection(s), %lld ms\n", r->things,
              r->requests, r->connections, static_cast<long long>(ms));
  for (const std::string& n : r->notes) std::printf("note: %s\n", n.c_str());
  RecordProperty("requests", static_cast<int>(r->requests));
  RecordProperty("milliseconds", static_cast<int>(ms));
  EXPECT_EQ(r->connections, 1u) << "keep-alive should carry every request";

  // Counts: the shipped defaults were reused, not duplicated.
  EXPECT_EQ(r->things, m.things.size());
  EXPECT_EQ(count("/networks"), static_cast<long>(m.networks.size()));
  EXPECT_EQ(count("/ipprofiles"), static_cast<long>(m.profiles.size()));
  EXPECT_EQ(count("/thingsgroups"), static_cast<long>(m.groups.size()));
  EXPECT_EQ(count("/things"), static_cast<long>(m.things.size()));
  for (core::ThingState s : {core::ThingState::kProvisioned, core::ThingState::kActive,
                             core::ThingState::kSuspended, core::ThingState::kRetired}) {
    const long want = std::count_if(m.things.begin(), m.things.end(),
                                    [s](const core::Thing& t) { return t.state == s; });
    EXPECT_EQ(count(std::string("/things?state=") + core::state_name(s)), want)
        << core::state_name(s);
  }
  for (const auto& [id, n] : m.networks) {
    const std::string base = "/networks/" + r->network_ids.at(n.name);
    EXPECT_EQ(count(base + "/ippools"), static_cast<long>(n.pools.size())) << n.name;
    EXPECT_EQ(count(base + "/routes"), static_cast<long>(n.routes.size())) << n.name;
    EXPECT_EQ(count(base + "/natrules"), static_cast<long>(n.nat_rules.size())) << n.name;
    EXPECT_EQ(count(base + "/ipsectunnels"), static_cast<long>(n.tunnels.size())) << n.name;
  }
  // What the API cannot take is counted, not dropped silently.
  const size_t sessions = std::count_if(m.things.begin(), m.things.end(),
                                        [](const core::Thing& t) { return t.session.has_value(); });
  EXPECT_GT(sessions, 0u);
  EXPECT_EQ(r->sessions_not_created, sessions);
  EXPECT_EQ(r->imeis_not_set, 1u);  // cam-gate's
  EXPECT_EQ(r->notes.size(), 2u);

  // The default group is the daemon's own and keeps the spare SIMs.
  const json::value def = get("/thingsgroups/" + r->group_ids.at("Default group"));
  EXPECT_TRUE(def.at("isDefault").as_bool());
  EXPECT_EQ(count("/things?thingsGroupId=" + r->group_ids.at("Default group")), 100);

  // A group's network and profile.
  const json::value meters = get("/thingsgroups/" + r->group_ids.at("Meters"));
  EXPECT_EQ(str(meters, "ipProfileId"), r->profile_ids.at("Meters"));
  EXPECT_EQ(str(meters, "networkId"), r->network_ids.at("Meters"));
  EXPECT_FALSE(meters.at("services").at("sms").as_bool());
  const json::value prof = get("/ipprofiles/" + r->profile_ids.at("Meters"));
  EXPECT_EQ(prof.at("outbound").at("defaultAction").as_string(), "DENY");
  EXPECT_EQ(prof.at("outbound").at("rules").as_array().size(), 2u);

  // A locked IP, a Thing state, and the NAT rule forwarding to it.
  const core::Thing& gate = thing_named(m, "cam-gate");
  const std::string gate_id = r->thing_ids.at(gate.iccid);
  const json::value t = get("/things/" + gate_id);
  EXPECT_EQ(str(t, "iccid"), gate.iccid);
  EXPECT_EQ(str(t, "lockedAddress"), gate.locked_addr->str());
  EXPECT_TRUE(t.at("ipLock").as_bool());
  EXPECT_TRUE(t.at("imeiLock").as_bool());
  EXPECT_EQ(str(t, "state"), "ACTIVE");
  EXPECT_EQ(str(t, "thingsGroupId"), r->group_ids.at("Cameras"));
  const core::NatRule& nat = m.networks.at(m.groups.at(gate.group).network).nat_rules.at(0);
  ASSERT_EQ(nat.thing, gate.id);
  const json::value rules =
      get("/networks/" + r->network_ids.at("Cameras") + "/natrules?limit=100");
  bool found = false;
  for (const json::value& rule : rules.as_array()) {
    if (str(rule, "thingId") != gate_id) continue;
    found = true;
    EXPECT_EQ(rule.at("publicPort").as_int64(), nat.public_port);
    EXPECT_EQ(rule.at("thingPort").as_int64(), nat.thing_port);
    EXPECT_EQ(str(rule, "publicIp"), nat.public_ip.str());
  }
  EXPECT_TRUE(found) << json::serialize(rules);

  // The route to HQ names the tunnel the daemon created.
  const std::string ops = "/networks/" + r->network_ids.at("Field ops");
  const json::value tunnels = get(ops + "/ipsectunnels");
  ASSERT_EQ(tunnels.as_array().size(), 1u);
  const std::string tunnel_id = str(tunnels.as_array()[0], "id");
  size_t via_tunnel = 0;
  const json::value routes = get(ops + "/routes");
  for (const json::value& route : routes.as_array()) {
    if (str(route, "target") == "IPSEC_TUNNEL") {
      EXPECT_EQ(str(route, "tunnelId"), tunnel_id);
      ++via_tunnel;
    }
  }
  EXPECT_EQ(via_tunnel, 1u);

  // Every Thing, field by field.
  const json::value things = get("/things?limit=1000");
  ASSERT_EQ(things.as_array().size(), m.things.size());
  std::map<std::string, const core::Thing*> by_iccid;
  for (const core::Thing& x : m.things) by_iccid[x.iccid] = &x;
  std::map<std::string, std::string> group_name_of;
  for (const auto& [name, id] : r->group_ids) group_name_of[id] = name;
  for (const json::value& got : things.as_array()) {
    const core::Thing* want = by_iccid.at(str(got, "iccid"));
    SCOPED_TRACE(want->iccid);
    EXPECT_EQ(str(got, "thingId"), r->thing_ids.at(want->iccid));
    EXPECT_EQ(str(got, "name"), want->name);
    EXPECT_EQ(str(got, "imsi"), want->imsi);
    EXPECT_EQ(str(got, "msisdn"), want->msisdn);
    EXPECT_EQ(str(got, "state"), core::state_name(want->state));
    EXPECT_EQ(group_name_of[str(got, "thingsGroupId")], m.groups.at(want->group).name);
    EXPECT_EQ(str(got, "lockedAddress"), want->locked_addr ? want->locked_addr->str() : "");
    std::vector<std::string> tags;
    for (const json::value& tag : got.at("tags").as_array()) tags.emplace_back(tag.as_string());
    EXPECT_EQ(tags, want->tags);
  }
}

TEST_F(Provision, RefusalNamesTheRequestAndTheServersError) {
  ASSERT_NO_FATAL_FAILURE(start());
  Result<ctl::LoadedAccount> loaded = ctl::load_account_yaml(kDemo);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  const core::Model& m = loaded->account.model();
  const core::Thing& dock = thing_named(m, "cam-dock");

  // Someone provisioned the dock camera's SIM already.
  const Reply pre =
      daemon_->call("POST", p("/things"), target_.token,
                    R"({"things":[{"iccid":")" + dock.iccid + R"(","imsi":"204089999999999"}]})");
  ASSERT_EQ(pre.status, 201) << pre.body;

  Result<Provisioned> r = provision(m, target_);
  ASSERT_FALSE(r.ok());
  const std::string& msg = r.error().message();
  EXPECT_NE(msg.find("POST " + std::string(kPrefix) + "/things (things 1 to "), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("HTTP 4"), std::string::npos) << msg;
  EXPECT_NE(msg.find("already provisioned"), std::string::npos) << msg;  // the daemon's words
  EXPECT_NE(msg.find("is ICCID " + dock.iccid), std::string::npos) << msg;
  // The batch is all or nothing: only the one Thing from before is there.
  EXPECT_EQ(count("/things"), 1);

  std::printf("error: %s\n", msg.c_str());
}

TEST_F(Provision, ExistingNetworkWithAnotherApnIsRefusedBeforeAnyWrite) {
  ASSERT_NO_FATAL_FAILURE(start());
  Result<ctl::LoadedAccount> loaded = ctl::load_account_yaml(kDemo);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  // A network of the demo's name with another APN: apnName is read-only, so it cannot be
  // reconciled.
  const Reply net = daemon_->call("POST", p("/networks"), target_.token,
                                  R"({"name":"Meters","apnName":"other.example"})");
  ASSERT_EQ(net.status, 201) << net.body;
  Result<Provisioned> r = provision(loaded->account.model(), target_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), core::Code::kFailedPrecondition);
  EXPECT_NE(r.error().message().find("network \"Meters\""), std::string::npos)
      << r.error().message();
  EXPECT_EQ(count("/ipprofiles"), 1);  // nothing written: only the shipped profile
  EXPECT_EQ(count("/networks"), 2);
}

TEST_F(Provision, WaitsOutTheRateLimit) {
  std::ofstream(dir_ / "simcored.yaml", std::ios::app)
      << "rateLimitPerSecond: 5\nrateLimitBurst: 3\n";
  ASSERT_NO_FATAL_FAILURE(start());
  Result<ctl::LoadedAccount> loaded = ctl::load_account_yaml_text(R"(
networks:
  - {name: Lab, apnName: lab.example, pools: [10.9.0.0/24], routes: [{destination: 0.0.0.0/0}]}
thingsGroups:
  - {name: Lab, network: Lab, ipProfile: Default profile}
things:
  - {generate: 20, iccidStart: "8931000000000500001", imsiStart: "204080000500001",
     thingsGroup: Lab, state: ACTIVE}
)");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  Result<Provisioned> r = provision(loaded->account.model(), target_);
  ASSERT_TRUE(r.ok()) << r.error().message();
  // 3 lists, the default network's pools, network, pool, route, group, Things: 9 without a 429.
  EXPECT_GT(r->requests, 9u) << "the burst of 3 should have been exceeded and retried";
  std::this_thread::sleep_for(std::chrono::seconds(1));  // curl is the same client: let it refill
  EXPECT_EQ(count("/things?state=ACTIVE"), 20);
}

TEST(ProvisionTransport, NoDaemonIsUnavailableNamingTheRequest) {
  // A port nobody listens on: bound, never listened, then closed.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  close(fd);
  ApiTarget t;
  t.endpoint.port = ntohs(a.sin_port);
  t.token = "x";
  core::Model empty;
  core::Result<Provisioned> r = provision(empty, t);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), core::Code::kUnavailable);
  EXPECT_NE(r.error().message().find("GET 127.0.0.1:" + std::to_string(t.endpoint.port) +
                                     std::string(kPrefix) + "/networks"),
            std::string::npos)
      << r.error().message();
  EXPECT_NE(r.error().message().find("connect"), std::string::npos) << r.error().message();
}

// A scripted peer on a loopback port: `serve` runs for each of the first `connections`
// connections, which are closed when it returns.
class RawServer {
 public:
  RawServer(int connections, std::function<void(int fd)> serve) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 4) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      ADD_FAILURE() << "cannot listen on loopback";
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this, connections, serve = std::move(serve)] {
      for (int i = 0; i < connections; ++i) {
        const int c = accept(fd_, nullptr, nullptr);
        if (c < 0) return;  // shut down
        serve(c);
        close(c);
      }
    });
  }
  ~RawServer() {
    shutdown(fd_, SHUT_RDWR);  // wakes a pending accept
    thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }

  // Reads one request head (no body); false when the peer closed first.
  static bool read_head(int fd) {
    std::string got;
    char buf[4096];
    while (got.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      got.append(buf, static_cast<size_t>(n));
    }
    return true;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

TEST(HttpClient, ReconnectsWhenTheServerClosedAKeptAliveConnection) {
  // Each connection answers one request as keep-alive, then closes: as a server's idle timeout
  // would, between the client's requests.
  RawServer server(2, [](int fd) {
    if (!RawServer::read_head(fd)) return;
    const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
    (void)!send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
  });
  HttpClient client(Endpoint{"127.0.0.1", server.port()});
  for (const char* target : {"/first", "/second"}) {
    core::Result<HttpReply> r = client.request("GET", target);
    ASSERT_TRUE(r.ok()) << target << ": " << r.error().message();
    EXPECT_EQ(r->status, 200u);
    EXPECT_EQ(r->body, "{}");
  }
  EXPECT_EQ(client.connections(), 2u);
}

TEST(HttpClient, SilentServerTimesOut) {
  RawServer server(1, [](int fd) {
    char buf[4096];
    while (recv(fd, buf, sizeof buf, 0) > 0) {
    }  // never answers; returns when the client gives up and closes
  });
  HttpClient client(Endpoint{"127.0.0.1", server.port()}, std::chrono::milliseconds(200));
  const auto t0 = std::chrono::steady_clock::now();
  core::Result<HttpReply> r = client.request("POST", "/things", "{}", "tok");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), core::Code::kUnavailable);
  EXPECT_NE(r.error().message().find("POST 127.0.0.1:" + std::to_string(server.port()) +
                                     "/things: read: no progress within 200 ms"),
            std::string::npos)
      << r.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

}  // namespace
}  // namespace simcore::sim
