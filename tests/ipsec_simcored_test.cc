// Two simcored, each with its embedded charon, negotiate the IPsec tunnels their APIs were given.
// Their core ports are the two ends of a DPDK memif link (no root, no kernel interface): IKE is
// punted by one fast path to its charon, answered out of the core port, and ARP resolves the
// peers as on a real wire. Everything the test sees comes from the two APIs.
#include <gtest/gtest.h>

#include "control/daemon/daemon_test_support.h"

namespace simcore {
namespace {

using ctl::e2e::Daemon;
using ctl::e2e::p;
using ctl::e2e::Reply;
namespace json = boost::json;
namespace fs = std::filesystem;

constexpr const char* kPsk = "lab-psk-0123456789abcdef";

std::string str(const json::value& v, const char* key) {
  return std::string(v.at(key).as_string());
}

// One simcored: its own directory, config and memif end.
struct Side {
  fs::path dir;
  std::unique_ptr<Daemon> daemon;
  std::string token, network, tunnel;

  Side(const fs::path& base, const char* name, const std::string& memif, const char* address) {
    dir = base / name;
    fs::create_directories(dir);
    std::ofstream(dir / "simcored.yaml")
        << "adminClientId: " << ctl::e2e::kId << "\nadminClientSecret: " << ctl::e2e::kSecret
        << "\n"
           "dataplane:\n"
           "  workers: 1\n"
           "  lcores: '(0-1)@(0-1)'\n"
           "  memoryMb: 256\n"
           "  idleSleepMicros: 200\n"
           "  access: {port: net_pcap_a, devargs: 'rx_pcap="
        << (base / "empty.pcap").string() << ",tx_pcap=" << (dir / "access.pcap").string()
        << "', address: 198.18.0.1}\n"
           "  core: {port: net_memif0, devargs: '"
        << memif << "', address: " << address
        << ", prefixLength: 24}\n"
           "  ike: {retransmitTimeoutSeconds: 0.5, retransmitTries: 3, retrySeconds: 1}\n";
    daemon = std::make_unique<Daemon>(dir);
  }

  bool start() {
    if (daemon->start() == 0) return false;
    token = daemon->token();
    return !token.empty();
  }
  Reply call(const std::string& method, const std::string& path, const std::string& body = "") {
    return daemon->call(method, p(path), token, body);
  }
  // A network with one pool and a tunnel to the other side; returns the tunnel's reply.
  Reply provision(const char* pool, const char* peer, const char* remote, bool initiator,
                  const std::string& esp, const std::string& psk = kPsk) {
    Reply n = call("POST", "/networks", R"({"name":"vpn","apnName":"vpn.example"})");
    if (n.status != 201) return n;
    network = str(n.json(), "id");
    Reply pl = call("POST", "/networks/" + network + "/ippools",
                    std::string(R"({"cidr":")") + pool + "\"}");
    if (pl.status != 201) return pl;
    Reply t = call("POST", "/networks/" + network + "/ipsectunnels",
                   std::string(R"({"name":"hq","peerAddress":")") + peer +
                       R"(","remoteSubnets":[")" + remote +
                       R"("],"ikeProposals":["aes128-sha256-ecp256"],"espProposals":[")" + esp +
                       R"("],"dpdSeconds":0,"initiator":)" + (initiator ? "true" : "false") +
                       R"(,"preSharedKey":")" + psk + "\"}");
    if (t.status == 201) tunnel = str(t.json(), "id");
    return t;
  }
  std::string tunnel_path() const { return "/networks/" + network + "/ipsectunnels/" + tunnel; }
  json::value status() {
    Reply r = call("GET", tunnel_path() + "/status");
    return r.status == 200 ? r.json() : json::value(nullptr);
  }
};

bool up(const json::value& s) {
  return s.is_object() && str(s.at("ikeSa"), "state") == "ESTABLISHED" &&
         s.at("childSas").as_array().size() == 1 &&
         str(s.at("childSas").as_array()[0], "state") == "INSTALLED";
}

template <class F>
bool eventually(F done, int tries = 200) {
  for (int i = 0; i < tries; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

class IpsecSimcored : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/simcored-ipsec-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    // A pcap with no packets: the access ports have nothing to say in these tests.
    const uint8_t header[24] = {0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0,
                                0,    0,    0,    0,    0xff, 0xff, 0, 0, 1, 0, 0, 0};
    std::ofstream(base_ / "empty.pcap", std::ios::binary)
        .write(reinterpret_cast<const char*>(header), sizeof(header));
    const std::string sock = "socket=" + (base_ / "memif.sock").string();
    a_ = std::make_unique<Side>(base_, "a", "role=server," + sock, "192.0.2.1");
    b_ = std::make_unique<Side>(base_, "b", "role=client," + sock, "192.0.2.2");
    ASSERT_TRUE(a_->start()) << "simcored A did not start";
    ASSERT_TRUE(b_->start()) << "simcored B did not start";
  }
  void TearDown() override {
    // A clean stop with tunnels up: charon closes them, then the ports go.
    for (Side* s : {a_.get(), b_.get()}) {
      if (s) {
        EXPECT_EQ(s->daemon->stop(SIGTERM), 0);
      }
    }
    a_.reset();
    b_.reset();
    fs::remove_all(base_);
  }
  fs::path base_;
  std::unique_ptr<Side> a_, b_;
};

TEST_F(IpsecSimcored, TunnelsFromTheApiComeUpWithMirroredSasAndGoDownWhenDeleted) {
  const Reply rb = b_->provision("10.2.0.0/24", "192.0.2.1", "10.1.0.0/24", false, "aes128gcm16");
  ASSERT_EQ(rb.status, 201) << rb.body;
  const Reply ra = a_->provision("10.1.0.0/24", "192.0.2.2", "10.2.0.0/24", true, "aes128gcm16");
  ASSERT_EQ(ra.status, 201) << ra.body;

  json::value sa, sb;
  ASSERT_TRUE(eventually([&] {
    sa = a_->status();
    sb = b_->status();
    return up(sa) && up(sb);
  })) << json::serialize(sa) << "\n"
      << json::serialize(sb);
  // One IKE_SA seen from both ends; one CHILD_SA whose directions are each other's.
  EXPECT_EQ(str(sa.at("ikeSa"), "spiInitiator"), str(sb.at("ikeSa"), "spiInitiator"));
  EXPECT_EQ(str(sa.at("ikeSa"), "spiResponder"), str(sb.at("ikeSa"), "spiResponder"));
  EXPECT_NE(str(sa.at("ikeSa"), "proposal").find("AES_CBC_128/HMAC_SHA2_256_128"),
            std::string::npos)
      << json::serialize(sa);
  const json::value& ca = sa.at("childSas").as_array()[0];
  const json::value& cb = sb.at("childSas").as_array()[0];
  EXPECT_EQ(str(ca, "spiIn"), str(cb, "spiOut"));
  EXPECT_EQ(str(ca, "spiOut"), str(cb, "spiIn"));
  EXPECT_EQ(str(ca, "keyFingerprintIn"), str(cb, "keyFingerprintOut"));
  EXPECT_EQ(str(ca, "keyFingerprintOut"), str(cb, "keyFingerprintIn"));
  EXPECT_NE(str(ca, "keyFingerprintIn"), str(ca, "keyFingerprintOut"));
  EXPECT_EQ(str(ca, "encryption"), "AES_GCM_16");
  EXPECT_TRUE(ca.at("integrity").is_null());
  EXPECT_EQ(ca.at("keyBits").as_int64(), 128);
  EXPECT_FALSE(ca.at("udpEncapsulation").as_bool());
  EXPECT_TRUE(sa.at("lastError").is_null());

  // IKE went over the core ports, through both fast paths' punt paths.
  const std::string metrics = a_->call("GET", "/metrics").body;
  EXPECT_NE(metrics.find("simcore_ike_datagrams_total{what=\"received\"}"), std::string::npos);
  EXPECT_EQ(metrics.find("simcore_ike_datagrams_total{what=\"received\"} 0\n"), std::string::npos)
      << metrics;

  // The tunnel object deleted at A: A's charon sends DELETE, B's tunnel goes down.
  ASSERT_EQ(a_->call("DELETE", a_->tunnel_path()).status, 204);
  ASSERT_TRUE(eventually([&] {
    sb = b_->status();
    return sb.is_object() && str(sb.at("ikeSa"), "state") == "DOWN" &&
           sb.at("childSas").as_array().empty();
  })) << json::serialize(sb);
}

TEST_F(IpsecSimcored, AWrongPreSharedKeyLeavesTheTunnelDownSayingWhy) {
  ASSERT_EQ(b_->provision("10.2.0.0/24", "192.0.2.1", "10.1.0.0/24", false, "aes128gcm16",
                          "not-the-same-secret-0123")
                .status,
            201);
  ASSERT_EQ(a_->provision("10.1.0.0/24", "192.0.2.2", "10.2.0.0/24", true, "aes128gcm16").status,
            201);
  json::value sa, sb;
  ASSERT_TRUE(eventually([&] {
    sa = a_->status();
    sb = b_->status();
    return sa.is_object() && sb.is_object() && sa.at("lastError").is_string() &&
           sb.at("lastError").is_string();
  })) << json::serialize(sa) << "\n"
      << json::serialize(sb);
  EXPECT_NE(str(sa, "lastError").find("pre-shared key"), std::string::npos) << json::serialize(sa);
  EXPECT_NE(str(sb, "lastError").find("pre-shared key"), std::string::npos) << json::serialize(sb);
  EXPECT_NE(str(sa.at("ikeSa"), "state"), "ESTABLISHED");
  EXPECT_TRUE(sa.at("childSas").as_array().empty());

  // Fixing the key through the API brings it up (the initiator keeps trying).
  ASSERT_EQ(b_->call("PATCH", b_->tunnel_path(), std::string(R"({"preSharedKey":")") + kPsk + "\"}")
                .status,
            200);
  EXPECT_TRUE(eventually([&] { return up(a_->status()) && up(b_->status()); }))
      << json::serialize(a_->status());
}

}  // namespace
}  // namespace simcore
