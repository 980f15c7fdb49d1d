#include "control/account_file.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "core/thing_state.h"
#include "core/validate.h"

namespace simcore::ctl {
namespace {

using core::Code;
using core::Error;
using core::FieldError;
using core::Ipv4;
using core::Result;
using core::Status;

// A file with a thousand broken Things should not print a thousand lines.
constexpr size_t kMaxErrors = 40;
constexpr uint64_t kMaxGenerate = 1'000'000;

// Simulated attach (until GTP-C drives attach): our uplink TEIDs start here, and the eNodeBs
// are addresses of TEST-NET-2 (RFC 5737), 198.51.100.1 to .16, in the Netherlands (204-08).
constexpr uint32_t kFirstUplinkTeid = 0x00010000;
constexpr uint32_t kFirstPeerTeid = 0x01000000;
constexpr uint32_t kFakeEnodebBase = (198u << 24) | (51u << 16) | (100u << 8);
constexpr uint32_t kFakeEnodebs = 16;

std::string key_path(const std::string& base, std::string_view key) {
  return base.empty() ? std::string(key) : base + "." + std::string(key);
}
std::string index_path(const std::string& base, size_t i) {
  return base + "[" + std::to_string(i) + "]";
}
// Joins a path and a relative field name: "a" + "b" → "a.b", "a" + "[1].b" → "a[1].b".
std::string join(const std::string& base, const std::string& field) {
  if (field.empty()) return base;
  if (base.empty()) return field;
  return field[0] == '[' ? base + field : base + "." + field;
}
std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// The API refers to objects by id, the file by name: "thingsGroupId" there is "thingsGroup"
// here. Renames every component of a dotted field name.
std::string file_field(const std::string& api_field) {
  static constexpr std::pair<std::string_view, std::string_view> kRenames[] = {
      {"networkId", "network"}, {"ipProfileId", "ipProfile"}, {"thingsGroupId", "thingsGroup"},
      {"thingId", "thing"},     {"tunnelId", "tunnel"},
  };
  std::string out;
  size_t pos = 0;
  while (pos <= api_field.size()) {
    size_t dot = api_field.find('.', pos);
    if (dot == std::string::npos) dot = api_field.size();
    std::string part = api_field.substr(pos, dot - pos);
    const size_t bracket = part.find('[');
    const std::string_view name = std::string_view(part).substr(0, bracket);
    for (const auto& [from, to] : kRenames) {
      if (name == from) {
        part = std::string(to) + (bracket == std::string::npos ? "" : part.substr(bracket));
        break;
      }
    }
    out += (out.empty() && pos == 0 ? "" : ".") + part;
    pos = dot + 1;
  }
  return out;
}

// Returns the messages of a parse error, which blames no field of its own.
std::string reason(const Error& e) {
  std::string out;
  for (const FieldError& f : e.fields()) out += (out.empty() ? "" : "; ") + f.message;
  return out.empty() ? e.message() : out;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (same ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// ---------------------------------------------------------------- errors

// A value of the document and where it is. An absent key has a Null node.
struct At {
  At(const YAML::Node& n, std::string p, int l) : node(n), path(std::move(p)), line(l) {}
  At(const At&) = default;
  // YAML::Node's assignment writes through to the document (copies are fine).
  At& operator=(const At&) = delete;

  YAML::Node node;
  std::string path;
  int line = 0;  // 1-based; the key's line for values of a mapping
};

bool present(const At& a) { return a.node.IsDefined() && !a.node.IsNull(); }

// Returns the line of `field` (relative, in the file's names: "outbound.rules[1].priority")
// below `base`, or of the deepest part of it that exists.
int locate(const At& base, const std::string& field) {
  YAML::Node n = base.node;
  int line = base.line;
  size_t pos = 0;
  while (pos < field.size() && n.IsDefined()) {
    if (field[pos] == '.') ++pos;
    if (field[pos] == '[') {
      const size_t close = field.find(']', pos);
      size_t i = 0;
      if (close == std::string::npos ||
          std::from_chars(field.data() + pos + 1, field.data() + close, i).ec != std::errc() ||
          !n.IsSequence() || i >= n.size()) {
        break;
      }
      const YAML::Node& seq = n;
      n.reset(seq[i]);  // rebinds; Node::operator= would overwrite the document's node
      if (!n.IsNull()) line = n.Mark().line + 1;
      pos = close + 1;
      continue;
    }
    const size_t end = std::min(field.find_first_of(".[", pos), field.size());
    const std::string key = field.substr(pos, end - pos);
    if (!n.IsMap()) break;
    bool found = false;
    for (auto it = n.begin(); it != n.end(); ++it) {
      const YAML::Node k = it->first;  // a copy: the iterator hands out a temporary
      if (k.IsScalar() && k.Scalar() == key) {
        line = k.Mark().line + 1;
        n.reset(it->second);
        found = true;
        break;
      }
    }
    if (!found) break;
    pos = end;
  }
  return line;
}

struct Problem {
  Code code;
  FieldError field;
  int line;  // 0: not in the file (the compile check)
};

class Errors {
 public:
  void add(std::string field, std::string message, int line, Code code = Code::kInvalidArgument) {
    if (line > 0) message += " (line " + std::to_string(line) + ")";
    problems_.push_back({code, {std::move(field), std::move(message)}, line});
  }

  // Adds an error of core::Account (or core's validation) about the object at `base`. `map`
  // turns each field it blames into the file's field below `base` (default: the API's names
  // renamed to the file's); an error that blames no field blames `base` itself. `prefix` goes
  // in front of each message.
  template <class FieldMap>
  void add_core(const At& base, const Error& e, const std::string& prefix, FieldMap&& map) {
    if (e.fields().empty()) {
      add(base.path, prefix + e.message(), base.line, e.code());
      return;
    }
    for (const FieldError& f : e.fields()) {
      const std::string field = map(f.field);
      add(join(base.path, field), prefix + f.message, locate(base, field), e.code());
    }
  }
  void add_core(const At& base, const Error& e, const std::string& prefix = "") {
    add_core(base, e, prefix, &file_field);
  }

  size_t count() const noexcept { return problems_.size(); }
  bool empty() const noexcept { return problems_.empty(); }

  // Returns one error naming every problem in the order of the file's lines.
  Error to_error() {
    std::stable_sort(problems_.begin(), problems_.end(), [](const Problem& a, const Problem& b) {
      return static_cast<unsigned>(a.line - 1) < static_cast<unsigned>(b.line - 1);
    });
    if (problems_.size() == 1) {
      return Error::on_field(problems_[0].code, problems_[0].field.field,
                             problems_[0].field.message);
    }
    std::vector<FieldError> fields;
    for (size_t i = 0; i < problems_.size() && i < kMaxErrors; ++i) {
      fields.push_back(problems_[i].field);
    }
    if (problems_.size() > kMaxErrors) {
      fields.push_back(
          {"...", std::to_string(problems_.size() - kMaxErrors) + " more problems not shown"});
    }
    return Error::invalid(std::move(fields));
  }

 private:
  std::vector<Problem> problems_;
};

// ---------------------------------------------------------------- reading values

std::string kind(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "nothing";
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a mapping";
  return n.Tag() == "!" ? "the string " + quoted(n.Scalar()) : n.Scalar();
}

// A mapping whose keys are checked against the allowed ones: unknown keys (with a suggestion),
// duplicate keys and a value of another type are reported once, when it is read.
class Map {
 public:
  Map(Errors& errs, const At& at, std::initializer_list<std::string_view> keys)
      : path_(at.path), line_(at.line) {
    if (!at.node.IsDefined() || !at.node.IsMap()) {
      errs.add(at.path.empty() ? "(document)" : at.path,
               "must be a mapping of keys to values, not " + kind(at.node), at.line);
      return;
    }
    ok_ = true;
    for (auto it = at.node.begin(); it != at.node.end(); ++it) {
      const YAML::Node k = it->first;  // a copy: the iterator hands out a temporary
      const int kline = k.Mark().line + 1;
      if (!k.IsScalar()) {
        errs.add(at.path.empty() ? "(document)" : at.path, "keys must be names", kline);
        continue;
      }
      const std::string& key = k.Scalar();
      const std::string kpath = key_path(path_, key);
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
        errs.add(kpath, unknown_key_message(key, keys), kline);
        continue;
      }
      if (!entries_.emplace(key, At{it->second, kpath, kline}).second) {
        errs.add(kpath, "duplicate key", kline);
      }
    }
  }

  bool ok() const noexcept { return ok_; }
  const std::string& path() const noexcept { return path_; }
  int line() const noexcept { return line_; }
  // Returns the value of `key`; absent keys come back as Null at the mapping's line.
  At get(std::string_view key) const {
    auto it = entries_.find(key);
    if (it != entries_.end()) return it->second;
    return At{YAML::Node(), key_path(path_, key), line_};
  }

 private:
  static std::string unknown_key_message(const std::string& key,
                                         std::initializer_list<std::string_view> keys) {
    std::string_view best;
    size_t best_d = 3;  // suggest only close matches
    for (std::string_view k : keys) {
      const size_t d = edit_distance(key, k);
      if (d < best_d) {
        best_d = d;
        best = k;
      }
    }
    if (!best.empty()) return "unknown key (did you mean " + quoted(best) + "?)";
    std::string all;
    for (std::string_view k : keys) all += (all.empty() ? "" : ", ") + std::string(k);
    return "unknown key (expected one of " + all + ")";
  }

  std::string path_;
  int line_ = 0;
  bool ok_ = false;
  std::map<std::string, At, std::less<>> entries_;
};

enum Need : bool { kOptional = false, kRequired = true };

bool check_present(Errors& errs, const At& a, Need need) {
  if (present(a)) return true;
  if (need == kRequired) errs.add(a.path, "is required", a.line);
  return false;
}

// Every reader returns nullopt when the value is absent (an error if required) or wrong (an
// error naming the expected type).
std::optional<std::string> read_string(Errors& errs, const At& a, Need need = kOptional) {
  if (!check_present(errs, a, need)) return std::nullopt;
  if (!a.node.IsScalar()) {
    errs.add(a.path, "must be a string, not " + kind(a.node), a.line);
    return std::nullopt;
  }
  return a.node.Scalar();
}

// YAML booleans and numbers must be plain scalars: a quoted "true" is a string.
std::optional<std::string> read_plain(Errors& errs, const At& a, Need need, const char* what) {
  if (!check_present(errs, a, need)) return std::nullopt;
  if (!a.node.IsScalar() || a.node.Tag() == "!") {
    errs.add(a.path, std::string("must be ") + what + ", not " + kind(a.node), a.line);
    return std::nullopt;
  }
  return a.node.Scalar();
}

std::optional<bool> read_bool(Errors& errs, const At& a, Need need = kOptional) {
  auto s = read_plain(errs, a, need, "true or false");
  if (!s) return std::nullopt;
  if (*s == "true" || *s == "True" || *s == "TRUE") return true;
  if (*s == "false" || *s == "False" || *s == "FALSE") return false;
  errs.add(a.path, "must be true or false, not " + *s, a.line);
  return std::nullopt;
}

std::optional<uint64_t> read_uint(Errors& errs, const At& a, uint64_t min, uint64_t max,
                                  Need need = kOptional) {
  const std::string what = "a whole number " + std::to_string(min) + " to " + std::to_string(max);
  auto s = read_plain(errs, a, need, what.c_str());
  if (!s) return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc() || p != s->data() + s->size() || v < min || v > max) {
    errs.add(a.path, "must be " + what + ", not " + *s, a.line);
    return std::nullopt;
  }
  return v;
}

std::optional<double> read_fraction(Errors& errs, const At& a, Need need = kOptional) {
  auto s = read_plain(errs, a, need, "a fraction 0 to 1");
  if (!s) return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc() || p != s->data() + s->size() || !(v >= 0.0 && v <= 1.0)) {
    errs.add(a.path, "must be a fraction 0 to 1 (e.g. 0.9), not " + *s, a.line);
    return std::nullopt;
  }
  return v;
}

// Reads a string and parses it with one of core's parsers (Cidr::parse, parse_state, ...).
template <class T>
std::optional<T> read_parsed(Errors& errs, const At& a, Result<T> (*parse)(std::string_view),
                             Need need = kOptional) {
  auto s = read_string(errs, a, need);
  if (!s) return std::nullopt;
  Result<T> r = parse(*s);
  if (!r) {
    errs.add(a.path, reason(r.error()), a.line);
    return std::nullopt;
  }
  return *r;
}

std::optional<std::vector<At>> read_list(Errors& errs, const At& a, Need need = kOptional) {
  if (!check_present(errs, a, need)) return std::nullopt;
  if (!a.node.IsSequence()) {
    errs.add(a.path, "must be a list, not " + kind(a.node), a.line);
    return std::nullopt;
  }
  std::vector<At> items;
  for (size_t i = 0; i < a.node.size(); ++i) {
    const YAML::Node item = a.node[i];
    const int line = item.IsNull() ? a.line : item.Mark().line + 1;
    items.push_back(At{item, index_path(a.path, i), line});
  }
  return items;
}

// Reads a list of strings, or of values parsed by `parse`.
template <class T>
std::optional<std::vector<T>> read_parsed_list(Errors& errs, const At& a,
                                               Result<T> (*parse)(std::string_view)) {
  auto items = read_list(errs, a);
  if (!items) return std::nullopt;
  std::vector<T> out;
  bool ok = true;
  for (const At& item : *items) {
    auto v = read_parsed(errs, item, parse, kRequired);
    ok = ok && v.has_value();
    if (v) out.push_back(*v);
  }
  if (!ok) return std::nullopt;
  return out;
}

Result<std::string> as_string(std::string_view s) { return std::string(s); }

std::optional<core::Services> read_services(Errors& errs, const At& a, core::Services base) {
  if (!present(a)) return base;
  Map m(errs, a, {"data", "sms"});
  if (!m.ok()) return std::nullopt;
  const size_t before = errs.count();
  if (auto v = read_bool(errs, m.get("data"))) base.data = *v;
  if (auto v = read_bool(errs, m.get("sms"))) base.sms = *v;
  if (errs.count() != before) return std::nullopt;
  return base;
}

// Returns `start` + k as a decimal string of the same width, or nullopt when it overflows.
std::optional<std::string> add_decimal(std::string s, uint64_t k) {
  for (size_t i = s.size(); i > 0 && k > 0; --i) {
    const uint64_t v = static_cast<uint64_t>(s[i - 1] - '0') + k;
    s[i - 1] = static_cast<char>('0' + v % 10);
    k = v / 10;
  }
  if (k > 0) return std::nullopt;
  return s;
}

// Returns the lifecycle steps that take a new (PROVISIONED) Thing to `s` by the shortest path.
std::vector<core::ThingState> path_to(core::ThingState s) {
  using core::ThingState;
  switch (s) {
    case ThingState::kProvisioned: return {};
    case ThingState::kActive: return {ThingState::kActive};
    case ThingState::kSuspended: return {ThingState::kActive, ThingState::kSuspended};
    case ThingState::kRetired: return {ThingState::kRetired};
  }
  return {};
}

Result<core::Verdict> parse_verdict(std::string_view s) {
  for (int v = 0; v <= static_cast<int>(core::Verdict::kDrop); ++v) {
    if (s == core::verdict_name(static_cast<core::Verdict>(v)))
      return static_cast<core::Verdict>(v);
  }
  return Error::invalid("", "");
}

Result<core::DropReason> parse_drop_reason(std::string_view s) {
  for (int r = 1; r < static_cast<int>(core::DropReason::kCount); ++r) {
    const auto reason_r = static_cast<core::DropReason>(r);
    if (s == core::drop_reason_name(reason_r)) return reason_r;
  }
  return Error::invalid("", "");
}

// ---------------------------------------------------------------- the loader

// Names defined by the account (the shipped defaults) or the file, and the entries that failed:
// a reference to a failed entry is skipped quietly, as that entry's own error says enough.
template <class IdT>
struct Names {
  std::map<std::string, IdT, std::less<>> ids;
  std::map<std::string, std::string, std::less<>> defined_at;  // by the file: name → path
  std::set<std::string, std::less<>> failed;
};

// Where a Thing to be provisioned came from.
struct ThingEntry {
  ThingEntry(Map m, const At& a) : map(std::move(m)), at(a) {}
  Map map;
  At at;
  bool generated = false;
  std::vector<std::pair<core::ThingState, At>> states;
  bool attach_all = false;  // explicit `attached: true`
  double attach_fraction = 0;
  bool failed = false;  // once one Thing of a block fails, the rest of it is skipped
};

struct Planned {
  core::Thing spec;
  size_t entry = 0;
  int64_t item = -1;  // 0-based number in a generator block, -1 for an explicit entry
  bool attach = false;
  core::ThingId id;
};

struct DeferredNat {
  core::NetworkId network;
  At rules;
};

class Loader {
 public:
  Result<LoadedAccount> run(const YAML::Node& doc) {
    for (const auto& [id, n] : account_.model().networks) networks_.ids.emplace(n.name, id);
    for (const auto& [id, p] : account_.model().profiles) profiles_.ids.emplace(p.name, id);
    for (const auto& [id, g] : account_.model().groups) groups_.ids.emplace(g.name, id);

    if (doc.IsDefined() && !doc.IsNull()) {
      Map root(errs_, At{doc, "", 1},
               {"networks", "ipProfiles", "thingsGroups", "things", "examples"});
      if (root.ok()) {
        // Dependency order, whatever the file's order: NAT rules need Things, Things groups.
        if (auto items = read_list(errs_, root.get("networks"))) {
          for (size_t i = 0; i < items->size(); ++i) network((*items)[i]);
        }
        if (auto items = read_list(errs_, root.get("ipProfiles"))) {
          for (const At& item : *items) profile(item);
        }
        if (auto items = read_list(errs_, root.get("thingsGroups"))) {
          for (const At& item : *items) group(item);
        }
        if (auto items = read_list(errs_, root.get("things"))) things(*items);
        for (const DeferredNat& d : nat_) nat_rules(d);
        if (auto items = read_list(errs_, root.get("examples"))) {
          for (const At& item : *items) example(item);
        }
      }
    }
    if (!errs_.empty()) return errs_.to_error();

    core::Compiler compiler;
    Result<core::TablesPtr> tables = compiler.compile(account_.model());
    if (!tables) return compile_error(tables.error());
    return LoadedAccount{std::move(account_), std::move(examples_), *tables};
  }

 private:
  // ------------------------------------------------------------ references by name

  template <class IdT>
  bool define(Names<IdT>& names, const std::string& name, const At& name_at) {
    auto [it, fresh] = names.defined_at.emplace(name, name_at.path);
    if (!fresh) {
      errs_.add(name_at.path, "duplicate of " + it->second, name_at.line, Code::kAlreadyExists);
      return false;
    }
    return true;
  }

  // Returns the id the name refers to; nullopt with an error when it names nothing, quietly
  // when it names an entry that failed to load.
  template <class IdT>
  std::optional<IdT> resolve(const Names<IdT>& names, const At& a, const char* what) {
    auto name = read_string(errs_, a);
    if (!name) return std::nullopt;
    if (auto it = names.ids.find(*name); it != names.ids.end()) return it->second;
    if (!names.failed.count(*name)) {
      errs_.add(a.path, std::string("no such ") + what + " " + quoted(*name), a.line,
                Code::kNotFound);
    }
    return std::nullopt;
  }

  // A Thing by ICCID or name.
  const core::Thing* resolve_thing(const At& a) {
    auto text = read_string(errs_, a, kRequired);
    if (!text) return nullptr;
    if (const core::Thing* t = account_.thing_by_iccid(*text)) return t;
    auto it = by_name_.find(*text);
    if (it != by_name_.end() && it->second.size() == 1) {
      return &account_.model().things[it->second[0]];
    }
    if (it != by_name_.end()) {
      errs_.add(a.path,
                std::to_string(it->second.size()) + " Things are named " + quoted(*text) +
                    ": use the ICCID",
                a.line);
    } else if (!things_failed_) {
      errs_.add(a.path, "no such Thing " + quoted(*text) + " (neither an ICCID nor a name)", a.line,
                Code::kNotFound);
    }
    return nullptr;
  }

  // ------------------------------------------------------------ networks

  void network(const At& at) {
    Map m(
        errs_, at,
        {"name", "apnName", "isolation", "vlanId", "pools", "routes", "ipsecTunnels", "natRules"});
    if (!m.ok()) return;
    const size_t before = errs_.count();
    const At name_at = m.get("name");
    auto name = read_string(errs_, name_at, kRequired);
    auto apn = read_string(errs_, m.get("apnName"));
    auto isolation = read_bool(errs_, m.get("isolation"));
    auto vlan = read_uint(errs_, m.get("vlanId"), 0, 65535);
    const bool fresh_name = name && define(networks_, *name, name_at);
    const bool header_ok = errs_.count() == before && fresh_name;
    if (!header_ok && name && !networks_.ids.count(*name)) {
      // Name every bad field at once: what core would say about the rest of the header too.
      core::Network probe;
      probe.name = *name;
      probe.apn = apn.value_or("");
      probe.vlan = static_cast<uint16_t>(std::min<uint64_t>(vlan.value_or(0), 0xffff));
      if (Status s = core::validate_network(probe); !s) {
        errs_.add_core(at, s.error());
      }
    }

    // Read what hangs off it either way, so its mistakes show even when the network fails;
    // a network whose header is good is created with the parts that are good.
    std::vector<std::pair<core::Cidr, At>> pools;
    if (auto items = read_list(errs_, m.get("pools"))) {
      for (const At& item : *items) {
        if (auto c = read_parsed(errs_, item, &core::Cidr::parse, kRequired)) {
          pools.emplace_back(*c, item);
        }
      }
    }
    std::vector<std::pair<core::IpsecTunnel, At>> tunnels;
    std::set<std::string, std::less<>> failed_tunnels;  // routes to them fail quietly
    if (auto items = read_list(errs_, m.get("ipsecTunnels"))) {
      for (const At& item : *items) {
        if (auto t = tunnel(item, failed_tunnels)) tunnels.emplace_back(std::move(*t), item);
      }
    }
    struct RouteSpec {
      core::Route route;
      std::optional<std::string> tunnel;
      At at;
      At tunnel_at;
    };
    std::vector<RouteSpec> routes;
    if (auto items = read_list(errs_, m.get("routes"))) {
      for (const At& item : *items) {
        Map rm(errs_, item, {"destination", "target", "tunnel"});
        if (!rm.ok()) continue;
        const size_t route_before = errs_.count();
        RouteSpec r{{}, std::nullopt, item, rm.get("tunnel")};
        if (auto d = read_parsed(errs_, rm.get("destination"), &core::Cidr::parse, kRequired)) {
          r.route.destination = *d;
        }
        if (auto t = read_parsed(errs_, rm.get("target"), &core::parse_route_target)) {
          r.route.target = *t;
        }
        r.tunnel = read_string(errs_, r.tunnel_at);
        if (r.tunnel && r.route.target != core::RouteTarget::kIpsecTunnel) {
          errs_.add(r.tunnel_at.path, "only for target IPSEC_TUNNEL", r.tunnel_at.line);
        }
        if (errs_.count() == route_before) routes.push_back(std::move(r));
      }
    }

    if (!header_ok) {
      if (name) networks_.failed.insert(*name);
      return;
    }
    const bool parts_ok = errs_.count() == before;

    core::NetworkId nid;
    if (auto existing = networks_.ids.find(*name); existing != networks_.ids.end()) {
      // A shipped network: the file may change what the API lets one change.
      nid = existing->second;
      const core::Network& n = *account_.network(nid);
      if (apn && *apn != n.apn) {
        errs_.add(m.get("apnName").path, "is read-only: this network's APN is " + n.apn,
                  m.get("apnName").line, Code::kFailedPrecondition);
      }
      core::NetworkPatch patch;
      patch.isolation = isolation;
      if (vlan) patch.vlan = static_cast<uint16_t>(*vlan);
      if (Status s = account_.update_network(nid, patch); !s) {
        errs_.add_core(at, s.error());
      }
    } else {
      core::Network spec;
      spec.name = *name;
      spec.apn = apn.value_or("");
      spec.isolation = isolation.value_or(true);
      spec.vlan = static_cast<uint16_t>(std::min<uint64_t>(vlan.value_or(0), 0xffff));
      Result<core::NetworkId> r = account_.create_network(spec);
      if (!r) {
        errs_.add_core(at, r.error());
        networks_.failed.insert(*name);
        return;
      }
      nid = *r;
      networks_.ids.emplace(*name, nid);
    }
    paths_["networks"][nid.value] = at.path;
    // Attaching into a network that lost a pool would add errors that only repeat this one.
    if (!parts_ok) degraded_networks_.insert(nid);

    for (const auto& [cidr, item] : pools) {
      Result<core::PoolId> r = account_.add_pool(nid, cidr);
      if (!r) {
        // Pool errors blame "cidr", which is the list item itself here.
        errs_.add_core(item, r.error(), "", [](const std::string&) { return ""; });
        degraded_networks_.insert(nid);
      }
    }
    std::map<std::string, core::TunnelId, std::less<>> tunnel_ids;
    for (const auto& [spec, item] : tunnels) {
      Result<core::TunnelId> r = account_.add_tunnel(nid, spec);
      if (!r) {
        errs_.add_core(item, r.error());
        failed_tunnels.insert(spec.name);
      } else {
        tunnel_ids.emplace(spec.name, *r);
      }
    }
    for (RouteSpec& r : routes) {
      if (r.tunnel) {
        auto it = tunnel_ids.find(*r.tunnel);
        if (it == tunnel_ids.end()) {
          if (!failed_tunnels.count(*r.tunnel)) {
            errs_.add(r.tunnel_at.path,
                      "no such tunnel " + quoted(*r.tunnel) + " in network " + quoted(*name),
                      r.tunnel_at.line, Code::kNotFound);
          }
          continue;
        }
        r.route.tunnel = it->second;
      }
      if (Result<core::RouteId> rr = account_.add_route(nid, r.route); !rr) {
        errs_.add_core(r.at, rr.error());
      }
    }
    if (present(m.get("natRules"))) nat_.push_back({nid, m.get("natRules")});
  }

  // Reads a tunnel; the name of one that fails goes to `failed`.
  std::optional<core::IpsecTunnel> tunnel(const At& at,
                                          std::set<std::string, std::less<>>& failed) {
    Map m(errs_, at,
          {"name", "peerAddress", "localSubnets", "remoteSubnets", "ikeProposals", "espProposals",
           "preSharedKey", "dpdSeconds", "initiator"});
    if (!m.ok()) return std::nullopt;
    const size_t before = errs_.count();
    core::IpsecTunnel t;
    if (auto v = read_string(errs_, m.get("name"), kRequired)) t.name = *v;
    if (auto v = read_parsed(errs_, m.get("peerAddress"), &core::Ipv4::parse, kRequired)) {
      t.peer = *v;
    }
    if (auto v = read_parsed_list(errs_, m.get("localSubnets"), &core::Cidr::parse)) {
      t.local_subnets = *v;
    }
    if (auto v = read_parsed_list(errs_, m.get("remoteSubnets"), &core::Cidr::parse)) {
      t.remote_subnets = *v;
    }
    if (auto v = read_parsed_list(errs_, m.get("ikeProposals"), &as_string)) t.ike_proposals = *v;
    if (auto v = read_parsed_list(errs_, m.get("espProposals"), &as_string)) t.esp_proposals = *v;
    if (auto v = read_string(errs_, m.get("preSharedKey"))) t.pre_shared_key = *v;
    if (auto v = read_uint(errs_, m.get("dpdSeconds"), 0, 86400)) {
      t.dpd_seconds = static_cast<uint32_t>(*v);
    }
    if (auto v = read_bool(errs_, m.get("initiator"))) t.initiator = *v;
    if (errs_.count() != before) {
      failed.insert(t.name);
      return std::nullopt;
    }
    return t;
  }

  void nat_rules(const DeferredNat& d) {
    auto items = read_list(errs_, d.rules);
    if (!items) return;
    for (const At& item : *items) {
      Map m(errs_, item, {"protocol", "publicIp", "publicPort", "thing", "thingPort"});
      if (!m.ok()) continue;
      const size_t before = errs_.count();
      core::NatRule r;
      if (auto v = read_parsed(errs_, m.get("protocol"), &core::parse_protocol, kRequired)) {
        r.protocol = *v;
      }
      if (auto v = read_parsed(errs_, m.get("publicIp"), &core::Ipv4::parse, kRequired)) {
        r.public_ip = *v;
      }
      if (auto v = read_uint(errs_, m.get("publicPort"), 1, 65535, kRequired)) {
        r.public_port = static_cast<uint16_t>(*v);
      }
      if (auto v = read_uint(errs_, m.get("thingPort"), 1, 65535, kRequired)) {
        r.thing_port = static_cast<uint16_t>(*v);
      }
      const core::Thing* t = resolve_thing(m.get("thing"));
      if (errs_.count() != before || !t) continue;
      r.thing = t->id;
      Result<core::NatRuleId> id = account_.add_nat_rule(d.network, r);
      if (!id) {
        errs_.add_core(item, id.error());
      } else {
        paths_["natRules"][id->value] = item.path;
      }
    }
  }

  // ------------------------------------------------------------ IP profiles

  // Reads a chain. A rule with a bad field keeps its place (core's errors name rules by
  // position) with stand-ins that core does not complain about; its own error is reported.
  core::Chain chain(const At& at) {
    core::Chain c;
    if (!present(at)) return c;  // an absent chain is empty: allow-all
    Map m(errs_, at, {"defaultAction", "rules"});
    if (!m.ok()) return c;
    if (auto v = read_parsed(errs_, m.get("defaultAction"), &core::parse_action)) {
      c.default_action = *v;
    }
    if (auto items = read_list(errs_, m.get("rules"))) {
      for (const At& item : *items) {
        core::FirewallRule r;
        r.priority = 0xffffffff - static_cast<uint32_t>(c.rules.size());
        c.rules.push_back(r);
        Map rm(errs_, item,
               {"priority", "action", "protocol", "remote", "remotePorts", "localPorts"});
        if (!rm.ok()) continue;
        if (auto v = read_uint(errs_, rm.get("priority"), 0, 0xffffffff, kRequired)) {
          r.priority = static_cast<uint32_t>(*v);
        }
        if (auto v = read_parsed(errs_, rm.get("action"), &core::parse_action, kRequired)) {
          r.action = *v;
        }
        if (present(rm.get("protocol"))) {
          r.protocol = read_parsed(errs_, rm.get("protocol"), &core::parse_protocol)
                           .value_or(core::Protocol::kTcp);
        }
        if (auto v = read_parsed(errs_, rm.get("remote"), &core::Cidr::parse)) r.remote = *v;
        if (auto v = read_parsed(errs_, rm.get("remotePorts"), &core::PortRange::parse)) {
          r.remote_ports = *v;
        }
        if (auto v = read_parsed(errs_, rm.get("localPorts"), &core::PortRange::parse)) {
          r.local_ports = *v;
        }
        c.rules.back() = r;
      }
    }
    return c;
  }

  void profile(const At& at) {
    Map m(errs_, at, {"name", "stateful", "inbound", "outbound"});
    if (!m.ok()) return;
    const size_t before = errs_.count();
    core::IpProfile spec;
    const At name_at = m.get("name");
    auto name = read_string(errs_, name_at, kRequired);
    if (auto v = read_bool(errs_, m.get("stateful"))) spec.stateful = *v;
    spec.inbound = chain(m.get("inbound"));
    spec.outbound = chain(m.get("outbound"));
    const bool fresh_name = name && define(profiles_, *name, name_at);
    if (errs_.count() != before || !fresh_name) {
      // Name every bad field at once: what core says about the rules that did parse, too.
      spec.name = name.value_or("-");
      if (Status s = core::validate_profile(spec); !s) errs_.add_core(at, s.error());
      if (name) profiles_.failed.insert(*name);
      return;
    }
    spec.name = *name;
    core::ProfileId pid;
    Status s;
    if (auto it = profiles_.ids.find(*name); it != profiles_.ids.end()) {
      pid = it->second;
      s = account_.replace_profile(pid, spec);
    } else if (Result<core::ProfileId> r = account_.create_profile(spec); r) {
      pid = *r;
    } else {
      s = r.status();
    }
    if (!s) {
      // Chain errors name "inbound.rules[2].localPorts": the file's own path below the profile.
      errs_.add_core(at, s.error());
      profiles_.failed.insert(*name);
      return;
    }
    profiles_.ids.emplace(*name, pid);
  }

  // ------------------------------------------------------------ Things groups

  void group(const At& at) {
    Map m(errs_, at, {"name", "network", "ipProfile", "services"});
    if (!m.ok()) return;
    const size_t before = errs_.count();
    const At name_at = m.get("name");
    auto name = read_string(errs_, name_at, kRequired);
    const bool fresh_name = name && define(groups_, *name, name_at);
    auto existing = name ? groups_.ids.find(*name) : groups_.ids.end();
    core::ThingsGroup spec;
    if (existing != groups_.ids.end()) spec = *account_.group(existing->second);
    bool missing_ref = false;
    if (present(m.get("network"))) {
      auto id = resolve(networks_, m.get("network"), "network");
      missing_ref |= !id;
      if (id) spec.network = *id;
    }
    if (present(m.get("ipProfile"))) {
      auto id = resolve(profiles_, m.get("ipProfile"), "IP profile");
      missing_ref |= !id;
      if (id) spec.profile = *id;
    }
    if (auto v = read_services(errs_, m.get("services"), spec.services)) spec.services = *v;
    if (errs_.count() != before || missing_ref || !fresh_name) {
      if (name) groups_.failed.insert(*name);
      return;
    }
    spec.name = *name;
    core::GroupId gid;
    Status s;
    if (existing != groups_.ids.end()) {
      gid = existing->second;
      s = account_.update_group(gid, spec);
    } else if (Result<core::GroupId> r = account_.create_group(spec); r) {
      gid = *r;
    } else {
      s = r.status();
    }
    if (!s) {
      errs_.add_core(at, s.error());
      groups_.failed.insert(*name);
      return;
    }
    groups_.ids.emplace(*name, gid);
    paths_["groups"][gid.value] = at.path;
  }

  // ------------------------------------------------------------ Things

  // Reads `state`: one state (reached from PROVISIONED by the shortest lifecycle path) or a
  // list of states the Thing goes through in order, each a transition of API.md's lifecycle.
  std::optional<std::vector<std::pair<core::ThingState, At>>> states(const At& a) {
    std::vector<std::pair<core::ThingState, At>> out;
    if (!present(a)) return out;
    if (a.node.IsSequence()) {
      auto items = read_list(errs_, a);
      const size_t before = errs_.count();
      for (const At& item : *items) {
        if (auto s = read_parsed(errs_, item, &core::parse_state, kRequired)) {
          out.emplace_back(*s, item);
        }
      }
      if (errs_.count() != before) return std::nullopt;
      return out;
    }
    auto s = read_parsed(errs_, a, &core::parse_state);
    if (!s) return std::nullopt;
    for (core::ThingState step : path_to(*s)) out.emplace_back(step, a);
    return out;
  }

  // Reads the fields explicit Things and generator blocks share into `spec` and `e`.
  bool common_thing_fields(const Map& m, ThingEntry& e, core::Thing& spec) {
    const size_t before = errs_.count();
    if (present(m.get("thingsGroup"))) {
      if (auto g = resolve(groups_, m.get("thingsGroup"), "group")) {
        spec.group = *g;
      } else {
        return false;
      }
    }
    if (auto v = read_parsed_list(errs_, m.get("tags"), &as_string)) spec.tags = *v;
    if (auto v = read_services(errs_, m.get("services"), spec.services)) spec.services = *v;
    if (auto v = states(m.get("state"))) e.states = std::move(*v);
    return errs_.count() == before;
  }

  // Returns the state a Thing ends in after `e.states`.
  static core::ThingState final_state(const ThingEntry& e) {
    return e.states.empty() ? core::ThingState::kProvisioned : e.states.back().first;
  }

  void explicit_thing(const At& at) {
    ThingEntry e(Map(errs_, at,
                     {"iccid", "imsi", "msisdn", "name", "state", "thingsGroup", "tags", "imei",
                      "imeiLock", "ipLock", "lockedAddress", "services", "attached"}),
                 at);
    if (!e.map.ok()) {
      things_failed_ = true;
      return;
    }
    const Map& m = e.map;
    const size_t before = errs_.count();
    core::Thing spec;
    if (auto v = read_string(errs_, m.get("iccid"), kRequired)) spec.iccid = *v;
    if (auto v = read_string(errs_, m.get("imsi"), kRequired)) spec.imsi = *v;
    if (auto v = read_string(errs_, m.get("msisdn"))) spec.msisdn = *v;
    if (auto v = read_string(errs_, m.get("name"))) spec.name = *v;
    if (auto v = read_string(errs_, m.get("imei"))) spec.imei = *v;
    if (auto v = read_bool(errs_, m.get("imeiLock"))) spec.imei_lock = *v;
    if (auto v = read_bool(errs_, m.get("ipLock"))) spec.ip_lock = *v;
    spec.locked_addr = read_parsed(errs_, m.get("lockedAddress"), &core::Ipv4::parse);
    const bool refs_ok = common_thing_fields(m, e, spec);
    if (auto v = read_bool(errs_, m.get("attached"))) e.attach_all = *v;
    if (errs_.count() != before || !refs_ok) {
      things_failed_ = true;
      return;
    }
    if (e.attach_all && final_state(e) != core::ThingState::kActive) {
      errs_.add(m.get("attached").path,
                std::string("only ACTIVE Things can attach; this one ends ") +
                    core::state_name(final_state(e)),
                m.get("attached").line, Code::kFailedPrecondition);
      things_failed_ = true;
      return;
    }
    entries_.push_back(std::move(e));
    plan(Planned{std::move(spec), entries_.size() - 1, -1, entries_.back().attach_all, {}});
  }

  void generated_things(const At& at) {
    ThingEntry e(Map(errs_, at,
                     {"generate", "iccidStart", "imsiStart", "msisdnStart", "namePrefix",
                      "thingsGroup", "tags", "services", "state", "attached"}),
                 at);
    e.generated = true;
    const Map& m = e.map;
    if (!m.ok()) {
      things_failed_ = true;
      return;
    }
    const size_t before = errs_.count();
    core::Thing spec;
    auto count = read_uint(errs_, m.get("generate"), 1, kMaxGenerate, kRequired);
    // The first and last numbers of each series must be digits of the same width.
    auto series = [&](const char* key, Need need) -> std::optional<std::string> {
      auto start = read_string(errs_, m.get(key), need);
      if (!start || !count) return std::nullopt;
      if (!core::is_digits(*start)) {
        errs_.add(m.get(key).path, "must be digits, not " + quoted(*start), m.get(key).line);
        return std::nullopt;
      }
      if (!add_decimal(*start, *count - 1)) {
        errs_.add(m.get(key).path,
                  quoted(*start) + " + " + std::to_string(*count) + " Things overflows " +
                      std::to_string(start->size()) + " digits",
                  m.get(key).line);
        return std::nullopt;
      }
      return start;
    };
    auto iccid = series("iccidStart", kRequired);
    auto imsi = series("imsiStart", kRequired);
    auto msisdn = series("msisdnStart", kOptional);
    auto prefix = read_string(errs_, m.get("namePrefix"));
    const bool refs_ok = common_thing_fields(m, e, spec);
    if (auto v = read_fraction(errs_, m.get("attached"))) e.attach_fraction = *v;
    if (errs_.count() != before || !refs_ok) {
      things_failed_ = true;
      return;
    }
    if (e.attach_fraction > 0 && final_state(e) != core::ThingState::kActive) {
      errs_.add(m.get("attached").path,
                std::string("only ACTIVE Things can attach; these end ") +
                    core::state_name(final_state(e)),
                m.get("attached").line, Code::kFailedPrecondition);
      things_failed_ = true;
      return;
    }
    entries_.push_back(std::move(e));
    const size_t entry = entries_.size() - 1;
    const uint64_t n = *count;
    const auto attached = static_cast<uint64_t>(
        std::llround(entries_[entry].attach_fraction * static_cast<double>(n)));
    const size_t width = std::max<size_t>(4, std::to_string(n).size());
    for (uint64_t k = 0; k < n && !entries_[entry].failed; ++k) {
      core::Thing t = spec;
      t.iccid = *add_decimal(*iccid, k);
      t.imsi = *add_decimal(*imsi, k);
      if (msisdn) t.msisdn = *add_decimal(*msisdn, k);
      if (prefix) {
        std::string num = std::to_string(k + 1);
        t.name = *prefix + std::string(width - num.size(), '0') + num;
      }
      // Spreads exactly `attached` of the n Things evenly over the block, the first included.
      const bool attach = (k * attached) % n < attached;
      if (k == 0) {
        // One check for the block, instead of one error per generated Thing.
        core::Thing probe = t;
        if (!probe.group) probe.group = account_.default_group();
        if (Status s = core::validate_thing(probe); !s) {
          thing_error(entry, 0, probe, s.error());
          things_failed_ = true;
          return;
        }
      }
      plan(Planned{std::move(t), entry, static_cast<int64_t>(k), attach, {}});
    }
  }

  // Adds a Thing to the batch unless its ICCID or IMSI is already taken in the file.
  void plan(Planned p) {
    ThingEntry& e = entries_[p.entry];
    const std::string where = describe(p);
    for (auto [seen, key, value] : {std::tuple{&iccids_, "iccid", &p.spec.iccid},
                                    std::tuple{&imsis_, "imsi", &p.spec.imsi}}) {
      auto [it, fresh] = seen->emplace(*value, where);
      if (!fresh) {
        thing_error(
            p.entry, p.item, p.spec,
            Error::on_field(Code::kAlreadyExists, key,
                            std::string(key == std::string_view("iccid") ? "ICCID " : "IMSI ") +
                                *value + " is also used by " + it->second));
        e.failed = true;
        things_failed_ = true;
        return;
      }
    }
    planned_.push_back(std::move(p));
  }

  // "things[3]" or "things[3] item 17", for duplicate messages.
  std::string describe(const Planned& p) const {
    const ThingEntry& e = entries_[p.entry];
    if (!e.generated) return e.map.path();
    return e.map.path() + " item " + std::to_string(p.item + 1);
  }

  // Reports a core error about one planned Thing, at the file's path: a generated Thing's
  // ICCID is its block's iccidStart, and so on.
  void thing_error(size_t entry, int64_t item, const core::Thing& spec, const Error& err) {
    const ThingEntry& e = entries_[entry];
    if (!e.generated) {
      errs_.add_core(e.at, err);
      return;
    }
    static constexpr std::pair<std::string_view, std::string_view> kSeries[] = {
        {"iccid", "iccidStart"},
        {"imsi", "imsiStart"},
        {"msisdn", "msisdnStart"},
        {"name", "namePrefix"}};
    auto relative = [&](const std::string& f) {
      std::string field = file_field(f);
      for (const auto& [from, to] : kSeries) {
        if (field == from) field = to;
      }
      return field;
    };
    const std::string prefix = "item " + std::to_string(item + 1) + " (ICCID " + spec.iccid + "): ";
    errs_.add_core(e.at, err, prefix, relative);
  }

  void things(const std::vector<At>& items) {
    for (const At& item : items) {
      const YAML::Node& node = item.node;
      if (node.IsMap() && node["generate"].IsDefined()) {
        generated_things(item);
      } else {
        explicit_thing(item);
      }
    }
    // Provision whatever is valid in one batch, as the API's POST /things does.
    std::vector<core::Thing> batch;
    std::vector<size_t> origin;
    for (size_t i = 0; i < planned_.size(); ++i) {
      if (entries_[planned_[i].entry].failed) continue;
      batch.push_back(planned_[i].spec);
      origin.push_back(i);
    }
    if (batch.empty()) return;
    Result<std::vector<core::ThingId>> ids = account_.provision(batch);
    if (!ids) {
      // Errors are "[i].field" by batch index.
      for (const FieldError& f : ids.error().fields()) {
        size_t i = 0;
        size_t close = f.field.find(']');
        if (f.field.size() < 3 || f.field[0] != '[' || close == std::string::npos ||
            std::from_chars(f.field.data() + 1, f.field.data() + close, i).ec != std::errc() ||
            i >= origin.size()) {
          errs_.add("things", f.field + ": " + f.message, 0, ids.error().code());
          continue;
        }
        const Planned& p = planned_[origin[i]];
        std::string rest = f.field.substr(close + 1);
        if (!rest.empty() && rest[0] == '.') rest.erase(0, 1);
        thing_error(p.entry, p.item, p.spec, Error::on_field(ids.error().code(), rest, f.message));
      }
      things_failed_ = true;
      return;
    }
    for (size_t j = 0; j < origin.size(); ++j) planned_[origin[j]].id = (*ids)[j];

    for (Planned& p : planned_) {
      ThingEntry& e = entries_[p.entry];
      if (!p.id || e.failed) continue;
      const core::Thing& t = *account_.thing(p.id);
      if (!t.name.empty()) by_name_[t.name].push_back(t.slot.value);
      paths_["things"][p.id.value] =
          e.generated ? e.map.path() + " item " + std::to_string(p.item + 1) : e.map.path();
      for (const auto& [to, step_at] : e.states) {
        if (Status s = account_.set_state(p.id, to); !s) {
          const std::string prefix =
              e.generated ? "item " + std::to_string(p.item + 1) + ": " : std::string();
          errs_.add_core(step_at, s.error(), prefix, [](const std::string&) { return ""; });
          e.failed = true;
          things_failed_ = true;
          break;
        }
      }
      if (e.failed || !p.attach) continue;
      // A simulated attach, so the compiled session tables have rows. In simcored sessions come
      // from GTP-C; simcore-sim replay turns these into real Create Session Requests.
      const uint32_t slot = t.slot.value;
      core::AttachRequest req;
      req.uplink_teid = kFirstUplinkTeid + slot;
      req.peer_addr = Ipv4{kFakeEnodebBase + 1 + slot % kFakeEnodebs};
      req.peer_teid = kFirstPeerTeid + slot;
      req.apn = account_.network(account_.group(t.group)->network)->apn;
      req.rat = core::Rat::kEutran;
      req.mcc = 204;
      req.mnc = 8;
      req.imei = t.imei;
      if (Result<core::Session> s = account_.attach(p.id, req); !s) {
        e.failed = true;
        things_failed_ = true;
        if (degraded_networks_.count(account_.group(t.group)->network)) continue;
        const std::string prefix =
            e.generated ? "item " + std::to_string(p.item + 1) + ": " : std::string();
        errs_.add_core(e.at, s.error(), prefix, [](const std::string& f) {
          return f == "services.data" ? f : std::string("attached");
        });
      }
    }
  }

  // ------------------------------------------------------------ example packets

  // The address a Thing has now: its session's, else its locked one.
  std::optional<Ipv4> address_of(const core::Thing& t, const At& at) {
    if (t.session) return t.session->ue_addr;
    if (t.locked_addr) return *t.locked_addr;
    errs_.add(at.path,
              "Thing " + quoted(t.name.empty() ? t.iccid : t.name) +
                  " has no address (not attached, no locked IP): give the address",
              at.line);
    return std::nullopt;
  }

  void example(const At& at) {
    Map m(errs_, at,
          {"name", "direction", "thing", "dstThing", "teid", "src", "dst", "protocol", "srcPort",
           "dstPort", "expect"});
    if (!m.ok()) return;
    const size_t before = errs_.count();
    ExamplePacket ex;
    ex.path = at.path;
    core::PacketDesc& p = ex.packet;
    if (auto v = read_string(errs_, m.get("name"), kRequired)) ex.name = *v;
    const At dir_at = m.get("direction");
    if (auto v = read_string(errs_, dir_at, kRequired)) {
      if (*v == "uplink") {
        p.dir = core::Direction::kUplink;
      } else if (*v == "downlink") {
        p.dir = core::Direction::kDownlink;
      } else {
        errs_.add(dir_at.path, "must be uplink or downlink, not " + quoted(*v), dir_at.line);
      }
    }
    const bool up = p.dir == core::Direction::kUplink;

    // Protocol: a name, or any IP protocol number (47 for GRE, ...).
    const At proto_at = m.get("protocol");
    const size_t before_proto = errs_.count();
    if (auto v = read_string(errs_, proto_at, kRequired)) {
      uint32_t num = 0;
      auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), num);
      if (ec == std::errc() && ptr == v->data() + v->size() && num >= 1 && num <= 255) {
        p.proto = static_cast<uint8_t>(num);
      } else if (Result<core::Protocol> pr = core::parse_protocol(*v);
                 pr && *pr != core::Protocol::kAny) {
        p.proto = static_cast<uint8_t>(*pr);
      } else {
        errs_.add(proto_at.path, "must be ICMP, TCP, UDP or a protocol number 1 to 255",
                  proto_at.line);
      }
    }
    const bool proto_ok = errs_.count() == before_proto;
    const Need ports = core::has_ports(p.proto) ? kRequired : kOptional;
    for (auto [key, field] : {std::pair{"srcPort", &p.sport}, std::pair{"dstPort", &p.dport}}) {
      const At a = m.get(key);
      if (!proto_ok) break;  // whether ports belong depends on the protocol
      if (!core::has_ports(p.proto) && present(a)) {
        errs_.add(a.path, "only for TCP and UDP", a.line);
      } else if (auto v = read_uint(errs_, a, 0, 65535, ports)) {
        *field = static_cast<uint16_t>(*v);
      }
    }
    const At expect_at = m.get("expect");
    if (auto v = read_string(errs_, expect_at)) {
      if (auto verdict = parse_verdict(*v)) {
        ex.expect_verdict = *verdict;
      } else if (auto drop = parse_drop_reason(*v)) {
        ex.expect_verdict = core::Verdict::kDrop;
        ex.expect_drop = *drop;
      } else {
        errs_.add(expect_at.path,
                  "must be FORWARD, TUNNEL, HAIRPIN, DELIVER, DROP or a drop reason such as "
                  "uplink.firewall, not " +
                      quoted(*v),
                  expect_at.line);
      }
    }
    auto src = read_parsed(errs_, m.get("src"), &core::Ipv4::parse);
    auto dst = read_parsed(errs_, m.get("dst"), &core::Ipv4::parse);
    auto teid = read_uint(errs_, m.get("teid"), 1, 0xffffffff);
    if (errs_.count() != before) return;

    // The Thing the example is about: uplink its sender, downlink its receiver.
    const core::Thing* thing = nullptr;
    if (present(m.get("thing"))) {
      thing = resolve_thing(m.get("thing"));
      if (!thing) return;
    }
    if (up) {
      if (!teid) {
        if (!thing) {
          errs_.add(m.get("thing").path, "required for uplink (or give teid and src)", m.line());
        } else if (!thing->session) {
          errs_.add(m.get("thing").path,
                    "Thing " + quoted(thing->name) + " has no session (state " +
                        core::state_name(thing->state) + "): give the teid",
                    m.get("thing").line);
          return;
        } else {
          teid = thing->session->uplink_teid;
        }
      }
      if (!src && thing) src = address_of(*thing, m.get("thing"));
      if (!src && !thing) errs_.add(m.get("src").path, "required without thing", m.line());
      const At peer_at = m.get("dstThing");
      if (present(peer_at) && dst) {
        errs_.add(peer_at.path, "give dst or dstThing, not both", peer_at.line);
      } else if (present(peer_at)) {
        if (const core::Thing* peer = resolve_thing(peer_at)) dst = address_of(*peer, peer_at);
      } else if (!dst) {
        errs_.add(m.get("dst").path, "is required (or dstThing)", m.line());
      }
    } else {
      for (const char* key : {"teid", "dstThing"}) {
        if (present(m.get(key))) errs_.add(m.get(key).path, "only for uplink", m.get(key).line);
      }
      if (!dst && thing) dst = address_of(*thing, m.get("thing"));
      if (!dst && !thing) errs_.add(m.get("dst").path, "required without thing", m.line());
      if (!src) errs_.add(m.get("src").path, "is required for downlink", m.line());
    }
    if (errs_.count() != before) return;
    p.teid = up ? static_cast<uint32_t>(*teid) : 0;
    p.src = *src;
    p.dst = *dst;
    examples_.push_back(std::move(ex));
  }

  // ------------------------------------------------------------ the compile check

  // The compiler names objects by id ("networks[7].routes[0].tunnelId"); map them to the file.
  Error compile_error(const Error& e) {
    Errors out;
    auto map = [&](const std::string& f) {
      const size_t open = f.find('[');
      const size_t close = f.find(']');
      std::string field = f;
      if (open != std::string::npos && close != std::string::npos && open < close) {
        const auto kind_it = paths_.find(f.substr(0, open));
        uint64_t id = 0;
        if (kind_it != paths_.end() &&
            std::from_chars(f.data() + open + 1, f.data() + close, id).ec == std::errc()) {
          if (auto p = kind_it->second.find(id); p != kind_it->second.end()) {
            field = p->second + f.substr(close + 1);
          }
        }
      }
      return file_field(field);
    };
    out.add_core(At{YAML::Node(), "", 0}, e, "compile: ", map);
    return out.to_error();
  }

  Errors errs_;
  core::Account account_;
  Names<core::NetworkId> networks_;
  Names<core::ProfileId> profiles_;
  Names<core::GroupId> groups_;
  std::vector<DeferredNat> nat_;
  std::vector<ThingEntry> entries_;
  std::vector<Planned> planned_;
  std::unordered_map<std::string, std::string> iccids_;  // → where it was first seen
  std::unordered_map<std::string, std::string> imsis_;
  std::unordered_map<std::string, std::vector<uint32_t>> by_name_;  // Thing name → slots
  bool things_failed_ = false;  // references to unknown Things may be to failed entries
  std::set<core::NetworkId> degraded_networks_;  // created, but some of their parts failed
  std::map<std::string, std::map<uint64_t, std::string>> paths_;  // kind → id → file path
  std::vector<ExamplePacket> examples_;
};

}  // namespace

bool meets_expectation(const ExamplePacket& e, const core::Decision& d) noexcept {
  if (e.expect_verdict && d.verdict != *e.expect_verdict) return false;
  if (e.expect_drop && d.drop != *e.expect_drop) return false;
  return true;
}

std::string expectation_str(const ExamplePacket& e) {
  if (e.expect_drop) return core::drop_reason_name(*e.expect_drop);
  if (e.expect_verdict) return core::verdict_name(*e.expect_verdict);
  return "";
}

Result<LoadedAccount> load_account_yaml_text(std::string_view text) {
  // yaml-cpp reports with exceptions; they stop here.
  try {
    const YAML::Node doc = YAML::Load(std::string(text));
    return Loader().run(doc);
  } catch (const YAML::ParserException& e) {
    return Error(Code::kInvalidArgument, "YAML syntax error at line " +
                                             std::to_string(e.mark.line + 1) + ", column " +
                                             std::to_string(e.mark.column + 1) + ": " + e.msg);
  } catch (const YAML::Exception& e) {
    return Error(Code::kInternal, std::string("YAML reader: ") + e.what());
  }
}

Result<LoadedAccount> load_account_yaml(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(Code::kNotFound, "cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Error(Code::kInternal, "error reading " + path);
  return load_account_yaml_text(text.str());
}

}  // namespace simcore::ctl
