// sim/scenario.h — a scenario file: the account to run against, a seed, and what the Things do
// (attach parameters, flows, malformed and spoofed packets, detach), plus traffic that belongs
// to no Thing (internet to NAT public ports, probes of unused addresses). Parsed and checked
// here; nothing is generated (sim/generator.h does that). Control thread; no global state.
//
// Failure: a core::Error blaming the YAML path of the bad field, e.g.
// "things[2].flows[0].protocol: expected UDP, TCP or ICMP (line 31)".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/model.h"
#include "core/result.h"
#include "core/verdict.h"

namespace simcore::sim {

// Which Things a behaviour applies to. Exactly one of the criteria is set; `limit` keeps the
// first N matches in slot order.
struct Selector {
  std::vector<std::string> names;  // `name:` / `names:`
  std::string tag;
  std::string group;  // Things Group name
  std::string name_prefix;
  bool all = false;    // `all: true`
  uint64_t limit = 0;  // 0: every match
};

// How a flow's packets are broken on purpose. The expectation is the parse status the frame
// is built to have (sim/encode.h), since the policy never sees it.
enum class Malformation : uint8_t {
  kNone,
  kGtpuVersion,        // access: GTP-U version 2 → malformed.gtpu
  kGtpuLength,         // access: GTP-U length beyond UDP's → malformed.gtpu
  kInnerChecksum,      // access: inner IPv4 header checksum wrong → inner_ipv4.bad_checksum
  kInnerFragment,      // access: inner IPv4 MF set → inner_ipv4.fragment
  kInnerTruncatedL4,   // access: inner L4 header cut short → malformed.inner_l4
  kIpv4Checksum,       // outer (core: the only) IPv4 header checksum wrong → ipv4.bad_checksum
  kIpv4Fragment,       // core: IPv4 MF set → ipv4.fragment
  kIpv4Version,        // outer IPv4 version 5 → malformed.ipv4
  kTruncatedEthernet,  // 10 bytes → malformed.ethernet
};
const char* malformation_name(Malformation m) noexcept;
core::Result<Malformation> parse_malformation(std::string_view text);

struct SizeRange {
  uint16_t lo = 100;  // inner IPv4 total length, bytes
  uint16_t hi = 100;
};

// One flow of a behaviour: `count` packets per selected Thing (and, with `reply`, as many
// replies in the other direction right after each). Uplink: from the Thing to `to` (an
// address, or a random host of a CIDR), to the Thing named `to_thing`, or to the next Thing of
// the same selection (`to_peer`). Downlink: from `from` (address or CIDR) to the Thing. In
// `traffic:` (no Thing) a downlink goes from `from` to `to` (e.g. a NAT public address).
struct Flow {
  std::string name;  // unique in the scenario; default "<behaviour>/<i>"
  std::string path;  // "things[1].flows[0]", for messages
  core::Direction dir = core::Direction::kUplink;
  std::optional<core::Cidr> to;
  std::string to_thing;
  bool to_peer = false;
  std::optional<core::Cidr> from;  // traffic: also the inner source of unknown-TEID uplink
  uint8_t proto = 17;
  std::optional<uint16_t> sport;  // default: an ephemeral port per Thing
  uint16_t dport = 0;
  SizeRange size;
  uint32_t count = 1;
  bool reply = false;               // each packet is answered from the far end (ports swapped)
  std::optional<core::Cidr> spoof;  // uplink: inner source from here instead of the Thing's
  Malformation malformed = Malformation::kNone;
  bool unknown_teid = false;    // traffic: uplink on a TEID no session has
  uint32_t interval_ms = 1000;  // between a Thing's packets of this flow
};

// GTP-C parameters of a simulated attach. Offline they go into the session as given; the
// online driver sends them in Create Session (v2) / Create PDP Context (v1).
struct AttachSpec {
  int gtp = 2;  // 2: GTPv2-C (PGW), 1: GTPv1-C (GGSN)
  core::Rat rat = core::Rat::kEutran;
  uint16_t mcc = 204;
  uint16_t mnc = 8;
  std::string imei;                  // empty: the Thing's recorded IMEI
  std::optional<core::Ipv4> enodeb;  // default: one of 198.51.100.101-116 by slot
};

struct Behaviour {
  std::string name;  // `name:` or "things[i]"
  std::string path;
  Selector select;
  std::optional<AttachSpec> attach;
  std::vector<Flow> flows;
  bool detach = false;
  std::vector<Flow> after_detach;  // sent once every detach of the scenario is done
};

struct Scenario {
  std::string path;      // the file, or "" for text
  std::string base_dir;  // relative account paths start here
  uint64_t seed = 1;
  // The account: a file (relative to base_dir) and/or an inline mapping in the account file's
  // format; with both, the inline mapping's lists are appended to the file's (`add:`).
  std::string account_file;
  std::string account_inline;  // YAML text
  std::vector<Behaviour> behaviours;
  std::vector<Flow> traffic;  // not tied to a Thing: `from` → `toAddr` downlink, or unknown TEIDs
  uint64_t start_ns = 1'700'000'000'000'000'000ull;
};

// Reads and checks the scenario at `path`. kNotFound when it cannot be read.
core::Result<Scenario> load_scenario(const std::string& path);
// Parses scenario text; `base_dir` resolves a relative account path.
core::Result<Scenario> load_scenario_text(std::string_view text, const std::string& base_dir);

// Returns the account document (YAML text) the scenario names, with inline additions merged.
core::Result<std::string> account_text(const Scenario& s);

}  // namespace simcore::sim
