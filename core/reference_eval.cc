#include "core/reference_eval.h"

namespace simcore::core {
namespace {

// The model, read the obvious way. Every helper is a linear scan on purpose.

const Thing* thing_with_teid(const Model& m, uint32_t teid) {
  for (const Thing& t : m.things) {
    if (t.session && t.session->uplink_teid == teid) return &t;
  }
  return nullptr;
}

const Thing* thing_with_address(const Model& m, Ipv4 addr) {
  for (const Thing& t : m.things) {
    if (t.session && t.session->ue_addr == addr) return &t;
  }
  return nullptr;
}

struct Context {
  const ThingsGroup* group;
  const Network* network;
  const IpProfile* profile;
};

Context context_of(const Model& m, const Thing& t) {
  const ThingsGroup& g = m.groups.at(t.group);
  return {&g, &m.networks.at(g.network), &m.profiles.at(g.profile)};
}

bool rule_matches(const FirewallRule& r, uint8_t proto, Ipv4 remote, uint16_t remote_port,
                  uint16_t local_port) {
  if (r.protocol != Protocol::kAny && static_cast<uint8_t>(r.protocol) != proto) return false;
  if (!r.remote.contains(remote)) return false;
  // Packets without ports match only port-less rules (validation keeps ports to TCP/UDP).
  if (!has_ports(proto)) return r.remote_ports.is_any() && r.local_ports.is_any();
  return r.remote_ports.contains(remote_port) && r.local_ports.contains(local_port);
}

// Returns the deciding rule (nullptr: the default action decided).
const FirewallRule* first_match(const Chain& c, uint8_t proto, Ipv4 remote, uint16_t remote_port,
                                uint16_t local_port) {
  const FirewallRule* best = nullptr;
  for (const FirewallRule& r : c.rules) {
    if (rule_matches(r, proto, remote, remote_port, local_port) &&
        (best == nullptr || r.priority < best->priority)) {
      best = &r;
    }
  }
  return best;
}

// Runs an inbound chain for `target`; returns true if allowed and records the rule.
bool inbound_allows(const IpProfile& prof, const Thing& target, const PacketDesc& p,
                    const FlowMemory& flows, Decision& d) {
  if (prof.stateful &&
      flows.established({target.slot.value, p.proto, p.dport, p.src.value, p.sport})) {
    d.rule_id = kFlowRuleId;
    return true;
  }
  const FirewallRule* r = first_match(prof.inbound, p.proto, p.src, p.sport, p.dport);
  d.rule_id = r ? r->id.value : 0;
  return (r ? r->action : prof.inbound.default_action) == Action::kAllow;
}

Decision drop(Decision d, Stage stage, DropReason reason) {
  d.verdict = Verdict::kDrop;
  d.stage = stage;
  d.drop = reason;
  return d;
}

bool data_on(const Thing& t, const ThingsGroup& g) { return t.services.data && g.services.data; }

// Delivers `p` to `target` as the downlink would, from after its session lookup.
Decision deliver(const Model& m, const Thing& target, const PacketDesc& p, FlowMemory& flows,
                 Decision d, Verdict verdict) {
  const Context c = context_of(m, target);
  d.target = target.slot;
  if (target.state != ThingState::kActive) {
    return drop(d, Stage::kState, DropReason::kDownlinkNotActive);
  }
  if (!data_on(target, *c.group)) return drop(d, Stage::kService, DropReason::kDownlinkDataDisabled);
  if (!inbound_allows(*c.profile, target, p, flows, d)) {
    return drop(d, Stage::kFirewallIn, DropReason::kDownlinkFirewall);
  }
  d.verdict = verdict;
  d.stage = Stage::kDeliver;
  d.peer_addr = target.session->peer_addr;
  d.peer_teid = target.session->peer_teid;
  return d;
}

Decision uplink(const Model& m, const PacketDesc& p, FlowMemory& flows) {
  Decision d;
  d.out = p;
  const Thing* t = thing_with_teid(m, p.teid);
  if (!t) return drop(d, Stage::kSession, DropReason::kUplinkNoSession);
  d.thing = t->slot;
  const Context c = context_of(m, *t);
  if (t->state != ThingState::kActive) return drop(d, Stage::kState, DropReason::kUplinkNotActive);
  if (!data_on(*t, *c.group)) return drop(d, Stage::kService, DropReason::kUplinkDataDisabled);
  if (p.src != t->session->ue_addr) {
    return drop(d, Stage::kAntiSpoof, DropReason::kUplinkSpoofedSource);
  }
  const FirewallRule* r = first_match(c.profile->outbound, p.proto, p.dst, p.dport, p.sport);
  d.rule_id = r ? r->id.value : 0;
  if ((r ? r->action : c.profile->outbound.default_action) != Action::kAllow) {
    return drop(d, Stage::kFirewallOut, DropReason::kUplinkFirewall);
  }
  const FlowKey opened{t->slot.value, p.proto, p.sport, p.dst.value, p.dport};

  // Isolation: a destination inside the network's own pools is another Thing (or nothing).
  bool to_own_pool = false;
  for (const IpPool& pool : c.network->pools) to_own_pool |= pool.cidr.contains(p.dst);
  if (to_own_pool) {
    if (c.network->isolation) return drop(d, Stage::kIsolation, DropReason::kUplinkIsolation);
    const Thing* peer = thing_with_address(m, p.dst);
    if (!peer) return drop(d, Stage::kIsolation, DropReason::kUplinkNoPeerThing);
    // The sender's outbound chain allowed it, so its flow is open whatever the peer decides.
    if (c.profile->stateful) flows.open(opened);
    return deliver(m, *peer, p, flows, d, Verdict::kHairpin);
  }

  // Port forwarding, source side: the Thing's replies leave from the public address.
  for (const NatRule& n : c.network->nat_rules) {
    if (n.thing == t->id && static_cast<uint8_t>(n.protocol) == p.proto &&
        n.thing_port == p.sport) {
      d.out.src = n.public_ip;
      d.out.sport = n.public_port;
    }
  }

  // Routes: the longest prefix containing the destination; none means the internet.
  const Route* best = nullptr;
  for (const Route& rt : c.network->routes) {
    if (rt.destination.contains(p.dst) && (!best || rt.destination.len > best->destination.len)) {
      best = &rt;
    }
  }
  if (best && best->target == RouteTarget::kBlackhole) {
    return drop(d, Stage::kRoute, DropReason::kUplinkBlackhole);
  }
  if (c.profile->stateful) flows.open(opened);
  d.stage = Stage::kDeliver;
  if (best && best->target == RouteTarget::kIpsecTunnel) {
    d.verdict = Verdict::kTunnel;
    d.tunnel = best->tunnel.value;
  } else {
    d.verdict = Verdict::kForward;
    d.vlan = c.network->vlan;
  }
  return d;
}

Decision downlink(const Model& m, const PacketDesc& p, FlowMemory& flows) {
  Decision d;
  d.out = p;
  // Port forwarding, destination side: public address:port → the Thing's locked IP:port.
  for (const auto& [nid, n] : m.networks) {
    for (const NatRule& r : n.nat_rules) {
      if (r.public_ip == p.dst && static_cast<uint8_t>(r.protocol) == p.proto &&
          r.public_port == p.dport) {
        for (const Thing& t : m.things) {
          if (t.id == r.thing) d.out.dst = *t.locked_addr;
        }
        d.out.dport = r.thing_port;
      }
    }
  }
  const Thing* t = thing_with_address(m, d.out.dst);
  if (!t) return drop(d, Stage::kSession, DropReason::kDownlinkNoSession);
  d.thing = t->slot;
  return deliver(m, *t, d.out, flows, d, Verdict::kDeliver);
}

}  // namespace

Decision evaluate_reference(const Model& model, const PacketDesc& p, FlowMemory& flows) {
  return p.dir == Direction::kUplink ? uplink(model, p, flows) : downlink(model, p, flows);
}

}  // namespace simcore::core
