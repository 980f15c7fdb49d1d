// The pipeline stage by stage, as named cases: packet in → verdict, stage, drop reason, rule,
// rewrite. Every case runs through both the reference evaluator and the compiled tables.
#include <gtest/gtest.h>

#include "core/compiler.h"
#include "core/reference_eval.h"
#include "core/table_lookup.h"

namespace simcore::core {
namespace {

Ipv4 ip(const char* s) { return Ipv4::parse(s).value(); }
Cidr cidr(const char* s) { return Cidr::parse(s).value(); }

FirewallRule rule(uint32_t prio, Action a, Protocol p, const char* remote, PortRange rports = {},
                  PortRange lports = {}) {
  FirewallRule r;
  r.priority = prio;
  r.action = a;
  r.protocol = p;
  r.remote = cidr(remote);
  r.remote_ports = rports;
  r.local_ports = lports;
  return r;
}

// Two networks: "meters" (isolated, VLAN 100, a blackhole and a tunnel route) and "cams"
// (not isolated). Meters may only speak CoAP and HTTPS to the back end; cameras are stateful
// and accept inbound only on their forwarded port.
class Pipeline : public ::testing::Test {
 protected:
  void SetUp() override {
    Network m;
    m.name = "meters";
    m.apn = "meters.example";
    m.isolation = true;
    m.vlan = 100;
    meters_ = acct_.create_network(m).value();
    (void)acct_.add_pool(meters_, cidr("10.8.0.0/24")).value();
    IpsecTunnel t;
    t.name = "hq";
    t.peer = ip("198.18.0.1");
    t.remote_subnets = {cidr("172.16.0.0/16")};
    t.ike_proposals = {"aes128-sha256-modp2048"};
    t.esp_proposals = {"aes128gcm16"};
    t.pre_shared_key = "0123456789abcdef";
    tunnel_ = acct_.add_tunnel(meters_, t).value();
    Route tr;
    tr.destination = cidr("172.16.0.0/16");
    tr.target = RouteTarget::kIpsecTunnel;
    tr.tunnel = tunnel_;
    (void)acct_.add_route(meters_, tr).value();
    Route bh;
    bh.destination = cidr("192.0.2.128/25");
    bh.target = RouteTarget::kBlackhole;
    (void)acct_.add_route(meters_, bh).value();

    Network c;
    c.name = "cams";
    c.apn = "cams.example";
    c.isolation = false;
    cams_ = acct_.create_network(c).value();
    (void)acct_.add_pool(cams_, cidr("10.9.0.0/24")).value();

    IpProfile mp;
    mp.name = "meters";
    mp.outbound.default_action = Action::kDeny;
    mp.outbound.rules = {rule(10, Action::kAllow, Protocol::kUdp, "192.0.2.0/24", {5683, 5683}),
                         rule(20, Action::kAllow, Protocol::kTcp, "192.0.2.0/24", {443, 443}),
                         rule(30, Action::kAllow, Protocol::kAny, "172.16.0.0/16"),
                         rule(40, Action::kAllow, Protocol::kAny, "10.8.0.0/24")};
    mp.inbound.default_action = Action::kDeny;
    mp.inbound.rules = {rule(10, Action::kAllow, Protocol::kUdp, "192.0.2.0/24", {}, {5683, 5683})};
    const ProfileId mpid = acct_.create_profile(mp).value();
    IpProfile cp;
    cp.name = "cams";
    cp.stateful = true;
    cp.inbound.default_action = Action::kDeny;
    cp.inbound.rules = {rule(10, Action::kAllow, Protocol::kTcp, "0.0.0.0/0", {}, {554, 554})};
    const ProfileId cpid = acct_.create_profile(cp).value();
    ThingsGroup mg{GroupId{}, "meters", meters_, mpid, {}, false};
    ThingsGroup cg{GroupId{}, "cams", cams_, cpid, {}, false};
    const GroupId mgid = acct_.create_group(mg).value();
    const GroupId cgid = acct_.create_group(cg).value();

    meter_a_ = add_thing(1, mgid, "10.8.0.10", 0x100);
    meter_b_ = add_thing(2, mgid, "10.8.0.11", 0x101);
    cam_a_ = add_thing(3, cgid, "10.9.0.10", 0x200, /*lock=*/true);
    cam_b_ = add_thing(4, cgid, "10.9.0.11", 0x201);
    suspended_ = add_thing(5, mgid, "10.8.0.12", 0x102);
    ASSERT_TRUE(acct_.set_state(suspended_, ThingState::kSuspended).ok());
    NatRule nat;
    nat.protocol = Protocol::kTcp;
    nat.public_ip = ip("203.0.113.5");
    nat.public_port = 8554;
    nat.thing = cam_a_;
    nat.thing_port = 554;
    ASSERT_TRUE(acct_.add_nat_rule(cams_, nat).ok());
  }

  ThingId add_thing(int n, GroupId g, const char* addr, uint32_t teid, bool lock = false) {
    Thing t;
    t.iccid = "893100000000000000" + std::to_string(n);
    t.imsi = "20408000000000" + std::to_string(n);
    t.group = g;
    t.ip_lock = true;
    t.locked_addr = ip(addr);  // pins the address so the cases can name it
    const ThingId id = acct_.provision({t}).value()[0];
    EXPECT_TRUE(acct_.set_state(id, ThingState::kActive).ok());
    AttachRequest req;
    req.uplink_teid = teid;
    req.peer_addr = ip("100.64.0.1");
    req.peer_teid = teid + 0x10000;
    EXPECT_TRUE(acct_.attach(id, req).ok());
    if (!lock) {
      ThingPatch p;
      p.ip_lock = false;  // the address stays leased to the open session
      EXPECT_TRUE(acct_.update_thing(id, p).ok());
    }
    return id;
  }

  Account acct_;
  NetworkId meters_, cams_;
  TunnelId tunnel_;
  ThingId meter_a_, meter_b_, cam_a_, cam_b_, suspended_;
};

PacketDesc up(uint32_t teid, const char* src, const char* dst, uint8_t proto, uint16_t sport = 0,
              uint16_t dport = 0) {
  return {Direction::kUplink, teid, ip(src), ip(dst), proto, sport, dport};
}
PacketDesc down(const char* src, const char* dst, uint8_t proto, uint16_t sport = 0,
                uint16_t dport = 0) {
  return {Direction::kDownlink, 0, ip(src), ip(dst), proto, sport, dport};
}

struct Case {
  const char* name;
  std::vector<PacketDesc> before;  // sent first (to open stateful flows)
  PacketDesc in;
  Verdict verdict;
  Stage stage;
  DropReason drop;
  const char* out_dst = nullptr;  // expected rewritten destination, if any
  const char* out_src = nullptr;
};

TEST_F(Pipeline, EveryStageAndDropReason) {
  constexpr auto kTcp = 6, kUdp = 17, kIcmp = 1;
  const Case cases[] = {
      {"meter CoAP to its back end is forwarded", {}, up(0x100, "10.8.0.10", "192.0.2.10", kUdp, 40000, 5683),
       Verdict::kForward, Stage::kDeliver, DropReason::kNone},
      {"unknown TEID has no session", {}, up(0x999, "10.8.0.10", "192.0.2.10", kUdp, 1, 5683),
       Verdict::kDrop, Stage::kSession, DropReason::kUplinkNoSession},
      {"spoofed inner source", {}, up(0x100, "10.8.0.99", "192.0.2.10", kUdp, 1, 5683), Verdict::kDrop,
       Stage::kAntiSpoof, DropReason::kUplinkSpoofedSource},
      {"meter to anything else hits the default deny", {}, up(0x100, "10.8.0.10", "8.8.8.8", kUdp, 1, 53),
       Verdict::kDrop, Stage::kFirewallOut, DropReason::kUplinkFirewall},
      {"meter to meter in an isolated network", {}, up(0x100, "10.8.0.10", "10.8.0.11", kIcmp),
       Verdict::kDrop, Stage::kIsolation, DropReason::kUplinkIsolation},
      {"meter to the blackholed half of the back end", {},
       up(0x100, "10.8.0.10", "192.0.2.200", kTcp, 40000, 443), Verdict::kDrop, Stage::kRoute,
       DropReason::kUplinkBlackhole},
      {"meter to headquarters goes into the tunnel", {}, up(0x100, "10.8.0.10", "172.16.1.1", kTcp, 1, 22),
       Verdict::kTunnel, Stage::kDeliver, DropReason::kNone},
      {"camera to camera hairpins in a shared network", {}, up(0x200, "10.9.0.10", "10.9.0.11", kTcp, 5000, 554),
       Verdict::kHairpin, Stage::kDeliver, DropReason::kNone},
      {"camera to a free pool address has no peer", {}, up(0x200, "10.9.0.10", "10.9.0.99", kTcp, 5000, 554),
       Verdict::kDrop, Stage::kIsolation, DropReason::kUplinkNoPeerThing},
      {"camera reply from its forwarded port leaves NATed", {}, up(0x200, "10.9.0.10", "198.51.100.7", kTcp, 554, 50000),
       Verdict::kForward, Stage::kDeliver, DropReason::kNone, nullptr, "203.0.113.5"},
      {"inbound to the public port reaches the camera", {}, down("198.51.100.7", "203.0.113.5", kTcp, 50000, 8554),
       Verdict::kDeliver, Stage::kDeliver, DropReason::kNone, "10.9.0.10"},
      {"unsolicited inbound to a camera is dropped", {}, down("198.51.100.7", "10.9.0.11", kTcp, 50000, 80),
       Verdict::kDrop, Stage::kFirewallIn, DropReason::kDownlinkFirewall},
      {"reply to a flow the camera opened passes", {up(0x201, "10.9.0.11", "198.51.100.7", kTcp, 41000, 443)},
       down("198.51.100.7", "10.9.0.11", kTcp, 443, 41000), Verdict::kDeliver, Stage::kDeliver, DropReason::kNone},
      {"downlink to an address nobody holds", {}, down("192.0.2.10", "10.8.0.200", kUdp, 5683, 5683),
       Verdict::kDrop, Stage::kSession, DropReason::kDownlinkNoSession},
      {"suspended meter's session is gone", {}, up(0x102, "10.8.0.12", "192.0.2.10", kUdp, 1, 5683),
       Verdict::kDrop, Stage::kSession, DropReason::kUplinkNoSession},
      {"back end CoAP to a meter is delivered", {}, down("192.0.2.10", "10.8.0.10", kUdp, 5683, 5683),
       Verdict::kDeliver, Stage::kDeliver, DropReason::kNone},
  };
  Compiler compiler;
  auto tables = compiler.compile(acct_.model());
  ASSERT_TRUE(tables.ok()) << tables.error().message();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FlowMemory ref_flows, tab_flows;
    for (const PacketDesc& p : c.before) {
      (void)evaluate_reference(acct_.model(), p, ref_flows);
      (void)lookup_packet(**tables, p, tab_flows);
    }
    const Decision want = evaluate_reference(acct_.model(), c.in, ref_flows);
    const Decision got = lookup_packet(**tables, c.in, tab_flows);
    EXPECT_EQ(want.verdict, c.verdict) << verdict_name(want.verdict);
    EXPECT_EQ(want.stage, c.stage) << stage_name(want.stage);
    EXPECT_EQ(want.drop, c.drop) << drop_reason_name(want.drop);
    if (c.out_dst) {
      EXPECT_EQ(want.out.dst, ip(c.out_dst));
    }
    if (c.out_src) {
      EXPECT_EQ(want.out.src, ip(c.out_src));
    }
    EXPECT_TRUE(got == want) << "tables disagree with the reference: " << verdict_name(got.verdict)
                             << " " << drop_reason_name(got.drop);
  }
}

TEST_F(Pipeline, StateAndServiceStagesSeeWhatTheModelSays) {
  // The account ends sessions when a Thing is suspended; a model that still has one (a
  // teardown in flight) must still be stopped by the state stage.
  Model m = acct_.model();
  m.things[acct_.thing(meter_a_)->slot.value].state = ThingState::kSuspended;
  m.things[acct_.thing(meter_b_)->slot.value].services.data = false;
  Compiler compiler;
  auto t = compiler.compile(m);
  ASSERT_TRUE(t.ok());
  FlowMemory f1, f2;
  const PacketDesc a = up(0x100, "10.8.0.10", "192.0.2.10", 17, 1, 5683);
  const PacketDesc b = up(0x101, "10.8.0.11", "192.0.2.10", 17, 1, 5683);
  EXPECT_EQ(evaluate_reference(m, a, f1).drop, DropReason::kUplinkNotActive);
  EXPECT_EQ(lookup_packet(**t, a, f2).drop, DropReason::kUplinkNotActive);
  EXPECT_EQ(evaluate_reference(m, b, f1).drop, DropReason::kUplinkDataDisabled);
  EXPECT_EQ(lookup_packet(**t, b, f2).drop, DropReason::kUplinkDataDisabled);
  const PacketDesc da = down("192.0.2.10", "10.8.0.10", 17, 5683, 5683);
  EXPECT_EQ(evaluate_reference(m, da, f1).drop, DropReason::kDownlinkNotActive);
  EXPECT_EQ(lookup_packet(**t, da, f2).drop, DropReason::kDownlinkNotActive);
  const PacketDesc db = down("192.0.2.10", "10.8.0.11", 17, 5683, 5683);
  EXPECT_EQ(evaluate_reference(m, db, f1).drop, DropReason::kDownlinkDataDisabled);
  EXPECT_EQ(lookup_packet(**t, db, f2).drop, DropReason::kDownlinkDataDisabled);
}

}  // namespace
}  // namespace simcore::core
