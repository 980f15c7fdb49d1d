// Steady-state churn of one /12 pool (1,048,574 usable addresses): each iteration leases one
// address and releases the oldest lease, so occupancy stays at the benchmark's argument (percent).
// The baseline is the textbook allocator, a std::set of free addresses, under the same churn; the
// ratio of the two holds on a noisy machine where absolute times do not.
// Run: ip_pool_bench --benchmark_filter=. (5 repetitions each; median and spread are reported).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <set>
#include <vector>

#include "core/ip_pool.h"

namespace simcore::core {
namespace {

constexpr Cidr kSlash12{Ipv4{0x0a000000}, 12};  // 10.0.0.0/12
constexpr uint64_t kUsable = (uint64_t{1} << 20) - 2;

// The leases of one benchmark, oldest first, in a ring.
struct Leases {
  std::vector<uint32_t> ring;
  size_t head = 0;
  // Stores `fresh` and returns the lease it displaces (the oldest), or `fresh` if the ring is
  // empty (0% occupancy: release what was just leased).
  uint32_t rotate(uint32_t fresh) noexcept {
    if (ring.empty()) return fresh;
    const uint32_t oldest = ring[head];
    ring[head] = fresh;
    head = head + 1 == ring.size() ? 0 : head + 1;
    return oldest;
  }
};

void BM_AllocateRelease(benchmark::State& state) {
  IpAllocator alloc;
  if (!alloc.add_pool(PoolId{1}, kSlash12).ok()) {
    state.SkipWithError("add_pool failed");
    return;
  }
  Leases leases;
  leases.ring.resize(static_cast<size_t>(kUsable * static_cast<uint64_t>(state.range(0)) / 100));
  for (uint32_t& slot : leases.ring) {
    auto r = alloc.allocate();
    if (!r.ok()) {
      state.SkipWithError("fill failed");
      return;
    }
    slot = r->value;
  }
  auto step = [&]() -> bool {
    auto r = alloc.allocate();
    if (!r.ok()) return false;
    benchmark::DoNotOptimize(r->value);
    return alloc.release(Ipv4{leases.rotate(r->value)}).ok();
  };
  // Run one full turn first: until the never-used addresses are gone the allocator only bumps a
  // cursor, which is not the steady state.
  for (uint64_t i = 0; i < kUsable; ++i) {
    if (!step()) {
      state.SkipWithError("warm-up failed");
      return;
    }
  }
  for (auto _ : state) {
    if (!step()) {
      state.SkipWithError("allocate/release failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes_per_addr"] =
      static_cast<double>(alloc.memory_bytes()) / static_cast<double>(alloc.capacity());
}

// Baseline: a std::set holding every free address; allocate takes the lowest.
void BM_StdSetBaseline(benchmark::State& state) {
  std::set<uint32_t> free_addrs;
  for (uint64_t i = 1; i <= kUsable; ++i)
    free_addrs.insert(kSlash12.first() + static_cast<uint32_t>(i));
  Leases leases;
  leases.ring.resize(static_cast<size_t>(kUsable * static_cast<uint64_t>(state.range(0)) / 100));
  for (uint32_t& slot : leases.ring) slot = free_addrs.extract(free_addrs.begin()).value();
  auto step = [&] {
    const uint32_t a = free_addrs.extract(free_addrs.begin()).value();
    benchmark::DoNotOptimize(a);
    free_addrs.insert(leases.rotate(a));
  };
  for (uint64_t i = 0; i < kUsable; ++i) step();
  for (auto _ : state) step();
  state.SetItemsProcessed(state.iterations());
  // A red-black node is 32 bytes of links and colour plus the key, 48 with malloc's overhead.
  state.counters["bytes_per_addr"] =
      48.0 * static_cast<double>(free_addrs.size()) / static_cast<double>(kUsable);
}

BENCHMARK(BM_AllocateRelease)
    ->ArgName("occupancy_pct")
    ->Arg(0)
    ->Arg(50)
    ->Arg(99)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_StdSetBaseline)
    ->ArgName("occupancy_pct")
    ->Arg(0)
    ->Arg(50)
    ->Arg(99)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);

}  // namespace
}  // namespace simcore::core
