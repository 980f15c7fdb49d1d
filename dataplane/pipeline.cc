#include "dataplane/pipeline.h"

#include "core/check.h"
#include "core/table_lookup.h"
#include "core/types.h"
#include "dataplane/packet/wire.h"

namespace simcore::dp {
namespace {

Outcome drop_pipeline(Outcome o, PipelineDrop why, Counters& c) noexcept {
  o.out = Port::kNone;
  o.drop = why;
  ++c.pipeline_drop[static_cast<size_t>(why)];
  return o;
}

Outcome sent(Outcome o, Port out, Counters& c) noexcept {
  o.out = out;
  ++c.tx[static_cast<size_t>(out)];
  return o;
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

Outcome encap_toward(Frame& f, const core::Decision& d, const PortConfig& cfg, Outcome o,
                     Counters& c) noexcept {
  const GtpuTunnel t{cfg.access_next_hop_mac, cfg.access_mac, cfg.access_addr, d.peer_addr.value,
                     d.peer_teid};
  if (!gtpu_encap(f, t)) return drop_pipeline(o, PipelineDrop::kNoHeadroom, c);
  return sent(o, Port::kAccess, c);
}

Outcome uplink(const core::CompiledTables& tables, core::FlowMemory& flows, const PortConfig& cfg,
               Frame& f, const PacketView& v, Outcome o, Counters& c) noexcept {
  if (o.parse == ParseStatus::kGtpuEchoRequest) {
    if (!gtpu_echo_response(f, v, cfg.access_addr)) {
      return drop_pipeline(o, PipelineDrop::kNoHeadroom, c);
    }
    ++c.echo_replies;
    return sent(o, Port::kAccess, c);
  }
  if (o.parse != ParseStatus::kOk) return o;
  if (!v.has_gtpu) return drop_pipeline(o, PipelineDrop::kAccessNotGtpu, c);
  const Ipv4View& ip = v.inner;
  if (ip.ttl <= 1) return drop_pipeline(o, PipelineDrop::kTtlExceeded, c);

  const core::PacketDesc p = describe(core::Direction::kUplink, v.gtpu.teid, ip);
  const core::Decision d = core::lookup_packet(tables, p, flows);
  o.policed = true;
  o.verdict = d.verdict;
  ++c.verdict[static_cast<size_t>(d.verdict)];
  switch (d.verdict) {
    case core::Verdict::kForward:
      gtpu_decap(f, v);
      apply_nat(f, ip, d.out);
      ttl_decrement(f.data());
      if (!eth_prepend(f, cfg.core_next_hop_mac, cfg.core_mac, d.vlan)) {
        return drop_pipeline(o, PipelineDrop::kNoHeadroom, c);
      }
      return sent(o, Port::kCore, c);
    case core::Verdict::kHairpin:
      gtpu_decap(f, v);
      ttl_decrement(f.data());
      return encap_toward(f, d, cfg, o, c);
    case core::Verdict::kTunnel: return drop_pipeline(o, PipelineDrop::kUplinkTunnelUnavailable, c);
    case core::Verdict::kDrop:
      o.policy_drop = d.drop;
      ++c.policy_drop[static_cast<size_t>(d.drop)];
      return o;
    case core::Verdict::kDeliver: break;
  }
  SIMCORE_CHECK(false && "uplink lookup returned DELIVER");
  return o;
}

Outcome downlink(const core::CompiledTables& tables, core::FlowMemory& flows, const PortConfig& cfg,
                 Frame& f, const PacketView& v, Outcome o, Counters& c) noexcept {
  if (o.parse != ParseStatus::kOk) return o;
  const Ipv4View& ip = v.outer;
  if (ip.dst == cfg.core_addr) return drop_pipeline(o, PipelineDrop::kCoreToSelf, c);
  if (ip.ttl <= 1) return drop_pipeline(o, PipelineDrop::kTtlExceeded, c);

  const core::PacketDesc p = describe(core::Direction::kDownlink, 0, ip);
  const core::Decision d = core::lookup_packet(tables, p, flows);
  o.policed = true;
  o.verdict = d.verdict;
  ++c.verdict[static_cast<size_t>(d.verdict)];
  if (d.verdict == core::Verdict::kDrop) {
    o.policy_drop = d.drop;
    ++c.policy_drop[static_cast<size_t>(d.drop)];
    return o;
  }
  SIMCORE_CHECK(d.verdict == core::Verdict::kDeliver);
  strip_l2(f, v);
  apply_nat(f, ip, d.out);
  ttl_decrement(f.data());
  return encap_toward(f, d, cfg, o, c);
}

}  // namespace

const char* port_name(Port p) noexcept {
  switch (p) {
    case Port::kAccess: return "access";
    case Port::kCore: return "core";
    case Port::kNone: return "none";
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

Outcome process(const core::CompiledTables& tables, core::FlowMemory& flows,
                const PortConfig& config, Port in, Frame& frame, Counters& counters) noexcept {
  SIMCORE_DCHECK(in == Port::kAccess || in == Port::kCore);
  const size_t port = static_cast<size_t>(in);
  ++counters.rx[port];
  PacketView v;
  Outcome o;
  o.parse = parse_frame(frame.data(), frame.data_len,
                        in == Port::kAccess ? ParseMode::kAccess : ParseMode::kCore, v);
  ++counters.parse[port][static_cast<size_t>(o.parse)];
  return in == Port::kAccess ? uplink(tables, flows, config, frame, v, o, counters)
                             : downlink(tables, flows, config, frame, v, o, counters);
}

}  // namespace simcore::dp
