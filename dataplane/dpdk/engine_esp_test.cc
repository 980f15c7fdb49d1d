// IPsec through two engines on ring ports, as two gateways with one tunnel between their
// networks: A's Thing sends a G-PDU to B's network, A's fast path encrypts it with the
// tunnel's outbound SA, the ESP frame is carried to B's core port, B's fast path decrypts it
// and delivers it down its own Thing's GTP-U tunnel. The SAs are mirrored, as IKE installs
// them. Bad ESP at B is counted by reason and never crashes.
#include <gtest/gtest.h>
#include <rte_mempool.h>

#include "dataplane/dpdk/engine_test_support.h"
#include "dataplane/testing/tshark.h"

namespace simcore::dp::enginetest {
namespace {

const Mac kCoreMacB{2, 0, 0, 0, 3, 1};
const uint32_t kCoreA = ip("203.0.113.1"), kCoreB = ip("203.0.113.2");
const uint32_t kThingB = ip("10.30.0.10"), kEnbB = ip("100.64.9.1");
constexpr uint32_t kTeidB = 0x3000, kPeerTeidB = 0x9000;
constexpr uint32_t kSpiAtoB = 0xc0000001, kSpiBtoA = 0xc0000002;

PortConfig ports_a() {
  PortConfig p = kPorts;
  p.core_prefix_len = 24;  // the peer gateway is on-link
  return p;
}
PortConfig ports_b() {
  PortConfig p = kPorts;
  p.core_addr = kCoreB;
  p.core_mac = kCoreMacB;
  p.core_prefix_len = 24;
  return p;
}

std::vector<uint8_t> key(uint8_t seed) {
  std::vector<uint8_t> k(20);
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(seed * 7 + i);
  return k;
}

EspSaSpec sa(uint32_t tunnel, uint32_t spi, bool inbound, uint32_t src, uint32_t dst,
             uint8_t seed) {
  EspSaSpec s;
  s.tunnel_id = tunnel;
  s.spi = spi;
  s.inbound = inbound;
  s.src = src;
  s.dst = dst;
  s.enc_alg = kEncrAesGcm16;
  s.enc_key = key(seed);
  return s;
}

core::TunnelId add_tunnel(core::Account& account, core::NetworkId net, uint32_t peer,
                          const char* remote) {
  core::IpsecTunnel t;
  t.name = "vpn";
  t.peer = core::Ipv4{peer};
  t.remote_subnets = {core::Cidr::parse(remote).value()};
  t.pre_shared_key = "0123456789abcdef";
  t.ike_proposals = {"aes128-sha256-ecp256"};
  t.esp_proposals = {"aes128gcm16"};
  auto added = account.add_tunnel(net, t);
  EXPECT_TRUE(added.ok()) << added.error().message();
  const core::TunnelId id = added.value();
  core::Route r;
  r.destination = core::Cidr::parse(remote).value();
  r.target = core::RouteTarget::kIpsecTunnel;
  r.tunnel = id;
  EXPECT_TRUE(account.add_route(net, r).ok());
  return id;
}

// Gateway B's account: network 10.30.0.0/24 with one attached Thing, a tunnel back to A's
// network.
struct PolicyB {
  core::Account account;
  core::Compiler compiler;
  core::TunnelId tunnel;
  PolicyB() {
    core::Network net;
    net.name = "b";
    net.apn = "b.example";
    const core::NetworkId nid = account.create_network(net).value();
    (void)account.add_pool(nid, core::Cidr::parse("10.30.0.0/24").value()).value();
    core::IpProfile open;
    open.name = "open";
    const core::ProfileId profile = account.create_profile(open).value();
    core::ThingsGroup g;
    g.name = "g";
    g.network = nid;
    g.profile = profile;
    const core::GroupId gid = account.create_group(g).value();
    core::Thing spec;
    spec.iccid = "8931000000000099999";
    spec.imsi = "204080000099999";
    spec.group = gid;
    spec.ip_lock = true;
    spec.locked_addr = core::Ipv4{kThingB};
    const core::ThingId thing = account.provision({spec}).value()[0];
    EXPECT_TRUE(account.set_state(thing, core::ThingState::kActive).ok());
    core::AttachRequest req;
    req.uplink_teid = kTeidB;
    req.peer_addr = core::Ipv4{kEnbB};
    req.peer_teid = kPeerTeidB;
    req.apn = "b.example";
    EXPECT_TRUE(account.attach(thing, req).ok());
    tunnel = add_tunnel(account, nid, kCoreA, "10.20.0.0/24");
  }
};

Bytes uplink_to(uint32_t dst, uint16_t id, size_t payload = 4) {
  const Ip4 o = testing::ip4(kEnb, kPorts.access_addr);
  Ip4 h = testing::ip4(thing_addr(0), dst);
  h.id = id;
  const Bytes inner = testing::ipv4(h, kProtoUdp, testing::udp(h, 40000, 7000, Bytes(payload, 0x5a)));
  return testing::ethernet(
      kAccessMac, kAccessPeerMac, kEtherTypeIpv4,
      testing::ipv4(o, kProtoUdp,
                    testing::udp(o, kGtpuPort, kGtpuPort,
                                 testing::gtpu(kGtpuMsgGpdu, thing_teid(0), inner), false)));
}

class EngineEsp : public ::testing::Test {
 protected:
  // The gateways' mbuf pools: EngineEspPacked runs on packed mbufs (mbuf_pool.h).
  virtual bool packed_mbufs() const { return false; }
  void SetUp() override {
    tunnel_a_ = add_tunnel(policy_a_.account, policy_a_.network, kCoreB, "10.30.0.0/24");
    a_ = std::make_unique<RingLab>(1, 0, ports_a(), packed_mbufs());
    b_ = std::make_unique<RingLab>(1, 0, ports_b(), packed_mbufs());
    ASSERT_TRUE(a_->engine && b_->engine);
    ASSERT_TRUE(a_->engine->publish(policy_a_.compile()).ok());
    ASSERT_TRUE(b_->engine->publish(policy_b_.compiler.compile(policy_b_.account.model()).value()).ok());
    a_->engine->neighbours().set(kCoreB, kCoreMacB);
    b_->engine->neighbours().set(kCoreA, kCoreMac);
    b_->engine->neighbours().set(kEnbB, kAccessPeerMac);
    ASSERT_TRUE(a_->engine->start().ok());
    ASSERT_TRUE(b_->engine->start().ok());
  }
  void install_sas() {
    ASSERT_TRUE(a_->engine
                    ->publish_sad({sa(tunnel_a_.value, kSpiAtoB, false, kCoreA, kCoreB, 1),
                                   sa(tunnel_a_.value, kSpiBtoA, true, kCoreB, kCoreA, 2)})
                    .ok());
    ASSERT_TRUE(b_->engine
                    ->publish_sad({sa(policy_b_.tunnel.value, kSpiBtoA, false, kCoreB, kCoreA, 2),
                                   sa(policy_b_.tunnel.value, kSpiAtoB, true, kCoreA, kCoreB, 1)})
                    .ok());
  }
  // Sends one uplink G-PDU at A and returns the ESP frame A sent out of its core port.
  Bytes encrypted_at_a(uint16_t id, size_t payload = 4) {
    a_->send(Port::kAccess, uplink_to(kThingB, id, payload));
    auto out = a_->received(Port::kCore, 1);
    return out.empty() ? Bytes{} : out[0];
  }
  uint64_t drops_b(PipelineDrop d) {
    return b_->engine->total().pipeline_drop[static_cast<size_t>(d)];
  }
  // Three packets from A's Thing to B's, 4, 472 and 1372 bytes of payload: each leaves A as ESP
  // with the next sequence number and leaves B down its Thing's tunnel byte for byte.
  void round_trips_three_sizes();

  Policy policy_a_{1};
  PolicyB policy_b_;
  core::TunnelId tunnel_a_;
  std::unique_ptr<RingLab> a_, b_;
};

class EngineEspPacked : public EngineEsp {
 protected:
  bool packed_mbufs() const override { return true; }
};

TEST_F(EngineEsp, WithoutAnSaTheTunnelRouteDropsWithItsOwnCounter) {
  a_->send(Port::kAccess, uplink_to(kThingB, 1));
  ASSERT_TRUE(a_->wait_rx(1));
  EXPECT_TRUE(a_->received(Port::kCore, 1, std::chrono::milliseconds(200)).empty());
  EXPECT_EQ(a_->engine->total()
                .pipeline_drop[static_cast<size_t>(PipelineDrop::kUplinkTunnelUnavailable)],
            1u);
}

void EngineEsp::round_trips_three_sizes() {
  install_sas();
  for (uint16_t i = 1; i <= 3; ++i) {
    const size_t payload = i == 1 ? 4 : i == 2 ? 472 : 1372;
    const Bytes esp = encrypted_at_a(i, payload);
    ASSERT_GE(esp.size(), 14u + 20 + 8 + 8 + 16);
    // Ethernet to B, outer IPv4 A → B, ESP with A's outbound SPI and the next sequence number.
    EXPECT_TRUE(std::equal(kCoreMacB.begin(), kCoreMacB.end(), esp.begin()));
    EXPECT_EQ(load_be16(esp.data() + 12), kEtherTypeIpv4);
    EXPECT_EQ(esp[14 + 9], kProtoEsp);
    EXPECT_EQ(load_be32(esp.data() + 14 + 12), kCoreA);
    EXPECT_EQ(load_be32(esp.data() + 14 + 16), kCoreB);
    EXPECT_EQ(load_be32(esp.data() + 34), kSpiAtoB);
    EXPECT_EQ(load_be32(esp.data() + 38), i);

    b_->send(Port::kCore, esp);
    auto out = b_->received(Port::kAccess, 1);
    ASSERT_EQ(out.size(), 1u);
    // Down B's Thing's tunnel: the inner packet as A's Thing sent it, two hops older.
    const Bytes& g = out[0];
    EXPECT_EQ(load_be32(g.data() + 14 + 16), kEnbB);
    EXPECT_EQ(load_be32(g.data() + 42 + 4), kPeerTeidB);
    Ip4 h = testing::ip4(thing_addr(0), kThingB, 62);
    h.id = i;
    const Bytes want = testing::ipv4(h, kProtoUdp, testing::udp(h, 40000, 7000, Bytes(payload, 0x5a)));
    EXPECT_EQ(Bytes(g.begin() + 50, g.end()), want) << "payload " << payload;
  }
  EXPECT_EQ(a_->engine->total().esp_encrypted, 3u);
  EXPECT_EQ(b_->engine->total().esp_decrypted, 3u);
  EspUse use;
  ASSERT_TRUE(a_->engine->sa_usage(kSpiAtoB, kCoreB, use));
  EXPECT_EQ(use.packets, 3u);
  ASSERT_TRUE(b_->engine->sa_usage(kSpiAtoB, kCoreB, use));
  EXPECT_EQ(use.packets, 3u);
  EXPECT_FALSE(b_->engine->sa_usage(0x1234, kCoreB, use));
}

TEST_F(EngineEsp, EncryptedAtOneGatewayDecryptedAtTheOtherByteForByte) {
  round_trips_three_sizes();
}

// The ESP stage writes the trailer behind the packet and decrypts in place: on mbufs packed
// back to back, a neighbour's bytes are a few lines away.
TEST_F(EngineEspPacked, EncryptedAtOneGatewayDecryptedAtTheOtherByteForByte) {
  ASSERT_NE(a_->engine->pool()->flags & RTE_MEMPOOL_F_NO_IOVA_CONTIG, 0u);
  round_trips_three_sizes();
}

// Tunnel traffic mixed with plain traffic in the same bursts: the ESP stage encrypts a window's
// tunnel frames together, and every one leaves with its own sequence number and arrives intact;
// the plain ones are not held up.
TEST_F(EngineEsp, BurstsOfTunnelAndPlainTrafficAllArrive) {
  install_sas();
  constexpr uint16_t kEach = 40;
  for (uint16_t i = 1; i <= kEach; ++i) {
    a_->send(Port::kAccess, uplink_to(kThingB, i, 100 + i));
    a_->send(Port::kAccess, uplink_frame(0, 9000, static_cast<uint16_t>(1000 + i)));
  }
  const auto out = a_->received(Port::kCore, 2 * kEach);
  ASSERT_EQ(out.size(), 2u * kEach);
  std::vector<bool> seq_seen(kEach + 1, false);
  size_t plain = 0;
  for (const Bytes& f : out) {
    // A's core port speaks VLAN 7 for the network's plain traffic, untagged ESP to the peer.
    if (load_be16(f.data() + 12) == kEtherTypeVlan) {
      ++plain;
      continue;
    }
    ASSERT_EQ(f[14 + 9], kProtoEsp);
    const uint32_t seq = load_be32(f.data() + 38);
    ASSERT_GE(seq, 1u);
    ASSERT_LE(seq, kEach);
    EXPECT_FALSE(seq_seen[seq]) << "sequence number " << seq << " twice";
    seq_seen[seq] = true;
    b_->send(Port::kCore, f);
  }
  EXPECT_EQ(plain, kEach);
  const auto delivered = b_->received(Port::kAccess, kEach);
  ASSERT_EQ(delivered.size(), kEach);
  std::vector<bool> id_seen(kEach + 1, false);
  for (const Bytes& g : delivered) {
    const uint16_t id = load_be16(g.data() + 50 + 4);
    ASSERT_GE(id, 1);
    ASSERT_LE(id, kEach);
    id_seen[id] = true;
    Ip4 h = testing::ip4(thing_addr(0), kThingB, 62);
    h.id = id;
    const Bytes want = testing::ipv4(h, kProtoUdp,
                                     testing::udp(h, 40000, 7000, Bytes(100 + id, 0x5a)));
    EXPECT_EQ(Bytes(g.begin() + 50, g.end()), want) << "id " << id;
  }
  EXPECT_EQ(std::count(id_seen.begin(), id_seen.end(), true), kEach);
  EXPECT_EQ(a_->engine->total().esp_encrypted, kEach);
}

TEST_F(EngineEsp, BadEspIsCountedByReasonAndNeverDelivered) {
  install_sas();
  const Bytes good = encrypted_at_a(1);
  ASSERT_FALSE(good.empty());
  b_->send(Port::kCore, good);
  ASSERT_EQ(b_->received(Port::kAccess, 1).size(), 1u);

  b_->send(Port::kCore, good);  // the same sequence number again
  Bytes tampered = encrypted_at_a(2);
  tampered[tampered.size() - 1] ^= 1;  // the ICV
  b_->send(Port::kCore, tampered);
  Bytes unknown = encrypted_at_a(3);
  unknown[34] ^= 0x10;  // another SPI
  b_->send(Port::kCore, unknown);
  Bytes truncated = encrypted_at_a(4);
  truncated.resize(14 + 20 + 8 + 4);
  truncated[14 + 2] = 0;
  truncated[14 + 3] = 20 + 8 + 4;  // a consistent IPv4 length, too short for ESP
  truncated[14 + 10] = truncated[14 + 11] = 0;
  const uint16_t sum = testing::ipv4_header_checksum(truncated.data() + 14);
  truncated[14 + 10] = static_cast<uint8_t>(sum >> 8);
  truncated[14 + 11] = static_cast<uint8_t>(sum);
  b_->send(Port::kCore, truncated);
  ASSERT_TRUE(b_->wait_rx(5));
  EXPECT_TRUE(b_->received(Port::kAccess, 1, std::chrono::milliseconds(200)).empty());
  EXPECT_EQ(drops_b(PipelineDrop::kEspReplay), 1u);
  EXPECT_EQ(drops_b(PipelineDrop::kEspAuthFailed), 1u);
  EXPECT_EQ(drops_b(PipelineDrop::kEspUnknownSpi), 1u);
  EXPECT_EQ(drops_b(PipelineDrop::kEspMalformed), 1u);
  EXPECT_EQ(b_->engine->total().esp_decrypted, 1u);

  // The genuine packets that were not delivered still are, later, inside the window.
  const Bytes late = encrypted_at_a(5);
  b_->send(Port::kCore, late);
  EXPECT_EQ(b_->received(Port::kAccess, 1).size(), 1u);
}

// ESP frames are decrypted a burst at a time, one call per SA. One burst at B mixing the two
// SAs of a rekey overlap, a repeat of a frame within the burst and a tampered ICV: every
// genuine frame is delivered once, in arrival order, and each bad one is counted by reason.
TEST_F(EngineEsp, OneBurstOfTwoSasWithARepeatAndABadIcv) {
  install_sas();
  constexpr uint32_t kSpiNew = 0xc0000003;
  const Bytes g1 = encrypted_at_a(1), g2 = encrypted_at_a(2);
  // A rekeys: its newest outbound SA carries the rest; B holds both inbound SAs.
  ASSERT_TRUE(a_->engine
                  ->publish_sad({sa(tunnel_a_.value, kSpiAtoB, false, kCoreA, kCoreB, 1),
                                 sa(tunnel_a_.value, kSpiNew, false, kCoreA, kCoreB, 3),
                                 sa(tunnel_a_.value, kSpiBtoA, true, kCoreB, kCoreA, 2)})
                  .ok());
  ASSERT_TRUE(b_->engine
                  ->publish_sad({sa(policy_b_.tunnel.value, kSpiBtoA, false, kCoreB, kCoreA, 2),
                                 sa(policy_b_.tunnel.value, kSpiAtoB, true, kCoreA, kCoreB, 1),
                                 sa(policy_b_.tunnel.value, kSpiNew, true, kCoreA, kCoreB, 3)})
                  .ok());
  const Bytes h1 = encrypted_at_a(11), h2 = encrypted_at_a(12), h3 = encrypted_at_a(13);
  ASSERT_EQ(load_be32(h1.data() + 34), kSpiNew);
  Bytes h2_bad = h2;
  h2_bad[h2_bad.size() - 1] ^= 1;

  // Held while B is stopped, so that its worker takes them in one receive burst.
  b_->engine->stop();
  for (const Bytes* f : std::initializer_list<const Bytes*>{&g1, &h1, &g2, &g1, &h2_bad, &h3}) {
    b_->send(Port::kCore, *f);
  }
  ASSERT_TRUE(b_->engine->start().ok());
  ASSERT_TRUE(b_->wait_rx(6));
  const auto out = b_->received(Port::kAccess, 4);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_TRUE(b_->received(Port::kAccess, 1, std::chrono::milliseconds(200)).empty());
  std::vector<uint16_t> ids;
  for (const Bytes& g : out) ids.push_back(load_be16(g.data() + 50 + 4));
  EXPECT_EQ(ids, (std::vector<uint16_t>{1, 11, 2, 13}));
  EXPECT_EQ(drops_b(PipelineDrop::kEspReplay), 1u);
  EXPECT_EQ(drops_b(PipelineDrop::kEspAuthFailed), 1u);
  EXPECT_EQ(b_->engine->total().esp_decrypted, 4u);
}

// A peer with the right keys that sends traffic from outside the tunnel's remote subnets is
// refused after decryption (RFC 4301 §5.2).
TEST_F(EngineEsp, DecryptedTrafficOutsideTheTrafficSelectorsIsDropped) {
  install_sas();
  auto crypto = EspCrypto::create();
  ASSERT_TRUE(crypto.ok()) << crypto.error().message();
  auto rogue = EspSa::create(**crypto, sa(1, kSpiAtoB, false, kCoreA, kCoreB, 1));
  ASSERT_TRUE(rogue.ok());
  const Ip4 h = testing::ip4(ip("172.31.0.1"), kThingB);
  const Bytes inner = testing::ipv4(h, kProtoUdp, testing::udp(h, 1, 2, {1, 2}));
  rte_mbuf* m = rte_pktmbuf_alloc(b_->engine->pool());
  std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(inner.size())), inner.data(),
              inner.size());
  rte_mbuf* mb[1] = {m};
  ASSERT_EQ((*rogue)->encrypt(mb, 1, 0, 0), 1);
  const auto* p = rte_pktmbuf_mtod(mb[0], const uint8_t*);
  const Bytes esp(p, p + mb[0]->pkt_len);
  rte_pktmbuf_free(mb[0]);
  b_->send(Port::kCore, testing::ethernet(kCoreMacB, kCoreMac, kEtherTypeIpv4, esp));
  ASSERT_TRUE(b_->wait_rx(1));
  EXPECT_TRUE(b_->received(Port::kAccess, 1, std::chrono::milliseconds(200)).empty());
  EXPECT_EQ(drops_b(PipelineDrop::kEspPolicy), 1u);
}

// A republished SAD (a rekey adds SAs) keeps the installed SA objects: sequence numbers go on,
// and the newest outbound SA of the tunnel carries the traffic.
TEST_F(EngineEsp, RepublishingKeepsSequenceNumbersAndARekeySwitchesToTheNewSa) {
  install_sas();
  EXPECT_EQ(load_be32(encrypted_at_a(1).data() + 38), 1u);
  EXPECT_EQ(load_be32(encrypted_at_a(2).data() + 38), 2u);
  ASSERT_TRUE(a_->engine
                  ->publish_sad({sa(tunnel_a_.value, kSpiAtoB, false, kCoreA, kCoreB, 1),
                                 sa(tunnel_a_.value, kSpiBtoA, true, kCoreB, kCoreA, 2)})
                  .ok());
  EXPECT_EQ(load_be32(encrypted_at_a(3).data() + 38), 3u);
  ASSERT_TRUE(a_->engine
                  ->publish_sad({sa(tunnel_a_.value, kSpiAtoB, false, kCoreA, kCoreB, 1),
                                 sa(tunnel_a_.value, kSpiBtoA, true, kCoreB, kCoreA, 2),
                                 sa(tunnel_a_.value, 0xc0000003, false, kCoreA, kCoreB, 3)})
                  .ok());
  const Bytes after = encrypted_at_a(4);
  EXPECT_EQ(load_be32(after.data() + 34), 0xc0000003u);
  EXPECT_EQ(load_be32(after.data() + 38), 1u);
  // An SA the fast path cannot run is refused by name, and the previous SAD stays.
  EspSaSpec bad = sa(tunnel_a_.value, 0xc0000004, false, kCoreA, kCoreB, 4);
  bad.enc_alg = 3;
  const core::Status st = a_->engine->publish_sad({bad});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find(std::to_string(0xc0000004u)), std::string::npos);
  EXPECT_EQ(load_be32(encrypted_at_a(5).data() + 34), 0xc0000003u);
}

}  // namespace
}  // namespace simcore::dp::enginetest
