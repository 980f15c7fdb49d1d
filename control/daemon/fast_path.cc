#include "control/daemon/fast_path.h"

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
  if (core::Status st = dp::eal_init(eal); !st) return st.error().prefixed("dataplane: ");

  dp::EngineConfig e;
  e.workers = c.workers;
  e.access = {c.access.port, c.access.devargs};
  e.core = {c.core.port, c.core.devargs};
  e.idle_sleep_us = c.idle_sleep_us;
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
  return fp;
}

FastPath::~FastPath() {
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

bool FastPath::send_access(std::span<const uint8_t> frame) {
  rte_mbuf* m = rte_pktmbuf_alloc(engine_->pool());
  if (!m) return false;
  char* p = rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size()));
  if (!p) {
    rte_pktmbuf_free(m);
    return false;
  }
  std::memcpy(p, frame.data(), frame.size());
  return engine_->transmit(dp::Port::kAccess, m);
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
      } else if (!signalling_->on_frame({data, m->data_len}, now_ms)) {
        ++punts_unhandled_;  // IKE: IPsec is not served yet
      }
      rte_pktmbuf_free(m);
    }
  }
  // Every round, even without frames: sessions the API ended and retransmissions.
  const std::vector<uint32_t> ended = service.take_ended_sessions();
  signalling_->finish(ended, now_ms);
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
