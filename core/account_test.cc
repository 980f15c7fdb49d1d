#include "core/account.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/thing_state.h"

namespace simcore::core {
namespace {

// ---------------------------------------------------------------- helpers

Ipv4 ip(const char* text) {
  auto r = Ipv4::parse(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? *r : Ipv4{};
}

Cidr cidr(const char* text) {
  auto r = Cidr::parse(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? *r : Cidr{};
}

std::string digits(const char* prefix, uint32_t n, int width) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s%0*u", prefix, width, n);
  return buf;
}
std::string iccid(uint32_t n) { return digits("8949", n, 15); }  // 19 digits
std::string imsi(uint32_t n) { return digits("26201", n, 10); }  // 15 digits
std::string msisdn(uint32_t n) { return digits("4915", n, 9); }  // 13 digits

// A valid SIM for the default group.
Thing sim(uint32_t n) {
  Thing t;
  t.iccid = iccid(n);
  t.imsi = imsi(n);
  t.msisdn = msisdn(n);
  t.name = "meter-" + std::to_string(n);
  return t;
}

std::set<std::string> fields_of(const Error& e) {
  std::set<std::string> out;
  for (const FieldError& f : e.fields()) out.insert(f.field);
  return out;
}

std::string join(const std::set<std::string>& s) {
  std::string out;
  for (const auto& x : s) out += (out.empty() ? "" : ", ") + x;
  return out;
}

// Succeeds when `s` failed with `code`, blaming exactly `fields`, each named in the message.
testing::AssertionResult Fails(const Status& s, Code code, const std::set<std::string>& fields) {
  if (s.ok()) {
    return testing::AssertionFailure()
           << "succeeded; wanted " << code_name(code) << " on {" << join(fields) << "}";
  }
  const Error& e = s.error();
  if (e.code() != code || fields_of(e) != fields) {
    return testing::AssertionFailure()
           << "got " << code_name(e.code()) << " on {" << join(fields_of(e)) << "}: " << e.message()
           << "; wanted " << code_name(code) << " on {" << join(fields) << "}";
  }
  for (const auto& f : fields) {
    if (e.message().find(f) == std::string::npos) {
      return testing::AssertionFailure() << "message does not name " << f << ": " << e.message();
    }
  }
  return testing::AssertionSuccess();
}
template <class T>
testing::AssertionResult Fails(const Result<T>& r, Code code, const std::set<std::string>& fields) {
  return Fails(r.status(), code, fields);
}

// Everything observable about an account, so a failed call can be shown to have changed nothing.
std::string dump(const Account& a) {
  std::ostringstream o;
  const Model& m = a.model();
  for (const Thing& t : m.things) {
    o << "thing " << t.id.value << " slot " << t.slot.value << " " << t.iccid << " " << t.imsi
      << " " << t.msisdn << " name=" << t.name << " " << state_name(t.state) << " group "
      << t.group.value << " tags";
    for (const auto& tag : t.tags) o << " " << tag;
    o << " imei " << t.imei << " imeiLock " << t.imei_lock << " ipLock " << t.ip_lock << " locked "
      << (t.locked_addr ? t.locked_addr->str() : "-") << " services " << t.services.data
      << t.services.sms;
    if (t.session) {
      o << " session " << t.session->ue_addr.str() << " teid " << t.session->uplink_teid;
    }
    o << "\n";
  }
  for (const auto& [id, g] : m.groups) {
    o << "group " << id.value << " " << g.name << " net " << g.network.value << " profile "
      << g.profile.value << " default " << g.is_default << " services " << g.services.data
      << g.services.sms << "\n";
  }
  for (const auto& [id, n] : m.networks) {
    o << "network " << id.value << " " << n.name << " " << n.apn << " isolation " << n.isolation
      << " vlan " << n.vlan << "\n";
    for (const auto& p : n.pools) o << "  pool " << p.id.value << " " << p.cidr.str() << "\n";
    for (const auto& r : n.routes) {
      o << "  route " << r.id.value << " " << r.destination.str() << " "
        << route_target_name(r.target) << " " << r.tunnel.value << "\n";
    }
    for (const auto& r : n.nat_rules) {
      o << "  nat " << r.id.value << " " << protocol_name(r.protocol) << " " << r.public_ip.str()
        << ":" << r.public_port << " -> " << r.thing.value << ":" << r.thing_port << "\n";
    }
    for (const auto& t : n.tunnels) o << "  tunnel " << t.id.value << " " << t.name << "\n";
    if (const IpAllocator* al = a.allocator(id)) {
      o << "  leased " << al->leased() << " of " << al->capacity();
      for (const auto& [pid, c] : al->pools()) o << " " << pid.value << "=" << c.str();
      o << "\n";
    }
  }
  for (const auto& [id, p] : m.profiles) {
    o << "profile " << id.value << " " << p.name << " stateful " << p.stateful << "\n";
    for (const Chain* c : {&p.inbound, &p.outbound}) {
      o << "  chain " << action_name(c->default_action);
      for (const auto& r : c->rules) {
        o << " [" << r.id.value << " " << r.priority << " " << action_name(r.action) << " "
          << protocol_name(r.protocol) << " " << r.remote.str() << " " << r.remote_ports.str()
          << " " << r.local_ports.str() << "]";
      }
      o << "\n";
    }
  }
  for (const auto& [id, u] : m.users) {
    o << "user " << id.value << " " << u.email << " " << role_name(u.role) << " groups";
    for (GroupId g : u.groups) o << " " << g.value;
    o << "\n";
  }
  return o.str();
}

AttachRequest attach_req(uint32_t teid, std::string imei = "") {
  AttachRequest r;
  r.uplink_teid = teid;
  r.peer_addr = ip("192.0.2.1");
  r.peer_teid = 0x10000 + teid;
  r.apn = "iot.simcore";
  r.rat = Rat::kLteM;
  r.mcc = 262;
  r.mnc = 1;
  r.imei = std::move(imei);
  return r;
}

IpsecTunnel tunnel_spec(const char* name) {
  IpsecTunnel t;
  t.name = name;
  t.peer = ip("198.51.100.7");
  t.remote_subnets = {cidr("172.16.0.0/16")};
  t.ike_proposals = {"aes128-sha256-modp2048"};
  t.esp_proposals = {"aes128gcm16"};
  t.pre_shared_key = "0123456789abcdef0123";
  return t;
}

FirewallRule rule(uint32_t priority, Protocol proto = Protocol::kTcp) {
  FirewallRule r;
  r.priority = priority;
  r.protocol = proto;
  return r;
}

class AccountTest : public testing::Test {
 protected:
  GroupId def_group() const { return acct_.default_group(); }
  NetworkId def_net() const { return acct_.group(def_group())->network; }
  ProfileId def_profile() const { return acct_.group(def_group())->profile; }
  const IpAllocator& alloc(NetworkId n) const { return *acct_.allocator(n); }

  ThingId provision(Thing t) {
    auto r = acct_.provision({std::move(t)});
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? r->at(0) : ThingId{};
  }
  ThingId active(Thing t) {
    const ThingId id = provision(std::move(t));
    EXPECT_TRUE(acct_.set_state(id, ThingState::kActive).ok());
    return id;
  }
  NetworkId make_network(const char* name, const char* apn, const char* pool) {
    Network n;
    n.name = name;
    n.apn = apn;
    auto id = acct_.create_network(n);
    EXPECT_TRUE(id.ok()) << id.error().message();
    if (!id.ok()) return {};
    if (pool) {
      auto p = acct_.add_pool(*id, cidr(pool));
      EXPECT_TRUE(p.ok()) << p.error().message();
    }
    return *id;
  }
  GroupId make_group(const char* name, NetworkId net) {
    ThingsGroup g;
    g.name = name;
    g.network = net;
    g.profile = def_profile();
    auto id = acct_.create_group(g);
    EXPECT_TRUE(id.ok()) << id.error().message();
    return id.ok() ? *id : GroupId{};
  }
  const Thing& thing(ThingId id) const { return *acct_.thing(id); }

  Account acct_;
};

// ---------------------------------------------------------------- shipped defaults

TEST_F(AccountTest, ShipsWithDefaultGroupNetworkAndProfile) {
  const Model& m = acct_.model();
  ASSERT_EQ(m.groups.size(), 1u);
  ASSERT_EQ(m.networks.size(), 1u);
  ASSERT_EQ(m.profiles.size(), 1u);
  EXPECT_TRUE(m.things.empty());
  EXPECT_TRUE(m.users.empty());

  const ThingsGroup* g = acct_.group(def_group());
  ASSERT_NE(g, nullptr);
  EXPECT_TRUE(g->is_default);
  EXPECT_EQ(g->name, "Default group");
  EXPECT_TRUE(g->services.data);

  const Network* n = acct_.network(g->network);
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->apn, "iot.simcore");
  ASSERT_EQ(n->pools.size(), 1u);
  EXPECT_EQ(n->pools[0].cidr, cidr("10.64.0.0/12"));
  ASSERT_NE(acct_.allocator(n->id), nullptr);
  EXPECT_EQ(alloc(n->id).capacity(), (uint64_t{1} << 20) - 2);
  EXPECT_EQ(alloc(n->id).leased(), 0u);

  const IpProfile* p = acct_.profile(g->profile);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->inbound.rules.empty());
  EXPECT_TRUE(p->outbound.rules.empty());
  EXPECT_EQ(p->inbound.default_action, Action::kAllow);
  EXPECT_EQ(p->outbound.default_action, Action::kAllow);
}

TEST(Account, ShippedDefaultsAreHonoured) {
  ShippedDefaults d;
  d.apn = "m2m.example";
  d.pool = cidr("100.64.0.0/16");
  d.group_name = "Fleet";
  Account a(d);
  const ThingsGroup* g = a.group(a.default_group());
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->name, "Fleet");
  EXPECT_TRUE(g->is_default);
  EXPECT_EQ(a.network(g->network)->apn, "m2m.example");
  EXPECT_EQ(a.network(g->network)->pools.at(0).cidr, cidr("100.64.0.0/16"));
  EXPECT_EQ(a.allocator(g->network)->capacity(), 65534u);
}

// ---------------------------------------------------------------- provisioning: bad input

struct BadThing {
  const char* name;
  std::function<void(Thing&)> mutate;
  std::set<std::string> fields;  // relative to the item, e.g. "iccid"
};

const std::vector<BadThing>& bad_things() {
  static const std::vector<BadThing> kCases = {
      {"ICCID too short", [](Thing& t) { t.iccid = "894900000000001"; }, {"iccid"}},
      {"ICCID 21 digits", [](Thing& t) { t.iccid = "894900000000000000012"; }, {"iccid"}},
      {"ICCID with a letter", [](Thing& t) { t.iccid[10] = 'F'; }, {"iccid"}},
      {"ICCID empty", [](Thing& t) { t.iccid.clear(); }, {"iccid"}},
      {"IMSI 16 digits", [](Thing& t) { t.imsi += "1"; }, {"imsi"}},
      {"IMSI 5 digits", [](Thing& t) { t.imsi = "26201"; }, {"imsi"}},
      {"IMSI with a letter", [](Thing& t) { t.imsi[5] = 'x'; }, {"imsi"}},
      {"IMSI with a dash", [](Thing& t) { t.imsi[5] = '-'; }, {"imsi"}},
      {"IMSI empty", [](Thing& t) { t.imsi.clear(); }, {"imsi"}},
      {"MSISDN with +", [](Thing& t) { t.msisdn = "+" + t.msisdn; }, {"msisdn"}},
      {"MSISDN 16 digits", [](Thing& t) { t.msisdn = "4915123456789012"; }, {"msisdn"}},
      {"IMEI 13 digits", [](Thing& t) { t.imei = "3569380356438"; }, {"imei"}},
      {"IMEI with letters", [](Thing& t) { t.imei = "35693803564380A"; }, {"imei"}},
      {"tag with a space",
       [](Thing& t) {
         t.tags = {"ok", "not ok"};
       },
       {"tags[1]"}},
      {"empty tag", [](Thing& t) { t.tags = {""}; }, {"tags[0]"}},
      {"tag of 65 characters", [](Thing& t) { t.tags = {std::string(65, 'x')}; }, {"tags[0]"}},
      {"duplicate tag",
       [](Thing& t) {
         t.tags = {"a", "b", "a"};
       },
       {"tags[2]"}},
      {"33 tags",
       [](Thing& t) {
         for (int i = 0; i < 33; ++i) t.tags.push_back("t" + std::to_string(i));
       },
       {"tags"}},
      {"name with a newline", [](Thing& t) { t.name = "line\nbreak"; }, {"name"}},
      {"name of 129 characters", [](Thing& t) { t.name = std::string(129, 'n'); }, {"name"}},
      {"ipLock without address", [](Thing& t) { t.ip_lock = true; }, {"lockedAddress"}},
      {"address without ipLock",
       [](Thing& t) { t.locked_addr = ip("10.64.0.9"); },
       {"lockedAddress"}},
      {"locked address outside every pool",
       [](Thing& t) {
         t.ip_lock = true;
         t.locked_addr = ip("192.0.2.10");
       },
       {"lockedAddress"}},
      {"a session", [](Thing& t) { t.session = Session{}; }, {"session"}},
      {"unknown group", [](Thing& t) { t.group = GroupId{9999}; }, {"thingsGroupId"}},
      {"bad ICCID and IMSI and IMEI together",
       [](Thing& t) {
         t.iccid = "1";
         t.imsi = "x";
         t.imei = "1";
       },
       {"iccid", "imsi", "imei"}},
  };
  return kCases;
}

TEST_F(AccountTest, ProvisionNamesTheBadFieldOfTheBadItemAndAppliesNothing) {
  const ThingId existing = provision(sim(100));
  const std::string before = dump(acct_);
  for (const BadThing& c : bad_things()) {
    SCOPED_TRACE(c.name);
    std::vector<Thing> batch;
    for (uint32_t i = 0; i < 5; ++i) batch.push_back(sim(i));
    c.mutate(batch[3]);
    std::set<std::string> want;
    for (const auto& f : c.fields) want.insert("[3]." + f);

    auto r = acct_.provision(batch);
    EXPECT_TRUE(Fails(r, Code::kInvalidArgument, want));
    EXPECT_EQ(dump(acct_), before);
    EXPECT_EQ(acct_.thing_by_iccid(iccid(0)), nullptr);
    EXPECT_EQ(acct_.thing_by_imsi(imsi(0)), nullptr);
  }
  EXPECT_EQ(acct_.model().things.size(), 1u);
  EXPECT_EQ(acct_.thing_by_iccid(iccid(100))->id, existing);
}

TEST_F(AccountTest, ProvisionNamesEveryBadFieldOfEveryItem) {
  std::vector<Thing> batch;
  for (uint32_t i = 0; i < 5; ++i) batch.push_back(sim(i));
  batch[1].iccid = "12";
  batch[3].imsi = "12345678901234567";
  batch[3].msisdn = "abc";
  batch[4].tags = {"fine", "fine"};
  EXPECT_TRUE(Fails(acct_.provision(batch), Code::kInvalidArgument,
                    {"[1].iccid", "[3].imsi", "[3].msisdn", "[4].tags[1]"}));
  EXPECT_TRUE(acct_.model().things.empty());
}

TEST_F(AccountTest, ProvisionRefusesDuplicateIccidWithinTheBatch) {
  std::vector<Thing> batch = {sim(0), sim(1), sim(2)};
  batch[2].iccid = batch[0].iccid;
  auto r = acct_.provision(batch);
  ASSERT_TRUE(Fails(r, Code::kInvalidArgument, {"[2].iccid"}));
  EXPECT_NE(r.error().message().find("item 0"), std::string::npos) << r.error().message();
  EXPECT_TRUE(acct_.model().things.empty());
  EXPECT_EQ(acct_.thing_by_iccid(iccid(0)), nullptr);
  EXPECT_EQ(acct_.thing_by_imsi(imsi(1)), nullptr);
}

TEST_F(AccountTest, ProvisionRefusesIccidOfAnExistingThing) {
  provision(sim(7));
  const std::string before = dump(acct_);
  Thing again = sim(8);
  again.iccid = iccid(7);
  auto r = acct_.provision({sim(9), again});
  ASSERT_TRUE(Fails(r, Code::kInvalidArgument, {"[1].iccid"}));
  EXPECT_NE(r.error().message().find("already provisioned"), std::string::npos);
  EXPECT_EQ(dump(acct_), before);
  EXPECT_EQ(acct_.thing_by_iccid(iccid(9)), nullptr);
}

TEST_F(AccountTest, ProvisionRefusesDuplicateImsiWithinTheBatchAndAgainstExisting) {
  std::vector<Thing> batch = {sim(0), sim(1)};
  batch[1].imsi = batch[0].imsi;
  EXPECT_TRUE(Fails(acct_.provision(batch), Code::kInvalidArgument, {"[1].imsi"}));
  EXPECT_TRUE(acct_.model().things.empty());

  provision(sim(5));
  Thing dup = sim(6);
  dup.imsi = imsi(5);
  EXPECT_TRUE(Fails(acct_.provision({dup}), Code::kInvalidArgument, {"[0].imsi"}));
  EXPECT_EQ(acct_.model().things.size(), 1u);
  EXPECT_EQ(acct_.thing_by_iccid(iccid(6)), nullptr);
}

TEST_F(AccountTest, ProvisionRefusesAnUnknownGroup) {
  Thing t = sim(0);
  t.group = GroupId{4242};
  EXPECT_TRUE(Fails(acct_.provision({t}), Code::kInvalidArgument, {"[0].thingsGroupId"}));
  EXPECT_TRUE(acct_.model().things.empty());
}

TEST_F(AccountTest, ProvisionRefusesLockedAddressesInUse) {
  std::vector<Thing> batch = {sim(0), sim(1)};
  for (Thing& t : batch) {
    t.ip_lock = true;
    t.locked_addr = ip("10.64.0.20");
  }
  EXPECT_TRUE(Fails(acct_.provision(batch), Code::kInvalidArgument, {"[1].lockedAddress"}));
  EXPECT_EQ(alloc(def_net()).leased(), 0u);

  // An address leased dynamically to an attached Thing is in use too.
  const ThingId id = active(sim(2));
  auto s = acct_.attach(id, attach_req(1));
  ASSERT_TRUE(s.ok());
  Thing t = sim(3);
  t.ip_lock = true;
  t.locked_addr = s->ue_addr;
  EXPECT_TRUE(Fails(acct_.provision({t}), Code::kInvalidArgument, {"[0].lockedAddress"}));
  EXPECT_EQ(alloc(def_net()).leased(), 1u);
}

// The "bad input" requirement: a batch of 1,000 with one bad item changes nothing at all.
TEST_F(AccountTest, BatchOfThousandWithLastItemBadProvisionsNothingAndReservesNothing) {
  std::vector<Thing> batch;
  for (uint32_t i = 0; i < 1000; ++i) {
    Thing t = sim(i);
    if (i < 10) {  // some locked addresses that a half-applied batch would leave reserved
      t.ip_lock = true;
      t.locked_addr = Ipv4{ip("10.64.1.0").value + i + 1};
    }
    batch.push_back(t);
  }
  batch[999].iccid = "not-an-iccid";
  const uint64_t leased = alloc(def_net()).leased();
  const std::string before = dump(acct_);

  auto r = acct_.provision(batch);
  ASSERT_TRUE(Fails(r, Code::kInvalidArgument, {"[999].iccid"}));
  EXPECT_EQ(dump(acct_), before);
  EXPECT_TRUE(acct_.model().things.empty());
  EXPECT_EQ(acct_.thing_by_iccid(iccid(0)), nullptr);
  EXPECT_EQ(acct_.thing_by_imsi(imsi(0)), nullptr);
  EXPECT_EQ(alloc(def_net()).leased(), leased);
  for (uint32_t i = 0; i < 10; ++i) {
    EXPECT_FALSE(alloc(def_net()).is_leased(*batch[i].locked_addr)) << i;
  }

  // The same batch, fixed, goes in whole; nothing of the failed attempt is in the way.
  batch[999].iccid = iccid(999);
  auto ok = acct_.provision(batch);
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  ASSERT_EQ(ok->size(), 1000u);
  EXPECT_EQ(acct_.model().things.size(), 1000u);
  EXPECT_EQ(alloc(def_net()).leased(), leased + 10);
  std::set<uint64_t> ids;
  for (uint32_t i = 0; i < 1000; ++i) {
    ids.insert((*ok)[i].value);
    const Thing* t = acct_.thing_by_iccid(iccid(i));
    ASSERT_NE(t, nullptr) << i;
    EXPECT_EQ(t->id, (*ok)[i]);
    EXPECT_EQ(t->slot.value, i);
    EXPECT_EQ(t->state, ThingState::kProvisioned);
    EXPECT_EQ(t->group, def_group());
    EXPECT_EQ(acct_.thing_by_imsi(imsi(i)), t);
    EXPECT_EQ(acct_.thing((*ok)[i]), t);
  }
  EXPECT_EQ(ids.size(), 1000u);
  EXPECT_EQ(ids.count(0), 0u);
}

// Item 999 passes validation but its locked address is the pool's network address, which only
// the allocator refuses: the addresses reserved for items 0..9 must be given back.
TEST_F(AccountTest, BatchFailingAtReservationUndoesEarlierReservations) {
  std::vector<Thing> batch;
  for (uint32_t i = 0; i < 1000; ++i) {
    Thing t = sim(i);
    if (i < 10 || i == 999) t.ip_lock = true;
    if (i < 10) t.locked_addr = Ipv4{ip("10.64.1.0").value + i + 1};
    batch.push_back(t);
  }
  batch[999].locked_addr = ip("10.64.0.0");
  const std::string before = dump(acct_);

  EXPECT_TRUE(Fails(acct_.provision(batch), Code::kInvalidArgument, {"[999].lockedAddress"}));
  EXPECT_EQ(dump(acct_), before);
  EXPECT_EQ(alloc(def_net()).leased(), 0u);
  for (uint32_t i = 0; i < 10; ++i) {
    EXPECT_FALSE(alloc(def_net()).is_leased(*batch[i].locked_addr)) << i;
  }
  EXPECT_EQ(acct_.thing_by_iccid(iccid(0)), nullptr);

  batch[999].locked_addr = ip("10.79.255.255");  // the broadcast address: refused the same way
  EXPECT_TRUE(Fails(acct_.provision(batch), Code::kInvalidArgument, {"[999].lockedAddress"}));
  EXPECT_EQ(dump(acct_), before);
}

TEST_F(AccountTest, ProvisionDefaultsGroupAndStateAndAssignsIds) {
  Thing t = sim(1);
  t.id = ThingId{777};     // ignored: ids are assigned
  t.slot = ThingSlot{55};  // ignored
  auto r = acct_.provision({t, sim(2)});
  ASSERT_TRUE(r.ok()) << r.error().message();
  const Thing& a = thing((*r)[0]);
  const Thing& b = thing((*r)[1]);
  EXPECT_NE(a.id, ThingId{777});
  EXPECT_NE(a.id, b.id);
  EXPECT_EQ(a.slot.value, 0u);
  EXPECT_EQ(b.slot.value, 1u);
  EXPECT_EQ(a.group, def_group());
  EXPECT_EQ(a.state, ThingState::kProvisioned);
  EXPECT_EQ(a.iccid, iccid(1));
  EXPECT_EQ(acct_.thing(ThingId{777}), nullptr);
}

// ---------------------------------------------------------------- lifecycle

TEST_F(AccountTest, InvalidTransitionIsAPreconditionFailureOnState) {
  const ThingId id = provision(sim(1));
  const std::string before = dump(acct_);
  const Status s = acct_.set_state(id, ThingState::kSuspended);
  ASSERT_TRUE(Fails(s, Code::kFailedPrecondition, {"state"}));
  EXPECT_NE(s.error().message().find("PROVISIONED"), std::string::npos);
  EXPECT_NE(s.error().message().find("SUSPENDED"), std::string::npos);
  EXPECT_EQ(thing(id).state, ThingState::kProvisioned);
  EXPECT_EQ(dump(acct_), before);
}

TEST_F(AccountTest, LifecycleFollowsTheTableAndRetiredIsTerminal) {
  const ThingId id = provision(sim(1));
  for (ThingState to :
       {ThingState::kActive, ThingState::kSuspended, ThingState::kActive, ThingState::kRetired}) {
    ASSERT_TRUE(acct_.set_state(id, to).ok()) << state_name(to);
    EXPECT_EQ(thing(id).state, to);
  }
  for (ThingState to : {ThingState::kProvisioned, ThingState::kActive, ThingState::kSuspended,
                        ThingState::kRetired}) {
    EXPECT_TRUE(Fails(acct_.set_state(id, to), Code::kFailedPrecondition, {"state"}));
    EXPECT_EQ(thing(id).state, ThingState::kRetired);
  }
  EXPECT_EQ(acct_.set_state(ThingId{999}, ThingState::kActive).error().code(), Code::kNotFound);
}

// ---------------------------------------------------------------- networks and pools

TEST_F(AccountTest, NetworkFieldsAreValidated) {
  const std::string before = dump(acct_);
  struct Case {
    const char* name;
    std::function<void(Network&)> mutate;
    std::set<std::string> fields;
  };
  const Case cases[] = {
      {"APN with a space", [](Network& n) { n.apn = "bad apn"; }, {"apnName"}},
      {"APN with an underscore", [](Network& n) { n.apn = "iot_private"; }, {"apnName"}},
      {"empty APN", [](Network& n) { n.apn = ""; }, {"apnName"}},
      {"empty APN label", [](Network& n) { n.apn = "iot..example"; }, {"apnName"}},
      {"APN label of 64", [](Network& n) { n.apn = std::string(64, 'a'); }, {"apnName"}},
      {"APN of 101",
       [](Network& n) { n.apn = std::string(50, 'a') + "." + std::string(50, 'b'); },
       {"apnName"}},
      {"VLAN 5000", [](Network& n) { n.vlan = 5000; }, {"vlanId"}},
      {"VLAN 4095", [](Network& n) { n.vlan = 4095; }, {"vlanId"}},
      {"empty name", [](Network& n) { n.name = ""; }, {"name"}},
      {"everything",
       [](Network& n) {
         n.name = "";
         n.apn = "a b";
         n.vlan = 9999;
       },
       {"name", "apnName", "vlanId"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Network n;
    n.name = "Private";
    n.apn = "private.example";
    c.mutate(n);
    EXPECT_TRUE(Fails(acct_.create_network(n), Code::kInvalidArgument, c.fields));
    EXPECT_EQ(dump(acct_), before);
  }

  Network ok;
  ok.name = "Tagged";
  ok.apn = "tagged.example-1";
  ok.vlan = 4094;
  auto id = acct_.create_network(ok);
  ASSERT_TRUE(id.ok()) << id.error().message();
  EXPECT_EQ(acct_.network(*id)->vlan, 4094);
  EXPECT_TRUE(acct_.network(*id)->pools.empty());

  Network same_apn;
  same_apn.name = "Other";
  same_apn.apn = "tagged.example-1";
  EXPECT_TRUE(Fails(acct_.create_network(same_apn), Code::kAlreadyExists, {"apnName"}));
}

TEST_F(AccountTest, UpdateNetworkValidatesAndChangesNothingOnError) {
  const NetworkId n = make_network("Private", "private.example", nullptr);
  NetworkPatch p;
  p.vlan = 5000;
  p.name = "Renamed";
  const std::string before = dump(acct_);
  EXPECT_TRUE(Fails(acct_.update_network(n, p), Code::kInvalidArgument, {"vlanId"}));
  EXPECT_EQ(dump(acct_), before);

  p.vlan = 100;
  ASSERT_TRUE(acct_.update_network(n, p).ok());
  EXPECT_EQ(acct_.network(n)->vlan, 100);
  EXPECT_EQ(acct_.network(n)->name, "Renamed");
}

TEST_F(AccountTest, PoolPrefixMustBeEightToThirty) {
  const NetworkId n = make_network("Private", "private.example", nullptr);
  const std::string before = dump(acct_);
  for (const char* bad : {"10.1.0.0/31", "10.1.0.1/32", "10.0.0.0/7", "0.0.0.0/0"}) {
    SCOPED_TRACE(bad);
    EXPECT_TRUE(Fails(acct_.add_pool(n, cidr(bad)), Code::kInvalidArgument, {"cidr"}));
    EXPECT_EQ(dump(acct_), before);
  }
  auto p = acct_.add_pool(n, cidr("10.1.0.0/30"));
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_EQ(alloc(n).capacity(), 2u);
}

TEST_F(AccountTest, PoolMayNotOverlapAnyNetworksPool) {
  const NetworkId n = make_network("Private", "private.example", nullptr);
  const std::string before = dump(acct_);
  // Inside, around, and equal to the default network's 10.64.0.0/12.
  for (const char* bad : {"10.64.5.0/24", "10.0.0.0/8", "10.64.0.0/12", "10.79.255.252/30"}) {
    SCOPED_TRACE(bad);
    auto r = acct_.add_pool(n, cidr(bad));
    ASSERT_TRUE(Fails(r, Code::kInvalidArgument, {"cidr"}));
    EXPECT_NE(r.error().message().find("10.64.0.0/12"), std::string::npos) << r.error().message();
    EXPECT_EQ(dump(acct_), before);
  }
  // Its own pools too.
  ASSERT_TRUE(acct_.add_pool(n, cidr("10.80.0.0/24")).ok());  // adjacent to the default pool
  EXPECT_TRUE(Fails(acct_.add_pool(n, cidr("10.80.0.128/25")), Code::kInvalidArgument, {"cidr"}));
  EXPECT_EQ(acct_.network(n)->pools.size(), 1u);
}

TEST_F(AccountTest, ResizePoolBelowALeasedAddressIsRefusedAndChangesNothing) {
  const NetworkId n = make_network("Private", "private.example", "10.10.0.0/24");
  const PoolId pool = acct_.network(n)->pools.at(0).id;
  const GroupId g = make_group("Meters", n);
  Thing t = sim(1);
  t.group = g;
  const ThingId id = active(t);
  auto s = acct_.attach(id, attach_req(1));
  ASSERT_TRUE(s.ok()) << s.error().message();
  ASSERT_TRUE(cidr("10.10.0.0/25").contains(s->ue_addr));  // a fresh pool leases from its start

  const std::string before = dump(acct_);
  EXPECT_TRUE(Fails(acct_.resize_pool(n, pool, cidr("10.10.0.128/25")), Code::kFailedPrecondition,
                    {"cidr"}));
  EXPECT_EQ(dump(acct_), before);
  EXPECT_EQ(acct_.network(n)->pools.at(0).cidr, cidr("10.10.0.0/24"));
  EXPECT_EQ(alloc(n).pools().at(0).second, cidr("10.10.0.0/24"));
  EXPECT_TRUE(alloc(n).is_leased(s->ue_addr));

  // Overlapping another network is a bad value, not a precondition.
  EXPECT_TRUE(
      Fails(acct_.resize_pool(n, pool, cidr("10.0.0.0/8")), Code::kInvalidArgument, {"cidr"}));
  EXPECT_EQ(dump(acct_), before);

  // Growing is fine, and model and allocator agree afterwards.
  ASSERT_TRUE(acct_.resize_pool(n, pool, cidr("10.10.0.0/23")).ok());
  EXPECT_EQ(acct_.network(n)->pools.at(0).cidr, cidr("10.10.0.0/23"));
  EXPECT_EQ(alloc(n).pools().at(0).second, cidr("10.10.0.0/23"));
  EXPECT_EQ(alloc(n).capacity(), 510u);
  EXPECT_TRUE(alloc(n).is_leased(s->ue_addr));
}

TEST_F(AccountTest, ResizePoolBelowALockedAddressIsRefused) {
  const NetworkId n = make_network("Private", "private.example", "10.10.0.0/24");
  const PoolId pool = acct_.network(n)->pools.at(0).id;
  Thing t = sim(1);
  t.group = make_group("Meters", n);
  t.ip_lock = true;
  t.locked_addr = ip("10.10.0.200");
  provision(t);
  const std::string before = dump(acct_);
  EXPECT_TRUE(
      Fails(acct_.resize_pool(n, pool, cidr("10.10.0.0/25")), Code::kFailedPrecondition, {"cidr"}));
  EXPECT_EQ(dump(acct_), before);
}

TEST_F(AccountTest, DeletingANetworkInUseIsRefused) {
  const NetworkId n = make_network("Private", "private.example", "10.10.0.0/24");
  const GroupId g = make_group("Meters", n);
  const std::string before = dump(acct_);
  EXPECT_EQ(acct_.delete_network(n).error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(acct_.delete_network(def_net()).error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(dump(acct_), before);

  ASSERT_TRUE(acct_.delete_group(g).ok());
  ASSERT_TRUE(acct_.delete_network(n).ok());
  EXPECT_EQ(acct_.network(n), nullptr);
  EXPECT_EQ(acct_.allocator(n), nullptr);
  // Its addresses are free for another network now.
  const NetworkId again = make_network("Again", "again.example", "10.10.0.0/24");
  EXPECT_NE(acct_.network(again), nullptr);
}

// ---------------------------------------------------------------- NAT, routes, tunnels

TEST_F(AccountTest, NatRuleNeedsALockedIpAndAFreePublicPort) {
  const NetworkId net = def_net();
  const ThingId unlocked = active(sim(1));
  NatRule r;
  r.protocol = Protocol::kTcp;
  r.public_ip = ip("203.0.113.10");
  r.public_port = 8443;
  r.thing = unlocked;
  r.thing_port = 443;
  const std::string before = dump(acct_);
  EXPECT_TRUE(Fails(acct_.add_nat_rule(net, r), Code::kFailedPrecondition, {"thingId"}));
  EXPECT_EQ(dump(acct_), before);

  Thing t = sim(2);
  t.ip_lock = true;
  t.locked_addr = ip("10.64.0.50");
  const ThingId locked = provision(t);
  r.thing = locked;
  auto first = acct_.add_nat_rule(net, r);
  ASSERT_TRUE(first.ok()) << first.error().message();

  // Another rule on the same public address, protocol and port: a conflict.
  Thing t3 = sim(3);
  t3.ip_lock = true;
  t3.locked_addr = ip("10.64.0.51");
  NatRule clash = r;
  clash.thing = provision(t3);
  const std::string with_one = dump(acct_);
  EXPECT_TRUE(Fails(acct_.add_nat_rule(net, clash), Code::kConflict, {"publicPort"}));
  EXPECT_EQ(dump(acct_), with_one);
  EXPECT_EQ(acct_.network(net)->nat_rules.size(), 1u);

  // The same port over UDP is a different forwarding.
  clash.protocol = Protocol::kUdp;
  EXPECT_TRUE(acct_.add_nat_rule(net, clash).ok());

  // A public address inside a pool is a bad value.
  NatRule inside = r;
  inside.public_ip = ip("10.64.9.9");
  inside.public_port = 1;
  EXPECT_TRUE(Fails(acct_.add_nat_rule(net, inside), Code::kInvalidArgument, {"publicIp"}));

  // While a rule forwards to the Thing, its lock stays and it cannot retire.
  ThingPatch unlock;
  unlock.ip_lock = false;
  EXPECT_TRUE(Fails(acct_.update_thing(locked, unlock), Code::kFailedPrecondition, {"ipLock"}));
  ASSERT_TRUE(acct_.set_state(locked, ThingState::kActive).ok());
  EXPECT_TRUE(
      Fails(acct_.set_state(locked, ThingState::kRetired), Code::kFailedPrecondition, {"state"}));
  EXPECT_TRUE(thing(locked).ip_lock);
  EXPECT_EQ(thing(locked).state, ThingState::kActive);
}

TEST_F(AccountTest, RouteToAMissingTunnelIsRefused) {
  const NetworkId net = def_net();
  Route r;
  r.destination = cidr("172.16.0.0/16");
  r.target = RouteTarget::kIpsecTunnel;
  r.tunnel = TunnelId{4711};
  const std::string before = dump(acct_);
  EXPECT_TRUE(Fails(acct_.add_route(net, r), Code::kInvalidArgument, {"tunnelId"}));
  r.tunnel = TunnelId{};
  EXPECT_TRUE(Fails(acct_.add_route(net, r), Code::kInvalidArgument, {"tunnelId"}));
  EXPECT_EQ(dump(acct_), before);

  auto tid = acct_.add_tunnel(net, tunnel_spec("hq"));
  ASSERT_TRUE(tid.ok()) << tid.error().message();
  r.tunnel = *tid;
  auto rid = acct_.add_route(net, r);
  ASSERT_TRUE(rid.ok()) << rid.error().message();
  // The tunnel is in use now.
  EXPECT_EQ(acct_.remove_tunnel(net, *tid).error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(acct_.network(net)->tunnels.size(), 1u);
  ASSERT_TRUE(acct_.remove_route(net, *rid).ok());
  EXPECT_TRUE(acct_.remove_tunnel(net, *tid).ok());
}

// ---------------------------------------------------------------- IP profiles

TEST_F(AccountTest, FirewallRulesAreValidatedWithFullFieldPaths) {
  const std::string before = dump(acct_);
  IpProfile p;
  p.name = "Strict";
  p.outbound.rules = {rule(10), rule(10)};
  EXPECT_TRUE(
      Fails(acct_.create_profile(p), Code::kInvalidArgument, {"outbound.rules[1].priority"}));
  EXPECT_EQ(dump(acct_), before);

  p.outbound.rules = {rule(10), rule(20)};
  FirewallRule icmp = rule(1, Protocol::kIcmp);
  icmp.local_ports = PortRange{80, 80};
  p.inbound.rules = {icmp};
  EXPECT_TRUE(
      Fails(acct_.create_profile(p), Code::kInvalidArgument, {"inbound.rules[0].localPorts"}));
  icmp.remote_ports = PortRange{1, 2};
  p.inbound.rules = {icmp};
  p.outbound.rules = {rule(10), rule(20), rule(10, Protocol::kAny)};
  EXPECT_TRUE(Fails(acct_.create_profile(p), Code::kInvalidArgument,
                    {"inbound.rules[0].localPorts", "inbound.rules[0].remotePorts",
                     "outbound.rules[2].priority"}));
  EXPECT_EQ(dump(acct_), before);

  p.inbound.rules = {rule(1, Protocol::kIcmp)};
  p.outbound.rules = {rule(10), rule(20)};
  auto id = acct_.create_profile(p);
  ASSERT_TRUE(id.ok()) << id.error().message();
  const std::string created = dump(acct_);
  IpProfile bad = p;
  bad.outbound.rules = {rule(5), rule(5)};
  EXPECT_TRUE(Fails(acct_.replace_profile(*id, bad), Code::kInvalidArgument,
                    {"outbound.rules[1].priority"}));
  EXPECT_EQ(dump(acct_), created);
}

TEST_F(AccountTest, DeletingAProfileInUseIsRefused) {
  const std::string before = dump(acct_);
  EXPECT_EQ(acct_.delete_profile(def_profile()).error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(dump(acct_), before);
  IpProfile p;
  p.name = "Unused";
  auto id = acct_.create_profile(p);
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(acct_.delete_profile(*id).ok());
  EXPECT_EQ(acct_.profile(*id), nullptr);
}

// ---------------------------------------------------------------- groups

TEST_F(AccountTest, GroupReferencesMustExist) {
  const std::string before = dump(acct_);
  ThingsGroup g;
  g.name = "Meters";
  g.network = NetworkId{999};
  g.profile = def_profile();
  EXPECT_TRUE(Fails(acct_.create_group(g), Code::kInvalidArgument, {"networkId"}));
  g.network = NetworkId{};
  EXPECT_TRUE(Fails(acct_.create_group(g), Code::kInvalidArgument, {"networkId"}));
  g.network = def_net();
  g.profile = ProfileId{999};
  EXPECT_TRUE(Fails(acct_.create_group(g), Code::kInvalidArgument, {"ipProfileId"}));
  g.profile = def_profile();
  g.name = "";
  EXPECT_TRUE(Fails(acct_.create_group(g), Code::kInvalidArgument, {"name"}));
  EXPECT_EQ(dump(acct_), before);
}

TEST_F(AccountTest, TheDefaultGroupCannotBeDeleted) {
  const std::string before = dump(acct_);
  const Status s = acct_.delete_group(def_group());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(dump(acct_), before);
  ASSERT_NE(acct_.group(def_group()), nullptr);
  EXPECT_TRUE(acct_.group(def_group())->is_default);
}

TEST_F(AccountTest, DeletingAGroupMovesItsThingsToTheDefaultGroup) {
  const GroupId g = make_group("Meters", def_net());
  Thing a = sim(1);
  a.group = g;
  Thing b = sim(2);
  b.group = g;
  const ThingId ia = active(a);
  const ThingId ib = provision(b);
  const ThingId other = provision(sim(3));  // already in the default group
  auto s = acct_.attach(ia, attach_req(7));
  ASSERT_TRUE(s.ok());

  ASSERT_TRUE(acct_.delete_group(g).ok());
  EXPECT_EQ(acct_.group(g), nullptr);
  EXPECT_EQ(thing(ia).group, def_group());
  EXPECT_EQ(thing(ib).group, def_group());
  EXPECT_EQ(thing(other).group, def_group());
  // Same network: the session carries on.
  ASSERT_TRUE(thing(ia).session.has_value());
  EXPECT_EQ(thing(ia).session->ue_addr, s->ue_addr);
  EXPECT_EQ(acct_.delete_group(g).error().code(), Code::kNotFound);
}

TEST_F(AccountTest, DeletingAGroupOfAnotherNetworkWithAttachedThingsIsRefused) {
  const NetworkId n = make_network("Private", "private.example", "10.10.0.0/24");
  const GroupId g = make_group("Meters", n);
  Thing t = sim(1);
  t.group = g;
  const ThingId id = active(t);
  ASSERT_TRUE(acct_.attach(id, attach_req(1)).ok());
  const std::string before = dump(acct_);
  EXPECT_EQ(acct_.delete_group(g).error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(dump(acct_), before);
  EXPECT_EQ(thing(id).group, g);

  ASSERT_TRUE(acct_.detach(id).ok());
  ASSERT_TRUE(acct_.delete_group(g).ok());
  EXPECT_EQ(thing(id).group, def_group());
}

TEST_F(AccountTest, ChangingAGroupsNetworkUnderAttachedThingsIsRefused) {
  const NetworkId n = make_network("Private", "private.example", "10.10.0.0/24");
  const GroupId g = make_group("Meters", def_net());
  Thing t = sim(1);
  t.group = g;
  const ThingId id = active(t);
  ASSERT_TRUE(acct_.attach(id, attach_req(1)).ok());
  ThingsGroup spec = *acct_.group(g);
  spec.network = n;
  const std::string before = dump(acct_);
  EXPECT_TRUE(Fails(acct_.update_group(g, spec), Code::kFailedPrecondition, {"networkId"}));
  EXPECT_EQ(dump(acct_), before);
}

// ---------------------------------------------------------------- things: updates

TEST_F(AccountTest, UpdateThingValidatesAndChangesNothingOnError) {
  const ThingId id = provision(sim(1));
  const std::string before = dump(acct_);
  ThingPatch p;
  p.name = "renamed";
  p.tags = std::vector<std::string>{"ok", "bad tag"};
  EXPECT_TRUE(Fails(acct_.update_thing(id, p), Code::kInvalidArgument, {"tags[1]"}));
  EXPECT_EQ(dump(acct_), before);

  ThingPatch g;
  g.name = "renamed";
  g.group = GroupId{999};
  EXPECT_TRUE(Fails(acct_.update_thing(id, g), Code::kInvalidArgument, {"thingsGroupId"}));
  EXPECT_EQ(dump(acct_), before);

  ThingPatch lock_outside;
  lock_outside.ip_lock = true;
  lock_outside.locked_addr = ip("192.0.2.5");
  EXPECT_TRUE(
      Fails(acct_.update_thing(id, lock_outside), Code::kInvalidArgument, {"lockedAddress"}));
  EXPECT_EQ(dump(acct_), before);

  EXPECT_EQ(acct_.update_thing(ThingId{999}, ThingPatch{}).error().code(), Code::kNotFound);
}

TEST_F(AccountTest, MovingAnAttachedThingToAnotherNetworkIsRefused) {
  const NetworkId n = make_network("Private", "private.example", "10.10.0.0/24");
  const GroupId g = make_group("Meters", n);
  const ThingId id = active(sim(1));
  ASSERT_TRUE(acct_.attach(id, attach_req(1)).ok());
  ThingPatch p;
  p.group = g;
  const std::string before = dump(acct_);
  EXPECT_TRUE(Fails(acct_.update_thing(id, p), Code::kFailedPrecondition, {"thingsGroupId"}));
  EXPECT_EQ(dump(acct_), before);

  ASSERT_TRUE(acct_.detach(id).ok());
  ASSERT_TRUE(acct_.update_thing(id, p).ok());
  EXPECT_EQ(thing(id).group, g);
  auto s = acct_.attach(id, attach_req(1));
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(cidr("10.10.0.0/24").contains(s->ue_addr));
}

// ---------------------------------------------------------------- attach and detach

TEST_F(AccountTest, AttachLeasesADynamicAddressFromTheGroupsNetwork) {
  const NetworkId n = make_network("Private", "private.example", "10.20.0.0/24");
  const GroupId g = make_group("Meters", n);
  Thing t = sim(1);
  t.group = g;
  const ThingId id = active(t);
  const uint64_t default_leased = alloc(def_net()).leased();

  auto s = acct_.attach(id, attach_req(0x1234, "356938035643809"));
  ASSERT_TRUE(s.ok()) << s.error().message();
  const Cidr pool = cidr("10.20.0.0/24");
  EXPECT_TRUE(pool.contains(s->ue_addr));
  EXPECT_NE(s->ue_addr.value, pool.first());  // never the network address
  EXPECT_NE(s->ue_addr.value, pool.last());   // nor the broadcast address
  EXPECT_TRUE(alloc(n).is_leased(s->ue_addr));
  EXPECT_EQ(alloc(n).leased(), 1u);
  EXPECT_EQ(alloc(def_net()).leased(), default_leased);

  // The session is recorded as asked.
  const Thing& th = thing(id);
  ASSERT_TRUE(th.session.has_value());
  EXPECT_EQ(th.session->ue_addr, s->ue_addr);
  EXPECT_EQ(th.session->uplink_teid, 0x1234u);
  EXPECT_EQ(th.session->peer_addr, ip("192.0.2.1"));
  EXPECT_EQ(th.session->peer_teid, 0x10000u + 0x1234u);
  EXPECT_EQ(th.session->apn, "iot.simcore");
  EXPECT_EQ(th.session->rat, Rat::kLteM);
  EXPECT_EQ(th.session->mcc, 262);
  EXPECT_EQ(th.imei, "356938035643809");
  ASSERT_NE(acct_.thing_by_teid(0x1234), nullptr);
  EXPECT_EQ(acct_.thing_by_teid(0x1234)->id, id);
  EXPECT_EQ(acct_.thing_by_teid(0x1235), nullptr);

  // A second Thing gets another address.
  Thing t2 = sim(2);
  t2.group = g;
  auto s2 = acct_.attach(active(t2), attach_req(0x1235));
  ASSERT_TRUE(s2.ok());
  EXPECT_NE(s2->ue_addr, s->ue_addr);
  EXPECT_TRUE(pool.contains(s2->ue_addr));
  EXPECT_EQ(alloc(n).leased(), 2u);
}

TEST_F(AccountTest, DetachReturnsTheDynamicAddress) {
  const ThingId id = active(sim(1));
  auto s = acct_.attach(id, attach_req(5));
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(alloc(def_net()).leased(), 1u);

  ASSERT_TRUE(acct_.detach(id).ok());
  EXPECT_FALSE(thing(id).session.has_value());
  EXPECT_FALSE(alloc(def_net()).is_leased(s->ue_addr));
  EXPECT_EQ(alloc(def_net()).leased(), 0u);
  EXPECT_EQ(acct_.thing_by_teid(5), nullptr);
  EXPECT_EQ(acct_.detach(id).error().code(), Code::kFailedPrecondition);
}

TEST_F(AccountTest, ReattachReplacesTheSession) {
  const ThingId id = active(sim(1));
  ASSERT_TRUE(acct_.attach(id, attach_req(5)).ok());
  auto s = acct_.attach(id, attach_req(6));
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(alloc(def_net()).leased(), 1u);  // the first lease was returned
  EXPECT_EQ(acct_.thing_by_teid(5), nullptr);
  EXPECT_EQ(acct_.thing_by_teid(6)->id, id);
  EXPECT_EQ(thing(id).session->uplink_teid, 6u);
  EXPECT_TRUE(alloc(def_net()).is_leased(s->ue_addr));
}

TEST_F(AccountTest, ModifySessionMovesOnlyTheDownlinkEnd) {
  const ThingId id = active(sim(1));
  auto s = acct_.attach(id, attach_req(5));
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(acct_.modify_session(id, ip("192.0.2.99"), 0xabcd).ok());
  const Session& now = *thing(id).session;
  EXPECT_EQ(now.peer_addr, ip("192.0.2.99"));
  EXPECT_EQ(now.peer_teid, 0xabcdu);
  EXPECT_EQ(now.uplink_teid, 5u);
  EXPECT_EQ(now.ue_addr, s->ue_addr);
  ASSERT_TRUE(acct_.detach(id).ok());
  EXPECT_EQ(acct_.modify_session(id, ip("192.0.2.99"), 1).error().code(),
            Code::kFailedPrecondition);
}

TEST_F(AccountTest, OnlySessionsControlEndsAreListedForThePeers) {
  const ThingId a = active(sim(1));
  const ThingId b = active(sim(2));
  const ThingId c = active(sim(3));
  ASSERT_TRUE(acct_.attach(a, attach_req(5)).ok());
  ASSERT_TRUE(acct_.attach(b, attach_req(6)).ok());
  ASSERT_TRUE(acct_.attach(c, attach_req(7)).ok());
  ASSERT_TRUE(acct_.attach(c, attach_req(8)).ok());  // the peer replaced its own session
  ASSERT_TRUE(acct_.detach(c).ok());                 // and ended it
  EXPECT_TRUE(acct_.take_ended_sessions().empty());
  ASSERT_TRUE(acct_.set_state(b, ThingState::kSuspended).ok());
  ASSERT_TRUE(acct_.set_state(a, ThingState::kRetired).ok());
  EXPECT_EQ(acct_.take_ended_sessions(), (std::vector<uint32_t>{6, 5}));
  EXPECT_TRUE(acct_.take_ended_sessions().empty());
}

TEST_F(AccountTest, LockedAddressSurvivesDetachAndIsUsedOnAttach) {
  Thing t = sim(1);
  t.ip_lock = true;
  t.locked_addr = ip("10.64.3.3");
  const ThingId id = active(t);
  EXPECT_TRUE(alloc(def_net()).is_leased(ip("10.64.3.3")));  // reserved from provisioning on
  EXPECT_EQ(alloc(def_net()).leased(), 1u);

  auto s = acct_.attach(id, attach_req(1));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->ue_addr, ip("10.64.3.3"));
  EXPECT_EQ(alloc(def_net()).leased(), 1u);  // no second lease

  ASSERT_TRUE(acct_.detach(id).ok());
  EXPECT_TRUE(alloc(def_net()).is_leased(ip("10.64.3.3")));
  EXPECT_EQ(alloc(def_net()).leased(), 1u);

  // No one else gets it meanwhile.
  const ThingId other = active(sim(2));
  for (uint32_t teid = 100; teid < 110; ++teid) {
    auto o = acct_.attach(other, attach_req(teid));
    ASSERT_TRUE(o.ok());
    EXPECT_NE(o->ue_addr, ip("10.64.3.3"));
  }

  auto again = acct_.attach(id, attach_req(2));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ue_addr, ip("10.64.3.3"));
}

TEST_F(AccountTest, SuspendingEndsTheSessionAndReleasesADynamicAddress) {
  const ThingId id = active(sim(1));
  auto s = acct_.attach(id, attach_req(9));
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(acct_.set_state(id, ThingState::kSuspended).ok());
  EXPECT_EQ(thing(id).state, ThingState::kSuspended);
  EXPECT_FALSE(thing(id).session.has_value());
  EXPECT_EQ(acct_.thing_by_teid(9), nullptr);
  EXPECT_FALSE(alloc(def_net()).is_leased(s->ue_addr));
  EXPECT_EQ(alloc(def_net()).leased(), 0u);
}

TEST_F(AccountTest, SuspendingKeepsALockedAddressReserved) {
  Thing t = sim(1);
  t.ip_lock = true;
  t.locked_addr = ip("10.64.3.3");
  const ThingId id = active(t);
  ASSERT_TRUE(acct_.attach(id, attach_req(9)).ok());
  ASSERT_TRUE(acct_.set_state(id, ThingState::kSuspended).ok());
  EXPECT_FALSE(thing(id).session.has_value());
  EXPECT_TRUE(thing(id).ip_lock);
  EXPECT_TRUE(alloc(def_net()).is_leased(ip("10.64.3.3")));
}

TEST_F(AccountTest, RetiringReleasesTheLockedAddressAndEndsTheSession) {
  Thing t = sim(1);
  t.ip_lock = true;
  t.locked_addr = ip("10.64.3.3");
  const ThingId id = active(t);
  ASSERT_TRUE(acct_.attach(id, attach_req(9)).ok());
  ASSERT_TRUE(acct_.set_state(id, ThingState::kRetired).ok());
  const Thing& th = thing(id);
  EXPECT_EQ(th.state, ThingState::kRetired);
  EXPECT_FALSE(th.session.has_value());
  EXPECT_FALSE(th.ip_lock);
  EXPECT_FALSE(th.locked_addr.has_value());
  EXPECT_FALSE(alloc(def_net()).is_leased(ip("10.64.3.3")));
  EXPECT_EQ(alloc(def_net()).leased(), 0u);
  EXPECT_EQ(acct_.thing_by_teid(9), nullptr);

  // A retired Thing cannot take a lock again.
  ThingPatch p;
  p.ip_lock = true;
  p.locked_addr = ip("10.64.3.3");
  EXPECT_TRUE(Fails(acct_.update_thing(id, p), Code::kFailedPrecondition, {"state"}));
  EXPECT_FALSE(alloc(def_net()).is_leased(ip("10.64.3.3")));
}

TEST_F(AccountTest, RetiringADetachedThingReleasesItsLockedAddress) {
  Thing t = sim(1);
  t.ip_lock = true;
  t.locked_addr = ip("10.64.3.3");
  const ThingId id = provision(t);
  ASSERT_TRUE(acct_.set_state(id, ThingState::kRetired).ok());
  EXPECT_FALSE(alloc(def_net()).is_leased(ip("10.64.3.3")));
  EXPECT_EQ(alloc(def_net()).leased(), 0u);
}

TEST_F(AccountTest, LockingWhileAttachedLocksTheCurrentAddress) {
  const ThingId id = active(sim(1));
  auto s = acct_.attach(id, attach_req(3));
  ASSERT_TRUE(s.ok());
  ThingPatch p;
  p.ip_lock = true;
  ASSERT_TRUE(acct_.update_thing(id, p).ok());
  ASSERT_TRUE(thing(id).locked_addr.has_value());
  EXPECT_EQ(*thing(id).locked_addr, s->ue_addr);
  EXPECT_TRUE(thing(id).ip_lock);
  EXPECT_EQ(alloc(def_net()).leased(), 1u);  // the lease became the lock, not a second lease

  ASSERT_TRUE(acct_.detach(id).ok());
  EXPECT_TRUE(alloc(def_net()).is_leased(s->ue_addr));
  EXPECT_EQ(alloc(def_net()).leased(), 1u);
  auto again = acct_.attach(id, attach_req(4));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ue_addr, s->ue_addr);

  // Unlocking while attached keeps the address until the session ends, then frees it.
  ThingPatch unlock;
  unlock.ip_lock = false;
  ASSERT_TRUE(acct_.update_thing(id, unlock).ok());
  EXPECT_FALSE(thing(id).locked_addr.has_value());
  EXPECT_TRUE(alloc(def_net()).is_leased(s->ue_addr));
  ASSERT_TRUE(acct_.detach(id).ok());
  EXPECT_FALSE(alloc(def_net()).is_leased(s->ue_addr));
  EXPECT_EQ(alloc(def_net()).leased(), 0u);
}

TEST_F(AccountTest, LockingAnotherAddressWhileAttachedIsRefused) {
  const ThingId id = active(sim(1));
  auto s = acct_.attach(id, attach_req(3));
  ASSERT_TRUE(s.ok());
  ThingPatch p;
  p.ip_lock = true;
  p.locked_addr = Ipv4{s->ue_addr.value + 100};
  const std::string before = dump(acct_);
  EXPECT_TRUE(Fails(acct_.update_thing(id, p), Code::kFailedPrecondition, {"lockedAddress"}));
  EXPECT_EQ(dump(acct_), before);
}

TEST_F(AccountTest, AttachIsRefusedUnlessActive) {
  const ThingId id = provision(sim(1));
  const std::string before = dump(acct_);
  auto r = acct_.attach(id, attach_req(1));
  ASSERT_TRUE(Fails(r, Code::kFailedPrecondition, {"state"}));
  EXPECT_NE(r.error().message().find("PROVISIONED"), std::string::npos);
  EXPECT_EQ(dump(acct_), before);

  ASSERT_TRUE(acct_.set_state(id, ThingState::kActive).ok());
  ASSERT_TRUE(acct_.set_state(id, ThingState::kSuspended).ok());
  EXPECT_TRUE(Fails(acct_.attach(id, attach_req(1)), Code::kFailedPrecondition, {"state"}));
  ASSERT_TRUE(acct_.set_state(id, ThingState::kRetired).ok());
  EXPECT_TRUE(Fails(acct_.attach(id, attach_req(1)), Code::kFailedPrecondition, {"state"}));
  EXPECT_EQ(alloc(def_net()).leased(), 0u);
  EXPECT_EQ(acct_.thing_by_teid(1), nullptr);
  EXPECT_FALSE(thing(id).session.has_value());
  EXPECT_EQ(acct_.attach(ThingId{999}, attach_req(1)).error().code(), Code::kNotFound);
}

TEST_F(AccountTest, AttachIsRefusedWhenDataIsOffForTheThingOrItsGroup) {
  Thing t = sim(1);
  t.services.data = false;
  const ThingId off = active(t);
  const std::string before = dump(acct_);
  EXPECT_TRUE(
      Fails(acct_.attach(off, attach_req(1)), Code::kFailedPrecondition, {"services.data"}));
  EXPECT_EQ(dump(acct_), before);

  ThingsGroup spec;
  spec.name = "No data";
  spec.network = def_net();
  spec.profile = def_profile();
  spec.services.data = false;
  auto g = acct_.create_group(spec);
  ASSERT_TRUE(g.ok());
  Thing t2 = sim(2);
  t2.group = *g;
  const ThingId in_group = active(t2);
  EXPECT_FALSE(acct_.data_allowed(thing(in_group)));
  EXPECT_TRUE(
      Fails(acct_.attach(in_group, attach_req(2)), Code::kFailedPrecondition, {"services.data"}));
  EXPECT_EQ(alloc(def_net()).leased(), 0u);

  // Turning data on lets it attach.
  ThingPatch on;
  on.services = Services{};
  ASSERT_TRUE(acct_.update_thing(off, on).ok());
  EXPECT_TRUE(acct_.attach(off, attach_req(1)).ok());
}

TEST_F(AccountTest, ImeiLockRefusesAChangedDevice) {
  Thing t = sim(1);
  t.imei = "356938035643809";
  t.imei_lock = true;
  const ThingId id = active(t);
  const std::string before = dump(acct_);
  EXPECT_TRUE(
      Fails(acct_.attach(id, attach_req(1, "356938035643817")), Code::kPermissionDenied, {"imei"}));
  EXPECT_EQ(dump(acct_), before);
  EXPECT_EQ(thing(id).imei, "356938035643809");
  EXPECT_EQ(alloc(def_net()).leased(), 0u);

  EXPECT_TRUE(acct_.attach(id, attach_req(1, "356938035643809")).ok());
  ASSERT_TRUE(acct_.detach(id).ok());

  // Without the lock a new device is accepted and remembered.
  ThingPatch p;
  p.imei_lock = false;
  ASSERT_TRUE(acct_.update_thing(id, p).ok());
  EXPECT_TRUE(acct_.attach(id, attach_req(2, "356938035643817")).ok());
  EXPECT_EQ(thing(id).imei, "356938035643817");
}

TEST_F(AccountTest, TeidsAreUniqueAmongSessions) {
  const ThingId a = active(sim(1));
  const ThingId b = active(sim(2));
  ASSERT_TRUE(acct_.attach(a, attach_req(100)).ok());
  const std::string before = dump(acct_);
  EXPECT_TRUE(Fails(acct_.attach(b, attach_req(100)), Code::kConflict, {"uplinkTeid"}));
  EXPECT_TRUE(Fails(acct_.attach(b, attach_req(0)), Code::kInvalidArgument, {"uplinkTeid"}));
  EXPECT_EQ(dump(acct_), before);
  EXPECT_EQ(acct_.thing_by_teid(100)->id, a);

  ASSERT_TRUE(acct_.attach(b, attach_req(101)).ok());
  EXPECT_EQ(acct_.thing_by_teid(101)->id, b);
  EXPECT_EQ(acct_.thing_by_teid(100)->id, a);
}

// ---------------------------------------------------------------- review follow-ups

TEST_F(AccountTest, AGroupNameIsTakenOnce) {
  const NetworkId n = make_network("n2", "n2.example", "10.200.0.0/24");
  (void)make_group("meters", n);
  ThingsGroup again;
  again.name = "meters";
  again.network = n;
  again.profile = def_profile();
  const std::string before = dump(acct_);
  EXPECT_TRUE(Fails(acct_.create_group(again), Code::kAlreadyExists, {"name"}));
  EXPECT_EQ(dump(acct_), before);
}

TEST_F(AccountTest, AGroupUsersOnlyGroupCannotBeDeleted) {
  const GroupId g = make_group("solo", def_net());
  User u;
  u.name = "ops";
  u.email = "ops@example.com";
  u.role = Role::kGroupUser;
  u.groups = {g};
  ASSERT_TRUE(acct_.create_user(u).ok());
  const Status s = acct_.delete_group(g);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(acct_.group(g), nullptr);
}

TEST_F(AccountTest, AttachRefusesAMalformedImei) {
  const ThingId id = active(sim(77));
  const std::string before = dump(acct_);
  EXPECT_TRUE(
      Fails(acct_.attach(id, attach_req(9, "35-209900-176148")), Code::kInvalidArgument, {"imei"}));
  EXPECT_EQ(dump(acct_), before);
  EXPECT_FALSE(thing(id).session.has_value());
}

TEST_F(AccountTest, ARetiredSimIsNotProvisionedWithALockedAddress) {
  Thing t = sim(78);
  t.state = ThingState::kRetired;
  t.ip_lock = true;
  t.locked_addr = Ipv4{(10u << 24) | (64u << 16) | 5};
  const uint64_t leased = alloc(def_net()).leased();
  EXPECT_TRUE(Fails(acct_.provision({t}), Code::kInvalidArgument, {"[0].ipLock"}));
  EXPECT_EQ(alloc(def_net()).leased(), leased);
}

TEST_F(AccountTest, TestNetworkImsisWithMcc001AreAccepted) {
  // Lab captures (magma) use MCC 001; their Create Sessions must find the provisioned Thing.
  Thing t = sim(79);
  t.imsi = "001020000000064";
  const ThingId id = provision(t);
  ASSERT_NE(acct_.thing_by_imsi("001020000000064"), nullptr);
  EXPECT_EQ(acct_.thing_by_imsi("001020000000064")->id, id);
}

TEST_F(AccountTest, UpdateTunnelKeepsItsIdAndTheCreateRules) {
  const NetworkId net = def_net();
  auto hq = acct_.add_tunnel(net, tunnel_spec("hq"));
  auto branch = acct_.add_tunnel(net, tunnel_spec("branch"));
  ASSERT_TRUE(hq.ok() && branch.ok());
  const std::string before = dump(acct_);
  EXPECT_TRUE(
      Fails(acct_.update_tunnel(net, *hq, tunnel_spec("branch")), Code::kAlreadyExists, {"name"}));
  IpsecTunnel weak = tunnel_spec("hq");
  weak.pre_shared_key = "short";
  EXPECT_TRUE(Fails(acct_.update_tunnel(net, *hq, weak), Code::kInvalidArgument, {"preSharedKey"}));
  EXPECT_EQ(acct_.update_tunnel(net, TunnelId{4711}, weak).error().code(), Code::kNotFound);
  EXPECT_EQ(dump(acct_), before);

  IpsecTunnel moved = tunnel_spec("hq");  // keeping its own name is no conflict
  moved.peer = ip("203.0.113.9");
  moved.id = TunnelId{4711};  // ignored: the id stays
  ASSERT_TRUE(acct_.update_tunnel(net, *hq, moved).ok());
  const IpsecTunnel& now = acct_.network(net)->tunnels.front();
  EXPECT_EQ(now.id, *hq);
  EXPECT_EQ(now.peer, ip("203.0.113.9"));
}

TEST_F(AccountTest, UpdateUserKeepsClientIdAndAnAdmin) {
  User admin;
  admin.name = "root";
  admin.email = "root@example.com";
  admin.role = Role::kAdmin;
  admin.client_id = "root-client";
  User ops = admin;
  ops.name = "ops";
  ops.email = "ops@example.com";
  ops.role = Role::kMonitor;
  ops.client_id = "ops-client";
  auto root_id = acct_.create_user(admin);
  auto ops_id = acct_.create_user(ops);
  ASSERT_TRUE(root_id.ok() && ops_id.ok());
  const std::string before = dump(acct_);

  User demoted = admin;
  demoted.role = Role::kStandard;
  EXPECT_TRUE(Fails(acct_.update_user(*root_id, demoted), Code::kFailedPrecondition, {"role"}));
  User taken = ops;
  taken.email = "root@example.com";
  EXPECT_TRUE(Fails(acct_.update_user(*ops_id, taken), Code::kInvalidArgument, {"email"}));
  User grouped = ops;
  grouped.role = Role::kGroupUser;
  grouped.groups = {GroupId{4711}};
  EXPECT_TRUE(
      Fails(acct_.update_user(*ops_id, grouped), Code::kInvalidArgument, {"thingsGroupIds[0]"}));
  EXPECT_EQ(dump(acct_), before);

  User promoted = ops;
  promoted.role = Role::kAdmin;
  promoted.client_id = "stolen";  // ignored: credentials are not the caller's to change
  ASSERT_TRUE(acct_.update_user(*ops_id, promoted).ok());
  EXPECT_EQ(acct_.model().users.at(*ops_id).client_id, "ops-client");
  // With a second ADMIN, the first may step down.
  EXPECT_TRUE(acct_.update_user(*root_id, demoted).ok());
  EXPECT_EQ(acct_.model().users.at(*root_id).role, Role::kStandard);
}

}  // namespace
}  // namespace simcore::core
