#include "dataplane/testing/packet_encode.h"

#include "dataplane/packet/wire.h"

namespace simcore::dp::testing {

Bytes encode_packet(const core::PacketDesc& p, const PortConfig& ports, std::mt19937_64& rng) {
  const Ip4 h = ip4(p.src.value, p.dst.value);
  Bytes payload(rng() % 24);
  for (uint8_t& b : payload) b = static_cast<uint8_t>(rng());
  Bytes l4;
  switch (p.proto) {
    case kProtoTcp: l4 = tcp(h, p.sport, p.dport, payload); break;
    case kProtoUdp: l4 = udp(h, p.sport, p.dport, payload, rng() % 4 != 0); break;
    case kProtoIcmp: l4 = icmp_echo(7, 1, payload); break;
    default: l4 = payload; break;
  }
  const Bytes inner = ipv4(h, p.proto, l4);
  if (p.dir == core::Direction::kDownlink) {
    std::vector<Tag> tags;
    if (rng() % 2) tags.push_back({kEtherTypeVlan, static_cast<uint16_t>(rng() % 4095 + 1)});
    return ethernet(ports.core_mac, ports.core_next_hop_mac, kEtherTypeIpv4, inner, tags);
  }
  const Ip4 o = ip4(ip("100.64.1.1"), ports.access_addr);
  GtpuOpts opts;
  if (rng() % 4 == 0) opts.ext = {{0x85, {0x00, 0x09}}};
  return ethernet(
      ports.access_mac, ports.access_next_hop_mac, kEtherTypeIpv4,
      ipv4(o, kProtoUdp,
           udp(o, kGtpuPort, kGtpuPort, gtpu(kGtpuMsgGpdu, p.teid, inner, opts), false)));
}

}  // namespace simcore::dp::testing
