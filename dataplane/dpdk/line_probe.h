// dataplane/dpdk/line_probe.h — what one cache line costs to go from one CPU to another and back,
// measured between the calling lcore and an idle one. The benchmarks whose frames a generator
// writes on one CPU and the worker reads on the other report it next to their rates: each of a
// frame's lines pays that transfer. On this VM the round trip moves between ~130 TSC cycles and
// ~1,000 from one minute to the next (the host, not the guest, decides where the two vCPUs run),
// and the ESP and engine rates move with it while raw AES-GCM on one CPU does not (README,
// "Two speeds of this machine").
#pragma once

#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_pause.h>
#include <sched.h>

#include <atomic>
#include <cstdint>

namespace simcore::dp {

namespace line_probe_detail {

struct Probe {
  alignas(64) std::atomic<uint64_t> line{0};  // the only line that moves
  alignas(64) uint64_t rounds = 0;
  uint64_t deadline = 0;  // TSC: neither side waits past it
};

// Spins until `line` holds `want`; false past the deadline. Every 1024 spins (~64,000 TSC
// cycles on these machines, far beyond any round trip between two running CPUs) it reads the
// clock and yields the CPU: rdtsc is slow under a hypervisor and would be part of what is
// measured, and when the two lcores share a CPU (a loaded test machine), the other side can
// only answer once this one lets it run.
inline bool await(const Probe& p, uint64_t want) noexcept {
  for (unsigned spins = 0; p.line.load(std::memory_order_acquire) != want; ++spins) {
    if ((spins & 1023) == 1023) {
      if (rte_rdtsc() > p.deadline) return false;
      sched_yield();
    }
    rte_pause();
  }
  return true;
}

// The remote side: answers each odd value with the next even one.
inline int echo(void* arg) {
  auto* p = static_cast<Probe*>(arg);
  for (uint64_t i = 1; i <= p->rounds; ++i) {
    if (!await(*p, 2 * i - 1)) return -1;
    p->line.store(2 * i, std::memory_order_release);
  }
  return 0;
}

}  // namespace line_probe_detail

// Returns the mean round trip, in TSC cycles, of one cache line written in turn by the calling
// lcore and by `lcore` (which must be idle) over `rounds` exchanges; 0 when `lcore` is not
// another enabled lcore, cannot be launched, or the exchange does not finish within a second.
inline double line_round_trip(unsigned lcore, uint64_t rounds = 20000) noexcept {
  using namespace line_probe_detail;
  Probe p;
  p.rounds = rounds;
  p.deadline = rte_rdtsc() + rte_get_tsc_hz();
  // rte_lcore_is_enabled is false for ids past RTE_MAX_LCORE as well.
  if (rounds == 0 || lcore == rte_lcore_id() || !rte_lcore_is_enabled(lcore) ||
      rte_eal_remote_launch(echo, &p, lcore) != 0) {
    return 0;
  }
  const uint64_t start = rte_rdtsc();
  bool ok = true;
  for (uint64_t i = 1; ok && i <= rounds; ++i) {
    p.line.store(2 * i - 1, std::memory_order_release);
    ok = await(p, 2 * i);
  }
  const uint64_t cycles = rte_rdtsc() - start;
  ok = rte_eal_wait_lcore(lcore) == 0 && ok;
  return ok ? static_cast<double>(cycles) / static_cast<double>(rounds) : 0;
}

}  // namespace simcore::dp
