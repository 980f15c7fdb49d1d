// Rewrites: exact bytes against frames built from scratch, and incremental checksums against
// a from-scratch recomputation over random packets.
#include "dataplane/packet/rewrite.h"

#include <gtest/gtest.h>

#include <random>

#include "dataplane/packet/wire.h"
#include "dataplane/testing/frame_builder.h"

namespace simcore::dp {
namespace {

using testing::Bytes;
using testing::Ip4;

const Mac kMacA{2, 0, 0, 0, 0, 0xa};
const Mac kMacB{2, 0, 0, 0, 0, 0xb};
const uint32_t kUe = testing::ip("10.0.0.2");
const uint32_t kServer = testing::ip("198.51.100.7");
const uint32_t kGw = testing::ip("192.0.2.1");
const uint32_t kEnb = testing::ip("192.0.2.10");

PacketView parse(const Frame& f, ParseMode mode = ParseMode::kAccess) {
  PacketView v;
  EXPECT_EQ(parse_frame(f.data(), f.data_len, mode, v), ParseStatus::kOk);
  return v;
}

// A random IPv4 packet: TCP, UDP (checksum on or 0) or ICMP, random options and payload.
Bytes random_packet(std::mt19937_64& rng) {
  Ip4 ip = testing::ip4(static_cast<uint32_t>(rng()), static_cast<uint32_t>(rng()),
                        static_cast<uint8_t>(2 + rng() % 254));
  ip.tos = static_cast<uint8_t>(rng());
  ip.id = static_cast<uint16_t>(rng());
  ip.frag = rng() % 2 ? 0x4000 : 0;
  ip.options.assign((rng() % 4) * 4, 1);
  Bytes payload(rng() % 40);
  for (uint8_t& b : payload) b = static_cast<uint8_t>(rng());
  const auto sport = static_cast<uint16_t>(rng());
  const auto dport = static_cast<uint16_t>(rng());
  switch (rng() % 4) {
    case 0: return testing::ipv4(ip, kProtoTcp, testing::tcp(ip, sport, dport, payload));
    case 1: return testing::ipv4(ip, kProtoUdp, testing::udp(ip, sport, dport, payload, true));
    case 2: return testing::ipv4(ip, kProtoUdp, testing::udp(ip, sport, dport, payload, false));
    default: return testing::ipv4(ip, kProtoIcmp, testing::icmp_echo(sport, dport, payload));
  }
}

TEST(Rewrite, NatChecksumsEqualARecomputationFromScratch) {
  const uint64_t seed = 20261126;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  size_t udp_zero = 0, udp_ffff = 0;
  for (int i = 0; i < 100000; ++i) {
    Bytes pkt = random_packet(rng);
    uint8_t* ip = pkt.data();
    const uint8_t proto = ip[9];
    uint8_t* l4 = ip + (ip[0] & 0x0f) * 4;
    const bool udp_without_sum = proto == kProtoUdp && load_be16(l4 + 6) == 0;
    const auto addr = static_cast<uint32_t>(rng());
    const auto port = static_cast<uint16_t>(rng());
    const bool src = rng() % 2;
    if (src) {
      nat_rewrite_src(ip, l4, addr, port);
    } else {
      nat_rewrite_dst(ip, l4, addr, port);
    }
    ASSERT_EQ(load_be32(ip + (src ? 12 : 16)), addr) << "packet " << i;
    ASSERT_EQ(load_be16(ip + 10), testing::ipv4_header_checksum(ip)) << "packet " << i;
    if (proto == kProtoIcmp) continue;
    ASSERT_EQ(load_be16(l4 + (src ? 0 : 2)), port) << "packet " << i;
    const uint16_t sum = load_be16(l4 + (proto == kProtoTcp ? 16 : 6));
    if (udp_without_sum) {
      ASSERT_EQ(sum, 0) << "a UDP checksum of 0 must stay 0, packet " << i;
      ++udp_zero;
    } else {
      ASSERT_EQ(sum, testing::l4_checksum(ip)) << "packet " << i << "\n" << testing::hex(pkt);
      udp_ffff += proto == kProtoUdp && sum == 0xffff;
    }
  }
  EXPECT_GT(udp_zero, 10000u);
}

TEST(Rewrite, UdpChecksumThatBecomesZeroIsSentAsAllOnes) {
  // Search a rewrite whose true checksum is 0: it must be written 0xffff, not "no checksum".
  std::mt19937_64 rng(7);
  const Ip4 ip = testing::ip4(kUe, kServer);
  Bytes pkt = testing::ipv4(ip, kProtoUdp, testing::udp(ip, 1000, 2000, {1, 2, 3}));
  for (uint32_t a = 0;; ++a) {
    Bytes p = pkt;
    nat_rewrite_src(p.data(), p.data() + 20, a, 1000);
    if (testing::l4_checksum(p.data()) == 0xffff) {
      EXPECT_EQ(load_be16(p.data() + 26), 0xffff) << "address " << a;
      break;
    }
    ASSERT_LT(a, 1u << 20) << "no address found";
  }
}

TEST(Rewrite, TtlDecrementKeepsTheHeaderChecksum) {
  std::mt19937_64 rng(11);
  for (int i = 0; i < 20000; ++i) {
    Bytes pkt = random_packet(rng);
    const uint8_t ttl = pkt[8];
    ttl_decrement(pkt.data());
    ASSERT_EQ(pkt[8], ttl - 1);
    ASSERT_EQ(load_be16(pkt.data() + 10), testing::ipv4_header_checksum(pkt.data()));
  }
}

TEST(Rewrite, EncapsulationIsExactlyTheGPduBuiltFromScratch) {
  Ip4 inner_ip = testing::ip4(kServer, kUe);
  inner_ip.tos = 0xb9;  // DSCP 46 (EF), ECN 01
  const Bytes inner =
      testing::ipv4(inner_ip, kProtoTcp, testing::tcp(inner_ip, 443, 50000, {9, 9}));
  testing::OwnedFrame f(inner);
  ASSERT_TRUE(gtpu_encap(f.frame, GtpuTunnel{kMacA, kMacB, kGw, kEnb, 0xdeadbeef}));
  Ip4 outer = testing::ip4(kGw, kEnb);
  outer.tos = 0xb8;
  outer.frag = 0x4000;
  const Bytes want = testing::ethernet(
      kMacA, kMacB, kEtherTypeIpv4,
      testing::ipv4(outer, kProtoUdp,
                    testing::udp(outer, kGtpuPort, kGtpuPort,
                                 testing::gtpu(kGtpuMsgGpdu, 0xdeadbeef, inner), false)));
  EXPECT_EQ(f.out(), want) << "got\n" << testing::hex(f.out()) << "\nwant\n" << testing::hex(want);
}

TEST(Rewrite, UdpEncapsulationIsExactlyTheDatagramBuiltFromScratch) {
  const Bytes payload{0x48, 0x21, 0x00, 0x04, 1, 2, 3};  // odd length: the checksum pads
  testing::OwnedFrame f(payload);
  ASSERT_TRUE(udp_encap(f.frame, UdpHeaders{kMacA, kMacB, kGw, kEnb, 2123, 40000}));
  Ip4 ip = testing::ip4(kGw, kEnb);
  ip.frag = 0x4000;
  const Bytes want =
      testing::ethernet(kMacA, kMacB, kEtherTypeIpv4,
                        testing::ipv4(ip, kProtoUdp, testing::udp(ip, 2123, 40000, payload, true)));
  EXPECT_EQ(f.out(), want) << "got\n" << testing::hex(f.out()) << "\nwant\n" << testing::hex(want);

  testing::OwnedFrame tight(payload, kUdpEncapLen - 1);
  EXPECT_FALSE(udp_encap(tight.frame, UdpHeaders{kMacA, kMacB, kGw, kEnb, 2123, 2123}));
  EXPECT_EQ(tight.out(), payload);
}

TEST(Rewrite, EncapsulationNeedsHeadroom) {
  const Ip4 ip = testing::ip4(kServer, kUe);
  const Bytes inner = testing::ipv4(ip, kProtoUdp, testing::udp(ip, 1, 2, {}));
  testing::OwnedFrame f(inner, kEthHeaderLen + kGtpuEncapLen - 1);
  EXPECT_FALSE(gtpu_encap(f.frame, GtpuTunnel{kMacA, kMacB, kGw, kEnb, 1}));
  EXPECT_EQ(f.out(), inner);
}

TEST(Rewrite, DecapsulationLeavesTheInnerPacketWithoutPadding) {
  const Ip4 ip = testing::ip4(kUe, kServer);
  const Bytes inner = testing::ipv4(ip, kProtoUdp, testing::udp(ip, 1, 2, {}));
  testing::GtpuOpts o;
  o.ext = {{0x85, {0x00, 0x01}}};
  const Ip4 outer = testing::ip4(kEnb, kGw);
  Bytes frame = testing::ethernet(
      kMacA, kMacB, kEtherTypeIpv4,
      testing::ipv4(outer, kProtoUdp,
                    testing::udp(outer, kGtpuPort, kGtpuPort,
                                 testing::gtpu(kGtpuMsgGpdu, 5, inner, o), false)),
      {{kEtherTypeVlan, 3}});
  frame.resize(frame.size() + 5);
  testing::OwnedFrame f(frame);
  const PacketView v = parse(f.frame);
  ASSERT_TRUE(gtpu_decap(f.frame, v));
  EXPECT_EQ(f.out(), inner);
}

TEST(Rewrite, VlanPushSetPop) {
  const Ip4 ip = testing::ip4(kUe, kServer);
  const Bytes l3 = testing::ipv4(ip, kProtoUdp, testing::udp(ip, 1, 2, {}));
  const Bytes untagged = testing::ethernet(kMacA, kMacB, kEtherTypeIpv4, l3);
  testing::OwnedFrame f(untagged);
  ASSERT_TRUE(vlan_push(f.frame, kEtherTypeVlan, 0x6005));
  EXPECT_EQ(f.out(), testing::ethernet(kMacA, kMacB, kEtherTypeIpv4, l3, {{0x8100, 0x6005}}));
  ASSERT_TRUE(vlan_push(f.frame, kEtherTypeQinQ, 100));
  EXPECT_EQ(f.out(),
            testing::ethernet(kMacA, kMacB, kEtherTypeIpv4, l3, {{0x88a8, 100}, {0x8100, 0x6005}}));
  ASSERT_TRUE(vlan_set_vid(f.frame, 200));
  EXPECT_EQ(f.out(),
            testing::ethernet(kMacA, kMacB, kEtherTypeIpv4, l3, {{0x88a8, 200}, {0x8100, 0x6005}}));
  ASSERT_TRUE(vlan_pop(f.frame));
  ASSERT_TRUE(vlan_pop(f.frame));
  EXPECT_EQ(f.out(), untagged);
  EXPECT_FALSE(vlan_pop(f.frame));
  ASSERT_TRUE(vlan_set_vid(f.frame, 42));  // none to set: one is pushed
  EXPECT_EQ(f.out(), testing::ethernet(kMacA, kMacB, kEtherTypeIpv4, l3, {{0x8100, 42}}));
}

TEST(Rewrite, EthernetPrependWithAndWithoutTag) {
  const Ip4 ip = testing::ip4(kUe, kServer);
  const Bytes l3 = testing::ipv4(ip, kProtoIcmp, testing::icmp_echo(1, 2, {}));
  testing::OwnedFrame a(l3);
  ASSERT_TRUE(eth_prepend(a.frame, kMacA, kMacB, 0));
  EXPECT_EQ(a.out(), testing::ethernet(kMacA, kMacB, kEtherTypeIpv4, l3));
  testing::OwnedFrame b(l3);
  ASSERT_TRUE(eth_prepend(b.frame, kMacA, kMacB, 4094));
  EXPECT_EQ(b.out(), testing::ethernet(kMacA, kMacB, kEtherTypeIpv4, l3, {{0x8100, 4094}}));
}

TEST(Rewrite, EchoResponseKeepsTheSequenceNumberAndCarriesRecovery) {
  testing::GtpuOpts req;
  req.seq = 0x4242;
  const Ip4 in = testing::ip4(kEnb, kGw);
  const Bytes request = testing::ethernet(
      kMacB, kMacA, kEtherTypeIpv4,
      testing::ipv4(in, kProtoUdp,
                    testing::udp(in, 33000, kGtpuPort,
                                 testing::gtpu(kGtpuMsgEchoRequest, 0, {}, req), false)));
  testing::OwnedFrame f(request);
  PacketView v;
  ASSERT_EQ(parse_frame(f.frame.data(), f.frame.data_len, ParseMode::kAccess, v),
            ParseStatus::kGtpuEchoRequest);
  ASSERT_TRUE(gtpu_echo_response(f.frame, v, kGw));
  Ip4 out = testing::ip4(kGw, kEnb);
  out.frag = 0x4000;
  const Bytes want = testing::ethernet(
      kMacA, kMacB, kEtherTypeIpv4,
      testing::ipv4(
          out, kProtoUdp,
          testing::udp(out, kGtpuPort, 33000,
                       testing::gtpu(kGtpuMsgEchoResponse, 0, {kGtpuIeRecovery, 0}, req), false)));
  EXPECT_EQ(f.out(), want) << "got\n" << testing::hex(f.out()) << "\nwant\n" << testing::hex(want);
}

}  // namespace
}  // namespace simcore::dp
