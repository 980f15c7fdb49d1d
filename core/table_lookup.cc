#include "core/table_lookup.h"

#include <algorithm>

#include "core/model.h"

namespace simcore::core {
namespace {

Decision drop(Decision d, Stage stage, DropReason reason) {
  d.verdict = Verdict::kDrop;
  d.stage = stage;
  d.drop = reason;
  return d;
}

constexpr uint16_t kReady = kSessionAttached | kSessionActive | kSessionDataAllowed;

// Applies `chain` (or the established flow) to decide; records the deciding rule in d.
bool chain_allows(const CompiledChain& chain, uint8_t proto, uint32_t remote, uint16_t rport,
                  uint16_t lport, Decision& d) {
  const int i = lookup_chain(chain, proto, remote, rport, lport);
  if (i < 0) {
    d.rule_id = 0;
    return chain.default_action == static_cast<uint8_t>(Action::kAllow);
  }
  d.rule_id = chain.rules[i].rule_id;
  return chain.rules[i].action == static_cast<uint8_t>(Action::kAllow);
}

// Everything after the session lookup on the receiving Thing's side.
Decision deliver(const CompiledTables& t, uint32_t slot, const PacketDesc& p, FlowMemory& flows,
                 Decision d, Verdict verdict) {
  const SessionRow& s = t.sessions[slot];
  d.target = ThingSlot{slot};
  if (!(s.flags & kSessionActive)) return drop(d, Stage::kState, DropReason::kDownlinkNotActive);
  if (!(s.flags & kSessionDataAllowed)) {
    return drop(d, Stage::kService, DropReason::kDownlinkDataDisabled);
  }
  const CompiledProfile& prof = *t.profiles[s.profile];
  if (prof.stateful && flows.established({slot, p.proto, p.dport, p.src.value, p.sport})) {
    d.rule_id = kFlowRuleId;
  } else if (!chain_allows(prof.inbound, p.proto, p.src.value, p.sport, p.dport, d)) {
    return drop(d, Stage::kFirewallIn, DropReason::kDownlinkFirewall);
  }
  d.verdict = verdict;
  d.stage = Stage::kDeliver;
  d.peer_addr = from_be(s.peer_addr);
  d.peer_teid = teid_host(s.peer_teid);
  return d;
}

Decision uplink(const CompiledTables& t, const PacketDesc& p, FlowMemory& flows) {
  Decision d;
  d.out = p;
  const uint32_t slot = t.by_teid.find(teid_be(p.teid).raw);
  if (slot == FlatIndex::kNotFound) return drop(d, Stage::kSession, DropReason::kUplinkNoSession);
  const SessionRow& s = t.sessions[slot];
  d.thing = ThingSlot{slot};
  if ((s.flags & kReady) != kReady) {
    return (s.flags & kSessionActive) == 0
               ? drop(d, Stage::kState, DropReason::kUplinkNotActive)
               : drop(d, Stage::kService, DropReason::kUplinkDataDisabled);
  }
  if (to_be(p.src) != s.ue_addr) return drop(d, Stage::kAntiSpoof, DropReason::kUplinkSpoofedSource);
  const CompiledProfile& prof = *t.profiles[s.profile];
  if (!chain_allows(prof.outbound, p.proto, p.dst.value, p.dport, p.sport, d)) {
    return drop(d, Stage::kFirewallOut, DropReason::kUplinkFirewall);
  }
  const FlowKey opened{slot, p.proto, p.sport, p.dst.value, p.dport};

  const NetworkRow& net = t.networks[s.network];
  const PoolRow* pools = t.pools.data() + net.pool_first;
  const bool to_own_pool = std::any_of(pools, pools + net.pool_count, [&](const PoolRow& r) {
    return r.first <= p.dst.value && p.dst.value <= r.last;
  });
  if (to_own_pool) {
    if (net.isolated) return drop(d, Stage::kIsolation, DropReason::kUplinkIsolation);
    const uint32_t peer = t.by_ue.find(to_be(p.dst).raw);
    if (peer == FlatIndex::kNotFound) {
      return drop(d, Stage::kIsolation, DropReason::kUplinkNoPeerThing);
    }
    if (prof.stateful) flows.open(opened);
    return deliver(t, peer, p, flows, d, Verdict::kHairpin);
  }

  // Port forwarding, source side.
  if (const NatRow* nat = find_nat_out(t, s.ue_addr, p.proto, port_be(p.sport))) {
    d.out.src = from_be(nat->public_ip);
    d.out.sport = port_host(nat->public_port);
  }

  const RouteRow* routes = t.routes.data() + net.route_first;
  const RouteRow* route = std::find_if(routes, routes + net.route_count, [&](const RouteRow& r) {
    return Cidr{Ipv4{r.prefix}, r.len}.contains(p.dst);
  });
  const auto kind = route == routes + net.route_count ? RouteKind::kInternet
                                                      : static_cast<RouteKind>(route->kind);
  if (kind == RouteKind::kBlackhole) return drop(d, Stage::kRoute, DropReason::kUplinkBlackhole);
  if (prof.stateful) flows.open(opened);
  d.stage = Stage::kDeliver;
  if (kind == RouteKind::kTunnel) {
    d.verdict = Verdict::kTunnel;
    d.tunnel = t.tunnels[route->tunnel].tunnel_id;
  } else {
    d.verdict = Verdict::kForward;
    d.vlan = net.vlan;
  }
  return d;
}

Decision downlink(const CompiledTables& t, const PacketDesc& p, FlowMemory& flows) {
  Decision d;
  d.out = p;
  if (const NatRow* nat = find_nat_in(t, to_be(p.dst), p.proto, port_be(p.dport))) {
    d.out.dst = from_be(nat->thing_ip);
    d.out.dport = port_host(nat->thing_port);
  }
  const uint32_t slot = t.by_ue.find(to_be(d.out.dst).raw);
  if (slot == FlatIndex::kNotFound) return drop(d, Stage::kSession, DropReason::kDownlinkNoSession);
  d.thing = ThingSlot{slot};
  return deliver(t, slot, d.out, flows, d, Verdict::kDeliver);
}

}  // namespace

const NatRow* find_nat_in(const CompiledTables& t, Ipv4Be ip, uint8_t proto, PortBe port) noexcept {
  NatRow key{};
  key.public_ip = ip;
  key.public_port = port;
  key.proto = proto;
  auto it = std::lower_bound(t.nat_in.begin(), t.nat_in.end(), key, nat_in_less);
  return it != t.nat_in.end() && !nat_in_less(key, *it) ? &*it : nullptr;
}

const NatRow* find_nat_out(const CompiledTables& t, Ipv4Be ip, uint8_t proto, PortBe port) noexcept {
  NatRow key{};
  key.thing_ip = ip;
  key.thing_port = port;
  key.proto = proto;
  auto it = std::lower_bound(t.nat_out.begin(), t.nat_out.end(), key, nat_out_less);
  return it != t.nat_out.end() && !nat_out_less(key, *it) ? &*it : nullptr;
}

int lookup_chain(const CompiledChain& chain, uint8_t proto, uint32_t remote_addr,
                 uint16_t remote_port, uint16_t local_port) noexcept {
  // Packets without ports carry 0, which only the full range 0-65535 contains... and a rule
  // with a narrower range has protocol TCP or UDP, so it cannot match them anyway.
  if (!has_ports(proto)) {
    remote_port = 0;
    local_port = 0;
  }
  for (size_t i = 0; i < chain.rules.size(); ++i) {
    const AclRule& r = chain.rules[i];
    const uint32_t mask = r.remote_len == 0 ? 0 : ~uint32_t{0} << (32 - r.remote_len);
    if ((r.proto == 0 || r.proto == proto) && (remote_addr & mask) == r.remote_addr &&
        r.remote_port_lo <= remote_port && remote_port <= r.remote_port_hi &&
        r.local_port_lo <= local_port && local_port <= r.local_port_hi) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

Decision lookup_packet(const CompiledTables& t, const PacketDesc& p, FlowMemory& flows) {
  return p.dir == Direction::kUplink ? uplink(t, p, flows) : downlink(t, p, flows);
}

}  // namespace simcore::core
