#include "sim/generator.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "control/account_file.h"
#include "core/reference_eval.h"
#include "sim/encode.h"

namespace simcore::sim {
namespace {

using core::Error;
using core::Ipv4;

// TEIDs: the account file's simulated attaches use 0x00010000 + slot; ours never meet them.
constexpr uint32_t kFirstUplinkTeid = 0x40000000;
constexpr uint32_t kFirstPeerTeid = 0x50000000;
constexpr uint32_t kUnknownTeidBase = 0x7e000000;  // no session ever has one of these
constexpr uint32_t kEnodebBase = (198u << 24) | (51u << 16) | (100u << 8) | 100u;
constexpr uint32_t kEnodebs = 16;
constexpr uint32_t kStaleSourceBase = (100u << 24) | (64u << 16);  // 100.64.0.0/10
constexpr uint64_t kMs = 1'000'000;
constexpr size_t kMaxNotes = 20;

uint64_t mix(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9e3779b97f4a7c15ull + b + 0x632be59bd9b4e019ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// A small deterministic stream per (flow, Thing): independent of how many other streams exist.
struct Rng {
  uint64_t s;
  uint64_t operator()() { return s = mix(s, 0x2545f4914f6cdd1dull); }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : (*this)() % n; }
};

Ipv4 pick(const core::Cidr& c, Rng& rng) {
  if (c.len >= 31) return Ipv4{c.first() + static_cast<uint32_t>(rng.below(c.size()))};
  // A host of the prefix: not its network or broadcast address.
  return Ipv4{c.first() + 1 + static_cast<uint32_t>(rng.below(c.size() - 2))};
}

// Where a Thing's packets come from and go to in the current phase.
struct Endpoint {
  bool has_addr = false;  // a real address: its session's, locked, or its last session's
  Ipv4 addr;
  uint32_t teid = 0;  // uplink TEID: its session's, its last one's, or an unknown one
  Ipv4 enodeb;
  uint16_t vlan = 0;
};

struct Event {
  uint64_t ts;
  uint64_t seq;
  core::PacketDesc desc;
  uint32_t flow;
  bool reply;
  FrameSpec spec;
};

class Generator {
 public:
  Generator(const Scenario& s, const dp::PortConfig& ports, core::Account account,
            const Progress& progress)
      : s_(s), ports_(ports), account_(std::move(account)), progress_(progress) {}

  core::Result<Traffic> run();

 private:
  core::Result<std::vector<uint32_t>> select(const Behaviour& b) const;
  Endpoint endpoint(uint32_t slot) const;
  uint16_t network_vlan_of(Ipv4 addr) const;
  void note(std::string line);
  core::Status add_flow_events(const Flow& f, uint32_t flow_index,
                               const std::vector<uint32_t>& things, uint64_t phase_start);
  core::Status add_traffic_events(const Flow& f, uint32_t flow_index, uint64_t phase_start);
  void push(uint64_t ts, const core::PacketDesc& d, uint32_t flow, bool reply, FrameSpec spec);
  void finish_phase(int phase);
  uint32_t add_flow_info(const Flow& f);

  const Scenario& s_;
  const dp::PortConfig& ports_;
  core::Account account_;
  const Progress& progress_;
  Traffic out_;
  std::vector<Event> events_;
  uint64_t seq_ = 0;
  uint64_t notes_dropped_ = 0;
  // The session each Thing had when phase 0 ended (for stale traffic after a detach).
  std::unordered_map<uint32_t, core::Session> last_session_;
};

core::Result<std::vector<uint32_t>> Generator::select(const Behaviour& b) const {
  const core::Model& m = account_.model();
  const Selector& sel = b.select;
  std::vector<uint32_t> out;
  const std::string at = b.path + ".select";
  if (!sel.names.empty()) {
    std::map<std::string, uint32_t> by_name;
    for (const core::Thing& t : m.things) by_name.emplace(t.name, t.slot.value);
    for (const std::string& n : sel.names) {
      const auto it = by_name.find(n);
      if (it == by_name.end()) {
        const core::Thing* t = account_.thing_by_iccid(n);
        if (t == nullptr) return Error::invalid(at, "no Thing named \"" + n + "\"");
        out.push_back(t->slot.value);
      } else {
        out.push_back(it->second);
      }
    }
  } else {
    std::optional<core::GroupId> group;
    if (!sel.group.empty()) {
      for (const auto& [id, g] : m.groups) {
        if (g.name == sel.group) group = id;
      }
      if (!group)
        return Error::invalid(at + ".group", "no Things Group named \"" + sel.group + "\"");
    }
    for (const core::Thing& t : m.things) {
      bool take = sel.all;
      if (!sel.tag.empty()) {
        take = std::find(t.tags.begin(), t.tags.end(), sel.tag) != t.tags.end();
      }
      if (group) take = t.group == *group;
      if (!sel.name_prefix.empty()) take = t.name.rfind(sel.name_prefix, 0) == 0;
      if (take) out.push_back(t.slot.value);
    }
    if (out.empty()) return Error::invalid(at, "selects no Thing");
  }
  if (sel.limit != 0 && out.size() > sel.limit) out.resize(sel.limit);
  return out;
}

Endpoint Generator::endpoint(uint32_t slot) const {
  const core::Model& m = account_.model();
  const core::Thing& t = m.things[slot];
  Endpoint e;
  e.enodeb = Ipv4{kEnodebBase + 1 + slot % kEnodebs};
  e.teid = kUnknownTeidBase + slot;
  const core::ThingsGroup* g = account_.group(t.group);
  const core::Network* net = g == nullptr ? nullptr : account_.network(g->network);
  if (net != nullptr) e.vlan = net->vlan;
  if (t.session) {
    e.has_addr = true;
    e.addr = t.session->ue_addr;
    e.teid = t.session->uplink_teid;
    e.enodeb = t.session->peer_addr;
    return e;
  }
  if (const auto it = last_session_.find(slot); it != last_session_.end()) {
    e.has_addr = true;
    e.addr = it->second.ue_addr;
    e.teid = it->second.uplink_teid;
    e.enodeb = it->second.peer_addr;
    return e;
  }
  if (t.locked_addr) {
    e.has_addr = true;
    e.addr = *t.locked_addr;
  } else {
    // Never attached: a shared-address-space (RFC 6598) source no pool uses stands in for its
    // stale-TEID uplink; the session lookup by TEID fails first, and answers to it find no
    // session either (an address of its own pool might be another Thing's).
    e.addr = Ipv4{kStaleSourceBase + slot % (1u << 22)};
  }
  return e;
}

uint16_t Generator::network_vlan_of(Ipv4 addr) const {
  for (const auto& [id, n] : account_.model().networks) {
    for (const core::IpPool& p : n.pools) {
      if (p.cidr.contains(addr)) return n.vlan;
    }
    for (const core::NatRule& r : n.nat_rules) {
      if (r.public_ip == addr) return n.vlan;
    }
  }
  return 0;
}

void Generator::note(std::string line) {
  if (out_.notes.size() < kMaxNotes) {
    out_.notes.push_back(std::move(line));
  } else {
    ++notes_dropped_;
  }
}

uint32_t Generator::add_flow_info(const Flow& f) {
  out_.flows.push_back({f.name, f.path, f.dir, f.malformed});
  return static_cast<uint32_t>(out_.flows.size() - 1);
}

void Generator::push(uint64_t ts, const core::PacketDesc& d, uint32_t flow, bool reply,
                     FrameSpec spec) {
  spec.payload_seed = mix(s_.seed, seq_);
  spec.ip_id = static_cast<uint16_t>(seq_);
  spec.reply = reply;
  events_.push_back({ts, seq_++, d, flow, reply, spec});
}

core::Status Generator::add_flow_events(const Flow& f, uint32_t flow_index,
                                        const std::vector<uint32_t>& things, uint64_t phase_start) {
  const core::Model& m = account_.model();
  std::optional<uint32_t> to_thing;
  if (!f.to_thing.empty()) {
    for (const core::Thing& t : m.things) {
      if (t.name == f.to_thing || t.iccid == f.to_thing) to_thing = t.slot.value;
    }
    if (!to_thing)
      return Error::invalid(f.path + ".toThing", "no Thing named \"" + f.to_thing + "\"");
    if (!endpoint(*to_thing).has_addr) {
      return Error::invalid(f.path + ".toThing",
                            f.to_thing + " has no address (no session, no locked IP)");
    }
  }
  if (f.to_peer && things.size() < 2) {
    return Error::invalid(f.path + ".toPeer", "the selection has fewer than two Things");
  }
  const bool up = f.dir == core::Direction::kUplink;
  const uint64_t interval = uint64_t{f.interval_ms} * kMs;
  uint64_t skipped = 0;
  for (size_t i = 0; i < things.size(); ++i) {
    const uint32_t slot = things[i];
    const Endpoint me = endpoint(slot);
    if (!up && !me.has_addr) {
      ++skipped;
      continue;
    }
    Rng rng{mix(mix(s_.seed, flow_index), slot)};
    std::optional<uint32_t> peer = to_thing;
    if (f.to_peer) peer = things[(i + 1) % things.size()];
    const std::optional<Endpoint> peer_ep =
        peer ? std::optional<Endpoint>(endpoint(*peer)) : std::nullopt;
    if (f.to_peer && !peer_ep->has_addr) {
      ++skipped;
      continue;
    }
    const uint16_t sport = f.sport ? *f.sport : static_cast<uint16_t>(49152 + rng.below(16384));
    uint64_t ts = phase_start + rng.below(interval);
    for (uint32_t k = 0; k < f.count; ++k, ts += interval) {
      const uint64_t t = ts + rng.below(interval / 4 + 1);
      FrameSpec spec;
      spec.size = static_cast<uint16_t>(f.size.lo + rng.below(f.size.hi - f.size.lo + 1u));
      spec.malformed = f.malformed;
      core::PacketDesc d;
      d.dir = f.dir;
      d.proto = f.proto;
      const bool ports = core::has_ports(f.proto);
      if (up) {
        d.teid = me.teid;
        d.src = f.spoof ? pick(*f.spoof, rng) : me.addr;
        d.dst = peer_ep ? peer_ep->addr : pick(*f.to, rng);
        d.sport = ports ? sport : 0;
        d.dport = ports ? f.dport : 0;
        spec.enodeb = me.enodeb.value;
      } else {
        d.src = pick(*f.from, rng);
        d.dst = me.addr;
        d.sport = ports ? sport : 0;
        d.dport = ports ? f.dport : 0;
        spec.vlan = me.vlan;
      }
      push(t, d, flow_index, false, spec);
      if (!f.reply) continue;
      // The answer: the far end swaps addresses and ports.
      core::PacketDesc r;
      r.proto = d.proto;
      r.src = d.dst;
      r.dst = d.src;
      r.sport = d.dport;
      r.dport = d.sport;
      FrameSpec rs;
      rs.size = spec.size;
      if (up && peer_ep) {  // the other Thing answers uplink, through its own tunnel
        r.dir = core::Direction::kUplink;
        r.teid = peer_ep->teid;
        rs.enodeb = peer_ep->enodeb.value;
      } else if (up) {
        r.dir = core::Direction::kDownlink;
        rs.vlan = me.vlan;
      } else {
        r.dir = core::Direction::kUplink;
        r.teid = me.teid;
        rs.enodeb = me.enodeb.value;
      }
      push(t + kMs + rng.below(kMs), r, flow_index, true, rs);
    }
  }
  if (skipped > 0) {
    note(f.path + " (" + f.name + "): " + std::to_string(skipped) +
         " Things skipped: no address to send to");
  }
  return {};
}

core::Status Generator::add_traffic_events(const Flow& f, uint32_t flow_index,
                                           uint64_t phase_start) {
  Rng rng{mix(mix(s_.seed, flow_index), 0xffffffffull)};
  const uint64_t interval = uint64_t{f.interval_ms} * kMs;
  const bool ports = core::has_ports(f.proto);
  uint64_t ts = phase_start + rng.below(interval);
  for (uint32_t k = 0; k < f.count; ++k, ts += interval) {
    FrameSpec spec;
    spec.size = static_cast<uint16_t>(f.size.lo + rng.below(f.size.hi - f.size.lo + 1u));
    spec.malformed = f.malformed;
    core::PacketDesc d;
    d.dir = f.dir;
    d.proto = f.proto;
    d.src = pick(*f.from, rng);
    d.dst = pick(*f.to, rng);
    d.sport = ports ? (f.sport ? *f.sport : static_cast<uint16_t>(49152 + rng.below(16384))) : 0;
    d.dport = ports ? f.dport : 0;
    if (d.dir == core::Direction::kUplink) {
      d.teid = kUnknownTeidBase - 1 - static_cast<uint32_t>(rng.below(1u << 20));
      spec.enodeb = kEnodebBase + 1 + static_cast<uint32_t>(rng.below(kEnodebs));
    } else {
      spec.vlan = network_vlan_of(d.dst);
    }
    push(ts + rng.below(interval / 4 + 1), d, flow_index, false, spec);
  }
  return {};
}

void Generator::finish_phase(int phase) {
  std::sort(events_.begin(), events_.end(), [](const Event& a, const Event& b) {
    return a.ts != b.ts ? a.ts < b.ts : a.seq < b.seq;
  });
  core::FlowMemory flows;
  const core::Model& model = account_.model();
  const uint64_t base = out_.frames.size();
  for (size_t i = 0; i < events_.size(); ++i) {
    const Event& e = events_[i];
    SimFrame f;
    f.ts_ns = e.ts;
    f.port = e.desc.dir == core::Direction::kUplink ? dp::Port::kAccess : dp::Port::kCore;
    f.flow = e.flow;
    f.phase = static_cast<uint8_t>(phase);
    f.reply = e.reply;
    f.desc = e.desc;
    f.expect = e.spec.malformed != Malformation::kNone
                   ? expect_parse_drop(malformation_status(e.spec.malformed))
                   : expect_policy(core::evaluate_reference(model, e.desc, flows));
    f.bytes = encode_frame(e.desc, ports_, e.spec);
    out_.frames.push_back(std::move(f));
    if (progress_ && (i & 1023) == 0) progress_(base + i, base + events_.size());
  }
  events_.clear();
}

core::Result<Traffic> Generator::run() {
  // Selections are made once, on the account as loaded, so both phases see the same Things.
  std::vector<std::vector<uint32_t>> selected;
  std::set<uint32_t> distinct;
  for (const Behaviour& b : s_.behaviours) {
    auto sel = select(b);
    if (!sel) return sel.error();
    distinct.insert(sel->begin(), sel->end());
    selected.push_back(std::move(*sel));
  }
  out_.things_selected = distinct.size();

  // Phase 0: the attaches, in behaviour order and slot order.
  uint32_t n = 0;
  for (size_t bi = 0; bi < s_.behaviours.size(); ++bi) {
    const Behaviour& b = s_.behaviours[bi];
    if (!b.attach) continue;
    for (const uint32_t slot : selected[bi]) {
      const core::Thing& t = account_.model().things[slot];
      const core::ThingsGroup* g = account_.group(t.group);
      const core::Network* net = g == nullptr ? nullptr : account_.network(g->network);
      SessionOp op;
      op.phase = 0;
      op.iccid = t.iccid;
      op.thing = t.name;
      op.gtp = b.attach->gtp;
      op.path = b.path + ".attach";
      op.request.uplink_teid = kFirstUplinkTeid + n;
      op.request.peer_teid = kFirstPeerTeid + n;
      op.request.peer_addr =
          b.attach->enodeb ? *b.attach->enodeb : Ipv4{kEnodebBase + 1 + slot % kEnodebs};
      op.request.apn = net == nullptr ? "" : net->apn;
      op.request.rat = b.attach->rat;
      op.request.mcc = b.attach->mcc;
      op.request.mnc = b.attach->mnc;
      op.request.imei = b.attach->imei.empty() ? t.imei : b.attach->imei;
      ++n;
      out_.ops.push_back(std::move(op));
    }
  }
  std::vector<std::string> notes;
  apply_session_ops(account_, out_.ops, 0, &notes);
  for (std::string& l : notes) note(std::move(l));

  uint64_t start = s_.start_ns;
  for (size_t bi = 0; bi < s_.behaviours.size(); ++bi) {
    for (const Flow& f : s_.behaviours[bi].flows) {
      if (core::Status st = add_flow_events(f, add_flow_info(f), selected[bi], start); !st) {
        return st.error();
      }
    }
  }
  for (const Flow& f : s_.traffic) {
    if (core::Status st = add_traffic_events(f, add_flow_info(f), start); !st) return st.error();
  }
  finish_phase(0);

  // Phase 1: the detaches, then the traffic that follows them.
  bool detach = false;
  for (size_t bi = 0; bi < s_.behaviours.size(); ++bi) {
    const Behaviour& b = s_.behaviours[bi];
    if (!b.detach) continue;
    detach = true;
    for (const uint32_t slot : selected[bi]) {
      const core::Thing& t = account_.model().things[slot];
      if (t.session) last_session_[slot] = *t.session;
      SessionOp op;
      op.phase = 1;
      op.attach = false;
      op.iccid = t.iccid;
      op.thing = t.name;
      op.path = b.path + ".detach";
      out_.ops.push_back(std::move(op));
    }
  }
  if (detach) {
    out_.phases = 2;
    notes.clear();
    apply_session_ops(account_, out_.ops, 1, &notes);
    for (std::string& l : notes) note(std::move(l));
    start = (out_.frames.empty() ? start : out_.frames.back().ts_ns) + 1000 * kMs;
    for (size_t bi = 0; bi < s_.behaviours.size(); ++bi) {
      for (const Flow& f : s_.behaviours[bi].after_detach) {
        if (core::Status st = add_flow_events(f, add_flow_info(f), selected[bi], start); !st) {
          return st.error();
        }
      }
    }
    finish_phase(1);
  }
  if (notes_dropped_ > 0) {
    out_.notes.push_back("... and " + std::to_string(notes_dropped_) + " more");
  }
  if (progress_) progress_(out_.frames.size(), out_.frames.size());
  return std::move(out_);
}

}  // namespace

dp::PortConfig default_ports() {
  dp::PortConfig p{};
  p.access_addr = (192u << 24) | 1;
  p.core_addr = (192u << 24) | 2;
  p.access_mac = {2, 0, 0, 0, 1, 1};
  p.access_next_hop_mac = {2, 0, 0, 0, 1, 2};
  p.core_mac = {2, 0, 0, 0, 2, 1};
  p.core_next_hop_mac = {2, 0, 0, 0, 2, 2};
  return p;
}

core::Result<core::Account> load_scenario_account(const Scenario& s) {
  auto text = account_text(s);
  if (!text) return text.error();
  auto loaded = ctl::load_account_yaml_text(*text);
  if (!loaded) return Error(loaded.error().code(), "account: " + loaded.error().message());
  return std::move(loaded->account);
}

void apply_session_ops(core::Account& account, const std::vector<SessionOp>& ops, int phase,
                       std::vector<std::string>* notes) {
  for (const SessionOp& op : ops) {
    if (op.phase != phase) continue;
    const core::Thing* t = account.thing_by_iccid(op.iccid);
    std::string why;
    if (t == nullptr) {
      why = "no Thing with ICCID " + op.iccid + " in this account";
    } else if (op.attach) {
      if (auto s = account.attach(t->id, op.request); !s) why = s.error().message();
    } else if (t->session) {
      if (core::Status st = account.detach(t->id); !st) why = st.error().message();
    }
    if (!why.empty() && notes != nullptr) {
      notes->push_back(op.path + ": " + op.thing + ": " + (op.attach ? "attach" : "detach") +
                       " refused: " + why);
    }
  }
}

core::Result<Traffic> generate(const Scenario& s, const dp::PortConfig& ports,
                               const Progress& progress) {
  auto account = load_scenario_account(s);
  if (!account) return account.error();
  Generator g(s, ports, std::move(*account), progress);
  return g.run();
}

}  // namespace simcore::sim
