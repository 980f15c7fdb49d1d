#include "sim/scenario.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>

namespace simcore::sim {
namespace {

using core::Error;
using core::Result;

// A value of the document and its path. yaml-cpp throws on type errors; every read below
// checks the type first, so the only exception left is a syntax error, caught at the top.
struct At {
  YAML::Node node;
  std::string path;

  bool present() const { return node.IsDefined() && !node.IsNull(); }
  int line() const { return node.Mark().line + 1; }
  At get(const char* key) const {
    std::string p = path.empty() ? key : path + "." + key;
    if (!node.IsMap()) return {YAML::Node(), p};
    return {node[key], std::move(p)};
  }
  At at(size_t i) const { return {node[i], path + "[" + std::to_string(i) + "]"}; }
};

Error bad(const At& a, const std::string& message) {
  std::string m = message;
  if (a.node.IsDefined() && a.node.Mark().line >= 0)
    m += " (line " + std::to_string(a.line()) + ")";
  return Error::invalid(a.path.empty() ? "scenario" : a.path, m);
}

// Unknown keys are errors, with the allowed ones listed (a typo should not be ignored).
core::Status only_keys(const At& a, std::initializer_list<const char*> keys) {
  if (!a.node.IsMap()) return bad(a, "expected a mapping");
  for (auto it = a.node.begin(); it != a.node.end(); ++it) {
    const std::string k = it->first.as<std::string>();
    bool ok = false;
    for (const char* allowed : keys) ok = ok || k == allowed;
    if (!ok) {
      std::string list;
      for (const char* allowed : keys) list += (list.empty() ? "" : ", ") + std::string(allowed);
      return bad(At{it->first, a.path.empty() ? k : a.path + "." + k},
                 "unknown key (expected one of: " + list + ")");
    }
  }
  return {};
}

Result<std::string> str(const At& a) {
  if (!a.node.IsScalar()) return bad(a, "expected a string");
  return a.node.Scalar();
}

Result<uint64_t> uint(const At& a, uint64_t max) {
  if (!a.node.IsScalar()) return bad(a, "expected a number");
  const std::string& s = a.node.Scalar();
  uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return bad(a, "expected a whole number");
  if (v > max) return bad(a, "at most " + std::to_string(max));
  return v;
}

Result<bool> boolean(const At& a) {
  if (!a.node.IsScalar()) return bad(a, "expected true or false");
  const std::string& s = a.node.Scalar();
  if (s == "true") return true;
  if (s == "false") return false;
  return bad(a, "expected true or false");
}

// "192.0.2.10" (a /32) or "192.0.2.0/26".
Result<core::Cidr> addr_or_cidr(const At& a) {
  auto s = str(a);
  if (!s) return s.error();
  if (s->find('/') != std::string::npos) {
    auto c = core::Cidr::parse(*s);
    if (!c) return bad(a, "not a CIDR: " + c.error().message());
    return *c;
  }
  auto ip = core::Ipv4::parse(*s);
  if (!ip) return bad(a, "expected an IPv4 address or CIDR");
  return core::Cidr{*ip, 32};
}

#define SIM_TRY(var, expr)                \
  auto var##_or = (expr);                 \
  if (!var##_or) return var##_or.error(); \
  auto& var = *var##_or

#define SIM_TRY_STATUS(expr) \
  if (core::Status st_ = (expr); !st_) return st_.error()

Result<Selector> parse_selector(const At& a) {
  SIM_TRY_STATUS(only_keys(a, {"name", "names", "tag", "group", "namePrefix", "all", "limit"}));
  Selector s;
  int criteria = 0;
  if (At n = a.get("name"); n.present()) {
    SIM_TRY(v, str(n));
    s.names.push_back(v);
    ++criteria;
  }
  if (At n = a.get("names"); n.present()) {
    if (!n.node.IsSequence() || n.node.size() == 0) return bad(n, "expected a list of names");
    for (size_t i = 0; i < n.node.size(); ++i) {
      SIM_TRY(v, str(n.at(i)));
      s.names.push_back(v);
    }
    ++criteria;
  }
  if (At n = a.get("tag"); n.present()) {
    SIM_TRY(v, str(n));
    s.tag = v;
    ++criteria;
  }
  if (At n = a.get("group"); n.present()) {
    SIM_TRY(v, str(n));
    s.group = v;
    ++criteria;
  }
  if (At n = a.get("namePrefix"); n.present()) {
    SIM_TRY(v, str(n));
    s.name_prefix = v;
    ++criteria;
  }
  if (At n = a.get("all"); n.present()) {
    SIM_TRY(v, boolean(n));
    s.all = v;
    ++criteria;
  }
  if (criteria != 1) return bad(a, "give exactly one of name, names, tag, group, namePrefix, all");
  if (At n = a.get("limit"); n.present()) {
    SIM_TRY(v, uint(n, 10'000'000));
    if (v == 0) return bad(n, "must be at least 1");
    s.limit = v;
  }
  return s;
}

Result<core::Rat> parse_rat(const At& a) {
  SIM_TRY(s, str(a));
  static constexpr std::pair<const char*, core::Rat> kRats[] = {
      {"UTRAN", core::Rat::kUtran}, {"3G", core::Rat::kUtran},      {"GERAN", core::Rat::kGeran},
      {"2G", core::Rat::kGeran},    {"EUTRAN", core::Rat::kEutran}, {"4G", core::Rat::kEutran},
      {"LTE-M", core::Rat::kLteM},  {"NB-IoT", core::Rat::kNbIot},  {"NR", core::Rat::kNr},
  };
  for (const auto& [name, rat] : kRats) {
    if (s == name) return rat;
  }
  return bad(a, "expected GERAN, UTRAN, EUTRAN, LTE-M, NB-IoT or NR (or 2G, 3G, 4G)");
}

Result<AttachSpec> parse_attach(const At& a) {
  AttachSpec s;
  if (a.node.IsScalar()) {  // `attach: true`
    SIM_TRY(v, boolean(a));
    if (!v) return bad(a, "leave `attach` out instead of false");
    return s;
  }
  SIM_TRY_STATUS(only_keys(a, {"gtp", "rat", "mcc", "mnc", "imei", "enodeb"}));
  if (At n = a.get("gtp"); n.present()) {
    SIM_TRY(v, str(n));
    if (v == "v2" || v == "2") {
      s.gtp = 2;
    } else if (v == "v1" || v == "1") {
      s.gtp = 1;
    } else {
      return bad(n, "expected v1 or v2");
    }
  }
  if (At n = a.get("rat"); n.present()) {
    SIM_TRY(v, parse_rat(n));
    s.rat = v;
  }
  if (At n = a.get("mcc"); n.present()) {
    SIM_TRY(v, uint(n, 999));
    s.mcc = static_cast<uint16_t>(v);
  }
  if (At n = a.get("mnc"); n.present()) {
    SIM_TRY(v, uint(n, 999));
    s.mnc = static_cast<uint16_t>(v);
  }
  if (At n = a.get("imei"); n.present()) {
    SIM_TRY(v, str(n));
    if (v.size() != 15 || v.find_first_not_of("0123456789") != std::string::npos) {
      return bad(n, "expected 15 digits");
    }
    s.imei = v;
  }
  if (At n = a.get("enodeb"); n.present()) {
    SIM_TRY(v, str(n));
    auto ip = core::Ipv4::parse(v);
    if (!ip) return bad(n, "expected an IPv4 address");
    s.enodeb = *ip;
  }
  return s;
}

Result<SizeRange> parse_size(const At& a) {
  // Inner packets must fit a G-PDU on a 1500-byte access link (36 bytes of GTP-U outer
  // headers), or the engine answers Fragmentation Needed instead of delivering them.
  constexpr uint64_t kMax = 1500 - 36;
  SizeRange r;
  if (a.node.IsSequence()) {
    if (a.node.size() != 2) return bad(a, "expected a size or [min, max]");
    SIM_TRY(lo, uint(a.at(0), kMax));
    SIM_TRY(hi, uint(a.at(1), kMax));
    if (lo > hi) return bad(a, "min is above max");
    r.lo = static_cast<uint16_t>(lo);
    r.hi = static_cast<uint16_t>(hi);
  } else {
    SIM_TRY(v, uint(a, kMax));
    r.lo = r.hi = static_cast<uint16_t>(v);
  }
  return r;
}

uint16_t header_bytes(uint8_t proto) { return proto == 6 ? 40 : 28; }

// `in_traffic`: an entry of the top-level `traffic:` list (no Thing).
Result<Flow> parse_flow(const At& a, bool in_traffic, const std::string& default_name) {
  SIM_TRY_STATUS(only_keys(
      a, {"name", "direction", "to", "toThing", "toPeer", "from", "protocol", "srcPort", "dstPort",
          "size", "count", "reply", "spoof", "malformed", "unknownTeid", "interval"}));
  Flow f;
  f.path = a.path;
  f.name = default_name;
  if (At n = a.get("name"); n.present()) {
    SIM_TRY(v, str(n));
    f.name = v;
  }
  At dir = a.get("direction");
  if (!dir.present()) return bad(a, "direction is required (uplink or downlink)");
  SIM_TRY(d, str(dir));
  if (d == "uplink") {
    f.dir = core::Direction::kUplink;
  } else if (d == "downlink") {
    f.dir = core::Direction::kDownlink;
  } else {
    return bad(dir, "expected uplink or downlink");
  }
  const bool up = f.dir == core::Direction::kUplink;
  if (At n = a.get("to"); n.present()) {
    SIM_TRY(v, addr_or_cidr(n));
    f.to = v;
  }
  if (At n = a.get("toThing"); n.present()) {
    if (!up || in_traffic) return bad(n, "only for uplink flows of Things");
    SIM_TRY(v, str(n));
    f.to_thing = v;
  }
  if (At n = a.get("toPeer"); n.present()) {
    if (!up || in_traffic) return bad(n, "only for uplink flows of Things");
    SIM_TRY(v, boolean(n));
    f.to_peer = v;
  }
  if (At n = a.get("from"); n.present()) {
    if (up && !in_traffic) return bad(n, "an uplink flow comes from its Thing (see `spoof`)");
    SIM_TRY(v, addr_or_cidr(n));
    f.from = v;
  }
  if (At n = a.get("unknownTeid"); n.present()) {
    if (!up || !in_traffic) return bad(n, "only for uplink entries of `traffic`");
    SIM_TRY(v, boolean(n));
    f.unknown_teid = v;
  }
  const int dests = (f.to ? 1 : 0) + (f.to_thing.empty() ? 0 : 1) + (f.to_peer ? 1 : 0);
  if (up && dests != 1) return bad(a, "an uplink flow needs exactly one of to, toThing, toPeer");
  if (!up && !in_traffic && f.to) return bad(a.get("to"), "a downlink flow goes to its Thing");
  if (!up && !f.from) return bad(a, "a downlink flow needs `from`");
  if (in_traffic && !f.to) return bad(a, "a traffic entry needs `to`");
  if (in_traffic && up && (!f.unknown_teid || !f.from)) {
    return bad(a, "an uplink traffic entry needs unknownTeid: true and `from` (its source)");
  }
  At proto = a.get("protocol");
  if (proto.present()) {
    SIM_TRY(p, str(proto));
    if (p == "UDP") {
      f.proto = 17;
    } else if (p == "TCP") {
      f.proto = 6;
    } else if (p == "ICMP") {
      f.proto = 1;
    } else {
      return bad(proto, "expected UDP, TCP or ICMP");
    }
  }
  const bool ports = f.proto != 1;
  if (At n = a.get("srcPort"); n.present()) {
    if (!ports) return bad(n, "ICMP has no ports");
    SIM_TRY(v, uint(n, 65535));
    f.sport = static_cast<uint16_t>(v);
  }
  if (At n = a.get("dstPort"); n.present()) {
    if (!ports) return bad(n, "ICMP has no ports");
    SIM_TRY(v, uint(n, 65535));
    f.dport = static_cast<uint16_t>(v);
  } else if (ports) {
    return bad(a, "dstPort is required for UDP and TCP");
  }
  f.size = {static_cast<uint16_t>(header_bytes(f.proto) + 32),
            static_cast<uint16_t>(header_bytes(f.proto) + 32)};
  if (At n = a.get("size"); n.present()) {
    SIM_TRY(v, parse_size(n));
    if (v.lo < header_bytes(f.proto)) {
      return bad(n, "at least " + std::to_string(header_bytes(f.proto)) +
                        " bytes (the IPv4 and L4 headers)");
    }
    f.size = v;
  }
  if (At n = a.get("count"); n.present()) {
    SIM_TRY(v, uint(n, 1'000'000));
    f.count = static_cast<uint32_t>(v);
  }
  if (At n = a.get("reply"); n.present()) {
    if (in_traffic) return bad(n, "traffic entries get no replies (no Thing opened them)");
    SIM_TRY(v, boolean(n));
    f.reply = v;
  }
  if (At n = a.get("spoof"); n.present()) {
    if (!up || in_traffic) return bad(n, "only for uplink flows of Things");
    SIM_TRY(v, addr_or_cidr(n));
    f.spoof = v;
  }
  if (At n = a.get("malformed"); n.present()) {
    SIM_TRY(v, str(n));
    auto m = parse_malformation(v);
    if (!m) return bad(n, m.error().message());
    f.malformed = *m;
    const bool access_only = f.malformed == Malformation::kGtpuVersion ||
                             f.malformed == Malformation::kGtpuLength ||
                             f.malformed == Malformation::kInnerChecksum ||
                             f.malformed == Malformation::kInnerFragment ||
                             f.malformed == Malformation::kInnerTruncatedL4;
    if (access_only && !up) return bad(n, "only for uplink (G-PDU) packets");
    if (f.malformed == Malformation::kIpv4Fragment && up) {
      return bad(n, "only for downlink packets (uplink: inner-fragment)");
    }
    if (f.reply) return bad(n, "a malformed packet gets no reply");
  }
  if (At n = a.get("interval"); n.present()) {
    SIM_TRY(v, uint(n, 3'600'000));
    if (v == 0) return bad(n, "at least 1 ms");
    f.interval_ms = static_cast<uint32_t>(v);
  }
  return f;
}

Result<std::vector<Flow>> parse_flows(const At& a, bool in_traffic, const std::string& owner) {
  if (!a.node.IsSequence()) return bad(a, "expected a list of flows");
  std::vector<Flow> out;
  for (size_t i = 0; i < a.node.size(); ++i) {
    SIM_TRY(f, parse_flow(a.at(i), in_traffic, owner + "/" + std::to_string(i)));
    out.push_back(std::move(f));
  }
  return out;
}

Result<Behaviour> parse_behaviour(const At& a, size_t index) {
  SIM_TRY_STATUS(only_keys(a, {"name", "select", "attach", "flows", "detach", "afterDetach"}));
  Behaviour b;
  b.path = a.path;
  b.name = "things[" + std::to_string(index) + "]";
  if (At n = a.get("name"); n.present()) {
    SIM_TRY(v, str(n));
    b.name = v;
  }
  At sel = a.get("select");
  if (!sel.present()) return bad(a, "select is required (name, names, tag, group, ...)");
  SIM_TRY(s, parse_selector(sel));
  b.select = s;
  if (At n = a.get("attach"); n.present()) {
    SIM_TRY(v, parse_attach(n));
    b.attach = v;
  }
  if (At n = a.get("flows"); n.present()) {
    SIM_TRY(v, parse_flows(n, false, b.name));
    b.flows = std::move(v);
  }
  if (At n = a.get("detach"); n.present()) {
    SIM_TRY(v, boolean(n));
    b.detach = v;
  }
  if (At n = a.get("afterDetach"); n.present()) {
    if (!b.detach) return bad(n, "needs detach: true");
    SIM_TRY(v, parse_flows(n, false, b.name + "/after-detach"));
    b.after_detach = std::move(v);
  }
  return b;
}

Result<Scenario> parse(const YAML::Node& doc, Scenario s) {
  const At root{doc, ""};
  SIM_TRY_STATUS(only_keys(root, {"account", "seed", "things", "traffic", "startTime"}));
  At acc = root.get("account");
  if (!acc.present()) return bad(root, "account is required (a path, or a mapping)");
  if (acc.node.IsScalar()) {
    s.account_file = acc.node.Scalar();
  } else {
    SIM_TRY_STATUS(only_keys(acc, {"file", "add", "inline"}));
    At file = acc.get("file");
    At add = acc.get("add");
    At inl = acc.get("inline");
    if (file.present() == inl.present()) return bad(acc, "give exactly one of file, inline");
    if (add.present() && !file.present()) return bad(add, "add extends `file`");
    if (file.present()) {
      SIM_TRY(v, str(file));
      s.account_file = v;
    }
    const At& extra = file.present() ? add : inl;
    if (extra.present()) {
      if (!extra.node.IsMap()) return bad(extra, "expected a mapping in the account file's format");
      YAML::Emitter e;
      e << extra.node;
      s.account_inline = e.c_str();
    }
  }
  if (At n = root.get("seed"); n.present()) {
    SIM_TRY(v, uint(n, UINT64_MAX));
    s.seed = v;
  }
  if (At n = root.get("startTime"); n.present()) {
    SIM_TRY(v, uint(n, 4'000'000'000ull));
    s.start_ns = v * 1'000'000'000ull;
  }
  std::set<std::string> names;
  auto unique = [&](const Flow& f) -> core::Status {
    if (!names.insert(f.name).second) {
      return Error::invalid(f.path + ".name", "flow name \"" + f.name + "\" is used twice");
    }
    return {};
  };
  if (At n = root.get("things"); n.present()) {
    if (!n.node.IsSequence()) return bad(n, "expected a list of behaviours");
    for (size_t i = 0; i < n.node.size(); ++i) {
      SIM_TRY(b, parse_behaviour(n.at(i), i));
      for (const Flow& f : b.flows) SIM_TRY_STATUS(unique(f));
      for (const Flow& f : b.after_detach) SIM_TRY_STATUS(unique(f));
      s.behaviours.push_back(std::move(b));
    }
  }
  if (At n = root.get("traffic"); n.present()) {
    SIM_TRY(v, parse_flows(n, true, "traffic"));
    for (const Flow& f : v) SIM_TRY_STATUS(unique(f));
    s.traffic = std::move(v);
  }
  return s;
}

// Appends `add`'s lists to `base`'s (other keys are set), for `account: {file, add}`.
void merge(YAML::Node base, const YAML::Node& add) {
  for (auto it = add.begin(); it != add.end(); ++it) {
    // Copies: the iterator hands out a temporary pair.
    const std::string k = it->first.as<std::string>();
    const YAML::Node value = it->second;
    YAML::Node mine = base[k];
    if (mine.IsSequence() && value.IsSequence()) {
      for (size_t i = 0; i < value.size(); ++i) mine.push_back(value[i]);
    } else {
      base[k] = value;
    }
  }
}

}  // namespace

const char* malformation_name(Malformation m) noexcept {
  switch (m) {
    case Malformation::kNone: return "none";
    case Malformation::kGtpuVersion: return "gtpu-version";
    case Malformation::kGtpuLength: return "gtpu-length";
    case Malformation::kInnerChecksum: return "inner-checksum";
    case Malformation::kInnerFragment: return "inner-fragment";
    case Malformation::kInnerTruncatedL4: return "inner-truncated-l4";
    case Malformation::kIpv4Checksum: return "ipv4-checksum";
    case Malformation::kIpv4Fragment: return "ipv4-fragment";
    case Malformation::kIpv4Version: return "ipv4-version";
    case Malformation::kTruncatedEthernet: return "truncated-ethernet";
  }
  return "?";
}

core::Result<Malformation> parse_malformation(std::string_view text) {
  std::string all;
  for (int i = 1; i <= static_cast<int>(Malformation::kTruncatedEthernet); ++i) {
    const auto m = static_cast<Malformation>(i);
    if (text == malformation_name(m)) return m;
    all += (all.empty() ? "" : ", ") + std::string(malformation_name(m));
  }
  return Error(core::Code::kInvalidArgument, "expected one of: " + all);
}

core::Result<Scenario> load_scenario_text(std::string_view text, const std::string& base_dir) {
  Scenario s;
  s.base_dir = base_dir;
  try {
    return parse(YAML::Load(std::string(text)), std::move(s));
  } catch (const YAML::Exception& e) {
    return Error::invalid("scenario", "YAML syntax: " + e.msg + " (line " +
                                          std::to_string(e.mark.line + 1) + ", column " +
                                          std::to_string(e.mark.column + 1) + ")");
  }
}

core::Result<Scenario> load_scenario(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error(core::Code::kNotFound, "cannot read scenario " + path);
  std::stringstream text;
  text << in.rdbuf();
  const std::filesystem::path p(path);
  auto s = load_scenario_text(text.str(), p.parent_path().string());
  if (!s) return Error(s.error().code(), path + ": " + s.error().message());
  s->path = path;
  return s;
}

core::Result<std::string> account_text(const Scenario& s) {
  if (s.account_file.empty()) return s.account_inline;
  std::filesystem::path p(s.account_file);
  if (p.is_relative() && !s.base_dir.empty()) p = std::filesystem::path(s.base_dir) / p;
  std::ifstream in(p);
  if (!in) return Error::invalid("account", "cannot read account file " + p.string());
  std::stringstream text;
  text << in.rdbuf();
  if (s.account_inline.empty()) return text.str();
  try {
    YAML::Node base = YAML::Load(text.str());
    if (!base.IsMap()) return Error::invalid("account", p.string() + " is not a mapping");
    const YAML::Node add = YAML::Load(s.account_inline);
    merge(base, add);
    YAML::Emitter e;
    e << base;
    return std::string(e.c_str());
  } catch (const YAML::Exception& e) {
    return Error::invalid("account", p.string() + ": YAML syntax: " + e.msg);
  }
}

}  // namespace simcore::sim
