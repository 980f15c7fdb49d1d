#include "dataplane/dpdk/line_probe.h"

#include <gtest/gtest.h>
#include <rte_cycles.h>
#include <rte_lcore.h>

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
