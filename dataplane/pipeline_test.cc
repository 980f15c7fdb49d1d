// The pipeline on a small account: frames in → verdict, the one counter that took the frame,
// and the exact bytes out (built independently with testing/frame_builder).
#include "dataplane/pipeline.h"

#include <gtest/gtest.h>

#include <optional>

#include "core/compiler.h"
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

// Returns the name of the one drop counter that took the frame, or "" when it was sent.
std::string drop_counter(const Outcome& o) {
  if (o.out != Port::kNone) return "";
  if (o.drop != PipelineDrop::kNone) return pipeline_drop_name(o.drop);
  if (o.policed) return core::drop_reason_name(o.policy_drop);
  return parse_status_name(o.parse);
}

struct PacketCase {
  const char* name;
  Port in;
  Bytes frame;
  Port want_out;
  std::optional<core::Verdict> want_verdict;  // unset: policy did not run
  const char* want_drop;                      // "" when sent
  Bytes want_bytes;                           // when sent
};

std::vector<PacketCase> cases() {
  using core::Verdict;
  testing::GtpuOpts seq;
  seq.seq = 0x0102;
  const Ip4 echo_in = testing::ip4(kEnbA, kPorts.access_addr);
  Ip4 echo_out = testing::ip4(kPorts.access_addr, kEnbA);
  echo_out.frag = 0x4000;
  const Ip4 gtpc = testing::ip4(kEnbA, kPorts.access_addr);
  return {
      {"uplink TCP from the NAT'd port: source rewritten, VLAN 42 out of the core port",
       Port::kAccess, uplink_frame(kTeidA, tcp_packet(kThingA, kServer, 443, 5000)), Port::kCore,
       Verdict::kForward, "", core_out(tcp_packet(ip("203.0.113.5"), kServer, 8443, 5000, 63), 42)},
      {"uplink UDP from another port: only the TTL changes", Port::kAccess,
       uplink_frame(kTeidA, udp_packet(kThingA, kServer, 40000, 123)), Port::kCore,
       Verdict::kForward, "", core_out(udp_packet(kThingA, kServer, 40000, 123, 63), 42)},
      {"uplink to the tunnel's subnet: no ESP yet",
       Port::kAccess,
       uplink_frame(kTeidA, udp_packet(kThingA, ip("172.16.3.4"), 40000, 500)),
       Port::kNone,
       Verdict::kTunnel,
       "uplink.tunnel_unavailable",
       {}},
      {"uplink to a blackholed route",
       Port::kAccess,
       uplink_frame(kTeidA, udp_packet(kThingA, ip("192.0.2.200"), 40000, 500)),
       Port::kNone,
       Verdict::kDrop,
       "uplink.blackhole",
       {}},
      {"uplink with an unknown TEID",
       Port::kAccess,
       uplink_frame(0x7777, udp_packet(kThingA, kServer, 1, 2)),
       Port::kNone,
       Verdict::kDrop,
       "uplink.no_session",
       {}},
      {"uplink with another Thing's source address",
       Port::kAccess,
       uplink_frame(kTeidA, udp_packet(kThingB, kServer, 1, 2)),
       Port::kNone,
       Verdict::kDrop,
       "uplink.spoofed_source",
       {}},
      {"uplink DNS denied by the profile",
       Port::kAccess,
       uplink_frame(kTeidA, udp_packet(kThingA, kServer, 40000, 53)),
       Port::kNone,
       Verdict::kDrop,
       "uplink.firewall",
       {}},
      {"Thing to Thing hairpinned down B's tunnel", Port::kAccess,
       uplink_frame(kTeidA, udp_packet(kThingA, kThingB, 5683, 5683)), Port::kAccess,
       Verdict::kHairpin, "",
       gpdu_out(kEnbB, kPeerTeidB, udp_packet(kThingA, kThingB, 5683, 5683, 63))},
      {"uplink TTL 1 would expire here",
       Port::kAccess,
       uplink_frame(kTeidA, udp_packet(kThingA, kServer, 40000, 123, 1)),
       Port::kNone,
       std::nullopt,
       "ipv4.ttl_exceeded",
       {}},
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
      {"downlink to an address with no session",
       Port::kCore,
       downlink_frame(udp_packet(kServer, ip("10.200.0.99"), 1, 2)),
       Port::kNone,
       Verdict::kDrop,
       "downlink.no_session",
       {}},
      {"downlink to our own core address",
       Port::kCore,
       downlink_frame(udp_packet(kServer, kPorts.core_addr, 500, 500)),
       Port::kNone,
       std::nullopt,
       "core.to_self",
       {}},
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
      {"GTP-C on the access port is not ours yet",
       Port::kAccess,
       testing::ethernet(kAccessMac, kAccessPeerMac, kEtherTypeIpv4,
                         testing::ipv4(gtpc, kProtoUdp,
                                       testing::udp(gtpc, kGtpcPort, kGtpcPort, Bytes(12, 0x48)))),
       Port::kNone,
       std::nullopt,
       "access.not_gtpu",
       {}},
      {"End Marker is consumed",
       Port::kAccess,
       [] {
         Bytes b = uplink_frame(kTeidA, {});
         b[42 + 1] = kGtpuMsgEndMarker;
         return b;
       }(),
       Port::kNone,
       std::nullopt,
       "gtpu.end_marker",
       {}},
      {"G-PDU carrying IPv6 is counted, not policed",
       Port::kAccess,
       uplink_frame(kTeidA, testing::ipv6_udp(Bytes(8, 0))),
       Port::kNone,
       std::nullopt,
       "unsupported.inner_ipv6",
       {}},
      {"a truncated frame on the core port",
       Port::kCore,
       Bytes(13, 0),
       Port::kNone,
       std::nullopt,
       "malformed.ethernet",
       {}},
  };
}

TEST(Pipeline, PacketsInVerdictsCountersAndBytesOut) {
  Fixture fx;
  for (const PacketCase& c : cases()) {
    SCOPED_TRACE(c.name);
    core::FlowMemory flows;
    Counters counters{};
    testing::OwnedFrame f(c.frame);
    const Outcome o = process(*fx.tables, flows, kPorts, c.in, f.frame, counters);
    EXPECT_EQ(port_name(o.out), std::string(port_name(c.want_out)));
    EXPECT_EQ(drop_counter(o), c.want_drop);
    EXPECT_EQ(o.policed, c.want_verdict.has_value());
    if (c.want_verdict) {
      EXPECT_STREQ(core::verdict_name(o.verdict), core::verdict_name(*c.want_verdict));
    }
    if (c.want_out != Port::kNone) {
      EXPECT_EQ(f.out(), c.want_bytes) << "got\n"
                                       << testing::hex(f.out()) << "\nwant\n"
                                       << testing::hex(c.want_bytes);
    }
    // Exactly one counter took the frame: tx, or the drop counter named above.
    uint64_t taken = counters.tx[0] + counters.tx[1];
    for (size_t i = 1; i < kPolicyDropCount; ++i) taken += counters.policy_drop[i];
    for (size_t i = 1; i < kPipelineDropCount; ++i) taken += counters.pipeline_drop[i];
    const size_t in = static_cast<size_t>(c.in);
    for (size_t i = 0; i < kParseStatusCount; ++i) {
      if (i != size_t(ParseStatus::kOk) && i != size_t(ParseStatus::kGtpuEchoRequest)) {
        taken += counters.parse[in][i];
      }
    }
    EXPECT_EQ(taken, 1u);
    EXPECT_EQ(counters.rx[in], 1u);
  }
}

TEST(Pipeline, EveryCounterHasANameAndDescription) {
  for (size_t i = 0; i < kPipelineDropCount; ++i) {
    EXPECT_STRNE(pipeline_drop_name(static_cast<PipelineDrop>(i)), "?");
    EXPECT_STRNE(pipeline_drop_description(static_cast<PipelineDrop>(i)), "?");
  }
}

TEST(Pipeline, DownlinkWithoutHeadroomIsCounted) {
  Fixture fx;
  core::FlowMemory flows;
  Counters counters{};
  testing::OwnedFrame f(downlink_frame(udp_packet(kServer, kThingB, 123, 40000)), 0);
  const Outcome o = process(*fx.tables, flows, kPorts, Port::kCore, f.frame, counters);
  EXPECT_EQ(o.out, Port::kNone);
  EXPECT_EQ(o.drop, PipelineDrop::kNoHeadroom);
  EXPECT_EQ(counters.pipeline_drop[size_t(PipelineDrop::kNoHeadroom)], 1u);
}

}  // namespace
}  // namespace simcore::dp
