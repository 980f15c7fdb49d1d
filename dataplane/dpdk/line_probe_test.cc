#include "dataplane/dpdk/line_probe.h"

#include <gtest/gtest.h>
#include <rte_cycles.h>
#include <pthread.h>
#include <rte_lcore.h>
#include <sched.h>

namespace simcore::dp {
namespace {

TEST(LineProbe, MeasuresARoundTripToAnIdleLcore) {
  const unsigned worker = rte_get_next_lcore(-1, 1, 0);
  ASSERT_LT(worker, RTE_MAX_LCORE) << "the test EAL has worker lcores";
  const double rt = line_round_trip(worker, 2000);
  // A store and a load each way, at least: more than a few cycles, and far less than the
  // second the exchange may take in all.
  EXPECT_GT(rt, 4.0);
  EXPECT_LT(rt, static_cast<double>(rte_get_tsc_hz()) / 2000);
  // The lcore is free again: the probe waited for it.
  EXPECT_EQ(rte_eal_get_lcore_state(worker), WAIT);
}

TEST(LineProbe, FinishesWhenBothSidesShareOneCpu) {
  // What a loaded machine can do to the two lcores: put them on one CPU. Each side must let
  // the other run, or every exchange waits for the scheduler's time slice and the probe times
  // out. The calling thread is moved to the CPU the worker lcore runs on, then back.
  const unsigned worker = rte_get_next_lcore(-1, 1, 0);
  ASSERT_LT(worker, RTE_MAX_LCORE);
  rte_cpuset_t worker_cpus = rte_lcore_cpuset(worker);
  int cpu = -1;
  for (int c = 0; c < CPU_SETSIZE && cpu < 0; ++c) {
    if (CPU_ISSET(c, &worker_cpus)) cpu = c;
  }
  ASSERT_GE(cpu, 0);
  cpu_set_t one, before;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  ASSERT_EQ(pthread_getaffinity_np(pthread_self(), sizeof before, &before), 0);
  ASSERT_EQ(pthread_setaffinity_np(pthread_self(), sizeof one, &one), 0);
  // The worker lcore's own thread, pinned to the same CPU for the probe.
  struct Pin {
    cpu_set_t set;
    static int run(void* arg) {
      return pthread_setaffinity_np(pthread_self(), sizeof(cpu_set_t),
                                    &static_cast<Pin*>(arg)->set);
    }
  } pin{one};
  ASSERT_EQ(rte_eal_remote_launch(Pin::run, &pin, worker), 0);
  ASSERT_EQ(rte_eal_wait_lcore(worker), 0);
  const double rt = line_round_trip(worker, 200);
  pin.set = worker_cpus;
  ASSERT_EQ(rte_eal_remote_launch(Pin::run, &pin, worker), 0);
  ASSERT_EQ(rte_eal_wait_lcore(worker), 0);
  ASSERT_EQ(pthread_setaffinity_np(pthread_self(), sizeof before, &before), 0);
  EXPECT_GT(rt, 4.0);  // measured, not timed out
}

TEST(LineProbe, ReportsZeroWhenItCannotMeasure) {
  const unsigned worker = rte_get_next_lcore(-1, 1, 0);
  ASSERT_LT(worker, RTE_MAX_LCORE);
  EXPECT_EQ(line_round_trip(worker, 0), 0);
  EXPECT_EQ(line_round_trip(rte_lcore_id(), 100), 0);  // itself
  // An lcore EAL did not start: nothing to bounce the line.
  unsigned absent = RTE_MAX_LCORE - 1;
  while (absent > 0 && rte_lcore_is_enabled(absent)) --absent;
  ASSERT_FALSE(rte_lcore_is_enabled(absent));
  EXPECT_EQ(line_round_trip(absent, 100), 0);
}

}  // namespace
}  // namespace simcore::dp
