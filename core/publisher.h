// core/publisher.h — publishes immutable snapshots (the compiled tables) from the control thread
// to data-plane workers, with quiescent-state based reclamation (QSBR).
//
// One writer (the control thread) swaps in a new snapshot with one atomic pointer exchange; many
// readers (workers) load the pointer once per burst and report a quiescent state after the burst.
// A replaced snapshot is freed on the writer thread once every online reader has passed a
// quiescent state after the swap (the grace period). Readers never lock, never allocate and are
// wait-free; only the writer ever waits. This is the portable equivalent of DPDK's rte_rcu_qsbr.
//
// Reader protocol, per worker:
//   r.online();  loop { t = r.acquire(); ...burst...; r.quiescent(); }  r.offline();
// and offline() before sleeping or blocking, so the writer doesn't wait for a sleeper.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "core/check.h"
#include "core/result.h"

namespace simcore::core {

// Quiescent-state tracking for a fixed number of reader slots. Each slot holds the epoch its
// reader last reported (0 = offline). The writer advances a global epoch after each swap and may
// free what it replaced once every slot is offline or has reported that epoch or a later one.
// Memory ordering is argued in publisher.cc.
class Qsbr {
 public:
  // Creates a tracker for at most `max_readers` simultaneously registered readers.
  explicit Qsbr(unsigned max_readers);
  // Crashes (SIMCORE_CHECK) if readers are still registered: a bug in the owner.
  ~Qsbr();
  Qsbr(const Qsbr&) = delete;
  Qsbr& operator=(const Qsbr&) = delete;

  // Claims a free reader slot, initially offline. Any thread; takes a mutex (setup only).
  // Fails with kResourceExhausted when all max_readers() slots are taken.
  Result<unsigned> register_reader();
  // Marks the slot offline and frees it for reuse. Any thread, but the slot's reader must not be
  // using it concurrently; takes a mutex. Crashes (SIMCORE_CHECK) if `id` is not registered.
  void unregister_reader(unsigned id);

  // The reader calls are inline: they run once per burst on every worker.

  // Reader `id` starts reporting: from now on the writer waits for it. Only the slot's reader
  // thread; wait-free (one seq_cst store). Call before the first load of the published pointer.
  void online(unsigned id) noexcept {
    // Must be seq_cst so it cannot pass the reader's next pointer load: (1) in publisher.cc.
    slots_[id].seen.store(epoch_.load(std::memory_order_acquire), std::memory_order_seq_cst);
  }
  // Reader `id` (online) declares it holds no reference to any snapshot loaded before this call.
  // Only the slot's reader thread; wait-free (one load, at most one store).
  void quiescent(unsigned id) noexcept {
    SIMCORE_DCHECK(is_online(id));  // quiescent() while offline would silently go online
    // Acquire load, release store: (2) and (3) in publisher.cc. The store is skipped when nothing
    // was published since the last burst, so the line stays shared with the writer's scans
    // instead of bouncing every burst (rte_rcu_qsbr does the same).
    const uint64_t e = epoch_.load(std::memory_order_acquire);
    if (slots_[id].seen.load(std::memory_order_relaxed) != e) {
      slots_[id].seen.store(e, std::memory_order_release);
    }
  }
  // Reader `id` stops reporting and must drop every snapshot reference first; writers no longer
  // wait for it. Only the slot's reader thread; wait-free (one release store).
  void offline(unsigned id) noexcept { slots_[id].seen.store(0, std::memory_order_release); }
  // Returns true when reader `id` is online. The slot's reader thread (used by debug checks).
  bool is_online(unsigned id) const noexcept {
    return slots_[id].seen.load(std::memory_order_relaxed) != 0;
  }

  // Starts a new grace period after a swap; returns its token. Writer thread only.
  uint64_t advance() noexcept;
  // Returns true when every registered reader is offline or has reported a quiescent state since
  // the advance() that returned `token`. Writer thread only; never blocks.
  bool passed(uint64_t token) const noexcept;
  // Spins, then yields, until passed(token). Writer thread only, and it must not itself be an
  // online reader (that would never return).
  void wait(uint64_t token) const noexcept;

  unsigned max_readers() const noexcept { return max_readers_; }
  // Returns the number of registered readers. Any thread; takes a mutex.
  unsigned reader_count() const;

 private:
  // One cache line per reader: each reader writes only its own line.
  struct alignas(64) Slot {
    std::atomic<uint64_t> seen{0};
  };

  // Written by the writer once per publish, read by every reader once per burst: own line.
  alignas(64) std::atomic<uint64_t> epoch_{1};
  // Read-mostly from here on. Slots [0, high_water_) may be registered; passed() scans only those.
  alignas(64) std::atomic<unsigned> high_water_{0};
  const unsigned max_readers_;
  std::unique_ptr<Slot[]> slots_;
  mutable std::mutex mu_;  // guards used_ and registered_ (setup path only)
  std::vector<bool> used_;
  unsigned registered_ = 0;
};

// Publishes snapshots of an immutable T. The writer (one thread at a time, normally the control
// thread) calls publish/reclaim/synchronize/current/retired_count; each worker owns a Reader.
// Snapshots are shared_ptr<const T> so the writer may keep and reuse parts of them; a replaced
// snapshot's reference is dropped on the writer thread after its grace period.
template <class T>
class Publisher {
 public:
  // A worker's handle. Not thread-safe itself: one thread uses it at a time (create it on the
  // control thread, move it to the worker). Starts offline. Must be destroyed before the
  // Publisher; its destructor unregisters (takes a mutex, so not on the fast path). A moved-from
  // Reader may only be destroyed or assigned to.
  class Reader {
   public:
    Reader(Reader&& o) noexcept : pub_(std::exchange(o.pub_, nullptr)), id_(o.id_) {}
    Reader& operator=(Reader&& o) noexcept {
      if (this != &o) {
        reset();
        pub_ = std::exchange(o.pub_, nullptr);
        id_ = o.id_;
      }
      return *this;
    }
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;
    ~Reader() { reset(); }

    // Returns the current snapshot (nullptr before the first publish). The reader must be online;
    // the pointer stays valid until this reader's next quiescent() or offline(). Wait-free.
    const T* acquire() noexcept {
      SIMCORE_DCHECK(pub_->qsbr_.is_online(id_));  // an offline reader is not protected
      // seq_cst, not just acquire: pairs with online()'s seq_cst store (see publisher.cc).
      return pub_->ptr_.load(std::memory_order_seq_cst);
    }
    // Ends a burst: every pointer acquire()d before is dead to this reader. Wait-free.
    void quiescent() noexcept { pub_->qsbr_.quiescent(id_); }
    // Starts holding back reclamation; call before acquire(). Wait-free.
    void online() noexcept { pub_->qsbr_.online(id_); }
    // Stops holding back reclamation (e.g. before the worker sleeps). Drops every pointer.
    void offline() noexcept { pub_->qsbr_.offline(id_); }

   private:
    friend class Publisher;
    Reader(Publisher* pub, unsigned id) noexcept : pub_(pub), id_(id) {}
    void reset() noexcept {
      if (pub_ != nullptr) pub_->qsbr_.unregister_reader(id_);
      pub_ = nullptr;
    }

    Publisher* pub_;
    unsigned id_;
  };

  // Creates a publisher with no snapshot and room for `max_readers` Readers.
  explicit Publisher(unsigned max_readers = 64) : qsbr_(max_readers) {}
  // Frees the current and every retired snapshot. Every Reader must already be destroyed
  // (crashes otherwise). Writer thread.
  ~Publisher() = default;
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // Registers a reader (offline). Any thread; takes a mutex (setup only).
  // Fails with kResourceExhausted when max_readers Readers exist.
  Result<Reader> make_reader() {
    Result<unsigned> id = qsbr_.register_reader();
    if (!id.ok()) return id.error();
    return Reader(this, *id);
  }

  // Makes `next` (may be null) the snapshot readers acquire, retires the previous one, then
  // reclaim()s. Writer thread only; blocks only when more than kMaxRetired snapshots await
  // their grace period; allocates only to grow the retire list.
  void publish(std::shared_ptr<const T> next) {
    std::shared_ptr<const T> old = std::exchange(current_, std::move(next));
    // seq_cst exchange, then seq_cst advance, then seq_cst loads in passed(): see publisher.cc.
    const T* prev = ptr_.exchange(current_.get(), std::memory_order_seq_cst);
    SIMCORE_DCHECK(prev == old.get());
    (void)prev;
    if (old != nullptr) retired_.push_back({qsbr_.advance(), std::move(old)});
    reclaim();
    // Bound memory: a reader descheduled while online holds every later snapshot back, so past
    // kMaxRetired the writer waits for the oldest grace period instead of piling up tables.
    while (retired_.size() > kMaxRetired) {
      qsbr_.wait(retired_.front().token);
      retired_.pop_front();
    }
  }

  // Snapshots kept awaiting their grace period before publish() starts to wait.
  static constexpr size_t kMaxRetired = 1024;

  // Frees the retired snapshots whose grace period has passed; returns how many. Writer thread
  // only; never blocks. A reader that stays online without quiescent() holds everything back.
  size_t reclaim() {
    size_t freed = 0;
    // Tokens increase along the list, so the first one not passed stops the scan.
    while (!retired_.empty() && qsbr_.passed(retired_.front().token)) {
      retired_.pop_front();
      ++freed;
    }
    return freed;
  }

  // Waits until every retired snapshot's grace period has passed, then frees them all. Writer
  // thread only; blocks (spin, then yield) while an online reader has not reached quiescent().
  void synchronize() {
    if (retired_.empty()) return;
    qsbr_.wait(retired_.back().token);
    retired_.clear();
  }

  // Returns the published snapshot (null before the first publish), for building the next one
  // incrementally. Writer thread only.
  std::shared_ptr<const T> current() const { return current_; }

  // Returns how many replaced snapshots await their grace period. Writer thread only.
  uint64_t retired_count() const noexcept { return retired_.size(); }

 private:
  struct Retired {
    uint64_t token;  // from the advance() right after this snapshot was swapped out
    std::shared_ptr<const T> snapshot;
  };

  Qsbr qsbr_;
  // Loaded by every reader each burst, stored by the writer each publish: its own cache line,
  // apart from the writer-only fields below that change on every publish.
  alignas(64) std::atomic<const T*> ptr_{nullptr};
  alignas(64) std::shared_ptr<const T> current_;  // writer only; owns what ptr_ points to
  std::deque<Retired> retired_;                   // writer only; tokens ascending
};

}  // namespace simcore::core
