// ESP tunnel mode with AES-128-GCM per worker, next to the crypto PMD's own AES-GCM rate measured
// in the same run (the baseline: a ratio holds on a noisy shared machine, an absolute rate does
// not). Inner IPv4 packets of 64, 512 and 1400 bytes; Gbps always counts inner bytes.
//   BM_RawAesGcm/<size>        rte_cryptodev_sym_cpu_crypto_process on the crypto_aesni_gcm
//                              device EspCrypto made: 32 ops of <size> bytes (AAD 8, IV 12,
//                              tag 16) per call, in place, as rte_ipsec calls it for ESP.
//   BM_EspEncrypt/<size>/per_call:<n>/cold:<c>   EspSa::encrypt (decrypt) on 32 mbufs in calls
//   BM_EspDecrypt/<size>/per_call:<n>/cold:<c>   of n packets: 32, a burst; 1, what the engine's
//                              ESP stage does today. cold:1 evicts the bytes from the caches first
//                              (a NIC's DMA or another core wrote them).
//   BM_PipelineEspEncap/<size> the engine, 1 worker: uplink G-PDUs routed to an IPsec tunnel in
//                              on the access port, ESP out of the core port.
//   BM_PipelineEspDecap/<size> ESP in on the core port, delivered down GTP-U out of the access
//                              port.
//   BM_PipelinePlain{Uplink,Downlink}/<size>  the same engine and Things without IPsec.
// The micro-benchmarks run on the main lcore with manual time: only the transform is timed
// (rdtsc); resetting the mbufs, and for decrypt making fresh ESP packets, is not. Decrypt needs
// a new sequence number for every packet (anti-replay refuses a repeat whatever the window
// size), so each iteration first encrypts the burst with the mirrored outbound SA, untimed.
// The pipeline runs as engine_bench: the worker busy-polls net_ring ports on its own CPU while
// the main thread plays the wire and recycles a fixed population of frames (memcpy of a
// prepared frame per packet). Decap frames are ESP pre-encrypted once, with two inbound SAs
// (SPIs A and B) used in alternate passes over the pool; an SA is replaced by a fresh one (new
// replay window) once all of its pass has come back, long before its next pass starts.
// cycles_per_pkt is TSC cycles; for the pipeline, the worker polls all the time, so TSC / pps.
// gen_idle near 0 would mean the generator, not the worker, was the limit. vs_raw is Gbps over
// the BM_RawAesGcm Gbps at the same size reported earlier in the run. The shared machine's speed
// drifts by tens of percent within minutes, so every run also measures its own baseline at the
// same moments and on the same lcore: raw_here, the mean of a 50 ms BM_RawAesGcm-style loop just
// before and just after it (on the worker's lcore for the pipeline), and vs_raw_here = Gbps /
// raw_here. The ≥ 50% target is read from vs_raw_here. raw_here does not see what moving the
// frames between the CPUs costs, which halves the pipeline's rates on this VM in some minutes:
// line_rt is a cache line's round trip between the generator's CPU and the worker's, just
// before and just after the run (line_probe.h). The binary prints the medians and ratios at
// the end. SIMCORE_PACKED_MBUFS=1 (without hugepages) runs the engine on packed mbufs, as
// engine_bench does.
//   build-me/dataplane/dpdk/esp_bench --benchmark_repetitions=3
//       --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <rte_cryptodev.h>
#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <x86intrin.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/account.h"
#include "core/compiler.h"
#include "dataplane/dpdk/eal.h"
#include "dataplane/dpdk/engine.h"
#include "dataplane/dpdk/esp.h"
#include "dataplane/dpdk/line_probe.h"
#include "dataplane/packet/wire.h"
#include "dataplane/testing/frame_builder.h"

namespace simcore::dp {
namespace {

using testing::Bytes;
using testing::ip;

constexpr unsigned kBurst = 32;
constexpr unsigned kInFlight = 4096;            // frames circulating through the engine
constexpr unsigned kDecapPass = 4 * kInFlight;  // pre-encrypted ESP frames per inbound SA
constexpr unsigned kPipelineChunk = 250000;     // packets per benchmark iteration
constexpr size_t kThings = 200;

const PortConfig kPorts{ip("192.0.2.1"),       ip("203.0.113.1"),     Mac{2, 0, 0, 0, 1, 1},
                        Mac{2, 0, 0, 0, 1, 2}, Mac{2, 0, 0, 0, 2, 1}, Mac{2, 0, 0, 0, 2, 2}};
const uint32_t kPeer = ip("203.0.113.2");  // the other gateway, behind the core router
const uint32_t kEnb = ip("100.64.0.1");
const uint32_t kServer = ip("198.51.100.1");
constexpr uint32_t kSpiOut = 0xc0000001, kSpiInA = 0xc0000002, kSpiInB = 0xc0000003;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "esp_bench: %s\n", what.c_str());
  std::exit(1);
}
template <typename T>
T must(core::Result<T> r, const char* what) {
  if (!r.ok()) die(std::string(what) + ": " + r.error().message());
  return std::move(*r);
}
void must(const core::Status& s, const char* what) {
  if (!s.ok()) die(std::string(what) + ": " + s.error().message());
}

std::vector<uint8_t> gcm_key(uint8_t seed) {  // AES-128 key, then the 4-byte salt
  std::vector<uint8_t> k(20);
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(seed * 7 + 13 * i);
  return k;
}
EspSaSpec gcm_sa(uint32_t tunnel, uint32_t spi, bool inbound, uint32_t src, uint32_t dst,
                 uint8_t seed) {
  EspSaSpec s;
  s.tunnel_id = tunnel;
  s.spi = spi;
  s.inbound = inbound;
  s.src = src;
  s.dst = dst;
  s.enc_alg = kEncrAesGcm16;
  s.enc_key = gcm_key(seed);
  return s;
}

uint32_t thing_addr(size_t i) { return ip("10.20.0.0") + 10 + static_cast<uint32_t>(i); }
uint32_t remote_addr(size_t i) { return ip("10.30.0.0") + 1 + static_cast<uint32_t>(i % 250); }
uint32_t thing_teid(size_t i) { return 0x1000 + static_cast<uint32_t>(i); }

// An inner IPv4/UDP packet of exactly `size` bytes (≥ 28).
Bytes inner_packet(uint32_t src, uint32_t dst, size_t size, uint16_t id) {
  testing::Ip4 h = testing::ip4(src, dst);
  h.id = id;
  Bytes payload(size - 28);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<uint8_t>(id + 31 * i);
  return testing::ipv4(h, kProtoUdp, testing::udp(h, 40000, 7000, payload));
}

// What the micro-benchmarks share: their own crypto devices and mbufs (the engine has its own).
struct Micro {
  std::unique_ptr<EspCrypto> crypto;
  rte_mempool* pool = nullptr;
};
Micro& micro() {
  static Micro m = [] {
    Micro x;
    x.crypto = must(EspCrypto::create(), "crypto devices");
    x.pool = rte_pktmbuf_pool_create("esp_bench", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                     static_cast<int>(rte_socket_id()));
    if (x.pool == nullptr) die("mbuf pool");
    return x;
  }();
  return m;
}

// Counters as reported (Gbps, vs_raw_here), by "kind/size": each reported run, or the median of
// the repetitions when only aggregates are reported. The Recorder fills it (the benchmark
// function also runs for Google Benchmark's trial rounds, which are not reported and must not
// count).
struct Reported {
  std::map<std::string, std::map<std::string, std::vector<double>>> runs;
  std::map<std::string, std::map<std::string, double>> medians;
};
Reported& reported() {
  static Reported r;
  return r;
}
std::string key_of(const std::string& kind, size_t size) {
  return kind + "/" + std::to_string(size);
}
double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
// Returns the median of counter `name` reported so far for "kind/size", 0 when none.
double reported_value(const std::string& key, const std::string& name = "Gbps") {
  const Reported& r = reported();
  if (auto it = r.runs.find(key); it != r.runs.end() && it->second.count(name)) {
    return median(it->second.at(name));
  }
  if (auto it = r.medians.find(key); it != r.medians.end() && it->second.count(name)) {
    return it->second.at(name);
  }
  return 0;
}

// Sets a run's Gbps, Mpps, cycles_per_pkt and vs_raw counters.
void report(benchmark::State& state, const std::string& kind, size_t size, uint64_t packets,
            uint64_t tsc_cycles) {
  const double hz = static_cast<double>(rte_get_tsc_hz());
  const double seconds = static_cast<double>(tsc_cycles) / hz;
  const double gbps = static_cast<double>(packets) * static_cast<double>(size) * 8 / seconds / 1e9;
  state.SetItemsProcessed(static_cast<int64_t>(packets));
  state.SetBytesProcessed(static_cast<int64_t>(packets * size));
  state.counters["Gbps"] = gbps;
  state.counters["Mpps"] = static_cast<double>(packets) / seconds / 1e6;
  state.counters["cycles_per_pkt"] = static_cast<double>(tsc_cycles) / static_cast<double>(packets);
  if (kind != "raw") {
    const double raw = reported_value(key_of("raw", size));
    if (raw > 0) state.counters["vs_raw"] = gbps / raw;
  }
}

// The console's output, and each reported run's Gbps kept for vs_raw and the summary.
class Recorder : public benchmark::ConsoleReporter {
 public:
  Recorder() : ConsoleReporter(OO_Tabular) {}  // no colour codes: the output goes to files
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      const std::string key = kind_of(r.run_name);
      if (r.error_occurred || key.empty()) continue;
      for (const char* name : {"Gbps", "vs_raw_here", "raw_here", "line_rt"}) {
        auto c = r.counters.find(name);
        if (c == r.counters.end()) continue;
        if (r.run_type == Run::RT_Iteration) {
          reported().runs[key][name].push_back(c->second.value);
        } else if (r.aggregate_name == "median") {
          reported().medians[key][name] = c->second.value;
        }
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

 private:
  // "kind/size" of a run name such as BM_EspEncrypt/64/per_call:1/manual_time.
  static std::string kind_of(const benchmark::BenchmarkName& n) {
    static const std::map<std::string, std::string> kKinds = {
        {"BM_RawAesGcm", "raw"},
        {"BM_EspEncrypt", "encrypt"},
        {"BM_EspDecrypt", "decrypt"},
        {"BM_PipelineEspEncap", "encap"},
        {"BM_PipelineEspDecap", "decap"},
        {"BM_PipelinePlainUplink", "plain_up"},
        {"BM_PipelinePlainDownlink", "plain_down"}};
    auto it = kKinds.find(n.function_name);
    if (it == kKinds.end()) return "";
    std::string kind = it->second;
    if (n.args.find("per_call:1/") != std::string::npos) kind += "1";
    if (n.args.find("cold:1") != std::string::npos) kind += "_cold";
    return key_of(kind, std::strtoul(n.args.c_str(), nullptr, 10));
  }
};

// ---- the crypto PMD alone -------------------------------------------------------------------

// AES-128-GCM on 32 buffers of `size` bytes through the PMD's CPU crypto entry point, as
// rte_ipsec calls it for ESP (AAD 8 bytes: SPI and sequence number; IV 12; tag 16), in place.
class RawGcm {
 public:
  explicit RawGcm(size_t size) : size_(size), dev_(micro().crypto->gcm_dev()) {
    x_.type = RTE_CRYPTO_SYM_XFORM_AEAD;
    x_.aead.op = RTE_CRYPTO_AEAD_OP_ENCRYPT;
    x_.aead.algo = RTE_CRYPTO_AEAD_AES_GCM;
    x_.aead.key.data = key_.data();
    x_.aead.key.length = 16;
    x_.aead.iv.offset = 0;  // CPU crypto takes the IV by pointer
    x_.aead.iv.length = 12;
    x_.aead.digest_length = 16;
    x_.aead.aad_length = 8;
    session_ = rte_cryptodev_sym_session_create(dev_, &x_, micro().crypto->sessions());
    if (session_ == nullptr) die("raw GCM session");
    // Each buffer followed by its tag, a cache line apart; IV and AAD on their own lines. CPU
    // crypto works on virtual addresses: no IOVA (rte_malloc_virt2iova crashes without
    // hugepages).
    const size_t stride = RTE_ALIGN_CEIL(size + 16, RTE_CACHE_LINE_SIZE);
    data_ = static_cast<uint8_t*>(rte_zmalloc("raw_gcm", stride * kBurst, 64));
    side_ = static_cast<uint8_t*>(rte_zmalloc("raw_gcm_iv", 64 * kBurst, 64));
    if (data_ == nullptr || side_ == nullptr) die("raw GCM buffers");
    for (unsigned i = 0; i < kBurst; ++i) {
      uint8_t* buf = data_ + i * stride;
      for (size_t j = 0; j < size; ++j) buf[j] = static_cast<uint8_t>(i + 7 * j);
      uint8_t* side = side_ + i * 64;
      for (unsigned j = 0; j < 12; ++j) side[j] = static_cast<uint8_t>(i * 3 + j);  // IV
      for (unsigned j = 0; j < 8; ++j) side[32 + j] = static_cast<uint8_t>(i + j);  // AAD
      vec_[i] = rte_crypto_vec{buf, 0, static_cast<uint32_t>(size), static_cast<uint32_t>(size)};
      sgl_[i] = rte_crypto_sgl{&vec_[i], 1};
      iv_[i] = rte_crypto_va_iova_ptr{side, 0};
      aad_[i] = rte_crypto_va_iova_ptr{side + 32, 0};
      digest_[i] = rte_crypto_va_iova_ptr{buf + size, 0};
    }
    v_.num = kBurst;
    v_.src_sgl = sgl_;
    v_.iv = iv_;
    v_.digest = digest_;
    v_.aad = aad_;
    v_.status = status_;
    ofs_.raw = 0;
  }
  ~RawGcm() {
    rte_free(side_);
    rte_free(data_);
    rte_cryptodev_sym_session_free(dev_, session_);
  }
  RawGcm(const RawGcm&) = delete;
  RawGcm& operator=(const RawGcm&) = delete;

  // Encrypts the 32 buffers once; returns true when all 32 succeeded.
  bool burst() noexcept {
    return rte_cryptodev_sym_cpu_crypto_process(dev_, session_, ofs_, &v_) == kBurst;
  }
  size_t size() const noexcept { return size_; }

 private:
  const size_t size_;
  const uint8_t dev_;
  const std::vector<uint8_t> key_ = gcm_key(1);
  rte_crypto_sym_xform x_{};
  void* session_ = nullptr;
  uint8_t* data_ = nullptr;
  uint8_t* side_ = nullptr;
  rte_crypto_vec vec_[kBurst];
  rte_crypto_sgl sgl_[kBurst];
  rte_crypto_va_iova_ptr iv_[kBurst], aad_[kBurst], digest_[kBurst];
  int32_t status_[kBurst];
  rte_crypto_sym_vec v_{};
  rte_crypto_sym_ofs ofs_;
};

void BM_RawAesGcm(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  RawGcm raw(size);
  // The first call makes the thread's ipsec_mb manager: not part of the rate.
  if (!raw.burst()) {
    state.SkipWithError("raw AES-GCM failed");
    return;
  }
  const double hz = static_cast<double>(rte_get_tsc_hz());
  uint64_t cycles = 0, packets = 0;
  for (auto _ : state) {
    const uint64_t t0 = rte_rdtsc();
    const bool ok = raw.burst();
    const uint64_t t1 = rte_rdtsc();
    if (!ok) {
      state.SkipWithError("raw AES-GCM failed");
      break;
    }
    cycles += t1 - t0;
    packets += kBurst;
    state.SetIterationTime(static_cast<double>(t1 - t0) / hz);
  }
  if (packets != 0) report(state, "raw", size, packets, cycles);
}

// The raw rate on the lcore of a run, just before and just after it: the baseline of
// vs_raw_here, immune to the drift of a shared machine between benchmarks. A tight loop of
// bursts for 50 ms, as BM_RawAesGcm.
struct Probe {
  RawGcm* raw;
  uint64_t cycles = 0;
  uint64_t packets = 0;
};
int probe_main(void* arg) {
  auto* p = static_cast<Probe*>(arg);
  if (!p->raw->burst()) return -1;                // warm-up: the lcore's ipsec_mb manager
  const uint64_t budget = rte_get_tsc_hz() / 20;  // 50 ms
  const uint64_t start = rte_rdtsc();
  uint64_t now = start;
  while (now - start < budget) {
    if (!p->raw->burst()) return -1;
    p->packets += kBurst;
    now = rte_rdtsc();
  }
  p->cycles = now - start;
  return 0;
}
double probe_gbps(const Probe& p) {
  if (p.cycles == 0) return 0;
  const double seconds = static_cast<double>(p.cycles) / static_cast<double>(rte_get_tsc_hz());
  return static_cast<double>(p.packets * p.raw->size()) * 8 / seconds / 1e9;
}
// Returns Gbps of raw AES-128-GCM over `raw`'s size on this thread, or 0 on failure.
double raw_gbps_here(RawGcm& raw) {
  Probe p{&raw};
  return probe_main(&p) == 0 ? probe_gbps(p) : 0;
}
// Returns Gbps of raw AES-128-GCM over `raw`'s size on `lcore` (idle), or 0 on failure.
double raw_gbps_on(unsigned lcore, RawGcm& raw) {
  Probe p{&raw};
  if (rte_eal_remote_launch(probe_main, &p, lcore) != 0) return 0;
  return rte_eal_wait_lcore(lcore) == 0 ? probe_gbps(p) : 0;
}
// Sets raw_here and vs_raw_here (after report()).
void report_here(benchmark::State& state, double raw_here) {
  if (raw_here <= 0) return;
  state.counters["raw_here"] = raw_here;
  state.counters["vs_raw_here"] = state.counters["Gbps"].value / raw_here;
}

// ---- EspSa alone ----------------------------------------------------------------------------

struct EspPair {
  std::unique_ptr<EspSa> out, in;  // mirrored, as IKE installs them at the two ends
};
EspPair esp_pair() {
  Micro& m = micro();
  EspPair p;
  p.out =
      must(EspSa::create(*m.crypto, gcm_sa(1, kSpiOut, false, ip("192.0.2.1"), ip("192.0.2.2"), 1)),
           "outbound SA");
  p.in =
      must(EspSa::create(*m.crypto, gcm_sa(1, kSpiOut, true, ip("192.0.2.1"), ip("192.0.2.2"), 1)),
           "inbound SA");
  return p;
}

// 32 mbufs that hold `inner` at their data start again after each use.
struct Burst {
  rte_mbuf* mb[kBurst];
  const Bytes& inner;
  explicit Burst(const Bytes& b) : inner(b) {
    if (rte_pktmbuf_alloc_bulk(micro().pool, mb, kBurst) != 0) die("mbufs");
  }
  ~Burst() { rte_pktmbuf_free_bulk(mb, kBurst); }
  void reset() noexcept {
    for (rte_mbuf* m : mb) {
      m->data_off = RTE_PKTMBUF_HEADROOM;
      std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), inner.data(), inner.size());
      m->data_len = static_cast<uint16_t>(inner.size());
      m->pkt_len = static_cast<uint32_t>(inner.size());
    }
  }
  // Evicts the packets' bytes (and the headroom the headers grow into) from every cache, as a
  // NIC's DMA or another core's writes leave them for the worker that first reads them.
  void evict() const noexcept {
    for (const rte_mbuf* m : mb) {
      const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
      for (int off = -64; off < static_cast<int>(m->data_len) + 64; off += RTE_CACHE_LINE_SIZE) {
        _mm_clflush(p + off);
      }
    }
    _mm_mfence();
  }
  bool holds_inner() const noexcept {
    for (const rte_mbuf* m : mb) {
      if (m->pkt_len != inner.size() ||
          std::memcmp(rte_pktmbuf_mtod(m, const uint8_t*), inner.data(), inner.size()) != 0) {
        return false;
      }
    }
    return true;
  }
};

std::string micro_kind(const char* what, unsigned per_call, bool cold) {
  return std::string(what) + (per_call == 1 ? "1" : "") + (cold ? "_cold" : "");
}

uint16_t encrypt_all(EspSa& sa, rte_mbuf** mb, unsigned per_call) noexcept {
  uint16_t done = 0;
  for (unsigned i = 0; i < kBurst; i += per_call) {
    done = static_cast<uint16_t>(done + sa.encrypt(mb + i, static_cast<uint16_t>(per_call), 0, 1));
  }
  return done;
}
uint16_t decrypt_all(EspSa& sa, rte_mbuf** mb, unsigned per_call) noexcept {
  uint16_t done = 0, replayed = 0;
  for (unsigned i = 0; i < kBurst; i += per_call) {
    done = static_cast<uint16_t>(
        done + sa.decrypt(mb + i, static_cast<uint16_t>(per_call), 0, 1, replayed));
  }
  return done;
}

void BM_EspEncrypt(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  const unsigned per_call = static_cast<unsigned>(state.range(1));
  const bool cold = state.range(2) != 0;
  EspPair sa = esp_pair();
  const Bytes inner = inner_packet(ip("10.1.0.5"), ip("10.2.0.9"), size, 1);
  Burst b(inner);
  // Once, untimed: what it makes is ESP that the mirrored SA opens byte for byte.
  b.reset();
  if (encrypt_all(*sa.out, b.mb, per_call) != kBurst || b.mb[0]->pkt_len < size + 36 + 16 ||
      rte_pktmbuf_mtod(b.mb[0], const uint8_t*)[9] != kProtoEsp ||
      decrypt_all(*sa.in, b.mb, per_call) != kBurst || !b.holds_inner()) {
    state.SkipWithError("ESP round trip failed");
    return;
  }
  RawGcm raw(size);
  const double raw_before = raw_gbps_here(raw);
  const double hz = static_cast<double>(rte_get_tsc_hz());
  uint64_t cycles = 0, packets = 0;
  for (auto _ : state) {
    b.reset();
    if (cold) b.evict();
    const uint64_t t0 = rte_rdtsc();
    const uint16_t done = encrypt_all(*sa.out, b.mb, per_call);
    const uint64_t t1 = rte_rdtsc();
    if (done != kBurst) {
      state.SkipWithError("encrypt failed");
      break;
    }
    cycles += t1 - t0;
    packets += kBurst;
    state.SetIterationTime(static_cast<double>(t1 - t0) / hz);
  }
  if (packets == 0) return;
  report(state, micro_kind("encrypt", per_call, cold), size, packets, cycles);
  report_here(state, (raw_before + raw_gbps_here(raw)) / 2);
}

void BM_EspDecrypt(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  const unsigned per_call = static_cast<unsigned>(state.range(1));
  const bool cold = state.range(2) != 0;
  EspPair sa = esp_pair();
  const Bytes inner = inner_packet(ip("10.1.0.5"), ip("10.2.0.9"), size, 1);
  Burst b(inner);
  RawGcm raw(size);
  const double raw_before = raw_gbps_here(raw);
  const double hz = static_cast<double>(rte_get_tsc_hz());
  uint64_t cycles = 0, packets = 0;
  for (auto _ : state) {
    // Fresh ESP with the next 32 sequence numbers, untimed.
    b.reset();
    if (encrypt_all(*sa.out, b.mb, kBurst) != kBurst) {
      state.SkipWithError("encrypt failed");
      break;
    }
    if (cold) b.evict();
    const uint64_t t0 = rte_rdtsc();
    const uint16_t done = decrypt_all(*sa.in, b.mb, per_call);
    const uint64_t t1 = rte_rdtsc();
    if (done != kBurst) {
      state.SkipWithError("decrypt failed (replay window or authentication)");
      break;
    }
    cycles += t1 - t0;
    packets += kBurst;
    state.SetIterationTime(static_cast<double>(t1 - t0) / hz);
  }
  if (packets == 0) return;
  if (!b.holds_inner()) {
    state.SkipWithError("decrypted bytes differ");
    return;
  }
  report(state, micro_kind("decrypt", per_call, cold), size, packets, cycles);
  report_here(state, (raw_before + raw_gbps_here(raw)) / 2);
}

// ---- the whole pipeline ---------------------------------------------------------------------

// One network (10.20.0.0/24) with kThings attached Things and an open profile, and a tunnel to
// kPeer for 10.30.0.0/24; everything else goes to the internet.
struct Lab {
  std::shared_ptr<const core::CompiledTables> tables;
  uint32_t tunnel = 0;
};
const Lab& lab() {
  static const Lab l = [] {
    core::Account a;
    core::Compiler compiler;
    core::Network net;
    net.name = "lab";
    net.apn = "lab.example";
    const core::NetworkId nid = must(a.create_network(net), "network");
    (void)must(a.add_pool(nid, core::Cidr::parse("10.20.0.0/24").value()), "pool");
    core::IpProfile open;
    open.name = "open";
    const core::ProfileId profile = must(a.create_profile(open), "profile");
    core::ThingsGroup g;
    g.name = "g";
    g.network = nid;
    g.profile = profile;
    const core::GroupId gid = must(a.create_group(g), "group");
    for (size_t i = 0; i < kThings; ++i) {
      core::Thing t;
      t.iccid = "89310000000000" + std::to_string(10000 + i);
      t.imsi = "2040800000" + std::to_string(10000 + i);
      t.group = gid;
      t.ip_lock = true;
      t.locked_addr = core::Ipv4{thing_addr(i)};
      const core::ThingId id = must(a.provision({t}), "thing")[0];
      must(a.set_state(id, core::ThingState::kActive), "activate");
      core::AttachRequest req;
      req.uplink_teid = thing_teid(i);
      req.peer_addr = core::Ipv4{kEnb};
      req.peer_teid = 0x8000 + static_cast<uint32_t>(i);
      req.apn = "lab.example";
      (void)must(a.attach(id, req), "attach");
    }
    core::IpsecTunnel t;
    t.name = "vpn";
    t.peer = core::Ipv4{kPeer};
    t.remote_subnets = {core::Cidr::parse("10.30.0.0/24").value()};
    t.pre_shared_key = "0123456789abcdef";
    t.ike_proposals = {"aes128-sha256-ecp256"};
    t.esp_proposals = {"aes128gcm16"};
    const core::TunnelId tid = must(a.add_tunnel(nid, t), "tunnel");
    core::Route r;
    r.destination = core::Cidr::parse("10.30.0.0/24").value();
    r.target = core::RouteTarget::kIpsecTunnel;
    r.tunnel = tid;
    (void)must(a.add_route(nid, r), "route");
    Lab x;
    x.tables = must(compiler.compile(a.model()), "compile");
    x.tunnel = tid.value;
    return x;
  }();
  return l;
}
std::vector<EspSaSpec> sad(bool in_a = true, bool in_b = true) {
  const uint32_t t = lab().tunnel;
  std::vector<EspSaSpec> s = {gcm_sa(t, kSpiOut, false, kPorts.core_addr, kPeer, 1)};
  if (in_a) s.push_back(gcm_sa(t, kSpiInA, true, kPeer, kPorts.core_addr, 2));
  if (in_b) s.push_back(gcm_sa(t, kSpiInB, true, kPeer, kPorts.core_addr, 3));
  return s;
}

Bytes gpdu(size_t thing, uint32_t dst, size_t size, uint16_t id) {
  const testing::Ip4 o = testing::ip4(kEnb, kPorts.access_addr);
  return testing::ethernet(
      kPorts.access_mac, kPorts.access_next_hop_mac, kEtherTypeIpv4,
      testing::ipv4(o, kProtoUdp,
                    testing::udp(o, kGtpuPort, kGtpuPort,
                                 testing::gtpu(kGtpuMsgGpdu, thing_teid(thing),
                                               inner_packet(thing_addr(thing), dst, size, id)),
                                 false)));
}

enum class Flow { kEspEncap, kEspDecap, kPlainUplink, kPlainDownlink };

// The frames fed in, by flow and size (built once).
const std::vector<Bytes>& frames_of(Flow flow, size_t size) {
  static std::map<std::pair<Flow, size_t>, std::vector<Bytes>> cache;
  std::vector<Bytes>& f = cache[{flow, size}];
  if (!f.empty()) return f;
  constexpr size_t kDistinct = 1024;
  switch (flow) {
    case Flow::kEspEncap:
      for (size_t i = 0; i < kDistinct; ++i) {
        f.push_back(gpdu(i % kThings, remote_addr(i), size, static_cast<uint16_t>(i)));
      }
      break;
    case Flow::kPlainUplink:
      for (size_t i = 0; i < kDistinct; ++i) {
        f.push_back(gpdu(i % kThings, kServer, size, static_cast<uint16_t>(i)));
      }
      break;
    case Flow::kPlainDownlink:
      for (size_t i = 0; i < kDistinct; ++i) {
        f.push_back(testing::ethernet(
            kPorts.core_mac, kPorts.core_next_hop_mac, kEtherTypeIpv4,
            inner_packet(kServer, thing_addr(i % kThings), size, static_cast<uint16_t>(i))));
      }
      break;
    case Flow::kEspDecap: {
      // The peer's outbound SAs for A and B: one pass each, sequence numbers 1..kDecapPass.
      Micro& m = micro();
      for (uint32_t spi : {kSpiInA, kSpiInB}) {
        auto peer = must(EspSa::create(*m.crypto, gcm_sa(lab().tunnel, spi, false, kPeer,
                                                         kPorts.core_addr, spi == kSpiInA ? 2 : 3)),
                         "peer SA");
        for (unsigned i = 0; i < kDecapPass; ++i) {
          const Bytes inner =
              inner_packet(remote_addr(i), thing_addr(i % kThings), size, static_cast<uint16_t>(i));
          rte_mbuf* mb = rte_pktmbuf_alloc(m.pool);
          if (mb == nullptr) die("mbuf");
          std::memcpy(rte_pktmbuf_append(mb, static_cast<uint16_t>(inner.size())), inner.data(),
                      inner.size());
          if (peer->encrypt(&mb, 1, 0, 1) != 1) die("pre-encrypting");
          const auto* p = rte_pktmbuf_mtod(mb, const uint8_t*);
          f.push_back(testing::ethernet(kPorts.core_mac, kPorts.core_next_hop_mac, kEtherTypeIpv4,
                                        Bytes(p, p + mb->pkt_len)));
          rte_pktmbuf_free(mb);
        }
      }
      break;
    }
  }
  return f;
}

// Whether `m`, the first frame out (the flow's frame 0: FIFO through one worker), carries frame
// 0's inner packet the way the flow must: encap, ESP that the peer's inbound SA decrypts to it;
// decap, a G-PDU to Thing 0's TEID around it. Routed once: TTL one less, checksum not compared.
bool first_frame_ok(Flow flow, size_t size, const rte_mbuf* m) {
  const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
  Bytes got, want;
  if (flow == Flow::kEspEncap) {
    want = inner_packet(thing_addr(0), remote_addr(0), size, 0);
    auto peer = EspSa::create(*micro().crypto,
                              gcm_sa(lab().tunnel, kSpiOut, true, kPorts.core_addr, kPeer, 1));
    rte_mbuf* c = rte_pktmbuf_alloc(micro().pool);
    if (!peer.ok() || c == nullptr || m->data_len <= kEthHeaderLen) return false;
    const auto len = static_cast<uint16_t>(m->data_len - kEthHeaderLen);
    std::memcpy(rte_pktmbuf_append(c, len), d + kEthHeaderLen, len);
    uint16_t replayed = 0;
    if ((*peer)->decrypt(&c, 1, 0, 1, replayed) == 1) {
      got.assign(rte_pktmbuf_mtod(c, const uint8_t*),
                 rte_pktmbuf_mtod(c, const uint8_t*) + c->pkt_len);
    }
    rte_pktmbuf_free(c);
  } else if (flow == Flow::kEspDecap) {
    want = inner_packet(remote_addr(0), thing_addr(0), size, 0);
    constexpr uint32_t kInner = kEthHeaderLen + 20 + 8 + 8;  // IPv4, UDP, GTP-U
    if (m->data_len < kInner || load_be32(d + kInner - 4) != 0x8000) return false;
    got.assign(d + kInner, d + m->data_len);
  } else {
    return true;
  }
  if (got.size() != want.size() || got[8] != want[8] - 1) return false;
  got[8] = want[8];
  got[10] = want[10];
  got[11] = want[11];
  return got == want;
}

void run_pipeline(benchmark::State& state, Flow flow) {
  const size_t size = static_cast<size_t>(state.range(0));
  const std::vector<Bytes>& frames = frames_of(flow, size);
  const bool uplink = flow == Flow::kEspEncap || flow == Flow::kPlainUplink;
  const bool esp = flow == Flow::kEspEncap || flow == Flow::kEspDecap;

  static int seq = 0;
  const std::string tag = std::to_string(seq++);
  rte_ring* rings[4];
  for (int i = 0; i < 4; ++i) {
    rings[i] = rte_ring_create(("xb" + tag + "_" + std::to_string(i)).c_str(), 8192, SOCKET_ID_ANY,
                               RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (rings[i] == nullptr) die("ring");
  }
  EngineConfig c;
  c.workers = 1;
  c.access.name = must(make_ring_port("xba" + tag, rings[0], rings[1]), "access port");
  c.core.name = must(make_ring_port("xbc" + tag, rings[2], rings[3]), "core port");
  c.addressing = kPorts;
  c.idle_sleep_us = 0;  // a dedicated CPU: poll all the time, as in production
  c.mbufs = 2 * kInFlight - 1;
  c.packed_mbufs = std::getenv("SIMCORE_PACKED_MBUFS") != nullptr;
  auto engine = must(Engine::create(c), "engine");
  must(engine->publish(lab().tables), "publish");
  if (esp) must(engine->publish_sad(sad()), "publish_sad");

  rte_ring* feed = uplink ? rings[0] : rings[2];
  rte_ring* drain = uplink ? rings[3] : rings[1];
  uint64_t next = 0;  // frames fed so far
  auto refill = [&](rte_mbuf* m) {
    const Bytes& b = frames[next++ % frames.size()];
    m->data_off = RTE_PKTMBUF_HEADROOM;
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), b.data(), b.size());
    m->data_len = static_cast<uint16_t>(b.size());
    m->pkt_len = static_cast<uint32_t>(b.size());
  };
  for (unsigned i = 0; i < kInFlight; ++i) {
    rte_mbuf* m = rte_pktmbuf_alloc(engine->pool());
    if (m == nullptr) die("mbuf");
    refill(m);
    if (rte_ring_enqueue(feed, m) != 0) die("feed ring");
  }
  // The raw baseline on the worker's lcore, before and after (the engine's only worker lcore).
  RawGcm raw(size);
  const unsigned worker_lcore = rte_get_next_lcore(-1, 1, 0);
  const double raw_before = raw_gbps_on(worker_lcore, raw);
  const double line_before = line_round_trip(worker_lcore);
  if (!engine->start().ok()) die("engine start");

  // Decap: pass n of the pool uses SPI A (n even) or B (n odd). When frame n·P + kInFlight is
  // about to be fed, every frame before n·P has come back (a constant population, FIFO
  // through one worker), so pass n−1's SA is idle until pass n+1: replace it with a fresh one.
  auto renew_idle_sa = [&] {
    if (flow != Flow::kEspDecap || next < kDecapPass + kInFlight ||
        next % kDecapPass != kInFlight) {
      return;
    }
    const bool idle_is_a = (next / kDecapPass - 1) % 2 == 0;
    must(engine->publish_sad(sad(!idle_is_a, idle_is_a)), "publish_sad");
    must(engine->publish_sad(sad()), "publish_sad");
  };
  // Every frame that comes back must be what the flow sends out: ESP for encap, a G-PDU for
  // decap and downlink, plain IPv4 uplink.
  const uint8_t want_proto = flow == Flow::kEspEncap ? kProtoEsp : kProtoUdp;
  uint64_t wrong = 0;
  bool first = true, first_ok = false;

  uint64_t packets = 0, polls = 0, idle_polls = 0;
  const uint64_t tsc_start = rte_rdtsc();
  rte_mbuf* burst[64];
  for (auto _ : state) {
    for (uint64_t done = 0; done < kPipelineChunk;) {
      const unsigned n =
          rte_ring_sc_dequeue_burst(drain, reinterpret_cast<void**>(burst), 64, nullptr);
      ++polls;
      if (n == 0) {
        ++idle_polls;
        continue;
      }
      if (first) {
        first_ok = first_frame_ok(flow, size, burst[0]);
        first = false;
      }
      for (unsigned i = 0; i < n; ++i) {
        wrong += rte_pktmbuf_mtod(burst[i], const uint8_t*)[kEthHeaderLen + 9] != want_proto;
        renew_idle_sa();
        refill(burst[i]);
      }
      if (rte_ring_sp_enqueue_bulk(feed, reinterpret_cast<void**>(burst), n, nullptr) != n) {
        die("feed ring full");
      }
      done += n;
    }
    packets += kPipelineChunk;
  }
  const uint64_t tsc = rte_rdtsc() - tsc_start;
  engine->stop();
  const double raw_here = (raw_before + raw_gbps_on(worker_lcore, raw)) / 2;
  const double line_rt = (line_before + line_round_trip(worker_lcore)) / 2;
  const Counters t = engine->total();
  uint64_t dropped = 0;
  for (uint64_t d : t.pipeline_drop) dropped += d;
  for (uint64_t d : t.policy_drop) dropped += d;
  const size_t out = static_cast<size_t>(uplink ? Port::kCore : Port::kAccess);
  const uint64_t through = flow == Flow::kEspEncap   ? t.esp_encrypted
                           : flow == Flow::kEspDecap ? t.esp_decrypted
                                                     : t.tx[out];
  // Every frame fed was processed the flow's way and sent: else the rate is not the pipeline's.
  if (!first_ok || wrong != 0 || dropped != 0 || through < packets || t.tx[out] != through) {
    state.SkipWithError(("frames not processed as expected: first frame " +
                         std::string(first_ok ? "ok" : "wrong") + ", wrong " +
                         std::to_string(wrong) + ", dropped " + std::to_string(dropped) +
                         ", through " + std::to_string(through) + ", tx " +
                         std::to_string(t.tx[out]) + ", measured " + std::to_string(packets))
                            .c_str());
  } else {
    static const char* const kKinds[] = {"encap", "decap", "plain_up", "plain_down"};
    report(state, kKinds[static_cast<int>(flow)], size, packets, tsc);
    report_here(state, raw_here);
    state.counters["line_rt"] = line_rt;
    state.counters["gen_idle"] = static_cast<double>(idle_polls) / static_cast<double>(polls);
  }

  // The frames in the rings go back to the engine's pool before the pool goes.
  engine->stop();
  for (rte_ring* r : rings) {
    void* m = nullptr;
    while (rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
  }
  engine.reset();
  for (rte_ring* r : rings) rte_ring_free(r);
}

void BM_PipelineEspEncap(benchmark::State& s) { run_pipeline(s, Flow::kEspEncap); }
void BM_PipelineEspDecap(benchmark::State& s) { run_pipeline(s, Flow::kEspDecap); }
void BM_PipelinePlainUplink(benchmark::State& s) { run_pipeline(s, Flow::kPlainUplink); }
void BM_PipelinePlainDownlink(benchmark::State& s) { run_pipeline(s, Flow::kPlainDownlink); }

// Raw first: every later run reports vs_raw against it.
// {size, packets per call, cold}: bursts of 32; one packet per call, as the engine's ESP stage
// calls today; bursts whose bytes start out of every cache (clflush, untimed).
// clang-format off
#define SIMCORE_SIZES ->Arg(64)->Arg(512)->Arg(1400)
#define SIMCORE_ESP_ARGS(s) ->Args({s, kBurst, 0})->Args({s, 1, 0})->Args({s, kBurst, 1})
BENCHMARK(BM_RawAesGcm) SIMCORE_SIZES->UseManualTime();
BENCHMARK(BM_EspEncrypt) SIMCORE_ESP_ARGS(64) SIMCORE_ESP_ARGS(512) SIMCORE_ESP_ARGS(1400)
    ->ArgNames({"", "per_call", "cold"})->UseManualTime();
BENCHMARK(BM_EspDecrypt) SIMCORE_ESP_ARGS(64) SIMCORE_ESP_ARGS(512) SIMCORE_ESP_ARGS(1400)
    ->ArgNames({"", "per_call", "cold"})->UseManualTime();
BENCHMARK(BM_PipelineEspEncap) SIMCORE_SIZES->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PipelineEspDecap) SIMCORE_SIZES->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PipelinePlainUplink) SIMCORE_SIZES->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PipelinePlainDownlink) SIMCORE_SIZES->UseRealTime()->Unit(benchmark::kMillisecond);
#undef SIMCORE_ESP_ARGS
#undef SIMCORE_SIZES
// clang-format on

// The medians of this run's Gbps and their ratios to raw AES-GCM at the same size.
void print_summary() {
  if (reported().runs.empty() && reported().medians.empty()) return;
  std::printf(
      "\nGbps of inner bytes, median of the runs; in brackets vs_raw_here, its ratio to raw "
      "AES-128-GCM at the same size on the same lcore just before and after\n");
  std::printf("%-12s %14s %14s %14s\n", "", "64", "512", "1400");
  for (const char* kind : {"raw", "encrypt", "decrypt", "encrypt1", "decrypt1", "encrypt_cold",
                           "decrypt_cold", "encap", "decap", "plain_up", "plain_down"}) {
    bool any = false;
    for (size_t size : {64, 512, 1400}) any |= reported_value(key_of(kind, size)) > 0;
    if (!any) continue;
    std::printf("%-12s", kind);
    for (size_t size : {64, 512, 1400}) {
      const double g = reported_value(key_of(kind, size));
      const double here = reported_value(key_of(kind, size), "vs_raw_here");
      if (g == 0) {
        std::printf(" %14s", "-");
      } else if (here > 0) {
        std::printf(" %7.2f (%3.0f%%)", g, 100 * here);
      } else {
        std::printf(" %14.2f", g);
      }
    }
    std::printf("\n");
  }
  for (const char* kind : {"encap", "decap"}) {
    const double g = reported_value(key_of(kind, 1400));
    const double here = reported_value(key_of(kind, 1400), "vs_raw_here");
    if (g == 0 || here == 0) continue;
    std::printf(
        "ESP %s through the pipeline at 1400 B: %.2f Gbps, %.2f of raw AES-128-GCM on the "
        "worker's lcore (target >= 0.50: %s); a cache line's round trip between the generator's "
        "CPU and the worker's: %.0f cycles\n",
        kind, g, here, here >= 0.5 ? "met" : "NOT met",
        reported_value(key_of(kind, 1400), "line_rt"));
  }
}

}  // namespace
}  // namespace simcore::dp

int main(int argc, char** argv) {
  simcore::dp::EalOptions o;
  o.lcores = "0@0,1@1";  // the main thread (generator, micro-benchmarks) on CPU 0, the worker on 1
  o.memory_mb = 1024;
  const simcore::core::Status s = simcore::dp::eal_init(o);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.error().message().c_str());
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  simcore::dp::Recorder recorder;
  benchmark::RunSpecifiedBenchmarks(&recorder);
  simcore::dp::print_summary();
  benchmark::Shutdown();
  return 0;
}
