// dataplane/dpdk/fast_lookup.h — the policy decision of one packet on FastTables: the stages of
// core::lookup_packet in the same order, with rte_hash (NAT), rte_lpm, rte_fib6 and rte_acl in
// place of its table walks (sessions stay in the compiled FlatIndexes), and the same Decision
// for every packet (checked by fast_lookup_test).
// Any worker on a published FastTables; no locks, allocation or exceptions except inside
// `flows`, which belongs to the caller and must offer open(FlowKey), established(FlowKey) and
// changes(), and may offer prefetch(FlowKey) (core::FlowMemory allocates in open(): an
// allocation failure there terminates).
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/flow_memory.h"
#include "core/model.h"
#include "core/prefetch.h"
#include "core/verdict.h"
#include "dataplane/dpdk/fast_tables.h"

namespace simcore::dp {
namespace fast_detail {

inline constexpr uint16_t kReady =
    core::kSessionAttached | core::kSessionActive | core::kSessionDataAllowed;

// The functions below fill a caller's Decision in place: it is ~60 bytes, and passing it by
// value through the stages cost store-forwarding stalls on every packet.
inline void drop(core::Decision& d, core::Stage stage, core::DropReason reason) noexcept {
  d.verdict = core::Verdict::kDrop;
  d.stage = stage;
  d.drop = reason;
}

// A chain result the burst has not computed ahead (else: rule index, or -1 for no match).
inline constexpr int32_t kNotClassified = -2;

// Whether a downlink packet's flow is open, as the burst found it and still holds (kUnknown:
// ask the flows).
enum class FlowState : uint8_t { kUnknown, kOpen, kClosed };

// Applies a profile's chain (or its result `pre`, classified ahead by the burst); records the
// deciding rule (0: the default action) in d.
inline bool chain_allows(const FastTables& ft, core::ProfileIndex pi, bool inbound,
                         const core::CompiledChain& chain, uint8_t proto, uint32_t remote,
                         uint16_t rport, uint16_t lport, core::Decision& d, int32_t pre) noexcept {
  const int i =
      pre != kNotClassified ? pre : ft.lookup_chain(pi, inbound, proto, remote, rport, lport);
  if (i < 0) {
    d.rule_id = 0;
    return chain.default_action == static_cast<uint8_t>(core::Action::kAllow);
  }
  d.rule_id = chain.rules[static_cast<size_t>(i)].rule_id;
  return chain.rules[static_cast<size_t>(i)].action == static_cast<uint8_t>(core::Action::kAllow);
}

// Everything after the session lookup on the receiving Thing's side. `p` may be d.out (it is
// only read, and d.out is not written here).
template <class Flows>
void deliver(const FastTables& ft, uint32_t slot, const core::PacketDesc& p, Flows& flows,
             core::Decision& d, core::Verdict verdict, int32_t pre_in = kNotClassified,
             FlowState flow = FlowState::kUnknown) noexcept {
  const core::CompiledTables& t = ft.tables();
  const core::SessionRow& s = t.sessions[slot];
  d.target = core::ThingSlot{slot};
  if (!(s.flags & core::kSessionActive)) {
    return drop(d, core::Stage::kState, core::DropReason::kDownlinkNotActive);
  }
  if (!(s.flags & core::kSessionDataAllowed)) {
    return drop(d, core::Stage::kService, core::DropReason::kDownlinkDataDisabled);
  }
  const core::CompiledProfile& prof = *t.profiles[s.profile];
  if (prof.stateful &&
      (flow == FlowState::kUnknown
           ? flows.established({slot, p.proto, p.dport, p.src.value, p.sport})
           : flow == FlowState::kOpen)) {
    d.rule_id = core::kFlowRuleId;
  } else if (!chain_allows(ft, s.profile, true, prof.inbound, p.proto, p.src.value, p.sport,
                           p.dport, d, pre_in)) {
    return drop(d, core::Stage::kFirewallIn, core::DropReason::kDownlinkFirewall);
  }
  d.verdict = verdict;
  d.stage = core::Stage::kDeliver;
  d.peer_addr = core::from_be(s.peer_addr);
  d.peer_teid = core::teid_host(s.peer_teid);
}

// Uplink after the TEID lookup gave `slot` (or kNotFound): decides `p` into d (overwritten).
template <class Flows>
void uplink(const FastTables& ft, const core::PacketDesc& p, uint32_t slot, Flows& flows,
            core::Decision& d, int32_t pre_out = kNotClassified) noexcept {
  const core::CompiledTables& t = ft.tables();
  d = core::Decision{};
  d.out = p;
  if (slot == FastTables::kNotFound) {
    return drop(d, core::Stage::kSession, core::DropReason::kUplinkNoSession);
  }
  const core::SessionRow& s = t.sessions[slot];
  d.thing = core::ThingSlot{slot};
  if ((s.flags & kReady) != kReady) {
    return (s.flags & core::kSessionActive) == 0
               ? drop(d, core::Stage::kState, core::DropReason::kUplinkNotActive)
               : drop(d, core::Stage::kService, core::DropReason::kUplinkDataDisabled);
  }
  if (core::to_be(p.src) != s.ue_addr) {
    return drop(d, core::Stage::kAntiSpoof, core::DropReason::kUplinkSpoofedSource);
  }
  const core::CompiledProfile& prof = *t.profiles[s.profile];
  if (!chain_allows(ft, s.profile, false, prof.outbound, p.proto, p.dst.value, p.dport, p.sport, d,
                    pre_out)) {
    return drop(d, core::Stage::kFirewallOut, core::DropReason::kUplinkFirewall);
  }
  const core::FlowKey opened{slot, p.proto, p.sport, p.dst.value, p.dport};

  if (ft.in_pool_of(p.dst.value, s.network)) {
    if (t.networks[s.network].isolated) {
      return drop(d, core::Stage::kIsolation, core::DropReason::kUplinkIsolation);
    }
    const uint32_t peer = ft.find_ue(core::to_be(p.dst));
    if (peer == FastTables::kNotFound) {
      return drop(d, core::Stage::kIsolation, core::DropReason::kUplinkNoPeerThing);
    }
    if (prof.stateful) flows.open(opened);
    return deliver(ft, peer, p, flows, d, core::Verdict::kHairpin);
  }

  // Port forwarding, source side.
  if (const core::NatRow* nat = ft.find_nat_out(s.ue_addr, p.proto, core::port_be(p.sport))) {
    d.out.src = core::from_be(nat->public_ip);
    d.out.sport = core::port_host(nat->public_port);
  }

  const core::RouteRow* route = ft.find_route(s.network, p.dst.value);
  const auto kind =
      route == nullptr ? core::RouteKind::kInternet : static_cast<core::RouteKind>(route->kind);
  if (kind == core::RouteKind::kBlackhole) {
    return drop(d, core::Stage::kRoute, core::DropReason::kUplinkBlackhole);
  }
  if (prof.stateful) flows.open(opened);
  d.stage = core::Stage::kDeliver;
  if (kind == core::RouteKind::kTunnel) {
    d.verdict = core::Verdict::kTunnel;
    d.tunnel = t.tunnels[route->tunnel].tunnel_id;
  } else {
    d.verdict = core::Verdict::kForward;
    d.vlan = t.networks[s.network].vlan;
  }
}

// Downlink: d is as downlink_nat left it (d.out after port forwarding); `slot` is the session
// of d.out.dst.
template <class Flows>
void downlink(const FastTables& ft, core::Decision& d, uint32_t slot, Flows& flows,
              int32_t pre_in = kNotClassified, FlowState flow = FlowState::kUnknown) noexcept {
  if (slot == FastTables::kNotFound) {
    return drop(d, core::Stage::kSession, core::DropReason::kDownlinkNoSession);
  }
  d.thing = core::ThingSlot{slot};
  deliver(ft, slot, d.out, flows, d, core::Verdict::kDeliver, pre_in, flow);
}

// Seeds d (overwritten) for a downlink packet: d.out after port forwarding.
inline void downlink_nat(const FastTables& ft, const core::PacketDesc& p,
                         core::Decision& d) noexcept {
  d = core::Decision{};
  d.out = p;
  if (const core::NatRow* nat =
          ft.find_nat_in(core::to_be(p.dst), p.proto, core::port_be(p.dport))) {
    d.out.dst = core::from_be(nat->thing_ip);
    d.out.dport = core::port_host(nat->thing_port);
  }
}

}  // namespace fast_detail

// Returns the decision for `p`: equal to core::lookup_packet(ft.tables(), p, flows).
template <class Flows>
core::Decision fast_lookup(const FastTables& ft, const core::PacketDesc& p, Flows& flows) noexcept {
  core::Decision d;
  if (p.dir == core::Direction::kUplink) {
    fast_detail::uplink(ft, p, ft.find_teid(core::teid_be(p.teid)), flows, d);
  } else {
    fast_detail::downlink_nat(ft, p, d);
    fast_detail::downlink(ft, d, ft.find_ue(core::to_be(d.out.dst)), flows);
  }
  return d;
}

inline constexpr uint16_t kFastBurstMax = 32;

// Decides pkts[0, n) into out[0, n); returns the number decided, min(n, kFastBurstMax). One bulk
// hash lookup per session table, and one rte_acl call per chain that the burst's packets meet
// (the TEID/UE/NAT lookups and a chain's verdict do not depend on flows, so computing them
// ahead changes nothing), skipping downlink replies on flows already open, which need none.
// Packets are then decided in order, so a flow an earlier packet opens is established for a
// later one, exactly as n calls of fast_lookup would decide: a flow found open or closed
// ahead is asked again once an earlier packet changed the flows (FlowTable::changes).
template <class Flows>
uint16_t fast_lookup_burst(const FastTables& ft, const core::PacketDesc* pkts, uint16_t n,
                           Flows& flows, core::Decision* out) noexcept {
  n = std::min(n, kFastBurstMax);
  const core::CompiledTables& t = ft.tables();
  // Zeroed only so the compiler can see every key read was written (2 x 128 bytes).
  uint32_t up_keys[kFastBurstMax] = {}, down_keys[kFastBurstMax] = {};
  uint32_t up_slots[kFastBurstMax], down_slots[kFastBurstMax];
  uint16_t up_n = 0, down_n = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (pkts[i].dir == core::Direction::kUplink) {
      up_keys[up_n++] = core::teid_be(pkts[i].teid).raw;
    } else {
      fast_detail::downlink_nat(ft, pkts[i], out[i]);
      down_keys[down_n++] = core::to_be(out[i].out.dst).raw;
    }
  }
  ft.find_teid_bulk(up_keys, up_n, up_slots);
  ft.find_ue_bulk(down_keys, down_n, down_slots);
  // Each packet's session row is read next: start all the burst's loads at once, the whole row
  // (where it straddles a line, the profile and flags every packet reads are in the second).
  auto prefetch_row = [&](uint32_t slot) {
    if (slot != FastTables::kNotFound) core::prefetch_record(&t.sessions[slot]);
  };
  for (uint16_t i = 0; i < up_n; ++i) prefetch_row(up_slots[i]);
  for (uint16_t i = 0; i < down_n; ++i) prefetch_row(down_slots[i]);

  // The chain each packet will meet first (hairpins' second chain is classified on its own).
  uint32_t slot[kFastBurstMax];
  const AclContext* ctx[kFastBurstMax];
  AclKey key[kFastBurstMax];
  int32_t pre[kFastBurstMax];
  fast_detail::FlowState flow[kFastBurstMax];
  const uint64_t flows_checked = flows.changes();
  for (uint16_t i = 0, u = 0, w = 0; i < n; ++i) {
    const core::PacketDesc& p = pkts[i];
    const bool upl = p.dir == core::Direction::kUplink;
    slot[i] = upl ? up_slots[u++] : down_slots[w++];
    ctx[i] = nullptr;
    pre[i] = fast_detail::kNotClassified;
    flow[i] = fast_detail::FlowState::kUnknown;
    if (slot[i] == FastTables::kNotFound) continue;
    const core::SessionRow& s = t.sessions[slot[i]];
    if (upl) {
      if ((s.flags & fast_detail::kReady) != fast_detail::kReady ||
          core::to_be(p.src) != s.ue_addr) {
        continue;
      }
      // The flow a stateful profile's packet opens: its window is a miss that the chains'
      // classification below can hide.
      if constexpr (requires { flows.prefetch(core::FlowKey{}); }) {
        if (t.profiles[s.profile]->stateful) {
          flows.prefetch({slot[i], p.proto, p.sport, p.dst.value, p.dport});
        }
      }
      ctx[i] = ft.acl(s.profile, false);
      key[i] = FastTables::acl_key(p.proto, p.dst.value, p.dport, p.sport);
    } else {
      if ((s.flags & (core::kSessionActive | core::kSessionDataAllowed)) !=
          (core::kSessionActive | core::kSessionDataAllowed)) {
        continue;
      }
      const core::PacketDesc& q = out[i].out;
      // A reply on a flow its Thing opened passes without the inbound chain: leave it
      // unclassified. Should an earlier packet of the burst evict the flow, it meets the chain
      // when decided (classified alone).
      if (t.profiles[s.profile]->stateful) {
        const bool open = flows.established({slot[i], q.proto, q.dport, q.src.value, q.sport});
        flow[i] = open ? fast_detail::FlowState::kOpen : fast_detail::FlowState::kClosed;
        if (open) continue;
      }
      ctx[i] = ft.acl(s.profile, true);
      key[i] = FastTables::acl_key(q.proto, q.src.value, q.sport, q.dport);
    }
    if (ctx[i] == nullptr) pre[i] = -1;  // empty chain: the default action
  }
  // The packets of each context chained in one pass (a 64-slot open-addressing map from context
  // to group): with many profiles most groups are one packet, and comparing every packet with
  // every later one cost a burst 500 compares.
  constexpr unsigned kMapSlots = 64;
  constexpr uint16_t kEnd = 0xffff;
  const AclContext* map_ctx[kMapSlots] = {};
  uint8_t map_group[kMapSlots];
  uint16_t first[kFastBurstMax], last[kFastBurstMax], next[kFastBurstMax];
  unsigned groups = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (ctx[i] == nullptr || pre[i] != fast_detail::kNotClassified) continue;
    unsigned h = static_cast<unsigned>((reinterpret_cast<uintptr_t>(ctx[i]) >> 4) *
                                       0x9e3779b97f4a7c15ull >> 58);
    while (map_ctx[h] != nullptr && map_ctx[h] != ctx[i]) h = (h + 1) % kMapSlots;
    next[i] = kEnd;
    if (map_ctx[h] == nullptr) {
      map_ctx[h] = ctx[i];
      map_group[h] = static_cast<uint8_t>(groups);
      first[groups] = last[groups] = i;
      ++groups;
    } else {
      const unsigned g = map_group[h];
      next[last[g]] = i;
      last[g] = i;
    }
  }
  for (unsigned g = 0; g < groups; ++g) {
    const AclKey* group_keys[kFastBurstMax];
    uint16_t group[kFastBurstMax];
    unsigned m = 0;
    for (uint16_t j = first[g]; j != kEnd; j = next[j]) {
      group[m] = j;
      group_keys[m++] = &key[j];
    }
    int32_t res[kFastBurstMax];
    FastTables::classify(*ctx[first[g]], group_keys, m, res);
    for (unsigned k = 0; k < m; ++k) pre[group[k]] = res[k];
  }

  for (uint16_t i = 0; i < n; ++i) {
    if (pkts[i].dir == core::Direction::kUplink) {
      fast_detail::uplink(ft, pkts[i], slot[i], flows, out[i], pre[i]);
    } else {
      // Asked ahead: still the answer unless an earlier packet changed the flows since.
      const bool held = flows.changes() == flows_checked;
      fast_detail::downlink(ft, out[i], slot[i], flows, pre[i],
                            held ? flow[i] : fast_detail::FlowState::kUnknown);
    }
  }
  return n;
}

}  // namespace simcore::dp
