#include "control/daemon/fast_path.h"

#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "dataplane/dpdk/eal.h"
#include "dataplane/metrics.h"
#include "dataplane/packet/arp.h"

namespace simcore::ctl {
namespace {

uint8_t prefix_len_or_zero(const PortSection& p) { return p.prefix_length; }

}  // namespace

core::Result<std::unique_ptr<FastPath>> FastPath::open(const DataplaneConfig& c) {
  dp::EalOptions eal;
  eal.lcores = c.lcores;
  eal.memory_mb = c.memory_mb;
  eal.hugepages = c.hugepages;
  eal.pci = c.pci;
  eal.extra = c.eal_args;
  // net_memif talks to its peer through EAL's multi-process socket, which --no-shconf turns
  // off: a private prefix keeps several simcored from colliding instead.
  for (const PortSection* p : {&c.access, &c.core}) {
    if (p->port.rfind("net_memif", 0) == 0) {
      eal.file_prefix = "simcored-" + std::to_string(::getpid());
    }
  }
  if (core::Status st = dp::eal_init(eal); !st) return st.error().prefixed("dataplane: ");

  dp::EngineConfig e;
  e.workers = c.workers;
  e.access = {c.access.port, c.access.devargs};
  e.core = {c.core.port, c.core.devargs};
  e.idle_sleep_us = c.idle_sleep_us;
  e.packed_mbufs = c.packed_mbufs;
  e.flow_entries = c.flows_per_worker;
  dp::PortConfig& a = e.addressing;
  a.access_addr = c.access.address.value;
  a.core_addr = c.core.address.value;
  a.access_prefix_len = prefix_len_or_zero(c.access);
  a.core_prefix_len = prefix_len_or_zero(c.core);
  a.access_gateway = c.access.gateway ? c.access.gateway->value : 0;
  a.core_gateway = c.core.gateway ? c.core.gateway->value : 0;
  a.access_mtu = c.access.mtu;
  a.core_mtu = c.core.mtu;
  // The ports' own MACs are filled in by the engine once it has opened them; next hops are
  // resolved through the neighbour table (ARP, or the static entries below).
  auto engine = dp::Engine::create(e);
  if (!engine.ok()) return engine.error().prefixed("dataplane: ");
  std::unique_ptr<FastPath> fp(new FastPath());
  fp->engine_ = std::move(*engine);
  fp->access_address_ = c.access.address;
  fp->access_prefix_len_ = c.access.prefix_length;
  for (const PortSection* p : {&c.access, &c.core}) {
    for (const auto& [addr, mac] : p->neighbours) fp->engine_->neighbours().set(addr.value, mac);
  }
  fp->core_link_.address = c.core.address;
  fp->core_link_.prefix_len = c.core.prefix_length;
  fp->core_link_.gateway = c.core.gateway;
  std::memcpy(fp->core_link_.mac.data(), fp->engine_->port(dp::Port::kCore).mac().addr_bytes,
              fp->core_link_.mac.size());
  if (c.ike) {
    ike::Options o;
    o.local = c.core.address;
    o.port = c.ike->port;
    o.natt_port = c.ike->natt_port;
    o.peer_port = c.ike->peer_port;
    o.log_level = c.ike->log_level;
    o.retransmit_tries = c.ike->retransmit_tries;
    o.retransmit_timeout_s = c.ike->retransmit_timeout_s;
    o.child_rekey_seconds = c.ike->child_rekey_seconds;
    o.retry_seconds = c.ike->retry_seconds;
    o.force_udp_encap = c.ike->force_udp_encap;
    auto ike = ike::Ike::start(o, [] {
      return static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count());
    });
    if (!ike) return ike.error().prefixed("dataplane: ");
    fp->ike_ = std::move(*ike);
    // charon's query_sa (lifetimes, DPD's "is the tunnel in use") reads the fast path's
    // counters, on charon's threads: Engine::sa_usage may be called from any thread.
    dp::Engine* fast = fp->engine_.get();
    fp->ike_->set_usage_source([fast](uint32_t spi, core::Ipv4 dst, uint64_t& bytes,
                                        uint64_t& packets, uint64_t& last_used_s) {
      dp::EspUse use;
      if (!fast->sa_usage(spi, dst.value, use)) return false;
      bytes = use.bytes;
      packets = use.packets;
      // The workers' clock is the TSC; charon's is CLOCK_MONOTONIC seconds.
      if (use.last_ns != 0) {
        timespec now{};
        clock_gettime(CLOCK_MONOTONIC, &now);
        const uint64_t ago_s = (dp::Engine::clock_ns() - use.last_ns) / 1'000'000'000;
        last_used_s = static_cast<uint64_t>(now.tv_sec) > ago_s ? now.tv_sec - ago_s : 0;
      }
      return true;
    });
    fp->ike_link_ = std::make_unique<IkeLink>(
        *fp->ike_, fp->core_link_,
        [raw = fp.get()](std::span<const uint8_t> f) { return raw->send_core(f); },
        &fp->engine_->neighbours());
  }
  return fp;
}

FastPath::~FastPath() {
  // charon first: closing its tunnels sends DELETEs, which need the ports.
  ike_link_.reset();
  ike_.reset();
  if (engine_) engine_->stop();
}

void FastPath::publish(core::TablesPtr tables) {
  const size_t slots = tables->sessions.size();
  if (core::Status st = engine_->publish(std::move(tables)); !st) {
    std::fprintf(stderr, "{\"event\":\"dataplane_publish_failed\",\"error\":\"%s\"}\n",
                 st.error().message().c_str());
    return;
  }
  slots_ = slots;
  if (!engine_->running()) {
    if (core::Status st = engine_->start(); !st) {
      std::fprintf(stderr, "{\"event\":\"dataplane_start_failed\",\"error\":\"%s\"}\n",
                   st.error().message().c_str());
    }
  }
}

bool FastPath::send_access(std::span<const uint8_t> frame) { return send(dp::Port::kAccess, frame); }
bool FastPath::send_core(std::span<const uint8_t> frame) { return send(dp::Port::kCore, frame); }

bool FastPath::send(dp::Port port, std::span<const uint8_t> frame) {
  rte_mbuf* m = rte_pktmbuf_alloc(engine_->pool());
  if (!m) return false;
  char* p = rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size()));
  if (!p) {
    rte_pktmbuf_free(m);
    return false;
  }
  std::memcpy(p, frame.data(), frame.size());
  return engine_->transmit(port, m);
}

void FastPath::poll_ike(Service& service, int64_t now_ms) {
  if (!ike_) return;
  // Tunnels change only with the account, and every change publishes a new generation.
  if (service.generation() != ike_generation_) {
    ike_generation_ = service.generation();
    ike_->sync(service.model());
  }
  ike_->tick(now_ms);
  ike_link_->flush(now_ms);
  // The SAs charon installed or deleted since the last round become the fast path's SAD.
  if (auto sad = ike_->take_sad()) {
    std::vector<dp::EspSaSpec> specs;
    for (const ike::Sa& sa : *sad) {
      dp::EspSaSpec s;
      s.tunnel_id = sa.tunnel.value;
      s.spi = sa.spi;
      s.inbound = sa.inbound;
      s.src = sa.src.value;
      s.dst = sa.dst.value;
      s.encap = sa.encap;
      s.sport = sa.sport;
      s.dport = sa.dport;
      s.enc_alg = sa.enc_alg;
      s.int_alg = sa.int_alg;
      s.enc_key = sa.enc_key;
      s.int_key = sa.int_key;
      s.replay_window = sa.replay_window;
      s.esn = sa.esn;
      specs.push_back(std::move(s));
    }
    if (core::Status st = engine_->publish_sad(specs); !st) {
      std::fprintf(stderr, "{\"event\":\"sad_publish_failed\",\"error\":\"%s\"}\n",
                   st.error().message().c_str());
    }
  }
}

bool FastPath::poll(Service& service, int64_t now_ms) {
  if (!signalling_) {
    Signalling::Options o;
    o.address = access_address_;
    o.prefix_len = access_prefix_len_;
    std::memcpy(o.mac.data(), engine_->port(dp::Port::kAccess).mac().addr_bytes, o.mac.size());
    o.restart_counter = service.gtp_restart_counter();
    signalling_ = std::make_unique<Signalling>(
        service.attach_backend(), o, [this](std::span<const uint8_t> f) { return send_access(f); },
        &engine_->neighbours());
  }
  rte_mbuf* punted[64];
  size_t n = 0;
  size_t handled = 0;
  while (handled < kPollBudget && (n = engine_->receive_punted(punted)) > 0) {
    handled += n;
    for (size_t i = 0; i < n; ++i) {
      rte_mbuf* m = punted[i];
      const auto* data = rte_pktmbuf_mtod(m, const uint8_t*);
      uint32_t addr = 0;
      dp::Mac mac{};
      if (dp::arp_sender(data, m->data_len, addr, mac)) {
        engine_->neighbours().set(addr, mac);
      } else if (!signalling_->on_frame({data, m->data_len}, now_ms) &&
                 !(ike_link_ && ike_link_->on_frame({data, m->data_len}))) {
        ++punts_unhandled_;  // IKE without dataplane.ike, or a punt nobody serves
      }
      rte_pktmbuf_free(m);
    }
  }
  // Every round, even without frames: sessions the API ended and retransmissions.
  const std::vector<uint32_t> ended = service.take_ended_sessions();
  signalling_->finish(ended, now_ms);
  poll_ike(service, now_ms);
  const bool more = handled >= kPollBudget;

  if (now_ms - last_usage_ms_ < usage_interval_ms) return more;
  last_usage_ms_ = now_ms;
  if (billed_.size() < slots_) billed_.resize(slots_);
  std::vector<Service::SlotUsage> usage;
  for (uint32_t slot = 0; slot < slots_; ++slot) {
    const dp::ThingCounters now = engine_->thing_counters(slot);
    dp::ThingCounters& before = billed_[slot];
    if (now.up_bytes == before.up_bytes && now.down_bytes == before.down_bytes) continue;
    usage.push_back({core::ThingSlot{slot}, now.up_bytes - before.up_bytes,
                     now.down_bytes - before.down_bytes});
    before = now;
  }
  if (core::Status st = service.record_usage_by_slot(usage); !st) {
    // Not lost: billed_ already moved on, so give the counts back for the next round.
    for (const Service::SlotUsage& u : usage) {
      billed_[u.slot.value].up_bytes -= u.bytes_up;
      billed_[u.slot.value].down_bytes -= u.bytes_down;
    }
  }
  return more;
}

std::string FastPath::metrics() const {
  const std::vector<dp::Counters> per_worker = engine_->counters();
  std::string text = dp::render_prometheus(per_worker);
  if (signalling_) text += signalling_->metrics();
  if (ike_link_) text += ike_link_->metrics();
  text +=
      "# HELP simcore_flows_per_worker Stateful-firewall flows each worker's table holds.\n"
      "# TYPE simcore_flows_per_worker gauge\n"
      "simcore_flows_per_worker " +
      std::to_string(engine_->flow_entries()) +
      "\n"
      "# HELP simcore_flow_evictions_total Flows pushed out of a full flow table; their replies "
      "meet the inbound chain again.\n"
      "# TYPE simcore_flow_evictions_total counter\n";
  const std::vector<dp::WorkerStats> stats = engine_->worker_stats();
  for (size_t i = 0; i < stats.size(); ++i) {
    text += "simcore_flow_evictions_total{worker=\"" + std::to_string(i) + "\"} " +
            std::to_string(stats[i].flow_evictions) + "\n";
  }
  const auto hits = engine_->rule_hits();
  if (!hits.empty()) {
    text +=
        "# HELP simcore_rule_hits_total Packets decided by each firewall rule (API rule id).\n"
        "# TYPE simcore_rule_hits_total counter\n";
    for (const auto& [rule, n] : hits) {
      text += "simcore_rule_hits_total{rule=\"" + std::to_string(rule) + "\"} " +
              std::to_string(n) + "\n";
    }
  }
  return text;
}

}  // namespace simcore::ctl
