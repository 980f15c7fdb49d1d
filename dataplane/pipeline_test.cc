// The pipeline on a small account: frames in → verdict, the one counter that took the frame,
// and the exact bytes out (built independently with testing/frame_builder), including what a
// gateway does for itself: ARP, punts, ICMP errors, next-hop resolution and rate limits.
#include "dataplane/pipeline.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <optional>

#include "core/compiler.h"
#include "dataplane/packet/arp.h"
#include "dataplane/packet/wire.h"
#include "dataplane/testing/frame_builder.h"

namespace simcore::dp {
namespace {

using core::Ipv4;
using testing::Bytes;
using testing::ip;
using testing::Ip4;

const Mac kAccessMac{2, 0, 0, 0, 1, 1};
const Mac kAccessPeerMac{2, 0, 0, 0, 1, 2};
const Mac kCoreMac{2, 0, 0, 0, 2, 1};
const Mac kCoreRouterMac{2, 0, 0, 0, 2, 2};
const PortConfig kPorts{ip("192.0.2.1"), ip("203.0.113.1"), kAccessMac,
                        kAccessPeerMac,  kCoreMac,          kCoreRouterMac};

const uint32_t kThingA = ip("10.200.0.7");  // locked, NAT tcp 203.0.113.5:8443 → :443
const uint32_t kThingB = ip("10.200.0.8");
const uint32_t kEnbA = ip("100.64.0.1");
const uint32_t kEnbB = ip("100.64.0.9");
const uint32_t kServer = ip("198.51.100.1");
constexpr uint32_t kTeidA = 0x1001, kPeerTeidA = 0x2002, kTeidB = 0x1003, kPeerTeidB = 0x2004;

// Network "second" (VLAN 42, pool 10.200.0.0/24, not isolated, 172.16.0.0/16 via an IPsec
// tunnel, 192.0.2.128/25 blackholed); its profile denies UDP to port 53 outbound.
struct Fixture {
  core::Account account;
  std::shared_ptr<const core::CompiledTables> tables;

  Fixture() {
    core::Network n;
    n.name = "second";
    n.apn = "second.example";
    n.vlan = 42;
    n.isolation = false;
    const core::NetworkId net = account.create_network(n).value();
    (void)account.add_pool(net, core::Cidr::parse("10.200.0.0/24").value()).value();
    core::IpsecTunnel t;
    t.name = "hq";
    t.peer = Ipv4{ip("198.18.0.1")};
    t.remote_subnets = {core::Cidr::parse("172.16.0.0/16").value()};
    t.ike_proposals = {"aes128-sha256-modp2048"};
    t.esp_proposals = {"aes128gcm16"};
    t.pre_shared_key = "0123456789abcdef";
    const core::TunnelId tunnel = account.add_tunnel(net, t).value();
    core::Route r;
    r.destination = core::Cidr::parse("172.16.0.0/16").value();
    r.target = core::RouteTarget::kIpsecTunnel;
    r.tunnel = tunnel;
    (void)account.add_route(net, r).value();
    core::Route hole;
    hole.destination = core::Cidr::parse("192.0.2.128/25").value();
    hole.target = core::RouteTarget::kBlackhole;
    (void)account.add_route(net, hole).value();
    core::IpProfile prof;
    prof.name = "no dns";
    core::FirewallRule deny;
    deny.priority = 1;
    deny.action = core::Action::kDeny;
    deny.protocol = core::Protocol::kUdp;
    deny.remote_ports = {53, 53};
    prof.outbound.rules = {deny};
    core::ThingsGroup g;
    g.name = "g2";
    g.network = net;
    g.profile = account.create_profile(prof).value();
    const core::GroupId gid = account.create_group(g).value();
    const core::ThingId a =
        add_thing(gid, "8931000000000000001", kThingA, kTeidA, kEnbA, kPeerTeidA);
    add_thing(gid, "8931000000000000002", kThingB, kTeidB, kEnbB, kPeerTeidB);
    core::NatRule nat;
    nat.protocol = core::Protocol::kTcp;
    nat.public_ip = Ipv4{ip("203.0.113.5")};
    nat.public_port = 8443;
    nat.thing = a;
    nat.thing_port = 443;
    EXPECT_TRUE(account.add_nat_rule(net, nat).ok());
    core::Compiler c;
    tables = c.compile(account.model()).value();
  }

  core::ThingId add_thing(core::GroupId g, const char* iccid, uint32_t addr, uint32_t teid,
                          uint32_t enb, uint32_t peer_teid) {
    core::Thing spec;
    spec.iccid = iccid;
    spec.imsi = std::string("20408") + (iccid + 9);
    spec.group = g;
    spec.ip_lock = true;
    spec.locked_addr = Ipv4{addr};
    const core::ThingId id = account.provision({spec}).value()[0];
    EXPECT_TRUE(account.set_state(id, core::ThingState::kActive).ok());
    core::AttachRequest req;
    req.uplink_teid = teid;
    req.peer_addr = Ipv4{enb};
    req.peer_teid = peer_teid;
    req.apn = "second.example";
    EXPECT_TRUE(account.attach(id, req).ok()) << account.attach(id, req).error().message();
    return id;
  }
};

const Mac kBroadcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
const Mac kNeighbourMac{2, 0, 0, 0, 3, 3};

// Frames as they arrive: a G-PDU from the Thing's eNodeB, or plain IPv4 on the core port.
Bytes uplink_frame(uint32_t teid, const Bytes& inner, uint32_t enb = kEnbA) {
  const Ip4 o = testing::ip4(enb, kPorts.access_addr);
  return testing::ethernet(
      kAccessMac, kAccessPeerMac, kEtherTypeIpv4,
      testing::ipv4(
          o, kProtoUdp,
          testing::udp(o, kGtpuPort, kGtpuPort, testing::gtpu(kGtpuMsgGpdu, teid, inner), false)));
}
Bytes downlink_frame(const Bytes& ip_packet, std::vector<testing::Tag> tags = {}) {
  return testing::ethernet(kCoreMac, kCoreRouterMac, kEtherTypeIpv4, ip_packet, tags);
}
// What we send: a G-PDU toward the Thing's eNodeB, or plain IPv4 out of the core port.
Bytes gpdu_out(uint32_t enb, uint32_t teid, const Bytes& inner, uint8_t dscp_tos = 0) {
  Ip4 o = testing::ip4(kPorts.access_addr, enb);
  o.frag = 0x4000;
  o.tos = dscp_tos;
  return testing::ethernet(
      kAccessPeerMac, kAccessMac, kEtherTypeIpv4,
      testing::ipv4(
          o, kProtoUdp,
          testing::udp(o, kGtpuPort, kGtpuPort, testing::gtpu(kGtpuMsgGpdu, teid, inner), false)));
}
Bytes core_out(const Bytes& ip_packet, uint16_t vlan) {
  std::vector<testing::Tag> tags;
  if (vlan) tags.push_back({kEtherTypeVlan, vlan});
  return testing::ethernet(kCoreRouterMac, kCoreMac, kEtherTypeIpv4, ip_packet, tags);
}

Bytes tcp_packet(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t ttl = 64,
                 uint8_t tos = 0) {
  Ip4 h = testing::ip4(src, dst, ttl);
  h.tos = tos;
  return testing::ipv4(h, kProtoTcp, testing::tcp(h, sport, dport, {0x47, 0x45, 0x54}));
}
Bytes udp_packet(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t ttl = 64,
                 bool checksum = true) {
  const Ip4 h = testing::ip4(src, dst, ttl);
  return testing::ipv4(h, kProtoUdp, testing::udp(h, sport, dport, {1, 2, 3, 4}, checksum));
}

Bytes big_udp(uint32_t src, uint32_t dst, uint16_t total_len, bool df, uint8_t ttl = 64) {
  Ip4 h = testing::ip4(src, dst, ttl);
  if (df) h.frag = kIpv4FlagDf;
  return testing::ipv4(h, kProtoUdp, testing::udp(h, 40000, 9, Bytes(total_len - 28u, 0x77)));
}

// The ICMP error we expect about `offending` (an IPv4 packet as received), from `src`: its
// header and the first 8 bytes after it are quoted; checksums by the builder's own code.
Bytes icmp_error_packet(uint32_t src, const Bytes& offending, uint8_t type, uint8_t code,
                        uint16_t mtu = 0) {
  const size_t quote = (offending[0] & 0x0f) * 4u + 8;
  const uint32_t to = uint32_t{offending[12]} << 24 | uint32_t{offending[13]} << 16 |
                      uint32_t{offending[14]} << 8 | offending[15];
  Ip4 h = testing::ip4(src, to);
  h.tos = 0xc0;
  h.frag = kIpv4FlagDf;
  return testing::ipv4(
      h, kProtoIcmp,
      testing::icmp_error(type, code, mtu, Bytes(offending.begin(), offending.begin() + quote)));
}

Bytes arp_frame(const Mac& dst, const Mac& src, uint16_t op, const Mac& sha, uint32_t spa,
                const Mac& tha, uint32_t tpa, std::vector<testing::Tag> tags = {}) {
  return testing::ethernet(dst, src, kEtherTypeArp, testing::arp(op, sha, spa, tha, tpa), tags);
}

Bytes udp_frame_to(Port in, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                   const Bytes& payload = Bytes(12, 0x48)) {
  const Mac& ours = in == Port::kAccess ? kAccessMac : kCoreMac;
  const Mac& theirs = in == Port::kAccess ? kAccessPeerMac : kCoreRouterMac;
  const Ip4 h = testing::ip4(src, dst);
  const Bytes l4 = testing::udp(h, sport, dport, payload);
  return testing::ethernet(ours, theirs, kEtherTypeIpv4, testing::ipv4(h, kProtoUdp, l4));
}

// Returns the name of the one counter that took the frame (a drop, a punt), or "" when it was
// forwarded or answered (tx).
std::string counter_of(const Outcome& o) {
  if (o.punt != Punt::kNone) return punt_name(o.punt);
  if (o.drop != PipelineDrop::kNone) return pipeline_drop_name(o.drop);
  if (o.out != Port::kNone) return "";
  if (o.policed) return core::drop_reason_name(o.policy_drop);
  return parse_status_name(o.parse);
}

// Exactly one counter took each frame: tx, punt, or one drop counter.
uint64_t frames_taken(const Counters& counters, Port in) {
  uint64_t taken = counters.tx[0] + counters.tx[1];
  for (size_t i = 1; i < kPolicyDropCount; ++i) taken += counters.policy_drop[i];
  for (size_t i = 1; i < kPipelineDropCount; ++i) taken += counters.pipeline_drop[i];
  for (size_t i = 1; i < kPuntCount; ++i) taken += counters.punt[i];
  const size_t port = static_cast<size_t>(in);
  for (size_t i = 0; i < kParseStatusCount; ++i) {
    if (i != size_t(ParseStatus::kOk) && i != size_t(ParseStatus::kGtpuEchoRequest) &&
        i != size_t(ParseStatus::kArp)) {
      taken += counters.parse[port][i];
    }
  }
  return taken;
}

struct PacketCase {
  const char* name;
  Port in;
  Bytes frame;
  Port want_out;
  std::optional<core::Verdict> want_verdict;  // unset: policy did not run
  const char* want_counter;                   // drop or punt counter; "" when tx
  Bytes want_bytes;                           // when sent to a port
};

std::vector<PacketCase> cases() {
  using core::Verdict;
  testing::GtpuOpts seq;
  seq.seq = 0x0102;
  const Ip4 echo_in = testing::ip4(kEnbA, kPorts.access_addr);
  Ip4 echo_out = testing::ip4(kPorts.access_addr, kEnbA);
  echo_out.frag = 0x4000;
  const Ip4 gtpc = testing::ip4(kEnbA, kPorts.access_addr);
  const Bytes ttl1_up = udp_packet(kThingA, kServer, 40000, 123, 1);
  const Bytes ttl1_down = udp_packet(kServer, kThingB, 123, 40000, 1);
  const Bytes big_down_df = big_udp(kServer, kThingB, 1465, true);
  const Bytes big_up_df = big_udp(kThingA, kServer, 1501, true);
  const uint32_t kEnbRouter = ip("192.0.2.254");
  return {
      {"uplink TCP from the NAT'd port: source rewritten, VLAN 42 out of the core port",
       Port::kAccess, uplink_frame(kTeidA, tcp_packet(kThingA, kServer, 443, 5000)), Port::kCore,
       Verdict::kForward, "", core_out(tcp_packet(ip("203.0.113.5"), kServer, 8443, 5000, 63), 42)},
      {"uplink UDP from another port: only the TTL changes", Port::kAccess,
       uplink_frame(kTeidA, udp_packet(kThingA, kServer, 40000, 123)), Port::kCore,
       Verdict::kForward, "", core_out(udp_packet(kThingA, kServer, 40000, 123, 63), 42)},
      {"uplink to the tunnel's subnet: the inner packet, NAT'd, TTL down, to the ESP stage",
       Port::kAccess, uplink_frame(kTeidA, udp_packet(kThingA, ip("172.16.3.4"), 40000, 500)),
       Port::kEsp, Verdict::kTunnel, "", udp_packet(kThingA, ip("172.16.3.4"), 40000, 500, 63)},
      {"uplink to the tunnel too big once ESP is added, DF: Fragmentation Needed", Port::kAccess,
       uplink_frame(kTeidA, big_udp(kThingA, ip("172.16.3.4"), 1500 - kEspOverhead + 1, true)),
       Port::kAccess, Verdict::kTunnel, "mtu.frag_needed",
       gpdu_out(kEnbA, kPeerTeidA,
                icmp_error_packet(kPorts.access_addr,
                                  big_udp(kThingA, ip("172.16.3.4"), 1500 - kEspOverhead + 1, true),
                                  kIcmpDestUnreachable, kIcmpFragNeeded, 1500 - kEspOverhead),
                0xc0)},
      {"uplink to a blackholed route", Port::kAccess,
       uplink_frame(kTeidA, udp_packet(kThingA, ip("192.0.2.200"), 40000, 500)), Port::kNone,
       Verdict::kDrop, "uplink.blackhole", {}},
      {"uplink with an unknown TEID", Port::kAccess,
       uplink_frame(0x7777, udp_packet(kThingA, kServer, 1, 2)), Port::kNone, Verdict::kDrop,
       "uplink.no_session", {}},
      {"uplink with another Thing's source address", Port::kAccess,
       uplink_frame(kTeidA, udp_packet(kThingB, kServer, 1, 2)), Port::kNone, Verdict::kDrop,
       "uplink.spoofed_source", {}},
      {"uplink DNS denied by the profile", Port::kAccess,
       uplink_frame(kTeidA, udp_packet(kThingA, kServer, 40000, 53)), Port::kNone,
       Verdict::kDrop, "uplink.firewall", {}},
      {"Thing to Thing hairpinned down B's tunnel", Port::kAccess,
       uplink_frame(kTeidA, udp_packet(kThingA, kThingB, 5683, 5683)), Port::kAccess,
       Verdict::kHairpin, "",
       gpdu_out(kEnbB, kPeerTeidB, udp_packet(kThingA, kThingB, 5683, 5683, 63))},
      {"uplink TTL 1: Time Exceeded from access_addr down the sender's own tunnel",
       Port::kAccess, uplink_frame(kTeidA, ttl1_up), Port::kAccess, std::nullopt,
       "ipv4.ttl_exceeded",
       gpdu_out(kEnbA, kPeerTeidA,
                icmp_error_packet(kPorts.access_addr, ttl1_up, kIcmpTimeExceeded, 0), 0xc0)},
      {"uplink TTL 1 with a spoofed source: no error toward the other Thing", Port::kAccess,
       uplink_frame(kTeidA, udp_packet(kThingB, kServer, 1, 2, 1)), Port::kNone, std::nullopt,
       "ipv4.ttl_exceeded", {}},
      {"uplink over the core MTU with DF: Fragmentation Needed (MTU 1500) down the tunnel",
       Port::kAccess, uplink_frame(kTeidA, big_up_df), Port::kAccess, Verdict::kForward,
       "mtu.frag_needed",
       gpdu_out(kEnbA, kPeerTeidA,
                icmp_error_packet(kPorts.access_addr, big_up_df, kIcmpDestUnreachable,
                                  kIcmpFragNeeded, 1500),
                0xc0)},
      {"uplink over the core MTU without DF is dropped", Port::kAccess,
       uplink_frame(kTeidA, big_udp(kThingA, kServer, 1501, false)), Port::kNone,
       Verdict::kForward, "mtu.exceeded", {}},
      {"G-PDU whose outer destination is not access_addr", Port::kAccess,
       [&] {
         const Ip4 o = testing::ip4(kEnbA, ip("192.0.2.99"));
         return testing::ethernet(
             kAccessMac, kAccessPeerMac, kEtherTypeIpv4,
             testing::ipv4(o, kProtoUdp,
                           testing::udp(o, kGtpuPort, kGtpuPort,
                                        testing::gtpu(kGtpuMsgGpdu, kTeidA,
                                                      udp_packet(kThingA, kServer, 1, 2)),
                                        false)));
       }(),
       Port::kNone, std::nullopt, "access.not_for_us", {}},
      {"downlink to the NAT public port (VLAN tagged): destination rewritten, DSCP copied",
       Port::kCore,
       downlink_frame(tcp_packet(kServer, ip("203.0.113.5"), 5000, 8443, 50, 0xb8),
                      {{kEtherTypeVlan, 42}}),
       Port::kAccess, Verdict::kDeliver, "",
       gpdu_out(kEnbA, kPeerTeidA, tcp_packet(kServer, kThingA, 5000, 443, 49, 0xb8), 0xb8)},
      {"downlink UDP without checksum to Thing B", Port::kCore,
       downlink_frame(udp_packet(kServer, kThingB, 123, 40000, 64, false)), Port::kAccess,
       Verdict::kDeliver, "",
       gpdu_out(kEnbB, kPeerTeidB, udp_packet(kServer, kThingB, 123, 40000, 63, false))},
      {"downlink to an address with no session", Port::kCore,
       downlink_frame(udp_packet(kServer, ip("10.200.0.99"), 1, 2)), Port::kNone,
       Verdict::kDrop, "downlink.no_session", {}},
      {"downlink TTL 1: Time Exceeded from core_addr back out of the core port", Port::kCore,
       downlink_frame(ttl1_down), Port::kCore, std::nullopt, "ipv4.ttl_exceeded",
       core_out(icmp_error_packet(kPorts.core_addr, ttl1_down, kIcmpTimeExceeded, 0), 0)},
      {"downlink TTL 1 on VLAN 7: the error goes back on VLAN 7", Port::kCore,
       downlink_frame(ttl1_down, {{kEtherTypeVlan, 7}}), Port::kCore, std::nullopt,
       "ipv4.ttl_exceeded",
       core_out(icmp_error_packet(kPorts.core_addr, ttl1_down, kIcmpTimeExceeded, 0), 7)},
      {"downlink TTL 1 ICMP error: no error about an error", Port::kCore,
       [] {
         const Ip4 h = testing::ip4(kServer, kThingB, 1);
         return downlink_frame(
             testing::ipv4(h, kProtoIcmp, testing::icmp_error(3, 1, 0, Bytes(28, 0x45))));
       }(),
       Port::kNone, std::nullopt, "ipv4.ttl_exceeded", {}},
      {"downlink whose encapsulation exceeds the access MTU, DF: Fragmentation Needed 1464",
       Port::kCore, downlink_frame(big_down_df), Port::kCore, Verdict::kDeliver,
       "mtu.frag_needed",
       core_out(icmp_error_packet(kPorts.core_addr, big_down_df, kIcmpDestUnreachable,
                                  kIcmpFragNeeded, 1464),
                0)},
      {"downlink whose encapsulation exceeds the access MTU, no DF: dropped", Port::kCore,
       downlink_frame(big_udp(kServer, kThingB, 1465, false)), Port::kNone, Verdict::kDeliver,
       "mtu.exceeded", {}},
      {"downlink that just fits the access MTU once encapsulated", Port::kCore,
       downlink_frame(big_udp(kServer, kThingB, 1464, true)), Port::kAccess, Verdict::kDeliver,
       "", gpdu_out(kEnbB, kPeerTeidB, big_udp(kServer, kThingB, 1464, true, 63))},
      {"IKE (UDP 500) to core_addr is punted", Port::kCore,
       udp_frame_to(Port::kCore, ip("198.18.0.1"), kPorts.core_addr, 500, 500), Port::kControl,
       std::nullopt, "punt.ike", {}},
      {"IKE NAT-T (UDP 4500, zero non-ESP marker) to core_addr is punted", Port::kCore,
       udp_frame_to(Port::kCore, ip("198.18.0.1"), kPorts.core_addr, 4500, 4500,
                    Bytes{0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88}),
       Port::kControl, std::nullopt, "punt.ike", {}},
      {"ESP in UDP (4500, an SPI first) to core_addr goes to the ESP stage untouched",
       Port::kCore, udp_frame_to(Port::kCore, ip("198.18.0.1"), kPorts.core_addr, 4500, 4500),
       Port::kEspIn, std::nullopt, "", {}},
      {"ESP to core_addr goes to the ESP stage untouched", Port::kCore,
       testing::ethernet(kCoreMac, kCoreRouterMac, kEtherTypeIpv4,
                         testing::ipv4(testing::ip4(ip("198.18.0.1"), kPorts.core_addr), kProtoEsp,
                                       Bytes{0xc0, 0, 0, 1, 0, 0, 0, 1, 9, 9, 9, 9, 9, 9, 9, 9})),
       Port::kEspIn, std::nullopt, "", {}},
      {"other traffic to core_addr", Port::kCore,
       downlink_frame(udp_packet(kServer, kPorts.core_addr, 5000, 53)), Port::kNone,
       std::nullopt, "core.to_self", {}},
      {"GTP-U Echo Request answered with the same sequence number", Port::kAccess,
       testing::ethernet(
           kAccessMac, kAccessPeerMac, kEtherTypeIpv4,
           testing::ipv4(echo_in, kProtoUdp,
                         testing::udp(echo_in, 40001, kGtpuPort,
                                      testing::gtpu(kGtpuMsgEchoRequest, 0, {}, seq), false))),
       Port::kAccess, std::nullopt, "",
       testing::ethernet(kAccessPeerMac, kAccessMac, kEtherTypeIpv4,
                         testing::ipv4(echo_out, kProtoUdp,
                                       testing::udp(echo_out, kGtpuPort, 40001,
                                                    testing::gtpu(kGtpuMsgEchoResponse, 0,
                                                                  {kGtpuIeRecovery, 0}, seq),
                                                    false)))},
      {"GTP-C to access_addr is punted", Port::kAccess,
       testing::ethernet(kAccessMac, kAccessPeerMac, kEtherTypeIpv4,
                         testing::ipv4(gtpc, kProtoUdp,
                                       testing::udp(gtpc, kGtpcPort, kGtpcPort, Bytes(12, 0x48)))),
       Port::kControl, std::nullopt, "punt.gtpc", {}},
      {"GTP-C to another address is not ours", Port::kAccess,
       udp_frame_to(Port::kAccess, kEnbA, ip("192.0.2.99"), kGtpcPort, kGtpcPort), Port::kNone,
       std::nullopt, "access.not_gtpu", {}},
      {"ARP request for access_addr answered in place", Port::kAccess,
       arp_frame(kBroadcast, kAccessPeerMac, kArpOpRequest, kAccessPeerMac, kEnbRouter, Mac{},
                 kPorts.access_addr),
       Port::kAccess, std::nullopt, "",
       arp_frame(kAccessPeerMac, kAccessMac, kArpOpReply, kAccessMac, kPorts.access_addr,
                 kAccessPeerMac, kEnbRouter)},
      {"ARP request for core_addr on VLAN 42 answered on VLAN 42", Port::kCore,
       arp_frame(kBroadcast, kCoreRouterMac, kArpOpRequest, kCoreRouterMac, ip("203.0.113.254"),
                 Mac{}, kPorts.core_addr, {{kEtherTypeVlan, 42}}),
       Port::kCore, std::nullopt, "",
       arp_frame(kCoreRouterMac, kCoreMac, kArpOpReply, kCoreMac, kPorts.core_addr,
                 kCoreRouterMac, ip("203.0.113.254"), {{kEtherTypeVlan, 42}})},
      {"ARP request for another address", Port::kCore,
       arp_frame(kBroadcast, kCoreRouterMac, kArpOpRequest, kCoreRouterMac, ip("203.0.113.254"),
                 Mac{}, ip("203.0.113.77")),
       Port::kNone, std::nullopt, "arp.not_for_us", {}},
      {"ARP reply to core_addr is punted (control learns the neighbour)", Port::kCore,
       arp_frame(kCoreMac, kNeighbourMac, kArpOpReply, kNeighbourMac, ip("203.0.113.254"),
                 kCoreMac, kPorts.core_addr),
       Port::kControl, std::nullopt, "punt.arp_reply", {}},
      {"malformed ARP", Port::kCore, testing::ethernet(kBroadcast, kCoreRouterMac, kEtherTypeArp,
                                                       Bytes(20, 0)),
       Port::kNone, std::nullopt, "malformed.arp", {}},
      {"End Marker is consumed", Port::kAccess,
       [] {
         Bytes b = uplink_frame(kTeidA, {});
         b[42 + 1] = kGtpuMsgEndMarker;
         return b;
       }(),
       Port::kNone, std::nullopt, "gtpu.end_marker", {}},
      {"G-PDU carrying IPv6 is counted, not policed", Port::kAccess,
       uplink_frame(kTeidA, testing::ipv6_udp(Bytes(8, 0))), Port::kNone, std::nullopt,
       "unsupported.inner_ipv6", {}},
      {"a truncated frame on the core port", Port::kCore, Bytes(13, 0), Port::kNone,
       std::nullopt, "malformed.ethernet", {}},
  };
}

TEST(Pipeline, PacketsInVerdictsCountersAndBytesOut) {
  Fixture fx;
  for (const PacketCase& c : cases()) {
    SCOPED_TRACE(c.name);
    core::FlowMemory flows;
    TableClassifier classify{*fx.tables, flows};
    NeighbourTable neighbours;
    WorkerContext worker;
    testing::OwnedFrame f(c.frame);
    const Outcome o = process(classify, kPorts, neighbours, c.in, f.frame, worker);
    EXPECT_EQ(port_name(o.out), std::string(port_name(c.want_out)));
    EXPECT_EQ(counter_of(o), c.want_counter);
    EXPECT_EQ(o.policed, c.want_verdict.has_value());
    if (c.want_verdict) {
      EXPECT_STREQ(core::verdict_name(o.verdict), core::verdict_name(*c.want_verdict));
    }
    if (c.want_out == Port::kAccess || c.want_out == Port::kCore || c.want_out == Port::kEsp) {
      EXPECT_EQ(f.out(), c.want_bytes) << "got\n"
                                       << testing::hex(f.out()) << "\nwant\n"
                                       << testing::hex(c.want_bytes);
    }
    if (c.want_out == Port::kControl || c.want_out == Port::kEspIn) {
      EXPECT_EQ(f.out(), c.frame) << "a punted frame is untouched";
    }
    // The ESP stage (dataplane/dpdk) counts what it is handed.
    const bool to_esp = c.want_out == Port::kEsp || c.want_out == Port::kEspIn;
    EXPECT_EQ(frames_taken(worker.counters, c.in), to_esp ? 0u : 1u);
    EXPECT_EQ(worker.counters.rx[static_cast<size_t>(c.in)], 1u);
  }
}

bool same_outcome(const Outcome& a, const Outcome& b) {
  return a.out == b.out && a.parse == b.parse && a.policed == b.policed &&
         a.verdict == b.verdict && a.policy_drop == b.policy_drop && a.drop == b.drop &&
         a.punt == b.punt && a.stage == b.stage && a.inner_len == b.inner_len &&
         a.rule_id == b.rule_id && a.thing == b.thing && a.target == b.target;
}

// begin_frame, the classifier on its PacketDesc, then finish_frame: what process() does, frame
// by frame (Outcome, bytes out, every counter).
TEST(Pipeline, TwoPhasesAreProcess) {
  Fixture fx;
  for (const PacketCase& c : cases()) {
    SCOPED_TRACE(c.name);
    NeighbourTable neighbours;
    core::FlowMemory flows_a, flows_b;
    TableClassifier classify_a{*fx.tables, flows_a}, classify_b{*fx.tables, flows_b};
    WorkerContext wa, wb;
    testing::OwnedFrame fa(c.frame), fb(c.frame);
    const Outcome want = process(classify_a, kPorts, neighbours, c.in, fa.frame, wa);

    Pending p;
    core::PacketDesc desc;
    const Step step = begin_frame(kPorts, c.in, fb.frame, wb, p, desc);
    EXPECT_EQ(step, p.step);
    EXPECT_EQ(step == Step::kDecide, want.policed);
    EXPECT_EQ(step == Step::kTtlExceeded, want.drop == PipelineDrop::kTtlExceeded);
    std::optional<core::Decision> d;
    if (step == Step::kDecide) d = classify_b(desc);
    Outcome got;
    finish_frame(classify_b, kPorts, neighbours, fb.frame, wb, p, d ? &*d : nullptr, got);
    EXPECT_TRUE(same_outcome(got, want)) << counter_of(got) << " vs " << counter_of(want);
    EXPECT_EQ(fb.out(), fa.out());
    EXPECT_EQ(std::memcmp(&wa.counters, &wb.counters, sizeof(Counters)), 0);
  }
}

// All the cases as one burst through one worker, the way the DPDK engine runs them: the first
// phase for a window of frames, their lookups in order, then the second phase in order; a
// frame whose second phase may classify again (finish_may_classify) closes the window. Equal
// to process() on each frame in turn with the same worker state.
TEST(Pipeline, TwoPhasesOverABurstAreProcessInOrder) {
  Fixture fx;
  const std::vector<PacketCase> all = cases();
  NeighbourTable neighbours;
  core::FlowMemory flows_a, flows_b;
  TableClassifier classify_a{*fx.tables, flows_a}, classify_b{*fx.tables, flows_b};
  WorkerContext wa, wb;
  std::vector<Outcome> want;
  std::vector<Bytes> want_bytes;
  for (const PacketCase& c : all) {
    testing::OwnedFrame f(c.frame);
    want.push_back(process(classify_a, kPorts, neighbours, c.in, f.frame, wa));
    want_bytes.push_back(f.out());
  }

  std::vector<std::unique_ptr<testing::OwnedFrame>> frames;
  for (const PacketCase& c : all) frames.push_back(std::make_unique<testing::OwnedFrame>(c.frame));
  std::vector<Pending> pending(all.size());
  std::vector<core::PacketDesc> descs;
  std::vector<Outcome> got;
  size_t first = 0;  // the window's first frame
  size_t windows = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    core::PacketDesc desc;
    if (begin_frame(kPorts, all[i].in, frames[i]->frame, wb, pending[i], desc) == Step::kDecide) {
      descs.push_back(desc);
    }
    if (i + 1 < all.size() && i + 1 - first < 8 && !finish_may_classify(kPorts, pending[i])) {
      continue;
    }
    std::vector<core::Decision> decisions;
    for (const core::PacketDesc& q : descs) decisions.push_back(classify_b(q));
    for (size_t k = first, j = 0; k <= i; ++k) {
      const core::Decision* d = pending[k].step == Step::kDecide ? &decisions[j++] : nullptr;
      finish_frame(classify_b, kPorts, neighbours, frames[k]->frame, wb, pending[k], d,
                   got.emplace_back());
    }
    descs.clear();
    first = i + 1;
    ++windows;
  }
  EXPECT_GT(windows, all.size() / 8);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < all.size(); ++i) {
    SCOPED_TRACE(all[i].name);
    EXPECT_TRUE(same_outcome(got[i], want[i]));
    EXPECT_EQ(frames[i]->out(), want_bytes[i]);
  }
  EXPECT_EQ(std::memcmp(&wa.counters, &wb.counters, sizeof(Counters)), 0);
}

TEST(Pipeline, EveryCounterHasANameAndDescription) {
  for (size_t i = 0; i < kPipelineDropCount; ++i) {
    EXPECT_STRNE(pipeline_drop_name(static_cast<PipelineDrop>(i)), "?");
    EXPECT_STRNE(pipeline_drop_description(static_cast<PipelineDrop>(i)), "?");
  }
  for (size_t i = 0; i < kPuntCount; ++i) {
    EXPECT_STRNE(punt_name(static_cast<Punt>(i)), "?");
    EXPECT_STRNE(punt_description(static_cast<Punt>(i)), "?");
  }
}

TEST(Pipeline, DownlinkWithoutHeadroomIsCounted) {
  Fixture fx;
  core::FlowMemory flows;
  TableClassifier classify{*fx.tables, flows};
  NeighbourTable neighbours;
  WorkerContext worker;
  testing::OwnedFrame f(downlink_frame(udp_packet(kServer, kThingB, 123, 40000)), 0);
  const Outcome o = process(classify, kPorts, neighbours, Port::kCore, f.frame, worker);
  EXPECT_EQ(o.out, Port::kNone);
  EXPECT_EQ(o.drop, PipelineDrop::kNoHeadroom);
  EXPECT_EQ(worker.counters.pipeline_drop[size_t(PipelineDrop::kNoHeadroom)], 1u);
}

// The ICMP errors' checksums, verified by summing the bytes that left (RFC 1071: a correct
// checksum makes the sum 0xffff), independently of the expected-bytes rows above.
TEST(Pipeline, IcmpErrorChecksumsVerify) {
  Fixture fx;
  core::FlowMemory flows;
  TableClassifier classify{*fx.tables, flows};
  NeighbourTable neighbours;
  WorkerContext worker;
  struct Sent {
    Port in;
    Bytes frame;
  };
  for (const Sent& s : {Sent{Port::kCore, downlink_frame(udp_packet(kServer, kThingB, 1, 2, 0))},
                        Sent{Port::kAccess, uplink_frame(kTeidA, udp_packet(kThingA, kServer,
                                                                             1, 2, 1))}}) {
    testing::OwnedFrame f(s.frame);
    const Outcome o = process(classify, kPorts, neighbours, s.in, f.frame, worker);
    ASSERT_EQ(o.out, s.in);
    PacketView v;
    ASSERT_EQ(parse_frame(f.frame.data(), f.frame.data_len,
                          s.in == Port::kAccess ? ParseMode::kAccess : ParseMode::kCore, v),
              ParseStatus::kOk);
    const Ipv4View& icmp_ip = s.in == Port::kAccess ? v.inner : v.outer;
    const uint8_t* h = f.frame.data() + icmp_ip.off;
    EXPECT_TRUE(testing::checksum_ok(h, icmp_ip.hdr_len));
    EXPECT_TRUE(testing::checksum_ok(h + icmp_ip.hdr_len, icmp_ip.total_len - icmp_ip.hdr_len));
    EXPECT_EQ(icmp_ip.proto, kProtoIcmp);
    EXPECT_EQ(icmp_ip.icmp_type, kIcmpTimeExceeded);
    EXPECT_EQ(icmp_ip.total_len, 20u + 8u + 28u);
  }
  EXPECT_EQ(worker.counters.icmp_time_exceeded, 2u);
}

// 100 errors per second with a burst of 10: the 11th at the same instant is suppressed, one
// more token comes every 10 ms.
TEST(Pipeline, IcmpErrorsAreRateLimited) {
  Fixture fx;
  core::FlowMemory flows;
  TableClassifier classify{*fx.tables, flows};
  NeighbourTable neighbours;
  WorkerContext worker;
  worker.now_ns = 5'000'000'000;
  auto expire_one = [&] {
    testing::OwnedFrame f(downlink_frame(udp_packet(kServer, kThingB, 1, 2, 1)));
    return process(classify, kPorts, neighbours, Port::kCore, f.frame, worker);
  };
  for (int i = 0; i < 10; ++i) EXPECT_EQ(expire_one().out, Port::kCore) << i;
  const Outcome suppressed = expire_one();
  EXPECT_EQ(suppressed.out, Port::kNone);
  EXPECT_EQ(suppressed.drop, PipelineDrop::kTtlExceeded);
  EXPECT_EQ(worker.counters.icmp_suppressed, 1u);
  worker.now_ns += 9'000'000;
  EXPECT_EQ(expire_one().out, Port::kNone);
  worker.now_ns += 1'000'000;
  EXPECT_EQ(expire_one().out, Port::kCore);
  EXPECT_EQ(expire_one().out, Port::kNone);
  EXPECT_EQ(worker.counters.icmp_time_exceeded, 11u);
  EXPECT_EQ(worker.counters.icmp_suppressed, 3u);
  EXPECT_EQ(worker.counters.pipeline_drop[size_t(PipelineDrop::kTtlExceeded)], 14u);
}

// Next hops resolved through the neighbour table: the core side has 203.0.113.0/24 on link
// and the gateway .254; the access side 192.0.2.0/24 and no gateway. No static MACs.
TEST(Pipeline, NextHopsComeFromTheNeighbourTable) {
  Fixture fx;
  core::FlowMemory flows;
  TableClassifier classify{*fx.tables, flows};
  NeighbourTable neighbours;
  WorkerContext worker;
  PortConfig ports = kPorts;
  ports.access_next_hop_mac = Mac{};
  ports.core_next_hop_mac = Mac{};
  ports.core_prefix_len = 24;
  ports.core_gateway = ip("203.0.113.254");
  ports.access_prefix_len = 24;
  const uint32_t kOnLink = ip("203.0.113.20");
  worker.now_ns = 1'000'000'000;
  auto up = [&](uint32_t dst, Bytes* out = nullptr) {
    testing::OwnedFrame f(uplink_frame(kTeidA, udp_packet(kThingA, dst, 40000, 123)));
    const Outcome o = process(classify, ports, neighbours, Port::kAccess, f.frame, worker);
    if (out) *out = f.out();
    return o;
  };

  // Unresolved gateway: dropped, and the frame becomes a broadcast ARP request on VLAN 42.
  Bytes got;
  Outcome o = up(kServer, &got);
  EXPECT_EQ(o.out, Port::kCore);
  EXPECT_EQ(o.drop, PipelineDrop::kNeighbourUnresolved);
  EXPECT_EQ(got, arp_frame(kBroadcast, kCoreMac, kArpOpRequest, kCoreMac, kPorts.core_addr,
                           Mac{}, ports.core_gateway, {{kEtherTypeVlan, 42}}))
      << testing::hex(got);
  // Within 100 ms no second request for the same next hop; afterwards one more.
  worker.now_ns += 50'000'000;
  o = up(kServer);
  EXPECT_EQ(o.out, Port::kNone);
  EXPECT_EQ(o.drop, PipelineDrop::kNeighbourUnresolved);
  worker.now_ns += 60'000'000;
  EXPECT_EQ(up(kServer).out, Port::kCore);
  EXPECT_EQ(worker.counters.arp_requests, 2u);
  EXPECT_EQ(worker.counters.arp_requests_throttled, 1u);
  EXPECT_EQ(worker.counters.pipeline_drop[size_t(PipelineDrop::kNeighbourUnresolved)], 3u);

  // An on-link destination is asked for itself.
  up(kOnLink, &got);
  EXPECT_EQ(got, arp_frame(kBroadcast, kCoreMac, kArpOpRequest, kCoreMac, kPorts.core_addr,
                           Mac{}, kOnLink, {{kEtherTypeVlan, 42}}));

  // Learned (control thread's set): forwarded to that MAC.
  ASSERT_TRUE(neighbours.set(ports.core_gateway, kNeighbourMac));
  o = up(kServer, &got);
  EXPECT_EQ(o.out, Port::kCore);
  EXPECT_EQ(o.drop, PipelineDrop::kNone);
  EXPECT_EQ(got, testing::ethernet(kNeighbourMac, kCoreMac, kEtherTypeIpv4,
                                   udp_packet(kThingA, kServer, 40000, 123, 63),
                                   {{kEtherTypeVlan, 42}}));

  // Downlink toward an eNodeB on the access prefix, unresolved, then resolved.
  testing::OwnedFrame d1(downlink_frame(udp_packet(kServer, kThingB, 123, 40000)));
  o = process(classify, ports, neighbours, Port::kCore, d1.frame, worker);
  EXPECT_EQ(o.out, Port::kNone) << "100.64.0.9 is off-link and the access side has no gateway";
  EXPECT_EQ(o.drop, PipelineDrop::kNeighbourUnresolved);
  ports.access_gateway = ip("192.0.2.254");
  testing::OwnedFrame d2(downlink_frame(udp_packet(kServer, kThingB, 123, 40000)));
  o = process(classify, ports, neighbours, Port::kCore, d2.frame, worker);
  EXPECT_EQ(o.out, Port::kAccess);
  EXPECT_EQ(d2.out(), arp_frame(kBroadcast, kAccessMac, kArpOpRequest, kAccessMac,
                                kPorts.access_addr, Mac{}, ports.access_gateway));
  ASSERT_TRUE(neighbours.set(ports.access_gateway, kAccessPeerMac));
  testing::OwnedFrame d3(downlink_frame(udp_packet(kServer, kThingB, 123, 40000)));
  o = process(classify, ports, neighbours, Port::kCore, d3.frame, worker);
  EXPECT_EQ(o.out, Port::kAccess);
  EXPECT_EQ(d3.out(), gpdu_out(kEnbB, kPeerTeidB, udp_packet(kServer, kThingB, 123, 40000, 63)));

  // What control does with a punted ARP reply.
  const Bytes reply = arp_frame(kCoreMac, kNeighbourMac, kArpOpReply, kNeighbourMac, kOnLink,
                                kCoreMac, kPorts.core_addr);
  uint32_t addr = 0;
  Mac mac{};
  ASSERT_TRUE(arp_sender(reply.data(), static_cast<uint32_t>(reply.size()), addr, mac));
  EXPECT_EQ(addr, kOnLink);
  EXPECT_EQ(mac, kNeighbourMac);
}

// The classifier seam: any callable from PacketDesc to Decision, e.g. the DPDK layer's lookup.
TEST(Pipeline, AnyClassifierPlugsIn) {
  int calls = 0;
  auto deny_all = [&calls](const core::PacketDesc& p) {
    ++calls;
    core::Decision d;
    d.out = p;
    d.verdict = core::Verdict::kDrop;
    d.drop = core::DropReason::kUplinkFirewall;
    return d;
  };
  NeighbourTable neighbours;
  WorkerContext worker;
  testing::OwnedFrame f(uplink_frame(kTeidA, udp_packet(kThingA, kServer, 40000, 123)));
  const Outcome o = process(deny_all, kPorts, neighbours, Port::kAccess, f.frame, worker);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(o.policed);
  EXPECT_EQ(o.policy_drop, core::DropReason::kUplinkFirewall);
  EXPECT_EQ(worker.counters.policy_drop[size_t(core::DropReason::kUplinkFirewall)], 1u);
}

}  // namespace
}  // namespace simcore::dp
