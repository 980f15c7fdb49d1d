#include "core/publisher.h"

#include <string>
#include <thread>

// Memory ordering (the reader side is inline in publisher.h).
//
// Writer, per publish:  W1 ptr.exchange(new)   W2 token = ++epoch   W3 load seen[r] for each r
// Reader, going online: R1 seen[r] = epoch     R2 p = ptr.load()    ... use p ...
// Reader, per burst:    Q1 e = epoch.load()    Q2 seen[r] = e
//
// The old snapshot is freed when every W3 load returned 0 (offline) or a value >= token.
//
// 1. The classic race is a reader coming online while the writer swaps and scans: W3 reads 0
//    for the reader, so the writer frees the old snapshot, yet R2 returns it. If R1 were a
//    release store and R2 an acquire load, R2 could be satisfied before R1 became visible
//    (store→load reordering, which x86 does via its store buffer), and the reader would use a
//    freed snapshot. So W1, W2, W3, R1 and R2 are all seq_cst, in the single total order S.
//    W3 read a value of seen[r] older than R1's, so W3 precedes R1 in S; with program order,
//    W1 < W2 < W3 < R1 < R2 in S, so R2 (seq_cst) cannot return the value W1 replaced. The cost
//    on x86 is one xchg in online() (rare) and nothing in R2 (a seq_cst load is a plain mov).
// 2. Steady state: Q1 is an acquire load and Q2 a release store. If Q1 read token (or later), it
//    read from W2 (a release RMW) or a later RMW in its release sequence, so W1 happens before
//    every later R2 of this reader, which therefore sees the new pointer. If Q1 read an older
//    epoch, Q2 stores a value < token and the writer keeps waiting.
// 3. Q2 and offline()'s store are release stores and W3 loads are (seq_cst, hence) acquire: once
//    W3 sees them, every read the reader made of the old snapshot happens before the free.
// 4. A slot registered after W3 scanned the high-water mark starts offline; the reader's R1
//    follows the registration, which is seq_cst too, so argument 1 covers it.

namespace simcore::core {
namespace {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

Qsbr::Qsbr(unsigned max_readers)
    : max_readers_(max_readers),
      slots_(std::make_unique<Slot[]>(max_readers)),
      used_(max_readers, false) {}

Qsbr::~Qsbr() {
  SIMCORE_CHECK(reader_count() == 0 && "destroyed while readers are still registered");
}

Result<unsigned> Qsbr::register_reader() {
  std::lock_guard<std::mutex> lock(mu_);
  for (unsigned id = 0; id < max_readers_; ++id) {
    if (used_[id]) continue;
    used_[id] = true;  // its slot is offline (0): fresh, or reset by unregister_reader()
    ++registered_;
    if (id >= high_water_.load(std::memory_order_relaxed)) {
      high_water_.store(id + 1, std::memory_order_seq_cst);
    }
    return id;
  }
  return Error(Code::kResourceExhausted,
               "all " + std::to_string(max_readers_) + " snapshot reader slots are taken");
}

void Qsbr::unregister_reader(unsigned id) {
  std::lock_guard<std::mutex> lock(mu_);
  SIMCORE_CHECK(id < max_readers_ && used_[id] && "unregister of a slot that is not registered");
  // Release: the departing reader's last reads happen before any free that sees this 0.
  slots_[id].seen.store(0, std::memory_order_release);
  used_[id] = false;
  --registered_;
  // high_water_ never shrinks: a stale, offline slot below it costs the writer one load.
}

uint64_t Qsbr::advance() noexcept { return epoch_.fetch_add(1, std::memory_order_seq_cst) + 1; }

bool Qsbr::passed(uint64_t token) const noexcept {
  const unsigned n = high_water_.load(std::memory_order_seq_cst);
  for (unsigned id = 0; id < n; ++id) {
    const uint64_t seen = slots_[id].seen.load(std::memory_order_seq_cst);
    if (seen != 0 && seen < token) return false;
  }
  return true;
}

void Qsbr::wait(uint64_t token) const noexcept {
  // A reader's burst is normally microseconds: spin briefly, then give the core away (workers
  // and control may share cores on small machines).
  for (unsigned spins = 0; !passed(token); ++spins) {
    if (spins < 128) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
}

unsigned Qsbr::reader_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return registered_;
}

}  // namespace simcore::core
