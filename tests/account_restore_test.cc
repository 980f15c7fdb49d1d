// Account::restore rebuilds an account from a stored model: the persistence layer's load path.
#include <gtest/gtest.h>

#include <cstring>

#include "core/compiler.h"
#include "tests/support/model_gen.h"

namespace simcore {
namespace {

TEST(AccountRestore, RestoredAccountCompilesIdenticallyAndKeepsCounting) {
  testing::ModelGenOptions o;
  o.seed = 5;
  o.max_rules = 10;
  testing::GeneratedModel g = testing::generate_model(o);
  auto restored = core::Account::restore(g.account.model());
  ASSERT_TRUE(restored.ok()) << restored.error().message();

  core::Compiler a, b;
  auto ta = a.compile(g.account.model());
  auto tb = b.compile(restored->model());
  ASSERT_TRUE(ta.ok() && tb.ok());
  ASSERT_EQ((*ta)->sessions.size(), (*tb)->sessions.size());
  for (size_t i = 0; i < (*ta)->sessions.size(); ++i) {
    ASSERT_EQ(std::memcmp(&(*ta)->sessions[i], &(*tb)->sessions[i], sizeof(core::SessionRow)), 0);
  }
  // Leases came back: every network leases as many addresses as before.
  for (const auto& [nid, n] : g.account.model().networks) {
    EXPECT_EQ(restored->allocator(nid)->leased(), g.account.allocator(nid)->leased());
  }
  EXPECT_EQ(restored->default_group(), g.account.default_group());
  // New ids continue after the stored ones, exactly as the original account would assign.
  core::IpProfile p;
  p.name = "after-restore";
  EXPECT_EQ(restored->create_profile(p).value(), g.account.create_profile(p).value());
  core::Thing t;
  t.iccid = "8931999999999999999";
  t.imsi = "204089999999999";
  EXPECT_EQ(restored->provision({t}).value(), g.account.provision({t}).value());
  // Lookups work on the restored indexes.
  const core::Thing& first = g.account.model().things.front();
  ASSERT_NE(restored->thing_by_iccid(first.iccid), nullptr);
  EXPECT_EQ(restored->thing_by_iccid(first.iccid)->id, first.id);
}

// restore() can only see the ids that still exist: without the stored counters a deleted newest
// object's id would be handed out again. raise_id_counters() puts them back (never lowers).
TEST(AccountRestore, StoredIdCountersKeepDeletedIdsFromComingBack) {
  core::Account a;
  core::IpProfile p;
  p.name = "newest";
  const core::ProfileId id = a.create_profile(p).value();
  const core::Account::IdCounters before = a.id_counters();
  ASSERT_TRUE(a.delete_profile(id).ok());
  auto restored = core::Account::restore(a.model());
  ASSERT_TRUE(restored.ok()) << restored.error().message();
  EXPECT_LT(restored->id_counters().next_id, before.next_id) << "max + 1 forgets the deleted id";
  restored->raise_id_counters(before);
  restored->raise_id_counters(core::Account::IdCounters{});  // a lower floor changes nothing
  p.name = "after";
  EXPECT_GT(restored->create_profile(p).value().value, id.value);
  EXPECT_EQ(restored->id_counters().next_thing_id, before.next_thing_id);
}

TEST(AccountRestore, BrokenModelsAreRefusedNamingTheObject) {
  core::Account base;
  core::Thing t;
  t.iccid = "8931000000000000001";
  t.imsi = "204080000000001";
  ASSERT_TRUE(base.provision({t,
                              [] {
                                core::Thing u;
                                u.iccid = "8931000000000000002";
                                u.imsi = "204080000000002";
                                return u;
                              }()})
                  .ok());
  {
    core::Model m = base.model();
    m.things[1].iccid = m.things[0].iccid;
    auto r = core::Account::restore(m);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("duplicate"), std::string::npos) << r.error().message();
  }
  {
    core::Model m = base.model();
    for (auto& [id, grp] : m.groups) grp.is_default = false;
    auto r = core::Account::restore(m);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("default group"), std::string::npos);
  }
  {
    core::Model m = base.model();
    m.things[0].ip_lock = true;
    m.things[0].locked_addr = core::Ipv4{0x01020304};  // in no pool
    auto r = core::Account::restore(m);
    ASSERT_FALSE(r.ok());
    ASSERT_FALSE(r.error().fields().empty());
    EXPECT_NE(r.error().fields()[0].field.find("lockedAddress"), std::string::npos);
  }
}

}  // namespace
}  // namespace simcore
