#include "control/store/store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>

#include "control/store/secret.h"

namespace simcore::ctl {
namespace {

using core::Code;

// ---------------------------------------------------------------- helpers

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/simcore_store_test_XXXXXX";
    const char* p = mkdtemp(tmpl);
    EXPECT_NE(p, nullptr);
    path_ = p ? p : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  // A data directory that does not exist yet (open must create it).
  std::string data() const { return path_ + "/data/nested"; }

 private:
  std::string path_;
};

std::unique_ptr<Store> open_or_die(const std::string& dir, const StoreOptions& o = {}) {
  auto s = Store::open(dir, o);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message());
  return s.ok() ? std::move(s).value() : nullptr;
}

#define ASSERT_OK(expr)                                                             \
  do {                                                                              \
    const auto& r_ = (expr);                                                        \
    ASSERT_TRUE(r_.ok()) << #expr << ": " << (r_.ok() ? "" : r_.error().message()); \
  } while (0)

// Returns every field of every object of a model, one per line, in a fixed order: two models
// are equal iff their dumps are, and a failure shows the differing lines.
std::string dump(const core::Model& m) {
  std::ostringstream o;
  auto svc = [](const core::Services& s) {
    return std::string("data=") + (s.data ? "1" : "0") + " sms=" + (s.sms ? "1" : "0");
  };
  auto list = [](const auto& v, auto str) {
    std::string out = "[";
    for (const auto& x : v) out += str(x) + ";";
    return out + "]";
  };
  auto cidr = [](const core::Cidr& c) { return c.str(); };
  auto same = [](const std::string& s) { return s; };
  auto chain = [&](const core::Chain& c) {
    std::string out = std::string("default=") + core::action_name(c.default_action);
    for (const core::FirewallRule& r : c.rules) {
      out += "\n    rule id=" + std::to_string(r.id.value) + " prio=" + std::to_string(r.priority) +
             " " + core::action_name(r.action) +
             " proto=" + std::to_string(static_cast<int>(r.protocol)) +
             " remote=" + r.remote.str() + " rports=" + r.remote_ports.str() +
             " lports=" + r.local_ports.str();
    }
    return out;
  };
  for (const auto& [id, n] : m.networks) {
    o << "network " << id.value << " name=" << n.name << " apn=" << n.apn
      << " isolation=" << n.isolation << " vlan=" << n.vlan << "\n";
    for (const auto& p : n.pools) o << "  pool " << p.id.value << " " << p.cidr.str() << "\n";
    for (const auto& r : n.routes) {
      o << "  route " << r.id.value << " " << r.destination.str() << " "
        << core::route_target_name(r.target) << " tunnel=" << r.tunnel.value << "\n";
    }
    for (const auto& r : n.nat_rules) {
      o << "  nat " << r.id.value << " proto=" << static_cast<int>(r.protocol) << " "
        << r.public_ip.str() << ":" << r.public_port << " thing=" << r.thing.value << ":"
        << r.thing_port << "\n";
    }
    for (const auto& t : n.tunnels) {
      o << "  tunnel " << t.id.value << " name=" << t.name << " peer=" << t.peer.str()
        << " local=" << list(t.local_subnets, cidr) << " remote=" << list(t.remote_subnets, cidr)
        << " ike=" << list(t.ike_proposals, same) << " esp=" << list(t.esp_proposals, same)
        << " psk=" << t.pre_shared_key << " dpd=" << t.dpd_seconds << " initiator=" << t.initiator
        << "\n";
    }
  }
  for (const auto& [id, p] : m.profiles) {
    o << "profile " << id.value << " name=" << p.name << " stateful=" << p.stateful << "\n  in "
      << chain(p.inbound) << "\n  out " << chain(p.outbound) << "\n";
  }
  for (const auto& [id, g] : m.groups) {
    o << "group " << id.value << " name=" << g.name << " net=" << g.network.value
      << " profile=" << g.profile.value << " " << svc(g.services) << " default=" << g.is_default
      << "\n";
  }
  for (const auto& [id, u] : m.users) {
    o << "user " << id.value << " name=" << u.name << " email=" << u.email << " "
      << core::role_name(u.role)
      << " groups=" << list(u.groups, [](core::GroupId g) { return std::to_string(g.value); })
      << " client=" << u.client_id << "\n";
  }
  for (const core::Thing& t : m.things) {
    o << "thing " << t.id.value << " slot=" << t.slot.value << " iccid=" << t.iccid
      << " imsi=" << t.imsi << " msisdn=" << t.msisdn << " name=" << t.name << " "
      << core::state_name(t.state) << " group=" << t.group.value << " tags=" << list(t.tags, same)
      << " imei=" << t.imei << " imei_lock=" << t.imei_lock << " ip_lock=" << t.ip_lock
      << " locked=" << (t.locked_addr ? t.locked_addr->str() : "-") << " " << svc(t.services);
    if (const auto& s = t.session) {
      o << " session ue=" << s->ue_addr.str() << " teid=" << s->uplink_teid
        << " peer=" << s->peer_addr.str() << ":" << s->peer_teid << " apn=" << s->apn
        << " rat=" << static_cast<int>(s->rat) << " plmn=" << s->mcc << "/" << s->mnc;
    }
    o << "\n";
  }
  return o.str();
}

core::Cidr cidr(const char* s) { return *core::Cidr::parse(s); }
core::Ipv4 ip(const char* s) { return *core::Ipv4::parse(s); }

// Builds, through core::Account (so every invariant holds), an account that uses every field
// of every object: a second network with pools, tunnel (with PSK), routes and a NAT rule;
// a profile with rules on both chains; groups; users; Things with tags, locks and sessions.
core::Account rich_account() {
  core::Account a;
  auto must = [](const auto& r) {
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
    return r.ok();
  };
  core::Network spec;
  spec.name = "Lab";
  spec.apn = "lab.example";
  spec.isolation = false;
  spec.vlan = 42;
  auto net = a.create_network(spec);
  if (!must(net)) return a;
  must(a.add_pool(*net, cidr("10.8.0.0/24")));
  must(a.add_pool(*net, cidr("10.9.0.0/24")));
  core::IpsecTunnel tun;
  tun.name = "hq";
  tun.peer = ip("203.0.113.1");
  tun.local_subnets = {cidr("10.8.0.0/24")};
  tun.remote_subnets = {cidr("192.168.0.0/16"), cidr("172.16.0.0/12")};
  tun.ike_proposals = {"aes128-sha256-modp2048"};
  tun.esp_proposals = {"aes128gcm16", "aes256gcm16"};
  tun.pre_shared_key = "s3cr3t \"psk\" \\ \u00fc\t";
  tun.dpd_seconds = 15;
  tun.initiator = false;
  auto tid = a.add_tunnel(*net, tun);
  must(tid);
  core::Route r1;
  r1.destination = cidr("192.168.0.0/16");
  r1.target = core::RouteTarget::kIpsecTunnel;
  r1.tunnel = *tid;
  must(a.add_route(*net, r1));
  core::Route r2;
  r2.destination = cidr("198.18.0.0/15");
  r2.target = core::RouteTarget::kBlackhole;
  must(a.add_route(*net, r2));

  core::IpProfile prof;
  prof.name = "Strict";
  prof.stateful = true;
  prof.inbound.default_action = core::Action::kDeny;
  core::FirewallRule in1;
  in1.priority = 10;
  in1.action = core::Action::kAllow;
  in1.protocol = core::Protocol::kTcp;
  in1.remote = cidr("192.0.2.0/24");
  in1.remote_ports = {443, 443};
  in1.local_ports = {1000, 2000};
  prof.inbound.rules = {in1};
  core::FirewallRule out1;
  out1.priority = 5;
  out1.action = core::Action::kDeny;
  out1.protocol = core::Protocol::kUdp;
  out1.remote_ports = {53, 53};
  core::FirewallRule out2;
  out2.priority = 6;
  out2.protocol = core::Protocol::kIcmp;
  out2.remote = cidr("198.51.100.0/24");
  prof.outbound.rules = {out1, out2};
  auto pid = a.create_profile(prof);
  must(pid);

  core::ThingsGroup g;
  g.name = "Lab group";
  g.network = *net;
  g.profile = *pid;
  g.services = {true, false};
  auto gid = a.create_group(g);
  must(gid);

  std::vector<core::Thing> things(4);
  for (size_t i = 0; i < things.size(); ++i) {
    things[i].iccid = "894400000000000000" + std::to_string(10 + i);
    things[i].imsi = "23415000000000" + std::to_string(i);
    things[i].msisdn = "4477000000" + std::to_string(i);
    things[i].name = "meter-" + std::to_string(i);
    things[i].group = i < 3 ? *gid : core::GroupId{};
    things[i].tags = {"site-a", "floor:" + std::to_string(i)};
  }
  things[3].tags = {};
  things[2].imei_lock = true;
  things[2].services = {false, true};
  auto ids = a.provision(things);
  if (!must(ids)) return a;
  const core::ThingId locked = (*ids)[0], dynamic = (*ids)[1], idle = (*ids)[2];
  core::ThingPatch lock;
  lock.ip_lock = true;
  lock.locked_addr = ip("10.8.0.7");
  must(a.update_thing(locked, lock));
  for (core::ThingId id : {locked, dynamic, idle}) must(a.set_state(id, core::ThingState::kActive));
  must(a.set_state((*ids)[3], core::ThingState::kActive));
  must(a.set_state((*ids)[3], core::ThingState::kSuspended));
  core::AttachRequest req;
  req.uplink_teid = 0x1001;
  req.peer_addr = ip("198.51.100.20");
  req.peer_teid = 0xabcdef01;
  req.apn = "lab.example";
  req.rat = core::Rat::kNbIot;
  req.mcc = 234;
  req.mnc = 15;
  req.imei = "356938035643809";
  must(a.attach(locked, req));
  req.uplink_teid = 0x1002;
  req.rat = core::Rat::kLteM;
  req.mnc = 1;
  must(a.attach(dynamic, req));
  core::NatRule nat;
  nat.protocol = core::Protocol::kUdp;
  nat.public_ip = ip("198.51.100.5");
  nat.public_port = 5683;
  nat.thing = locked;
  nat.thing_port = 5684;
  must(a.add_nat_rule(*net, nat));

  core::User admin;
  admin.name = "Ada";
  admin.email = "ada@example.com";
  admin.role = core::Role::kAdmin;
  admin.client_id = "client-ada";
  must(a.create_user(admin));
  core::User gu;
  gu.name = "Grace";
  gu.email = "grace@example.com";
  gu.role = core::Role::kGroupUser;
  gu.groups = {*gid, a.default_group()};
  gu.client_id = "client-grace";
  must(a.create_user(gu));
  core::User mon;  // no API credentials
  mon.name = "Mo";
  mon.email = "mo@example.com";
  mon.role = core::Role::kMonitor;
  must(a.create_user(mon));
  return a;
}

// Writes a whole model in one transaction.
core::Status put_model(Store& s, const core::Model& m) {
  auto txn = s.begin();
  if (!txn) return txn.status();
  for (const auto& [id, n] : m.networks) {
    if (auto st = txn->put_network(n); !st) return st;
  }
  for (const auto& [id, p] : m.profiles) {
    if (auto st = txn->put_profile(p); !st) return st;
  }
  for (const auto& [id, g] : m.groups) {
    if (auto st = txn->put_group(g); !st) return st;
  }
  for (const auto& [id, u] : m.users) {
    if (auto st = txn->put_user(u, u.client_id.empty() ? "" : "hash-of-" + u.client_id); !st) {
      return st;
    }
  }
  if (auto st = txn->put_things(m.things); !st) return st;
  return txn->commit();
}

core::Thing simple_thing(uint64_t id, core::GroupId group) {
  core::Thing t;
  t.id = core::ThingId{id};
  t.slot = core::ThingSlot{static_cast<uint32_t>(id - 1)};
  char iccid[32], imsi[32];
  std::snprintf(iccid, sizeof iccid, "8944%015llu", static_cast<unsigned long long>(id));
  std::snprintf(imsi, sizeof imsi, "234%012llu", static_cast<unsigned long long>(id));
  t.iccid = iccid;
  t.imsi = imsi;
  t.msisdn = "447700" + std::to_string(id);
  t.group = group;
  t.tags = {"bulk"};
  return t;
}

// ---------------------------------------------------------------- the model

TEST(StoreTest, RichModelRoundTripsAndRestores) {
  TempDir dir;
  const core::Account account = rich_account();
  const core::Model& m = account.model();
  ASSERT_EQ(m.things.size(), 4u);
  ASSERT_TRUE(m.things[0].session && m.things[0].locked_addr);
  {
    auto s = open_or_die(dir.data());
    ASSERT_TRUE(s);
    ASSERT_OK(put_model(*s, m));
  }
  auto s = open_or_die(dir.data());  // a second process start
  ASSERT_TRUE(s);
  auto loaded = s->load_model();
  ASSERT_OK(loaded);
  EXPECT_EQ(dump(*loaded), dump(m));
  EXPECT_NE(dump(m).find("psk=s3cr3t"), std::string::npos);  // the dump covers the PSK

  auto restored = core::Account::restore(*loaded);
  ASSERT_OK(restored);
  EXPECT_EQ(dump(restored->model()), dump(m));
  EXPECT_EQ(restored->default_group(), account.default_group());
  ASSERT_OK(s->check_integrity());

  // Putting the same model again is an idempotent upsert.
  ASSERT_OK(put_model(*s, m));
  auto again = s->load_model();
  ASSERT_OK(again);
  EXPECT_EQ(dump(*again), dump(m));
}

TEST(StoreTest, UpdatesReplaceChildrenAndDeletesCascade) {
  TempDir dir;
  core::Account account = rich_account();
  auto s = open_or_die(dir.data());
  ASSERT_TRUE(s);
  ASSERT_OK(put_model(*s, account.model()));

  // Detach, remove a route, delete a group (its Things move to the default group).
  core::Model m = account.model();
  const core::ThingsGroup* lab = nullptr;
  for (const auto& [id, g] : m.groups) {
    if (!g.is_default) lab = &g;
  }
  ASSERT_NE(lab, nullptr);
  const core::GroupId lab_id = lab->id;
  const core::NetworkId lab_net = lab->network;
  ASSERT_OK(account.detach(m.things[0].id));
  ASSERT_OK(account.detach(m.things[1].id));
  core::ThingPatch unlock;
  unlock.ip_lock = false;
  for (const auto& n : account.model().networks) {
    for (const auto& r : n.second.nat_rules) ASSERT_OK(account.remove_nat_rule(n.first, r.id));
  }
  ASSERT_OK(account.update_thing(m.things[0].id, unlock));
  const core::RouteId blackhole = account.network(lab_net)->routes[1].id;
  ASSERT_OK(account.remove_route(lab_net, blackhole));
  ASSERT_OK(account.delete_group(lab_id));
  {
    auto txn = s->begin();
    ASSERT_OK(txn);
    ASSERT_OK(txn->put_network(*account.network(lab_net)));
    ASSERT_OK(txn->put_things(account.model().things));
    for (const auto& [id, u] : account.model().users) ASSERT_OK(txn->put_user(u, ""));
    ASSERT_OK(txn->delete_group(lab_id));
    ASSERT_OK(txn->commit());
  }
  auto loaded = s->load_model();
  ASSERT_OK(loaded);
  EXPECT_EQ(dump(*loaded), dump(account.model()));
  // put_user with an empty hash kept the stored one.
  auto grace = s->get_user_by_client_id("client-grace");
  ASSERT_OK(grace);
  EXPECT_EQ(grace->secret_hash, "hash-of-client-grace");

  // Delete the network and the profile now nothing uses them: children go with them.
  core::ProfileId strict;
  for (const auto& [id, p] : account.model().profiles) {
    if (p.name == "Strict") strict = id;
  }
  ASSERT_OK(account.delete_network(lab_net));
  ASSERT_OK(account.delete_profile(strict));
  {
    auto txn = s->begin();
    ASSERT_OK(txn);
    ASSERT_OK(txn->delete_network(lab_net));
    ASSERT_OK(txn->delete_profile(strict));
    ASSERT_OK(txn->commit());
  }
  loaded = s->load_model();
  ASSERT_OK(loaded);
  EXPECT_EQ(dump(*loaded), dump(account.model()));
  ASSERT_OK(s->check_integrity());
  ASSERT_OK(core::Account::restore(*loaded));
}

TEST(StoreTest, UncommittedTransactionLeavesNothing) {
  TempDir dir;
  const core::Account account = rich_account();
  auto s = open_or_die(dir.data());
  ASSERT_TRUE(s);
  {
    auto txn = s->begin();
    ASSERT_OK(txn);
    for (const auto& [id, n] : account.model().networks) ASSERT_OK(txn->put_network(n));
    ASSERT_OK(txn->put_things(account.model().things));
    auto ev = txn->append_event({.time_ms = 1, .type = "X"});
    ASSERT_OK(ev);
    // No commit: the destructor rolls back.
  }
  {
    auto txn = s->begin();
    ASSERT_OK(txn);
    for (const auto& [id, g] : account.model().groups) ASSERT_OK(txn->put_group(g));
    txn->rollback();
    EXPECT_FALSE(txn->active());
    EXPECT_FALSE(txn->commit().ok());
  }
  auto loaded = s->load_model();
  ASSERT_OK(loaded);
  EXPECT_EQ(dump(*loaded), "");
  auto events = s->list_events(0, 10);
  ASSERT_OK(events);
  EXPECT_TRUE(events->empty());
}

TEST(StoreTest, OnlyOneTransactionAtATime) {
  TempDir dir;
  auto s = open_or_die(dir.data());
  ASSERT_TRUE(s);
  auto t1 = s->begin();
  ASSERT_OK(t1);
  auto t2 = s->begin();
  ASSERT_FALSE(t2.ok());
  EXPECT_EQ(t2.error().code(), Code::kInternal);
  ASSERT_OK(t1->commit());
  auto t3 = s->begin();
  EXPECT_TRUE(t3.ok());
}

// Base objects every Thing needs: network 1, profile 2, default group 3.
void put_base(Store& s) {
  core::Network n;
  n.id = core::NetworkId{1};
  n.name = "net";
  n.apn = "iot.simcore";
  n.pools = {{core::PoolId{4}, cidr("10.64.0.0/12")}};
  core::IpProfile p;
  p.id = core::ProfileId{2};
  p.name = "allow";
  core::ThingsGroup g;
  g.id = core::GroupId{3};
  g.name = "Default group";
  g.network = n.id;
  g.profile = p.id;
  g.is_default = true;
  auto txn = s.begin();
  ASSERT_OK(txn);
  ASSERT_OK(txn->put_network(n));
  ASSERT_OK(txn->put_profile(p));
  ASSERT_OK(txn->put_group(g));
  ASSERT_OK(txn->commit());
}

TEST(StoreTest, DuplicateIccidFailsAndRollsBackTheTransaction) {
  TempDir dir;
  auto s = open_or_die(dir.data());
  ASSERT_TRUE(s);
  put_base(*s);
  {
    auto txn = s->begin();
    ASSERT_OK(txn);
    ASSERT_OK(txn->put_thing(simple_thing(1, core::GroupId{3})));
    ASSERT_OK(txn->commit());
  }
  auto txn = s->begin();
  ASSERT_OK(txn);
  ASSERT_OK(txn->put_thing(simple_thing(2, core::GroupId{3})));
  core::Thing dup = simple_thing(3, core::GroupId{3});
  dup.iccid = simple_thing(1, core::GroupId{3}).iccid;
  const core::Status st = txn->put_thing(dup);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), Code::kInternal);
  EXPECT_NE(st.error().message().find("things.iccid"), std::string::npos) << st.error().message();
  EXPECT_FALSE(txn->active());
  EXPECT_FALSE(txn->put_thing(simple_thing(4, core::GroupId{3})).ok());
  EXPECT_FALSE(txn->commit().ok());

  auto loaded = s->load_model();
  ASSERT_OK(loaded);
  ASSERT_EQ(loaded->things.size(), 1u);  // thing 2 went with the failed transaction
  EXPECT_EQ(loaded->things[0].id.value, 1u);
  EXPECT_TRUE(s->begin().ok());  // and the store is usable again
}

TEST(StoreTest, DanglingReferenceFailsAtCommit) {
  TempDir dir;
  auto s = open_or_die(dir.data());
  ASSERT_TRUE(s);
  put_base(*s);
  auto txn = s->begin();
  ASSERT_OK(txn);
  ASSERT_OK(txn->put_thing(simple_thing(1, core::GroupId{99})));  // checked at commit
  const core::Status st = txn->commit();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("FOREIGN KEY"), std::string::npos) << st.error().message();
  EXPECT_FALSE(txn->active());
  // Deleting a group that still has Things is refused the same way.
  auto t2 = s->begin();
  ASSERT_OK(t2);
  ASSERT_OK(t2->put_thing(simple_thing(1, core::GroupId{3})));
  ASSERT_OK(t2->commit());
  auto t3 = s->begin();
  ASSERT_OK(t3);
  ASSERT_OK(t3->delete_group(core::GroupId{3}));
  EXPECT_FALSE(t3->commit().ok());
  auto loaded = s->load_model();
  ASSERT_OK(loaded);
  EXPECT_EQ(loaded->things.size(), 1u);
  EXPECT_EQ(loaded->groups.size(), 1u);
}

// The store does not validate (core does): any text survives, including JSON's special
// characters in the JSON-encoded columns.
TEST(StoreTest, ArbitraryTextRoundTrips) {
  TempDir dir;
  auto s = open_or_die(dir.data());
  ASSERT_TRUE(s);
  put_base(*s);
  core::Thing t = simple_thing(1, core::GroupId{3});
  t.tags = {"quote\"",
            "back\\slash",
            "new\nline",
            "tab\t",
            std::string("nul\0x", 5),
            "\x01ctl",
            "\u00fc\u4e2d\U0001F600",
            "",
            "[\"not\", \"json\"]"};
  t.name = "name with 'quotes' and ; DROP TABLE things; --";
  {
    auto txn = s->begin();
    ASSERT_OK(txn);
    ASSERT_OK(txn->put_thing(t));
    ASSERT_OK(txn->commit());
  }
  auto loaded = s->load_model();
  ASSERT_OK(loaded);
  ASSERT_EQ(loaded->things.size(), 1u);
  EXPECT_EQ(loaded->things[0].tags, t.tags);
  EXPECT_EQ(loaded->things[0].name, t.name);
}

// ---------------------------------------------------------------- schema and pragmas

TEST(StoreTest, PragmasAreWalFullSyncAndForeignKeys) {
  TempDir dir;
  auto s = open_or_die(dir.data());
  ASSERT_TRUE(s);
  EXPECT_TRUE(std::filesystem::exists(dir.data() + "/simcore.db"));
  auto mode = s->pragma("journal_mode");
  ASSERT_OK(mode);
  EXPECT_EQ(*mode, "wal");
  auto sync = s->pragma("synchronous");
  ASSERT_OK(sync);
  EXPECT_EQ(*sync, "2");  // FULL
  auto fk = s->pragma("foreign_keys");
  ASSERT_OK(fk);
  EXPECT_EQ(*fk, "1");
  auto busy = s->pragma("busy_timeout");
  ASSERT_OK(busy);
  EXPECT_EQ(*busy, "5000");
  EXPECT_FALSE(s->pragma("journal_mode; DROP TABLE things").ok());
  EXPECT_FALSE(s->pragma("synchronous=OFF").ok());
  EXPECT_EQ(s->schema_version(), static_cast<int>(builtin_migrations().size()));
}

// Runs one query on a database file outside the Store; returns the first column of each row.
std::vector<std::string> raw_query(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  std::vector<std::string> out;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_exec(
      db, sql,
      [](void* p, int, char** v, char**) {
        static_cast<std::vector<std::string>*>(p)->push_back(v[0] ? v[0] : "NULL");
        return 0;
      },
      &out, nullptr);
  sqlite3_close(db);
  return out;
}

TEST(StoreTest, OldDatabaseIsUpgradedAndNewerOneRefused) {
  TempDir dir;
  {
    auto s = open_or_die(dir.data());  // version 1, as shipped
    ASSERT_TRUE(s);
    ASSERT_EQ(s->schema_version(), 1);
    put_base(*s);
    auto txn = s->begin();
    ASSERT_OK(txn);
    ASSERT_OK(txn->put_thing(simple_thing(1, core::GroupId{3})));
    ASSERT_OK(txn->commit());
  }
  // A test-only migration 2, as a later release would add it.
  std::vector<Migration> v2(builtin_migrations().begin(), builtin_migrations().end());
  v2.push_back({2, "things.note",
                "ALTER TABLE things ADD COLUMN note TEXT NOT NULL DEFAULT 'n/a';"
                "CREATE TABLE audit (id INTEGER PRIMARY KEY, what TEXT);"
                "INSERT INTO audit (what) VALUES ('upgraded');"});
  {
    auto s = open_or_die(dir.data(), {.migrations = v2});
    ASSERT_TRUE(s);
    EXPECT_EQ(s->schema_version(), 2);
    auto loaded = s->load_model();  // the old data and this build's queries still work
    ASSERT_OK(loaded);
    EXPECT_EQ(loaded->things.size(), 1u);
  }
  const std::string db = dir.data() + "/simcore.db";
  EXPECT_EQ(raw_query(db, "SELECT note FROM things"), std::vector<std::string>{"n/a"});
  EXPECT_EQ(raw_query(db, "SELECT what FROM audit"), std::vector<std::string>{"upgraded"});
  EXPECT_EQ(raw_query(db, "SELECT version FROM schema_version ORDER BY version"),
            (std::vector<std::string>{"1", "2"}));

  // A failing migration 3 changes nothing: still version 2.
  std::vector<Migration> bad = v2;
  bad.push_back({3, "broken", "CREATE TABLE t3 (x); SELECT * FROM no_such_table;"});
  auto failed = Store::open(dir.data(), {.migrations = bad});
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message().find("migration 3 (broken)"), std::string::npos)
      << failed.error().message();
  EXPECT_EQ(raw_query(db, "SELECT MAX(version) FROM schema_version"),
            std::vector<std::string>{"2"});
  EXPECT_TRUE(raw_query(db, "SELECT name FROM sqlite_master WHERE name = 't3'").empty());

  // This build (version 1) refuses the version-2 database.
  auto refused = Store::open(dir.data());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), Code::kFailedPrecondition);
  EXPECT_NE(refused.error().message().find("schema version 2, newer than this build supports (1)"),
            std::string::npos)
      << refused.error().message();
}

// ---------------------------------------------------------------- bulk

TEST(StoreTest, HundredThousandThingsInOneTransaction) {
  TempDir dir;
  auto s = open_or_die(dir.data());
  ASSERT_TRUE(s);
  put_base(*s);
  constexpr size_t kThings = 100'000;
  std::vector<core::Thing> things;
  things.reserve(kThings);
  for (size_t i = 1; i <= kThings; ++i) things.push_back(simple_thing(i, core::GroupId{3}));

  const auto t0 = std::chrono::steady_clock::now();
  auto t_put = t0;
  {
    auto txn = s->begin();
    ASSERT_OK(txn);
    ASSERT_OK(txn->put_things(things));
    t_put = std::chrono::steady_clock::now();
    ASSERT_OK(txn->commit());
  }
  const auto t1 = std::chrono::steady_clock::now();
  auto loaded = s->load_model();
  const auto t2 = std::chrono::steady_clock::now();
  ASSERT_OK(loaded);
  ASSERT_EQ(loaded->things.size(), kThings);
  EXPECT_EQ(loaded->things.back().iccid, things.back().iccid);
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  std::printf(
      "[ bulk     ] %zu Things in one transaction: %.0f ms (put_things %.0f ms, commit "
      "%.0f ms); load_model: %.0f ms\n",
      kThings, ms(t1 - t0), ms(t_put - t0), ms(t1 - t_put), ms(t2 - t1));
  // Generous bound (sanitizer builds, a shared 2-core machine); the figure above is the result.
  EXPECT_LT(ms(t1 - t0), 30'000.0);
}

// ---------------------------------------------------------------- records

TEST(StoreTest, EventsArePagedAndFiltered) {
  TempDir dir;
  auto s = open_or_die(dir.data());
  ASSERT_TRUE(s);
  {
    auto txn = s->begin();
    ASSERT_OK(txn);
    for (int i = 0; i < 10; ++i) {
      EventRecord e;
      e.time_ms = 1000 + i;
      e.type = i % 2 ? "ATTACH" : "STATE_CHANGED";
      if (i < 6) e.thing = core::ThingId{static_cast<uint64_t>(i % 3 + 1)};
      e.detail_json = "{\"i\":" + std::to_string(i) + "}";
      auto id = txn->append_event(e);
      ASSERT_OK(id);
      EXPECT_EQ(*id, i + 1);
    }
    ASSERT_OK(txn->commit());
  }
  auto page1 = s->list_events(0, 4);
  ASSERT_OK(page1);
  ASSERT_EQ(page1->size(), 4u);
  EXPECT_EQ(page1->back().id, 4);
  auto page2 = s->list_events(page1->back().id, 100);
  ASSERT_OK(page2);
  ASSERT_EQ(page2->size(), 6u);
  EXPECT_EQ(page2->front().detail_json, "{\"i\":4}");
  EXPECT_FALSE(page2->back().thing.has_value());

  auto thing1 = s->list_events(0, 100, {.thing = core::ThingId{1}});
  ASSERT_OK(thing1);
  ASSERT_EQ(thing1->size(), 2u);  // i = 0, 3
  EXPECT_EQ((*thing1)[1].time_ms, 1003);
  auto attach = s->list_events(0, 100, {.type = "ATTACH", .since_ms = 1003, .until_ms = 1008});
  ASSERT_OK(attach);
  ASSERT_EQ(attach->size(), 3u);  // i = 3, 5, 7
  EXPECT_EQ(attach->front().type, "ATTACH");
  auto both = s->list_events(0, 100, {.thing = core::ThingId{3}, .type = "STATE_CHANGED"});
  ASSERT_OK(both);
  ASSERT_EQ(both->size(), 1u);  // i = 2 (i = 5 is ATTACH)
  EXPECT_EQ(both->front().id, 3);
  auto none = s->list_events(0, 0);
  ASSERT_OK(none);
  EXPECT_TRUE(none->empty());
}

TEST(StoreTest, SmsInsertUpdateList) {
  TempDir dir;
  auto s = open_or_die(dir.data());
  ASSERT_TRUE(s);
  int64_t mt = 0;
  {
    auto txn = s->begin();
    ASSERT_OK(txn);
    auto id = txn->insert_sms({.thing = core::ThingId{7},
                               .text = "hello \"thing\"",
                               .created_ms = 10,
                               .updated_ms = 10,
                               .validity_s = 3600});
    ASSERT_OK(id);
    mt = *id;
    ASSERT_OK(txn->insert_sms({.thing = core::ThingId{8},
                               .direction = SmsDirection::kMo,
                               .text = "reading=42",
                               .status = SmsStatus::kReceived,
                               .created_ms = 11,
                               .updated_ms = 11}));
    ASSERT_OK(txn->commit());
  }
  {
    auto txn = s->begin();
    ASSERT_OK(txn);
    ASSERT_OK(txn->update_sms_status(mt, SmsStatus::kDelivered, 20));
    const core::Status missing = txn->update_sms_status(999, SmsStatus::kSent, 21);
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code(), Code::kNotFound);
  }  // rolled back by the failure: the DELIVERED update is gone too
  auto got = s->get_sms(mt);
  ASSERT_OK(got);
  EXPECT_EQ(got->status, SmsStatus::kQueued);
  {
    auto txn = s->begin();
    ASSERT_OK(txn);
    ASSERT_OK(txn->update_sms_status(mt, SmsStatus::kDelivered, 20));
    ASSERT_OK(txn->commit());
  }
  got = s->get_sms(mt);
  ASSERT_OK(got);
  EXPECT_EQ(got->status, SmsStatus::kDelivered);
  EXPECT_EQ(got->text, "hello \"thing\"");
  EXPECT_EQ(got->thing.value, 7u);
  EXPECT_EQ(got->direction, SmsDirection::kMt);
  EXPECT_EQ(got->created_ms, 10);
  EXPECT_EQ(got->updated_ms, 20);
  EXPECT_EQ(got->validity_s, 3600);
  EXPECT_EQ(s->get_sms(12345).error().code(), Code::kNotFound);

  auto all = s->list_sms(0, 10);
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[1].direction, SmsDirection::kMo);
  auto of8 = s->list_sms(0, 10, core::ThingId{8});
  ASSERT_OK(of8);
  ASSERT_EQ(of8->size(), 1u);
  EXPECT_EQ(of8->front().status, SmsStatus::kReceived);
  auto delivered = s->list_sms(0, 10, std::nullopt, SmsStatus::kDelivered);
  ASSERT_OK(delivered);
  ASSERT_EQ(delivered->size(), 1u);
  EXPECT_EQ(delivered->front().id, mt);
}

TEST(StoreTest, UsageAddsUpPerThingAndDay) {
  TempDir dir;
  auto s = open_or_die(dir.data());
  ASSERT_TRUE(s);
  {
    auto txn = s->begin();
    ASSERT_OK(txn);
    ASSERT_OK(txn->add_usage({core::ThingId{1}, "2024-05-01", 100, 1000, 1}));
    ASSERT_OK(txn->add_usage({core::ThingId{1}, "2024-05-01", 50, 500, 2}));
    ASSERT_OK(txn->add_usage({core::ThingId{1}, "2024-05-02", 1, 2, 0}));
    ASSERT_OK(txn->add_usage({core::ThingId{2}, "2024-05-01", 7, 8, 9}));
    ASSERT_OK(txn->add_usage({core::ThingId{2}, "2024-06-01", 1ull << 40, 0, 0}));
    ASSERT_OK(txn->commit());
  }
  auto t1 = s->list_usage("2024-05-01", "2024-05-31", core::ThingId{1});
  ASSERT_OK(t1);
  ASSERT_EQ(t1->size(), 2u);
  EXPECT_EQ((*t1)[0].bytes_up, 150u);
  EXPECT_EQ((*t1)[0].bytes_down, 1500u);
  EXPECT_EQ((*t1)[0].sms_count, 3u);
  EXPECT_EQ((*t1)[1].day, "2024-05-02");
  auto may = s->list_usage("2024-05-01", "2024-05-31");
  ASSERT_OK(may);
  ASSERT_EQ(may->size(), 3u);
  EXPECT_EQ((*may)[2].thing.value, 2u);
  auto june = s->list_usage("2024-06-01", "2024-06-30");
  ASSERT_OK(june);
  ASSERT_EQ(june->size(), 1u);
  EXPECT_EQ(june->front().bytes_up, 1ull << 40);
  // A malformed day is refused by the schema.
  auto txn = s->begin();
  ASSERT_OK(txn);
  EXPECT_FALSE(txn->add_usage({core::ThingId{1}, "May 1st", 1, 1, 1}).ok());
}

TEST(StoreTest, JobsPutGetList) {
  TempDir dir;
  auto s = open_or_die(dir.data());
  ASSERT_TRUE(s);
  int64_t bulk = 0, report = 0;
  {
    auto txn = s->begin();
    ASSERT_OK(txn);
    auto id = txn->put_job({.kind = "BULK_ACTION",
                            .status = "RUNNING",
                            .request_json = R"({"action":"ACTIVATE","tag":"site-a"})",
                            .created_ms = 5,
                            .updated_ms = 5});
    ASSERT_OK(id);
    bulk = *id;
    id = txn->put_job(
        {.kind = "BILLING_REPORT", .status = "RUNNING", .created_ms = 6, .updated_ms = 6});
    ASSERT_OK(id);
    report = *id;
    ASSERT_OK(txn->commit());
  }
  EXPECT_NE(bulk, report);
  auto job = s->get_job(bulk);
  ASSERT_OK(job);
  job->status = "DONE";
  job->result_json = R"({"succeeded":3,"failed":[]})";
  job->updated_ms = 9;
  {
    auto txn = s->begin();
    ASSERT_OK(txn);
    auto id = txn->put_job(*job);
    ASSERT_OK(id);
    EXPECT_EQ(*id, bulk);
    ASSERT_OK(txn->commit());
  }
  auto done = s->get_job(bulk);
  ASSERT_OK(done);
  EXPECT_EQ(done->status, "DONE");
  EXPECT_EQ(done->result_json, R"({"succeeded":3,"failed":[]})");
  EXPECT_EQ(done->request_json, R"({"action":"ACTIVATE","tag":"site-a"})");
  EXPECT_EQ(done->created_ms, 5);
  EXPECT_EQ(done->updated_ms, 9);
  auto reports = s->list_jobs(0, 10, "BILLING_REPORT");
  ASSERT_OK(reports);
  ASSERT_EQ(reports->size(), 1u);
  EXPECT_EQ(reports->front().id, report);
  auto all = s->list_jobs(0, 10);
  ASSERT_OK(all);
  EXPECT_EQ(all->size(), 2u);
  EXPECT_EQ(s->get_job(999).error().code(), Code::kNotFound);
}

TEST(StoreTest, MetaKeyValue) {
  TempDir dir;
  auto s = open_or_die(dir.data());
  ASSERT_TRUE(s);
  auto none = s->get_meta("next_id");
  ASSERT_OK(none);
  EXPECT_FALSE(none->has_value());
  auto txn = s->begin();
  ASSERT_OK(txn);
  ASSERT_OK(txn->set_meta("next_id", "17"));
  ASSERT_OK(txn->set_meta("next_id", "18"));
  ASSERT_OK(txn->commit());
  auto v = s->get_meta("next_id");
  ASSERT_OK(v);
  EXPECT_EQ(v->value_or(""), "18");
}

// ---------------------------------------------------------------- users and secrets

TEST(StoreTest, UserCredentialsAndSecretHashing) {
  auto hash = hash_secret("correct horse", 1000);
  ASSERT_OK(hash);
  EXPECT_EQ(hash->rfind("pbkdf2-sha256$1000$", 0), 0u) << *hash;
  EXPECT_EQ(hash->find("correct"), std::string::npos);
  EXPECT_TRUE(verify_secret("correct horse", *hash));
  EXPECT_FALSE(verify_secret("correct horse ", *hash));
  EXPECT_FALSE(verify_secret("", *hash));
  EXPECT_FALSE(verify_secret("correct horse", ""));
  EXPECT_FALSE(verify_secret("correct horse", "pbkdf2-sha256$1000$zz$00"));
  auto hash2 = hash_secret("correct horse", 1000);
  ASSERT_OK(hash2);
  EXPECT_NE(*hash, *hash2);  // salted
  auto slow = hash_secret("x");
  ASSERT_OK(slow);
  EXPECT_TRUE(verify_secret("x", *slow));

  TempDir dir;
  auto s = open_or_die(dir.data());
  ASSERT_TRUE(s);
  put_base(*s);
  core::User u;
  u.id = core::UserId{10};
  u.name = "Grace";
  u.email = "grace@example.com";
  u.role = core::Role::kGroupUser;
  u.groups = {core::GroupId{3}};
  u.client_id = "cid-1";
  {
    auto txn = s->begin();
    ASSERT_OK(txn);
    ASSERT_OK(txn->put_user(u, *hash));
    ASSERT_OK(txn->commit());
  }
  auto got = s->get_user_by_client_id("cid-1");
  ASSERT_OK(got);
  EXPECT_EQ(got->user.name, "Grace");
  EXPECT_EQ(got->user.role, core::Role::kGroupUser);
  ASSERT_EQ(got->user.groups.size(), 1u);
  EXPECT_EQ(got->user.groups[0].value, 3u);
  EXPECT_TRUE(verify_secret("correct horse", got->secret_hash));
  EXPECT_EQ(s->get_user_by_client_id("cid-2").error().code(), Code::kNotFound);

  // A second user may not take the same client id.
  core::User v = u;
  v.id = core::UserId{11};
  v.email = "v@example.com";
  {
    auto txn = s->begin();
    ASSERT_OK(txn);
    const core::Status st = txn->put_user(v, *hash2);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message().find("users.client_id"), std::string::npos);
  }
  {
    auto txn = s->begin();
    ASSERT_OK(txn);
    ASSERT_OK(txn->delete_user(u.id));
    ASSERT_OK(txn->commit());
  }
  EXPECT_EQ(s->get_user_by_client_id("cid-1").error().code(), Code::kNotFound);
}

// ---------------------------------------------------------------- durability

// Reads exactly n bytes unless EOF or an error comes first; returns the bytes read.
size_t read_full(int fd, void* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, static_cast<char*>(buf) + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

// A child commits a stream of writes (a Thing and an event each) and acknowledges each id on a
// pipe only after commit() returned; the parent SIGKILLs it mid-stream. Every acknowledged
// write must be there after reopening, and the database must be intact.
TEST(StoreTest, EveryAcknowledgedWriteSurvivesSigkill) {
  TempDir dir;
  {
    auto s = open_or_die(dir.data());
    ASSERT_TRUE(s);
    put_base(*s);
  }  // closed before fork: the child gets no inherited SQLite state
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::fflush(nullptr);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    auto opened = Store::open(dir.data());
    if (!opened) ::_exit(2);
    Store& s = **opened;
    for (uint64_t id = 1;; ++id) {
      auto txn = s.begin();
      if (!txn) ::_exit(3);
      if (!txn->put_thing(simple_thing(id, core::GroupId{3})).ok()) ::_exit(4);
      EventRecord e;
      e.time_ms = static_cast<int64_t>(id);
      e.type = "TEST";
      e.thing = core::ThingId{id};
      if (!txn->append_event(e).ok()) ::_exit(5);
      if (!txn->commit().ok()) ::_exit(6);
      if (::write(fds[1], &id, sizeof id) != sizeof id) ::_exit(7);
    }
  }
  ::close(fds[1]);
  // Let a stream build up, then kill while writes are in flight.
  constexpr uint64_t kAcksBeforeKill = 150;
  std::set<uint64_t> acked;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  uint64_t id = 0;
  while (acked.size() < kAcksBeforeKill && std::chrono::steady_clock::now() < deadline &&
         read_full(fds[0], &id, sizeof id) == sizeof id) {
    acked.insert(id);
  }
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with code " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  // Acknowledgements already in the pipe count too: the child had committed those.
  while (read_full(fds[0], &id, sizeof id) == sizeof id) acked.insert(id);
  ::close(fds[0]);
  ASSERT_GE(acked.size(), kAcksBeforeKill);
  std::printf("[ crash    ] %zu writes acknowledged before SIGKILL\n", acked.size());

  auto s = open_or_die(dir.data());
  ASSERT_TRUE(s);
  ASSERT_OK(s->check_integrity());
  auto loaded = s->load_model();
  ASSERT_OK(loaded);
  std::set<uint64_t> things;
  for (const core::Thing& t : loaded->things) things.insert(t.id.value);
  auto events = s->list_events(0, 1'000'000);
  ASSERT_OK(events);
  std::set<uint64_t> event_things;
  for (const EventRecord& e : *events) event_things.insert(e.thing->value);
  for (uint64_t a : acked) {
    ASSERT_TRUE(things.count(a)) << "acknowledged Thing " << a << " is missing";
    ASSERT_TRUE(event_things.count(a)) << "acknowledged event " << a << " is missing";
  }
  // Each transaction is whole: a Thing without its event (or the reverse) would be a torn one.
  EXPECT_EQ(things, event_things);
  // At most the one write in flight at the kill is present without an acknowledgement.
  EXPECT_LE(things.size(), acked.size() + 1);
  ASSERT_OK(core::Account::restore(std::move(loaded).value()));
}

}  // namespace
}  // namespace simcore::ctl
