// Two simcored as two packet cores joined by an IPsec tunnel, no root: every link is a DPDK memif.
//
//   this test (SGW A) ══memif══ simcored A ══memif (core)══ simcored B ══memif══ this test (SGW B)
//
// Each daemon is provisioned through its API (a network, a Thing, a tunnel to the other's
// network and a route to it); their embedded charons negotiate over the core link. The test
// attaches one Thing at each side with a real Create Session Request, then sends G-PDUs: A's
// fast path encrypts them, B's decrypts them and delivers them down its Thing's GTP-U tunnel,
// byte for byte (two hops older), and the same the other way. A rekey (a short CHILD_SA
// lifetime) shows in the API and traffic carries on; deleting the tunnel takes the peer down.
#include <gtest/gtest.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "control/daemon/daemon_test_support.h"
#include "dataplane/dpdk/eal.h"
#include "dataplane/dpdk/port.h"
#include "dataplane/packet/wire.h"
#include "dataplane/testing/frame_builder.h"
#include "sim/gtpc_peer.h"
#include "sim/provision.h"

namespace simcore {
namespace {

using ctl::e2e::Daemon;
using dp::Mac;
using dp::testing::Bytes;
using dp::testing::ip;
namespace json = boost::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kPsk = "lab-psk-0123456789abcdef";

// One gateway of the lab and the SGW in front of it (this test's end of its access link).
struct SideSpec {
  const char* name;
  uint32_t access, core, peer_core;  // simcored's addresses; the other gateway's core
  Mac access_mac, core_mac, sgw_mac;
  uint32_t sgw;  // the SGW's GTP-C and GTP-U address
  const char* pool;
  const char* remote;
  const char* imsi;
  bool initiator;
};

const SideSpec kA{"a",  ip("192.0.0.1"), ip("198.51.100.1"), ip("198.51.100.2"),
                  {2, 0, 0, 0, 0xa0, 1}, {2, 0, 0, 0, 0xa0, 2}, {2, 0, 0, 0, 0xa0, 9},
                  ip("192.0.0.9"), "10.1.0.0/24", "10.2.0.0/24", "204080000000001", true};
const SideSpec kB{"b",  ip("192.0.1.1"), ip("198.51.100.2"), ip("198.51.100.1"),
                  {2, 0, 0, 0, 0xb0, 1}, {2, 0, 0, 0, 0xb0, 2}, {2, 0, 0, 0, 0xb0, 9},
                  ip("192.0.1.9"), "10.2.0.0/24", "10.1.0.0/24", "204080000000002", false};

std::string dotted(uint32_t a) { return core::Ipv4{a}.str(); }
std::string mac_text(const Mac& m) {
  char b[18];
  std::snprintf(b, sizeof b, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return b;
}

// EAL once per process; memif needs the multi-process socket, so a private file prefix.
class Eal : public ::testing::Environment {
 public:
  void SetUp() override {
    dp::EalOptions o;
    o.lcores = "0@(0-1)";
    o.memory_mb = 256;
    o.file_prefix = "ipsec-traffic-" + std::to_string(getpid());
    const core::Status s = dp::eal_init(o);
    ASSERT_TRUE(s.ok()) << s.error().message();
  }
};
[[maybe_unused]] ::testing::Environment* const kEal =
    ::testing::AddGlobalTestEnvironment(new Eal);

// The account a side is provisioned with: the shipped defaults plus network "vpn" (pool,
// tunnel to the other side, route to the other side's pool through it) and one ACTIVE Thing.
core::Model model_of(const SideSpec& s) {
  core::Account account;
  core::Network net;
  net.name = "vpn";
  net.apn = "vpn.example";
  const core::NetworkId nid = account.create_network(net).value();
  (void)account.add_pool(nid, core::Cidr::parse(s.pool).value()).value();
  core::IpsecTunnel t;
  t.name = "to-peer";
  t.peer = core::Ipv4{s.peer_core};
  t.remote_subnets = {core::Cidr::parse(s.remote).value()};
  t.ike_proposals = {"aes128-sha256-ecp256"};
  t.esp_proposals = {"aes128gcm16"};
  t.pre_shared_key = kPsk;
  t.initiator = s.initiator;
  t.dpd_seconds = 0;
  const core::TunnelId tid = account.add_tunnel(nid, t).value();
  core::Route r;
  r.destination = core::Cidr::parse(s.remote).value();
  r.target = core::RouteTarget::kIpsecTunnel;
  r.tunnel = tid;
  (void)account.add_route(nid, r).value();
  core::IpProfile open;
  open.name = "open";
  const core::ProfileId profile = account.create_profile(open).value();
  core::ThingsGroup g;
  g.name = "vpn-things";
  g.network = nid;
  g.profile = profile;
  const core::GroupId gid = account.create_group(g).value();
  core::Thing thing;
  thing.iccid = std::string("89310400000000000") + (s.initiator ? "01" : "02");
  thing.imsi = s.imsi;
  thing.group = gid;
  const core::ThingId id = account.provision({thing}).value()[0];
  (void)account.set_state(id, core::ThingState::kActive);
  return account.model();
}

class Side {
 public:
  Side(const SideSpec& spec, const fs::path& base) : spec_(spec), dir_(base / spec.name) {
    fs::create_directories(dir_);
    const std::string access_sock = (base / (std::string(spec.name) + "-access.sock")).string();
    const std::string core_sock = (base / "core.sock").string();
    // This test's end of the access link: the memif server.
    static int n = 0;
    auto port = dp::EthPort::open(
        {"net_memif_sgw" + std::to_string(n++),
         "role=server,socket=" + access_sock + ",mac=" + mac_text(spec.sgw_mac)},
        1, 1, 512, pool());
    EXPECT_TRUE(port.ok()) << (port.ok() ? "" : port.error().message());
    if (port.ok()) sgw_ = std::make_unique<dp::EthPort>(std::move(*port));
    std::ofstream(dir_ / "simcored.yaml")
        << "adminClientId: " << ctl::e2e::kId << "\nadminClientSecret: " << ctl::e2e::kSecret
        << "\ndataplane:\n"
           "  workers: 1\n"
           "  memoryMb: 256\n"
           "  idleSleepMicros: 200\n"
           "  access: {port: net_memif0, devargs: 'role=client,socket="
        << access_sock << ",mac=" << mac_text(spec.access_mac)
        << "', address: " << dotted(spec.access) << ", prefixLength: 24, neighbours: [{address: "
        << dotted(spec.sgw) << ", mac: '" << mac_text(spec.sgw_mac)
        << "'}]}\n"
           "  core: {port: net_memif1, devargs: 'role="
        << (spec.initiator ? "server" : "client") << ",socket=" << core_sock
        << ",mac=" << mac_text(spec.core_mac) << "', address: " << dotted(spec.core)
        << ", prefixLength: 24}\n"
           "  ike: {retransmitTimeoutSeconds: 0.5, retransmitTries: 3, retrySeconds: 1,"
           " childRekeySeconds: 10}\n";
    daemon_ = std::make_unique<Daemon>(dir_);
  }

  static rte_mempool* pool() {
    static rte_mempool* p = rte_pktmbuf_pool_create("ipsec_traffic", 2047, 64, 0,
                                                    RTE_MBUF_DEFAULT_BUF_SIZE,
                                                    static_cast<int>(rte_socket_id()));
    return p;
  }

  bool start() {
    if (!sgw_ || (port_ = daemon_->start()) == 0) return false;
    token_ = daemon_->token();
    return !token_.empty();
  }

  core::Status provision() {
    sim::ApiTarget api;
    api.endpoint.port = static_cast<uint16_t>(port_);
    api.token = token_;
    auto done = sim::provision(model_of(spec_), api);
    if (!done) return done.error();
    network_ = done->network_ids.at("vpn");
    return core::Status::Ok();
  }

  ctl::e2e::Reply call(const std::string& method, const std::string& path,
                       const std::string& body = "") {
    return daemon_->call(method, ctl::e2e::p(path), token_, body);
  }
  std::string tunnels() const { return "/networks/" + network_ + "/ipsectunnels"; }
  std::string routes() const { return "/networks/" + network_ + "/routes"; }
  std::string tunnel_id() {
    auto r = call("GET", tunnels());
    if (r.status != 200) return "";
    const json::value items = r.json();
    if (!items.is_array() || items.as_array().empty()) return "";
    return std::string(items.as_array()[0].at("id").as_string());
  }
  json::value status() {
    const std::string id = tunnel_id();
    if (id.empty()) return nullptr;
    auto r = call("GET", tunnels() + "/" + id + "/status");
    return r.status == 200 ? r.json() : json::value(nullptr);
  }

  void send(const Bytes& frame) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool());
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size())), frame.data(),
                frame.size());
    if (rte_eth_tx_burst(sgw_->id(), 0, &m, 1) != 1) rte_pktmbuf_free(m);
  }
  // Frames simcored sent to the SGW that `keep` accepts, waiting up to `wait` for one.
  std::optional<Bytes> receive(const std::function<bool(const Bytes&)>& keep,
                               std::chrono::milliseconds wait = 5s) {
    const auto end = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < end) {
      rte_mbuf* m[16];
      const uint16_t n = rte_eth_rx_burst(sgw_->id(), 0, m, 16);
      std::optional<Bytes> found;
      for (uint16_t i = 0; i < n; ++i) {
        const auto* d = rte_pktmbuf_mtod(m[i], const uint8_t*);
        Bytes b(d, d + m[i]->data_len);
        if (!found && keep(b)) found = std::move(b);
        rte_pktmbuf_free(m[i]);
      }
      if (found) return found;
      if (n == 0) std::this_thread::sleep_for(1ms);
    }
    return std::nullopt;
  }

  // Attaches the side's Thing with a Create Session Request; returns (uplink TEID, UE address).
  std::optional<std::pair<uint32_t, uint32_t>> attach() {
    sim::PeerAttach a;
    a.gtp = 2;
    a.imsi = spec_.imsi;
    a.request.peer_addr = core::Ipv4{spec_.sgw};
    a.request.peer_teid = kDownlinkTeid;
    a.request.apn = "vpn.example";
    a.request.mcc = 204;
    a.request.mnc = 8;
    a.control_addr = core::Ipv4{spec_.sgw};
    a.control_teid = 0x77;
    a.seq = 1;
    auto payload = sim::build_attach(a);
    if (!payload) return std::nullopt;
    const dp::testing::Ip4 h = dp::testing::ip4(spec_.sgw, spec_.access);
    const Bytes frame = dp::testing::ethernet(
        spec_.access_mac, spec_.sgw_mac, dp::kEtherTypeIpv4,
        dp::testing::ipv4(h, dp::kProtoUdp, dp::testing::udp(h, 2123, 2123, *payload)));
    for (int attempt = 0; attempt < 5; ++attempt) {  // the link may still be coming up
      send(frame);
      auto answer = receive(
          [](const Bytes& b) { return b.size() > 42 && dp::load_be16(b.data() + 34) == 2123; },
          1s);
      if (!answer) continue;
      auto decoded = sim::decode_attach_answer(2, Bytes(answer->begin() + 42, answer->end()));
      if (!decoded || !decoded->accepted || !decoded->ue_addr) return std::nullopt;
      return std::pair{decoded->uplink_teid, decoded->ue_addr->value};
    }
    return std::nullopt;
  }

  // A G-PDU from the Thing (uplink TEID, UE address) to `dst`.
  Bytes gpdu(uint32_t teid, uint32_t ue, uint32_t dst, uint16_t id, size_t payload) const {
    dp::testing::Ip4 inner = dp::testing::ip4(ue, dst);
    inner.id = id;
    const Bytes packet = dp::testing::ipv4(
        inner, dp::kProtoUdp, dp::testing::udp(inner, 40000, 7000, Bytes(payload, 0x3c)));
    const dp::testing::Ip4 o = dp::testing::ip4(spec_.sgw, spec_.access);
    return dp::testing::ethernet(
        spec_.access_mac, spec_.sgw_mac, dp::kEtherTypeIpv4,
        dp::testing::ipv4(o, dp::kProtoUdp,
                          dp::testing::udp(o, dp::kGtpuPort, dp::kGtpuPort,
                                           dp::testing::gtpu(dp::kGtpuMsgGpdu, teid, packet),
                                           false)));
  }

  static constexpr uint32_t kDownlinkTeid = 0x5150;
  Daemon& daemon() { return *daemon_; }

 private:
  SideSpec spec_;
  fs::path dir_;
  std::unique_ptr<dp::EthPort> sgw_;
  std::unique_ptr<Daemon> daemon_;
  std::string token_, network_;
  int port_ = 0;
};

bool up(const json::value& s) {
  return s.is_object() && s.at("ikeSa").at("state").as_string() == "ESTABLISHED" &&
         !s.at("childSas").as_array().empty() &&
         s.at("childSas").as_array()[0].at("state").as_string() == "INSTALLED";
}

template <class F>
bool eventually(F done, std::chrono::milliseconds limit = 20s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return done();
}

// The G-PDU's inner packet (after Ethernet, IPv4, UDP and an 8-byte GTP-U header).
Bytes inner_of(const Bytes& gpdu) { return Bytes(gpdu.begin() + 50, gpdu.end()); }

Bytes expected_inner(uint32_t src, uint32_t dst, uint16_t id, size_t payload) {
  dp::testing::Ip4 h = dp::testing::ip4(src, dst, 62);  // two gateways: two hops
  h.id = id;
  return dp::testing::ipv4(h, dp::kProtoUdp, dp::testing::udp(h, 40000, 7000, Bytes(payload, 0x3c)));
}

TEST(IpsecTraffic, GpdusCrossTheTunnelEncryptedByOneCoreAndDecryptedByTheOther) {
  char tmpl[] = "/tmp/simcore-ipsec-traffic-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const fs::path base = tmpl;
  {
    Side a(kA, base), b(kB, base);
    ASSERT_TRUE(a.start()) << "simcored A did not start";
    ASSERT_TRUE(b.start()) << "simcored B did not start";
    ASSERT_TRUE(b.provision().ok());
    ASSERT_TRUE(a.provision().ok());
    ASSERT_TRUE(eventually([&] { return up(a.status()) && up(b.status()); }))
        << json::serialize(a.status());
    const auto ta = a.attach(), tb = b.attach();
    ASSERT_TRUE(ta && tb) << "attach failed";
    const auto [teid_a, ue_a] = *ta;
    const auto [teid_b, ue_b] = *tb;
    EXPECT_TRUE(core::Cidr::parse("10.1.0.0/24")->contains(core::Ipv4{ue_a}));
    EXPECT_TRUE(core::Cidr::parse("10.2.0.0/24")->contains(core::Ipv4{ue_b}));

    auto to_sgw = [](uint32_t teid) {
      return [teid](const Bytes& g) {
        return g.size() > 50 && dp::load_be16(g.data() + 36) == dp::kGtpuPort &&
               dp::load_be32(g.data() + 46) == teid;
      };
    };
    uint16_t id = 1;
    // A → B and B → A, small and near the MTU.
    for (size_t payload : {16, 512, 1300}) {
      a.send(a.gpdu(teid_a, ue_a, ue_b, id, payload));
      auto at_b = b.receive(to_sgw(Side::kDownlinkTeid));
      ASSERT_TRUE(at_b) << "A → B, " << payload << " bytes";
      EXPECT_EQ(inner_of(*at_b), expected_inner(ue_a, ue_b, id, payload));
      ++id;
      b.send(b.gpdu(teid_b, ue_b, ue_a, id, payload));
      auto at_a = a.receive(to_sgw(Side::kDownlinkTeid));
      ASSERT_TRUE(at_a) << "B → A, " << payload << " bytes";
      EXPECT_EQ(inner_of(*at_a), expected_inner(ue_b, ue_a, id, payload));
      ++id;
    }
    // The traffic shows in the status, from the fast path's counters, on both ends.
    json::value sa = a.status(), sb = b.status();
    ASSERT_TRUE(up(sa) && up(sb));
    const json::value& ca = sa.at("childSas").as_array()[0];
    EXPECT_EQ(ca.at("packetsOut").as_int64(), 3);
    EXPECT_EQ(ca.at("packetsIn").as_int64(), 3);
    EXPECT_GT(sa.at("bytesOut").as_int64(), 1800);
    EXPECT_EQ(sb.at("childSas").as_array()[0].at("packetsIn").as_int64(), 3);
    const std::string spi_before = std::string(ca.at("spiIn").as_string());

    // The CHILD_SA lifetime is 10 s: the rekey shows in the API on both ends, with new SPIs,
    // and traffic carries on through the new SAs.
    ASSERT_TRUE(eventually(
        [&] {
          sa = a.status();
          sb = b.status();
          return up(sa) && up(sb) && sa.at("rekeys").as_int64() >= 1 &&
                 sa.at("childSas").as_array().size() == 1 &&
                 sa.at("childSas").as_array()[0].at("spiIn").as_string() != spi_before &&
                 sb.at("childSas").as_array().size() == 1;
        },
        30s))
        << json::serialize(sa) << "\n"
        << json::serialize(sb);
    EXPECT_FALSE(sa.at("lastRekeyAt").is_null());
    EXPECT_EQ(sa.at("childSas").as_array()[0].at("spiIn"),
              sb.at("childSas").as_array()[0].at("spiOut"));
    a.send(a.gpdu(teid_a, ue_a, ue_b, id, 100));
    auto after = b.receive(to_sgw(Side::kDownlinkTeid));
    ASSERT_TRUE(after) << "no traffic after the rekey";
    EXPECT_EQ(inner_of(*after), expected_inner(ue_a, ue_b, id, 100));

    // Deleting the tunnel at A (its route first: a routed tunnel cannot go) closes it at B.
    const json::value routes = a.call("GET", a.routes()).json();
    for (const json::value& r : routes.as_array()) {
      EXPECT_EQ(a.call("DELETE", a.routes() + "/" + std::string(r.at("id").as_string())).status,
                204);
    }
    ASSERT_EQ(a.call("DELETE", a.tunnels() + "/" + a.tunnel_id()).status, 204);
    EXPECT_TRUE(eventually([&] {
      sb = b.status();
      return sb.is_object() && sb.at("ikeSa").at("state").as_string() == "DOWN" &&
             sb.at("childSas").as_array().empty();
    })) << json::serialize(sb);
    // B's fast path no longer has SAs: its metrics show the SAD is gone from traffic's view.
    b.send(b.gpdu(teid_b, ue_b, ue_a, ++id, 64));
    EXPECT_TRUE(eventually([&] {
      return b.call("GET", "/metrics").body.find(
                 "simcore_pipeline_drops_total{reason=\"uplink.tunnel_unavailable\",worker=\"0\"} 1") !=
             std::string::npos;
    }, 5s));

    // The tunnel made again through A's API: how long until the first packet crosses it
    // (IKE_SA_INIT, IKE_AUTH, both SADs published, encrypted at A, decrypted at B). A G-PDU
    // goes in every 2 ms meanwhile; the ones before the SAs exist are dropped at A.
    const auto t0 = std::chrono::steady_clock::now();
    const auto made = a.call("POST", a.tunnels(),
                             std::string(R"({"name":"again","peerAddress":")") + dotted(kB.core) +
                                 R"(","remoteSubnets":[")" + kA.remote +
                                 R"("],"ikeProposals":["aes128-sha256-ecp256"],)"
                                 R"("espProposals":["aes128gcm16"],"dpdSeconds":0,)"
                                 R"("initiator":true,"preSharedKey":")" + kPsk + "\"}");
    ASSERT_EQ(made.status, 201) << made.body;
    const std::string tid = std::string(made.json().at("id").as_string());
    ASSERT_EQ(a.call("POST", a.routes(),
                     std::string(R"({"destination":")") + kA.remote +
                         R"(","target":"IPSEC_TUNNEL","tunnelId":")" + tid + "\"}")
                  .status,
              201);
    std::optional<Bytes> first;
    for (int i = 0; i < 2500 && !first; ++i) {  // 5 s at most
      a.send(a.gpdu(teid_a, ue_a, ue_b, ++id, 64));
      first = b.receive(to_sgw(Side::kDownlinkTeid), 2ms);
    }
    ASSERT_TRUE(first) << "no packet crossed the re-made tunnel within 5 s";
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("tunnel made in the API -> first packet through it: %.1f ms\n", ms);
    RecordProperty("tunnel_to_first_packet_ms", static_cast<int>(ms));
    // Both stop cleanly (charon closes its tunnel first, the ports after).
    EXPECT_EQ(a.daemon().stop(SIGTERM), 0);
    EXPECT_EQ(b.daemon().stop(SIGTERM), 0);
  }
  fs::remove_all(base);
}

}  // namespace
}  // namespace simcore
