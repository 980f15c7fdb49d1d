// fast_lookup on FastTables against the portable path and the reference evaluator: a table of
// named cases per stage on hand-built tables, a differential run on seeded random accounts
// (replay one seed with SIMCORE_SEED=<seed>), the ACL cache across rebuilds, and routes that
// use rte_fib6 (many routes, /0).
#include "dataplane/dpdk/fast_lookup.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <set>
#include <span>
#include <string>

#include "core/compiler.h"
#include "core/reference_eval.h"
#include "core/table_lookup.h"
#include "dataplane/flow_table.h"
#include "tests/support/model_gen.h"

namespace simcore::dp {
namespace {

using core::Decision;
using core::Direction;
using core::DropReason;
using core::PacketDesc;
using core::Stage;
using core::Verdict;

uint32_t ip(const char* text) { return core::Ipv4::parse(text).value().value; }

std::string describe(const Decision& d) {
  return std::string(core::verdict_name(d.verdict)) + "/" + core::stage_name(d.stage) + "/" +
         core::drop_reason_name(d.drop) + " rule " + std::to_string(d.rule_id) + " thing " +
         std::to_string(d.thing.value) + " target " + std::to_string(d.target.value) + " out " +
         core::Ipv4{d.out.src.value}.str() + ":" + std::to_string(d.out.sport) + "->" +
         core::Ipv4{d.out.dst.value}.str() + ":" + std::to_string(d.out.dport) + " vlan " +
         std::to_string(d.vlan) + " tunnel " + std::to_string(d.tunnel);
}

core::AclRule rule(uint32_t id, core::Action action, uint8_t proto, const char* remote, uint8_t len,
                   uint16_t rlo = 0, uint16_t rhi = 65535, uint16_t llo = 0, uint16_t lhi = 65535) {
  core::AclRule r{};
  r.remote_addr = len == 0 ? 0 : ip(remote) & (~uint32_t{0} << (32 - len));
  r.remote_len = len;
  r.proto = proto;
  r.action = static_cast<uint8_t>(action);
  r.remote_port_lo = rlo;
  r.remote_port_hi = rhi;
  r.local_port_lo = llo;
  r.local_port_hi = lhi;
  r.rule_id = id;
  r.priority = id;
  return r;
}

constexpr auto kAllow = core::Action::kAllow;
constexpr auto kDeny = core::Action::kDeny;
constexpr uint16_t kReady =
    core::kSessionAttached | core::kSessionActive | core::kSessionDataAllowed;

// Two networks, two profiles, six Things, one NAT rule, one tunnel. Network 0 (vlan 100, not
// isolated, pool 10.0.0.0/24) routes 192.0.2.0/24 into tunnel 77, blackholes 198.51.100.7/32
// and sends 198.51.100.0/24 to the internet explicitly; network 1 (isolated, pool 10.1.0.0/30)
// blackholes everything with a /0.
std::shared_ptr<const core::CompiledTables> hand_tables() {
  auto t = std::make_shared<core::CompiledTables>();
  t->networks = {
      core::NetworkRow{.network_id = 1,
                       .vlan = 100,
                       .isolated = 0,
                       .reserved = 0,
                       .pool_first = 0,
                       .pool_count = 1,
                       .route_first = 0,
                       .route_count = 3},
      core::NetworkRow{.network_id = 2,
                       .vlan = 0,
                       .isolated = 1,
                       .reserved = 0,
                       .pool_first = 1,
                       .pool_count = 1,
                       .route_first = 3,
                       .route_count = 1},
  };
  t->pools = {core::PoolRow{ip("10.0.0.0"), ip("10.0.0.255"), 0, 0},
              core::PoolRow{ip("10.1.0.0"), ip("10.1.0.3"), 1, 0}};
  const auto k = [](core::RouteKind kind) { return static_cast<uint8_t>(kind); };
  t->routes = {
      core::RouteRow{ip("198.51.100.7"), 32, k(core::RouteKind::kBlackhole), core::kNoTunnel},
      core::RouteRow{ip("192.0.2.0"), 24, k(core::RouteKind::kTunnel), 0},
      core::RouteRow{ip("198.51.100.0"), 24, k(core::RouteKind::kInternet), core::kNoTunnel},
      core::RouteRow{0, 0, k(core::RouteKind::kBlackhole), core::kNoTunnel},
  };
  t->tunnels = {core::TunnelRow{77, core::to_be(core::Ipv4{ip("198.18.0.1")}), 0, 0, ~0u}};

  auto p0 = std::make_shared<core::CompiledProfile>();
  p0->profile_id = 10;
  p0->outbound.rules = {rule(1, kDeny, 6, "203.0.113.0", 24, 22, 22),
                        rule(2, kAllow, 17, "0.0.0.0", 0, 53, 53),
                        rule(3, kDeny, 17, "0.0.0.0", 0)};
  p0->outbound.default_action = static_cast<uint8_t>(kAllow);
  p0->inbound.rules = {rule(4, kAllow, 6, "0.0.0.0", 0, 0, 65535, 80, 80),
                       rule(5, kAllow, 17, "0.0.0.0", 0, 0, 65535, 6000, 6000),
                       rule(6, kAllow, 0, "192.0.2.0", 24)};
  p0->inbound.default_action = static_cast<uint8_t>(kDeny);
  auto p1 = std::make_shared<core::CompiledProfile>();
  p1->profile_id = 11;
  p1->stateful = true;
  p1->outbound.default_action = static_cast<uint8_t>(kAllow);
  p1->inbound.default_action = static_cast<uint8_t>(kDeny);
  t->profiles = {p0, p1};

  struct S {
    const char* ue;
    uint32_t teid;
    core::ProfileIndex profile;
    core::NetworkIndex network;
    uint16_t flags;
  };
  const S rows[] = {
      {"10.0.0.2", 0x100, 0, 0, kReady},
      {"10.0.0.3", 0x101, 1, 0, kReady},
      {"10.0.0.4", 0x102, 0, 0, core::kSessionAttached | core::kSessionDataAllowed},
      {"10.0.0.5", 0x103, 0, 0, core::kSessionAttached | core::kSessionActive},
      {"10.1.0.1", 0x104, 0, 1, kReady},
      {"10.0.0.6", 0x105, 0, 0, core::kSessionActive | core::kSessionDataAllowed},
  };
  t->sessions.resize(std::size(rows), core::SessionRow{});
  for (uint32_t i = 0; i < std::size(rows); ++i) {
    core::SessionRow& s = t->sessions.mut(i);
    s.ue_addr = core::to_be(core::Ipv4{ip(rows[i].ue)});
    s.peer_addr = core::to_be(core::Ipv4{ip("100.64.0.1") + i});
    s.peer_teid = core::teid_be(0x9000 + i);
    s.local_teid = core::teid_be(rows[i].teid);
    s.profile = rows[i].profile;
    s.network = rows[i].network;
    s.flags = rows[i].flags;
    if (s.flags & core::kSessionAttached) {
      t->by_teid.insert(s.local_teid.raw, i);
      t->by_ue.insert(s.ue_addr.raw, i);
    }
  }
  core::NatRow nat{};
  nat.public_ip = core::to_be(core::Ipv4{ip("192.0.0.100")});
  nat.thing_ip = core::to_be(core::Ipv4{ip("10.0.0.2")});
  nat.public_port = core::port_be(5000);
  nat.thing_port = core::port_be(6000);
  nat.proto = 17;
  nat.thing_slot = 0;
  nat.rule_id = 900;
  t->nat_in = {nat};
  t->nat_out = {nat};
  return t;
}

PacketDesc up(uint32_t teid, const char* src, const char* dst, uint8_t proto, uint16_t sport,
              uint16_t dport) {
  return {Direction::kUplink, teid, core::Ipv4{ip(src)}, core::Ipv4{ip(dst)}, proto, sport, dport};
}
PacketDesc down(const char* src, const char* dst, uint8_t proto, uint16_t sport, uint16_t dport) {
  return {Direction::kDownlink, 0, core::Ipv4{ip(src)}, core::Ipv4{ip(dst)}, proto, sport, dport};
}

struct StageCase {
  const char* name;
  PacketDesc in;
  Verdict verdict;
  Stage stage;
  DropReason drop;
  uint32_t rule_id;
};

// In order: the stateful cases rely on the flows earlier cases opened.
const StageCase kCases[] = {
    {"uplink: unknown TEID has no session", up(0x999, "10.0.0.2", "8.8.8.8", 17, 1, 53),
     Verdict::kDrop, Stage::kSession, DropReason::kUplinkNoSession, 0},
    {"uplink: a detached Thing's TEID has no session", up(0x105, "10.0.0.6", "8.8.8.8", 17, 1, 53),
     Verdict::kDrop, Stage::kSession, DropReason::kUplinkNoSession, 0},
    {"uplink: Thing not ACTIVE", up(0x102, "10.0.0.4", "8.8.8.8", 17, 1, 53), Verdict::kDrop,
     Stage::kState, DropReason::kUplinkNotActive, 0},
    {"uplink: data service off", up(0x103, "10.0.0.5", "8.8.8.8", 17, 1, 53), Verdict::kDrop,
     Stage::kService, DropReason::kUplinkDataDisabled, 0},
    {"uplink: spoofed inner source", up(0x100, "10.0.0.9", "8.8.8.8", 17, 1, 53), Verdict::kDrop,
     Stage::kAntiSpoof, DropReason::kUplinkSpoofedSource, 0},
    {"uplink: outbound rule 1 denies ssh to 203.0.113.0/24",
     up(0x100, "10.0.0.2", "203.0.113.5", 6, 40000, 22), Verdict::kDrop, Stage::kFirewallOut,
     DropReason::kUplinkFirewall, 1},
    {"uplink: ssh elsewhere falls to the default allow",
     up(0x100, "10.0.0.2", "198.51.100.8", 6, 40000, 22), Verdict::kForward, Stage::kDeliver,
     DropReason::kNone, 0},
    {"uplink: rule 3 denies UDP other than DNS", up(0x100, "10.0.0.2", "8.8.8.8", 17, 1, 54),
     Verdict::kDrop, Stage::kFirewallOut, DropReason::kUplinkFirewall, 3},
    {"uplink: ICMP matches no port rule", up(0x100, "10.0.0.2", "8.8.8.8", 1, 0, 0),
     Verdict::kForward, Stage::kDeliver, DropReason::kNone, 0},
    {"uplink: to a Thing of the same open network is hairpinned",
     up(0x101, "10.0.0.3", "10.0.0.2", 6, 40000, 80), Verdict::kHairpin, Stage::kDeliver,
     DropReason::kNone, 4},
    {"uplink: hairpin refused by the peer's inbound chain",
     up(0x101, "10.0.0.3", "10.0.0.2", 6, 40000, 81), Verdict::kDrop, Stage::kFirewallIn,
     DropReason::kDownlinkFirewall, 0},
    {"uplink: hairpin to a Thing that is not ACTIVE", up(0x101, "10.0.0.3", "10.0.0.4", 6, 1, 80),
     Verdict::kDrop, Stage::kState, DropReason::kDownlinkNotActive, 0},
    {"uplink: pool address without a Thing", up(0x101, "10.0.0.3", "10.0.0.200", 6, 1, 80),
     Verdict::kDrop, Stage::kIsolation, DropReason::kUplinkNoPeerThing, 0},
    {"uplink: Thing to Thing in an isolated network", up(0x104, "10.1.0.1", "10.1.0.2", 6, 1, 80),
     Verdict::kDrop, Stage::kIsolation, DropReason::kUplinkIsolation, 0},
    {"uplink: another network's pool is just a destination",
     up(0x100, "10.0.0.2", "10.1.0.1", 6, 1, 80), Verdict::kForward, Stage::kDeliver,
     DropReason::kNone, 0},
    {"uplink: route into the tunnel", up(0x100, "10.0.0.2", "192.0.2.9", 6, 1, 80),
     Verdict::kTunnel, Stage::kDeliver, DropReason::kNone, 0},
    {"uplink: /32 blackhole inside an internet /24",
     up(0x100, "10.0.0.2", "198.51.100.7", 6, 1, 80), Verdict::kDrop, Stage::kRoute,
     DropReason::kUplinkBlackhole, 0},
    {"uplink: /0 blackhole", up(0x104, "10.1.0.1", "8.8.8.8", 6, 1, 80), Verdict::kDrop,
     Stage::kRoute, DropReason::kUplinkBlackhole, 0},
    {"uplink: NAT rewrites the source of the forwarded Thing port",
     up(0x100, "10.0.0.2", "8.8.8.8", 17, 6000, 53), Verdict::kForward, Stage::kDeliver,
     DropReason::kNone, 2},
    {"downlink: unknown destination", down("8.8.8.8", "10.0.0.200", 17, 53, 1), Verdict::kDrop,
     Stage::kSession, DropReason::kDownlinkNoSession, 0},
    {"downlink: detached Thing", down("8.8.8.8", "10.0.0.6", 17, 53, 1), Verdict::kDrop,
     Stage::kSession, DropReason::kDownlinkNoSession, 0},
    {"downlink: Thing not ACTIVE", down("8.8.8.8", "10.0.0.4", 6, 1, 80), Verdict::kDrop,
     Stage::kState, DropReason::kDownlinkNotActive, 0},
    {"downlink: data service off", down("8.8.8.8", "10.0.0.5", 6, 1, 80), Verdict::kDrop,
     Stage::kService, DropReason::kDownlinkDataDisabled, 0},
    {"downlink: inbound rule 4 lets web in", down("8.8.8.8", "10.0.0.2", 6, 1, 80),
     Verdict::kDeliver, Stage::kDeliver, DropReason::kNone, 4},
    {"downlink: inbound default deny", down("8.8.8.8", "10.0.0.2", 6, 1, 81), Verdict::kDrop,
     Stage::kFirewallIn, DropReason::kDownlinkFirewall, 0},
    {"downlink: any protocol from 192.0.2.0/24 (rule 6)", down("192.0.2.1", "10.0.0.2", 1, 0, 0),
     Verdict::kDeliver, Stage::kDeliver, DropReason::kNone, 6},
    {"downlink: port forward to the Thing's 6000", down("8.8.8.8", "192.0.0.100", 17, 9, 5000),
     Verdict::kDeliver, Stage::kDeliver, DropReason::kNone, 5},
    {"downlink: wrong protocol on the public port", down("8.8.8.8", "192.0.0.100", 6, 9, 5000),
     Verdict::kDrop, Stage::kSession, DropReason::kDownlinkNoSession, 0},
    {"downlink: stateful Thing, no flow yet", down("8.8.4.4", "10.0.0.3", 17, 53, 4000),
     Verdict::kDrop, Stage::kFirewallIn, DropReason::kDownlinkFirewall, 0},
    {"uplink: stateful Thing opens a flow", up(0x101, "10.0.0.3", "8.8.4.4", 17, 4000, 53),
     Verdict::kForward, Stage::kDeliver, DropReason::kNone, 0},
    {"downlink: the reply passes as an established flow", down("8.8.4.4", "10.0.0.3", 17, 53, 4000),
     Verdict::kDeliver, Stage::kDeliver, DropReason::kNone, core::kFlowRuleId},
    {"downlink: the same remote on another port does not",
     down("8.8.4.4", "10.0.0.3", 17, 54, 4000), Verdict::kDrop, Stage::kFirewallIn,
     DropReason::kDownlinkFirewall, 0},
};

TEST(FastLookup, EachStageAsThePortablePath) {
  const auto tables = hand_tables();
  auto ft = FastTables::build(tables);
  ASSERT_TRUE(ft.ok()) << ft.error().message();
  EXPECT_EQ((*ft)->sessions(), 5u);
  EXPECT_GT((*ft)->session_bytes(), 0u);
  core::FlowMemory fast_flows, table_flows;
  for (const StageCase& c : kCases) {
    SCOPED_TRACE(c.name);
    const Decision got = fast_lookup(**ft, c.in, fast_flows);
    const Decision want = core::lookup_packet(*tables, c.in, table_flows);
    EXPECT_EQ(got.verdict, c.verdict) << describe(got);
    EXPECT_EQ(got.stage, c.stage) << describe(got);
    EXPECT_EQ(got.drop, c.drop) << describe(got);
    EXPECT_EQ(got.rule_id, c.rule_id) << describe(got);
    EXPECT_TRUE(got == want) << "fast " << describe(got) << "\nportable " << describe(want);
  }
}

TEST(FastLookup, ActionsCarryRewritesAndEncapsulation) {
  const auto tables = hand_tables();
  auto ft = FastTables::build(tables);
  ASSERT_TRUE(ft.ok()) << ft.error().message();
  core::FlowMemory flows;
  Decision d = fast_lookup(**ft, up(0x100, "10.0.0.2", "8.8.8.8", 17, 6000, 53), flows);
  EXPECT_EQ(d.out.src.value, ip("192.0.0.100"));
  EXPECT_EQ(d.out.sport, 5000);
  EXPECT_EQ(d.vlan, 100);
  EXPECT_EQ(d.thing.value, 0u);
  d = fast_lookup(**ft, up(0x100, "10.0.0.2", "192.0.2.9", 6, 1, 80), flows);
  EXPECT_EQ(d.tunnel, 77u);
  d = fast_lookup(**ft, down("8.8.8.8", "192.0.0.100", 17, 9, 5000), flows);
  EXPECT_EQ(d.out.dst.value, ip("10.0.0.2"));
  EXPECT_EQ(d.out.dport, 6000);
  EXPECT_EQ(d.target.value, 0u);
  EXPECT_EQ(d.peer_addr.value, ip("100.64.0.1"));
  EXPECT_EQ(d.peer_teid, 0x9000u);
  d = fast_lookup(**ft, up(0x101, "10.0.0.3", "10.0.0.2", 6, 40000, 80), flows);
  EXPECT_EQ(d.thing.value, 1u);
  EXPECT_EQ(d.target.value, 0u);
}

TEST(FastLookup, BurstDecidesAsOnePacketAtATime) {
  const auto tables = hand_tables();
  auto ft = FastTables::build(tables);
  ASSERT_TRUE(ft.ok()) << ft.error().message();
  std::vector<PacketDesc> pkts;
  for (const StageCase& c : kCases) pkts.push_back(c.in);
  core::FlowMemory one_flows, burst_flows;
  std::vector<Decision> got(pkts.size());
  // Bursts of 5 cut the stateful sequence in the middle of a burst and across bursts.
  for (size_t i = 0; i < pkts.size(); i += 5) {
    const auto n = static_cast<uint16_t>(std::min<size_t>(5, pkts.size() - i));
    ASSERT_EQ(fast_lookup_burst(**ft, pkts.data() + i, n, burst_flows, got.data() + i), n);
  }
  for (size_t i = 0; i < pkts.size(); ++i) {
    const Decision want = fast_lookup(**ft, pkts[i], one_flows);
    EXPECT_TRUE(got[i] == want) << kCases[i].name << "\nburst " << describe(got[i]) << "\none "
                                << describe(want);
  }
}

// Expects got[i] to be what fast_lookup decides for pkts[i], one packet at a time on `flows`.
void expect_one_at_a_time(const FastTables& ft, std::span<const PacketDesc> pkts,
                          const Decision* got, FlowTable& flows) {
  for (size_t i = 0; i < pkts.size(); ++i) {
    const Decision want = fast_lookup(ft, pkts[i], flows);
    EXPECT_TRUE(got[i] == want) << i << "\nburst " << describe(got[i]) << "\none "
                                << describe(want);
  }
}

// The burst leaves a downlink reply on an open flow unclassified (no rte_acl). A flow that an
// earlier packet of the same burst evicts must still meet the inbound chain, as one packet at a
// time would decide: a FlowTable of 8 entries (one probe window) full of the stateful Thing's
// flows, then a burst whose first packet opens a ninth flow, evicting the oldest.
TEST(FastLookup, BurstReplyOnAFlowEvictedEarlierInTheBurstMeetsTheChain) {
  const auto tables = hand_tables();
  auto ft = FastTables::build(tables);
  ASSERT_TRUE(ft.ok()) << ft.error().message();
  FlowTable burst_flows(8), one_flows(8);
  for (uint16_t port = 4000; port < 4008; ++port) {
    const uint64_t now = port - 3999;  // 4000 is the least recently used
    burst_flows.set_now(now);
    one_flows.set_now(now);
    const PacketDesc open = up(0x101, "10.0.0.3", "8.8.4.4", 17, port, 53);
    const Decision a = fast_lookup(**ft, open, burst_flows);
    const Decision b = fast_lookup(**ft, open, one_flows);
    ASSERT_EQ(a.verdict, Verdict::kForward) << describe(a);
    ASSERT_EQ(b.verdict, Verdict::kForward) << describe(b);
  }
  burst_flows.set_now(100);
  one_flows.set_now(100);
  const PacketDesc pkts[] = {
      down("8.8.4.4", "10.0.0.3", 17, 53, 4001),       // a reply on an open flow
      up(0x101, "10.0.0.3", "8.8.4.4", 17, 4008, 53),  // opens a ninth flow, evicts 4000's
      down("8.8.4.4", "10.0.0.3", 17, 53, 4000),       // open when the burst began, not now
      down("8.8.4.4", "10.0.0.3", 17, 53, 4007),       // open all along
  };
  Decision got[std::size(pkts)];
  ASSERT_EQ(fast_lookup_burst(**ft, pkts, std::size(pkts), burst_flows, got), std::size(pkts));
  EXPECT_EQ(burst_flows.evictions(), 1u);
  EXPECT_EQ(got[0].verdict, Verdict::kDeliver) << describe(got[0]);
  EXPECT_EQ(got[0].rule_id, core::kFlowRuleId) << describe(got[0]);
  EXPECT_EQ(got[1].verdict, Verdict::kForward) << describe(got[1]);
  EXPECT_EQ(got[2].verdict, Verdict::kDrop) << describe(got[2]);
  EXPECT_EQ(got[2].drop, DropReason::kDownlinkFirewall) << describe(got[2]);
  EXPECT_EQ(got[3].verdict, Verdict::kDeliver) << describe(got[3]);
  EXPECT_EQ(got[3].rule_id, core::kFlowRuleId) << describe(got[3]);
  expect_one_at_a_time(**ft, pkts, got, one_flows);
}

// The burst answers a downlink packet's flow question once, ahead, and keeps the answer while
// the flows do not change. An expired flow that an earlier packet of the burst revives
// changes them: the reply after it passes, the reply before it does not.
TEST(FastLookup, BurstReplyOnAFlowRevivedEarlierInTheBurstPasses) {
  const auto tables = hand_tables();
  auto ft = FastTables::build(tables);
  ASSERT_TRUE(ft.ok()) << ft.error().message();
  FlowTimeouts quick;
  quick.udp_ns = 10;
  FlowTable burst_flows(64, quick), one_flows(64, quick);
  const PacketDesc open = up(0x101, "10.0.0.3", "8.8.4.4", 17, 4000, 53);
  for (FlowTable* f : {&burst_flows, &one_flows}) {
    f->set_now(1);
    ASSERT_EQ(fast_lookup(**ft, open, *f).verdict, Verdict::kForward);
    f->set_now(100);  // the flow has expired
  }
  const PacketDesc reply = down("8.8.4.4", "10.0.0.3", 17, 53, 4000);
  const PacketDesc pkts[] = {reply, open, reply};
  Decision got[std::size(pkts)];
  const uint64_t changes = burst_flows.changes();
  ASSERT_EQ(fast_lookup_burst(**ft, pkts, std::size(pkts), burst_flows, got), std::size(pkts));
  EXPECT_EQ(burst_flows.changes(), changes + 1);
  EXPECT_EQ(got[0].drop, DropReason::kDownlinkFirewall) << describe(got[0]);
  EXPECT_EQ(got[1].verdict, Verdict::kForward) << describe(got[1]);
  EXPECT_EQ(got[2].verdict, Verdict::kDeliver) << describe(got[2]);
  EXPECT_EQ(got[2].rule_id, core::kFlowRuleId) << describe(got[2]);
  expect_one_at_a_time(**ft, pkts, got, one_flows);
}

std::vector<uint64_t> seeds() {
  if (const char* s = std::getenv("SIMCORE_SEED")) return {std::strtoull(s, nullptr, 10)};
  return {5, 20261126, 77};
}

constexpr size_t kPackets = 100000;  // per seed

TEST(FastLookupDifferential, AgreesWithTheReferenceAndThePortablePath) {
  size_t verdicts[5] = {};
  for (const uint64_t seed : seeds()) {
    SCOPED_TRACE("seed " + std::to_string(seed) +
                 " (rerun with SIMCORE_SEED=" + std::to_string(seed) + ")");
    ::simcore::testing::ModelGenOptions opt;
    opt.seed = seed;
    ::simcore::testing::GeneratedModel g = ::simcore::testing::generate_model(opt);
    core::Model model = g.account.model();
    ::simcore::testing::perturb_model(model, seed, 0.05);
    core::Compiler compiler;
    auto tables = compiler.compile(model);
    ASSERT_TRUE(tables.ok()) << tables.error().message();
    // The generated networks have few routes: build once as shipped (they scan) and once with
    // every routed network in rte_fib6, so both route paths meet the oracle.
    auto scan = FastTables::build(*tables);
    ASSERT_TRUE(scan.ok()) << scan.error().message();
    auto fib = FastTables::build(*tables, nullptr, FastBuildOptions{.linear_routes_max = 0});
    ASSERT_TRUE(fib.ok()) << fib.error().message();
    ::simcore::testing::PacketGen gen(model, g.hot_prefixes, seed * 7919);
    core::FlowMemory ref_flows, table_flows, scan_flows, fib_flows, burst_flows;
    std::vector<PacketDesc> chunk;
    std::vector<Decision> chunk_want;
    for (size_t i = 0; i < kPackets; ++i) {
      const PacketDesc p = gen.next();
      const Decision want = core::evaluate_reference(model, p, ref_flows);
      gen.remember(p, want);
      ++verdicts[static_cast<size_t>(want.verdict)];
      const Decision portable = core::lookup_packet(**tables, p, table_flows);
      const Decision fast = fast_lookup(**scan, p, scan_flows);
      const Decision fast_fib = fast_lookup(**fib, p, fib_flows);
      ASSERT_TRUE(portable == want) << "packet #" << i << "\nportable " << describe(portable)
                                    << "\nreference " << describe(want);
      ASSERT_TRUE(fast == want) << "packet #" << i << "\nfast " << describe(fast) << "\nreference "
                                << describe(want);
      ASSERT_TRUE(fast_fib == want) << "packet #" << i << "\nfast (fib) " << describe(fast_fib)
                                    << "\nreference " << describe(want);
      chunk.push_back(p);
      chunk_want.push_back(want);
      if (chunk.size() == kFastBurstMax || i + 1 == kPackets) {
        Decision got[kFastBurstMax];
        const auto n = static_cast<uint16_t>(chunk.size());
        ASSERT_EQ(fast_lookup_burst(**scan, chunk.data(), n, burst_flows, got), n);
        for (size_t k = 0; k < chunk.size(); ++k) {
          ASSERT_TRUE(got[k] == chunk_want[k])
              << "packet #" << i + 1 - n + k << "\nburst " << describe(got[k]) << "\nreference "
              << describe(chunk_want[k]);
        }
        chunk.clear();
        chunk_want.clear();
      }
    }
  }
  for (size_t v = 0; v < 5; ++v) {
    EXPECT_GT(verdicts[v], 0u) << "verdict never seen: "
                               << core::verdict_name(static_cast<Verdict>(v));
  }
}

TEST(FastLookupDifferential, RebuildReusesUnchangedProfilesAclContexts) {
  const uint64_t seed = seeds().front();
  SCOPED_TRACE("seed " + std::to_string(seed));
  ::simcore::testing::ModelGenOptions opt;
  opt.seed = seed;
  opt.min_rules = 1;  // every chain has an rte_acl context
  opt.max_rules = 100;
  ::simcore::testing::GeneratedModel g = ::simcore::testing::generate_model(opt);
  core::Account& a = g.account;
  core::Compiler compiler;
  auto t1 = compiler.compile(a.model());
  ASSERT_TRUE(t1.ok()) << t1.error().message();
  auto ft1 = FastTables::build(*t1);
  ASSERT_TRUE(ft1.ok()) << ft1.error().message();
  const size_t profiles = (*t1)->profiles.size();
  // Every chain but the empty ones of the account's shipped default profile has a context.
  size_t chains = 0;
  for (const auto& p : (*t1)->profiles)
    chains += !p->inbound.rules.empty() + !p->outbound.rules.empty();
  EXPECT_EQ((*ft1)->acl_built(), chains);
  EXPECT_EQ((*ft1)->acl_reused(), 0u);

  // The profile of the first generated group (both chains non-empty, Things use it) gains a
  // rule: only its two contexts are built again.
  core::IpProfile changed;
  for (const auto& [gid, grp] : a.model().groups) {
    const core::IpProfile& p = a.model().profiles.at(grp.profile);
    if (grp.name.rfind("group", 0) == 0) {
      changed = p;
      break;
    }
  }
  ASSERT_EQ(changed.name.rfind("profile", 0), 0u) << changed.name;
  core::FirewallRule fr;
  fr.priority = 1;  // first: it decides for every packet it matches
  fr.action = core::Action::kDeny;
  fr.protocol = core::Protocol::kUdp;
  fr.remote = g.hot_prefixes.front();
  changed.outbound.rules.push_back(fr);
  ASSERT_TRUE(a.replace_profile(changed.id, changed).ok());
  auto t2 = compiler.update_profile(a.model(), changed.id);
  ASSERT_TRUE(t2.ok()) << t2.error().message();
  auto ft2 = FastTables::build(*t2, ft1->get());
  ASSERT_TRUE(ft2.ok()) << ft2.error().message();
  EXPECT_EQ((*ft2)->acl_built(), 2u);
  EXPECT_EQ((*ft2)->acl_reused(), chains - 2);
  size_t shared = 0;
  size_t changed_index = profiles;
  for (core::ProfileIndex i = 0; i < profiles; ++i) {
    const bool same_rows = (*t1)->profiles[i] == (*t2)->profiles[i];
    if (!same_rows) changed_index = i;
    EXPECT_EQ((*ft1)->acl(i, true) == (*ft2)->acl(i, true), same_rows) << "profile " << i;
    EXPECT_EQ((*ft1)->acl(i, false) == (*ft2)->acl(i, false), same_rows) << "profile " << i;
    shared += same_rows;
  }
  EXPECT_EQ(shared, profiles - 1);

  // The older snapshot goes first (as after an RCU grace period): the shared contexts live on.
  const std::shared_ptr<const core::CompiledTables> tables2 = *t2;
  ft1->reset();
  *t1 = nullptr;
  ::simcore::testing::PacketGen gen(a.model(), g.hot_prefixes, seed * 31);
  core::FlowMemory ref_flows, fast_flows;
  size_t changed_profile_drops = 0;
  for (size_t i = 0; i < kPackets / 5; ++i) {
    const PacketDesc p = gen.next();
    const Decision want = core::evaluate_reference(a.model(), p, ref_flows);
    gen.remember(p, want);
    const Decision got = fast_lookup(**ft2, p, fast_flows);
    ASSERT_TRUE(got == want) << "packet #" << i << "\nfast " << describe(got) << "\nreference "
                             << describe(want);
    changed_profile_drops += want.drop == DropReason::kUplinkFirewall &&
                             tables2->sessions[want.thing.value].profile == changed_index;
  }
  EXPECT_GT(changed_profile_drops, 0u);
}

// A network with hundreds of routes (rte_fib6) including /0 and host routes, next to a network
// that scans a /0 of its own: every destination answers as the portable scan does.
TEST(FastLookup, ManyRoutesAndDefaultRoutes) {
  auto t = std::make_shared<core::CompiledTables>(*hand_tables());
  std::mt19937_64 rng(11);
  std::vector<core::RouteRow> many;
  std::set<std::pair<uint32_t, uint8_t>> seen;
  many.push_back({0, 0, static_cast<uint8_t>(core::RouteKind::kBlackhole), core::kNoTunnel});
  seen.insert({0, 0});
  while (many.size() < 600) {
    const auto len = static_cast<uint8_t>(rng() % 33);
    // Prefixes around two /16s so they nest deeply.
    uint32_t addr = (rng() % 2 ? ip("198.51.0.0") : ip("203.0.0.0")) | (rng() & 0xffff);
    addr &= len == 0 ? 0 : ~uint32_t{0} << (32 - len);
    if (len < 8 || !seen.insert({addr, len}).second) continue;
    const auto kind = static_cast<core::RouteKind>(rng() % 3);
    many.push_back({addr, len, static_cast<uint8_t>(kind),
                    kind == core::RouteKind::kTunnel ? uint16_t{0} : core::kNoTunnel});
  }
  std::stable_sort(many.begin(), many.end(),
                   [](const core::RouteRow& x, const core::RouteRow& y) { return x.len > y.len; });
  // Network 0 gets the many routes; network 1 keeps its single /0 blackhole (it scans).
  const core::RouteRow net1_default = t->routes[3];
  t->routes = many;
  t->routes.push_back(net1_default);
  t->networks[0].route_first = 0;
  t->networks[0].route_count = static_cast<uint32_t>(many.size());
  t->networks[1].route_first = static_cast<uint32_t>(many.size());
  t->networks[1].route_count = 1;
  // Make network 0's Thing 0 allow all uplink traffic so every packet reaches the route stage.
  auto open = std::make_shared<core::CompiledProfile>(*t->profiles[0]);
  open->outbound.rules.clear();
  t->profiles[0] = open;

  auto ft = FastTables::build(t);
  ASSERT_TRUE(ft.ok()) << ft.error().message();
  EXPECT_TRUE((*ft)->routes_in_fib(0));
  EXPECT_FALSE((*ft)->routes_in_fib(1));
  core::FlowMemory fast_flows, table_flows;
  size_t kinds[3] = {};
  for (int i = 0; i < 50000; ++i) {
    uint32_t dst = static_cast<uint32_t>(rng());
    if (i % 4 != 0) dst = (rng() % 2 ? ip("198.51.0.0") : ip("203.0.0.0")) | (dst & 0xffff);
    if ((dst >> 24) == 10) continue;  // pools: not the route stage
    PacketDesc p{Direction::kUplink, 0x100, core::Ipv4{ip("10.0.0.2")}, core::Ipv4{dst}, 6, 1, 80};
    const Decision got = fast_lookup(**ft, p, fast_flows);
    const Decision want = core::lookup_packet(*t, p, table_flows);
    ASSERT_TRUE(got == want) << core::Ipv4{dst}.str() << "\nfast " << describe(got) << "\nportable "
                             << describe(want);
    kinds[got.verdict == Verdict::kForward ? 0 : got.verdict == Verdict::kTunnel ? 1 : 2]++;
    p.teid = 0x104;
    p.src = core::Ipv4{ip("10.1.0.1")};
    const Decision got1 = fast_lookup(**ft, p, fast_flows);
    ASSERT_EQ(got1.drop, DropReason::kUplinkBlackhole) << core::Ipv4{dst}.str();
    ASSERT_TRUE(got1 == core::lookup_packet(*t, p, table_flows));
  }
  EXPECT_GT(kinds[0], 0u);
  EXPECT_GT(kinds[1], 0u);
  EXPECT_GT(kinds[2], 0u);
}

// The traffic-selector check on decrypted packets: a source passes only in one of its own
// tunnel's remote subnets. SPD rows out of tunnel order, a tunnel without any, a /0, and an
// unknown id; then random pairs against the plain scan over every row.
TEST(FastTables, TunnelSelectorsAcceptOnlyTheTunnelsOwnRemoteSubnets) {
  auto t = std::make_shared<core::CompiledTables>(*hand_tables());
  const auto peer = core::to_be(core::Ipv4{ip("198.18.0.2")});
  t->tunnels.push_back(core::TunnelRow{5, peer, 0, 0, ~0u});    // index 1
  t->tunnels.push_back(core::TunnelRow{900, peer, 1, 0, ~0u});  // index 2
  t->tunnels.push_back(core::TunnelRow{6, peer, 1, 0, ~0u});    // index 3: no subnets
  t->spd = {core::SpdRow{ip("172.16.0.0"), 12, 0, 1, 0, 0},
            core::SpdRow{ip("192.0.2.0"), 24, 0, 0, 0, 0},
            core::SpdRow{0, 0, 0, 2, 1, 0},
            core::SpdRow{ip("203.0.113.128"), 25, 0, 0, 0, 0}};
  auto ft = FastTables::build(t);
  ASSERT_TRUE(ft.ok()) << ft.error().message();
  const FastTables& f = **ft;
  // As the engine checks a decrypted packet: its tunnel's subnets, then the source.
  auto inside_tunnel = [&](uint32_t id, uint32_t src) {
    return FastTables::inside(f.tunnel_selectors(id), src);
  };
  EXPECT_TRUE(inside_tunnel(77, ip("192.0.2.9")));
  EXPECT_TRUE(inside_tunnel(77, ip("203.0.113.200")));
  EXPECT_FALSE(inside_tunnel(77, ip("203.0.113.5")));
  EXPECT_FALSE(inside_tunnel(77, ip("172.16.1.1")));  // tunnel 5's subnet
  EXPECT_TRUE(inside_tunnel(5, ip("172.31.255.255")));
  EXPECT_FALSE(inside_tunnel(5, ip("172.32.0.0")));
  EXPECT_FALSE(inside_tunnel(5, ip("192.0.2.9")));
  EXPECT_TRUE(inside_tunnel(900, ip("8.8.8.8")));
  EXPECT_FALSE(inside_tunnel(6, ip("192.0.2.9")));
  EXPECT_FALSE(inside_tunnel(12345, ip("192.0.2.9")));

  auto scan = [&](uint32_t id, uint32_t src) {
    for (size_t i = 0; i < t->tunnels.size(); ++i) {
      if (t->tunnels[i].tunnel_id != id) continue;
      for (const core::SpdRow& r : t->spd) {
        const uint32_t mask = r.len == 0 ? 0 : ~uint32_t{0} << (32 - r.len);
        if (r.tunnel == i && (src & mask) == r.prefix) return true;
      }
    }
    return false;
  };
  const uint32_t ids[] = {77, 5, 900, 6, 12345};
  const uint32_t bases[] = {ip("192.0.2.0"), ip("203.0.113.0"), ip("172.16.0.0"), ip("10.0.0.0")};
  std::mt19937_64 rng(7);
  for (int i = 0; i < 10000; ++i) {
    const uint32_t id = ids[rng() % std::size(ids)];
    const uint32_t src = bases[rng() % std::size(bases)] ^ static_cast<uint32_t>(rng() & 0xfffff);
    ASSERT_EQ(inside_tunnel(id, src), scan(id, src)) << id << " " << src;
  }
}

// The NAT lookups' filter may say "maybe" for a key it never saw, never "no" for one it did;
// and it must say "no" to most others, or it spares no lookup.
TEST(KeyFilter, NeverForgetsAKeyAndRejectsMostOthers) {
  std::mt19937_64 rng(3);
  for (size_t n : {size_t{0}, size_t{1}, size_t{100}, size_t{20000}}) {
    std::vector<uint64_t> keys(n);
    for (uint64_t& k : keys) k = rng();
    KeyFilter f;
    f.build(keys);
    for (uint64_t k : keys) ASSERT_TRUE(f.maybe(k)) << n;
    size_t false_maybe = 0;
    for (int i = 0; i < 100000; ++i) false_maybe += f.maybe(rng());
    EXPECT_LT(false_maybe, 100000 / 12) << n << " keys";  // ~1/16 at 16 bits per key
  }
  EXPECT_FALSE(KeyFilter{}.maybe(42));  // not built: nothing is in it
}

}  // namespace
}  // namespace simcore::dp
