// Interop with a real SGSN nobody here wrote: sgsnemu (Debian's osmo-ggsn) in a network
// namespace attaches PDP contexts to simcored over GTPv1-C on a veth pair (simcored's access
// port is net_af_packet), then pings a responder in a second namespace on the core side through
// them: its G-PDUs go up the fast path, the responder's kernel answers, and the replies come
// back down the Things' tunnels. The API shows the sessions with their IMSIs and IMEIs. A Thing
// that is not ACTIVE, and an IMSI nobody has, are refused with their causes. Needs root.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "control/daemon/daemon_test_support.h"
#include "tests/support/netns.h"

namespace simcore {
namespace {

using ctl::e2e::Daemon;
using ctl::e2e::p;
using testlab::Netns;
namespace json = boost::json;
namespace fs = std::filesystem;

constexpr int kContexts = 100;
constexpr uint64_t kFirstImsi = 204080000200000;   // sgsnemu: context n has IMSI + 10·n
constexpr const char* kImei = "3534567890123401";  // IMEISV, as sgsnemu sends it

class SgsnemuInterop : public ctl::e2e::Simcored {
 protected:
  void SetUp() override {
    if (!testlab::can_build_namespaces() || std::system("command -v sgsnemu >/dev/null") != 0) {
      if (std::getenv("CI") != nullptr) FAIL() << "CI runs as root with iproute2 and osmo-ggsn";
      GTEST_SKIP() << "needs root, iproute2 and sgsnemu (osmo-ggsn)";
    }
    Simcored::SetUp();
    sgsn_ = std::make_unique<Netns>("sg", "10.200.0.2/24");
    core_ = std::make_unique<Netns>("cr", "10.201.0.2/24");
    ASSERT_TRUE(sgsn_->ok() && core_->ok()) << testlab::sh("ip link");
    core_->in("ip route add 10.64.0.0/12 via 10.201.0.1");
    // The responder is a static neighbour, so no ping is lost to ARP resolution on the core
    // side (ARP itself has its own af_packet test); the SGSN is learned from its GTP-C.
    std::ofstream(dir_ / "simcored.yaml", std::ios::app)
        << "dataplane:\n"
           "  workers: 1\n"
           "  access: {port: net_af_packet_sg, devargs: 'iface="
        << sgsn_->here
        << "', address: 10.200.0.1, prefixLength: 24}\n"
           "  core: {port: net_af_packet_cr, devargs: 'iface="
        << core_->here
        << "', address: 10.201.0.1, prefixLength: 24,\n"
           "         neighbours: [{address: 10.201.0.2, mac: '"
        << core_->mac() << "'}]}\n";
  }

  // Runs sgsnemu in the SGSN namespace (its own state dir); returns its output and exit code.
  std::pair<std::string, int> sgsnemu(uint64_t imsi, int contexts, const std::string& extra) {
    const fs::path state = dir_ / ("sgsn-" + std::to_string(imsi));
    fs::create_directories(state);
    const std::string cmd = "ip netns exec " + sgsn_->ns +
                            " timeout -k 2 40 sgsnemu -l 10.200.0.2 -r 10.200.0.1 --contexts " +
                            std::to_string(contexts) + " --imsi " + std::to_string(imsi) +
                            " --apn iot.simcore --rai 204.08.1.1 --imeisv " + kImei +
                            " --statedir " + state.string() + " --pidfile " +
                            (state / "pid").string() + " " + extra + " 2>&1";
    std::string out;
    int rc = -1;
    if (FILE* f = popen(cmd.c_str(), "r")) {
      char buf[1024];
      while (fgets(buf, sizeof buf, f)) out += buf;
      const int st = pclose(f);
      rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }
    return {out, rc};
  }

  // Provisions Things with these IMSIs in `state`; returns their ids.
  std::vector<std::string> provision(const Daemon& d, const std::string& token,
                                     const std::vector<uint64_t>& imsis, const char* state) {
    std::string body = R"({"things":[)";
    for (size_t i = 0; i < imsis.size(); ++i) {
      char iccid[32];
      std::snprintf(iccid, sizeof iccid, "89310%014llu",
                    static_cast<unsigned long long>(imsis[i] % 100000000000000ull));
      body += (i ? "," : "") + std::string(R"({"iccid":")") + iccid + R"(","imsi":")" +
              std::to_string(imsis[i]) + R"("})";
    }
    const ctl::e2e::Reply made = d.call("POST", p("/things"), token, body + "]}");
    EXPECT_EQ(made.status, 201) << made.body;
    std::vector<std::string> ids;
    if (made.status != 201) return ids;
    const json::value made_things = made.json();
    for (const json::value& t : made_things.as_array()) {
      ids.push_back(std::string(t.at("thingId").as_string()));
      // PROVISIONED → ACTIVE → SUSPENDED: the lifecycle has no shortcut.
      for (const std::string to : {"ACTIVE", "SUSPENDED"}) {
        if (std::string(state) == "PROVISIONED") break;
        EXPECT_EQ(d.call("PUT", p("/things/" + ids.back() + "/state"), token,
                         R"({"state":")" + to + R"("})")
                      .status,
                  200);
        if (to == state) break;
      }
    }
    return ids;
  }

  std::unique_ptr<Netns> sgsn_;
  std::unique_ptr<Netns> core_;
};

int count_of(const std::string& out, const std::string& what) {
  const std::regex re("(\\d+) " + what);
  int n = -1;
  for (std::sregex_iterator it(out.begin(), out.end(), re), end; it != end; ++it) {
    n = std::stoi((*it)[1]);
  }
  return n;
}

// The lines of `text` that hold `what`.
std::string lines_with(const std::string& text, const std::string& what) {
  std::string out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.find(what) != std::string::npos) out += line + "\n";
  }
  return out;
}

// sgsnemu's output for a failure message: the lines it prints once per context or per ping are
// counted, not repeated, so what is left (retransmissions, errors, ping statistics) is readable.
std::string summary(const std::string& out) {
  const std::vector<std::string> repeated = {"Setting up PDP context #",
                                             "Received create PDP context response",
                                             "PDP ctx: received EUA",
                                             "Adding IP to local pool",
                                             "Disconnecting PDP context #",
                                             "Received delete PDP context response",
                                             "bytes from "};
  std::vector<int> counts(repeated.size(), 0);
  std::string rest;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    size_t k = 0;
    while (k < repeated.size() && line.find(repeated[k]) == std::string::npos) ++k;
    if (k < repeated.size()) {
      ++counts[k];
    } else if (!line.empty()) {
      rest += line + "\n";
    }
  }
  std::string head;
  for (size_t k = 0; k < repeated.size(); ++k) {
    head += std::to_string(counts[k]) + " × \"" + repeated[k] + "…\"\n";
  }
  return head + rest;
}

TEST_F(SgsnemuInterop, AttachesAHundredContextsAndPingsThroughThem) {
  Daemon d(dir_);
  ASSERT_NE(d.start(), 0) << "simcored did not start on af_packet ports";
  const std::string token = d.token();
  std::vector<uint64_t> imsis;
  for (int n = 0; n < kContexts; ++n) imsis.push_back(kFirstImsi + 10 * n);
  const std::vector<std::string> ids = provision(d, token, imsis, "ACTIVE");
  ASSERT_EQ(ids.size(), imsis.size());

  // While sgsnemu holds its contexts, the API shows every session.
  std::atomic<bool> done{false};
  std::pair<std::string, int> run;
  std::thread sgsn([&] {
    run = sgsnemu(kFirstImsi, kContexts,
                  "--pinghost 10.201.0.2 --pingcount 200 --pingrate 100 --timelimit 15");
    done = true;
  });
  // simcored_sessions counts open sessions; then every Thing's own view, while attached.
  auto sessions = [&] {
    const std::string m = d.call("GET", p("/metrics"), token).body;
    std::smatch got;
    return std::regex_search(m, got, std::regex("\\nsimcored_sessions (\\d+)")) ? std::stoi(got[1])
                                                                                : -1;
  };
  for (int i = 0; i < 300 && !done && sessions() < kContexts; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // sgsnemu holds its contexts until its time limit: the whole look fits in one curl process.
  std::vector<std::string> paths;
  for (const std::string& id : ids) paths.push_back(p("/things/" + id + "/session"));
  const std::vector<ctl::e2e::Reply> views = d.get_all(paths, token);
  const bool still_attached = !done;
  int online = 0;
  int with_imei = 0;
  for (const ctl::e2e::Reply& s : views) {
    if (s.status != 200 || !s.json().at("online").as_bool()) continue;
    ++online;
    with_imei += s.json().at("imei") == json::value(kImei);
  }
  sgsn.join();
  EXPECT_TRUE(still_attached) << "sgsnemu ended before the sessions were read:\n"
                              << summary(run.first);
  EXPECT_EQ(views.size(), ids.size());
  EXPECT_EQ(online, kContexts) << summary(run.first);
  EXPECT_EQ(with_imei, kContexts);
  const ctl::e2e::Reply thing = d.call("GET", p("/things/" + ids[7]), token);
  EXPECT_EQ(thing.json().at("imsi").as_string(), std::to_string(kFirstImsi + 70));

  // Every ping of every context answered through the fast path, both ways.
  const int sent = count_of(run.first, "packets transmitted");
  const int received = count_of(run.first, "packets received");
  std::printf("sgsnemu: %d pings sent, %d answered\n", sent, received);
  EXPECT_GT(sent, 0) << summary(run.first);
  EXPECT_EQ(received, sent) << summary(run.first);
  const std::string metrics = d.call("GET", p("/metrics"), token).body;
  EXPECT_NE(metrics.find("simcore_tx_packets_total{port=\"core\""), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("simcore_gtpc_events_total{gsn=\"ggsn\",event=\"accepted\"} " +
                         std::to_string(kContexts) + "\n"),
            std::string::npos)
      << lines_with(metrics, "simcore_gtpc_events_total{gsn=\"ggsn\"");
}

TEST_F(SgsnemuInterop, RefusesAThingThatIsNotActiveAndAnUnknownImsi) {
  Daemon d(dir_);
  ASSERT_NE(d.start(), 0);
  const std::string token = d.token();
  ASSERT_EQ(provision(d, token, {kFirstImsi}, "SUSPENDED").size(), 1u);

  // User authentication failed (TS 29.060 cause 209): the subscription says no.
  auto [suspended, rc1] = sgsnemu(kFirstImsi, 1, "--timelimit 5");
  EXPECT_NE(rc1, 0);
  EXPECT_NE(suspended.find("Cause value: 209"), std::string::npos) << suspended;
  // IMSI/IMEI not known (194).
  auto [unknown, rc2] = sgsnemu(kFirstImsi + 5, 1, "--timelimit 5");
  EXPECT_NE(rc2, 0);
  EXPECT_NE(unknown.find("Cause value: 194"), std::string::npos) << unknown;
  const std::string metrics = d.call("GET", p("/metrics"), token).body;
  for (const char* event : {"refused_not_active", "refused_unknown_imsi"}) {
    EXPECT_NE(metrics.find(std::string("simcore_gtpc_events_total{gsn=\"ggsn\",event=\"") + event +
                           "\"} 1\n"),
              std::string::npos)
        << event << "\n"
        << metrics;
  }
}

}  // namespace
}  // namespace simcore
