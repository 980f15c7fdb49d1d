// simcore-demo — loads an account file, compiles it, shows what the compiled tables hold and
// evaluates the file's example packets twice: with the tables (core::lookup_packet, the
// portable fast path) and with the model (core::evaluate_reference, the oracle). Any
// disagreement is a bug in one of them and makes the exit status 1.

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "control/account_file.h"
#include "core/reference_eval.h"
#include "core/table_lookup.h"

namespace {

using simcore::core::Decision;
using simcore::core::Ipv4;
using simcore::core::PacketDesc;

constexpr int kExitOk = 0;
constexpr int kExitSelfCheck = 1;
constexpr int kExitUsage = 2;

constexpr const char* kUsage = R"(usage: simcore-demo <account.yaml> [--quiet]

Loads an account file (networks, IP Profiles, Things Groups, Things and example packets; see
configs/demo.yaml), compiles it into the data plane's tables, prints what the tables hold and
evaluates every example packet twice: with the compiled tables (core::lookup_packet) and with
the reference evaluator on the model (core::evaluate_reference). The two must agree.

  --quiet   print only the self-check result and any disagreement
  --help    print this text

Exit status: 0 when every example agrees (and gets the verdict it expects), 1 when one does
not, 2 on bad usage or an account file that does not load.
)";

// Rows of cells printed in aligned columns, two spaces apart.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  void print(int indent = 2) const {
    std::vector<size_t> width;
    for (const auto& r : rows_) {
      if (width.size() < r.size()) width.resize(r.size(), 0);
      for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
    }
    for (const auto& r : rows_) {
      std::string line(static_cast<size_t>(indent), ' ');
      for (size_t i = 0; i < r.size(); ++i) {
        line += r[i];
        if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
      }
      std::printf("%s\n", line.c_str());
    }
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string with_commas(uint64_t v) {
  const std::string digits = std::to_string(v);
  std::string s;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) s += ',';
    s += digits[i];
  }
  return s;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08" PRIx32, v);
  return buf;
}

std::string endpoint(Ipv4 a, uint8_t proto, uint16_t port) {
  return simcore::core::has_ports(proto) ? a.str() + ":" + std::to_string(port) : a.str();
}

std::string proto_name(uint8_t p) {
  switch (p) {
    case 1: return "ICMP";
    case 6: return "TCP";
    case 17: return "UDP";
    default: return "proto " + std::to_string(p);
  }
}

// Names from the model for what the tables hold as ids and slots.
class Names {
 public:
  explicit Names(const simcore::core::Model& m) : m_(m) {
    for (const auto& [id, n] : m.networks) {
      networks_[id.value] = &n;
      for (const auto& t : n.tunnels) tunnels_[t.id.value] = &t;
    }
    for (const auto& [id, p] : m.profiles) {
      for (const auto* chain : {&p.inbound, &p.outbound}) {
        for (const auto& r : chain->rules) {
          rules_[r.id.value] = {&p, chain == &p.inbound ? "inbound" : "outbound", &r};
        }
      }
    }
  }

  std::string thing(simcore::core::ThingSlot s) const {
    if (s.value >= m_.things.size()) return "?";
    const auto& t = m_.things[s.value];
    return t.name.empty() ? "ICCID " + t.iccid : t.name;
  }
  const simcore::core::Network* network(uint32_t id) const {
    auto it = networks_.find(id);
    return it == networks_.end() ? nullptr : it->second;
  }
  std::string network_name(uint32_t id) const {
    const auto* n = network(id);
    return n ? n->name : "network " + std::to_string(id);
  }
  std::string tunnel_name(uint32_t id) const {
    auto it = tunnels_.find(id);
    return it == tunnels_.end() ? "tunnel " + std::to_string(id) : it->second->name;
  }
  std::string tunnel_peer(uint32_t id) const {
    auto it = tunnels_.find(id);
    return it == tunnels_.end() ? "?" : it->second->peer.str();
  }
  std::string profile_name(uint32_t id) const {
    auto it = m_.profiles.find(simcore::core::ProfileId{id});
    return it == m_.profiles.end() ? "profile " + std::to_string(id) : it->second.name;
  }
  const simcore::core::IpProfile* profile_of(simcore::core::ThingSlot s) const {
    if (s.value >= m_.things.size()) return nullptr;
    const auto& g = m_.groups.at(m_.things[s.value].group);
    return &m_.profiles.at(g.profile);
  }
  std::string groups_using(uint32_t profile_id) const {
    std::string out;
    for (const auto& [id, g] : m_.groups) {
      if (g.profile.value == profile_id) out += (out.empty() ? "" : ", ") + g.name;
    }
    return out.empty() ? "-" : out;
  }

  // Describes the rule (or default action, or flow) that decided, for a person.
  std::string rule(const Decision& d, const PacketDesc& p) const {
    using simcore::core::Stage;
    if (d.rule_id == simcore::core::kFlowRuleId) {
      return "flow: a reply on a flow the Thing opened (stateful profile)";
    }
    if (d.stage == Stage::kSession || d.stage == Stage::kState || d.stage == Stage::kService ||
        d.stage == Stage::kAntiSpoof) {
      return "none: no chain ran";
    }
    if (d.rule_id != 0) {
      auto it = rules_.find(d.rule_id);
      if (it == rules_.end()) return std::to_string(d.rule_id);
      const auto& r = *it->second.rule;
      std::string s = std::to_string(d.rule_id) + ": " + it->second.profile->name + " " +
                      it->second.chain + " priority " + std::to_string(r.priority) + " " +
                      simcore::core::action_name(r.action) + " " +
                      simcore::core::protocol_name(r.protocol);
      if (r.remote.len != 0) s += " " + r.remote.str();
      if (!r.remote_ports.is_any()) s += " remotePorts " + r.remote_ports.str();
      if (!r.local_ports.is_any()) s += " localPorts " + r.local_ports.str();
      return s;
    }
    // The default action of the last chain that ran: the receiver's inbound chain once the
    // packet reached a Thing, else the sender's outbound chain.
    const bool inbound =
        d.target != simcore::core::kNoThing &&
        !(p.dir == simcore::core::Direction::kUplink && d.stage == Stage::kFirewallOut);
    const auto* prof = profile_of(inbound ? d.target : d.thing);
    if (!prof) return "-";
    const auto& chain = inbound ? prof->inbound : prof->outbound;
    return std::string("0: default ") + simcore::core::action_name(chain.default_action) + " of " +
           prof->name + " " + (inbound ? "inbound" : "outbound") +
           (chain.rules.empty() ? " (empty chain)" : "");
  }

 private:
  struct RuleRef {
    const simcore::core::IpProfile* profile;
    const char* chain;
    const simcore::core::FirewallRule* rule;
  };
  const simcore::core::Model& m_;
  std::map<uint32_t, const simcore::core::Network*> networks_;
  std::map<uint32_t, const simcore::core::IpsecTunnel*> tunnels_;
  std::map<uint32_t, RuleRef> rules_;
};

std::string one_line(const Decision& d) {
  std::string s = std::string(simcore::core::verdict_name(d.verdict)) + " at " +
                  simcore::core::stage_name(d.stage);
  if (d.drop != simcore::core::DropReason::kNone) {
    s += " (" + std::string(simcore::core::drop_reason_name(d.drop)) + ")";
  }
  s += ", rule " + std::to_string(d.rule_id) + ", out " +
       endpoint(d.out.src, d.out.proto, d.out.sport) + " -> " +
       endpoint(d.out.dst, d.out.proto, d.out.dport);
  if (d.verdict == simcore::core::Verdict::kForward) s += ", vlan " + std::to_string(d.vlan);
  if (d.verdict == simcore::core::Verdict::kTunnel) s += ", tunnel " + std::to_string(d.tunnel);
  if (d.peer_teid != 0) s += ", GTP-U " + d.peer_addr.str() + " " + hex32(d.peer_teid);
  return s;
}

void print_tables(const simcore::ctl::LoadedAccount& acc, const simcore::core::CompiledTables& t,
                  const Names& names) {
  using namespace simcore::core;
  const Model& m = acc.account.model();

  // Things and sessions.
  size_t by_state[4] = {};
  for (const Thing& th : m.things) ++by_state[static_cast<int>(th.state)];
  size_t active_rows = 0;
  size_t data_rows = 0;
  for (size_t i = 0; i < t.sessions.size(); ++i) {
    active_rows += (t.sessions[i].flags & kSessionActive) != 0;
    data_rows += (t.sessions[i].flags & kSessionDataAllowed) != 0;
  }
  const size_t things = t.sessions.size();
  const size_t attached = t.by_teid.size();
  std::printf("Things and sessions\n");
  Table things_table(
      {"Things", "ACTIVE", "SUSPENDED", "PROVISIONED", "RETIRED", "attached", "session tables"});
  things_table.row(
      {with_commas(things), with_commas(by_state[static_cast<int>(ThingState::kActive)]),
       with_commas(by_state[static_cast<int>(ThingState::kSuspended)]),
       with_commas(by_state[static_cast<int>(ThingState::kProvisioned)]),
       with_commas(by_state[static_cast<int>(ThingState::kRetired)]),
       with_commas(attached) + " (" +
           fixed(things ? 100.0 * static_cast<double>(attached) / static_cast<double>(things) : 0,
                 1) +
           " %)",
       with_commas(t.session_bytes()) + " bytes = " +
           fixed(things ? static_cast<double>(t.session_bytes()) / static_cast<double>(things) : 0,
                 1) +
           " per Thing"});
  things_table.print();
  std::printf(
      "  session rows: %zu with state ACTIVE, %zu with data allowed; indexes: %zu by TEID, "
      "%zu by UE address\n\n",
      active_rows, data_rows, t.by_teid.size(), t.by_ue.size());

  // Networks.
  std::vector<size_t> nat_per_network(t.networks.size(), 0);
  for (const NatRow& r : t.nat_in) ++nat_per_network[t.sessions[r.thing_slot].network];
  std::printf("Networks\n");
  Table nets({"network", "APN", "isolation", "VLAN", "pools", "routes", "NAT rules", "tunnels"});
  for (size_t ni = 0; ni < t.networks.size(); ++ni) {
    const NetworkRow& n = t.networks[ni];
    const Network* mn = names.network(n.network_id);
    std::string pools;
    for (uint32_t i = 0; i < n.pool_count; ++i) {
      const PoolRow& p = t.pools[n.pool_first + i];
      const int len = 32 - std::countr_zero(p.last - p.first + 1);
      pools += (pools.empty() ? "" : " ") + Cidr{Ipv4{p.first}, static_cast<uint8_t>(len)}.str();
    }
    size_t tunnels = 0;
    for (const TunnelRow& tr : t.tunnels) tunnels += tr.network == ni;
    nets.row({names.network_name(n.network_id), mn ? mn->apn : "?",
              n.isolated ? "isolated" : "open", n.vlan ? std::to_string(n.vlan) : "untagged", pools,
              std::to_string(n.route_count), std::to_string(nat_per_network[ni]),
              std::to_string(tunnels)});
  }
  nets.print();

  std::printf("\nRoutes (per network, longest prefix first; no match goes to the internet)\n");
  Table routes({"network", "destination", "target"});
  for (const NetworkRow& n : t.networks) {
    for (uint32_t i = 0; i < n.route_count; ++i) {
      const RouteRow& r = t.routes[n.route_first + i];
      std::string target;
      switch (static_cast<RouteKind>(r.kind)) {
        case RouteKind::kInternet: target = "INTERNET"; break;
        case RouteKind::kBlackhole: target = "BLACKHOLE"; break;
        case RouteKind::kTunnel:
          target = "IPSEC_TUNNEL " + names.tunnel_name(t.tunnels[r.tunnel].tunnel_id);
          break;
      }
      routes.row({names.network_name(n.network_id), Cidr{Ipv4{r.prefix}, r.len}.str(), target});
    }
  }
  routes.print();

  std::printf("\nNAT port forwarding (downlink table; the uplink one is its mirror)\n");
  Table nat({"rule", "proto", "public", "", "Thing address", "Thing"});
  for (const NatRow& r : t.nat_in) {
    nat.row({std::to_string(r.rule_id), proto_name(r.proto),
             endpoint(from_be(r.public_ip), r.proto, port_host(r.public_port)), "->",
             endpoint(from_be(r.thing_ip), r.proto, port_host(r.thing_port)),
             names.thing(ThingSlot{r.thing_slot})});
  }
  if (t.nat_in.empty()) nat.row({"-", "", "", "", "", ""});
  nat.print();

  std::printf("\nIP Profiles\n");
  Table profs({"profile", "stateful", "inbound", "outbound", "used by groups"});
  auto chain_text = [](const CompiledChain& c) {
    return std::to_string(c.rules.size()) + (c.rules.size() == 1 ? " rule,  " : " rules, ") +
           "default " + action_name(static_cast<Action>(c.default_action));
  };
  for (const auto& p : t.profiles) {
    profs.row({names.profile_name(p->profile_id), p->stateful ? "yes" : "no",
               chain_text(p->inbound), chain_text(p->outbound), names.groups_using(p->profile_id)});
  }
  profs.print();

  std::printf("\nIPsec tunnels and security policy (SPD %zu row%s, SAD %zu row%s)\n", t.spd.size(),
              t.spd.size() == 1 ? "" : "s", t.sad.size(), t.sad.size() == 1 ? "" : "s");
  Table tuns({"tunnel", "network", "peer", "outbound SA", "SPD: remote subnets"});
  for (size_t ti = 0; ti < t.tunnels.size(); ++ti) {
    const TunnelRow& tr = t.tunnels[ti];
    std::string spd;
    for (const SpdRow& s : t.spd) {
      if (s.tunnel == ti) spd += (spd.empty() ? "" : " ") + Cidr{Ipv4{s.prefix}, s.len}.str();
    }
    tuns.row({names.tunnel_name(tr.tunnel_id),
              names.network_name(t.networks[tr.network].network_id), from_be(tr.peer).str(),
              tr.sa_out == ~0u ? "none yet (IKE)" : std::to_string(tr.sa_out), spd});
  }
  if (t.tunnels.empty()) tuns.row({"-", "", "", "", ""});
  tuns.print();
}

// Returns what happens to the packet after the verdict, for a person.
std::string output_text(const Decision& d, const Names& names) {
  using namespace simcore::core;
  std::string s;
  switch (d.verdict) {
    case Verdict::kForward:
      s = "out of the core port, " + (d.vlan ? "VLAN " + std::to_string(d.vlan) : "untagged");
      break;
    case Verdict::kTunnel:
      s = "ESP into tunnel " + names.tunnel_name(d.tunnel) + " toward " +
          names.tunnel_peer(d.tunnel) + " (its SA comes from IKE)";
      break;
    case Verdict::kHairpin:
    case Verdict::kDeliver:
      s = "GTP-U to " + names.thing(d.target) + " via eNodeB " + d.peer_addr.str() + ", TEID " +
          hex32(d.peer_teid);
      break;
    case Verdict::kDrop: s = std::string("dropped: ") + drop_reason_description(d.drop); break;
  }
  return s;
}

// Returns the port-forwarding rewrite, or "".
std::string nat_text(const Decision& d, const PacketDesc& p) {
  if (d.out.src != p.src || d.out.sport != p.sport) {
    return "source " + endpoint(p.src, p.proto, p.sport) + " -> " +
           endpoint(d.out.src, d.out.proto, d.out.sport);
  }
  if (d.out.dst != p.dst || d.out.dport != p.dport) {
    return "destination " + endpoint(p.dst, p.proto, p.dport) + " -> " +
           endpoint(d.out.dst, d.out.proto, d.out.dport);
  }
  return "";
}

void print_load_error(const char* path, const simcore::core::Error& e) {
  std::fprintf(stderr, "simcore-demo: %s does not load (%s):\n", path,
               simcore::core::code_name(e.code()));
  if (e.fields().empty()) {
    std::fprintf(stderr, "  %s\n", e.message().c_str());
    return;
  }
  for (const auto& f : e.fields()) {
    std::fprintf(stderr, "  %s: %s\n", f.field.c_str(), f.message.c_str());
  }
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const char* path = nullptr;
  bool quiet = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    if (std::strcmp(argv[i], "--quiet") == 0 || std::strcmp(argv[i], "-q") == 0) {
      quiet = true;
    } else if (argv[i][0] == '-' || path != nullptr) {
      std::fprintf(stderr,
                   "simcore-demo: unexpected argument '%s'\n"
                   "usage: simcore-demo <account.yaml> [--quiet]   (--help for more)\n",
                   argv[i]);
      return kExitUsage;
    } else {
      path = argv[i];
    }
  }
  if (path == nullptr) {
    std::fputs("usage: simcore-demo <account.yaml> [--quiet]   (--help for more)\n", stderr);
    return kExitUsage;
  }

  auto t0 = std::chrono::steady_clock::now();
  auto loaded = simcore::ctl::load_account_yaml(path);
  const double load_ms = ms_since(t0);
  if (!loaded) {
    print_load_error(path, loaded.error());
    return kExitUsage;
  }
  const simcore::ctl::LoadedAccount& acc = *loaded;
  const simcore::core::Model& model = acc.account.model();

  // A fresh compiler, timed: what a control thread pays for a full rebuild of this account.
  simcore::core::Compiler compiler;
  t0 = std::chrono::steady_clock::now();
  auto compiled = compiler.compile(model);
  const double compile_ms = ms_since(t0);
  if (!compiled) {
    print_load_error(path, compiled.error());
    return kExitUsage;
  }
  const simcore::core::CompiledTables& tables = **compiled;
  const Names names(model);

  if (!quiet) {
    std::printf(
        "simcore-demo: %s — %zu networks, %zu IP Profiles, %zu Things Groups, %s Things, "
        "%zu example packets\n",
        path, model.networks.size(), model.profiles.size(), model.groups.size(),
        with_commas(model.things.size()).c_str(), acc.examples.size());
    std::printf(
        "  loaded in %s ms (parse, provision, attach, check compile); "
        "compiled generation %" PRIu64 " in %s ms\n\n",
        fixed(load_ms, 1).c_str(), tables.generation, fixed(compile_ms, 2).c_str());
    print_tables(acc, tables, names);
    std::printf(
        "\nExample packets: compiled tables (lookup_packet) vs the model "
        "(evaluate_reference)\n");
  }

  simcore::core::FlowMemory table_flows;
  simcore::core::FlowMemory reference_flows;
  size_t disagree = 0;
  size_t unexpected = 0;
  for (size_t i = 0; i < acc.examples.size(); ++i) {
    const simcore::ctl::ExamplePacket& ex = acc.examples[i];
    const PacketDesc& p = ex.packet;
    const Decision fast = simcore::core::lookup_packet(tables, p, table_flows);
    const Decision ref = simcore::core::evaluate_reference(model, p, reference_flows);
    const bool agree = fast == ref;
    const bool expected = simcore::ctl::meets_expectation(ex, fast);
    disagree += !agree;
    unexpected += !expected;
    if (quiet && agree && expected) continue;

    const bool up = p.dir == simcore::core::Direction::kUplink;
    std::string packet = std::string(up ? "uplink   " : "downlink ") + proto_name(p.proto) + " " +
                         endpoint(p.src, p.proto, p.sport) + " -> " +
                         endpoint(p.dst, p.proto, p.dport);
    if (up) packet += "  TEID " + hex32(p.teid);
    if (fast.thing != simcore::core::kNoThing) {
      packet += std::string("  (") + (up ? "from " : "to ") + names.thing(fast.thing) + ")";
    }
    std::string verdict = std::string(simcore::core::verdict_name(fast.verdict)) + " at stage " +
                          simcore::core::stage_name(fast.stage);
    if (fast.drop != simcore::core::DropReason::kNone) {
      verdict += std::string(", reason ") + simcore::core::drop_reason_name(fast.drop);
    }
    std::string check =
        agree ? "tables and reference agree" : "MISMATCH: tables and reference differ";
    if (!ex.expect_verdict) {
      check += "; no expectation";
    } else {
      check += std::string(expected ? "; as expected (" : "; UNEXPECTED: wanted ") +
               simcore::ctl::expectation_str(ex) + (expected ? ")" : "");
    }

    std::printf("\n  %2zu  %s\n", i + 1, ex.name.c_str());
    std::printf("      packet   %s\n", packet.c_str());
    std::printf("      verdict  %s\n", verdict.c_str());
    std::printf("      rule     %s\n", names.rule(fast, p).c_str());
    if (const std::string nat = nat_text(fast, p); !nat.empty()) {
      std::printf("      NAT      %s\n", nat.c_str());
    }
    std::printf("      result   %s\n", output_text(fast, names).c_str());
    std::printf("      check    %s\n", check.c_str());
    if (!agree) {
      std::printf("      tables     %s\n", one_line(fast).c_str());
      std::printf("      reference  %s\n", one_line(ref).c_str());
    }
  }

  const size_t n = acc.examples.size();
  std::printf(
      "%sself-check: %zu/%zu examples agree (tables vs reference), %zu/%zu as expected: %s\n",
      quiet ? "" : "\n", n - disagree, n, n - unexpected, n,
      disagree == 0 && unexpected == 0 ? "PASS" : "FAIL");
  return disagree == 0 && unexpected == 0 ? kExitOk : kExitSelfCheck;
}
