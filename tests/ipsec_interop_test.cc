// Interop with a stock strongSwan charon nobody here wrote: Debian's /usr/lib/ipsec/charon with
// kernel-libipsec in a network namespace, joined to simcored's core port (net_af_packet on our
// end of a veth pair, 192.0.2.1; DPDK owns it, the kernel has no address there) and configured
// only through its own strongswan.conf and swanctl. The tunnel from simcored's API comes up
// with either side initiating; both sides' views agree (the API's status, `swanctl --list-sas`)
// and tshark decodes the exchange on the wire. A wrong pre-shared key leaves it down, saying
// why. Then a Thing (sgsnemu over GTPv1 on the access port) pings a host behind the stock peer
// through the tunnel: ESP in UDP both ways on the wire. Needs root.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "control/daemon/daemon_test_support.h"
#include "dataplane/testing/tshark.h"
#include "tests/support/charon_peer.h"
#include "tests/support/netns.h"

namespace simcore {
namespace {

using ctl::e2e::Daemon;
using ctl::e2e::p;
using ctl::e2e::Reply;
using testlab::CharonPeer;
using testlab::Netns;
using testlab::NetnsCapture;
using testlab::ViciSa;
namespace json = boost::json;
namespace fs = std::filesystem;

constexpr const char* kPsk = "lab-psk-0123456789abcdef";
constexpr const char* kOurs = "192.0.2.1";      // simcored's core port
constexpr const char* kPeer = "192.0.2.2";      // the stock charon's end of the veth pair
constexpr const char* kThings = "10.1.0.0/24";  // the network's pool: simcored's local subnet
constexpr const char* kHq = "10.2.0.0/24";      // behind the stock charon
constexpr const char* kHqHost = "10.2.0.1";     // a host there (an address of its namespace)
constexpr uint64_t kImsi = 204080000300000;
constexpr const char* kImei = "3534567890123401";

std::string str(const json::value& v, const char* key) {
  const json::value* f = v.is_object() ? v.as_object().if_contains(key) : nullptr;
  return f && f->is_string() ? std::string(f->as_string()) : std::string();
}

// The stock side of tunnel "hq": PSK auth with IP-address identities, our proposals.
std::string stock_conn(const std::string& psk) {
  return std::string("connections {\n  hq {\n    version = 2\n    local_addrs = ") + kPeer +
         "\n    remote_addrs = " + kOurs +
         "\n    proposals = aes128-sha256-ecp256\n"
         "    keyingtries = 1\n"
         "    local {\n      auth = psk\n      id = " +
         kPeer + "\n    }\n    remote {\n      auth = psk\n      id = " + kOurs +
         "\n    }\n    children {\n      hq {\n        local_ts = " + kHq +
         "\n        remote_ts = " + kThings +
         "\n        esp_proposals = aes128gcm16\n        start_action = none\n      }\n    }\n"
         "  }\n}\nsecrets {\n  ike-hq {\n    id-ours = " +
         kOurs + "\n    id-theirs = " + kPeer + "\n    secret = \"" + psk + "\"\n  }\n}\n";
}

bool up(const json::value& s) {
  return s.is_object() && str(s.at("ikeSa"), "state") == "ESTABLISHED" &&
         s.at("childSas").as_array().size() == 1 &&
         str(s.at("childSas").as_array()[0], "state") == "INSTALLED";
}

bool stock_up(const std::vector<ViciSa>& sas) {
  return sas.size() == 1 && sas[0].get("state") == "ESTABLISHED" && sas[0].children.size() == 1 &&
         sas[0].children[0].count("state") && sas[0].children[0].at("state") == "INSTALLED";
}

template <class F>
bool eventually(F done, int tries = 100) {
  for (int i = 0; i < tries; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

std::string child_value(const ViciSa& sa, const char* key) {
  if (sa.children.empty()) return "";
  auto it = sa.children[0].find(key);
  return it == sa.children[0].end() ? "" : it->second;
}

class IpsecInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string missing;
    if (!testlab::can_build_namespaces()) missing += " root and iproute2;";
    missing += testlab::charon_peer_missing();
    if (!dp::testing::have_tshark() || std::system("command -v dumpcap >/dev/null 2>&1") != 0) {
      missing += " tshark and dumpcap (tshark)";
    }
    if (!missing.empty()) {
      if (std::getenv("CI") != nullptr)
        FAIL() << "CI runs as root with the peers installed:" << missing;
      GTEST_SKIP() << "a stock strongSwan peer needs:" << missing;
    }
    char tmpl[] = "/tmp/simcore-ipsec-interop-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    peer_ns_ = std::make_unique<Netns>("ix", std::string(kPeer) + "/24");
    ASSERT_TRUE(peer_ns_->ok()) << testlab::sh("ip link");
    // Only IPv4 on the wire we check; the host behind the peer is an address of its namespace.
    peer_ns_->in("sysctl -qw net.ipv6.conf.all.disable_ipv6=1");
    peer_ns_->in("sysctl -qw net.ipv6.conf." + peer_ns_->there + ".disable_ipv6=1");
    peer_ns_->in(std::string("ip addr add ") + kHqHost + "/32 dev lo");
    capture_ = std::make_unique<NetnsCapture>(*peer_ns_, peer_ns_->there, dir_ / "core.pcapng");
    ASSERT_TRUE(capture_->ready()) << capture_->log();
    charon_ = std::make_unique<CharonPeer>(*peer_ns_, dir_ / "charon");
    std::string why;
    ASSERT_TRUE(charon_->start(&why)) << why;
  }

  void TearDown() override {
    if (daemon_) daemon_->stop(SIGTERM);
    daemon_.reset();
    capture_.reset();
    charon_.reset();
    // Nothing of ours may outlive the namespaces (each was started by this test, killed by id).
    for (const Netns* ns : {peer_ns_.get(), things_ns_.get()}) {
      if (!ns) continue;
      std::istringstream pids(testlab::sh("ip netns pids " + ns->ns));
      for (pid_t pid; pids >> pid;) kill(pid, SIGKILL);
    }
    things_ns_.reset();
    peer_ns_.reset();
    if (dir_.empty()) return;
    if (HasFailure()) {
      std::printf("kept %s (simcored, charon and dumpcap files)\n", dir_.c_str());
    } else {
      fs::remove_all(dir_);
    }
  }

  // simcored with its core port on our end of the peer's veth pair. The access port is an
  // empty pcap, or net_af_packet towards the Things' namespace when there is one.
  void start_simcored() {
    fs::create_directories(dir_ / "simcored");
    std::string access;
    if (things_ns_) {
      access = "net_af_packet_a, devargs: 'iface=" + things_ns_->here +
               "', address: 10.200.0.1, prefixLength: 24";
    } else {
      // A pcap with no packets: the access port has nothing to say here.
      const uint8_t header[24] = {0xd4, 0xc3, 0xb2, 0xa1, 2,    0,    4, 0, 0, 0, 0, 0,
                                  0,    0,    0,    0,    0xff, 0xff, 0, 0, 1, 0, 0, 0};
      std::ofstream(dir_ / "empty.pcap", std::ios::binary)
          .write(reinterpret_cast<const char*>(header), sizeof(header));
      access = "net_pcap_a, devargs: 'rx_pcap=" + (dir_ / "empty.pcap").string() +
               ",tx_pcap=" + (dir_ / "access.pcap").string() + "', address: 198.18.0.1";
    }
    std::ofstream(dir_ / "simcored" / "simcored.yaml")
        << "adminClientId: " << ctl::e2e::kId << "\nadminClientSecret: " << ctl::e2e::kSecret
        << "\n"
           "dataplane:\n"
           "  workers: 1\n"
           "  lcores: '(0-1)@(0-1)'\n"
           "  memoryMb: 256\n"
           "  idleSleepMicros: 200\n"
           "  access: {port: "
        << access
        << "}\n"
           "  core: {port: net_af_packet_c, devargs: 'iface="
        << peer_ns_->here << "', address: " << kOurs
        << ", prefixLength: 24}\n"
           "  ike: {retransmitTimeoutSeconds: 0.5, retransmitTries: 3, retrySeconds: 1}\n";
    daemon_ = std::make_unique<Daemon>(dir_ / "simcored");
    ASSERT_NE(daemon_->start(), 0) << "simcored did not start on af_packet ports";
    token_ = daemon_->token();
    ASSERT_FALSE(token_.empty());
  }

  Reply call(const std::string& method, const std::string& path, const std::string& body = "") {
    return daemon_->call(method, p(path), token_, body);
  }

  // The network with its pool and the tunnel to the stock peer; returns the tunnel's reply.
  Reply provision(bool initiator, const std::string& psk = kPsk) {
    Reply n = call("POST", "/networks", R"({"name":"vpn","apnName":"vpn.example"})");
    if (n.status != 201) return n;
    network_ = str(n.json(), "id");
    Reply pl = call("POST", "/networks/" + network_ + "/ippools",
                    std::string(R"({"cidr":")") + kThings + "\"}");
    if (pl.status != 201) return pl;
    Reply t = call(
        "POST", "/networks/" + network_ + "/ipsectunnels",
        std::string(R"({"name":"hq","peerAddress":")") + kPeer + R"(","remoteSubnets":[")" + kHq +
            R"("],"ikeProposals":["aes128-sha256-ecp256"],"espProposals":["aes128gcm16"],)"
            R"("dpdSeconds":0,"initiator":)" +
            (initiator ? "true" : "false") + R"(,"preSharedKey":")" + psk + "\"}");
    if (t.status == 201) tunnel_ = str(t.json(), "id");
    return t;
  }

  json::value status() {
    Reply r = call("GET", "/networks/" + network_ + "/ipsectunnels/" + tunnel_ + "/status");
    return r.status == 200 ? r.json() : json::value(nullptr);
  }

  std::string metrics() { return call("GET", "/metrics").body; }

  // The sum of the metric series whose text starts with `series_prefix`.
  long metric(const std::string& series_prefix) {
    long sum = 0;
    std::istringstream in(metrics());
    for (std::string line; std::getline(in, line);) {
      if (line.rfind(series_prefix, 0) != 0) continue;
      sum += std::atol(line.c_str() + line.rfind(' ') + 1);
    }
    return sum;
  }

  // Both sides up: our status and the stock side's SAs, which must describe the same SAs.
  void expect_same_sas_on_both_sides(bool we_initiated) {
    json::value ours;
    std::vector<ViciSa> theirs;
    ASSERT_TRUE(eventually([&] {
      ours = status();
      theirs = charon_->sas("hq");
      return up(ours) && stock_up(theirs);
    })) << json::serialize(ours)
        << "\nstock side:\n"
        << charon_->swanctl("--list-sas") << "\ncharon's log:\n"
        << charon_->log_tail() << "\nsimcored metrics (IKE):\n"
        << ike_metrics();
    const ViciSa& sa = theirs[0];
    const json::value& ike = ours.at("ikeSa");
    EXPECT_EQ(str(ike, "spiInitiator"), sa.get("initiator-spi"));
    EXPECT_EQ(str(ike, "spiResponder"), sa.get("responder-spi"));
    EXPECT_EQ(sa.get("initiator"), we_initiated ? "" : "yes");  // the stock side's own role
    EXPECT_EQ(sa.get("local-id"), kPeer);
    EXPECT_EQ(sa.get("remote-id"), kOurs);
    EXPECT_EQ(sa.get("encr-alg"), "AES_CBC");
    EXPECT_EQ(sa.get("dh-group"), "ECP_256");
    EXPECT_NE(str(ike, "proposal").find("AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_256"),
              std::string::npos)
        << json::serialize(ours);
    const json::value& child = ours.at("childSas").as_array()[0];
    EXPECT_EQ(str(child, "spiIn"), child_value(sa, "spi-out"));
    EXPECT_EQ(str(child, "spiOut"), child_value(sa, "spi-in"));
    EXPECT_EQ(str(child, "spiIn").size(), 8u);
    EXPECT_EQ(str(child, "encryption"), "AES_GCM_16");
    EXPECT_EQ(child_value(sa, "encr-alg"), "AES_GCM_16");
    EXPECT_EQ(child.at("keyBits").as_int64(), 128);
    EXPECT_EQ(child_value(sa, "encr-keysize"), "128");
    EXPECT_TRUE(child.at("integrity").is_null());
    EXPECT_EQ(child_value(sa, "local-ts"), std::string("[") + kHq + "]");
    EXPECT_EQ(child_value(sa, "remote-ts"), std::string("[") + kThings + "]");
    // kernel-libipsec can only do ESP in UDP: the stock charon fakes a NAT so that both sides
    // encapsulate (RFC 3948), and IKE moves to port 4500 after IKE_SA_INIT.
    EXPECT_EQ(child_value(sa, "encap"), "yes");
    EXPECT_TRUE(child.at("udpEncapsulation").as_bool()) << json::serialize(ours);
    EXPECT_TRUE(ours.at("lastError").is_null()) << json::serialize(ours);
    ike_spi_ = str(ike, "spiInitiator");
    ike_spi_r_ = str(ike, "spiResponder");
  }

  // tshark on the peer's wire: IKE_SA_INIT and IKE_AUTH of that IKE_SA, both ways, every
  // ISAKMP frame decoded (a doubled or missing non-ESP marker on 4500 does not decode), no
  // malformed frame or error.
  void expect_ike_exchange_on_the_wire(bool we_initiated) {
    const fs::path cap = capture_->stop();
    const auto rows =
        dp::testing::tshark_fields(cap, "isakmp",
                                   {"frame.number", "isakmp.exchangetype", "ip.src", "isakmp.ispi",
                                    "isakmp.rspi", "udp.srcport", "udp.dstport", "_ws.col.Info"});
    std::string undecoded;
    std::map<std::string, int> seen;  // "<exchange> <from>" for this IKE_SA
    for (const auto& r : rows) {
      if (r[1].empty()) undecoded += r[0] + " " + r[2] + ":" + r[5] + " -> :" + r[6] + "\n";
      // IKE_SA_INIT requests carry no responder SPI yet; everything else carries both.
      const bool ours = r[3] == ike_spi_ && (r[4] == ike_spi_r_ || r[4] == "0000000000000000");
      if (ours) ++seen[r[1] + " " + r[2]];
    }
    EXPECT_EQ(undecoded, "") << "ISAKMP frames tshark could not decode";
    const std::string init = we_initiated ? kOurs : kPeer;
    const std::string resp = we_initiated ? kPeer : kOurs;
    EXPECT_GE(seen["34 " + init], 1) << "IKE_SA_INIT request from " << init;
    EXPECT_GE(seen["34 " + resp], 1) << "IKE_SA_INIT response from " << resp;
    EXPECT_GE(seen["35 " + init], 1) << "IKE_AUTH request from " << init;
    EXPECT_GE(seen["35 " + resp], 1) << "IKE_AUTH response from " << resp;
    EXPECT_EQ(dp::testing::tshark_problems(cap), "");
    // simcored resolved its peer (initiator) or answered for its own address (responder) with
    // ARP on the wire, as a gateway does.
    const std::string arp = std::string("arp.opcode == ") + (we_initiated ? "1" : "2") +
                            " && arp.src.proto_ipv4 == " + kOurs;
    EXPECT_FALSE(dp::testing::tshark_fields(cap, arp, {"frame.number"}).empty()) << arp;
  }

  std::string ike_metrics() {
    std::string out;
    std::istringstream in(metrics());
    for (std::string line; std::getline(in, line);) {
      if (line.find("ike") != std::string::npos && line[0] != '#') out += line + "\n";
    }
    return out;
  }

  fs::path dir_;
  std::unique_ptr<Netns> peer_ns_;
  std::unique_ptr<Netns> things_ns_;
  std::unique_ptr<NetnsCapture> capture_;
  std::unique_ptr<CharonPeer> charon_;
  std::unique_ptr<Daemon> daemon_;
  std::string token_, network_, tunnel_, ike_spi_, ike_spi_r_;
};

TEST_F(IpsecInterop, SimcoredInitiatesAndTheStockCharonAgrees) {
  std::string said;
  ASSERT_TRUE(charon_->load("hq", stock_conn(kPsk), &said)) << said;
  ASSERT_NO_FATAL_FAILURE(start_simcored());
  const Reply t = provision(/*initiator=*/true);
  ASSERT_EQ(t.status, 201) << t.body;
  ASSERT_NO_FATAL_FAILURE(expect_same_sas_on_both_sides(/*we_initiated=*/true));
  expect_ike_exchange_on_the_wire(/*we_initiated=*/true);
  // IKE went through the fast path's punt path both ways.
  EXPECT_GT(metric("simcore_ike_datagrams_total{what=\"received\"}"), 0) << ike_metrics();
  EXPECT_GT(metric("simcore_ike_datagrams_total{what=\"sent\"}"), 0) << ike_metrics();
  EXPECT_EQ(metric("simcore_ike_datagrams_total{what=\"refused\"}"), 0) << ike_metrics();
}

TEST_F(IpsecInterop, TheStockCharonInitiatesAndSimcoredResponds) {
  ASSERT_NO_FATAL_FAILURE(start_simcored());
  const Reply t = provision(/*initiator=*/false);
  ASSERT_EQ(t.status, 201) << t.body;
  // A responder tunnel waits for its peer.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const json::value before = status();
  ASSERT_TRUE(before.is_object());
  EXPECT_NE(str(before.at("ikeSa"), "state"), "ESTABLISHED") << json::serialize(before);
  std::string said;
  ASSERT_TRUE(charon_->load("hq", stock_conn(kPsk), &said)) << said;
  said = charon_->swanctl("--initiate --ike hq --child hq --timeout 10", 15);
  EXPECT_NE(said.find("initiate completed successfully"), std::string::npos)
      << said << "\ncharon's log:\n"
      << charon_->log_tail();
  ASSERT_NO_FATAL_FAILURE(expect_same_sas_on_both_sides(/*we_initiated=*/false));
  expect_ike_exchange_on_the_wire(/*we_initiated=*/false);
}

TEST_F(IpsecInterop, AWrongPreSharedKeyLeavesTheTunnelDownSayingWhy) {
  std::string said;
  ASSERT_TRUE(charon_->load("hq", stock_conn("not-the-same-secret-0123"), &said)) << said;
  ASSERT_NO_FATAL_FAILURE(start_simcored());
  ASSERT_EQ(provision(/*initiator=*/true).status, 201);
  json::value s;
  ASSERT_TRUE(eventually([&] {
    s = status();
    return s.is_object() && s.at("lastError").is_string() &&
           str(s, "lastError").find("pre-shared key") != std::string::npos;
  })) << json::serialize(s)
      << "\ncharon's log:\n"
      << charon_->log_tail() << "\nsimcored metrics (IKE):\n"
      << ike_metrics();
  EXPECT_NE(str(s.at("ikeSa"), "state"), "ESTABLISHED") << json::serialize(s);
  EXPECT_TRUE(s.at("childSas").as_array().empty()) << json::serialize(s);
  for (const ViciSa& sa : charon_->sas("hq")) EXPECT_NE(sa.get("state"), "ESTABLISHED");
  // The stock side refused our AUTH payload: its log says so.
  EXPECT_NE(charon_->log_tail(200000).find("but MAC mismatched"), std::string::npos)
      << charon_->log_tail();
}

// The same with the stock charon initiating: simcored, responding, refuses its AUTH payload.
TEST_F(IpsecInterop, AStockInitiatorWithAWrongPreSharedKeyIsRefusedSayingWhy) {
  ASSERT_NO_FATAL_FAILURE(start_simcored());
  ASSERT_EQ(provision(/*initiator=*/false).status, 201);
  std::string said;
  ASSERT_TRUE(charon_->load("hq", stock_conn("not-the-same-secret-0123"), &said)) << said;
  said = charon_->swanctl("--initiate --ike hq --child hq --timeout 10", 15);
  EXPECT_EQ(said.find("initiate completed successfully"), std::string::npos) << said;
  json::value s;
  ASSERT_TRUE(eventually([&] {
    s = status();
    return s.is_object() && s.at("lastError").is_string() &&
           str(s, "lastError").find("pre-shared key") != std::string::npos;
  })) << json::serialize(s)
      << "\ncharon's log:\n"
      << charon_->log_tail() << "\nsimcored metrics (IKE):\n"
      << ike_metrics();
  EXPECT_NE(str(s.at("ikeSa"), "state"), "ESTABLISHED") << json::serialize(s);
  EXPECT_TRUE(s.at("childSas").as_array().empty()) << json::serialize(s);
  for (const ViciSa& sa : charon_->sas("hq")) EXPECT_NE(sa.get("state"), "ESTABLISHED");
  // simcored told the stock side why (RFC 7296 AUTHENTICATION_FAILED).
  EXPECT_NE(charon_->log_tail(200000).find("received AUTHENTICATION_FAILED notify error"),
            std::string::npos)
      << charon_->log_tail();
}

// A Thing attached over GTPv1 (sgsnemu on the access port) pings the host behind the stock
// peer through a route to the tunnel; the peer's kernel answers through kernel-libipsec.
TEST_F(IpsecInterop, AThingPingsAHostBehindTheStockPeerThroughTheTunnel) {
  if (std::system("command -v sgsnemu >/dev/null 2>&1") != 0) {
    if (std::getenv("CI") != nullptr) FAIL() << "CI has sgsnemu (osmo-ggsn)";
    GTEST_SKIP() << "needs sgsnemu (osmo-ggsn)";
  }
  things_ns_ = std::make_unique<Netns>("it", "10.200.0.2/24");
  ASSERT_TRUE(things_ns_->ok());
  std::string said;
  ASSERT_TRUE(charon_->load("hq", stock_conn(kPsk), &said)) << said;
  ASSERT_NO_FATAL_FAILURE(start_simcored());
  ASSERT_EQ(provision(/*initiator=*/true).status, 201);
  // Things of this network: a group on it with an open profile; the route into the tunnel.
  const Reply prof = call("POST", "/ipprofiles", R"({"name":"open"})");
  ASSERT_EQ(prof.status, 201) << prof.body;
  const Reply group = call("POST", "/thingsgroups",
                           R"({"name":"hq things","networkId":")" + network_ +
                               R"(","ipProfileId":")" + str(prof.json(), "id") + "\"}");
  ASSERT_EQ(group.status, 201) << group.body;
  const Reply route = call("POST", "/networks/" + network_ + "/routes",
                           std::string(R"({"destination":")") + kHq +
                               R"(","target":"IPSEC_TUNNEL","tunnelId":")" + tunnel_ + "\"}");
  ASSERT_EQ(route.status, 201) << route.body;
  const Reply made =
      call("POST", "/things",
           R"({"things":[{"iccid":"8931080000300000000","imsi":")" + std::to_string(kImsi) +
               R"(","thingsGroupId":")" + str(group.json(), "id") + "\"}]}");
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string thing = str(made.json().as_array()[0], "thingId");
  ASSERT_EQ(call("PUT", "/things/" + thing + "/state", R"({"state":"ACTIVE"})").status, 200);
  ASSERT_NO_FATAL_FAILURE(expect_same_sas_on_both_sides(/*we_initiated=*/true));

  // sgsnemu attaches and pings; while it holds the context the API shows the session. It
  // lingers ~20 s after its last word (the Delete PDP Context answer): stopped once it is said.
  const fs::path state = dir_ / "sgsnemu";
  fs::create_directories(state);
  testlab::Bounded sgsn;
  ASSERT_TRUE(sgsn.start(
      "exec ip netns exec " + things_ns_->ns +
          " timeout -k 2 30 setpriv --pdeathsig KILL stdbuf -oL sgsnemu -l 10.200.0.2 -r 10.200.0.1"
          " --contexts 1 --imsi " +
          std::to_string(kImsi) + " --apn vpn.example --rai 204.08.1.1 --imeisv " + kImei +
          " --statedir " + state.string() + " --pidfile " + (state / "pid").string() +
          " --pinghost " + kHqHost + " --pingcount 5 --pingrate 5 --timelimit 3",
      state / "out.txt"));
  json::value session;
  std::string out;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < until) {
    if (!session.is_object() || !session.at("online").as_bool()) {
      const Reply r = call("GET", "/things/" + thing + "/session");
      if (r.status == 200) session = r.json();
    }
    out = CharonPeer::tail(state / "out.txt", 1 << 20);
    if (!sgsn.running() || out.find("Received delete PDP context response") != std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  sgsn.stop(SIGTERM, std::chrono::seconds(1));
  out = CharonPeer::tail(state / "out.txt", 1 << 20);
  ASSERT_TRUE(session.is_object() && session.at("online").as_bool())
      << json::serialize(session) << "\n"
      << out;
  EXPECT_EQ(str(session, "ipAddress").rfind("10.1.0.", 0), 0u) << json::serialize(session);

  auto count_of = [&](const std::string& what) {
    const std::regex re("(\\d+) " + what);
    int n = -1;
    for (std::sregex_iterator it(out.begin(), out.end(), re), end; it != end; ++it) {
      n = std::stoi((*it)[1]);
    }
    return n;
  };
  const int sent = count_of("packets transmitted");
  const int received = count_of("packets received");
  ASSERT_GT(sent, 0) << out;
  const long unavailable =
      metric("simcore_pipeline_drops_total{reason=\"uplink.tunnel_unavailable\"");
  EXPECT_EQ(received, sent) << out;
  EXPECT_EQ(unavailable, 0);
  // ESP (in UDP, as kernel-libipsec wants it) both ways on the peer's wire, with our SPIs.
  const json::value s = status();
  ASSERT_TRUE(up(s)) << json::serialize(s);
  const json::value& child = s.at("childSas").as_array()[0];
  const fs::path cap = capture_->stop();
  const auto esp = dp::testing::tshark_fields(cap, "esp", {"ip.src", "esp.spi"});
  int out_frames = 0, in_frames = 0;
  for (const auto& r : esp) {
    const std::string spi = r[1].size() > 2 && r[1].rfind("0x", 0) == 0 ? r[1].substr(2) : r[1];
    if (r[0] == kOurs && spi == str(child, "spiOut")) ++out_frames;
    if (r[0] == kPeer && spi == str(child, "spiIn")) ++in_frames;
  }
  EXPECT_GE(out_frames, sent) << json::serialize(s);
  EXPECT_GE(in_frames, received) << json::serialize(s);
  EXPECT_GE(child.at("packetsOut").as_int64(), sent) << json::serialize(s);
  EXPECT_GE(child.at("packetsIn").as_int64(), received) << json::serialize(s);
  EXPECT_EQ(dp::testing::tshark_problems(cap), "");
  // The stock side counted them too.
  const auto sas = charon_->sas("hq");
  ASSERT_EQ(sas.size(), 1u);
  EXPECT_EQ(child_value(sas[0], "packets-in"), std::to_string(sent));
}

}  // namespace
}  // namespace simcore
