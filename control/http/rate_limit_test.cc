#include "control/http/rate_limit.h"

#include <gtest/gtest.h>

namespace simcore::ctl::http {
namespace {

using namespace std::chrono_literals;

struct FakeClock {
  std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
  RateLimiter::Clock fn() {
    return [this] { return now; };
  }
};

TEST(RateLimiter, BurstThenRefusedWithRetryAfter) {
  FakeClock clock;
  RateLimiter rl({.rate_per_s = 2, .burst = 5, .max_clients = 100}, clock.fn());
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(rl.acquire("alice").allowed) << i;
  auto d = rl.acquire("alice");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_s, 1);  // one token needs 0.5 s; rounded up to whole seconds
}

TEST(RateLimiter, RefillsAtRateAndCapsAtBurst) {
  FakeClock clock;
  RateLimiter rl({.rate_per_s = 1, .burst = 3, .max_clients = 100}, clock.fn());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(rl.acquire("a").allowed);
  EXPECT_FALSE(rl.acquire("a").allowed);
  clock.now += 1s;
  EXPECT_TRUE(rl.acquire("a").allowed);
  EXPECT_FALSE(rl.acquire("a").allowed);
  clock.now += 1h;  // refill stops at the burst
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(rl.acquire("a").allowed) << i;
  EXPECT_FALSE(rl.acquire("a").allowed);
}

TEST(RateLimiter, RetryAfterCountsTheMissingFraction) {
  FakeClock clock;
  RateLimiter rl({.rate_per_s = 0.1, .burst = 1, .max_clients = 100}, clock.fn());
  ASSERT_TRUE(rl.acquire("a").allowed);
  EXPECT_EQ(rl.acquire("a").retry_after_s, 10);
  clock.now += 2500ms;
  EXPECT_EQ(rl.acquire("a").retry_after_s, 8);  // 7.5 s left, rounded up
  clock.now += 7500ms;
  EXPECT_TRUE(rl.acquire("a").allowed);
}

TEST(RateLimiter, ClientsAreIndependent) {
  FakeClock clock;
  RateLimiter rl({.rate_per_s = 1, .burst = 1, .max_clients = 100}, clock.fn());
  EXPECT_TRUE(rl.acquire("a").allowed);
  EXPECT_FALSE(rl.acquire("a").allowed);
  EXPECT_TRUE(rl.acquire("b").allowed);
}

TEST(RateLimiter, ClockGoingBackwardsGrantsNothing) {
  FakeClock clock;
  RateLimiter rl({.rate_per_s = 1, .burst = 1, .max_clients = 100}, clock.fn());
  EXPECT_TRUE(rl.acquire("a").allowed);
  clock.now -= 10s;
  EXPECT_FALSE(rl.acquire("a").allowed);
}

TEST(RateLimiter, EvictsBucketsIdleLongEnoughToBeFull) {
  FakeClock clock;
  RateLimiter rl({.rate_per_s = 1, .burst = 2, .max_clients = 100}, clock.fn());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(rl.acquire("c" + std::to_string(i)).allowed);
  EXPECT_EQ(rl.size(), 10u);
  clock.now += 1s;  // not yet full: kept
  ASSERT_TRUE(rl.acquire("x").allowed);
  EXPECT_EQ(rl.size(), 11u);
  clock.now += 1500ms;  // c0..c9 full again (2 s idle); x idle 1.5 s
  ASSERT_TRUE(rl.acquire("y").allowed);
  EXPECT_EQ(rl.size(), 2u);
}

TEST(RateLimiter, BoundedByMaxClientsEvictingLeastRecentlyUsed) {
  FakeClock clock;
  RateLimiter rl({.rate_per_s = 0.001, .burst = 1, .max_clients = 3}, clock.fn());
  ASSERT_TRUE(rl.acquire("a").allowed);
  ASSERT_TRUE(rl.acquire("b").allowed);
  ASSERT_TRUE(rl.acquire("c").allowed);
  EXPECT_FALSE(rl.acquire("a").allowed);  // a is now the most recently used
  ASSERT_TRUE(rl.acquire("d").allowed);   // evicts b
  EXPECT_EQ(rl.size(), 3u);
  EXPECT_FALSE(rl.acquire("a").allowed);  // a kept its empty bucket
  EXPECT_FALSE(rl.acquire("c").allowed);
  EXPECT_FALSE(rl.acquire("d").allowed);
  EXPECT_TRUE(rl.acquire("b").allowed);  // b was evicted, so it starts with a fresh bucket
  EXPECT_EQ(rl.size(), 3u);
}

}  // namespace
}  // namespace simcore::ctl::http
