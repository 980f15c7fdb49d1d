#include "sim/report.h"

#include <pcap/pcap.h>

#include <boost/json.hpp>
#include <map>
#include <sstream>

namespace simcore::sim {
namespace {

namespace json = boost::json;

// Frames listed one by one in report.json; the counts cover all of them.
constexpr size_t kMaxListedMismatches = 10000;

std::string addr(uint32_t a) { return core::Ipv4{a}.str(); }

const char* dir_name(core::Direction d) {
  return d == core::Direction::kUplink ? "uplink" : "downlink";
}

const char* proto_name(uint8_t p) {
  switch (p) {
    case 1: return "ICMP";
    case 6: return "TCP";
    case 17: return "UDP";
    default: return "?";
  }
}

json::object packet_json(const core::PacketDesc& d) {
  json::object o;
  o["direction"] = dir_name(d.dir);
  if (d.dir == core::Direction::kUplink) o["teid"] = d.teid;
  o["src"] = d.src.str();
  o["dst"] = d.dst.str();
  o["protocol"] = proto_name(d.proto);
  if (core::has_ports(d.proto)) {
    o["srcPort"] = d.sport;
    o["dstPort"] = d.dport;
  }
  return o;
}

// One top-level member per line, and one element per line in top-level arrays: readable, and
// a diff of two reports shows the frames that changed.
std::string pretty(const json::object& top) {
  std::string out = "{";
  bool first = true;
  for (const auto& kv : top) {
    out += first ? "\n  " : ",\n  ";
    first = false;
    out += json::serialize(json::string(kv.key())) + ": ";
    if (!kv.value().is_array() || kv.value().as_array().empty()) {
      out += json::serialize(kv.value());
      continue;
    }
    const json::array& list = kv.value().as_array();
    out += "[";
    for (size_t i = 0; i < list.size(); ++i) {
      out += (i == 0 ? "\n    " : ",\n    ") + json::serialize(list[i]);
    }
    out += "\n  ]";
  }
  out += "\n}\n";
  return out;
}

json::object counters_json(const dp::Counters& c) {
  json::object o;
  auto by_port = [](const uint64_t(&v)[dp::kPortCount]) {
    json::object p;
    p["access"] = v[0];
    p["core"] = v[1];
    return p;
  };
  o["rx"] = by_port(c.rx);
  o["tx"] = by_port(c.tx);
  json::object parse;
  for (size_t s = 0; s < dp::kParseStatusCount; ++s) {
    const uint64_t n = c.parse[0][s] + c.parse[1][s];
    if (n != 0) parse[dp::parse_status_name(static_cast<dp::ParseStatus>(s))] = n;
  }
  o["parse"] = std::move(parse);
  json::object verdicts;
  for (size_t v = 0; v < dp::kVerdictCount; ++v) {
    if (c.verdict[v] != 0)
      verdicts[core::verdict_name(static_cast<core::Verdict>(v))] = c.verdict[v];
  }
  o["verdicts"] = std::move(verdicts);
  json::object drops;
  for (size_t d = 1; d < dp::kPolicyDropCount; ++d) {
    if (c.policy_drop[d] != 0) {
      drops[core::drop_reason_name(static_cast<core::DropReason>(d))] = c.policy_drop[d];
    }
  }
  o["policyDrops"] = std::move(drops);
  json::object pipeline;
  for (size_t d = 1; d < dp::kPipelineDropCount; ++d) {
    if (c.pipeline_drop[d] != 0) {
      pipeline[dp::pipeline_drop_name(static_cast<dp::PipelineDrop>(d))] = c.pipeline_drop[d];
    }
  }
  o["pipelineDrops"] = std::move(pipeline);
  json::object punts;
  for (size_t p = 1; p < dp::kPuntCount; ++p) {
    if (c.punt[p] != 0) punts[dp::punt_name(static_cast<dp::Punt>(p))] = c.punt[p];
  }
  o["punts"] = std::move(punts);
  o["icmpErrorsSent"] = c.icmp_time_exceeded + c.icmp_frag_needed;
  o["arpRequests"] = c.arp_requests;
  return o;
}

// Counts by key, in key order (std::map), for stable output.
using Tally = std::map<std::string, uint64_t>;

struct FlowTally {
  uint64_t frames = 0;
  uint64_t mismatches = 0;
  Tally expected;
  Tally actual;
};

struct Summary {
  std::vector<size_t> mismatches;
  std::vector<FlowTally> flows;
  std::map<std::string, std::pair<uint64_t, uint64_t>> outcomes;  // key → (expected, actual)
  std::map<uint32_t, std::pair<uint64_t, uint64_t>> rules;        // rule id → (expected, actual)
};

Summary summarize(const Traffic& t, const Replayed& r) {
  Summary s;
  s.mismatches = mismatches(t, r);
  s.flows.resize(t.flows.size());
  size_t next_mismatch = 0;
  for (size_t i = 0; i < t.frames.size(); ++i) {
    const SimFrame& f = t.frames[i];
    const dp::Outcome& o = r.outcomes[i];
    FlowTally& ft = s.flows[f.flow];
    ++ft.frames;
    const std::string e = expected_key(f.expect);
    const std::string a = outcome_key(o);
    ++ft.expected[e];
    ++ft.actual[a];
    ++s.outcomes[e].first;
    ++s.outcomes[a].second;
    if (const uint32_t rule = expected_rule(f.expect); rule != 0) ++s.rules[rule].first;
    if (const uint32_t rule = outcome_rule(o); rule != 0) ++s.rules[rule].second;
    if (next_mismatch < s.mismatches.size() && s.mismatches[next_mismatch] == i) {
      ++ft.mismatches;
      ++next_mismatch;
    }
  }
  return s;
}

json::object tally_json(const Tally& t) {
  json::object o;
  for (const auto& [k, n] : t) o[k] = n;
  return o;
}

}  // namespace

core::Status write_pcap(const std::string& path, const Traffic& traffic, dp::Port port) {
  pcap_t* dead =
      pcap_open_dead_with_tstamp_precision(DLT_EN10MB, 65535, PCAP_TSTAMP_PRECISION_NANO);
  if (dead == nullptr) return core::Error(core::Code::kUnavailable, path + ": libpcap failed");
  pcap_dumper_t* d = pcap_dump_open(dead, path.c_str());
  if (d == nullptr) {
    core::Error e(core::Code::kUnavailable, path + ": " + pcap_geterr(dead));
    pcap_close(dead);
    return e;
  }
  for (const SimFrame& f : traffic.frames) {
    if (f.port != port) continue;
    pcap_pkthdr h{};
    h.ts.tv_sec = static_cast<time_t>(f.ts_ns / 1'000'000'000ull);
    h.ts.tv_usec = static_cast<suseconds_t>(f.ts_ns % 1'000'000'000ull);  // nanoseconds here
    h.caplen = h.len = static_cast<uint32_t>(f.bytes.size());
    pcap_dump(reinterpret_cast<u_char*>(d), &h, f.bytes.data());
  }
  const bool ok = pcap_dump_flush(d) == 0;
  pcap_dump_close(d);
  pcap_close(dead);
  if (!ok) return core::Error(core::Code::kUnavailable, path + ": write failed");
  return {};
}

std::string expected_json(const Scenario& s, const Traffic& t, const dp::PortConfig& ports) {
  json::object top;
  top["scenario"] = s.path;
  top["seed"] = s.seed;
  json::object p;
  p["accessAddr"] = addr(ports.access_addr);
  p["coreAddr"] = addr(ports.core_addr);
  top["ports"] = std::move(p);
  top["phases"] = t.phases;
  json::array ops;
  for (const SessionOp& op : t.ops) {
    json::object o;
    o["phase"] = op.phase;
    o["op"] = op.attach ? "attach" : "detach";
    o["iccid"] = op.iccid;
    o["thing"] = op.thing;
    if (op.attach) {
      o["gtp"] = op.gtp == 1 ? "v1" : "v2";
      o["uplinkTeid"] = op.request.uplink_teid;
      o["enodeb"] = op.request.peer_addr.str();
      o["enodebTeid"] = op.request.peer_teid;
      o["apn"] = op.request.apn;
      o["rat"] = static_cast<int>(op.request.rat);
      o["mcc"] = op.request.mcc;
      o["mnc"] = op.request.mnc;
      if (!op.request.imei.empty()) o["imei"] = op.request.imei;
    }
    ops.push_back(std::move(o));
  }
  top["sessions"] = std::move(ops);
  json::array flows;
  for (const FlowInfo& f : t.flows) {
    json::object o;
    o["name"] = f.name;
    o["path"] = f.path;
    o["direction"] = dir_name(f.dir);
    if (f.malformed != Malformation::kNone) o["malformed"] = malformation_name(f.malformed);
    flows.push_back(std::move(o));
  }
  top["flows"] = std::move(flows);
  json::array frames;
  for (size_t i = 0; i < t.frames.size(); ++i) {
    const SimFrame& f = t.frames[i];
    json::object o;
    o["i"] = i;
    o["port"] = dp::port_name(f.port);
    o["ts"] = f.ts_ns;
    o["flow"] = t.flows[f.flow].name;
    if (f.phase != 0) o["phase"] = f.phase;
    o["packet"] = packet_json(f.desc);
    o["expected"] = expected_key(f.expect);
    o["stage"] = expected_stage(f.expect);
    if (const std::string rule = rule_name(expected_rule(f.expect)); !rule.empty())
      o["rule"] = rule;
    frames.push_back(std::move(o));
  }
  top["frames"] = std::move(frames);
  return pretty(top);
}

std::string report_json(const ReportInfo& info, const Traffic& t, const Replayed& r) {
  const Summary s = summarize(t, r);
  json::object top;
  top["scenario"] = info.scenario;
  top["seed"] = info.seed;
  top["account"] = info.checked_account.empty() ? "scenario" : info.checked_account;
  json::object totals;
  totals["frames"] = t.frames.size();
  totals["matched"] = t.frames.size() - s.mismatches.size();
  totals["mismatches"] = s.mismatches.size();
  totals["flows"] = t.flows.size();
  totals["things"] = t.things_selected;
  totals["phases"] = t.phases;
  top["totals"] = std::move(totals);
  json::array mm;
  for (size_t k = 0; k < s.mismatches.size() && k < kMaxListedMismatches; ++k) {
    const size_t i = s.mismatches[k];
    const SimFrame& f = t.frames[i];
    const dp::Outcome& o = r.outcomes[i];
    json::object m;
    m["frame"] = i;
    m["flow"] = t.flows[f.flow].name;
    m["packet"] = packet_json(f.desc);
    m["expected"] = expected_key(f.expect);
    m["expectedStage"] = expected_stage(f.expect);
    m["expectedRule"] = rule_name(expected_rule(f.expect));
    m["actual"] = outcome_key(o);
    m["stage"] = outcome_stage(o);
    m["rule"] = rule_name(outcome_rule(o));
    m["comment"] = r.comments[i];
    mm.push_back(std::move(m));
  }
  top["mismatches"] = std::move(mm);
  json::array flows;
  for (size_t k = 0; k < t.flows.size(); ++k) {
    json::object o;
    o["name"] = t.flows[k].name;
    o["path"] = t.flows[k].path;
    o["frames"] = s.flows[k].frames;
    o["mismatches"] = s.flows[k].mismatches;
    o["expected"] = tally_json(s.flows[k].expected);
    o["actual"] = tally_json(s.flows[k].actual);
    flows.push_back(std::move(o));
  }
  top["flows"] = std::move(flows);
  json::object outcomes;
  for (const auto& [k, n] : s.outcomes) {
    json::object o;
    o["expected"] = n.first;
    o["actual"] = n.second;
    outcomes[k] = std::move(o);
  }
  top["outcomes"] = std::move(outcomes);
  json::array rules;
  for (const auto& [id, n] : s.rules) {
    json::object o;
    o["rule"] = rule_name(id);
    o["expected"] = n.first;
    o["actual"] = n.second;
    rules.push_back(std::move(o));
  }
  top["rules"] = std::move(rules);
  top["counters"] = counters_json(r.counters);
  json::array notes;
  for (const std::string& n : t.notes) notes.push_back(json::string(n));
  for (const std::string& n : r.notes) notes.push_back(json::string(n));
  top["notes"] = std::move(notes);
  return pretty(top);
}

std::string report_text(const ReportInfo& info, const Traffic& t, const Replayed& r,
                        size_t max_listed) {
  const Summary s = summarize(t, r);
  std::ostringstream out;
  out << "scenario " << info.scenario << "  seed " << info.seed << "  checked against "
      << (info.checked_account.empty() ? "its own account" : info.checked_account) << "\n";
  if (!s.mismatches.empty()) {
    out << "MISMATCHES (" << s.mismatches.size() << "):\n";
    for (size_t k = 0; k < s.mismatches.size() && k < max_listed; ++k) {
      const size_t i = s.mismatches[k];
      const SimFrame& f = t.frames[i];
      const core::PacketDesc& d = f.desc;
      out << "  #" << i << " " << t.flows[f.flow].name << ": " << dir_name(d.dir) << " "
          << proto_name(d.proto) << " " << d.src.str() << ":" << d.sport << " -> " << d.dst.str()
          << ":" << d.dport << "  expected " << expected_key(f.expect);
      if (const std::string rule = rule_name(expected_rule(f.expect)); !rule.empty()) {
        out << " (rule " << rule << ")";
      }
      out << ", got " << outcome_key(r.outcomes[i]);
      if (const std::string rule = rule_name(outcome_rule(r.outcomes[i])); !rule.empty()) {
        out << " (rule " << rule << ")";
      }
      out << "\n";
    }
    if (s.mismatches.size() > max_listed) {
      out << "  ... " << (s.mismatches.size() - max_listed) << " more in report.json\n";
    }
  }
  out << "flows:\n";
  for (size_t k = 0; k < t.flows.size(); ++k) {
    const FlowTally& ft = s.flows[k];
    out << (ft.mismatches ? "  FAIL " : "  ok   ") << t.flows[k].name << "  frames=" << ft.frames;
    if (ft.mismatches) out << " mismatches=" << ft.mismatches;
    out << " ";
    for (const auto& [key, n] : ft.expected) out << " [" << key << " " << n << "]";
    out << "\n";
  }
  for (const std::string& n : t.notes) out << "note: " << n << "\n";
  for (const std::string& n : r.notes) out << "note: " << n << "\n";
  out << "total: " << t.frames.size() << " frames, " << t.flows.size() << " flows, "
      << t.things_selected << " Things, " << s.mismatches.size() << " mismatches\n";
  return out.str();
}

}  // namespace simcore::sim
