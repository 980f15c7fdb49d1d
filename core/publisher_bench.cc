// core/publisher_bench.cc — what snapshot publication costs each side.
// Reader: acquire()+quiescent() per burst, against two baselines measured in the same run: a bare
// atomic pointer load (the floor: no reclamation at all) and std::atomic<std::shared_ptr> (the
// obvious alternative: a lock bit plus a reference-count RMW per load in libstdc++).
// Writer: publish() (which includes reclaim()) with 0, 1 or 2 reader threads running bursts, and
// publish()+synchronize() to show the grace-period wait. Snapshots come from a preallocated pool
// so allocation is not measured. Keep thread counts small: CI machines have 2 cores; use
// `--benchmark_repetitions=5 --benchmark_report_aggregates_only` for median and spread.
#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

#include "core/publisher.h"

namespace simcore::core {
namespace {

struct Snap {
  uint64_t generation = 0;
  std::array<uint64_t, 7> pad{};  // one cache line, like a small table header
};

std::vector<std::shared_ptr<const Snap>> make_pool(size_t n) {
  std::vector<std::shared_ptr<const Snap>> pool;
  for (size_t i = 0; i < n; ++i) pool.push_back(std::make_shared<const Snap>(Snap{i, {}}));
  return pool;
}

// Reader threads doing empty bursts until stopped; each burst reads the snapshot. The
// constructor returns once every reader is online, so the timed loop sees all of them.
class BackgroundReaders {
 public:
  BackgroundReaders(Publisher<Snap>& pub, int n) {
    for (int i = 0; i < n; ++i) {
      auto r = pub.make_reader();
      if (!r.ok()) std::abort();
      threads_.emplace_back([this, reader = std::move(r).value()]() mutable {
        reader.online();
        online_.fetch_add(1);
        while (!stop_.load(std::memory_order_relaxed)) {
          const Snap* s = reader.acquire();
          if (s != nullptr) benchmark::DoNotOptimize(s->generation);
          reader.quiescent();
        }
        reader.offline();
      });
    }
    while (online_.load() < n) std::this_thread::yield();
  }
  ~BackgroundReaders() {
    stop_.store(true);
    for (auto& t : threads_) t.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> online_{0};
  std::vector<std::thread> threads_;
};

// ---- Reader side ----

void BM_ReaderBaseline_AtomicLoad(benchmark::State& state) {
  auto pool = make_pool(1);
  std::atomic<const Snap*> ptr{pool[0].get()};
  for (auto _ : state) {
    const Snap* s = ptr.load(std::memory_order_acquire);
    benchmark::DoNotOptimize(s->generation);
  }
}
BENCHMARK(BM_ReaderBaseline_AtomicLoad);

void BM_ReaderBaseline_SharedPtrAtomicLoad(benchmark::State& state) {
  auto pool = make_pool(1);
  std::atomic<std::shared_ptr<const Snap>> shared{pool[0]};
  for (auto _ : state) {
    std::shared_ptr<const Snap> s = shared.load(std::memory_order_acquire);
    benchmark::DoNotOptimize(s->generation);
  }
}
BENCHMARK(BM_ReaderBaseline_SharedPtrAtomicLoad);

// One burst: acquire, read, quiescent. Arg 1 adds a writer thread publishing continuously
// (worst case: the pointer and epoch lines bounce every burst).
void BM_Reader_AcquireQuiescent(benchmark::State& state) {
  Publisher<Snap> pub(4);
  auto pool = make_pool(2);
  pub.publish(pool[0]);
  auto r = pub.make_reader();
  if (!r.ok()) std::abort();
  auto reader = std::move(r).value();

  std::atomic<bool> stop{false};
  std::atomic<bool> writing{false};
  std::thread writer;
  if (state.range(0) != 0) {
    writer = std::thread([&] {
      writing.store(true);
      for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) pub.publish(pool[i & 1]);
    });
    while (!writing.load()) std::this_thread::yield();
  }
  reader.online();
  for (auto _ : state) {
    const Snap* s = reader.acquire();
    benchmark::DoNotOptimize(s->generation);
    reader.quiescent();
  }
  reader.offline();
  stop.store(true);
  if (writer.joinable()) writer.join();
  pub.synchronize();
}
BENCHMARK(BM_Reader_AcquireQuiescent)->ArgName("writer")->Arg(0)->Arg(1)->UseRealTime();

// ---- Writer side ----

void BM_Writer_PublishReclaim(benchmark::State& state) {
  Publisher<Snap> pub(4);
  auto pool = make_pool(2);
  uint64_t max_retired = 0;
  {
    BackgroundReaders readers(pub, static_cast<int>(state.range(0)));
    uint64_t i = 0;
    for (auto _ : state) {
      pub.publish(pool[i++ & 1]);
      if (pub.retired_count() > max_retired) max_retired = pub.retired_count();
    }
  }
  pub.synchronize();
  state.counters["max_retired"] = static_cast<double>(max_retired);
}
BENCHMARK(BM_Writer_PublishReclaim)->ArgName("readers")->Arg(0)->Arg(1)->Arg(2)->UseRealTime();

// Publish and wait for the grace period: the latency a control thread sees when it must know
// the old snapshot is gone.
void BM_Writer_PublishSynchronize(benchmark::State& state) {
  Publisher<Snap> pub(4);
  auto pool = make_pool(2);
  {
    BackgroundReaders readers(pub, static_cast<int>(state.range(0)));
    uint64_t i = 0;
    for (auto _ : state) {
      pub.publish(pool[i++ & 1]);
      pub.synchronize();
    }
  }
}
BENCHMARK(BM_Writer_PublishSynchronize)->ArgName("readers")->Arg(0)->Arg(1)->Arg(2)->UseRealTime();

}  // namespace
}  // namespace simcore::core
