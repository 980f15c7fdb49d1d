// dataplane/pipeline_impl.h — process()'s and finish_frame()'s template bodies, included by
// pipeline.h only. The steps that call the classifier live here; everything else (parsing and
// begin_frame, ARP, next hops, rewrites, ICMP errors) is in pipeline.cc behind detail::, so the
// template stays small.
#pragma once

#include "core/check.h"
#include "dataplane/packet/wire.h"

namespace simcore::dp {
namespace detail {

// The stages write the frame's Outcome in place: passed and returned by value, its byte-wide
// fields written by one stage and copied whole by the next cost a store-forwarding stall per
// stage (measured: the largest single cost of finish_frame).
void drop(Outcome& o, PipelineDrop why, Counters& c) noexcept;
void punt(Outcome& o, Punt why, Counters& c) noexcept;
// The Decision's verdict, stage, rule and Things into the Outcome, counted. Inline: once per
// policed packet.
inline void policed(Outcome& o, const core::Decision& d, uint16_t inner_len,
                    Counters& c) noexcept {
  o.policed = true;
  o.verdict = d.verdict;
  o.stage = d.stage;
  o.inner_len = inner_len;
  o.rule_id = d.rule_id;
  o.thing = d.thing.value;
  o.target = d.target.value;
  ++c.verdict[static_cast<size_t>(d.verdict)];
  if (d.verdict == core::Verdict::kDrop) {
    o.policy_drop = d.drop;
    ++c.policy_drop[static_cast<size_t>(d.drop)];
  }
}
core::PacketDesc describe(core::Direction dir, uint32_t teid, const Ipv4View& ip) noexcept;
// ARP on either port: answer, punt or drop.
void arp_in(const PortConfig& cfg, Port in, Frame& f, const PacketView& v, Outcome& o,
            Counters& c) noexcept;
void echo_request(const PortConfig& cfg, Frame& f, const PacketView& v, Outcome& o,
                  Counters& c) noexcept;
// Uplink FORWARD: decapsulate, NAT, TTL, Ethernet (VLAN) toward the core next hop.
void forward_uplink(const PortConfig& cfg, const NeighbourTable& nb, WorkerContext& w, Frame& f,
                    const PacketView& v, const core::Decision& d, Outcome& o) noexcept;
// HAIRPIN (uplink) and DELIVER (downlink): strip the arriving headers, NAT, TTL, then GTP-U
// toward the Decision's peer.
void encap_deliver(const PortConfig& cfg, const NeighbourTable& nb, WorkerContext& w, Frame& f,
                   const PacketView& v, const core::Decision& d, Outcome& o) noexcept;
// Uplink TUNNEL: decapsulate, NAT, TTL; the frame is left holding the inner IPv4 packet for the
// ESP stage (out = kEsp).
void to_tunnel(Frame& f, const PacketView& v, const core::Decision& d, Outcome& o) noexcept;
// An ICMP error about the downlink packet v.outer, back out of the core port.
void icmp_downlink(const PortConfig& cfg, const NeighbourTable& nb, WorkerContext& w, Frame& f,
                   const PacketView& v, uint8_t type, uint8_t code, uint16_t mtu,
                   Outcome& o) noexcept;
// Whether an ICMP error about the uplink packet v.inner may be sent (RFC 1122 rules and the
// rate limit); counts icmp_suppressed when not.
bool icmp_uplink_allowed(const PacketView& v, WorkerContext& w) noexcept;
// The ICMP error about v.inner down the sender's tunnel `back` (a DELIVER Decision).
void icmp_uplink(const PortConfig& cfg, const NeighbourTable& nb, WorkerContext& w, Frame& f,
                 const PacketView& v, const core::Decision& back, uint8_t type, uint8_t code,
                 uint16_t mtu, Outcome& o) noexcept;

// The ICMP error for an uplink packet goes back down the sender's own tunnel. The uplink
// Decision does not carry it, so the classifier is asked where a packet from us to the
// sender's address would be delivered; the answer is used only when it is the tunnel the
// packet came from (its eNodeB/SGW is the outer source), so a spoofed inner source draws no
// error toward another Thing.
template <class Classify>
void icmp_to_uplink_sender(Classify& classify, const PortConfig& cfg, const NeighbourTable& nb,
                           WorkerContext& w, Frame& f, const PacketView& v, uint8_t type,
                           uint8_t code, uint16_t mtu, Outcome& o) noexcept {
  if (!icmp_uplink_allowed(v, w)) return;
  core::PacketDesc back;
  back.dir = core::Direction::kDownlink;
  back.src = core::Ipv4{cfg.access_addr};
  back.dst = core::Ipv4{v.inner.src};
  back.proto = kProtoIcmp;
  const core::Decision d = classify(back);
  if (d.verdict != core::Verdict::kDeliver || d.peer_addr.value != v.outer.src) {
    ++w.counters.icmp_suppressed;
    return;
  }
  return icmp_uplink(cfg, nb, w, f, v, d, type, code, mtu, o);
}

// A packet of `len` bytes over `mtu`: Fragmentation Needed when DF is set, else dropped
// (no fragmentation in this data plane).
template <class Classify>
void too_big_uplink(Classify& classify, const PortConfig& cfg, const NeighbourTable& nb,
                    WorkerContext& w, Frame& f, const PacketView& v, uint16_t next_mtu,
                    Outcome& o) noexcept {
  if (!(v.inner.frag & kIpv4FlagDf)) return drop(o, PipelineDrop::kMtuExceeded, w.counters);
  drop(o, PipelineDrop::kFragNeeded, w.counters);
  return icmp_to_uplink_sender(classify, cfg, nb, w, f, v, kIcmpDestUnreachable, kIcmpFragNeeded,
                               next_mtu, o);
}

// Uplink after the lookup: the Decision `d` on the inner packet.
template <class Classify>
void uplink_decided(Classify& classify, const PortConfig& cfg, const NeighbourTable& nb,
                    WorkerContext& w, Frame& f, const PacketView& v, const core::Decision& d,
                    Outcome& o) noexcept {
  const Ipv4View& ip = v.inner;
  policed(o, d, ip.total_len, w.counters);
  switch (d.verdict) {
    case core::Verdict::kForward:
      if (ip.total_len > cfg.core_mtu) {
        return too_big_uplink(classify, cfg, nb, w, f, v, cfg.core_mtu, o);
      }
      return forward_uplink(cfg, nb, w, f, v, d, o);
    case core::Verdict::kHairpin:
      if (uint32_t{ip.total_len} + kGtpuEncapLen > cfg.access_mtu) {
        return too_big_uplink(classify, cfg, nb, w, f, v,
                              static_cast<uint16_t>(cfg.access_mtu - kGtpuEncapLen), o);
      }
      return encap_deliver(cfg, nb, w, f, v, d, o);
    case core::Verdict::kTunnel:
      // ESP adds at most kEspOverhead (AES-GCM or AES-CBC, ESP in UDP): past the core MTU the
      // sender is told the room that is left.
      if (uint32_t{ip.total_len} + kEspOverhead > cfg.core_mtu) {
        return too_big_uplink(classify, cfg, nb, w, f, v,
                              static_cast<uint16_t>(cfg.core_mtu - kEspOverhead), o);
      }
      return to_tunnel(f, v, d, o);
    case core::Verdict::kDrop: return;
    case core::Verdict::kDeliver: break;
  }
  SIMCORE_CHECK(false && "uplink lookup returned DELIVER");
}

// Downlink after the lookup: the Decision `d` on the (outer) packet.
inline void downlink_decided(const PortConfig& cfg, const NeighbourTable& nb, WorkerContext& w,
                             Frame& f, const PacketView& v, const core::Decision& d,
                             Outcome& o) noexcept {
  Counters& c = w.counters;
  const Ipv4View& ip = v.outer;
  policed(o, d, ip.total_len, c);
  if (d.verdict == core::Verdict::kDrop) return;
  SIMCORE_CHECK(d.verdict == core::Verdict::kDeliver);
  if (uint32_t{ip.total_len} + kGtpuEncapLen > cfg.access_mtu) {
    if (!(ip.frag & kIpv4FlagDf)) return drop(o, PipelineDrop::kMtuExceeded, c);
    drop(o, PipelineDrop::kFragNeeded, c);
    return icmp_downlink(cfg, nb, w, f, v, kIcmpDestUnreachable, kIcmpFragNeeded,
                         static_cast<uint16_t>(cfg.access_mtu - kGtpuEncapLen), o);
  }
  return encap_deliver(cfg, nb, w, f, v, d, o);
}

}  // namespace detail

template <class Classify>
void finish_frame(Classify& classify, const PortConfig& config, const NeighbourTable& neighbours,
                  Frame& frame, WorkerContext& worker, const Pending& p, const core::Decision* d,
                  Outcome& o) noexcept {
  o = p.o;
  const bool up = p.in == Port::kAccess;
  switch (p.step) {
    case Step::kDone: return;
    case Step::kDecide:
      SIMCORE_DCHECK(d != nullptr);
      return up ? detail::uplink_decided(classify, config, neighbours, worker, frame, p.v, *d, o)
                : detail::downlink_decided(config, neighbours, worker, frame, p.v, *d, o);
    case Step::kTtlExceeded:
      return up ? detail::icmp_to_uplink_sender(classify, config, neighbours, worker, frame, p.v,
                                                kIcmpTimeExceeded, 0, 0, o)
                : detail::icmp_downlink(config, neighbours, worker, frame, p.v,
                                        kIcmpTimeExceeded, 0, 0, o);
  }
}

template <class Classify>
Outcome process(Classify& classify, const PortConfig& config, const NeighbourTable& neighbours,
                Port in, Frame& frame, WorkerContext& worker) noexcept {
  Pending p;
  core::PacketDesc desc;
  Outcome o;
  if (begin_frame(config, in, frame, worker, p, desc) == Step::kDecide) {
    const core::Decision d = classify(desc);
    finish_frame(classify, config, neighbours, frame, worker, p, &d, o);
  } else {
    finish_frame(classify, config, neighbours, frame, worker, p, nullptr, o);
  }
  return o;
}

}  // namespace simcore::dp
