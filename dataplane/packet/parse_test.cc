// The parser: hand-built frames in, exact view fields or exact status out. One row per
// malformation, outermost header first.
#include "dataplane/packet/parse.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "dataplane/packet/wire.h"
#include "dataplane/testing/frame_builder.h"

namespace simcore::dp {
namespace {

using testing::Bytes;
using testing::GtpuOpts;
using testing::Ip4;

const Mac kMacA{2, 0, 0, 0, 0, 0xa};
const Mac kMacB{2, 0, 0, 0, 0, 0xb};
const uint32_t kEnb = testing::ip("192.0.2.10");
const uint32_t kGw = testing::ip("192.0.2.1");
const uint32_t kUe = testing::ip("10.0.0.2");
const uint32_t kServer = testing::ip("198.51.100.7");
constexpr uint32_t kTeid = 0x00abcdef;
const Ip4 kOuter = testing::ip4(kEnb, kGw);
const Ip4 kInner = testing::ip4(kUe, kServer);

Bytes eth_ip(const Bytes& ip) { return testing::ethernet(kMacA, kMacB, kEtherTypeIpv4, ip); }
Bytes outer_udp(const Bytes& udp_payload, uint16_t dport = kGtpuPort) {
  return eth_ip(
      testing::ipv4(kOuter, kProtoUdp, testing::udp(kOuter, kGtpuPort, dport, udp_payload, false)));
}
Bytes gpdu(const Bytes& inner, const GtpuOpts& opts = {}) {
  return outer_udp(testing::gtpu(kGtpuMsgGpdu, kTeid, inner, opts));
}
Bytes inner_udp(const Ip4& ip = kInner) {
  return testing::ipv4(ip, kProtoUdp, testing::udp(ip, 40000, 53, {1, 2, 3, 4}));
}

// Returns `b` with b[at] = value, then the IPv4 header checksum at `ip_off` recomputed.
Bytes with_byte(Bytes b, size_t at, uint8_t value, size_t ip_off = 14) {
  b[at] = value;
  b[ip_off + 10] = b[ip_off + 11] = 0;
  const uint16_t c = testing::ipv4_header_checksum(b.data() + ip_off);
  b[ip_off + 10] = static_cast<uint8_t>(c >> 8);
  b[ip_off + 11] = static_cast<uint8_t>(c);
  return b;
}
Bytes set16(Bytes b, size_t at, uint16_t value, size_t ip_off = 14) {
  b[at + 1] = static_cast<uint8_t>(value);
  return with_byte(std::move(b), at, static_cast<uint8_t>(value >> 8), ip_off);
}

// Offsets in an untagged G-PDU frame without optional GTP-U fields.
constexpr size_t kUdpAt = 34, kGtpAt = 42, kInnerAt = 50;

struct StatusCase {
  const char* name;
  Bytes frame;
  ParseStatus want;
  ParseMode mode = ParseMode::kAccess;
};

std::vector<StatusCase> status_cases() {
  const Bytes good = gpdu(inner_udp());
  Ip4 frag_first = kOuter;
  frag_first.frag = 0x2000;
  Ip4 frag_later = kOuter;
  frag_later.frag = 0x0010;
  Ip4 inner_frag = kInner;
  inner_frag.frag = 0x2000;
  Ip4 with_options = kOuter;
  with_options.options = {1, 1, 1, 0};  // NOP NOP NOP EOL
  const Bytes udp8 = testing::udp(kOuter, 1, 2, {});
  const Bytes tcp = testing::tcp(kOuter, 1000, 80, {});
  GtpuOpts ext;
  ext.ext = {{0x85, {0x00, 0x09}}};  // PDU Session Container, 1 unit
  Bytes ext_len0 = gpdu(inner_udp(), ext);
  ext_len0[kGtpAt + 12] = 0;  // the extension header's length octet
  Bytes ext_too_long = gpdu(inner_udp(), ext);
  ext_too_long[kGtpAt + 12] = 200;
  GtpuOpts seq_only;
  seq_only.seq = 7;
  Bytes s_flag_no_room = outer_udp(testing::gtpu(kGtpuMsgEchoRequest, 0, {}));
  s_flag_no_room[kGtpAt] |= kGtpuFlagS;  // says 4 optional octets follow; none do
  Bytes inner_bad_sum = gpdu(inner_udp());
  inner_bad_sum[kInnerAt + 10] ^= 0xff;

  return {
      {"frame shorter than an Ethernet header", Bytes(13, 0), ParseStatus::kMalformedEthernet},
      {"802.1Q tag cut short", testing::ethernet(kMacA, kMacB, kEtherTypeVlan, {0x00}),
       ParseStatus::kMalformedEthernet},
      {"three VLAN tags",
       testing::ethernet(kMacA, kMacB, kEtherTypeIpv4, inner_udp(),
                         {{kEtherTypeQinQ, 1}, {kEtherTypeVlan, 2}, {kEtherTypeVlan, 3}}),
       ParseStatus::kUnsupportedVlanDepth},
      {"ARP with a zero hardware type", testing::ethernet(kMacA, kMacB, 0x0806, Bytes(28, 0)),
       ParseStatus::kMalformedArp},
      {"ARP cut short",
       [] {
         Bytes b = testing::ethernet(kMacA, kMacB, 0x0806, testing::arp(1, kMacA, 1, Mac{}, 2));
         b.pop_back();
         return b;
       }(),
       ParseStatus::kMalformedArp},
      {"ARP request", testing::ethernet(kMacA, kMacB, 0x0806, testing::arp(1, kMacA, 1, Mac{}, 2)),
       ParseStatus::kArp},
      {"outer IPv6", testing::ethernet(kMacA, kMacB, kEtherTypeIpv6, testing::ipv6_udp({})),
       ParseStatus::kUnsupportedEthertype},
      {"IPv4 header cut at 19 bytes", Bytes(good.begin(), good.begin() + 14 + 19),
       ParseStatus::kMalformedIpv4},
      {"IPv4 version 5", with_byte(good, 14, 0x55), ParseStatus::kMalformedIpv4},
      {"IPv4 IHL 4", with_byte(good, 14, 0x44), ParseStatus::kMalformedIpv4},
      {"IPv4 IHL 15 beyond total length",
       [&] {
         Bytes b = eth_ip(testing::ipv4(kOuter, 50, Bytes(20, 0)));
         b[14] = 0x4f;  // a checksum over 60 bytes would read past the frame: IHL fails first
         return b;
       }(),
       ParseStatus::kMalformedIpv4},
      {"IPv4 total length beyond the frame", set16(good, 16, uint16_t(good.size() - 14 + 1)),
       ParseStatus::kMalformedIpv4},
      {"IPv4 total length below the header", set16(good, 16, 19), ParseStatus::kMalformedIpv4},
      {"IPv4 header checksum wrong",
       [&] {
         Bytes b = good;
         b[24] ^= 0x01;
         return b;
       }(),
       ParseStatus::kIpv4BadChecksum},
      {"IPv4 options are skipped", eth_ip(testing::ipv4(with_options, kProtoUdp, udp8)),
       ParseStatus::kOk},
      {"first fragment", eth_ip(testing::ipv4(frag_first, kProtoUdp, udp8)),
       ParseStatus::kIpv4Fragment},
      {"non-first fragment", eth_ip(testing::ipv4(frag_later, kProtoUdp, Bytes(3, 0))),
       ParseStatus::kIpv4Fragment},
      {"UDP header cut at 4 bytes", eth_ip(testing::ipv4(kOuter, kProtoUdp, Bytes(4, 0))),
       ParseStatus::kMalformedUdp},
      {"UDP length beyond IPv4", set16(eth_ip(testing::ipv4(kOuter, kProtoUdp, udp8)), 38, 9),
       ParseStatus::kMalformedUdp},
      {"UDP length below 8", set16(eth_ip(testing::ipv4(kOuter, kProtoUdp, udp8)), 38, 7),
       ParseStatus::kMalformedUdp},
      {"TCP header cut at 10 bytes", eth_ip(testing::ipv4(kOuter, kProtoTcp, Bytes(10, 0))),
       ParseStatus::kMalformedTcp},
      {"TCP data offset 4", with_byte(eth_ip(testing::ipv4(kOuter, kProtoTcp, tcp)), 46, 0x40),
       ParseStatus::kMalformedTcp},
      {"TCP data offset beyond IPv4",
       with_byte(eth_ip(testing::ipv4(kOuter, kProtoTcp, tcp)), 46, 0x60),
       ParseStatus::kMalformedTcp},
      {"ICMP shorter than 8 bytes", eth_ip(testing::ipv4(kOuter, kProtoIcmp, {8, 0, 0, 0})),
       ParseStatus::kMalformedIcmp},
      {"GTP-U header cut at 6 bytes", outer_udp(Bytes{0x30, 0xff, 0, 0, 0, 1}),
       ParseStatus::kMalformedGtpu},
      {"GTP version 2 on port 2152",
       [&] {
         Bytes b = good;
         b[kGtpAt] = 0x48;
         return b;
       }(),
       ParseStatus::kMalformedGtpu},
      {"GTP' (PT 0)",
       [&] {
         Bytes b = good;
         b[kGtpAt] = 0x20;
         return b;
       }(),
       ParseStatus::kMalformedGtpu},
      {"GTP-U length beyond UDP",
       [&] {
         Bytes b = good;
         b[kGtpAt + 3] += 1;
         return b;
       }(),
       ParseStatus::kMalformedGtpu},
      {"GTP-U length short of UDP",
       [&] {
         Bytes b = good;
         b[kGtpAt + 3] -= 1;
         return b;
       }(),
       ParseStatus::kMalformedGtpu},
      {"GTP-U S flag without the optional octets", s_flag_no_room, ParseStatus::kMalformedGtpu},
      {"GTP-U extension header of length 0", ext_len0, ParseStatus::kMalformedGtpu},
      {"GTP-U extension header beyond the packet", ext_too_long, ParseStatus::kMalformedGtpu},
      {"GTP-U unknown message type 3", outer_udp(testing::gtpu(3, kTeid, {})),
       ParseStatus::kGtpuUnknownMessage},
      {"GTP-U Echo Request", outer_udp(testing::gtpu(kGtpuMsgEchoRequest, 0, {}, seq_only)),
       ParseStatus::kGtpuEchoRequest},
      {"GTP-U Echo Response",
       outer_udp(testing::gtpu(kGtpuMsgEchoResponse, 0, {kGtpuIeRecovery, 0}, seq_only)),
       ParseStatus::kGtpuEchoResponse},
      {"GTP-U Error Indication", outer_udp(testing::gtpu(kGtpuMsgErrorIndication, 0, {})),
       ParseStatus::kGtpuErrorIndication},
      {"GTP-U End Marker", outer_udp(testing::gtpu(kGtpuMsgEndMarker, kTeid, {})),
       ParseStatus::kGtpuEndMarker},
      {"empty G-PDU", gpdu({}), ParseStatus::kMalformedInnerIp},
      {"G-PDU payload of IP version 5", gpdu(Bytes(20, 0x50)), ParseStatus::kMalformedInnerIp},
      {"inner IPv6", gpdu(testing::ipv6_udp(Bytes(8, 0))), ParseStatus::kUnsupportedInnerIpv6},
      {"inner IPv6 header cut", gpdu(Bytes{0x60, 0, 0, 0}), ParseStatus::kMalformedInnerIp},
      {"inner IPv4 total length beyond the G-PDU", set16(good, kInnerAt + 2, 200, kInnerAt),
       ParseStatus::kMalformedInnerIp},
      {"inner IPv4 header checksum wrong", inner_bad_sum, ParseStatus::kInnerIpv4BadChecksum},
      {"inner IPv4 fragment", gpdu(testing::ipv4(inner_frag, kProtoUdp, Bytes(8, 0))),
       ParseStatus::kInnerIpv4Fragment},
      {"inner UDP cut", gpdu(testing::ipv4(kInner, kProtoUdp, Bytes(5, 0))),
       ParseStatus::kMalformedInnerL4},
      {"inner TCP data offset 2",
       with_byte(gpdu(testing::ipv4(kInner, kProtoTcp, testing::tcp(kInner, 1, 2, {}))),
                 kInnerAt + 20 + 12, 0x20, kInnerAt),
       ParseStatus::kMalformedInnerL4},
      {"inner ICMP cut", gpdu(testing::ipv4(kInner, kProtoIcmp, Bytes(7, 0))),
       ParseStatus::kMalformedInnerL4},
      {"core port: UDP 2152 is not decoded", outer_udp(Bytes{0xde, 0xad}), ParseStatus::kOk,
       ParseMode::kCore},
      {"access port: UDP from 2152 to another port is not GTP-U",
       outer_udp(Bytes{0xde, 0xad}, kGtpcPort), ParseStatus::kOk},
      {"TTL 0 is the pipeline's business, not a malformation",
       gpdu(inner_udp(testing::ip4(kUe, kServer, 0))), ParseStatus::kOk},
  };
}

TEST(Parse, EveryMalformationHasItsStatus) {
  for (const StatusCase& c : status_cases()) {
    SCOPED_TRACE(c.name);
    // An exact-size heap copy, so a read past the end is an ASan error.
    std::vector<uint8_t> exact(c.frame);
    PacketView v;
    const ParseStatus got =
        parse_frame(exact.data(), static_cast<uint32_t>(exact.size()), c.mode, v);
    EXPECT_STREQ(parse_status_name(got), parse_status_name(c.want)) << testing::hex(c.frame);
  }
}

TEST(Parse, EveryStatusHasANameAndDescription) {
  for (size_t i = 0; i < kParseStatusCount; ++i) {
    const auto s = static_cast<ParseStatus>(i);
    EXPECT_STRNE(parse_status_name(s), "?");
    EXPECT_STRNE(parse_status_description(s), "?");
  }
}

PacketView parse_ok(const Bytes& b, ParseMode mode = ParseMode::kAccess) {
  PacketView v;
  EXPECT_EQ(parse_frame(b.data(), static_cast<uint32_t>(b.size()), mode, v), ParseStatus::kOk);
  return v;
}

TEST(Parse, GpduWithExtensionHeadersAndQinQ) {
  GtpuOpts o;
  o.seq = 0x1234;
  o.npdu = 0x56;
  o.ext = {{0x85, {0x00, 0x09}}, {0x40, {0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}}};
  Ip4 inner = kInner;
  inner.ttl = 1;
  inner.tos = 0xb8;
  const Bytes payload = testing::gtpu(kGtpuMsgGpdu, kTeid, inner_udp(inner), o);
  const Bytes frame = testing::ethernet(
      kMacA, kMacB, kEtherTypeIpv4,
      testing::ipv4(kOuter, kProtoUdp, testing::udp(kOuter, 5000, kGtpuPort, payload, false)),
      {{kEtherTypeQinQ, 0x2064}, {kEtherTypeVlan, 0x0007}});
  const PacketView v = parse_ok(frame);
  EXPECT_EQ(v.frame_len, frame.size());
  EXPECT_EQ(v.vlan_count, 2);
  EXPECT_EQ(v.vlan_tpid[0], kEtherTypeQinQ);
  EXPECT_EQ(v.vlan_tci[0], 0x2064);
  EXPECT_EQ(v.vlan_tpid[1], kEtherTypeVlan);
  EXPECT_EQ(v.vlan_tci[1], 7);
  EXPECT_EQ(v.outer.off, 22);
  EXPECT_EQ(v.outer.src, kEnb);
  EXPECT_EQ(v.outer.dst, kGw);
  EXPECT_EQ(v.outer.sport, 5000);
  EXPECT_EQ(v.outer.dport, kGtpuPort);
  EXPECT_EQ(v.outer.l4_off, 42);
  ASSERT_TRUE(v.has_gtpu);
  EXPECT_EQ(v.gtpu.off, 50);
  EXPECT_EQ(v.gtpu.flags, 0x37);
  EXPECT_EQ(v.gtpu.type, kGtpuMsgGpdu);
  EXPECT_EQ(v.gtpu.teid, kTeid);
  EXPECT_EQ(v.gtpu.seq, 0x1234);
  EXPECT_EQ(v.gtpu.npdu, 0x56);
  EXPECT_EQ(v.gtpu.ext_count, 2);
  EXPECT_EQ(v.gtpu.payload_off, 50 + 8 + 4 + 4 + 8);
  EXPECT_EQ(v.gtpu.length, 4 + 4 + 8 + inner_udp().size());
  EXPECT_EQ(v.inner_version, 4);
  EXPECT_EQ(v.inner.off, v.gtpu.payload_off);
  EXPECT_EQ(v.inner.src, kUe);
  EXPECT_EQ(v.inner.dst, kServer);
  EXPECT_EQ(v.inner.proto, kProtoUdp);
  EXPECT_EQ(v.inner.ttl, 1);
  EXPECT_EQ(v.inner.tos, 0xb8);
  EXPECT_EQ(v.inner.sport, 40000);
  EXPECT_EQ(v.inner.dport, 53);
  EXPECT_EQ(v.inner.total_len, inner_udp().size());
  EXPECT_EQ(v.inner.l4_off, v.inner.off + 20);
}

TEST(Parse, PlainTcpWithOptionsAndPaddingOnTheCorePort) {
  Ip4 ip = kInner;
  ip.options = {0x94, 0x04, 0, 0};  // Router Alert
  Bytes frame = testing::ethernet(kMacA, kMacB, kEtherTypeIpv4,
                                  testing::ipv4(ip, kProtoTcp, testing::tcp(ip, 443, 50000, {})),
                                  {{kEtherTypeVlan, 42}});
  frame.resize(frame.size() + 6);  // Ethernet padding after the IPv4 packet
  const PacketView v = parse_ok(frame, ParseMode::kCore);
  EXPECT_EQ(v.vlan_count, 1);
  EXPECT_EQ(v.outer.off, 18);
  EXPECT_EQ(v.outer.hdr_len, 24);
  EXPECT_EQ(v.outer.total_len, 24 + 20);
  EXPECT_EQ(v.outer.l4_off, 18 + 24);
  EXPECT_EQ(v.outer.sport, 443);
  EXPECT_EQ(v.outer.dport, 50000);
  EXPECT_FALSE(v.has_gtpu);
}

TEST(Parse, IcmpAndOtherProtocols) {
  const PacketView icmp =
      parse_ok(eth_ip(testing::ipv4(kInner, kProtoIcmp, testing::icmp_echo(9, 1, {}))));
  EXPECT_TRUE(icmp.outer.has_l4);
  EXPECT_EQ(icmp.outer.icmp_type, 8);
  EXPECT_EQ(icmp.outer.sport, 0);
  const PacketView gre = parse_ok(eth_ip(testing::ipv4(kInner, 47, Bytes(4, 0))));
  EXPECT_EQ(gre.outer.proto, 47);
  EXPECT_FALSE(gre.outer.has_l4);
}

TEST(Parse, FragmentsCarryPortsOnlyInTheFirst) {
  Ip4 first = kOuter;
  first.frag = 0x2000;
  Ip4 later = kOuter;
  later.frag = 0x00b9;
  PacketView v;
  const Bytes a = eth_ip(testing::ipv4(first, kProtoUdp, testing::udp(first, 7, 9, Bytes(16, 0))));
  EXPECT_EQ(parse_frame(a.data(), uint32_t(a.size()), ParseMode::kAccess, v),
            ParseStatus::kIpv4Fragment);
  EXPECT_TRUE(v.outer.has_l4);
  EXPECT_EQ(v.outer.sport, 7);
  EXPECT_EQ(v.outer.dport, 9);
  EXPECT_EQ(v.outer.frag, 0x2000);
  const Bytes b = eth_ip(testing::ipv4(later, kProtoUdp, Bytes(16, 0xff)));
  EXPECT_EQ(parse_frame(b.data(), uint32_t(b.size()), ParseMode::kAccess, v),
            ParseStatus::kIpv4Fragment);
  EXPECT_FALSE(v.outer.has_l4);
  EXPECT_EQ(v.outer.sport, 0);
  EXPECT_FALSE(v.has_gtpu);
}

TEST(Parse, NeverReadsPastAnyTruncation) {
  // Every prefix of a rich frame: the status is some malformation (or kOk for none), never a
  // read past `len` (ASan would stop the test).
  GtpuOpts o;
  o.seq = 1;
  o.ext = {{0x85, {0x00, 0x09}}};
  const Bytes full = testing::ethernet(
      kMacA, kMacB, kEtherTypeIpv4,
      testing::ipv4(kOuter, kProtoUdp,
                    testing::udp(kOuter, kGtpuPort, kGtpuPort,
                                 testing::gtpu(kGtpuMsgGpdu, kTeid, inner_udp(), o), false)),
      {{kEtherTypeVlan, 1}});
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + n);
    PacketView v;
    const ParseStatus s =
        parse_frame(cut.data(), static_cast<uint32_t>(cut.size()), ParseMode::kAccess, v);
    EXPECT_NE(s, ParseStatus::kOk) << "prefix of " << n << " bytes";
  }
}

}  // namespace
}  // namespace simcore::dp
