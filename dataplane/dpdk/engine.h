// dataplane/dpdk/engine.h — the fast path: two ports (access, core), N worker lcores, the
// published snapshot, and the rings to and from control.
//
//   access port ─┐  rx queue w  ┌──────────── worker w ─────────────┐  tx queue w  ┌─► access
//   core port ───┴─────────────►│ owner = hash(UE address) % N      │─────────────┴─► core
//                               │   not mine → handoff ring[owner]  │
//                               │ process() on the snapshot         │──► punt ring ──► control
//                               └───────────────────────────────────┘◄── control tx ring (w 0)
//
// Every packet of one Thing is processed by the same worker (hash of the inner source uplink,
// of the post-NAT inner destination downlink), so per-Thing flow state and counters are per
// worker without locks. NICs spread frames over rx queues by the outer headers, which says
// nothing about the Thing, so a worker that receives another worker's packet hands it over on
// that worker's ring (VPP's worker handoff). Control publishes snapshots with one pointer swap
// (core::Publisher, QSBR); workers load it once per burst and report quiescence after it, so a
// swap never pauses them. A worker with nothing to do for a while goes offline and sleeps for
// `idle_sleep_us`, so lab machines and tests are not held by spinning lcores.
#pragma once

#include <rte_mbuf.h>
#include <rte_spinlock.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "core/publisher.h"
#include "core/result.h"
#include "core/tables.h"
#include "dataplane/dpdk/esp.h"
#include "dataplane/dpdk/fast_tables.h"
#include "dataplane/dpdk/port.h"
#include "dataplane/neighbour.h"
#include "dataplane/pipeline.h"
#include "dataplane/rule_hits.h"
#include "dataplane/thing_counters.h"

struct rte_ring;

namespace simcore::dp {

inline constexpr unsigned kMaxWorkers = 64;

struct EngineConfig {
  unsigned workers = 1;      // worker lcores (EAL must have this many beyond the main lcore)
  PortSpec access;           // toward the radio network
  PortSpec core;             // toward the internet and back ends
  PortConfig addressing;     // our addresses and next hops; zero MACs: the ports' own
  unsigned mbufs = 16383;    // mempool size (2^n − 1 is what the pool likes)
  // Without hugepages: mbufs packed on THP-advised memory (mbuf_pool.h: faster at 64 B, slower
  // for ESP at 1400 B). Ignored with hugepages, where the stock pool is packed already.
  bool packed_mbufs = false;
  uint16_t ring_size = 1024;  // rx/tx descriptors and software ring entries
  unsigned idle_sleep_us = 100;  // 0: pure busy polling (benchmarks with dedicated cores)
  unsigned idle_polls = 1024;    // empty polls before a worker sleeps
  // Replays and tests: > 0 makes every worker log a Record per processed frame on a ring of
  // this many entries that control drains with drain_records(). Frames are never dropped for
  // a full log: the record is (and records_lost counts it).
  unsigned record_ring = 0;
  size_t flow_entries = 1 << 16;  // stateful-firewall flows per worker (a power of two)
};

// What happened to one frame, and under which snapshot: replays annotate their output with it,
// and the live-swap test checks each verdict against the generation that produced it.
struct Record {
  uint64_t generation;  // CompiledTables::generation the frame was classified with
  uint32_t src;         // the policed packet's source and IPv4 identification (host order):
  uint16_t ip_id;       //   inner for a G-PDU, outer otherwise; 0 when it has none
  Port in;
  uint8_t worker;  // the worker that processed it
  Outcome outcome;
};

// The engine's own per-worker counts, next to the pipeline's Counters.
struct WorkerStats {
  uint64_t handed_off;     // frames this worker received for another worker
  uint64_t handoff_full;   // ... dropped because that worker's ring was full
  uint64_t tx_full;        // frames the port's tx queue refused (dropped)
  uint64_t punt_full;      // punted frames dropped because control's ring was full
  uint64_t multi_segment;  // chained mbufs (jumbo frames): dropped, the pipeline needs one
  uint64_t idle_sleeps;
  uint64_t records_lost;   // the record ring was full
  // Stateful flows pushed out of a full window of the worker's flow table (FlowTable::
  // evictions): a reply on one meets the inbound chain again. Grows: flow_entries too small.
  uint64_t flow_evictions;
  // Where the worker's time goes, as VPP's `show runtime` tells it: TSC cycles from the end of
  // a burst's receive to the start of its transmit (the pipeline, ESP included, with the first
  // touch of each frame), and the frames they were spent on.
  uint64_t pipeline_cycles;
  uint64_t pipeline_frames;
};

// What workers read: the compiled tables and their DPDK form (which keeps them alive), and the
// IPsec SAD (null until IKE installs an SA).
struct Snapshot {
  std::shared_ptr<const core::CompiledTables> tables;
  std::shared_ptr<const FastTables> fast;
  std::shared_ptr<const EspTable> esp;
};

class Engine {
 public:
  // Creates the mempool, opens both ports and the rings. EAL must be initialised.
  static core::Result<std::unique_ptr<Engine>> create(const EngineConfig& config);
  // Stops the workers, closes the ports, frees the mbufs still in its own rings, then the pool.
  // Frames of the pool that others hold, such as in the rte_rings under net_ring ports, must
  // be freed first (stop(), then drain them): freeing one later writes into a freed mempool,
  // and with packed_mbufs its memory is unmapped, so it faults.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Builds the DPDK form of `tables` (reusing what the previous snapshot shares with it),
  // grows the per-Thing counters to its slots, and publishes it for the workers' next burst.
  // Control thread only; frees snapshots no worker can still see. Fails (and the previous
  // snapshot stays) when DPDK cannot allocate the structures.
  core::Status publish(std::shared_ptr<const core::CompiledTables> tables);
  // Makes `sas` the fast path's SAD (the CHILD_SAs IKE installed, both directions) and
  // publishes it with the current tables. An SA already installed keeps its object, so its
  // sequence number and replay window carry on. Control thread only; needs a published
  // snapshot. Fails, keeping the previous SAD, when an SA's algorithm is not implemented or
  // DPDK cannot make it (the message names the SPI).
  core::Status publish_sad(const std::vector<EspSaSpec>& sas);
  // What the fast path did with an installed SA (outer destination `dst`): false if none.
  // Any thread (charon asks from its own).
  bool sa_usage(uint32_t spi, uint32_t dst, EspUse& use) const;
  // The workers' clock (EspUse::last_ns, WorkerContext::now_ns): ns from the TSC.
  static uint64_t clock_ns() noexcept;

  // Launches the workers. Needs a published snapshot. Control thread only.
  core::Status start();
  // Asks the workers to finish their burst and return; waits for them. Idempotent.
  void stop();
  bool running() const noexcept { return running_; }
  // The stateful-firewall flows each worker's table holds (EngineConfig::flow_entries).
  size_t flow_entries() const noexcept { return config_.flow_entries; }

  // Frames the pipeline punted to control (GTP-C, IKE, ARP replies), up to out.size(); the
  // caller owns them (rte_pktmbuf_free). Control thread.
  size_t receive_punted(std::span<rte_mbuf*> out) noexcept;
  // Queues a frame control built for transmission out of `port` by worker 0. Takes ownership
  // (frees it when the ring is full and returns false). Control thread.
  bool transmit(Port port, rte_mbuf* frame) noexcept;

  // Records logged since the last call (see EngineConfig::record_ring), up to out.size(), in
  // each worker's processing order. Control thread.
  size_t drain_records(std::span<Record> out) noexcept;

  // Next hops' MACs: static entries from the config and ARP replies control learns from the
  // punted frames. Written by the control thread only; workers read it lock-free.
  NeighbourTable& neighbours() noexcept { return neighbours_; }

  // One Thing's counters summed over the workers. Control thread (values read while workers
  // write them: each is current, the five are not one instant).
  ThingCounters thing_counters(uint32_t slot) const noexcept;
  // Packets each firewall rule decided (by the API's rule id), summed over the workers, by
  // ascending id. Control thread.
  std::vector<std::pair<uint32_t, uint64_t>> rule_hits() const;

  // A copy of each worker's counters (read while they run: each value is a consistent 64-bit
  // word, the set is not a point-in-time snapshot).
  std::vector<Counters> counters() const;
  Counters total() const;
  std::vector<WorkerStats> worker_stats() const;

  rte_mempool* pool() const noexcept { return pool_; }
  const EthPort& port(Port p) const noexcept { return p == Port::kAccess ? *access_ : *core_; }
  unsigned workers() const noexcept { return static_cast<unsigned>(workers_.size()); }
  uint64_t generation() const noexcept;

 private:
  struct Worker;
  explicit Engine(const EngineConfig& config);
  // Where an arriving ESP frame's outer IPv4 packet is: offset and total length.
  struct EspAt {
    uint16_t off;
    uint16_t len;
  };
  // The ESP stage on one worker (engine.cc; encryption is in the worker loop, per window).
  // Decrypts the ESP frames in[0, n) (n <= 128; their outer packets at at[0, n)), one call
  // per SA; writes the decrypted ones to out (Ethernet + inner IPv4, as if received on the
  // core port) in arrival order and returns how many; the others are dropped and counted.
  unsigned esp_decrypt(Worker& w, const Snapshot& snap, rte_mbuf* const* in, const EspAt* at,
                       unsigned n, rte_mbuf** out) noexcept;
  static int worker_main(void* arg);
  void run(Worker& w);

  EngineConfig config_;
  rte_mempool* pool_ = nullptr;
  std::unique_ptr<EthPort> access_;
  std::unique_ptr<EthPort> core_;
  rte_ring* punt_ = nullptr;
  rte_ring* records_ = nullptr;  // MP/SC ring of Record (record_ring > 0)
  rte_ring* control_tx_[kPortCount] = {nullptr, nullptr};
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<unsigned> lcores_;  // the workers', released to other engines at destruction
  NeighbourTable neighbours_;
  // Before the publisher and current_: their snapshots hold the SAs, whose crypto sessions must
  // be freed while the crypto devices still exist.
  std::unique_ptr<EspCrypto> crypto_;  // made with the first SA
  core::Publisher<Snapshot> publisher_;
  std::shared_ptr<const Snapshot> current_;
  mutable std::mutex current_mu_;  // current_ for sa_usage() on other threads
  // Worker w transmits on queue w % tx_queues; a driver with fewer tx queues than workers
  // (net_pcap has one) makes workers share a queue, and then they take its lock.
  rte_spinlock_t tx_lock_[kPortCount][kMaxWorkers];
  std::atomic<bool> stop_{false};
  bool running_ = false;
};

}  // namespace simcore::dp
