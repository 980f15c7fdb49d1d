#include "sim/validate.h"

#include <array>
#include <filesystem>
#include <optional>

#include "control/account_file.h"
#include "core/compiler.h"
#include "dataplane/dpdk/eal.h"
#include "dataplane/dpdk/replay.h"
#include "dataplane/pcapng.h"

namespace simcore::sim {
namespace {

template <class T, size_t N>
void add_array(T (&sum)[N], const T (&c)[N]) {
  for (size_t i = 0; i < N; ++i) sum[i] += c[i];
}

void add(dp::Counters& sum, const dp::Counters& c) {
  add_array(sum.rx, c.rx);
  add_array(sum.tx, c.tx);
  for (size_t p = 0; p < dp::kPortCount; ++p) add_array(sum.parse[p], c.parse[p]);
  add_array(sum.verdict, c.verdict);
  add_array(sum.policy_drop, c.policy_drop);
  add_array(sum.pipeline_drop, c.pipeline_drop);
  add_array(sum.punt, c.punt);
  sum.echo_replies += c.echo_replies;
  sum.arp_replies += c.arp_replies;
  sum.arp_requests += c.arp_requests;
  sum.arp_requests_throttled += c.arp_requests_throttled;
  sum.icmp_time_exceeded += c.icmp_time_exceeded;
  sum.icmp_frag_needed += c.icmp_frag_needed;
  sum.icmp_suppressed += c.icmp_suppressed;
}

// The annotated captures: per port, what it received (interface 0) and sent (interface 1).
class Captures {
 public:
  core::Status open(const std::string& dir) {
    if (dir.empty()) return {};
    const char* names[dp::kPortCount] = {"access", "core"};
    for (size_t p = 0; p < dp::kPortCount; ++p) {
      auto w = dp::PcapngWriter::open(
          (std::filesystem::path(dir) / (std::string(names[p]) + ".pcapng")).string(),
          {{std::string(names[p]) + "-in"}, {std::string(names[p]) + "-out"}});
      if (!w) return w.error();
      w_[p].emplace(std::move(*w));
    }
    return {};
  }
  core::Status write(dp::Port port, uint32_t iface, uint64_t ts, std::span<const uint8_t> bytes,
                     const std::string& comment) {
    const auto p = static_cast<size_t>(port);
    if (p >= dp::kPortCount || !w_[p]) return {};
    return w_[p]->write(iface, ts, bytes, comment);
  }
  core::Status close() {
    for (auto& w : w_) {
      if (w) {
        if (core::Status st = w->close(); !st) return st;
      }
    }
    return {};
  }

 private:
  std::array<std::optional<dp::PcapngWriter>, dp::kPortCount> w_;
};

}  // namespace

core::Result<Replayed> replay_offline(const Scenario& s, const Traffic& traffic,
                                      const dp::PortConfig& ports, const ValidateOptions& o) {
  if (!dp::eal_ready()) {
    return core::Error(core::Code::kFailedPrecondition, "replay: EAL is not initialised");
  }
  core::Result<core::Account> account = core::Error(core::Code::kInternal, "unset");
  if (o.against.empty()) {
    account = load_scenario_account(s);
  } else {
    auto loaded = ctl::load_account_yaml(o.against);
    if (!loaded) {
      return core::Error(loaded.error().code(), o.against + ": " + loaded.error().message());
    }
    account = std::move(loaded->account);
  }
  if (!account) return account.error();

  Captures captures;
  if (core::Status st = captures.open(o.out_dir); !st) return st.error();
  Replayed out;
  out.outcomes.resize(traffic.frames.size());
  out.comments.resize(traffic.frames.size());
  core::Compiler compiler;
  size_t begin = 0;
  for (int phase = 0; phase < traffic.phases; ++phase) {
    apply_session_ops(*account, traffic.ops, phase, o.against.empty() ? nullptr : &out.notes);
    auto tables = compiler.compile(account->model());
    if (!tables) return tables.error();
    size_t end = begin;
    while (end < traffic.frames.size() && traffic.frames[end].phase == phase) ++end;
    std::vector<dp::ReplayFrame> frames;
    frames.reserve(end - begin);
    for (size_t i = begin; i < end; ++i) {
      const SimFrame& f = traffic.frames[i];
      frames.push_back({f.ts_ns, f.port, f.bytes});
    }
    dp::ReplayOptions ro;
    ro.addressing = ports;
    ro.keep_output = !o.out_dir.empty();
    auto r = dp::replay(frames, *tables, ro);
    if (!r) return r.error();
    add(out.counters, r->counters);
    for (size_t k = 0; k < frames.size(); ++k) {
      const size_t i = begin + k;
      out.outcomes[i] = r->records[k].outcome;
      out.comments[i] = r->comments[k];
      if (o.out_dir.empty()) continue;
      if (core::Status st =
              captures.write(frames[k].port, 0, frames[k].ts_ns, frames[k].bytes, out.comments[i]);
          !st) {
        return st.error();
      }
      if (!r->output[k].empty()) {
        if (core::Status st = captures.write(out.outcomes[i].out, 1, frames[k].ts_ns, r->output[k],
                                             out.comments[i]);
            !st) {
          return st.error();
        }
      }
    }
    begin = end;
  }
  if (core::Status st = captures.close(); !st) return st.error();
  return out;
}

std::vector<size_t> mismatches(const Traffic& traffic, const Replayed& r) {
  std::vector<size_t> out;
  for (size_t i = 0; i < traffic.frames.size() && i < r.outcomes.size(); ++i) {
    if (!matches(traffic.frames[i].expect, r.outcomes[i])) out.push_back(i);
  }
  return out;
}

}  // namespace simcore::sim
