// Compile and publish costs at account scale (issue: foundation).
//   full compile of 1k / 100k / 1M Things with 100 IP Profiles of 100 rules per chain;
//   one incremental change at 1M Things (a Thing's state, a firewall rule), from the model
//   change to a published snapshot; bytes per Thing in the session tables.
// Baseline in the same run: filling a plain vector with the same number of session rows, so
// a ratio (compile / baseline) survives a noisy machine.
//   build/bench/compile_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <map>
#include <memory>

#include "core/compiler.h"
#include "core/publisher.h"
#include "tests/support/model_gen.h"

namespace simcore {
namespace {

// Models are expensive to generate (a million Things through the account's checks), so each
// size is built once and shared by the benchmarks that use it.
testing::GeneratedModel& model_of(size_t things) {
  static std::map<size_t, std::unique_ptr<testing::GeneratedModel>> cache;
  auto& slot = cache[things];
  if (!slot) {
    testing::ModelGenOptions o;
    o.seed = 42;
    o.things = things;
    o.networks = 3;
    o.pools_per_network = 1;
    o.pool_len = 12;  // 1M addresses per network: room for every Thing
    o.profiles = 100;
    o.min_rules = 100;
    o.max_rules = 100;
    o.attached = 0.9;
    o.nat_rules = 100;
    slot = std::make_unique<testing::GeneratedModel>(testing::generate_model(o));
  }
  return *slot;
}

void BM_FullCompile(benchmark::State& state) {
  const auto things = static_cast<size_t>(state.range(0));
  const core::Model& m = model_of(things).account.model();
  size_t bytes = 0;
  size_t sessions = 0;
  for (auto _ : state) {
    core::Compiler c;
    auto t = c.compile(m);
    if (!t) {
      state.SkipWithError(t.error().message().c_str());
      return;
    }
    bytes = (*t)->session_bytes();
    sessions = (*t)->by_teid.size();
    benchmark::DoNotOptimize(t);
  }
  state.counters["things"] = static_cast<double>(things);
  state.counters["attached"] = static_cast<double>(sessions);
  state.counters["bytes_per_thing"] = static_cast<double>(bytes) / static_cast<double>(things);
  state.counters["things_per_s"] =
      benchmark::Counter(static_cast<double>(things), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_FullCompile)->Arg(1000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond)
    ->Iterations(3);

// The floor any compile has to pay: writing one session row per Thing.
void BM_BaselineWriteRows(benchmark::State& state) {
  const auto things = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    std::vector<core::SessionRow> rows(things);
    for (size_t i = 0; i < things; ++i) rows[i].flags = static_cast<uint16_t>(i);
    benchmark::DoNotOptimize(rows.data());
  }
}
BENCHMARK(BM_BaselineWriteRows)->Arg(1000)->Arg(100000)->Arg(1000000)
    ->Unit(benchmark::kMillisecond);

struct Published {
  core::Compiler compiler;
  core::Publisher<core::CompiledTables> publisher;
};

Published& published_1m() {
  static Published p;
  static bool ready = false;
  if (!ready) {
    auto t = p.compiler.compile(model_of(1000000).account.model());
    if (t) p.publisher.publish(*t);
    ready = true;
  }
  return p;
}

// One Thing suspended or reactivated via the account, recompiled incrementally and published.
void BM_IncrementalThingState(benchmark::State& state) {
  core::Account& a = model_of(1000000).account;
  Published& p = published_1m();
  // A Thing that is ACTIVE now; suspend/activate alternately.
  core::ThingId id;
  for (const core::Thing& t : a.model().things) {
    if (t.state == core::ThingState::kActive) {
      id = t.id;
      break;
    }
  }
  bool suspend = true;
  for (auto _ : state) {
    const core::ThingState to = suspend ? core::ThingState::kSuspended : core::ThingState::kActive;
    suspend = !suspend;
    if (!a.set_state(id, to)) {
      state.SkipWithError("set_state failed");
      return;
    }
    const core::ThingSlot slot = a.thing(id)->slot;
    auto t = p.compiler.update_things(a.model(), {&slot, 1});
    if (!t) {
      state.SkipWithError(t.error().message().c_str());
      return;
    }
    p.publisher.publish(*t);
  }
}
BENCHMARK(BM_IncrementalThingState)->Unit(benchmark::kMicrosecond);

// One rule added to (or removed from) a 100-rule chain, recompiled and published.
void BM_IncrementalRule(benchmark::State& state) {
  core::Account& a = model_of(1000000).account;
  Published& p = published_1m();
  const core::ProfileId pid = a.model().profiles.rbegin()->first;
  for (auto _ : state) {
    core::IpProfile prof = *a.profile(pid);
    // Add the extra rule if it is absent, else remove it (runs repeat on one shared model).
    if (prof.outbound.rules.empty() || prof.outbound.rules.back().priority != 999999) {
      core::FirewallRule r;
      r.priority = 999999;
      r.action = core::Action::kDeny;
      r.remote = core::Cidr{core::Ipv4{0xC0000200u}, 24};
      prof.outbound.rules.push_back(r);
    } else {
      prof.outbound.rules.pop_back();
    }
    if (core::Status st = a.replace_profile(pid, prof); !st) {
      state.SkipWithError(st.error().message().c_str());
      return;
    }
    auto t = p.compiler.update_profile(a.model(), pid);
    if (!t) {
      state.SkipWithError(t.error().message().c_str());
      return;
    }
    p.publisher.publish(*t);
  }
}
BENCHMARK(BM_IncrementalRule)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace simcore
