#include "dataplane/dpdk/replay.h"

#include <rte_ring.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <thread>

#include "dataplane/pcapng.h"

namespace simcore::dp {
namespace {

constexpr unsigned kRing = 4096;  // per ring; a run is fed in chunks that fit
constexpr unsigned kChunk = 1024;

// Two rte_rings per port (rx fed by us, tx read by us), freed with their frames.
struct Rings {
  rte_ring* r[4] = {};
  ~Rings() {
    drain();
    for (rte_ring* x : r) rte_ring_free(x);
  }
  // Frees the frames in the rings: before the engine whose pool they come from goes.
  void drain() noexcept {
    for (rte_ring* x : r) {
      void* m = nullptr;
      while (x != nullptr && rte_ring_dequeue(x, &m) == 0) {
        rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
      }
    }
  }
  rte_ring* rx(Port p) const { return r[p == Port::kAccess ? 0 : 2]; }
  rte_ring* tx(Port p) const { return r[p == Port::kAccess ? 1 : 3]; }
};

core::Error unavailable(const std::string& what) {
  return core::Error(core::Code::kUnavailable, "replay: " + what);
}

}  // namespace

core::Result<ReplayResult> replay(const std::vector<ReplayFrame>& frames,
                                  std::shared_ptr<const core::CompiledTables> tables,
                                  const ReplayOptions& options) {
  static std::atomic<unsigned> seq{0};
  const std::string tag = std::to_string(seq.fetch_add(1));
  Rings rings;
  for (int i = 0; i < 4; ++i) {
    rings.r[i] = rte_ring_create(("rp" + tag + "_" + std::to_string(i)).c_str(), kRing,
                                 SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (rings.r[i] == nullptr) return unavailable("cannot create rings");
  }
  EngineConfig c;
  c.workers = 1;
  auto access = make_ring_port("replay_a" + tag, rings.rx(Port::kAccess), rings.tx(Port::kAccess));
  if (!access.ok()) return access.error();
  auto core_port = make_ring_port("replay_c" + tag, rings.rx(Port::kCore), rings.tx(Port::kCore));
  if (!core_port.ok()) return core_port.error();
  c.access.name = *access;
  c.core.name = *core_port;
  c.addressing = options.addressing;
  c.record_ring = kChunk * 2;
  c.flow_entries = options.flow_entries;
  c.idle_sleep_us = 20;
  c.idle_polls = 16;
  auto engine_or = Engine::create(c);
  if (!engine_or.ok()) return engine_or.error();
  Engine& engine = **engine_or;
  // Destroyed before the engine (declared after it), on every return: the frames still in
  // the rings go back to the engine's pool while it exists.
  struct DrainFirst {
    Engine& e;
    Rings& r;
    ~DrainFirst() {
      e.stop();
      r.drain();
    }
  } drain_first{engine, rings};
  if (core::Status st = engine.publish(std::move(tables)); !st) return st.error();
  if (core::Status st = engine.start(); !st) return st.error();

  std::array<std::optional<PcapngWriter>, kPortCount> out;
  const std::string* paths[kPortCount] = {&options.access_pcapng, &options.core_pcapng};
  for (size_t p = 0; p < kPortCount; ++p) {
    if (paths[p]->empty()) continue;
    const std::string name = port_name(static_cast<Port>(p));
    auto w = PcapngWriter::open(*paths[p], {{name + "-in"}, {name + "-out"}});
    if (!w.ok()) return w.error();
    out[p].emplace(std::move(*w));
  }

  ReplayResult result;
  result.records.reserve(frames.size());
  result.comments.reserve(frames.size());
  size_t i = 0;
  while (i < frames.size()) {
    // A chunk of consecutive frames on one port.
    const Port port = frames[i].port;
    size_t end = i;
    while (end < frames.size() && end - i < kChunk && frames[end].port == port) ++end;
    for (size_t k = i; k < end; ++k) {
      rte_mbuf* m = rte_pktmbuf_alloc(engine.pool());
      const std::vector<uint8_t>& b = frames[k].bytes;
      char* dst = m == nullptr ? nullptr : rte_pktmbuf_append(m, static_cast<uint16_t>(b.size()));
      if (dst == nullptr || b.size() > UINT16_MAX) {
        if (m != nullptr) rte_pktmbuf_free(m);
        return unavailable("frame " + std::to_string(k) + " does not fit an mbuf (" +
                           std::to_string(b.size()) + " bytes)");
      }
      std::memcpy(dst, b.data(), b.size());
      if (rte_ring_sp_enqueue(rings.rx(port), m) != 0) {
        rte_pktmbuf_free(m);
        return unavailable("rx ring full");
      }
    }
    // Wait until the worker has taken all of it in and logged every record.
    std::vector<Record> recs(end - i);
    size_t got = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (got < recs.size()) {
      got += engine.drain_records(std::span(recs).subspan(got));
      if (got < recs.size()) {
        if (std::chrono::steady_clock::now() > deadline) {
          return unavailable("the engine did not process frame " + std::to_string(i + got));
        }
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      }
    }
    // One worker, one rx queue: records come in feed order; each frame sent leaves in order
    // on its port's tx ring.
    for (size_t k = 0; k < recs.size(); ++k) {
      const ReplayFrame& f = frames[i + k];
      const Record& r = recs[k];
      char buf[kCommentMax];
      const std::string comment(
          format_comment(r.outcome, DecidedBy{r.outcome.stage, r.outcome.rule_id}, buf));
      const auto in = static_cast<size_t>(f.port);
      if (out[in]) {
        if (core::Status st = out[in]->write(0, f.ts_ns, f.bytes, comment); !st) {
          return st.error();
        }
      }
      if (r.outcome.out == Port::kControl) ++result.punted;
      if (r.outcome.out == Port::kAccess || r.outcome.out == Port::kCore) {
        const auto p = static_cast<size_t>(r.outcome.out);
        void* m = nullptr;
        const auto sent_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (rte_ring_sc_dequeue(rings.tx(r.outcome.out), &m) != 0) {
          if (std::chrono::steady_clock::now() > sent_deadline) {
            return unavailable("frame " + std::to_string(i + k) + " was never transmitted");
          }
          std::this_thread::sleep_for(std::chrono::microseconds(20));
        }
        auto* mb = static_cast<rte_mbuf*>(m);
        if (options.keep_output) {
          const auto* d = rte_pktmbuf_mtod(mb, const uint8_t*);
          result.output.resize(i + k + 1);
          result.output[i + k].assign(d, d + mb->data_len);
        }
        if (out[p]) {
          const std::span<const uint8_t> bytes(rte_pktmbuf_mtod(mb, const uint8_t*), mb->data_len);
          if (core::Status st = out[p]->write(1, f.ts_ns, bytes, comment); !st) {
            rte_pktmbuf_free(mb);
            return st.error();
          }
        }
        rte_pktmbuf_free(mb);
        ++result.sent[p];
      }
      result.records.push_back(r);
      result.comments.push_back(comment);
    }
    i = end;
  }
  if (options.keep_output) result.output.resize(frames.size());
  // Punted frames are control's: a replay has no control, so they are counted and freed.
  engine.stop();
  rte_mbuf* punted[64];
  for (size_t n; (n = engine.receive_punted(punted)) > 0;) {
    for (size_t k = 0; k < n; ++k) rte_pktmbuf_free(punted[k]);
  }
  result.counters = engine.total();
  for (auto& w : out) {
    if (w) {
      if (core::Status st = w->close(); !st) return st.error();
    }
  }
  return result;
}

}  // namespace simcore::dp
