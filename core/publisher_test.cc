#include "core/publisher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace simcore::core {
namespace {

// A snapshot whose destructor counts frees, so tests observe reclamation directly.
struct Counted {
  Counted(int v, std::atomic<int>* freed) : value(v), freed_(freed) {}
  ~Counted() { freed_->fetch_add(1, std::memory_order_relaxed); }
  int value;
  std::atomic<int>* freed_;
};

using CountedPublisher = Publisher<Counted>;

class PublisherTest : public ::testing::Test {
 protected:
  std::shared_ptr<const Counted> make(int v) { return std::make_shared<const Counted>(v, &freed_); }
  int freed() const { return freed_.load(); }

  std::atomic<int> freed_{0};
};

CountedPublisher::Reader must_reader(CountedPublisher& pub) {
  Result<CountedPublisher::Reader> r = pub.make_reader();
  EXPECT_TRUE(r.ok());
  return std::move(r).value();
}

TEST_F(PublisherTest, AcquireSeesNothingThenThePublishedSnapshot) {
  CountedPublisher pub;
  auto reader = must_reader(pub);
  reader.online();
  EXPECT_EQ(reader.acquire(), nullptr);
  EXPECT_EQ(pub.current(), nullptr);

  auto first = make(1);
  pub.publish(first);
  const Counted* seen = reader.acquire();
  ASSERT_NE(seen, nullptr);
  EXPECT_EQ(seen, first.get());
  EXPECT_EQ(seen->value, 1);
  EXPECT_EQ(pub.current().get(), first.get());
  EXPECT_EQ(pub.retired_count(), 0u);  // nothing was replaced
  reader.offline();
}

TEST_F(PublisherTest, OnlineReaderHoldsBackReclaimUntilQuiescent) {
  CountedPublisher pub;
  auto reader = must_reader(pub);
  pub.publish(make(1));
  reader.online();
  const Counted* old = reader.acquire();
  ASSERT_EQ(old->value, 1);

  pub.publish(make(2));  // publish reclaims too, but the reader has not passed a quiescent state
  EXPECT_EQ(pub.retired_count(), 1u);
  EXPECT_EQ(pub.reclaim(), 0u);
  EXPECT_EQ(freed(), 0);
  EXPECT_EQ(old->value, 1);  // still alive and intact (ASan would catch a free)

  reader.quiescent();
  EXPECT_EQ(pub.reclaim(), 1u);
  EXPECT_EQ(freed(), 1);
  EXPECT_EQ(pub.retired_count(), 0u);
  EXPECT_EQ(reader.acquire()->value, 2);
  reader.offline();
}

TEST_F(PublisherTest, QuiescentBeforeThePublishDoesNotCount) {
  CountedPublisher pub;
  auto reader = must_reader(pub);
  pub.publish(make(1));
  reader.online();
  (void)reader.acquire();
  reader.quiescent();
  (void)reader.acquire();  // a new burst holding snapshot 1 again
  pub.publish(make(2));
  EXPECT_EQ(pub.reclaim(), 0u);
  EXPECT_EQ(freed(), 0);
  reader.quiescent();
  EXPECT_EQ(pub.reclaim(), 1u);
  reader.offline();
}

TEST_F(PublisherTest, OfflineAndUnregisteredReadersDoNotHoldBackReclaim) {
  CountedPublisher pub;
  auto idle = must_reader(pub);  // registered, never online
  auto leaving = must_reader(pub);
  pub.publish(make(1));
  leaving.online();
  (void)leaving.acquire();
  leaving.offline();  // drops its reference
  pub.publish(make(2));
  EXPECT_EQ(pub.retired_count(), 0u);  // publish reclaimed at once
  EXPECT_EQ(freed(), 1);

  leaving.online();
  (void)leaving.acquire();
  pub.publish(make(3));
  EXPECT_EQ(pub.retired_count(), 1u);
  leaving.offline();
  EXPECT_EQ(pub.reclaim(), 1u);
  EXPECT_EQ(freed(), 2);

  {
    auto gone = must_reader(pub);
    gone.online();
    (void)gone.acquire();
    pub.publish(make(4));
    EXPECT_EQ(pub.retired_count(), 1u);
  }  // destroying an online Reader unregisters it
  EXPECT_EQ(pub.reclaim(), 1u);
  EXPECT_EQ(freed(), 3);
}

TEST_F(PublisherTest, EveryOnlineReaderMustPass) {
  CountedPublisher pub;
  auto a = must_reader(pub);
  auto b = must_reader(pub);
  pub.publish(make(1));
  a.online();
  b.online();
  pub.publish(make(2));
  pub.publish(make(3));
  EXPECT_EQ(pub.retired_count(), 2u);
  a.quiescent();
  EXPECT_EQ(pub.reclaim(), 0u);
  b.quiescent();
  EXPECT_EQ(pub.reclaim(), 2u);
  EXPECT_EQ(freed(), 2);
  a.offline();
  b.offline();
}

TEST_F(PublisherTest, ReclaimFreesOnlyPassedGracePeriodsInOrder) {
  CountedPublisher pub;
  auto reader = must_reader(pub);
  pub.publish(make(1));
  reader.online();
  pub.publish(make(2));  // retires 1
  reader.quiescent();    // passes 1's grace period only
  pub.publish(make(3));  // retires 2 and reclaims 1
  EXPECT_EQ(freed(), 1);
  EXPECT_EQ(pub.retired_count(), 1u);
  EXPECT_EQ(pub.reclaim(), 0u);
  reader.quiescent();
  EXPECT_EQ(pub.reclaim(), 1u);
  EXPECT_EQ(freed(), 2);
  reader.offline();
}

TEST_F(PublisherTest, CallerKeepsItsOwnReferenceAfterReclaim) {
  CountedPublisher pub;
  auto first = make(1);
  pub.publish(first);
  pub.publish(make(2));
  EXPECT_EQ(pub.retired_count(), 0u);
  EXPECT_EQ(freed(), 0);  // the publisher dropped its reference; `first` still owns it
  EXPECT_EQ(first->value, 1);
  first.reset();
  EXPECT_EQ(freed(), 1);
}

TEST_F(PublisherTest, SynchronizeWaitsForAReaderOnAnotherThread) {
  CountedPublisher pub;
  auto reader = must_reader(pub);
  pub.publish(make(1));
  std::atomic<bool> ready{false};
  std::atomic<bool> finished_burst{false};
  std::atomic<int> value_seen{0};
  std::thread worker([&, r = std::move(reader)]() mutable {
    r.online();
    const Counted* snap = r.acquire();
    ready.store(true);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    value_seen.store(snap->value);  // use after the writer's publish: must still be alive
    finished_burst.store(true);
    r.quiescent();
    r.offline();
  });
  while (!ready.load()) std::this_thread::yield();
  pub.publish(make(2));
  EXPECT_EQ(freed(), 0);
  pub.synchronize();
  EXPECT_TRUE(finished_burst.load());
  EXPECT_EQ(value_seen.load(), 1);
  EXPECT_EQ(freed(), 1);
  EXPECT_EQ(pub.retired_count(), 0u);
  worker.join();
}

TEST_F(PublisherTest, MakeReaderFailsWhenSlotsRunOutAndReusesFreedSlots) {
  CountedPublisher pub(2);
  auto a = pub.make_reader();
  auto b = pub.make_reader();
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  {
    auto c = pub.make_reader();
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code(), Code::kResourceExhausted);
  }
  { auto drop = std::move(a).value(); }
  auto d = pub.make_reader();
  EXPECT_TRUE(d.ok());
}

TEST_F(PublisherTest, MovedReaderKeepsItsSlot) {
  CountedPublisher pub(1);
  auto a = must_reader(pub);
  CountedPublisher::Reader b = std::move(a);  // a no longer owns the slot
  pub.publish(make(1));
  b.online();
  pub.publish(make(2));
  EXPECT_EQ(pub.reclaim(), 0u);
  b.quiescent();
  EXPECT_EQ(pub.reclaim(), 1u);
  b.offline();
  EXPECT_FALSE(pub.make_reader().ok());  // b still holds the only slot
}

TEST_F(PublisherTest, DestructorFreesCurrentAndRetired) {
  {
    CountedPublisher pub;
    {
      auto reader = must_reader(pub);
      pub.publish(make(1));
      reader.online();
      pub.publish(make(2));
      pub.publish(make(3));
      EXPECT_EQ(pub.retired_count(), 2u);
    }  // the reader leaves without quiescent; nothing reclaims before the destructor
    EXPECT_EQ(freed(), 0);
  }
  EXPECT_EQ(freed(), 3);
}

TEST(PublisherDeathTest, DestroyingThePublisherBeforeItsReadersCrashes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto pub = std::make_unique<Publisher<int>>(4);
        auto reader = pub->make_reader();
        pub.reset();
      },
      "readers are still registered");
}

#ifndef NDEBUG
TEST(PublisherDeathTest, AcquireWhileOfflineFailsADebugCheck) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Publisher<int> pub(1);
  auto reader = pub.make_reader();
  ASSERT_TRUE(reader.ok());
  EXPECT_DEATH((void)reader->acquire(), "SIMCORE_CHECK failed");
}
#endif

TEST(QsbrTest, TokensAndPassed) {
  Qsbr q(4);
  EXPECT_TRUE(q.passed(q.advance()));  // nobody registered
  Result<unsigned> id = q.register_reader();
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(q.reader_count(), 1u);
  const uint64_t t1 = q.advance();
  EXPECT_TRUE(q.passed(t1));  // registered readers start offline
  q.online(*id);
  EXPECT_TRUE(q.is_online(*id));
  const uint64_t t2 = q.advance();
  EXPECT_GT(t2, t1);
  EXPECT_FALSE(q.passed(t2));
  q.quiescent(*id);
  EXPECT_TRUE(q.passed(t2));
  const uint64_t t3 = q.advance();
  EXPECT_FALSE(q.passed(t3));
  EXPECT_TRUE(q.passed(t2));
  q.offline(*id);
  EXPECT_FALSE(q.is_online(*id));
  EXPECT_TRUE(q.passed(t3));
  q.unregister_reader(*id);
  EXPECT_EQ(q.reader_count(), 0u);
}

// ---- Stress: readers verify every snapshot they see while the writer publishes. ----

constexpr size_t kPayloadWords = 256;
constexpr uint64_t kPublishes = 10000;

// A snapshot that is detectably incomplete or freed: every word equals the generation and the
// checksum covers them.
struct Table {
  explicit Table(uint64_t gen) : generation(gen), payload(kPayloadWords, gen) {
    checksum = gen * kPayloadWords ^ 0x5a5a5a5a5a5a5a5aull;
  }
  uint64_t generation;
  std::vector<uint64_t> payload;
  uint64_t checksum = 0;
};

struct ReaderStats {
  uint64_t reads = 0;
  uint64_t bad = 0;        // a snapshot with a wrong word, size or checksum
  uint64_t backwards = 0;  // a generation older than one seen before
  uint64_t last_generation = 0;
  // The same as last_generation, for the writer to watch while the reader runs.
  std::atomic<uint64_t> latest{0};
};

// Checks one snapshot completely; returns false if anything is off.
bool table_intact(const Table& t) {
  if (t.payload.size() != kPayloadWords) return false;
  uint64_t sum = 0;
  for (uint64_t w : t.payload) {
    if (w != t.generation) return false;
    sum += w;
  }
  return (sum ^ 0x5a5a5a5a5a5a5a5aull) == t.checksum;
}

// One worker: bursts of acquire/verify/quiescent; every `churn_every` bursts it goes offline and
// straight back online, to race online() against the writer's swap and scan.
void run_reader(Publisher<Table>::Reader reader, const std::atomic<bool>& done,
                unsigned churn_every, ReaderStats& stats) {
  reader.online();
  unsigned burst = 0;
  while (!done.load(std::memory_order_relaxed)) {
    const Table* t = reader.acquire();
    if (t != nullptr) {
      ++stats.reads;
      if (!table_intact(*t)) ++stats.bad;
      if (t->generation < stats.last_generation) ++stats.backwards;
      stats.last_generation = t->generation;
      stats.latest.store(t->generation, std::memory_order_relaxed);
    }
    reader.quiescent();
    if (++burst % churn_every == 0) {
      reader.offline();
      reader.online();
    }
  }
  reader.offline();
}

// Waits until every reader has seen generation `gen` or later; false after a generous deadline
// (a loaded 2-core machine may not schedule a thread for tens of milliseconds).
bool wait_all_seen(const std::vector<ReaderStats>& stats, uint64_t gen) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (const auto& s : stats) {
    while (s.latest.load(std::memory_order_relaxed) < gen) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::yield();
    }
  }
  return true;
}

void run_stress(unsigned churn_every) {
  constexpr int kReaders = 3;
  Publisher<Table> pub(8);
  std::atomic<bool> done{false};
  std::vector<ReaderStats> stats(kReaders);
  std::vector<std::thread> threads;
  pub.publish(std::make_shared<const Table>(1));
  for (int i = 0; i < kReaders; ++i) {
    auto r = pub.make_reader();
    ASSERT_TRUE(r.ok());
    threads.emplace_back(run_reader, std::move(r).value(), std::cref(done), churn_every,
                         std::ref(stats[i]));
  }
  // Every reader is running before the publishes start and has seen the last one before it is
  // stopped, whatever the scheduler does.
  EXPECT_TRUE(wait_all_seen(stats, 1));
  uint64_t max_retired = 0;
  for (uint64_t gen = 2; gen <= kPublishes; ++gen) {
    pub.publish(std::make_shared<const Table>(gen));
    max_retired = std::max(max_retired, pub.retired_count());
    if (gen % 1000 == 0) pub.synchronize();  // the writer's blocking path, under load
  }
  EXPECT_TRUE(wait_all_seen(stats, kPublishes));
  done.store(true);
  for (auto& t : threads) t.join();
  pub.synchronize();
  EXPECT_EQ(pub.retired_count(), 0u);

  uint64_t total = 0;
  for (int i = 0; i < kReaders; ++i) {
    SCOPED_TRACE("reader " + std::to_string(i));
    EXPECT_GT(stats[i].reads, 0u);
    EXPECT_EQ(stats[i].bad, 0u);
    EXPECT_EQ(stats[i].backwards, 0u);
    EXPECT_EQ(stats[i].last_generation, kPublishes);  // readers follow the publishes
    total += stats[i].reads;
  }
  std::printf("[ stress   ] %llu reads by %d readers over %llu publishes, max retire list %llu\n",
              static_cast<unsigned long long>(total), kReaders,
              static_cast<unsigned long long>(kPublishes),
              static_cast<unsigned long long>(max_retired));
}

TEST(PublisherStress, ReadersSeeCompleteSnapshotsNeverGoingBackwards) { run_stress(1u << 30); }

TEST(PublisherStress, ReadersGoingOnlineAndOfflineDuringPublishes) { run_stress(4); }

}  // namespace
}  // namespace simcore::core
