// Compiler: conflicts are rejected before anything is produced, naming the object at fault;
// the rows carry what the model says; incremental updates touch only what changed.
#include "core/compiler.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>

namespace simcore::core {
namespace {

Ipv4 ip(const char* s) { return Ipv4::parse(s).value(); }
Cidr cidr(const char* s) { return Cidr::parse(s).value(); }

// A small valid account: the shipped defaults, a second network with a tunnel, one locked,
// attached Thing with a NAT rule.
struct Fixture {
  Account account;
  NetworkId net2;
  TunnelId tunnel;
  ThingId thing;

  Fixture() {
    Network n;
    n.name = "second";
    n.apn = "second.example";
    n.vlan = 42;
    net2 = account.create_network(n).value();
    (void)account.add_pool(net2, cidr("10.200.0.0/24")).value();
    IpsecTunnel t;
    t.name = "hq";
    t.peer = ip("198.18.0.1");
    t.remote_subnets = {cidr("172.16.0.0/16")};
    t.ike_proposals = {"aes128-sha256-modp2048"};
    t.esp_proposals = {"aes128gcm16"};
    t.pre_shared_key = "0123456789abcdef";
    tunnel = account.add_tunnel(net2, t).value();
    Route r;
    r.destination = cidr("172.16.0.0/16");
    r.target = RouteTarget::kIpsecTunnel;
    r.tunnel = tunnel;
    (void)account.add_route(net2, r).value();
    ThingsGroup g;
    g.name = "g2";
    g.network = net2;
    g.profile = account.group(account.default_group())->profile;
    const GroupId gid = account.create_group(g).value();
    Thing spec;
    spec.iccid = "8931000000000000001";
    spec.imsi = "204080000000001";
    spec.group = gid;
    spec.ip_lock = true;
    spec.locked_addr = ip("10.200.0.7");
    thing = account.provision({spec}).value()[0];
    EXPECT_TRUE(account.set_state(thing, ThingState::kActive).ok());
    AttachRequest req;
    req.uplink_teid = 0x1001;
    req.peer_addr = ip("100.64.0.1");
    req.peer_teid = 0x2002;
    EXPECT_TRUE(account.attach(thing, req).ok());
    NatRule nat;
    nat.protocol = Protocol::kTcp;
    nat.public_ip = ip("203.0.113.5");
    nat.public_port = 8443;
    nat.thing = thing;
    nat.thing_port = 443;
    EXPECT_TRUE(account.add_nat_rule(net2, nat).ok());
  }
};

TEST(Compiler, RowsCarryTheModel) {
  Fixture f;
  Compiler c;
  auto t = c.compile(f.account.model());
  ASSERT_TRUE(t.ok()) << t.error().message();
  const CompiledTables& tables = **t;
  EXPECT_EQ(tables.generation, 1u);
  const uint32_t slot = tables.by_teid.find(teid_be(0x1001).raw);
  ASSERT_NE(slot, FlatIndex::kNotFound);
  EXPECT_EQ(slot, f.account.thing(f.thing)->slot.value);
  EXPECT_EQ(tables.by_ue.find(to_be(ip("10.200.0.7")).raw), slot);
  const SessionRow& row = tables.sessions[slot];
  EXPECT_EQ(row.ue_addr, to_be(ip("10.200.0.7")));
  EXPECT_EQ(row.peer_addr, to_be(ip("100.64.0.1")));
  EXPECT_EQ(row.peer_teid, teid_be(0x2002));
  EXPECT_EQ(row.flags, kSessionAttached | kSessionActive | kSessionDataAllowed);
  EXPECT_EQ(tables.networks[row.network].vlan, 42);
  ASSERT_EQ(tables.nat_in.size(), 1u);
  EXPECT_EQ(tables.nat_in[0].public_port, port_be(8443));
  EXPECT_EQ(tables.nat_in[0].thing_ip, to_be(ip("10.200.0.7")));
  ASSERT_EQ(tables.tunnels.size(), 1u);
  EXPECT_EQ(tables.tunnels[0].peer, to_be(ip("198.18.0.1")));
  ASSERT_EQ(tables.spd.size(), 1u);
  EXPECT_EQ(tables.spd[0].prefix, ip("172.16.0.0").value);
}

TEST(Compiler, ChainIsInPriorityOrderWithMaskedPrefixes) {
  Chain chain;
  FirewallRule a;
  a.id = RuleId{7};
  a.priority = 20;
  a.remote = Cidr{ip("192.0.2.0"), 24};
  FirewallRule b;
  b.id = RuleId{8};
  b.priority = 10;
  b.action = Action::kDeny;
  b.protocol = Protocol::kUdp;
  b.local_ports = {5683, 5683};
  chain.rules = {a, b};
  chain.default_action = Action::kDeny;
  const CompiledChain c = compile_chain(chain);
  ASSERT_EQ(c.rules.size(), 2u);
  EXPECT_EQ(c.rules[0].rule_id, 8u);
  EXPECT_EQ(c.rules[0].proto, 17);
  EXPECT_EQ(c.rules[0].local_port_lo, 5683);
  EXPECT_EQ(c.rules[1].rule_id, 7u);
  EXPECT_EQ(c.rules[1].remote_addr, ip("192.0.2.0").value);
  EXPECT_EQ(c.rules[1].remote_len, 24);
  EXPECT_EQ(c.default_action, static_cast<uint8_t>(Action::kDeny));
}

struct ConflictCase {
  const char* name;
  std::function<void(Model&, const Fixture&)> corrupt;
  Code code;
  const char* field_contains;
};

// Models that Account would refuse to build, made by editing a valid model directly: the
// compiler is the last gate before publication and must refuse them too.
const ConflictCase kConflicts[] = {
    {"overlapping pools in two networks",
     [](Model& m, const Fixture& f) {
       m.networks.at(f.net2).pools.push_back({PoolId{999}, Cidr{Ipv4{(10u << 24) | (64u << 16)}, 24}});
     },
     Code::kInvalidArgument, ".pools"},
    {"two NAT rules on one public port",
     [](Model& m, const Fixture& f) {
       NatRule dup = m.networks.at(f.net2).nat_rules[0];
       dup.id = NatRuleId{998};
       dup.thing_port = 80;
       m.networks.at(f.net2).nat_rules.push_back(dup);
     },
     Code::kConflict, "publicPort"},
    {"two NAT rules on one thing port",
     [](Model& m, const Fixture& f) {
       NatRule dup = m.networks.at(f.net2).nat_rules[0];
       dup.id = NatRuleId{998};
       dup.public_port = 9443;
       m.networks.at(f.net2).nat_rules.push_back(dup);
     },
     Code::kConflict, "thingPort"},
    {"route to a missing tunnel",
     [](Model& m, const Fixture& f) { m.networks.at(f.net2).tunnels.clear(); },
     Code::kInvalidArgument, "routes[0].tunnelId"},
    {"two routes to one prefix",
     [](Model& m, const Fixture& f) {
       Route r = m.networks.at(f.net2).routes[0];
       r.id = RouteId{997};
       r.target = RouteTarget::kBlackhole;
       r.tunnel = TunnelId{};
       m.networks.at(f.net2).routes.push_back(r);
     },
     Code::kConflict, "destination"},
    {"NAT on a thing whose IP is not locked",
     [](Model& m, const Fixture&) {
       m.things[0].ip_lock = false;
       m.things[0].locked_addr.reset();
     },
     Code::kFailedPrecondition, "natRules[0].thingId"},
    {"NAT public address inside a pool",
     [](Model& m, const Fixture& f) {
       m.networks.at(f.net2).nat_rules[0].public_ip = Ipv4{(10u << 24) | (64u << 16) | 9};
     },
     Code::kInvalidArgument, "publicIp"},
    {"two sessions on one TEID",
     [](Model& m, const Fixture& f) {
       Thing t = m.things[0];
       t.id = ThingId{555};
       t.slot = ThingSlot{1};
       t.iccid = "8931000000000000555";
       t.imsi = "204080000000555";
       t.ip_lock = false;
       t.locked_addr.reset();
       t.session->ue_addr = Ipv4{(10u << 24) | (200u << 16) | 8};
       (void)f;
       m.things.push_back(t);
     },
     Code::kConflict, "uplinkTeid"},
    {"session address outside its network's pools",
     [](Model& m, const Fixture&) { m.things[0].session->ue_addr = Ipv4{(10u << 24) | (64u << 16) | 9}; },
     Code::kInvalidArgument, "ueAddress"},
    {"group naming a missing profile",
     [](Model& m, const Fixture&) { m.groups.begin()->second.profile = ProfileId{4242}; },
     Code::kInvalidArgument, "ipProfileId"},
};

TEST(Compiler, ConflictsAreRejectedAndNothingIsReplaced) {
  for (const ConflictCase& c : kConflicts) {
    SCOPED_TRACE(c.name);
    Fixture f;
    Compiler compiler;
    auto good = compiler.compile(f.account.model());
    ASSERT_TRUE(good.ok()) << good.error().message();
    Model bad = f.account.model();
    c.corrupt(bad, f);
    auto r = compiler.compile(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), c.code) << r.error().message();
    ASSERT_FALSE(r.error().fields().empty()) << r.error().message();
    EXPECT_NE(r.error().fields()[0].field.find(c.field_contains), std::string::npos)
        << "field was " << r.error().fields()[0].field;
    // The last good result is still the one to publish, and a later compile works.
    EXPECT_EQ(compiler.last().get(), good->get());
    auto again = compiler.compile(f.account.model());
    ASSERT_TRUE(again.ok()) << again.error().message();
    EXPECT_EQ((*again)->generation, 2u);
  }
}

TEST(Compiler, IncrementalStateChangeClonesOnePageAndKeepsTheOldSnapshot) {
  Fixture f;
  std::vector<Thing> more(20000);
  for (size_t i = 0; i < more.size(); ++i) {
    more[i].iccid = "89310000000" + std::to_string(10000000 + i);
    more[i].imsi = "20408" + std::to_string(1000000000 + i);
  }
  ASSERT_TRUE(f.account.provision(more).ok());
  Compiler c;
  auto before = c.compile(f.account.model());
  ASSERT_TRUE(before.ok());
  const ThingSlot slot = f.account.thing(f.thing)->slot;
  const SessionRow old_row = (*before)->sessions[slot.value];

  ASSERT_TRUE(f.account.set_state(f.thing, ThingState::kSuspended).ok());
  const ThingSlot slots[] = {slot};
  auto after = c.update_things(f.account.model(), slots);
  ASSERT_TRUE(after.ok()) << after.error().message();
  EXPECT_EQ((*after)->generation, (*before)->generation + 1);
  EXPECT_EQ((*after)->sessions.pages_cloned(), 1u);
  // Suspending ended the session: both index entries went, each one bucket page cloned.
  EXPECT_EQ((*after)->by_teid.find(teid_be(0x1001).raw), FlatIndex::kNotFound);
  EXPECT_EQ((*after)->by_ue.find(to_be(ip("10.200.0.7")).raw), FlatIndex::kNotFound);
  EXPECT_LE((*after)->by_teid.pages_cloned(), 2u);
  EXPECT_EQ((*after)->sessions[slot.value].flags & kSessionActive, 0);
  // The published snapshot did not change under its readers.
  EXPECT_EQ(std::memcmp(&(*before)->sessions[slot.value], &old_row, sizeof old_row), 0);
  EXPECT_EQ((*before)->by_teid.find(teid_be(0x1001).raw), slot.value);
}

TEST(Compiler, IncrementalProfileChangeReplacesOnlyThatProfile) {
  Fixture f;
  Compiler c;
  auto before = c.compile(f.account.model());
  ASSERT_TRUE(before.ok());
  const ProfileId pid = f.account.group(f.account.default_group())->profile;
  IpProfile p = *f.account.profile(pid);
  FirewallRule deny;
  deny.priority = 1;
  deny.action = Action::kDeny;
  p.outbound.rules.push_back(deny);
  ASSERT_TRUE(f.account.replace_profile(pid, p).ok());
  auto after = c.update_profile(f.account.model(), pid);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ((*after)->profiles.size(), (*before)->profiles.size());
  EXPECT_EQ((*before)->profiles[0]->outbound.rules.size(), 0u);
  EXPECT_EQ((*after)->profiles[0]->outbound.rules.size(), 1u);
  // Untouched tables are shared, not copied.
  EXPECT_EQ((*after)->sessions.pages_cloned(), 0u);
}

}  // namespace
}  // namespace simcore::core
