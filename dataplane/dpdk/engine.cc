#include "dataplane/dpdk/engine.h"

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_ring.h>
#include <rte_spinlock.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bitset>
#include <cstring>
#include <map>
#include <mutex>
#include <span>

#include "core/check.h"
#include "core/table_lookup.h"
#include "dataplane/dpdk/fast_lookup.h"
#include "dataplane/dpdk/mbuf_pool.h"
#include "dataplane/flow_table.h"

namespace simcore::dp {
namespace {

constexpr unsigned kBurst = 32;

// Worker lcores held by the engines of this process.
std::mutex g_lcores_mu;
std::bitset<RTE_MAX_LCORE> g_lcores_taken;

// rte objects need process-unique names; several engines live in one test process.
std::string unique_name(const char* what) {
  static std::atomic<unsigned> next{0};
  return std::string("sc_") + what + std::to_string(next.fetch_add(1));
}

core::Error rte_failure(const std::string& what) {
  return core::Error(core::Code::kUnavailable, what + ": " + rte_strerror(rte_errno));
}

// TSC → ns as a 32.32 fixed-point multiply (no double conversion per burst).
uint64_t ns_of_tsc(uint64_t tsc) noexcept {
  static const uint64_t ns_per_tsc_q32 = (uint64_t{1'000'000'000} << 32) / rte_get_tsc_hz();
  return static_cast<uint64_t>((static_cast<unsigned __int128>(tsc) * ns_per_tsc_q32) >> 32);
}

// PREFETCHW: a line fetched for writing, in one coherence transaction where a load and then a
// store take two. DPDK's rte_prefetch0_write compiles to a plain prefetcht0 under the
// -march=corei7 of its pkg-config flags. Needs the PRFCHW feature, which these machines have
// (3dnowprefetch in /proc/cpuinfo).
void prefetch_for_write(const void* p) noexcept {
#if defined(__x86_64__)
  asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 1, 3);
#endif
}

// Spreads UE addresses over workers. Multiplicative hashing: consecutive pool addresses (the
// common case) land on different workers.
unsigned owner_of_addr(uint32_t addr, unsigned workers) noexcept {
  const uint32_t h = addr * 0x9e3779b1u;
  return static_cast<unsigned>((uint64_t{h} * workers) >> 32);
}

// The policy decision on the snapshot's DPDK tables with the worker's own flow table.
struct FastClassifier {
  const FastTables& tables;
  FlowTable& flows;
  core::Decision operator()(const core::PacketDesc& p) const noexcept {
    return fast_lookup(tables, p, flows);
  }
};

}  // namespace

struct Engine::Worker {
  Worker(Engine& e, unsigned i, unsigned lc, core::Publisher<Snapshot>::Reader r, size_t flows_n)
      : engine(e), index(i), lcore(lc), reader(std::move(r)), flows(flows_n) {}
  Engine& engine;
  const unsigned index;
  const unsigned lcore;
  rte_ring* handoff = nullptr;  // frames other workers received for this one (MP/SC)
  core::Publisher<Snapshot>::Reader reader;
  FlowTable flows;
  WorkerContext ctx;
  ThingCounterTable things;
  RuleHits rules;
  WorkerStats stats{};
  // Frames processed in this burst, by the port they leave (transmitted together).
  rte_mbuf* out[kPortCount][kBurst * 4];
  // ESP frames of this burst, decrypted after its other frames, with where their outer IPv4
  // packet is (as parsed on arrival).
  rte_mbuf* esp_in[kBurst * 4];
  EspAt esp_in_at[kBurst * 4];
  unsigned esp_in_count = 0;
  unsigned out_count[kPortCount] = {0, 0};
};

Engine::Engine(const EngineConfig& config) : config_(config), publisher_(config.workers + 1) {
  for (auto& port : tx_lock_) {
    for (rte_spinlock_t& l : port) rte_spinlock_init(&l);
  }
}

core::Result<std::unique_ptr<Engine>> Engine::create(const EngineConfig& config) {
  if (config.workers == 0 || config.workers > kMaxWorkers) {
    return core::Error::invalid("workers", "must be 1 to " + std::to_string(kMaxWorkers));
  }
  if (rte_lcore_count() < config.workers + 1) {
    return core::Error::invalid("workers", std::to_string(config.workers) +
                                               " workers need as many EAL lcores beyond the main "
                                               "one; EAL has " +
                                               std::to_string(rte_lcore_count()));
  }
  if (!FlowTable::valid_capacity(config.flow_entries)) {
    return core::Error::invalid("flow_entries", "must be a power of two of at least " +
                                                    std::to_string(FlowTable::kProbe));
  }
  std::unique_ptr<Engine> e(new Engine(config));
  const int socket = static_cast<int>(rte_socket_id());
  e->pool_ = config.packed_mbufs && !rte_eal_has_hugepages()
                 ? create_packed_mbuf_pool(unique_name("pool"), config.mbufs, 256, socket)
                 : rte_pktmbuf_pool_create(unique_name("pool").c_str(), config.mbufs, 256, 0,
                                           RTE_MBUF_DEFAULT_BUF_SIZE, socket);
  if (e->pool_ == nullptr) return rte_failure("mbuf pool");

  const auto n = static_cast<uint16_t>(config.workers);
  auto access = EthPort::open(config.access, n, n, config.ring_size, e->pool_);
  if (!access.ok()) return access.error();
  e->access_ = std::make_unique<EthPort>(std::move(*access));
  auto core_port = EthPort::open(config.core, n, n, config.ring_size, e->pool_);
  if (!core_port.ok()) return core_port.error();
  e->core_ = std::make_unique<EthPort>(std::move(*core_port));
  // A port MAC left zero in the config is the port's own (what a real NIC or vdev reports).
  auto fill = [](Mac& mac, const rte_ether_addr& port) {
    if (mac == Mac{})
      std::copy(std::begin(port.addr_bytes), std::end(port.addr_bytes), mac.begin());
  };
  fill(e->config_.addressing.access_mac, e->access_->mac());
  fill(e->config_.addressing.core_mac, e->core_->mac());

  e->punt_ =
      rte_ring_create(unique_name("punt").c_str(), config.ring_size, SOCKET_ID_ANY, RING_F_SC_DEQ);
  if (e->punt_ == nullptr) return rte_failure("punt ring");
  if (config.record_ring > 0) {
    e->records_ = rte_ring_create_elem(unique_name("rec").c_str(), sizeof(Record),
                                       rte_align32pow2(config.record_ring), SOCKET_ID_ANY,
                                       RING_F_SC_DEQ | RING_F_EXACT_SZ);
    if (e->records_ == nullptr) return rte_failure("record ring");
  }
  for (rte_ring*& r : e->control_tx_) {
    r = rte_ring_create(unique_name("ctx").c_str(), config.ring_size, SOCKET_ID_ANY,
                        RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (r == nullptr) return rte_failure("control tx ring");
  }

  // Worker lcores not already taken by another engine of this process (two gateways in one
  // test, a replay next to a live engine).
  std::vector<unsigned> lcores;
  {
    std::lock_guard lock(g_lcores_mu);
    for (unsigned lc = rte_get_next_lcore(-1, 1, 0);
         lc < RTE_MAX_LCORE && lcores.size() < config.workers; lc = rte_get_next_lcore(lc, 1, 0)) {
      if (!g_lcores_taken[lc]) lcores.push_back(lc);
    }
    if (lcores.size() < config.workers) {
      return core::Error::invalid("workers", std::to_string(config.workers) +
                                                 " workers need as many free EAL lcores; other "
                                                 "engines of this process hold the rest");
    }
    for (unsigned lc : lcores) g_lcores_taken[lc] = true;
    e->lcores_ = lcores;
  }
  for (unsigned i = 0; i < config.workers; ++i) {
    const unsigned lcore = lcores[i];
    auto reader = e->publisher_.make_reader();
    if (!reader.ok()) return reader.error();
    auto w = std::make_unique<Worker>(*e, i, lcore, std::move(*reader), config.flow_entries);
    w->handoff = rte_ring_create(unique_name("handoff").c_str(), config.ring_size * 2,
                                 SOCKET_ID_ANY, RING_F_SC_DEQ);
    if (w->handoff == nullptr) return rte_failure("handoff ring");
    e->workers_.push_back(std::move(w));
  }
  return e;
}

Engine::~Engine() {
  stop();
  auto drain = [](rte_ring* r) {
    if (r == nullptr) return;
    void* m = nullptr;
    while (rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    rte_ring_free(r);
  };
  for (auto& w : workers_) drain(w->handoff);
  drain(punt_);
  for (rte_ring* r : control_tx_) drain(r);
  rte_ring_free(records_);
  workers_.clear();  // readers unregister before the publisher goes
  {
    std::lock_guard lock(g_lcores_mu);
    for (unsigned lc : lcores_) g_lcores_taken[lc] = false;
  }
  {
    std::lock_guard lock(current_mu_);
    current_.reset();
  }
  access_.reset();
  core_.reset();
  rte_mempool_free(pool_);
}

core::Status Engine::publish(std::shared_ptr<const core::CompiledTables> tables) {
  auto fast = FastTables::build(tables, current_ == nullptr ? nullptr : current_->fast.get());
  if (!fast.ok()) return fast.error();
  for (auto& w : workers_) w->things.ensure(tables->sessions.size());
  auto snap = std::make_shared<Snapshot>();
  snap->tables = std::move(tables);
  snap->fast = std::move(*fast);
  if (current_ != nullptr) snap->esp = current_->esp;
  {
    std::lock_guard lock(current_mu_);
    current_ = snap;
  }
  publisher_.publish(std::move(snap));
  return core::Status::Ok();
}

core::Status Engine::publish_sad(const std::vector<EspSaSpec>& sas) {
  if (current_ == nullptr) {
    return core::Error(core::Code::kFailedPrecondition, "publish tables before SAs");
  }
  if (!sas.empty() && crypto_ == nullptr) {
    auto c = EspCrypto::create();
    if (!c.ok()) return c.error();
    crypto_ = std::move(*c);
  }
  auto same = [](const EspSaSpec& a, const EspSaSpec& b) {
    return a.spi == b.spi && a.dst == b.dst && a.inbound == b.inbound && a.src == b.src &&
           a.tunnel_id == b.tunnel_id && a.encap == b.encap && a.sport == b.sport &&
           a.dport == b.dport && a.enc_alg == b.enc_alg && a.int_alg == b.int_alg &&
           a.enc_key == b.enc_key && a.int_key == b.int_key && a.esn == b.esn;
  };
  auto table = std::make_shared<EspTable>();
  for (const EspSaSpec& spec : sas) {
    std::shared_ptr<EspSa> kept;
    if (current_->esp != nullptr) {
      for (const auto& sa : current_->esp->sas) {
        if (same(sa->spec(), spec)) kept = sa;
      }
    }
    if (kept == nullptr) {
      auto made = EspSa::create(*crypto_, spec);
      if (!made.ok()) return made.error().prefixed("SA " + std::to_string(spec.spi) + ": ");
      kept = std::move(*made);
    }
    table->sas.push_back(std::move(kept));
  }
  table->index();
  auto snap = std::make_shared<Snapshot>(*current_);
  snap->esp = std::move(table);
  {
    std::lock_guard lock(current_mu_);
    current_ = snap;
  }
  publisher_.publish(std::move(snap));
  return core::Status::Ok();
}

uint64_t Engine::clock_ns() noexcept { return ns_of_tsc(rte_rdtsc()); }

bool Engine::sa_usage(uint32_t spi, uint32_t dst, EspUse& use) const {
  std::shared_ptr<const Snapshot> snap;
  {
    std::lock_guard lock(current_mu_);
    snap = current_;
  }
  if (snap == nullptr || snap->esp == nullptr) return false;
  for (const auto& sa : snap->esp->sas) {
    if (sa->spec().spi == spi && sa->spec().dst == dst) {
      use = sa->total();
      return true;
    }
  }
  return false;
}

uint64_t Engine::generation() const noexcept {
  return current_ == nullptr ? 0 : current_->tables->generation;
}

core::Status Engine::start() {
  if (running_) return core::Status::Ok();
  if (current_ == nullptr) {
    return core::Error(core::Code::kFailedPrecondition, "publish tables before starting");
  }
  stop_.store(false, std::memory_order_relaxed);
  for (auto& w : workers_) {
    const int rc = rte_eal_remote_launch(&Engine::worker_main, w.get(), w->lcore);
    if (rc != 0) {
      stop();
      return core::Error(core::Code::kUnavailable,
                         "lcore " + std::to_string(w->lcore) + " is busy: " + rte_strerror(-rc));
    }
    running_ = true;
  }
  return core::Status::Ok();
}

void Engine::stop() {
  if (!running_) return;
  stop_.store(true, std::memory_order_relaxed);
  for (auto& w : workers_) rte_eal_wait_lcore(w->lcore);
  running_ = false;
}

size_t Engine::receive_punted(std::span<rte_mbuf*> out) noexcept {
  return rte_ring_dequeue_burst(punt_, reinterpret_cast<void**>(out.data()),
                                static_cast<unsigned>(out.size()), nullptr);
}

bool Engine::transmit(Port port, rte_mbuf* frame) noexcept {
  if (port == Port::kNone || rte_ring_enqueue(control_tx_[static_cast<size_t>(port)], frame) != 0) {
    rte_pktmbuf_free(frame);
    return false;
  }
  return true;
}

size_t Engine::drain_records(std::span<Record> out) noexcept {
  if (records_ == nullptr) return 0;
  return rte_ring_sc_dequeue_burst_elem(records_, out.data(), sizeof(Record),
                                        static_cast<unsigned>(out.size()), nullptr);
}

std::vector<Counters> Engine::counters() const {
  std::vector<Counters> out;
  for (const auto& w : workers_) out.push_back(w->ctx.counters);
  return out;
}

std::vector<WorkerStats> Engine::worker_stats() const {
  std::vector<WorkerStats> out;
  for (const auto& w : workers_) out.push_back(w->stats);
  return out;
}

Counters Engine::total() const {
  Counters sum{};
  for (const auto& w : workers_) {
    const auto* src = reinterpret_cast<const uint64_t*>(&w->ctx.counters);
    auto* dst = reinterpret_cast<uint64_t*>(&sum);
    static_assert(sizeof(Counters) % sizeof(uint64_t) == 0);
    for (size_t i = 0; i < sizeof(Counters) / sizeof(uint64_t); ++i) dst[i] += src[i];
  }
  return sum;
}

ThingCounters Engine::thing_counters(uint32_t slot) const noexcept {
  ThingCounters sum{};
  for (const auto& w : workers_) {
    const ThingCounters c = w->things.read(slot);
    sum.up_packets += c.up_packets;
    sum.up_bytes += c.up_bytes;
    sum.down_packets += c.down_packets;
    sum.down_bytes += c.down_bytes;
    sum.blocked += c.blocked;
  }
  return sum;
}

std::vector<std::pair<uint32_t, uint64_t>> Engine::rule_hits() const {
  std::map<uint32_t, uint64_t> sum;
  for (const auto& w : workers_) {
    for (const auto& [id, n] : w->rules.snapshot()) sum[id] += n;
  }
  return {sum.begin(), sum.end()};
}

int Engine::worker_main(void* arg) {
  auto* w = static_cast<Worker*>(arg);
  w->engine.run(*w);
  return 0;
}

namespace {

// The worker that owns the frame's Thing; `self` when the frame names no Thing (malformed,
// not GTP-U, ...): it is counted wherever it was received.
unsigned owner_of(const rte_mbuf* m, Port in, const core::CompiledTables& t, unsigned self,
                  unsigned workers) noexcept {
  PacketView v;
  const auto* data = rte_pktmbuf_mtod(m, const uint8_t*);
  if (in == Port::kAccess) {
    if (parse_frame(data, m->data_len, ParseMode::kAccess, v) != ParseStatus::kOk ||
        v.inner_version != 4) {
      return self;
    }
    return owner_of_addr(v.inner.src, workers);
  }
  if (parse_frame(data, m->data_len, ParseMode::kCore, v) != ParseStatus::kOk) return self;
  // Downlink to a port-forwarded public address belongs to the Thing behind it.
  uint32_t dst = v.outer.dst;
  if (const core::NatRow* nat = core::find_nat_in(t, core::to_be(core::Ipv4{dst}), v.outer.proto,
                                                  core::port_be(v.outer.dport))) {
    dst = core::from_be(nat->thing_ip).value;
  }
  return owner_of_addr(dst, workers);
}

// The record of a frame about to be processed (the outcome is filled in after).
Record record_of(const rte_mbuf* m, Port in, uint64_t generation) noexcept {
  Record r{};
  r.generation = generation;
  r.in = in;
  PacketView v;
  (void)parse_frame(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len,
                    in == Port::kAccess ? ParseMode::kAccess : ParseMode::kCore, v);
  const Ipv4View& ip = v.inner_version == 4 ? v.inner : v.outer;
  const uint8_t* hdr = rte_pktmbuf_mtod(m, const uint8_t*) + ip.off;
  if (ip.hdr_len != 0) {
    r.src = ip.src;
    r.ip_id = static_cast<uint16_t>(hdr[4] << 8 | hdr[5]);
  }
  return r;
}

// Charges the packet to the Things it belongs to: sent uplink (forward, hairpin) counts for
// the sender, delivered (downlink, hairpin) for the receiver, a firewall drop for the Thing
// whose chain denied it.
void count_things(const Outcome& o, Port in, ThingCounterTable& t) noexcept {
  if (!o.policed) return;
  auto charge = [&](uint32_t slot, auto&& fn) {
    if (slot == core::kNoThing.value) return;
    if (ThingCounters* c = t.find(slot)) {
      fn(*c);
    } else {
      ++t.unpaged;
    }
  };
  if (o.policy_drop == core::DropReason::kUplinkFirewall) {
    charge(o.thing, [](ThingCounters& c) { ++c.blocked; });
  } else if (o.policy_drop == core::DropReason::kDownlinkFirewall) {
    charge(o.target, [](ThingCounters& c) { ++c.blocked; });
  }
  if (o.drop != PipelineDrop::kNone || o.out == Port::kNone) return;
  if (in == Port::kAccess) {
    charge(o.thing, [&](ThingCounters& c) {
      ++c.up_packets;
      c.up_bytes += o.inner_len;
    });
  }
  if (o.verdict == core::Verdict::kHairpin || o.verdict == core::Verdict::kDeliver) {
    charge(o.target, [&](ThingCounters& c) {
      ++c.down_packets;
      c.down_bytes += o.inner_len;
    });
  }
}

// The ESP stage's batching: calls fn(members, n) once per distinct key among items
// 0..count-1, in the order of each key's first item, with that key's items in arrival order
// (at most kMaxGroup per call: a key with more gets another call). rte_ipsec and the crypto
// PMD cost a lot per call, so a burst is encrypted or decrypted in one call per SA.
template <unsigned kMaxItems, unsigned kMaxGroup, class KeyOf, class Fn>
void for_each_group(unsigned count, KeyOf key_of, Fn fn) noexcept {
  bool taken[kMaxItems] = {};
  for (unsigned i = 0; i < count; ++i) {
    if (taken[i]) continue;
    const auto key = key_of(i);
    unsigned members[kMaxGroup];
    members[0] = i;
    taken[i] = true;
    uint16_t n = 1;
    for (unsigned j = i + 1; j < count && n < kMaxGroup; ++j) {
      if (taken[j] || key_of(j) != key) continue;
      taken[j] = true;
      members[n++] = j;
    }
    fn(members, n);
  }
}

// EspSa::encrypt/decrypt keep a call's order when every packet succeeds; after a failure the
// survivors come first. Returns the member whose mbuf is `m`.
template <class MbufOf>
unsigned member_of(const rte_mbuf* m, const unsigned* members, uint16_t n,
                   MbufOf mbuf_of) noexcept {
  for (uint16_t g = 0; g < n; ++g) {
    if (mbuf_of(members[g]) == m) return members[g];
  }
  return members[0];  // not reached: m is one of them
}

}  // namespace

unsigned Engine::esp_decrypt(Worker& w, const Snapshot& snap, rte_mbuf* const* in, const EspAt* at,
                             unsigned n, rte_mbuf** out) noexcept {
  Counters& c = w.ctx.counters;
  auto drop = [&](rte_mbuf* m, PipelineDrop why) {
    Outcome o;
    detail::drop(o, why, c);
    rte_pktmbuf_free(m);
  };
  // Per frame: the outer packet alone (no Ethernet, no padding after it) and its SA.
  rte_mbuf* ready[kBurst * 4];
  EspSa* sa_of[kBurst * 4];
  unsigned n_ready = 0;
  // A burst's ESP frames mostly come from one SA: its lookup serves the frames that follow
  // with the same SPI (the SA's binary search took 36 instructions a frame in esp_bench's
  // decap, callgrind).
  uint32_t last_spi = 0;
  EspSa* last_sa = nullptr;
  for (unsigned i = 0; i < n; ++i) {
    rte_mbuf* m = in[i];
    // begin_frame parsed the frame whole before sending it here: not parsed again (parse_frame
    // of a downlink frame counted 189 instructions in callgrind before the checksum change of
    // 2026-11-29). Its outer packet lies within the frame; the check only guards that.
    const uint32_t len = at[i].len;
    if (uint32_t{at[i].off} + len > m->data_len) {
      drop(m, PipelineDrop::kEspMalformed);
      continue;
    }
    const uint8_t* ip = rte_pktmbuf_mtod(m, const uint8_t*) + at[i].off;
    const uint32_t spi = esp_spi(ip, len);
    if (last_sa == nullptr || spi != last_spi) {
      last_spi = spi;
      last_sa = snap.esp == nullptr ? nullptr : snap.esp->find_inbound(spi);
    }
    EspSa* sa = last_sa;
    if (sa == nullptr) {
      drop(m, PipelineDrop::kEspUnknownSpi);
      continue;
    }
    if (!sa->well_formed(ip, len)) {
      drop(m, PipelineDrop::kEspMalformed);
      continue;
    }
    rte_pktmbuf_adj(m, at[i].off);
    rte_pktmbuf_trim(m, static_cast<uint16_t>(m->pkt_len - len));
    ready[n_ready] = m;
    sa_of[n_ready++] = sa;
  }
  // One decrypt call per SA; the survivors are put back in arrival order (replays match
  // records to frames by it).
  rte_mbuf* result[kBurst * 4];
  for_each_group<kBurst * 4, kBurst>(
      n_ready, [&](unsigned j) { return sa_of[j]; },
      [&](const unsigned* members, uint16_t g) {
        EspSa* sa = sa_of[members[0]];
        rte_mbuf* mb[kBurst];
        for (uint16_t k = 0; k < g; ++k) {
          result[members[k]] = nullptr;
          mb[k] = ready[members[k]];
        }
        uint16_t refused = 0;
        const uint16_t ok = sa->decrypt(mb, g, w.index, w.ctx.now_ns, refused);
        for (uint16_t k = 0; k < ok; ++k) {
          const unsigned j =
              ok == g ? members[k]
                      : member_of(mb[k], members, g, [&](unsigned x) { return ready[x]; });
          result[j] = mb[k];
        }
        for (uint16_t k = ok; k < g; ++k) {
          drop(mb[k], k - ok < refused ? PipelineDrop::kEspReplay : PipelineDrop::kEspAuthFailed);
        }
      });
  unsigned n_out = 0;
  // The tunnel's selectors are looked up once per run of one SA's packets, as its SA was
  // (per packet, that search took 57 instructions in the same run).
  const EspSa* selectors_of = nullptr;  // the SA whose tunnel's selectors are in `selectors`
  std::span<const core::Cidr> selectors;
  for (unsigned j = 0; j < n_ready; ++j) {
    rte_mbuf* m = result[j];
    if (m == nullptr) continue;
    if (sa_of[j] != selectors_of) {
      selectors_of = sa_of[j];
      selectors = snap.fast->tunnel_selectors(selectors_of->spec().tunnel_id);
    }
    const uint8_t* inner = rte_pktmbuf_mtod(m, const uint8_t*);
    if (m->pkt_len < 20 || (inner[0] >> 4) != 4 ||
        // RFC 4301 §5.2: a decrypted packet must match its SA's traffic selectors, the
        // tunnel's remote subnets.
        !FastTables::inside(selectors, load_be32(inner + 12))) {
      drop(m, PipelineDrop::kEspPolicy);
      continue;
    }
    // As if it had arrived so on the core port: the downlink pipeline takes it from here.
    auto* eth = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, kEthHeaderLen));
    if (eth == nullptr) {
      drop(m, PipelineDrop::kNoHeadroom);
      continue;
    }
    const Mac& mac = config_.addressing.core_mac;
    std::copy(mac.begin(), mac.end(), eth);
    std::memset(eth + 6, 0, 6);
    eth[12] = static_cast<uint8_t>(kEtherTypeIpv4 >> 8);
    eth[13] = static_cast<uint8_t>(kEtherTypeIpv4 & 0xff);
    m->port = core_->id();
    ++c.esp_decrypted;
    out[n_out++] = m;
  }
  return n_out;
}

void Engine::run(Worker& w) {
  const unsigned n_workers = static_cast<unsigned>(workers_.size());
  const EthPort* ports[kPortCount] = {access_.get(), core_.get()};
  rte_mbuf* rx[kBurst];
  rte_mbuf* mine[kBurst * 4];
  Port mine_port[kBurst * 4];
  // Frames between the pipeline's two phases (see the loop below).
  constexpr unsigned kWindow = kFastBurstMax;
  struct WindowFrame {
    rte_mbuf* m;
    Frame f;
    Pending p;
  };
  WindowFrame win[kWindow];
  core::PacketDesc win_desc[kWindow];
  core::Decision win_decision[kWindow];
  Record win_rec[kWindow];  // records_ only
  // Each frame's outcome (finish_frame assigns it whole) and the window's frames bound for
  // tunnels. Declared once, not per poll: Outcome's default members made the declaration a
  // loop of 192 stores on every poll, idle ones included (perf put most of Engine::run's own
  // samples there, 2026-11-29).
  Outcome win_out[kWindow];
  unsigned esp_k[kWindow];
  unsigned idle = 0;

  auto port_of = [&](const rte_mbuf* m) {
    return m->port == access_->id() ? Port::kAccess : Port::kCore;
  };
  auto flush = [&](size_t p) {
    const EthPort& port = *ports[p];
    unsigned n = w.out_count[p];
    if (n == 0) return;
    const uint16_t q = static_cast<uint16_t>(w.index % port.tx_queues());
    const bool shared = port.tx_queues() < n_workers;
    if (shared) rte_spinlock_lock(&tx_lock_[p][q]);
    const uint16_t sent = rte_eth_tx_burst(port.id(), q, w.out[p], static_cast<uint16_t>(n));
    if (shared) rte_spinlock_unlock(&tx_lock_[p][q]);
    for (unsigned i = sent; i < n; ++i) rte_pktmbuf_free(w.out[p][i]);
    w.stats.tx_full += n - sent;
    w.out_count[p] = 0;
  };

  w.reader.online();
  while (!stop_.load(std::memory_order_relaxed)) {
    const Snapshot* snap = w.reader.acquire();
    const core::CompiledTables& tables = *snap->tables;
    FastClassifier classify{*snap->fast, w.flows};
    unsigned n_mine = 0;
    unsigned work = 0;

    for (size_t p = 0; p < kPortCount; ++p) {
      if (w.index >= ports[p]->rx_queues()) continue;
      const uint16_t n =
          rte_eth_rx_burst(ports[p]->id(), static_cast<uint16_t>(w.index), rx, kBurst);
      work += n;
      for (uint16_t i = 0; i < n; ++i) {
        const unsigned owner =
            n_workers == 1 ? w.index
                           : owner_of(rx[i], static_cast<Port>(p), tables, w.index, n_workers);
        if (owner == w.index) {
          mine_port[n_mine] = static_cast<Port>(p);
          mine[n_mine++] = rx[i];
        } else if (rx[i]->port = ports[p]->id();  // not every PMD sets it (net_ring does not)
                   rte_ring_mp_enqueue(workers_[owner]->handoff, rx[i]) == 0) {
          ++w.stats.handed_off;
        } else {
          ++w.stats.handoff_full;
          rte_pktmbuf_free(rx[i]);
        }
      }
    }
    if (n_workers > 1) {
      const unsigned n =
          rte_ring_sc_dequeue_burst(w.handoff, reinterpret_cast<void**>(rx), kBurst, nullptr);
      work += n;
      for (unsigned i = 0; i < n; ++i) {
        mine_port[n_mine] = port_of(rx[i]);
        mine[n_mine++] = rx[i];
      }
    }

    // The burst's clock, read only when there is something to process: rdtsc is slow under a
    // hypervisor and an idle poll does not need it.
    const uint64_t tsc_start = n_mine != 0 ? rte_rdtsc() : 0;
    if (n_mine != 0) {
      w.ctx.now_ns = ns_of_tsc(tsc_start);
      w.flows.set_now(w.ctx.now_ns);
    }

    // The first touch of a frame's bytes is a cache miss (the NIC, or another core, wrote
    // them): start loading a few frames ahead so the misses overlap the work on this one.
    // Two lines: a G-PDU's inner IPv4 header starts at byte 50 and ends in the second. The
    // mbuf's own first line (buf_addr, data_off, lengths) is needed to find them, and is a
    // miss as well: it is loaded twice as far ahead.
    constexpr unsigned kPrefetchAhead = 4;
    auto prefetch = [](const rte_mbuf* m) {
      const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
      rte_prefetch0(d);
      rte_prefetch0(d + RTE_CACHE_LINE_SIZE);
    };
    for (unsigned i = 0; i < std::min(n_mine, 2 * kPrefetchAhead); ++i) rte_prefetch0(mine[i]);
    for (unsigned i = 0; i < std::min(n_mine, kPrefetchAhead); ++i) prefetch(mine[i]);
    // The frames of the burst go through the pipeline's first phase one by one, the lookups of
    // a window of them at once (fast_lookup_burst: bulk hash lookups, rte_acl on many keys),
    // then the second phase in arrival order. The window closes early at a frame whose second
    // phase may classify again (an ICMP error to an uplink sender), so that lookup sees the
    // flows of the frames before it only — every decision is the one sequential processing
    // makes.
    unsigned n_win = 0, n_desc = 0;
    // A frame's final outcome: per-Thing counters, rule hits, its record, and where it goes.
    auto emit = [&](unsigned k, const Outcome& o) {
      WindowFrame& wf = win[k];
      rte_mbuf* m = wf.m;
      count_things(o, wf.p.in, w.things);
      // The rule that decided (0: a chain's default action, not a rule; a flow: neither).
      if (o.policed && o.rule_id != core::kFlowRuleId) w.rules.hit(o.rule_id);
      if (records_ != nullptr) {
        win_rec[k].outcome = o;
        if (rte_ring_mp_enqueue_elem(records_, &win_rec[k], sizeof(Record)) != 0) {
          ++w.stats.records_lost;
        }
      }
      if (o.out == Port::kNone) {
        rte_pktmbuf_free(m);
        return;
      }
      if (o.out == Port::kControl) {  // untouched: control parses it again
        if (rte_ring_mp_enqueue(punt_, m) != 0) {
          ++w.stats.punt_full;
          rte_pktmbuf_free(m);
        }
        return;
      }
      if (o.out == Port::kEspIn) {  // untouched: decrypted after the burst's other frames
        w.esp_in_at[w.esp_in_count] = {wf.p.v.outer.off, wf.p.v.outer.total_len};
        w.esp_in[w.esp_in_count++] = m;
        return;
      }
      m->data_off = static_cast<uint16_t>(wf.f.data_off);
      m->data_len = static_cast<uint16_t>(wf.f.data_len);
      m->pkt_len = wf.f.data_len;
      const size_t p = static_cast<size_t>(o.out);
      w.out[p][w.out_count[p]++] = m;
    };
    // The window's frames bound for tunnels, encrypted together: one call per SA (rte_ipsec and
    // the crypto PMD cost a lot per call), then each leaves toward its peer. Outcomes are
    // emitted in the frames' order all the same (replays match records to frames by it).
    auto encrypt_window = [&](unsigned n_esp) {
      Counters& c = w.ctx.counters;
      for_each_group<kWindow, kWindow>(
          n_esp, [&](unsigned i) { return win_out[esp_k[i]].tunnel; },
          [&](const unsigned* members, uint16_t n) {
            const uint32_t tunnel = win_out[esp_k[members[0]]].tunnel;
            EspSa* sa = snap->esp == nullptr ? nullptr : snap->esp->find_outbound(tunnel);
            if (sa == nullptr) {
              for (uint16_t g = 0; g < n; ++g) {
                detail::drop(win_out[esp_k[members[g]]], PipelineDrop::kUplinkTunnelUnavailable, c);
              }
              return;
            }
            rte_mbuf* mb[kWindow];
            for (uint16_t g = 0; g < n; ++g) {
              WindowFrame& wf = win[esp_k[members[g]]];
              wf.m->data_off = static_cast<uint16_t>(wf.f.data_off);
              wf.m->data_len = static_cast<uint16_t>(wf.f.data_len);
              wf.m->pkt_len = wf.f.data_len;
              mb[g] = wf.m;
            }
            const uint16_t ok = sa->encrypt(mb, n, w.index, w.ctx.now_ns);
            for (uint16_t b = 0; b < n; ++b) {
              const unsigned i = ok == n ? members[b]
                                         : member_of(mb[b], members, n,
                                                     [&](unsigned x) { return win[esp_k[x]].m; });
              WindowFrame& wf = win[esp_k[i]];
              Outcome& o = win_out[esp_k[i]];
              if (b >= ok) {
                detail::drop(o, PipelineDrop::kEspEncryptFailed, c);
                continue;
              }
              wf.f = Frame{{static_cast<uint8_t*>(wf.m->buf_addr), wf.m->buf_len},
                           wf.m->data_off,
                           wf.m->data_len};
              esp_leave(config_.addressing, neighbours_, w.ctx, wf.f, sa->spec().dst, o);
            }
          });
    };
    auto finish_window = [&] {
      if (n_desc != 0) {
        fast_lookup_burst(*snap->fast, win_desc, static_cast<uint16_t>(n_desc), w.flows,
                          win_decision);
        // The Things' counters, which emit() updates after the window's second phase.
        for (unsigned j = 0; j < n_desc; ++j) {
          w.things.prefetch(win_decision[j].thing.value);
          w.things.prefetch(win_decision[j].target.value);
        }
      }
      unsigned n_esp = 0;
      for (unsigned k = 0, j = 0; k < n_win; ++k) {
        WindowFrame& wf = win[k];
        const core::Decision* d = wf.p.step == Step::kDecide ? &win_decision[j++] : nullptr;
        finish_frame(classify, config_.addressing, neighbours_, wf.f, w.ctx, wf.p, d, win_out[k]);
        if (win_out[k].out == Port::kEsp) {
          esp_k[n_esp++] = k;
          // rte_ipsec appends the ESP trailer (padding, pad length, next header, ICV: at most
          // 21 bytes) right behind the packet: the first write to a line the sender's core
          // wrote last. perf put ~13% of the worker at 1400 B on the entry of rte_ipsec's
          // outbound prepare, most likely stores queued behind that one. Owning the line
          // before the window's encryption took those samples away. Measured in esp_bench at
          // 1400 B, 4 alternating rounds: encap 25.8 -> 27.3% of raw AES-GCM with the stock
          // pool, 23.2 -> 28.7% with packed mbufs. The same for decap's ICV line was worse on
          // the stock pool (25.0 -> 22.3%).
          const uint8_t* end = wf.f.data() + wf.f.data_len;
          prefetch_for_write(end);
          prefetch_for_write(end + 20);
        }
      }
      if (n_esp != 0) encrypt_window(n_esp);
      for (unsigned k = 0; k < n_win; ++k) emit(k, win_out[k]);
      n_win = n_desc = 0;
    };
    // Each frame into the window; the window's second phase runs when it is full or must close.
    for (unsigned i = 0; i < n_mine; ++i) {
      if (i + 2 * kPrefetchAhead < n_mine) rte_prefetch0(mine[i + 2 * kPrefetchAhead]);
      if (i + kPrefetchAhead < n_mine) prefetch(mine[i + kPrefetchAhead]);
      rte_mbuf* m = mine[i];
      const Port port = mine_port[i];
      if (m->nb_segs != 1) {  // the pipeline works on one contiguous frame
        ++w.stats.multi_segment;
        rte_pktmbuf_free(m);
        continue;
      }
      if (records_ != nullptr) {
        win_rec[n_win] = record_of(m, port, tables.generation);
        win_rec[n_win].worker = static_cast<uint8_t>(w.index);
      }
      WindowFrame& wf = win[n_win++];
      wf.m = m;
      wf.f = Frame{{static_cast<uint8_t*>(m->buf_addr), m->buf_len}, m->data_off, m->data_len};
      if (begin_frame(config_.addressing, port, wf.f, w.ctx, wf.p, win_desc[n_desc]) ==
          Step::kDecide) {
        ++n_desc;
      }
      if (n_win == kWindow || finish_may_classify(config_.addressing, wf.p)) finish_window();
    }
    if (n_win != 0) finish_window();

    // The burst's ESP frames, decrypted together (one call per SA); each continues as a
    // downlink packet, on the worker that owns its Thing. Each is classified on its own with
    // process(), not in the lookup windows: measured in esp_bench (decap, 2 alternating
    // rounds), the windows cost 1400-byte decap another 2-3 points of raw AES-GCM, while
    // batching the decryption took 64-byte decap from 1.8 to 2.3 Gbps.
    if (w.esp_in_count != 0) {
      rte_mbuf* clear[kBurst * 4];
      const unsigned n_clear = esp_decrypt(w, *snap, w.esp_in, w.esp_in_at, w.esp_in_count, clear);
      w.esp_in_count = 0;
      for (unsigned i = 0; i < n_clear; ++i) {
        rte_mbuf* m = clear[i];
        if (n_workers > 1) {
          const unsigned owner = owner_of(m, Port::kCore, tables, w.index, n_workers);
          if (owner != w.index) {
            if (rte_ring_mp_enqueue(workers_[owner]->handoff, m) == 0) {
              ++w.stats.handed_off;
            } else {
              ++w.stats.handoff_full;
              rte_pktmbuf_free(m);
            }
            continue;
          }
        }
        if (records_ != nullptr) {
          win_rec[0] = record_of(m, Port::kCore, tables.generation);
          win_rec[0].worker = static_cast<uint8_t>(w.index);
        }
        Frame f{{static_cast<uint8_t*>(m->buf_addr), m->buf_len}, m->data_off, m->data_len};
        const Outcome o = process(classify, config_.addressing, neighbours_, Port::kCore, f, w.ctx);
        count_things(o, Port::kCore, w.things);
        if (o.policed && o.rule_id != core::kFlowRuleId) w.rules.hit(o.rule_id);
        if (records_ != nullptr) {
          win_rec[0].outcome = o;
          if (rte_ring_mp_enqueue_elem(records_, &win_rec[0], sizeof(Record)) != 0) {
            ++w.stats.records_lost;
          }
        }
        if (o.out != Port::kCore && o.out != Port::kAccess) {  // never ESP or control again
          rte_pktmbuf_free(m);
          continue;
        }
        m->data_off = static_cast<uint16_t>(f.data_off);
        m->data_len = static_cast<uint16_t>(f.data_len);
        m->pkt_len = f.data_len;
        const size_t p = static_cast<size_t>(o.out);
        w.out[p][w.out_count[p]++] = m;
      }
    }

    if (w.index == 0) {  // control's frames leave through worker 0's queues
      for (size_t p = 0; p < kPortCount; ++p) {
        const unsigned room = static_cast<unsigned>(std::size(w.out[p])) - w.out_count[p];
        const unsigned n = rte_ring_sc_dequeue_burst(
            control_tx_[p], reinterpret_cast<void**>(w.out[p] + w.out_count[p]),
            std::min(room, kBurst), nullptr);
        w.out_count[p] += n;
        work += n;
      }
    }
    if (n_mine != 0) {
      w.stats.pipeline_cycles += rte_rdtsc() - tsc_start;
      w.stats.pipeline_frames += n_mine;
      w.stats.flow_evictions = w.flows.evictions();
    }
    for (size_t p = 0; p < kPortCount; ++p) flush(p);
    w.reader.quiescent();

    if (work != 0) {
      idle = 0;
    } else if (config_.idle_sleep_us != 0 && ++idle >= config_.idle_polls) {
      // Nothing for a while: let the other lcores (and control) have the CPU. Offline first so
      // a publish does not wait for a sleeper.
      w.reader.offline();
      ++w.stats.idle_sleeps;
      usleep(config_.idle_sleep_us);
      w.reader.online();
      idle = 0;
    }
  }
  w.reader.offline();
}

}  // namespace simcore::dp
