#include "control/api/json_model.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <limits>
#include <optional>
#include <utility>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/validate.h"

namespace simcore::ctl::api {
namespace {

using core::Error;
using core::FieldErrors;
using core::Result;

// ---------------------------------------------------------------------------------- output

json::string id_str(uint64_t v) { return json::string(std::to_string(v)); }
json::value id_or_null(uint64_t v) { return v ? json::value(id_str(v)) : json::value(nullptr); }

json::array strings(const std::vector<std::string>& v) {
  json::array a;
  a.reserve(v.size());
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

json::array cidrs(const std::vector<core::Cidr>& v) {
  json::array a;
  a.reserve(v.size());
  for (const auto& c : v) a.emplace_back(c.str());
  return a;
}

json::object services_json(const core::Services& s) { return {{"data", s.data}, {"sms", s.sms}}; }

// Ports are the network's host-order numbers; protocols other than TCP/UDP/ICMP (which the API
// cannot name) print as their decimal number.
json::string proto_str(uint8_t p) {
  switch (p) {
    case 1: return "ICMP";
    case 6: return "TCP";
    case 17: return "UDP";
    default: return json::string(std::to_string(p));
  }
}

// MCC is always three digits; an MNC of two digits cannot be told from one of three with a
// leading zero once stored as a number, so it prints with at least two (TS 23.003 2.2).
std::string padded(uint16_t v, int width) {
  std::string s = std::to_string(v);
  if (static_cast<int>(s.size()) < width) s.insert(0, width - s.size(), '0');
  return s;
}

// ----------------------------------------------------------------------------------- input

enum class Need : uint8_t { kOptional, kRequired };

const char* kind_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "boolean";
    case json::kind::int64:
    case json::kind::uint64: return "integer";
    case json::kind::double_: return "number";
    case json::kind::string: return "string";
    case json::kind::array: return "array";
    case json::kind::object: return "object";
  }
  return "?";
}

std::string expected(const char* type, const json::value& got) {
  return std::string("expected ") + type + ", got " + kind_name(got);
}

std::string index_path(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

// Reads one JSON object strictly: every key read through it is known; finish() names the rest.
// Errors go to the shared FieldErrors with the object's path as prefix. A value that is not an
// object is one error on the path itself (or on the body, at the root).
class Reader {
 public:
  Reader(const json::value& v, std::string path, FieldErrors& errs)
      : errs_(errs), path_(std::move(path)), obj_(v.if_object()) {
    if (!obj_) errs_.add(path_, expected("object", v));
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  bool ok() const noexcept { return obj_ != nullptr; }
  std::string field(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }

  // Returns the value of `key` (nullptr when absent, reporting it when required).
  const json::value* take(std::string_view key, Need need) {
    known_.push_back(key);
    if (!obj_) return nullptr;
    const json::value* v = obj_->if_contains(key);
    if (!v && need == Need::kRequired) errs_.add(field(key), "required");
    return v;
  }

  // A field the API shows but a client may not set.
  void read_only(std::string_view key) {
    known_.push_back(key);
    if (obj_ && obj_->contains(key)) errs_.add(field(key), "read-only");
  }

  std::optional<std::string> str(std::string_view key, Need need) {
    const json::value* v = take(key, need);
    if (!v) return std::nullopt;
    if (!v->is_string()) {
      errs_.add(field(key), expected("string", *v));
      return std::nullopt;
    }
    return std::string(v->get_string());
  }

  std::optional<bool> boolean(std::string_view key, Need need) {
    const json::value* v = take(key, need);
    if (!v) return std::nullopt;
    if (!v->is_bool()) {
      errs_.add(field(key), expected("boolean", *v));
      return std::nullopt;
    }
    return v->get_bool();
  }

  template <class T>
  std::optional<T> integer(std::string_view key, Need need, int64_t lo, int64_t hi) {
    const json::value* v = take(key, need);
    if (!v) return std::nullopt;
    return integer_value<T>(*v, field(key), lo, hi);
  }

  template <class T>
  std::optional<T> integer_value(const json::value& v, const std::string& f, int64_t lo,
                                 int64_t hi) {
    int64_t n = 0;
    if (v.is_int64()) {
      n = v.get_int64();
    } else if (v.is_uint64()) {  // Boost.JSON keeps non-negative values as either kind
      const uint64_t u = v.get_uint64();
      n = u > uint64_t(std::numeric_limits<int64_t>::max()) ? std::numeric_limits<int64_t>::max()
                                                            : static_cast<int64_t>(u);
    } else {
      errs_.add(f, expected("integer", v));
      return std::nullopt;
    }
    if (n < lo || n > hi) {
      errs_.add(f, "must be " + std::to_string(lo) + " to " + std::to_string(hi));
      return std::nullopt;
    }
    return static_cast<T>(n);
  }

  // Ids are strings of decimal digits, as the API prints them.
  template <class IdT>
  std::optional<IdT> id(std::string_view key, Need need) {
    const json::value* v = take(key, need);
    if (!v) return std::nullopt;
    return id_value<IdT>(*v, field(key));
  }

  template <class IdT>
  std::optional<IdT> id_value(const json::value& v, const std::string& f) {
    using Rep = decltype(IdT{}.value);
    if (!v.is_string()) {
      errs_.add(f, expected("id string", v));
      return std::nullopt;
    }
    const uint64_t n = parse_id_text(v.get_string(), std::numeric_limits<Rep>::max());
    if (n == 0) {
      errs_.add(f, "not an id: a string of decimal digits such as \"42\"");
      return std::nullopt;
    }
    return IdT{static_cast<Rep>(n)};
  }

  // A string value parsed by one of core's parsers (whose error message is kept).
  template <class Parse>
  auto parsed(std::string_view key, Need need, Parse parse)
      -> std::optional<std::decay_t<decltype(parse(std::string_view{}).value())>> {
    const json::value* v = take(key, need);
    if (!v) return std::nullopt;
    return parsed_value(*v, field(key), parse);
  }

  template <class Parse>
  auto parsed_value(const json::value& v, const std::string& f, Parse parse)
      -> std::optional<std::decay_t<decltype(parse(std::string_view{}).value())>> {
    if (!v.is_string()) {
      errs_.add(f, expected("string", v));
      return std::nullopt;
    }
    auto r = parse(std::string_view(v.get_string()));
    if (!r) {
      // core's parsers blame the field "" with the reason; keep the reason only.
      const core::Error& e = r.error();
      errs_.add(f, e.fields().empty() ? e.message() : e.fields().front().message);
      return std::nullopt;
    }
    return std::move(r).value();
  }

  // An array whose elements are read by `elem(value, path) -> std::optional<T>`.
  template <class T, class Elem>
  std::optional<std::vector<T>> array(std::string_view key, Need need, Elem elem) {
    const json::value* v = take(key, need);
    if (!v) return std::nullopt;
    const std::string f = field(key);
    const json::array* a = v->if_array();
    if (!a) {
      errs_.add(f, expected("array", *v));
      return std::nullopt;
    }
    std::vector<T> out;
    out.reserve(a->size());
    bool all = true;
    for (size_t i = 0; i < a->size(); ++i) {
      std::optional<T> e = elem((*a)[i], index_path(f, i));
      if (e) {
        out.push_back(std::move(*e));
      } else {
        all = false;
      }
    }
    if (!all) return std::nullopt;
    return out;
  }

  std::optional<std::vector<std::string>> str_array(std::string_view key, Need need) {
    return array<std::string>(
        key, need,
        [this](const json::value& e, const std::string& f) -> std::optional<std::string> {
          if (!e.is_string()) {
            errs_.add(f, expected("string", e));
            return std::nullopt;
          }
          return std::string(e.get_string());
        });
  }

  std::optional<std::vector<core::Cidr>> cidr_array(std::string_view key, Need need) {
    return array<core::Cidr>(key, need, [this](const json::value& e, const std::string& f) {
      return parsed_value(e, f, core::Cidr::parse);
    });
  }

  // A nested object: returns its value (for a sub-Reader) or nullptr when absent or not one.
  const json::value* object(std::string_view key, Need need) {
    const json::value* v = take(key, need);
    if (v && !v->is_object()) {
      errs_.add(field(key), expected("object", *v));
      return nullptr;
    }
    return v;
  }

  // Names every key that no take()/read_only() asked for.
  void finish() {
    if (!obj_) return;
    for (const auto& kv : *obj_) {
      if (std::find(known_.begin(), known_.end(), std::string_view(kv.key())) == known_.end()) {
        errs_.add(field(kv.key()), "unknown field");
      }
    }
  }

  FieldErrors& errors() { return errs_; }

 private:
  FieldErrors& errs_;
  std::string path_;
  const json::object* obj_;
  std::vector<std::string_view> known_;
};

// Wraps a parse: the root value must be an object; the body's errors become one error.
template <class T, class Fill>
Result<T> read_root(const json::value& v, Fill fill) {
  FieldErrors errs;
  if (!v.is_object()) {
    return Error(core::Code::kInvalidArgument,
                 std::string("request body must be a JSON object, got ") + kind_name(v));
  }
  Reader r(v, "", errs);
  T out = fill(r);
  r.finish();
  if (core::Status s = errs.status(); !s) return s.error();
  return out;
}

// Returns whether the object was given; fields it leaves out keep their value in `out`.
bool read_services(Reader& parent, std::string_view key, core::Services& out) {
  const json::value* v = parent.object(key, Need::kOptional);
  if (!v) return false;
  Reader r(*v, parent.field(key), parent.errors());
  if (auto d = r.boolean("data", Need::kOptional)) out.data = *d;
  if (auto s = r.boolean("sms", Need::kOptional)) out.sms = *s;
  r.finish();
  return true;
}

core::Result<core::Protocol> parse_packet_protocol(std::string_view text) {
  auto p = core::parse_protocol(text);
  if (!p || *p == core::Protocol::kAny) {
    return Error::invalid("", "protocol must be one of TCP, UDP, ICMP");
  }
  return p;
}

core::Result<core::Direction> parse_direction(std::string_view text) {
  if (text == "UPLINK") return core::Direction::kUplink;
  if (text == "DOWNLINK") return core::Direction::kDownlink;
  return Error::invalid("", "direction must be one of UPLINK, DOWNLINK");
}

// Fills `t` from a thing-create item (things[i]).
void read_thing_item(Reader& r, core::Thing& t) {
  if (auto v = r.str("iccid", Need::kRequired)) t.iccid = *v;
  if (auto v = r.str("imsi", Need::kRequired)) t.imsi = *v;
  if (auto v = r.str("msisdn", Need::kOptional)) t.msisdn = *v;
  if (auto v = r.str("name", Need::kOptional)) t.name = *v;
  if (auto v = r.str_array("tags", Need::kOptional)) t.tags = *v;
  if (auto v = r.id<core::GroupId>("thingsGroupId", Need::kOptional)) t.group = *v;
  if (auto v = r.parsed("state", Need::kOptional, core::parse_state)) t.state = *v;
  read_services(r, "services", t.services);
  if (auto v = r.boolean("imeiLock", Need::kOptional)) t.imei_lock = *v;
  if (auto v = r.boolean("ipLock", Need::kOptional)) t.ip_lock = *v;
  if (auto v = r.parsed("lockedAddress", Need::kOptional, core::Ipv4::parse)) t.locked_addr = *v;
  r.read_only("thingId");
  r.read_only("imei");
}

void read_group_fields(Reader& r, core::ThingsGroup& g, Need need) {
  if (auto v = r.str("name", need)) g.name = *v;
  if (auto v = r.id<core::NetworkId>("networkId", need)) g.network = *v;
  if (auto v = r.id<core::ProfileId>("ipProfileId", need)) g.profile = *v;
  read_services(r, "services", g.services);
  r.read_only("id");
  r.read_only("isDefault");
}

void read_tunnel_fields(Reader& r, core::IpsecTunnel& t, Need need) {
  if (auto v = r.str("name", need)) t.name = *v;
  if (auto v = r.parsed("peerAddress", need, core::Ipv4::parse)) t.peer = *v;
  if (auto v = r.cidr_array("localSubnets", Need::kOptional)) t.local_subnets = *v;
  if (auto v = r.cidr_array("remoteSubnets", need)) t.remote_subnets = *v;
  if (auto v = r.str_array("ikeProposals", need)) t.ike_proposals = *v;
  if (auto v = r.str_array("espProposals", need)) t.esp_proposals = *v;
  // Never echo the key: only its type is reported.
  if (const json::value* v = r.take("preSharedKey", need)) {
    if (v->is_string()) {
      t.pre_shared_key = std::string(v->get_string());
    } else {
      r.errors().add(r.field("preSharedKey"), expected("string", *v));
    }
  }
  if (auto v = r.integer<uint32_t>("dpdSeconds", Need::kOptional, 0, 3600)) t.dpd_seconds = *v;
  if (auto v = r.boolean("initiator", Need::kOptional)) t.initiator = *v;
  r.read_only("id");
}

std::optional<core::FirewallRule> read_rule(const json::value& v, const std::string& path,
                                            FieldErrors& errs) {
  Reader r(v, path, errs);
  if (!r.ok()) return std::nullopt;
  core::FirewallRule rule;
  if (auto p = r.integer<uint32_t>("priority", Need::kRequired, 0, 0xffffffffLL))
    rule.priority = *p;
  if (auto a = r.parsed("action", Need::kRequired, core::parse_action)) rule.action = *a;
  if (auto p = r.parsed("protocol", Need::kOptional, core::parse_protocol)) rule.protocol = *p;
  if (auto c = r.parsed("remote", Need::kOptional, core::Cidr::parse)) rule.remote = *c;
  if (auto p = r.parsed("remotePorts", Need::kOptional, core::PortRange::parse)) {
    rule.remote_ports = *p;
  }
  if (auto p = r.parsed("localPorts", Need::kOptional, core::PortRange::parse)) {
    rule.local_ports = *p;
  }
  r.read_only("id");
  r.finish();
  return rule;
}

void read_chain(Reader& parent, std::string_view key, core::Chain& out) {
  const json::value* v = parent.object(key, Need::kOptional);
  if (!v) return;
  Reader r(*v, parent.field(key), parent.errors());
  core::Chain chain;
  if (auto a = r.parsed("defaultAction", Need::kOptional, core::parse_action)) {
    chain.default_action = *a;
  }
  FieldErrors& errs = r.errors();
  if (auto rules = r.array<core::FirewallRule>(
          "rules", Need::kOptional,
          [&errs](const json::value& e, const std::string& f) { return read_rule(e, f, errs); })) {
    chain.rules = std::move(*rules);
  }
  r.finish();
  out = std::move(chain);  // a chain given replaces the whole chain
}

void read_profile_fields(Reader& r, core::IpProfile& p, Need need) {
  if (auto v = r.str("name", need)) p.name = *v;
  if (auto v = r.boolean("stateful", Need::kOptional)) p.stateful = *v;
  read_chain(r, "inbound", p.inbound);
  read_chain(r, "outbound", p.outbound);
  r.read_only("id");
}

void read_user_fields(Reader& r, core::User& u, Need need) {
  if (auto v = r.str("name", need)) u.name = *v;
  if (auto v = r.str("email", need)) u.email = *v;
  if (auto v = r.parsed("role", need, core::parse_role)) u.role = *v;
  if (auto v = r.array<core::GroupId>("thingsGroupIds", Need::kOptional,
                                      [&r](const json::value& e, const std::string& f) {
                                        return r.id_value<core::GroupId>(e, f);
                                      })) {
    u.groups = *v;
  }
  r.read_only("id");
  r.read_only("clientId");
}

}  // namespace

// ------------------------------------------------------------------------------------ output

const char* rat_name(core::Rat r) noexcept {
  switch (r) {
    case core::Rat::kUtran: return "UTRAN";
    case core::Rat::kGeran: return "GERAN";
    case core::Rat::kEutran: return "EUTRAN";
    case core::Rat::kLteM: return "LTE_M";
    case core::Rat::kNbIot: return "NB_IOT";
    case core::Rat::kNr: return "NR";
  }
  return "?";
}

std::string time_text(int64_t ms) {
  // Floor division keeps times before 1970 on the right second.
  const int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  const std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms - secs * 1000));
  return buf;
}

json::value to_json(const core::Thing& t) {
  return json::object{
      {"thingId", id_str(t.id.value)},
      {"iccid", t.iccid},
      {"imsi", t.imsi},
      {"msisdn", t.msisdn},
      {"name", t.name},
      {"state", core::state_name(t.state)},
      {"thingsGroupId", id_str(t.group.value)},
      {"tags", strings(t.tags)},
      {"imei", t.imei.empty() ? json::value(nullptr) : json::value(t.imei)},
      {"imeiLock", t.imei_lock},
      {"ipLock", t.ip_lock},
      {"lockedAddress", t.locked_addr ? json::value(t.locked_addr->str()) : json::value(nullptr)},
      {"services", services_json(t.services)},
  };
}

json::value session_to_json(const core::Thing& t, uint64_t bytes_up, uint64_t bytes_down) {
  if (!t.session) {
    return json::object{{"online", false}, {"ipAddress", nullptr}, {"apnName", nullptr},
                        {"rat", nullptr},  {"mcc", nullptr},       {"mnc", nullptr},
                        {"imei", nullptr}, {"bytesUp", nullptr},   {"bytesDown", nullptr}};
  }
  const core::Session& s = *t.session;
  return json::object{
      {"online", true},
      {"ipAddress", s.ue_addr.str()},
      {"apnName", s.apn},
      {"rat", rat_name(s.rat)},
      {"mcc", padded(s.mcc, 3)},
      {"mnc", padded(s.mnc, 2)},
      {"imei", t.imei.empty() ? json::value(nullptr) : json::value(t.imei)},
      {"bytesUp", bytes_up},
      {"bytesDown", bytes_down},
  };
}

json::value to_json(const core::ThingsGroup& g) {
  return json::object{
      {"id", id_str(g.id.value)},
      {"name", g.name},
      {"networkId", id_str(g.network.value)},
      {"ipProfileId", id_str(g.profile.value)},
      {"services", services_json(g.services)},
      {"isDefault", g.is_default},
  };
}

json::value to_json(const core::Network& n) {
  return json::object{
      {"id", id_str(n.id.value)}, {"name", n.name},   {"apnName", n.apn},
      {"isolation", n.isolation}, {"vlanId", n.vlan},
  };
}

json::value to_json(const core::IpPool& p) {
  return json::object{{"id", id_str(p.id.value)}, {"cidr", p.cidr.str()}};
}

json::value to_json(const core::Route& r) {
  return json::object{
      {"id", id_str(r.id.value)},
      {"destination", r.destination.str()},
      {"target", core::route_target_name(r.target)},
      {"tunnelId", id_or_null(r.tunnel.value)},
  };
}

json::value to_json(const core::NatRule& r) {
  return json::object{
      {"id", id_str(r.id.value)},         {"protocol", core::protocol_name(r.protocol)},
      {"publicIp", r.public_ip.str()},    {"publicPort", r.public_port},
      {"thingId", id_str(r.thing.value)}, {"thingPort", r.thing_port},
  };
}

json::value to_json(const core::IpsecTunnel& t) {
  // preSharedKey is write-only (API.md): deliberately absent.
  return json::object{
      {"id", id_str(t.id.value)},
      {"name", t.name},
      {"peerAddress", t.peer.str()},
      {"localSubnets", cidrs(t.local_subnets)},
      {"remoteSubnets", cidrs(t.remote_subnets)},
      {"ikeProposals", strings(t.ike_proposals)},
      {"espProposals", strings(t.esp_proposals)},
      {"dpdSeconds", t.dpd_seconds},
      {"initiator", t.initiator},
  };
}

json::value to_json(const core::FirewallRule& r) {
  return json::object{
      {"id", id_str(r.id.value)},
      {"priority", r.priority},
      {"action", core::action_name(r.action)},
      {"protocol", core::protocol_name(r.protocol)},
      {"remote", r.remote.str()},
      {"remotePorts", r.remote_ports.str()},
      {"localPorts", r.local_ports.str()},
  };
}

json::value to_json(const core::Chain& c) {
  json::array rules;
  rules.reserve(c.rules.size());
  for (const auto& r : c.rules) rules.push_back(to_json(r));
  return json::object{{"defaultAction", core::action_name(c.default_action)},
                      {"rules", std::move(rules)}};
}

json::value to_json(const core::IpProfile& p) {
  return json::object{
      {"id", id_str(p.id.value)},        {"name", p.name},
      {"stateful", p.stateful},          {"inbound", to_json(p.inbound)},
      {"outbound", to_json(p.outbound)},
  };
}

json::value to_json(const core::User& u) {
  json::array groups;
  groups.reserve(u.groups.size());
  for (core::GroupId g : u.groups) groups.emplace_back(id_str(g.value));
  return json::object{
      {"id", id_str(u.id.value)},
      {"name", u.name},
      {"email", u.email},
      {"role", core::role_name(u.role)},
      {"thingsGroupIds", std::move(groups)},
      {"clientId", u.client_id},
  };
}

json::value to_json(const core::Decision& d, const core::Model& model) {
  auto thing_id = [&model](core::ThingSlot s) -> json::value {
    if (s == core::kNoThing || s.value >= model.things.size()) return nullptr;
    return id_str(model.things[s.value].id.value);
  };
  const bool by_rule = d.rule_id != 0 && d.rule_id != core::kFlowRuleId;
  const bool has_ports = core::has_ports(d.out.proto);
  return json::object{
      {"verdict", core::verdict_name(d.verdict)},
      {"stage", core::stage_name(d.stage)},
      {"dropReason", d.drop == core::DropReason::kNone
                         ? json::value(nullptr)
                         : json::value(core::drop_reason_name(d.drop))},
      {"ruleId", by_rule ? json::value(id_str(d.rule_id)) : json::value(nullptr)},
      {"statefulFlow", d.rule_id == core::kFlowRuleId},
      {"vlanId", d.verdict == core::Verdict::kForward ? json::value(d.vlan) : json::value(nullptr)},
      {"tunnelId",
       d.verdict == core::Verdict::kTunnel ? id_or_null(d.tunnel) : json::value(nullptr)},
      {"thingId", thing_id(d.thing)},
      {"targetThingId", thing_id(d.target)},
      {"out",
       json::object{
           {"protocol", proto_str(d.out.proto)},
           {"srcAddress", d.out.src.str()},
           {"dstAddress", d.out.dst.str()},
           {"srcPort", has_ports ? json::value(d.out.sport) : json::value(nullptr)},
           {"dstPort", has_ports ? json::value(d.out.dport) : json::value(nullptr)},
       }},
  };
}

// ------------------------------------------------------------------------------------- input

core::Result<json::value> parse_body(std::string_view text) {
  boost::system::error_code ec;
  json::parse_options opt;
  opt.max_depth = 16;  // our deepest body is profile.inbound.rules[i]: 4 levels
  json::value v = json::parse(text, ec, {}, opt);
  if (ec) {
    return Error(core::Code::kInvalidArgument, "malformed JSON: " + ec.message());
  }
  return v;
}

uint64_t parse_id_text(std::string_view text, uint64_t max) noexcept {
  if (text.empty() || text.size() > 20 || text[0] == '0') return 0;
  for (char c : text) {
    if (c < '0' || c > '9') return 0;
  }
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v > max) return 0;
  return v;
}

core::Result<std::vector<core::Thing>> things_create_from_json(const json::value& v) {
  return read_root<std::vector<core::Thing>>(v, [](Reader& r) {
    std::vector<core::Thing> out;
    FieldErrors& errs = r.errors();
    const json::value* items = r.take("things", Need::kRequired);
    if (!items) return out;
    const json::array* a = items->if_array();
    if (!a) {
      errs.add("things", expected("array", *items));
      return out;
    }
    if (a->empty() || a->size() > kMaxThingsPerRequest) {
      errs.add("things", "must hold 1 to " + std::to_string(kMaxThingsPerRequest) + " items");
      return out;
    }
    out.resize(a->size());
    for (size_t i = 0; i < a->size(); ++i) {
      Reader item((*a)[i], index_path("things", i), errs);
      if (item.ok()) read_thing_item(item, out[i]);
      item.finish();
    }
    return out;
  });
}

core::Result<core::ThingPatch> thing_patch_from_json(const json::value& v,
                                                     const core::Services& current) {
  return read_root<core::ThingPatch>(v, [&current](Reader& r) {
    core::ThingPatch p;
    p.name = r.str("name", Need::kOptional);
    p.tags = r.str_array("tags", Need::kOptional);
    p.group = r.id<core::GroupId>("thingsGroupId", Need::kOptional);
    if (core::Services s = current; read_services(r, "services", s)) p.services = s;
    p.ip_lock = r.boolean("ipLock", Need::kOptional);
    p.locked_addr = r.parsed("lockedAddress", Need::kOptional, core::Ipv4::parse);
    p.imei_lock = r.boolean("imeiLock", Need::kOptional);
    for (const char* ro : {"thingId", "iccid", "imsi", "msisdn", "state", "imei"}) r.read_only(ro);
    return p;
  });
}

core::Result<core::ThingState> state_change_from_json(const json::value& v) {
  return read_root<core::ThingState>(v, [](Reader& r) {
    return r.parsed("state", Need::kRequired, core::parse_state)
        .value_or(core::ThingState::kProvisioned);
  });
}

core::Result<core::ThingsGroup> group_create_from_json(const json::value& v) {
  return read_root<core::ThingsGroup>(v, [](Reader& r) {
    core::ThingsGroup g;
    read_group_fields(r, g, Need::kRequired);
    return g;
  });
}

core::Result<core::ThingsGroup> group_patch_from_json(const json::value& v,
                                                      const core::ThingsGroup& current) {
  return read_root<core::ThingsGroup>(v, [&current](Reader& r) {
    core::ThingsGroup g = current;
    read_group_fields(r, g, Need::kOptional);
    return g;
  });
}

core::Result<core::Network> network_create_from_json(const json::value& v) {
  return read_root<core::Network>(v, [](Reader& r) {
    core::Network n;
    if (auto s = r.str("name", Need::kRequired)) n.name = *s;
    if (auto s = r.str("apnName", Need::kRequired)) n.apn = *s;
    if (auto b = r.boolean("isolation", Need::kOptional)) n.isolation = *b;
    if (auto i = r.integer<uint16_t>("vlanId", Need::kOptional, 0, 4094)) n.vlan = *i;
    r.read_only("id");
    return n;
  });
}

core::Result<core::NetworkPatch> network_patch_from_json(const json::value& v) {
  return read_root<core::NetworkPatch>(v, [](Reader& r) {
    core::NetworkPatch p;
    p.name = r.str("name", Need::kOptional);
    p.isolation = r.boolean("isolation", Need::kOptional);
    p.vlan = r.integer<uint16_t>("vlanId", Need::kOptional, 0, 4094);
    r.read_only("id");
    r.read_only("apnName");
    return p;
  });
}

core::Result<core::Cidr> pool_from_json(const json::value& v) {
  return read_root<core::Cidr>(v, [](Reader& r) {
    r.read_only("id");
    return r.parsed("cidr", Need::kRequired, core::Cidr::parse).value_or(core::Cidr{});
  });
}

core::Result<core::Route> route_create_from_json(const json::value& v) {
  return read_root<core::Route>(v, [](Reader& r) {
    core::Route route;
    if (auto c = r.parsed("destination", Need::kRequired, core::Cidr::parse)) {
      route.destination = *c;
    }
    if (auto t = r.parsed("target", Need::kRequired, core::parse_route_target)) route.target = *t;
    // null is accepted for tunnelId: GET shows it for targets other than IPSEC_TUNNEL.
    if (const json::value* t = r.take("tunnelId", Need::kOptional); t && !t->is_null()) {
      if (auto id = r.id_value<core::TunnelId>(*t, r.field("tunnelId"))) route.tunnel = *id;
    }
    r.read_only("id");
    return route;
  });
}

core::Result<core::NatRule> nat_rule_create_from_json(const json::value& v) {
  return read_root<core::NatRule>(v, [](Reader& r) {
    core::NatRule n;
    if (auto p = r.parsed("protocol", Need::kRequired, core::parse_protocol)) n.protocol = *p;
    if (auto a = r.parsed("publicIp", Need::kRequired, core::Ipv4::parse)) n.public_ip = *a;
    if (auto p = r.integer<uint16_t>("publicPort", Need::kRequired, 1, 65535)) n.public_port = *p;
    if (auto t = r.id<core::ThingId>("thingId", Need::kRequired)) n.thing = *t;
    if (auto p = r.integer<uint16_t>("thingPort", Need::kRequired, 1, 65535)) n.thing_port = *p;
    r.read_only("id");
    return n;
  });
}

core::Result<core::IpsecTunnel> tunnel_create_from_json(const json::value& v) {
  return read_root<core::IpsecTunnel>(v, [](Reader& r) {
    core::IpsecTunnel t;
    read_tunnel_fields(r, t, Need::kRequired);
    return t;
  });
}

core::Result<core::IpsecTunnel> tunnel_patch_from_json(const json::value& v,
                                                       const core::IpsecTunnel& current) {
  return read_root<core::IpsecTunnel>(v, [&current](Reader& r) {
    core::IpsecTunnel t = current;
    read_tunnel_fields(r, t, Need::kOptional);
    return t;
  });
}

core::Result<core::IpProfile> profile_create_from_json(const json::value& v) {
  return read_root<core::IpProfile>(v, [](Reader& r) {
    core::IpProfile p;
    read_profile_fields(r, p, Need::kRequired);
    return p;
  });
}

core::Result<core::IpProfile> profile_patch_from_json(const json::value& v,
                                                      const core::IpProfile& current) {
  return read_root<core::IpProfile>(v, [&current](Reader& r) {
    core::IpProfile p = current;
    read_profile_fields(r, p, Need::kOptional);
    return p;
  });
}

core::Result<core::User> user_create_from_json(const json::value& v) {
  return read_root<core::User>(v, [](Reader& r) {
    core::User u;
    read_user_fields(r, u, Need::kRequired);
    return u;
  });
}

core::Result<core::User> user_patch_from_json(const json::value& v, const core::User& current) {
  return read_root<core::User>(v, [&current](Reader& r) {
    core::User u = current;
    read_user_fields(r, u, Need::kOptional);
    return u;
  });
}

core::Result<EvaluateRequest> evaluate_from_json(const json::value& v) {
  return read_root<EvaluateRequest>(v, [](Reader& r) {
    EvaluateRequest e;
    if (auto d = r.parsed("direction", Need::kRequired, parse_direction)) e.direction = *d;
    const auto proto = r.parsed("protocol", Need::kRequired, parse_packet_protocol);
    if (proto) e.protocol = static_cast<uint8_t>(*proto);
    if (auto a = r.parsed("remoteAddress", Need::kRequired, core::Ipv4::parse)) {
      e.remote_address = *a;
    }
    const auto rport = r.integer<uint16_t>("remotePort", Need::kOptional, 0, 65535);
    const auto lport = r.integer<uint16_t>("localPort", Need::kOptional, 0, 65535);
    if (proto && !core::has_ports(static_cast<uint8_t>(*proto))) {
      if (rport) r.errors().add("remotePort", "ports need protocol TCP or UDP");
      if (lport) r.errors().add("localPort", "ports need protocol TCP or UDP");
    }
    e.remote_port = rport.value_or(0);
    e.local_port = lport.value_or(0);
    return e;
  });
}

core::PacketDesc to_packet(const EvaluateRequest& r, core::Ipv4 thing_addr, uint32_t uplink_teid) {
  core::PacketDesc p;
  p.dir = r.direction;
  p.proto = r.protocol;
  if (r.direction == core::Direction::kUplink) {
    p.teid = uplink_teid;
    p.src = thing_addr;
    p.dst = r.remote_address;
    p.sport = r.local_port;
    p.dport = r.remote_port;
  } else {
    p.src = r.remote_address;
    p.dst = thing_addr;
    p.sport = r.remote_port;
    p.dport = r.local_port;
  }
  return p;
}

// ------------------------------------------------------------------------------------- SMS

namespace {

// 10 concatenated SMS (TS 23.040 9.2.3.24.1: a 6-octet UDH leaves 153 septets or 67 UCS-2
// characters of each 140-octet user data).
constexpr size_t kMaxSmsSeptets = 10 * 153;
constexpr size_t kMaxSmsUcs2 = 10 * 67;

// Decodes the UTF-8 code point at s[i] and advances i; returns -1 when malformed.
int32_t next_code_point(std::string_view s, size_t& i) {
  const auto b = static_cast<unsigned char>(s[i++]);
  if (b < 0x80) return b;
  const int extra = b >= 0xf0 && b < 0xf5 ? 3 : b >= 0xe0 ? 2 : b >= 0xc2 && b < 0xe0 ? 1 : -1;
  if (extra < 0 || i + static_cast<size_t>(extra) > s.size()) return -1;
  int32_t c = b & (0x3f >> extra);
  for (int k = 0; k < extra; ++k) {
    const auto cont = static_cast<unsigned char>(s[i++]);
    if ((cont & 0xc0) != 0x80) return -1;
    c = (c << 6) | (cont & 0x3f);
  }
  static constexpr int32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  if (c < kMin[extra] || c > 0x10ffff || (c >= 0xd800 && c < 0xe000)) return -1;
  return c;
}

// Septets of a code point in GSM 03.38: 1 (default alphabet), 2 (escape + extension table), or
// 0 (not representable: the message goes as UCS-2).
int gsm_septets(int32_t c) {
  if (c < 0x80) {
    constexpr std::string_view kExtension = "^{}\\[]~|\f";
    if (c != 0 && kExtension.find(static_cast<char>(c)) != std::string_view::npos) return 2;
    return (c >= 0x20 && c < 0x7f && c != '`') || c == '\n' || c == '\r' ? 1 : 0;
  }
  if (c == 0x20ac) return 2;  // €
  static constexpr std::u32string_view kNonAscii = U"£¥èéùìòÇØøÅåΔΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà";
  return kNonAscii.find(static_cast<char32_t>(c)) != std::u32string_view::npos ? 1 : 0;
}

// Returns why `text` is not a sendable SMS text, or nullopt.
std::optional<std::string> sms_text_problem(std::string_view text) {
  size_t septets = 0;
  size_t ucs2 = 0;
  bool gsm = true;
  for (size_t i = 0; i < text.size();) {
    const int32_t c = next_code_point(text, i);
    if (c < 0) return "not valid UTF-8";
    const int n = gsm_septets(c);
    gsm = gsm && n > 0;
    septets += static_cast<size_t>(n);
    ucs2 += c > 0xffff ? 2 : 1;  // a surrogate pair
  }
  if (ucs2 == 0) return "must not be empty";
  if (gsm && septets > kMaxSmsSeptets) {
    return "longer than 1530 GSM 7-bit characters (10 concatenated SMS)";
  }
  if (!gsm && ucs2 > kMaxSmsUcs2) {
    return "longer than 670 UCS-2 characters (10 concatenated SMS; a character outside the GSM "
           "alphabet makes the whole text UCS-2)";
  }
  return std::nullopt;
}

constexpr std::pair<BillingScope, const char*> kBillingScopes[] = {
    {BillingScope::kAccount, "ACCOUNT"},
    {BillingScope::kThingsGroup, "THINGS_GROUP"},
    {BillingScope::kThing, "THING"},
};

core::Result<BillingScope> parse_billing_scope(std::string_view text) {
  for (const auto& [sc, name] : kBillingScopes) {
    if (text == name) return sc;
  }
  return Error::invalid("", "must be one of ACCOUNT, THINGS_GROUP, THING");
}

struct Cycle {
  int year = 0;
  unsigned month = 0;
};

core::Result<Cycle> parse_cycle(std::string_view t) {
  // Returns the number of t[from, to) when it is all digits, else -1.
  auto number = [&t](size_t from, size_t to) {
    int v = 0;
    for (size_t i = from; i < to; ++i) {
      if (t[i] < '0' || t[i] > '9') return -1;
      v = v * 10 + (t[i] - '0');
    }
    return v;
  };
  const int year = t.size() == 7 && t[4] == '-' ? number(0, 4) : -1;
  const int month = year >= 0 ? number(5, 7) : -1;
  if (month < 1 || month > 12) return Error::invalid("", "must be a month YYYY-MM");
  return Cycle{year, static_cast<unsigned>(month)};
}

}  // namespace

core::Status check_sms_text(std::string_view text) {
  if (auto why = sms_text_problem(text)) return Error::invalid("text", *why);
  return core::Status::Ok();
}

core::Result<SmsCreate> sms_create_from_json(const json::value& v) {
  return read_root<SmsCreate>(v, [](Reader& r) {
    SmsCreate out;
    if (auto t = r.str("text", Need::kRequired)) {
      if (auto why = sms_text_problem(*t)) r.errors().add("text", *why);
      out.text = std::move(*t);
    }
    out.validity_s = r.integer<int64_t>("validitySeconds", Need::kOptional, 60, 604800);
    return out;
  });
}

const char* billing_scope_name(BillingScope s) noexcept {
  for (const auto& [sc, name] : kBillingScopes) {
    if (sc == s) return name;
  }
  return "?";
}

core::Result<BillingReportRequest> billing_report_from_json(const json::value& v) {
  return read_root<BillingReportRequest>(v, [](Reader& r) {
    BillingReportRequest b;
    const auto scope = r.parsed("scope", Need::kRequired, parse_billing_scope);
    if (scope) b.scope = *scope;
    if (auto c = r.parsed("cycle", Need::kRequired, parse_cycle)) {
      b.year = c->year;
      b.month = c->month;
    }
    // Each id goes with its scope only (an unknown scope is reported once, above).
    auto refuse = [&r, &scope](std::string_view key) {
      if (r.take(key, Need::kOptional)) {
        r.errors().add(r.field(key),
                       std::string("not a parameter of scope ") + billing_scope_name(*scope));
      }
    };
    const Need id_need = scope ? Need::kRequired : Need::kOptional;
    if (scope && *scope != BillingScope::kThingsGroup) {
      refuse("thingsGroupId");
    } else if (auto g = r.id<core::GroupId>("thingsGroupId", id_need)) {
      b.group = *g;
    }
    if (scope && *scope != BillingScope::kThing) {
      refuse("thingId");
    } else if (auto t = r.id<core::ThingId>("thingId", id_need)) {
      b.thing = *t;
    }
    return b;
  });
}

json::value to_json(const BillingReportRequest& b) {
  char cycle[16];
  std::snprintf(cycle, sizeof cycle, "%04d-%02u", b.year, b.month);
  json::object o{{"scope", billing_scope_name(b.scope)}, {"cycle", cycle}};
  if (b.scope == BillingScope::kThingsGroup) o["thingsGroupId"] = id_str(b.group.value);
  if (b.scope == BillingScope::kThing) o["thingId"] = id_str(b.thing.value);
  return o;
}

// ------------------------------------------------------------------------------ bulk actions

namespace {

constexpr std::pair<BulkAction, const char*> kBulkActions[] = {
    {BulkAction::kActivate, "ACTIVATE"},
    {BulkAction::kSuspend, "SUSPEND"},
    {BulkAction::kRetire, "RETIRE"},
    {BulkAction::kSetGroup, "SET_GROUP"},
    {BulkAction::kAddTag, "ADD_TAG"},
    {BulkAction::kRemoveTag, "REMOVE_TAG"},
    {BulkAction::kSetServices, "SET_SERVICES"},
};

core::Result<BulkAction> parse_bulk_action(std::string_view text) {
  for (const auto& [a, name] : kBulkActions) {
    if (text == name) return a;
  }
  return Error::invalid("",
                        "must be one of ACTIVATE, SUSPEND, RETIRE, SET_GROUP, ADD_TAG, "
                        "REMOVE_TAG, SET_SERVICES");
}

core::Result<std::string> parse_tag(std::string_view text) {
  if (!core::is_valid_tag(text)) return Error::invalid("", "must be 1-64 of A-Z a-z 0-9 - _ . :");
  return std::string(text);
}

core::Result<bool> parse_tag_match(std::string_view text) {
  if (text == "any") return false;
  if (text == "all") return true;
  return Error::invalid("", "must be any or all");
}

void read_selector(Reader& parent, BulkSelector& s) {
  const json::value* v = parent.object("selector", Need::kRequired);
  if (!v) return;
  Reader r(*v, "selector", parent.errors());
  FieldErrors& errs = r.errors();
  if (auto t = r.array<std::string>("tags", Need::kOptional,
                                    [&r](const json::value& e, const std::string& f) {
                                      return r.parsed_value(e, f, parse_tag);
                                    })) {
    if (t->empty()) errs.add("selector.tags", "at least one tag");
    s.tags = std::move(*t);
  }
  if (auto m = r.parsed("tagMatch", Need::kOptional, parse_tag_match)) s.all_tags = *m;
  s.group = r.id<core::GroupId>("thingsGroupId", Need::kOptional);
  s.thing_ids = r.array<core::ThingId>(
      "thingIds", Need::kOptional,
      [&r](const json::value& e, const std::string& f) { return r.id_value<core::ThingId>(e, f); });
  if (s.thing_ids && (s.thing_ids->empty() || s.thing_ids->size() > kMaxBulkThingIds)) {
    errs.add("selector.thingIds", "1 to " + std::to_string(kMaxBulkThingIds) + " ids");
  }
  s.state = r.parsed("state", Need::kOptional, core::parse_state);
  r.finish();
  const json::object& o = v->get_object();
  if (!o.contains("tags") && !o.contains("thingsGroupId") && !o.contains("thingIds") &&
      !o.contains("state")) {
    errs.add("selector", "needs at least one of tags, thingsGroupId, thingIds, state");
  }
}

// The parameter each action needs; the others' parameters are refused.
void read_bulk_parameter(Reader& r, BulkActionRequest& b, std::optional<BulkAction> action) {
  // Without a valid action only the action's own error is reported.
  const auto needs = [&](std::string_view key, std::initializer_list<BulkAction> users) {
    const bool used = action && std::find(users.begin(), users.end(), *action) != users.end();
    if (used) return Need::kRequired;
    if (r.take(key, Need::kOptional) && action) {
      r.errors().add(std::string(key),
                     std::string("not a parameter of ") + bulk_action_name(*action));
    }
    return Need::kOptional;
  };
  if (needs("thingsGroupId", {BulkAction::kSetGroup}) == Need::kRequired) {
    if (auto g = r.id<core::GroupId>("thingsGroupId", Need::kRequired)) b.group = *g;
  }
  if (needs("tag", {BulkAction::kAddTag, BulkAction::kRemoveTag}) == Need::kRequired) {
    if (auto t = r.parsed("tag", Need::kRequired, parse_tag)) b.tag = *t;
  }
  if (needs("services", {BulkAction::kSetServices}) == Need::kRequired) {
    if (const json::value* v = r.object("services", Need::kRequired)) {
      Reader sr(*v, "services", r.errors());
      b.data = sr.boolean("data", Need::kOptional);
      b.sms = sr.boolean("sms", Need::kOptional);
      sr.finish();
      if (!b.data && !b.sms) r.errors().add("services", "needs data or sms");
    }
  }
}

}  // namespace

const char* bulk_action_name(BulkAction a) noexcept {
  for (const auto& [x, name] : kBulkActions) {
    if (x == a) return name;
  }
  return "?";
}

core::Result<BulkActionRequest> bulk_action_from_json(const json::value& v) {
  return read_root<BulkActionRequest>(v, [](Reader& r) {
    BulkActionRequest b;
    const auto action = r.parsed("action", Need::kRequired, parse_bulk_action);
    if (action) b.action = *action;
    read_selector(r, b.selector);
    if (auto d = r.boolean("dryRun", Need::kOptional)) b.dry_run = *d;
    read_bulk_parameter(r, b, action);
    return b;
  });
}

json::value to_json(const BulkActionRequest& b) {
  json::object sel;
  const BulkSelector& s = b.selector;
  if (!s.tags.empty()) {
    sel["tags"] = strings(s.tags);
    sel["tagMatch"] = s.all_tags ? "all" : "any";
  }
  if (s.group) sel["thingsGroupId"] = id_str(s.group->value);
  if (s.thing_ids) {
    json::array ids;
    ids.reserve(s.thing_ids->size());
    for (core::ThingId id : *s.thing_ids) ids.emplace_back(id_str(id.value));
    sel["thingIds"] = std::move(ids);
  }
  if (s.state) sel["state"] = core::state_name(*s.state);
  json::object o{
      {"action", bulk_action_name(b.action)}, {"selector", std::move(sel)}, {"dryRun", b.dry_run}};
  switch (b.action) {
    case BulkAction::kSetGroup: o["thingsGroupId"] = id_str(b.group.value); break;
    case BulkAction::kAddTag:
    case BulkAction::kRemoveTag: o["tag"] = b.tag; break;
    case BulkAction::kSetServices: {
      json::object sv;
      if (b.data) sv["data"] = *b.data;
      if (b.sms) sv["sms"] = *b.sms;
      o["services"] = std::move(sv);
      break;
    }
    default: break;
  }
  return o;
}

}  // namespace simcore::ctl::api
