// The per-worker flow table: open/established, idle ageing on an injected clock, eviction
// under pressure, no false positives among many random keys (seed printed), prefetch as a
// pure hint, its size.
#include "dataplane/flow_table.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <set>
#include <vector>

#include "dataplane/packet/wire.h"

namespace simcore::dp {
namespace {

constexpr uint64_t kSec = 1'000'000'000;

core::FlowKey key(uint32_t slot, uint8_t proto, uint16_t lport, uint32_t raddr, uint16_t rport) {
  return core::FlowKey{slot, proto, lport, raddr, rport};
}

// Returns SIMCORE_SEED when set (to replay a failure), else `fallback`.
uint64_t seed_or(uint64_t fallback) {
  const char* s = std::getenv("SIMCORE_SEED");
  return s != nullptr ? std::strtoull(s, nullptr, 10) : fallback;
}

TEST(FlowTable, OpenThenEstablished) {
  FlowTable t(1024);
  t.set_now(1 * kSec);
  const core::FlowKey k = key(3, kProtoUdp, 40000, 0xc6336401, 53);
  EXPECT_FALSE(t.established(k));
  t.open(k);
  EXPECT_TRUE(t.established(k));
  // Every field is part of the key.
  EXPECT_FALSE(t.established(key(4, kProtoUdp, 40000, 0xc6336401, 53)));
  EXPECT_FALSE(t.established(key(3, kProtoTcp, 40000, 0xc6336401, 53)));
  EXPECT_FALSE(t.established(key(3, kProtoUdp, 40001, 0xc6336401, 53)));
  EXPECT_FALSE(t.established(key(3, kProtoUdp, 40000, 0xc6336402, 53)));
  EXPECT_FALSE(t.established(key(3, kProtoUdp, 40000, 0xc6336401, 54)));
  EXPECT_EQ(t.live(), 1u);
  EXPECT_EQ(t.evictions(), 0u);
  // changes() counts what alters established(): a new flow, not a refresh.
  EXPECT_EQ(t.changes(), 1u);
  t.open(k);
  EXPECT_EQ(t.changes(), 1u);
}

TEST(FlowTable, FlowsAgeOutAfterTheirIdleTimeout) {
  FlowTable t(64);
  const core::FlowKey udp = key(1, kProtoUdp, 1000, 0x08080808, 53);
  const core::FlowKey tcp = key(1, kProtoTcp, 1000, 0x08080808, 443);
  const core::FlowKey icmp = key(1, kProtoIcmp, 0, 0x08080808, 0);
  t.set_now(10 * kSec);
  t.open(udp);
  t.open(tcp);
  t.open(icmp);
  t.set_now(130 * kSec);  // exactly 120 s idle: still there
  EXPECT_TRUE(t.established(udp));
  EXPECT_TRUE(t.established(icmp));
  t.set_now(131 * kSec);
  EXPECT_FALSE(t.established(udp));
  EXPECT_FALSE(t.established(icmp));
  EXPECT_TRUE(t.established(tcp));
  t.set_now((10 + 7440) * kSec);
  EXPECT_TRUE(t.established(tcp));
  t.set_now((11 + 7440) * kSec);
  EXPECT_FALSE(t.established(tcp));
  // Traffic refreshes the timer; an expired flow reopens, which is a change.
  const uint64_t changes = t.changes();
  t.open(udp);
  EXPECT_EQ(t.changes(), changes + 1);
  t.set_now((11 + 7440 + 100) * kSec);
  t.open(udp);
  t.set_now((11 + 7440 + 200) * kSec);
  EXPECT_TRUE(t.established(udp));
  EXPECT_EQ(t.live(), 1u);
}

TEST(FlowTable, TimeoutsAreConfigurable) {
  FlowTimeouts to;
  to.udp_ns = 30 * kSec;
  FlowTable t(64, to);
  const core::FlowKey k = key(1, kProtoUdp, 1, 2, 3);
  t.set_now(kSec);
  t.open(k);
  t.set_now(32 * kSec);
  EXPECT_FALSE(t.established(k));
}

TEST(FlowTable, WhenFullTheOldestOfTheWindowIsEvicted) {
  FlowTable t(16);  // two windows' worth: every key collides with others
  for (uint32_t i = 0; i < 200; ++i) {
    t.set_now((i + 1) * kSec / 1000);
    t.open(key(1, kProtoUdp, static_cast<uint16_t>(i), 0x0a000001, 80));
  }
  EXPECT_EQ(t.live(), 16u);
  EXPECT_EQ(t.evictions(), 200u - 16u);
  // The most recent flow is always kept; the first ones are long gone.
  EXPECT_TRUE(t.established(key(1, kProtoUdp, 199, 0x0a000001, 80)));
  size_t kept_old = 0;
  for (uint32_t i = 0; i < 100; ++i) {
    kept_old += t.established(key(1, kProtoUdp, static_cast<uint16_t>(i), 0x0a000001, 80));
  }
  EXPECT_LT(kept_old, 4u);
  // An expired entry is reused before anything is evicted.
  t.set_now(1000 * kSec);
  const uint64_t before = t.evictions();
  t.open(key(2, kProtoUdp, 1, 1, 1));
  EXPECT_EQ(t.evictions(), before);
}

TEST(FlowTable, NoFalsePositivesAmongManyRandomKeys) {
  const uint64_t seed = seed_or(20261126);
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with SIMCORE_SEED=<seed>)");
  std::mt19937_64 rng(seed);
  auto random_key = [&] {
    return key(static_cast<uint32_t>(rng() % 4096), rng() % 2 ? kProtoTcp : kProtoUdp,
               static_cast<uint16_t>(rng()), static_cast<uint32_t>(rng()),
               static_cast<uint16_t>(rng()));
  };
  FlowTable t(1 << 16);
  t.set_now(kSec);
  std::set<core::FlowKey> opened;
  for (int i = 0; i < 30000; ++i) {  // under half full: few evictions
    const core::FlowKey k = random_key();
    t.open(k);
    opened.insert(k);
  }
  size_t found = 0;
  for (const core::FlowKey& k : opened) found += t.established(k);
  EXPECT_EQ(found + t.evictions(), opened.size());
  EXPECT_LT(t.evictions(), opened.size() / 100);
  for (int i = 0; i < 200000; ++i) {
    const core::FlowKey k = random_key();
    if (!opened.count(k)) {
      ASSERT_FALSE(t.established(k)) << "false positive at #" << i;
    }
  }
}

// Flows expire and their entries are reused, which leaves live keys behind expired and reused
// entries of their windows: with ageing and reuse but no eviction, the table must answer
// exactly as a map of last-open times does (a lookup that stopped at the first entry not live
// fails this test).
TEST(FlowTable, AgesAndReusesEntriesAsAMapOfLastOpenTimes) {
  const uint64_t seed = seed_or(20261128);
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with SIMCORE_SEED=<seed>)");
  std::mt19937_64 rng(seed);
  FlowTimeouts to;
  to.udp_ns = 10 * kSec;
  FlowTable t(1024, to);
  std::vector<core::FlowKey> keys;
  for (uint16_t i = 0; i < 400; ++i) keys.push_back(key(i % 7, kProtoUdp, i, 0x0a000000u + i, 53));
  std::vector<uint64_t> last(keys.size(), 0);  // 0: never opened
  uint64_t now = kSec;
  size_t checked = 0, live_seen = 0;
  for (int step = 0; step < 20000 && t.evictions() == 0; ++step) {
    now += rng() % (kSec / 2);  // ~40 opens per timeout: at most 40 live flows
    t.set_now(now);
    const size_t i = rng() % keys.size();
    t.open(keys[i]);
    last[i] = now;
    if (step % 50 != 0) continue;
    for (size_t j = 0; j < keys.size(); ++j) {
      const bool want = last[j] != 0 && now - last[j] <= to.udp_ns;
      ASSERT_EQ(t.established(keys[j]), want) << "key " << j << " at step " << step;
      ++checked;
      live_seen += want;
    }
  }
  EXPECT_EQ(t.evictions(), 0u);
  EXPECT_EQ(checked, 400u * 400u);  // every round ran
  EXPECT_GT(live_seen, 400u * 20u);
}

// prefetch() is a hint: on every home slot, the last ones included (their second line lies
// past the table), it neither faults nor changes what the table answers or counts.
TEST(FlowTable, PrefetchChangesNothing) {
  FlowTable t(64);
  t.set_now(1 * kSec);
  std::vector<core::FlowKey> opened;
  for (uint32_t i = 0; i < 32; ++i) {
    opened.push_back(key(i, kProtoUdp, 40000, 0xc6336400 + i, 53));
    t.open(opened.back());
  }
  const uint64_t changes = t.changes();
  const size_t live = t.live();
  for (uint32_t i = 0; i < 4096; ++i) t.prefetch(key(i, kProtoTcp, 1, i, 2));
  for (const core::FlowKey& k : opened) {
    t.prefetch(k);
    EXPECT_TRUE(t.established(k));
  }
  EXPECT_FALSE(t.established(key(99, kProtoUdp, 40000, 0xc6336400, 53)));
  EXPECT_EQ(t.changes(), changes);
  EXPECT_EQ(t.live(), live);
  EXPECT_EQ(t.evictions(), 0u);
}

TEST(FlowTable, BytesPerEntry) {
  RecordProperty("bytes_per_entry", static_cast<int>(FlowTable::kBytesPerEntry));
  std::printf("FlowTable: %zu bytes per entry, 1M flows = %zu MiB per worker\n",
              FlowTable::kBytesPerEntry, FlowTable::kBytesPerEntry * (1u << 20) >> 20);
  EXPECT_LE(FlowTable::kBytesPerEntry, 32u);
  FlowTable t(1 << 10);
  EXPECT_EQ(t.capacity(), 1024u);
}

}  // namespace
}  // namespace simcore::dp
