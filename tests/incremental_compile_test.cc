// Incremental compiles must produce the same tables as a full compile of the same model.
// Random changes go through core::Account (as the API will make them), each followed by the
// matching incremental update; every 50 changes the result is compared row by row with a
// fresh full compile. Replay one seed with SIMCORE_SEED=<seed>.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <random>

#include "core/compiler.h"
#include "tests/support/model_gen.h"

namespace simcore {
namespace {

void expect_same_tables(const core::CompiledTables& inc, const core::CompiledTables& full) {
  ASSERT_EQ(inc.sessions.size(), full.sessions.size());
  for (size_t i = 0; i < full.sessions.size(); ++i) {
    ASSERT_EQ(std::memcmp(&inc.sessions[i], &full.sessions[i], sizeof(core::SessionRow)), 0)
        << "session row " << i;
    const core::SessionRow& r = full.sessions[i];
    if (r.flags & core::kSessionAttached) {
      ASSERT_EQ(inc.by_teid.find(r.local_teid.raw), i);
      ASSERT_EQ(inc.by_ue.find(r.ue_addr.raw), i);
    }
  }
  ASSERT_EQ(inc.by_teid.size(), full.by_teid.size());
  ASSERT_EQ(inc.by_ue.size(), full.by_ue.size());
  ASSERT_EQ(inc.profiles.size(), full.profiles.size());
  for (size_t i = 0; i < full.profiles.size(); ++i) {
    const core::CompiledProfile& a = *inc.profiles[i];
    const core::CompiledProfile& b = *full.profiles[i];
    ASSERT_EQ(a.stateful, b.stateful);
    for (auto [x, y] : {std::pair{&a.inbound, &b.inbound}, std::pair{&a.outbound, &b.outbound}}) {
      ASSERT_EQ(x->default_action, y->default_action);
      ASSERT_EQ(x->rules.size(), y->rules.size()) << "profile " << i;
      for (size_t r = 0; r < x->rules.size(); ++r) {
        ASSERT_EQ(std::memcmp(&x->rules[r], &y->rules[r], sizeof(core::AclRule)), 0)
            << "profile " << i << " rule " << r;
      }
    }
  }
}

std::vector<uint64_t> seeds() {
  if (const char* s = std::getenv("SIMCORE_SEED")) return {std::strtoull(s, nullptr, 10)};
  return {11, 12, 13};
}

TEST(IncrementalCompile, MatchesFullCompileAfterRandomChanges) {
  for (uint64_t seed : seeds()) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    testing::ModelGenOptions o;
    o.seed = seed;
    o.max_rules = 20;
    testing::GeneratedModel g = testing::generate_model(o);
    core::Account& a = g.account;
    std::mt19937_64 rng(seed);
    core::Compiler inc;
    ASSERT_TRUE(inc.compile(a.model()).ok());
    uint32_t next_teid = 0x70000000;
    size_t applied = 0;
    for (int step = 0; step < 1500; ++step) {
      const auto& things = a.model().things;
      const core::Thing& t = things[rng() % things.size()];
      const core::ThingId id = t.id;
      const core::ThingSlot slot = t.slot;
      core::Result<core::TablesPtr> r = core::Error(core::Code::kInternal, "no change");
      switch (rng() % 7) {
        case 0: {
          constexpr core::ThingState kStates[] = {core::ThingState::kActive,
                                                  core::ThingState::kSuspended,
                                                  core::ThingState::kRetired};
          if (rng() % 8 == 0 || kStates[rng() % 3] != core::ThingState::kRetired) {
            if (!a.set_state(id, kStates[rng() % 3])) continue;
          } else {
            continue;
          }
          r = inc.update_things(a.model(), {&slot, 1});
          break;
        }
        case 1: {
          core::AttachRequest req;
          req.uplink_teid = next_teid++;
          req.peer_addr = core::Ipv4{0x64400001u};
          req.peer_teid = static_cast<uint32_t>(rng());
          if (!a.attach(id, req)) continue;
          r = inc.update_things(a.model(), {&slot, 1});
          break;
        }
        case 2:
          if (!a.detach(id)) continue;
          r = inc.update_things(a.model(), {&slot, 1});
          break;
        case 3: {
          core::ThingPatch p;
          p.services = core::Services{rng() % 2 == 0, true};
          if (!a.update_thing(id, p)) continue;
          r = inc.update_things(a.model(), {&slot, 1});
          break;
        }
        case 4: {
          // Another group of the same network (a different profile, maybe).
          const core::NetworkId net = a.group(t.group)->network;
          std::vector<core::GroupId> same;
          for (const auto& [gid, grp] : a.model().groups) {
            if (grp.network == net) same.push_back(gid);
          }
          core::ThingPatch p;
          p.group = same[rng() % same.size()];
          if (!a.update_thing(id, p)) continue;
          r = inc.update_things(a.model(), {&slot, 1});
          break;
        }
        case 5: {
          auto it = a.model().profiles.begin();
          std::advance(it, rng() % a.model().profiles.size());
          core::IpProfile p = it->second;
          core::Chain& c = rng() % 2 ? p.inbound : p.outbound;
          if (!c.rules.empty() && rng() % 2) {
            c.rules.erase(c.rules.begin() + static_cast<long>(rng() % c.rules.size()));
          } else {
            core::FirewallRule fr;
            fr.priority = 100000 + static_cast<uint32_t>(step);
            fr.action = rng() % 2 ? core::Action::kAllow : core::Action::kDeny;
            fr.remote = core::Cidr{core::Ipv4{0xC0000200u}, 24};
            c.rules.push_back(fr);
          }
          c.default_action = rng() % 2 ? core::Action::kAllow : core::Action::kDeny;
          if (!a.replace_profile(p.id, p)) continue;
          r = inc.update_profile(a.model(), p.id);
          break;
        }
        default: {
          core::Thing spec;
          spec.iccid = "8932" + std::to_string(2000000000000000ull + static_cast<uint64_t>(step));
          spec.imsi = "20416" + std::to_string(2000000000ull + static_cast<uint64_t>(step));
          auto ids = a.provision({spec});
          ASSERT_TRUE(ids.ok()) << ids.error().message();
          const core::ThingSlot s = a.thing(ids->at(0))->slot;
          r = inc.update_things(a.model(), {&s, 1});
          break;
        }
      }
      ASSERT_TRUE(r.ok()) << "step " << step << ": " << r.error().message();
      ++applied;
      if (applied % 50 == 0) {
        core::Compiler full;
        auto f = full.compile(a.model());
        ASSERT_TRUE(f.ok()) << f.error().message();
        SCOPED_TRACE("after step " + std::to_string(step));
        expect_same_tables(*inc.last(), **f);
        if (HasFatalFailure()) return;
      }
    }
    EXPECT_GT(applied, 500u) << "too few changes applied to mean anything";
  }
}

}  // namespace
}  // namespace simcore
