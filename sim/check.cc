#include "sim/check.h"

#include <pcap/pcap.h>

#include <algorithm>
#include <map>

#include "control/account_file.h"
#include "core/compiler.h"
#include "core/reference_eval.h"
#include "dataplane/dpdk/eal.h"
#include "dataplane/dpdk/replay.h"
#include "dataplane/packet/frame.h"
#include "dataplane/packet/parse.h"

namespace simcore::sim {
namespace {

using core::Error;

struct Captured {
  uint64_t ts_ns;
  dp::Port port;
  std::vector<uint8_t> bytes;
};

core::Status read_pcap(const std::string& path, dp::Port port, std::vector<Captured>& out) {
  if (path.empty()) return {};
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
  if (p == nullptr) return Error(core::Code::kInvalidArgument, path + ": " + err);
  if (pcap_datalink(p) != DLT_EN10MB) {
    pcap_close(p);
    return Error(core::Code::kInvalidArgument, path + ": not an Ethernet capture");
  }
  pcap_pkthdr* h = nullptr;
  const u_char* data = nullptr;
  int rc = 0;
  while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
    out.push_back({uint64_t(h->ts.tv_sec) * 1'000'000'000ull + uint64_t(h->ts.tv_usec),
                   port, std::vector<uint8_t>(data, data + h->caplen)});
  }
  const std::string why = rc == PCAP_ERROR ? pcap_geterr(p) : "";
  pcap_close(p);
  if (!why.empty()) return Error(core::Code::kInvalidArgument, path + ": " + why);
  return {};
}

// The outer destination of the first GTP-U datagram: the address the capture's peers sent
// their G-PDUs to, i.e. ours.
uint32_t gtpu_destination(const std::vector<Captured>& frames) {
  for (const Captured& c : frames) {
    if (c.port != dp::Port::kAccess) continue;
    dp::PacketView v{};
    (void)dp::parse_frame(c.bytes.data(), uint32_t(c.bytes.size()), dp::ParseMode::kAccess, v);
    if (v.has_gtpu) return v.outer.dst;
  }
  return 0;
}

const char* proto_name(uint8_t p) {
  switch (p) {
    case 1: return "ICMP";
    case 6: return "TCP";
    case 17: return "UDP";
    default: return "IP";
  }
}

// Frames of a capture have no scenario flow: they are grouped by direction, protocol and
// service port — the lower of the two, so a request and its replies (from or to an ephemeral
// port) land in the same group.
std::string flow_name(const core::PacketDesc& d) {
  std::string n = d.dir == core::Direction::kUplink ? "uplink " : "downlink ";
  n += proto_name(d.proto);
  if (d.proto == 6 || d.proto == 17) n += " port " + std::to_string(std::min(d.sport, d.dport));
  return n;
}

}  // namespace

core::Result<Checked> check_pcaps(const CheckInput& in) {
  if (!dp::eal_ready()) {
    return Error(core::Code::kFailedPrecondition, "check: EAL is not initialised");
  }
  auto loaded = ctl::load_account_yaml(in.account);
  if (!loaded) {
    return Error(core::Code::kInvalidArgument, in.account + ": " + loaded.error().message());
  }
  const core::Model& model = loaded->account.model();
  std::vector<Captured> frames;
  if (core::Status st = read_pcap(in.access_pcap, dp::Port::kAccess, frames); !st) return st.error();
  if (core::Status st = read_pcap(in.core_pcap, dp::Port::kCore, frames); !st) return st.error();
  // One timeline, as the ports would have received it (ties: access first, file order).
  std::stable_sort(frames.begin(), frames.end(),
                   [](const Captured& a, const Captured& b) { return a.ts_ns < b.ts_ns; });

  dp::PortConfig ports = default_ports();
  ports.access_addr = in.access_addr != 0 ? in.access_addr : gtpu_destination(frames);
  if (ports.access_addr == 0) ports.access_addr = default_ports().access_addr;
  if (in.core_addr != 0) ports.core_addr = in.core_addr;

  // The oracle: which frames reach the policy (the pipeline's own first phase, on a scratch
  // copy) and what the reference evaluator decides for them, in arrival order.
  Checked out;
  out.frames = frames.size();
  std::vector<size_t> compared;  // replay index of each Traffic frame
  std::map<std::string, uint32_t> flow_ids;
  core::FlowMemory flows;
  dp::WorkerContext scratch;
  for (size_t i = 0; i < frames.size(); ++i) {
    std::vector<uint8_t> buf(256 + frames[i].bytes.size() + 64);
    std::copy(frames[i].bytes.begin(), frames[i].bytes.end(), buf.begin() + 256);
    dp::Frame f{buf, 256, uint32_t(frames[i].bytes.size())};
    dp::Pending p;
    core::PacketDesc desc;
    if (dp::begin_frame(ports, frames[i].port, f, scratch, p, desc) != dp::Step::kDecide) {
      ++out.not_policy;
      continue;
    }
    const std::string name = flow_name(desc);
    auto [it, added] = flow_ids.emplace(name, uint32_t(out.traffic.flows.size()));
    if (added) out.traffic.flows.push_back({name, name, desc.dir, Malformation::kNone});
    SimFrame sf;
    sf.ts_ns = frames[i].ts_ns;
    sf.port = frames[i].port;
    sf.bytes = frames[i].bytes;
    sf.flow = it->second;
    sf.desc = desc;
    sf.expect = expect_policy(core::evaluate_reference(model, desc, flows));
    out.traffic.frames.push_back(std::move(sf));
    compared.push_back(i);
  }

  auto tables = core::Compiler().compile(model);
  if (!tables) return tables.error();
  std::vector<dp::ReplayFrame> replay;
  replay.reserve(frames.size());
  for (Captured& c : frames) replay.push_back({c.ts_ns, c.port, std::move(c.bytes)});
  dp::ReplayOptions ro;
  ro.addressing = ports;
  if (!in.out_dir.empty()) {
    ro.access_pcapng = in.out_dir + "/access.pcapng";
    ro.core_pcapng = in.out_dir + "/core.pcapng";
  }
  auto r = dp::replay(replay, *tables, ro);
  if (!r) return r.error();
  out.replayed.counters = r->counters;
  for (const size_t i : compared) {
    out.replayed.outcomes.push_back(r->records[i].outcome);
    out.replayed.comments.push_back(r->comments[i]);
  }
  return out;
}

}  // namespace simcore::sim
