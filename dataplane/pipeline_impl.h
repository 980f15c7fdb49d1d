// dataplane/pipeline_impl.h — process()'s template body, included by pipeline.h only. The
// steps that call the classifier live here; everything else (ARP, next hops, rewrites, ICMP
// errors) is in pipeline.cc behind detail::, so the template stays small.
#pragma once

#include "core/check.h"
#include "dataplane/packet/wire.h"

namespace simcore::dp {
namespace detail {

Outcome drop(Outcome o, PipelineDrop why, Counters& c) noexcept;
Outcome punt(Outcome o, Punt why, Counters& c) noexcept;
Outcome policed(Outcome o, const core::Decision& d, uint16_t inner_len, Counters& c) noexcept;
core::PacketDesc describe(core::Direction dir, uint32_t teid, const Ipv4View& ip) noexcept;
// ARP on either port: answer, punt or drop.
Outcome arp_in(const PortConfig& cfg, Port in, Frame& f, const PacketView& v, Outcome o,
               Counters& c) noexcept;
Outcome echo_request(const PortConfig& cfg, Frame& f, const PacketView& v, Outcome o,
                     Counters& c) noexcept;
// Uplink FORWARD: decapsulate, NAT, TTL, Ethernet (VLAN) toward the core next hop.
Outcome forward_uplink(const PortConfig& cfg, const NeighbourTable& nb, WorkerContext& w,
                       Frame& f, const PacketView& v, const core::Decision& d,
                       Outcome o) noexcept;
// HAIRPIN (uplink) and DELIVER (downlink): strip the arriving headers, NAT, TTL, then GTP-U
// toward the Decision's peer.
Outcome encap_deliver(const PortConfig& cfg, const NeighbourTable& nb, WorkerContext& w,
                      Frame& f, const PacketView& v, const core::Decision& d,
                      Outcome o) noexcept;
// An ICMP error about the downlink packet v.outer, back out of the core port.
Outcome icmp_downlink(const PortConfig& cfg, const NeighbourTable& nb, WorkerContext& w,
                      Frame& f, const PacketView& v, uint8_t type, uint8_t code, uint16_t mtu,
                      Outcome o) noexcept;
// Whether an ICMP error about the uplink packet v.inner may be sent (RFC 1122 rules and the
// rate limit); counts icmp_suppressed when not.
bool icmp_uplink_allowed(const PacketView& v, WorkerContext& w) noexcept;
// The ICMP error about v.inner down the sender's tunnel `back` (a DELIVER Decision).
Outcome icmp_uplink(const PortConfig& cfg, const NeighbourTable& nb, WorkerContext& w, Frame& f,
                    const PacketView& v, const core::Decision& back, uint8_t type, uint8_t code,
                    uint16_t mtu, Outcome o) noexcept;

// The ICMP error for an uplink packet goes back down the sender's own tunnel. The uplink
// Decision does not carry it, so the classifier is asked where a packet from us to the
// sender's address would be delivered; the answer is used only when it is the tunnel the
// packet came from (its eNodeB/SGW is the outer source), so a spoofed inner source draws no
// error toward another Thing.
template <class Classify>
Outcome icmp_to_uplink_sender(Classify& classify, const PortConfig& cfg, const NeighbourTable& nb,
                              WorkerContext& w, Frame& f, const PacketView& v, uint8_t type,
                              uint8_t code, uint16_t mtu, Outcome o) noexcept {
  if (!icmp_uplink_allowed(v, w)) return o;
  core::PacketDesc back;
  back.dir = core::Direction::kDownlink;
  back.src = core::Ipv4{cfg.access_addr};
  back.dst = core::Ipv4{v.inner.src};
  back.proto = kProtoIcmp;
  const core::Decision d = classify(back);
  if (d.verdict != core::Verdict::kDeliver || d.peer_addr.value != v.outer.src) {
    ++w.counters.icmp_suppressed;
    return o;
  }
  return icmp_uplink(cfg, nb, w, f, v, d, type, code, mtu, o);
}

// A packet of `len` bytes over `mtu`: Fragmentation Needed when DF is set, else dropped
// (no fragmentation in this data plane).
template <class Classify>
Outcome too_big_uplink(Classify& classify, const PortConfig& cfg, const NeighbourTable& nb,
                       WorkerContext& w, Frame& f, const PacketView& v, uint16_t next_mtu,
                       Outcome o) noexcept {
  if (!(v.inner.frag & kIpv4FlagDf)) return drop(o, PipelineDrop::kMtuExceeded, w.counters);
  return icmp_to_uplink_sender(classify, cfg, nb, w, f, v, kIcmpDestUnreachable, kIcmpFragNeeded,
                               next_mtu, drop(o, PipelineDrop::kFragNeeded, w.counters));
}

template <class Classify>
Outcome uplink(Classify& classify, const PortConfig& cfg, const NeighbourTable& nb,
               WorkerContext& w, Frame& f, const PacketView& v, Outcome o) noexcept {
  Counters& c = w.counters;
  if (o.parse == ParseStatus::kArp) return arp_in(cfg, Port::kAccess, f, v, o, c);
  if (o.parse == ParseStatus::kGtpuEchoRequest) return echo_request(cfg, f, v, o, c);
  if (o.parse != ParseStatus::kOk) return o;
  if (!v.has_gtpu) {
    if (v.outer.dst == cfg.access_addr && v.outer.proto == kProtoUdp &&
        v.outer.dport == kGtpcPort) {
      return punt(o, Punt::kGtpc, c);
    }
    return drop(o, PipelineDrop::kAccessNotGtpu, c);
  }
  if (v.outer.dst != cfg.access_addr) return drop(o, PipelineDrop::kAccessNotForUs, c);
  const Ipv4View& ip = v.inner;
  if (ip.ttl <= 1) {
    return icmp_to_uplink_sender(classify, cfg, nb, w, f, v, kIcmpTimeExceeded, 0, 0,
                                 drop(o, PipelineDrop::kTtlExceeded, c));
  }
  const core::Decision d =
      classify(describe(core::Direction::kUplink, v.gtpu.teid, ip));
  o = policed(o, d, ip.total_len, c);
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
    case core::Verdict::kTunnel: return drop(o, PipelineDrop::kUplinkTunnelUnavailable, c);
    case core::Verdict::kDrop: return o;
    case core::Verdict::kDeliver: break;
  }
  SIMCORE_CHECK(false && "uplink lookup returned DELIVER");
  return o;
}

template <class Classify>
Outcome downlink(Classify& classify, const PortConfig& cfg, const NeighbourTable& nb,
                 WorkerContext& w, Frame& f, const PacketView& v, Outcome o) noexcept {
  Counters& c = w.counters;
  if (o.parse == ParseStatus::kArp) return arp_in(cfg, Port::kCore, f, v, o, c);
  if (o.parse != ParseStatus::kOk) return o;
  const Ipv4View& ip = v.outer;
  if (ip.dst == cfg.core_addr) {
    if (ip.proto == kProtoUdp && (ip.dport == kIkePort || ip.dport == kIkeNatTPort)) {
      return punt(o, Punt::kIke, c);
    }
    return drop(o, PipelineDrop::kCoreToSelf, c);
  }
  if (ip.ttl <= 1) {
    return icmp_downlink(cfg, nb, w, f, v, kIcmpTimeExceeded, 0, 0,
                         drop(o, PipelineDrop::kTtlExceeded, c));
  }
  const core::Decision d = classify(describe(core::Direction::kDownlink, 0, ip));
  o = policed(o, d, ip.total_len, c);
  if (d.verdict == core::Verdict::kDrop) return o;
  SIMCORE_CHECK(d.verdict == core::Verdict::kDeliver);
  if (uint32_t{ip.total_len} + kGtpuEncapLen > cfg.access_mtu) {
    if (!(ip.frag & kIpv4FlagDf)) return drop(o, PipelineDrop::kMtuExceeded, c);
    return icmp_downlink(cfg, nb, w, f, v, kIcmpDestUnreachable, kIcmpFragNeeded,
                         static_cast<uint16_t>(cfg.access_mtu - kGtpuEncapLen),
                         drop(o, PipelineDrop::kFragNeeded, c));
  }
  return encap_deliver(cfg, nb, w, f, v, d, o);
}

void count_rx(Port in, ParseStatus s, Counters& c) noexcept;

}  // namespace detail

template <class Classify>
Outcome process(Classify& classify, const PortConfig& config, const NeighbourTable& neighbours,
                Port in, Frame& frame, WorkerContext& worker) noexcept {
  SIMCORE_DCHECK(in == Port::kAccess || in == Port::kCore);
  PacketView v;
  Outcome o;
  o.parse = parse_frame(frame.data(), frame.data_len,
                        in == Port::kAccess ? ParseMode::kAccess : ParseMode::kCore, v);
  detail::count_rx(in, o.parse, worker.counters);
  return in == Port::kAccess ? detail::uplink(classify, config, neighbours, worker, frame, v, o)
                             : detail::downlink(classify, config, neighbours, worker, frame, v, o);
}

}  // namespace simcore::dp
