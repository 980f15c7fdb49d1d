// Attaches per second through control: a real Create Session Request (magma's SGW, from the
// shared captures) replayed as N requests for N provisioned Things — each with its own IMSI,
// sequence number and SGW TEID — through Signalling (decode, PGW, the subscriber checks,
// address allocation) and the service (one SQLite transaction and one published snapshot per
// batch of kBatch, as simcored's poll takes them). Every request must be accepted.
//   build/control/daemon/attach_bench --benchmark_filter=BM_Attach
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <regex>

#include "control/daemon/service.h"
#include "control/daemon/signalling.h"
#include "control/gtpc/wire.h"
#include "dataplane/packet/parse.h"
#include "dataplane/testing/pcap_io.h"

namespace simcore::ctl {
namespace {

namespace fs = std::filesystem;
using dp::testing::Bytes;

constexpr size_t kBatch = 4096;                 // FastPath::kPollBudget
constexpr uint64_t kFirstImsi = 1020000100000;  // magma's MCC 001, MNC 02

class NullSink final : public TablesSink {
 public:
  void publish(core::TablesPtr t) override { last = std::move(t); }
  core::TablesPtr last;
};

// The capture's first Create Session Request and where its IMSI, sequence number and Sender
// F-TEID's TEID sit (offsets into the frame).
struct Template {
  Bytes frame;
  size_t imsi = 0, seq = 0, teid = 0, udp_csum = 0;
};

Template find_template() {
  Template t;
  for (const Bytes& f :
       dp::testing::read_frames(fs::path(SIMCORE_PCAP_DIR) / "magma_s8_attach_gtpu.pcapng")) {
    dp::PacketView v;
    if (dp::parse_frame(f.data(), static_cast<uint32_t>(f.size()), dp::ParseMode::kCore, v) !=
            dp::ParseStatus::kOk ||
        v.outer.dport != gtpc::kGtpcPort) {
      continue;
    }
    const size_t g = v.outer.l4_off + 8;
    if ((f[g] >> 5) != 2 || f[g + 1] != 32 || !(f[g] & 0x08)) continue;
    t.frame = f;
    t.udp_csum = v.outer.l4_off + 6;
    t.seq = g + 8;
    for (size_t ie = g + 12; ie + 4 <= f.size();) {
      const size_t len = size_t{f[ie + 1]} << 8 | f[ie + 2];
      if (f[ie] == 1) t.imsi = ie + 4;                              // IMSI
      if (f[ie] == 87 && (f[ie + 3] & 0x0f) == 0) t.teid = ie + 5;  // Sender F-TEID, C-plane
      ie += 4 + len;
    }
    break;
  }
  return t;
}

// N requests from the template: IMSI kFirstImsi + i (15 digits), sequence and TEID from
// `round`, so a later round is not answered from the retransmission cache.
std::vector<Bytes> requests(const Template& t, size_t n, uint32_t round) {
  std::vector<Bytes> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    Bytes f = t.frame;
    char digits[24];
    std::snprintf(digits, sizeof digits, "%015llu",
                  static_cast<unsigned long long>(kFirstImsi + i));
    const std::vector<uint8_t> tbcd = gtpc::tbcd_encode(digits);
    std::memcpy(f.data() + t.imsi, tbcd.data(), tbcd.size());
    const uint32_t seq = static_cast<uint32_t>(round * n + i) & 0xffffff;
    f[t.seq] = static_cast<uint8_t>(seq >> 16);
    f[t.seq + 1] = static_cast<uint8_t>(seq >> 8);
    f[t.seq + 2] = static_cast<uint8_t>(seq);
    const uint32_t teid = static_cast<uint32_t>(round * n + i + 1);
    for (int b = 0; b < 4; ++b) f[t.teid + b] = static_cast<uint8_t>(teid >> (24 - 8 * b));
    f[t.udp_csum] = f[t.udp_csum + 1] = 0;  // no UDP checksum (allowed over IPv4)
    out.push_back(std::move(f));
  }
  return out;
}

// A service whose account has n ACTIVE Things with the capture's IMSIs and APN.
std::unique_ptr<Service> provisioned(const fs::path& dir, NullSink& sink, size_t n) {
  DaemonConfig cfg;
  cfg.data_dir = dir.string();
  cfg.admin_client_id = "bench";
  cfg.admin_client_secret = "0123456789abcdef";
  cfg.served_mccs = {1};
  cfg.max_body_bytes = 64 << 20;
  cfg.rate_limit_per_s = 1e9;
  cfg.rate_limit_burst = 1e9;
  auto svc = Service::open(cfg, sink, [] { return int64_t{1'800'000'000'000}; });
  if (!svc) return nullptr;
  auto call = [&](http::Verb verb, const std::string& target, const std::string& body,
                  const std::string& token) {
    http::Request req;
    req.msg.method(verb);
    req.msg.target(target);
    req.msg.body() = body;
    if (!token.empty()) req.msg.set(http::bhttp::field::authorization, "Bearer " + token);
    req.peer = "127.0.0.1";
    return (*svc)->handle(req);
  };
  const auto tok =
      call(http::Verb::post, "/oauth/client_credential/accesstoken?grant_type=client_credentials",
           "client_id=bench&client_secret=0123456789abcdef", "");
  const std::string body(tok.body());
  const std::string token =
      std::regex_replace(body, std::regex(R"re(.*"access_token":"([^"]+)".*)re"), "$1");
  const std::string api = "/iot/jpu/iotprogrammablesim";
  const std::string nets(call(http::Verb::get, api + "/networks", "", token).body());
  std::smatch net;
  if (!std::regex_search(nets, net, std::regex(R"re("id":"(\d+)")re"))) return nullptr;
  call(http::Verb::patch, api + "/networks/" + net[1].str(), R"({"apnName":"roam"})", token);
  for (size_t at = 0; at < n; at += 10000) {
    std::string things = R"({"things":[)";
    for (size_t i = at; i < std::min(n, at + 10000); ++i) {
      char row[160];
      std::snprintf(row, sizeof row, R"(%s{"iccid":"8931%015zu","imsi":"%015llu","tags":["b"]})",
                    i == at ? "" : ",", i, static_cast<unsigned long long>(kFirstImsi + i));
      things += row;
    }
    if (call(http::Verb::post, api + "/things", things + "]}", token).result_int() != 201) {
      return nullptr;
    }
  }
  call(http::Verb::post, api + "/bulkactions", R"({"action":"ACTIVATE","selector":{"tags":["b"]}})",
       token);
  while ((*svc)->tick()) {
  }
  return std::move(*svc);
}

void BM_Attach(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const Template t = find_template();
  if (t.frame.empty() || !t.imsi || !t.teid) {
    state.SkipWithError("no Create Session Request in the capture");
    return;
  }
  char tmpl[] = "/tmp/simcore-attach-bench-XXXXXX";
  const fs::path dir = mkdtemp(tmpl);
  NullSink sink;
  std::unique_ptr<Service> svc = provisioned(dir, sink, n);
  if (!svc) {
    state.SkipWithError("provisioning failed");
    fs::remove_all(dir);
    return;
  }
  const auto ours = core::Ipv4::parse("172.16.1.2");  // where the capture's SGW sent it
  Signalling::Options o;
  o.address = *ours;
  size_t sent = 0;
  Signalling sig(
      svc->attach_backend(), o,
      [&](std::span<const uint8_t>) {
        ++sent;
        return true;
      },
      nullptr);
  uint32_t round = 0;
  int64_t now = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const std::vector<Bytes> frames = requests(t, n, round++);
    now += 120'000;  // past the response cache: every round is new work
    sent = 0;
    state.ResumeTiming();
    for (size_t at = 0; at < frames.size(); at += kBatch) {
      for (size_t i = at; i < std::min(frames.size(), at + kBatch); ++i) {
        sig.on_frame(frames[i], now);
      }
      sig.finish({}, now);
    }
    if (sent != n) state.SkipWithError("not every request was answered");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
  state.counters["attaches_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * n), benchmark::Counter::kIsRate);
  svc.reset();
  fs::remove_all(dir);
}
BENCHMARK(BM_Attach)->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace simcore::ctl
