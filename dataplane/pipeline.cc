#include "dataplane/pipeline.h"

#include "core/table_lookup.h"
#include "core/types.h"
#include "dataplane/packet/arp.h"
#include "dataplane/packet/icmp.h"
#include "dataplane/packet/wire.h"

namespace simcore::dp {
namespace {

void sent(Outcome& o, Port out, Counters& c) noexcept {
  o.out = out;
  ++c.tx[static_cast<size_t>(out)];
}

// The packet at f.data() is the (inner) IPv4 packet `ip` described, now starting at offset 0.
uint8_t* l4_of(const Frame& f, const Ipv4View& ip) noexcept {
  return ip.has_l4 ? f.data() + ip.hdr_len : nullptr;
}

// Applies the Decision's rewritten 5-tuple: uplink rewrites the source, downlink the
// destination (port forwarding, DESIGN.md "The packet pipeline").
void apply_nat(const Frame& f, const Ipv4View& ip, const core::PacketDesc& out) noexcept {
  if (out.src.value != ip.src ||
      (ip.has_l4 && core::has_ports(ip.proto) && out.sport != ip.sport)) {
    nat_rewrite_src(f.data(), l4_of(f, ip), out.src.value, out.sport);
  }
  if (out.dst.value != ip.dst ||
      (ip.has_l4 && core::has_ports(ip.proto) && out.dport != ip.dport)) {
    nat_rewrite_dst(f.data(), l4_of(f, ip), out.dst.value, out.dport);
  }
}

bool is_zero(const Mac& m) noexcept {
  for (uint8_t b : m) {
    if (b) return false;
  }
  return true;
}

const Mac& port_mac(const PortConfig& cfg, Port p) noexcept {
  return p == Port::kAccess ? cfg.access_mac : cfg.core_mac;
}
uint32_t port_addr(const PortConfig& cfg, Port p) noexcept {
  return p == Port::kAccess ? cfg.access_addr : cfg.core_addr;
}

struct NextHop {
  uint32_t addr = 0;
  Mac mac{};
  bool resolved = false;
};

// RFC 1812 5.2.1: on-link destinations are sent to directly, everything else to the port's
// gateway. A configured static gateway MAC needs no table.
// Fills the caller's nh in place. Returned by value, its fields were stored one by one and
// loaded back whole into the two return registers: a store-forwarding stall on every packet
// sent, 94% of next_hop's samples (perf; README 2026-11-29).
void next_hop(const PortConfig& cfg, const NeighbourTable& nb, Port p, uint32_t dst,
              NextHop& nh) noexcept {
  const bool access = p == Port::kAccess;
  const uint8_t len = access ? cfg.access_prefix_len : cfg.core_prefix_len;
  const uint32_t mask = len == 0 ? 0 : ~uint32_t{0} << (32 - (len > 32 ? 32 : len));
  const bool on_link = len != 0 && ((dst ^ port_addr(cfg, p)) & mask) == 0;
  nh.addr = on_link ? dst : (access ? cfg.access_gateway : cfg.core_gateway);
  const Mac& static_mac = access ? cfg.access_next_hop_mac : cfg.core_next_hop_mac;
  if (!on_link && !is_zero(static_mac)) {
    nh.mac = static_mac;
    nh.resolved = true;
  } else {
    nh.resolved = nb.lookup(nh.addr, nh.mac);
  }
}

// The packet (already counted as dropped) cannot leave: its frame becomes an ARP request for
// the next hop out of `p`, at most once per next hop per kArpRetryNs. No next hop (no
// gateway configured) means no request.
void arp_for(const PortConfig& cfg, WorkerContext& w, Port p, uint32_t nh, uint16_t tci,
             Frame& f, Outcome& o) noexcept {
  if (nh == 0) return;
  if (!w.arp.allow(nh, w.now_ns)) {
    ++w.counters.arp_requests_throttled;
    return;
  }
  if (!arp_request(f, port_mac(cfg, p), port_addr(cfg, p), nh, tci)) return;
  ++w.counters.arp_requests;
  o.out = p;
}

}  // namespace

namespace detail {

void drop(Outcome& o, PipelineDrop why, Counters& c) noexcept {
  o.out = Port::kNone;
  o.drop = why;
  ++c.pipeline_drop[static_cast<size_t>(why)];
}

void punt(Outcome& o, Punt why, Counters& c) noexcept {
  o.out = Port::kControl;
  o.punt = why;
  ++c.punt[static_cast<size_t>(why)];
}

core::PacketDesc describe(core::Direction dir, uint32_t teid, const Ipv4View& ip) noexcept {
  core::PacketDesc p;
  p.dir = dir;
  p.teid = teid;
  p.src = core::Ipv4{ip.src};
  p.dst = core::Ipv4{ip.dst};
  p.proto = ip.proto;
  // The policy's convention: packets of protocols without ports carry 0.
  if (core::has_ports(ip.proto)) {
    p.sport = ip.sport;
    p.dport = ip.dport;
  }
  return p;
}

void arp_in(const PortConfig& cfg, Port in, Frame& f, const PacketView& v, Outcome& o,
            Counters& c) noexcept {
  const uint32_t addr = port_addr(cfg, in);
  // A request from our own address is someone probing or defending it (RFC 5227): not ours
  // to answer.
  if (v.arp.tpa != addr || v.arp.spa == addr) return drop(o, PipelineDrop::kArpNotForUs, c);
  if (v.arp.op == kArpOpReply) return punt(o, Punt::kArpReply, c);
  arp_reply_in_place(f, v, port_mac(cfg, in), addr);
  ++c.arp_replies;
  return sent(o, in, c);
}

void echo_request(const PortConfig& cfg, Frame& f, const PacketView& v, Outcome& o,
                  Counters& c) noexcept {
  // Answered to the frame's source MAC: the peer that asked is the one to answer.
  if (!gtpu_echo_response(f, v, cfg.access_addr)) {
    return drop(o, PipelineDrop::kNoHeadroom, c);
  }
  ++c.echo_replies;
  return sent(o, Port::kAccess, c);
}

void forward_uplink(const PortConfig& cfg, const NeighbourTable& nb, WorkerContext& w, Frame& f,
                    const PacketView& v, const core::Decision& d, Outcome& o) noexcept {
  Counters& c = w.counters;
  NextHop nh;
  next_hop(cfg, nb, Port::kCore, d.out.dst.value, nh);
  if (!nh.resolved) {
    drop(o, PipelineDrop::kNeighbourUnresolved, c);
    return arp_for(cfg, w, Port::kCore, nh.addr, d.vlan, f, o);
  }
  gtpu_decap(f, v);
  apply_nat(f, v.inner, d.out);
  ttl_decrement(f.data());
  if (!eth_prepend(f, nh.mac, cfg.core_mac, d.vlan)) {
    return drop(o, PipelineDrop::kNoHeadroom, c);
  }
  return sent(o, Port::kCore, c);
}

void to_tunnel(Frame& f, const PacketView& v, const core::Decision& d, Outcome& o) noexcept {
  gtpu_decap(f, v);
  apply_nat(f, v.inner, d.out);
  ttl_decrement(f.data());
  o.out = Port::kEsp;
  o.tunnel = d.tunnel;
}

void encap_deliver(const PortConfig& cfg, const NeighbourTable& nb, WorkerContext& w, Frame& f,
                   const PacketView& v, const core::Decision& d, Outcome& o) noexcept {
  Counters& c = w.counters;
  NextHop nh;
  next_hop(cfg, nb, Port::kAccess, d.peer_addr.value, nh);
  if (!nh.resolved) {
    drop(o, PipelineDrop::kNeighbourUnresolved, c);
    return arp_for(cfg, w, Port::kAccess, nh.addr, 0, f, o);
  }
  const bool up = v.has_gtpu;
  const Ipv4View& ip = up ? v.inner : v.outer;
  if (up) {
    gtpu_decap(f, v);  // a hairpinned packet is not NAT'd: both ends are Things
  } else {
    strip_l2(f, v);
    apply_nat(f, ip, d.out);
  }
  ttl_decrement(f.data());
  const GtpuTunnel t{nh.mac, cfg.access_mac, cfg.access_addr, d.peer_addr.value, d.peer_teid};
  if (!gtpu_encap(f, t)) return drop(o, PipelineDrop::kNoHeadroom, c);
  return sent(o, Port::kAccess, c);
}

void icmp_downlink(const PortConfig& cfg, const NeighbourTable& nb, WorkerContext& w, Frame& f,
                   const PacketView& v, uint8_t type, uint8_t code, uint16_t mtu,
                   Outcome& o) noexcept {
  Counters& c = w.counters;
  // Back the way it came: with the arriving frame's VLAN tag (one C-tag at most).
  const uint16_t tci = v.vlan_count == 1 ? v.vlan_tci[0] : 0;
  const uint32_t l2 = kEthHeaderLen + (tci ? kVlanTagLen : 0);
  if (v.vlan_count > 1 || !icmp_error_allowed(v.outer) ||
      f.headroom() + v.outer.off < kIpv4MinHeaderLen + kIcmpHeaderLen + l2 ||
      !w.icmp.take(w.now_ns)) {
    ++c.icmp_suppressed;
    return;
  }
  NextHop nh;
  next_hop(cfg, nb, Port::kCore, v.outer.src, nh);
  if (!nh.resolved) return arp_for(cfg, w, Port::kCore, nh.addr, tci, f, o);
  if (!icmp_error(f, v.outer, type, code, mtu, cfg.core_addr) ||
      !eth_prepend(f, nh.mac, cfg.core_mac, tci)) {
    ++c.icmp_suppressed;  // cannot happen after the headroom check above
    return;
  }
  ++(type == kIcmpTimeExceeded ? c.icmp_time_exceeded : c.icmp_frag_needed);
  o.out = Port::kCore;
}

bool icmp_uplink_allowed(const PacketView& v, WorkerContext& w) noexcept {
  if (!icmp_error_allowed(v.inner) || !w.icmp.take(w.now_ns)) {
    ++w.counters.icmp_suppressed;
    return false;
  }
  return true;
}

void icmp_uplink(const PortConfig& cfg, const NeighbourTable& nb, WorkerContext& w, Frame& f,
                 const PacketView& v, const core::Decision& back, uint8_t type, uint8_t code,
                 uint16_t mtu, Outcome& o) noexcept {
  Counters& c = w.counters;
  // The error (28 bytes before the quote) and then Ethernet + GTP-U encapsulation before it.
  if (f.headroom() + v.inner.off < kIpv4MinHeaderLen + kIcmpHeaderLen + kEthHeaderLen +
                                       kGtpuEncapLen) {
    ++c.icmp_suppressed;
    return;
  }
  NextHop nh;
  next_hop(cfg, nb, Port::kAccess, back.peer_addr.value, nh);
  if (!nh.resolved) return arp_for(cfg, w, Port::kAccess, nh.addr, 0, f, o);
  const GtpuTunnel t{nh.mac, cfg.access_mac, cfg.access_addr, back.peer_addr.value,
                     back.peer_teid};
  if (!icmp_error(f, v.inner, type, code, mtu, cfg.access_addr) || !gtpu_encap(f, t)) {
    ++c.icmp_suppressed;  // cannot happen after the headroom check above
    return;
  }
  ++(type == kIcmpTimeExceeded ? c.icmp_time_exceeded : c.icmp_frag_needed);
  o.out = Port::kAccess;
}

}  // namespace detail

void esp_leave(const PortConfig& cfg, const NeighbourTable& nb, WorkerContext& w, Frame& f,
               uint32_t peer, Outcome& o) noexcept {
  Counters& c = w.counters;
  NextHop nh;
  next_hop(cfg, nb, Port::kCore, peer, nh);
  if (!nh.resolved) {
    detail::drop(o, PipelineDrop::kNeighbourUnresolved, c);
    return arp_for(cfg, w, Port::kCore, nh.addr, 0, f, o);
  }
  if (!eth_prepend(f, nh.mac, cfg.core_mac, 0)) {
    return detail::drop(o, PipelineDrop::kNoHeadroom, c);
  }
  ++c.esp_encrypted;
  return sent(o, Port::kCore, c);
}

// The order of process() before its lookup: uplink (access port) then downlink (core port).
Step begin_frame(const PortConfig& cfg, Port in, Frame& f, WorkerContext& w, Pending& p,
                 core::PacketDesc& desc) noexcept {
  SIMCORE_DCHECK(in == Port::kAccess || in == Port::kCore);
  Counters& c = w.counters;
  PacketView& v = p.v;
  Outcome& o = p.o;
  p.in = in;
  p.step = Step::kDone;
  o = Outcome{};
  o.parse = parse_frame(f.data(), f.data_len,
                        in == Port::kAccess ? ParseMode::kAccess : ParseMode::kCore, v);
  const size_t port = static_cast<size_t>(in);
  ++c.rx[port];
  ++c.parse[port][static_cast<size_t>(o.parse)];
  if (o.parse == ParseStatus::kArp) {
    detail::arp_in(cfg, in, f, v, o, c);
    return Step::kDone;
  }
  if (in == Port::kAccess) {
    if (o.parse == ParseStatus::kGtpuEchoRequest) {
      detail::echo_request(cfg, f, v, o, c);
      return Step::kDone;
    }
    if (o.parse != ParseStatus::kOk) return Step::kDone;
    if (!v.has_gtpu) {
      if (v.outer.dst == cfg.access_addr && v.outer.proto == kProtoUdp &&
          v.outer.dport == kGtpcPort) {
        detail::punt(o, Punt::kGtpc, c);
      } else {
        detail::drop(o, PipelineDrop::kAccessNotGtpu, c);
      }
      return Step::kDone;
    }
    if (v.outer.dst != cfg.access_addr) {
      detail::drop(o, PipelineDrop::kAccessNotForUs, c);
      return Step::kDone;
    }
    if (v.inner.ttl <= 1) {
      detail::drop(o, PipelineDrop::kTtlExceeded, c);
      return p.step = Step::kTtlExceeded;
    }
    desc = detail::describe(core::Direction::kUplink, v.gtpu.teid, v.inner);
    return p.step = Step::kDecide;
  }
  if (o.parse != ParseStatus::kOk) return Step::kDone;
  const Ipv4View& ip = v.outer;
  if (ip.dst == cfg.core_addr) {
    // RFC 3948 §2.2: on the NAT-T port a zero first word is IKE, anything else an ESP SPI.
    const bool natt_esp = ip.proto == kProtoUdp && ip.dport == kIkeNatTPort && ip.has_l4 &&
                          ip.l4_off + kUdpHeaderLen + 4 <= f.data_len &&
                          load_be32(f.data() + ip.l4_off + kUdpHeaderLen) != 0;
    if (ip.proto == kProtoEsp || natt_esp) {
      o.out = Port::kEspIn;
    } else if (ip.proto == kProtoUdp && (ip.dport == kIkePort || ip.dport == kIkeNatTPort)) {
      detail::punt(o, Punt::kIke, c);
    } else {
      detail::drop(o, PipelineDrop::kCoreToSelf, c);
    }
    return Step::kDone;
  }
  if (ip.ttl <= 1) {
    detail::drop(o, PipelineDrop::kTtlExceeded, c);
    return p.step = Step::kTtlExceeded;
  }
  desc = detail::describe(core::Direction::kDownlink, 0, ip);
  return p.step = Step::kDecide;
}

bool finish_may_classify(const PortConfig& cfg, const Pending& p) noexcept {
  if (p.in != Port::kAccess) return false;
  if (p.step == Step::kTtlExceeded) return true;
  // Over the core MTU (forward) or the access MTU once encapsulated (hairpin), with DF.
  const Ipv4View& ip = p.v.inner;
  return p.step == Step::kDecide && (ip.frag & kIpv4FlagDf) &&
         (ip.total_len > cfg.core_mtu || uint32_t{ip.total_len} + kGtpuEncapLen > cfg.access_mtu);
}

core::Decision TableClassifier::operator()(const core::PacketDesc& p) const {
  return core::lookup_packet(tables, p, flows);
}

const char* port_name(Port p) noexcept {
  switch (p) {
    case Port::kAccess: return "access";
    case Port::kCore: return "core";
    case Port::kNone: return "none";
    case Port::kControl: return "control";
    case Port::kEsp: return "esp";
    case Port::kEspIn: return "esp-in";
  }
  return "?";
}

const char* pipeline_drop_name(PipelineDrop d) noexcept {
  switch (d) {
#define SIMCORE_X(id, name, desc) \
  case PipelineDrop::id: return name;
    SIMCORE_PIPELINE_DROPS(SIMCORE_X)
#undef SIMCORE_X
    case PipelineDrop::kCount: break;
  }
  return "?";
}

const char* pipeline_drop_description(PipelineDrop d) noexcept {
  switch (d) {
#define SIMCORE_X(id, name, desc) \
  case PipelineDrop::id: return desc;
    SIMCORE_PIPELINE_DROPS(SIMCORE_X)
#undef SIMCORE_X
    case PipelineDrop::kCount: break;
  }
  return "?";
}

const char* punt_name(Punt p) noexcept {
  switch (p) {
#define SIMCORE_X(id, name, desc) \
  case Punt::id: return name;
    SIMCORE_PUNTS(SIMCORE_X)
#undef SIMCORE_X
    case Punt::kCount: break;
  }
  return "?";
}

const char* punt_description(Punt p) noexcept {
  switch (p) {
#define SIMCORE_X(id, name, desc) \
  case Punt::id: return desc;
    SIMCORE_PUNTS(SIMCORE_X)
#undef SIMCORE_X
    case Punt::kCount: break;
  }
  return "?";
}

}  // namespace simcore::dp
