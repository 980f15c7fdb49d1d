// dataplane/metrics.cc — one table row per Counters field says its family name, help text and
// label dimensions; rendering walks the table, so the X-macro lists name every sample and
// nothing here repeats them.
#include "dataplane/metrics.h"

#include <array>
#include <charconv>
#include <cstddef>
#include <utility>

namespace simcore::dp {
namespace {

using NameOf = const char* (*)(size_t);

// One label dimension of a family: label name, element count, element name. `first` skips
// the leading "none" entry of a drop list (index 0, never counted).
struct Dim {
  const char* label;
  size_t count;
  NameOf name;
  size_t first = 0;
};

struct Family {
  const char* name;
  const char* help;
  size_t offset;  // of the Counters field
  size_t words;   // its size in uint64_t
  std::array<Dim, 2> dims;
  size_t dim_count;
};

const char* port_label(size_t i) { return port_name(static_cast<Port>(i)); }
const char* parse_label(size_t i) { return parse_status_name(static_cast<ParseStatus>(i)); }
const char* verdict_label(size_t i) { return core::verdict_name(static_cast<core::Verdict>(i)); }
const char* reason_label(size_t i) {
  return core::drop_reason_name(static_cast<core::DropReason>(i));
}
const char* pipeline_label(size_t i) { return pipeline_drop_name(static_cast<PipelineDrop>(i)); }
const char* punt_label(size_t i) { return punt_name(static_cast<Punt>(i)); }

constexpr Dim kPortDim{"port", kPortCount, port_label};

#define SIMCORE_FIELD(f) offsetof(Counters, f), sizeof(Counters::f) / sizeof(uint64_t)
// A plain uint64_t field: one sample per worker.
#define SIMCORE_SCALAR(name, help, f) \
  Family { name, help, SIMCORE_FIELD(f), {}, 0 }

// The families, in Counters' field order.
constexpr std::array kFamilies = {
    Family{
        "simcore_rx_packets_total", "Frames received, by port.", SIMCORE_FIELD(rx), {kPortDim}, 1},
    Family{"simcore_tx_packets_total", "Frames sent, by port.", SIMCORE_FIELD(tx), {kPortDim}, 1},
    Family{"simcore_parse_total",
           "Frames received, by port and parse status; statuses other than ok and "
           "gtpu.echo_request are drops.",
           SIMCORE_FIELD(parse),
           {kPortDim, Dim{"status", kParseStatusCount, parse_label}},
           2},
    Family{"simcore_verdicts_total",
           "Policy decisions, by verdict.",
           SIMCORE_FIELD(verdict),
           {Dim{"verdict", kVerdictCount, verdict_label}},
           1},
    Family{"simcore_drops_total",
           "Frames dropped by the policy, by reason.",
           SIMCORE_FIELD(policy_drop),
           {Dim{"reason", kPolicyDropCount, reason_label, 1}},
           1},
    Family{"simcore_pipeline_drops_total",
           "Frames the data plane dropped after parsing for its own reasons, by reason.",
           SIMCORE_FIELD(pipeline_drop),
           {Dim{"reason", kPipelineDropCount, pipeline_label, 1}},
           1},
    Family{"simcore_punts_total",
           "Frames punted to the control thread, by reason.",
           SIMCORE_FIELD(punt),
           {Dim{"reason", kPuntCount, punt_label, 1}},
           1},
    SIMCORE_SCALAR("simcore_gtpu_echo_replies_total",
                   "GTP-U Echo Requests answered on the access port.", echo_replies),
    SIMCORE_SCALAR("simcore_arp_replies_total", "ARP requests for a port address answered.",
                   arp_replies),
    SIMCORE_SCALAR("simcore_arp_requests_total", "ARP requests sent for unresolved next hops.",
                   arp_requests),
    SIMCORE_SCALAR("simcore_arp_requests_throttled_total",
                   "ARP requests not sent: one per next hop per retry interval.",
                   arp_requests_throttled),
    SIMCORE_SCALAR("simcore_icmp_time_exceeded_total", "ICMP Time Exceeded messages sent.",
                   icmp_time_exceeded),
    SIMCORE_SCALAR("simcore_icmp_frag_needed_total", "ICMP Fragmentation Needed messages sent.",
                   icmp_frag_needed),
    SIMCORE_SCALAR("simcore_icmp_suppressed_total",
                   "ICMP errors not sent: rate limit, RFC 1122 rules, or no way back.",
                   icmp_suppressed),
    SIMCORE_SCALAR("simcore_esp_encrypted_total",
                   "Uplink packets encrypted into an IPsec tunnel and sent.", esp_encrypted),
    SIMCORE_SCALAR("simcore_esp_decrypted_total",
                   "ESP packets authenticated and decrypted (then processed as downlink).",
                   esp_decrypted),
};

#undef SIMCORE_SCALAR
#undef SIMCORE_FIELD

// The number of members of an aggregate: T{{0}, ...} with one braced initializer per member
// compiles, one more does not.
template <class T, size_t... I>
constexpr bool initializable_with(std::index_sequence<I...>) {
  return requires { T{{((void)I, 0)}...}; };
}
template <class T, size_t N = 0>
constexpr size_t member_count() {
  if constexpr (initializable_with<T>(std::make_index_sequence<N + 1>())) {
    return member_count<T, N + 1>();
  } else {
    return N;
  }
}

constexpr bool families_cover_counters() {
  size_t next = 0;
  for (const Family& f : kFamilies) {
    size_t elements = 1;
    for (size_t d = 0; d < f.dim_count; ++d) elements *= f.dims[d].count;
    if (f.offset != next || elements != f.words) return false;
    next += f.words * sizeof(uint64_t);
  }
  return true;
}
static_assert(member_count<Counters>() == kFamilies.size(),
              "every Counters field needs a row in kFamilies");
static_assert(families_cover_counters(),
              "kFamilies must follow Counters' field order with matching dimensions");

void append_number(std::string& out, uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Prometheus counters are read while the owning worker writes them: one relaxed atomic load
// per value (never torn; no ordering needed between counters).
uint64_t load(const Counters& c, size_t offset, size_t index) {
  const auto* p = reinterpret_cast<const uint64_t*>(reinterpret_cast<const char*>(&c) + offset);
  return __atomic_load_n(p + index, __ATOMIC_RELAXED);
}

void append_sample(std::string& out, const Family& f, const size_t (&at)[2], size_t worker,
                   uint64_t value) {
  out += f.name;
  out += '{';
  for (size_t d = 0; d < f.dim_count; ++d) {
    out += f.dims[d].label;
    out += "=\"";
    append_label_value(out, f.dims[d].name(at[d]));
    out += "\",";
  }
  out += "worker=\"";
  append_number(out, worker);
  out += "\"} ";
  append_number(out, value);
  out += '\n';
}

}  // namespace

void append_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

std::string render_prometheus(std::span<const Counters> per_worker) {
  std::string out;
  out.reserve(4096 + per_worker.size() * 6144);
  for (const Family& f : kFamilies) {
    out += "# HELP ";
    out += f.name;
    out += ' ';
    out += f.help;  // no backslash or line feed: nothing to escape
    out += "\n# TYPE ";
    out += f.name;
    out += " counter\n";
    // Row-major over the dimensions, like the Counters arrays; workers innermost so that one
    // counter's samples are adjacent.
    const size_t n0 = f.dim_count > 0 ? f.dims[0].count : 1;
    const size_t n1 = f.dim_count > 1 ? f.dims[1].count : 1;
    const size_t first0 = f.dim_count > 0 ? f.dims[0].first : 0;
    const size_t first1 = f.dim_count > 1 ? f.dims[1].first : 0;
    for (size_t i = first0; i < n0; ++i) {
      for (size_t j = first1; j < n1; ++j) {
        const size_t at[2] = {i, j};
        for (size_t w = 0; w < per_worker.size(); ++w) {
          append_sample(out, f, at, w, load(per_worker[w], f.offset, i * n1 + j));
        }
      }
    }
  }
  return out;
}

}  // namespace simcore::dp
