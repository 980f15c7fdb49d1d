#include "dataplane/packet/rewrite.h"

#include <cstring>

#include "dataplane/packet/checksum.h"
#include "dataplane/packet/wire.h"

namespace simcore::dp {
namespace {

constexpr uint16_t kFlagDontFragment = 0x4000;

// Writes a 20-byte IPv4 header with its checksum. The checksum is summed from the values, not
// read back from the header just written: those loads would wait on the byte stores (a store
// forwarding stall per word, the largest cost of a downlink encapsulation when measured).
void write_ipv4(uint8_t* h, uint8_t tos, uint16_t total, uint8_t proto, uint32_t src,
                uint32_t dst) noexcept {
  h[0] = 0x45;
  h[1] = tos;
  store_be16(h + 2, total);
  store_be16(h + 4, 0);
  store_be16(h + 6, kFlagDontFragment);
  h[8] = kOuterTtl;
  h[9] = proto;
  store_be32(h + 12, src);
  store_be32(h + 16, dst);
  const uint32_t sum = (0x4500u | tos) + total + kFlagDontFragment +
                       (uint32_t{kOuterTtl} << 8 | proto) + (src >> 16) + (src & 0xffff) +
                       (dst >> 16) + (dst & 0xffff);
  store_be16(h + 10, static_cast<uint16_t>(~fold(sum)));
}

// The L4 checksum field's offset for protocols whose checksum covers the addresses, or -1.
int l4_checksum_offset(uint8_t proto) noexcept {
  if (proto == kProtoTcp) return 16;
  if (proto == kProtoUdp) return 6;
  return -1;
}

// Rewrites the address at ip[addr_at] and the port at l4[port_at].
void nat_rewrite(uint8_t* ip, uint8_t* l4, uint32_t addr_at, uint32_t port_at, uint32_t addr,
                 uint16_t port) noexcept {
  const uint32_t old_addr = load_be32(ip + addr_at);
  store_be16(ip + 10, checksum_update32(load_be16(ip + 10), old_addr, addr));
  store_be32(ip + addr_at, addr);
  const uint8_t proto = ip[9];
  const int at = l4_checksum_offset(proto);
  // Only TCP and UDP have ports (and a checksum over the addresses).
  if (l4 == nullptr || at < 0) return;
  const uint16_t old_port = load_be16(l4 + port_at);
  store_be16(l4 + port_at, port);
  uint16_t sum = load_be16(l4 + at);
  // A UDP checksum of 0 means "none" and stays so (RFC 768).
  if (proto == kProtoUdp && sum == 0) return;
  sum = checksum_update32(sum, old_addr, addr);
  sum = checksum_update16(sum, old_port, port);
  // 0 is "none" for UDP: a computed 0 is sent as all ones (RFC 768).
  if (proto == kProtoUdp && sum == 0) sum = 0xffff;
  store_be16(l4 + at, sum);
}

}  // namespace

bool gtpu_encap(Frame& f, const GtpuTunnel& t) noexcept {
  const uint32_t inner_len = f.data_len;
  if (inner_len < kIpv4MinHeaderLen || inner_len + kGtpuEncapLen > 0xffff) return false;
  const uint8_t dscp = f.data()[1] & 0xfc;
  uint8_t* p = f.prepend(kEthHeaderLen + kGtpuEncapLen);
  if (p == nullptr) return false;
  std::memcpy(p, t.dst_mac.data(), 6);
  std::memcpy(p + 6, t.src_mac.data(), 6);
  store_be16(p + 12, kEtherTypeIpv4);
  uint8_t* ip = p + kEthHeaderLen;
  write_ipv4(ip, dscp, static_cast<uint16_t>(inner_len + kGtpuEncapLen), kProtoUdp, t.src_addr,
             t.dst_addr);
  uint8_t* udp = ip + kIpv4MinHeaderLen;
  store_be16(udp, kGtpuPort);
  store_be16(udp + 2, kGtpuPort);
  store_be16(udp + 4, static_cast<uint16_t>(inner_len + kUdpHeaderLen + kGtpuHeaderLen));
  store_be16(udp + 6, 0);
  uint8_t* gtp = udp + kUdpHeaderLen;
  gtp[0] = 0x30;  // version 1, PT 1, no E/S/PN
  gtp[1] = kGtpuMsgGpdu;
  store_be16(gtp + 2, static_cast<uint16_t>(inner_len));
  store_be32(gtp + 4, t.teid);
  return true;
}

bool gtpu_decap(Frame& f, const PacketView& v) noexcept {
  if (v.inner_version != 4) return false;
  const uint32_t end = uint32_t{v.inner.off} + v.inner.total_len;
  if (end > f.data_len) return false;
  f.trim(f.data_len - end);
  f.adj(v.inner.off);
  return true;
}

bool strip_l2(Frame& f, const PacketView& v) noexcept {
  const uint32_t end = uint32_t{v.outer.off} + v.outer.total_len;
  if (end > f.data_len || v.outer.total_len == 0) return false;
  f.trim(f.data_len - end);
  f.adj(v.outer.off);
  return true;
}

bool eth_prepend(Frame& f, const Mac& dst, const Mac& src, uint16_t tci) noexcept {
  const uint32_t len = kEthHeaderLen + (tci != 0 ? kVlanTagLen : 0);
  uint8_t* p = f.prepend(len);
  if (p == nullptr) return false;
  std::memcpy(p, dst.data(), 6);
  std::memcpy(p + 6, src.data(), 6);
  uint8_t* type = p + 12;
  if (tci != 0) {
    store_be16(type, kEtherTypeVlan);
    store_be16(type + 2, tci);
    type += kVlanTagLen;
  }
  store_be16(type, kEtherTypeIpv4);
  return true;
}

bool vlan_push(Frame& f, uint16_t tpid, uint16_t tci) noexcept {
  if (f.data_len < kEthHeaderLen) return false;
  uint8_t* p = f.prepend(kVlanTagLen);
  if (p == nullptr) return false;
  std::memmove(p, p + kVlanTagLen, 12);
  store_be16(p + 12, tpid);
  store_be16(p + 14, tci);
  return true;
}

bool vlan_pop(Frame& f) noexcept {
  if (f.data_len < kEthHeaderLen + kVlanTagLen) return false;
  uint8_t* p = f.data();
  const uint16_t type = load_be16(p + 12);
  if (type != kEtherTypeVlan && type != kEtherTypeQinQ) return false;
  std::memmove(p + kVlanTagLen, p, 12);
  f.adj(kVlanTagLen);
  return true;
}

bool vlan_set_vid(Frame& f, uint16_t vid) noexcept {
  if (f.data_len < kEthHeaderLen) return false;
  uint8_t* p = f.data();
  const uint16_t type = load_be16(p + 12);
  if (type != kEtherTypeVlan && type != kEtherTypeQinQ) {
    return vlan_push(f, kEtherTypeVlan, vid & 0x0fff);
  }
  if (f.data_len < kEthHeaderLen + kVlanTagLen) return false;
  // Priority and DEI stay as they were.
  store_be16(p + 14, static_cast<uint16_t>((load_be16(p + 14) & 0xf000) | (vid & 0x0fff)));
  return true;
}

void nat_rewrite_src(uint8_t* ip, uint8_t* l4, uint32_t addr, uint16_t port) noexcept {
  nat_rewrite(ip, l4, 12, 0, addr, port);
}

void nat_rewrite_dst(uint8_t* ip, uint8_t* l4, uint32_t addr, uint16_t port) noexcept {
  nat_rewrite(ip, l4, 16, 2, addr, port);
}

void ttl_decrement(uint8_t* ip) noexcept {
  // TTL is the high byte of the word it shares with the protocol.
  const uint16_t before = load_be16(ip + 8);
  const uint16_t after = static_cast<uint16_t>(before - 0x0100);
  ip[8] = static_cast<uint8_t>(after >> 8);
  store_be16(ip + 10, checksum_update16(load_be16(ip + 10), before, after));
}

bool udp_encap(Frame& f, const UdpHeaders& h) noexcept {
  static_assert(kUdpEncapLen == kEthHeaderLen + kIpv4MinHeaderLen + kUdpHeaderLen);
  const uint32_t udp_len = f.data_len + kUdpHeaderLen;
  if (f.headroom() < kUdpEncapLen || udp_len + kIpv4MinHeaderLen > 0xffff) return false;
  uint8_t* p = f.prepend(kUdpEncapLen);
  std::memcpy(p, h.dst_mac.data(), 6);
  std::memcpy(p + 6, h.src_mac.data(), 6);
  store_be16(p + 12, kEtherTypeIpv4);
  uint8_t* ip = p + kEthHeaderLen;
  write_ipv4(ip, 0, static_cast<uint16_t>(kIpv4MinHeaderLen + udp_len), kProtoUdp, h.src_addr,
             h.dst_addr);
  uint8_t* udp = ip + kIpv4MinHeaderLen;
  store_be16(udp, h.sport);
  store_be16(udp + 2, h.dport);
  store_be16(udp + 4, static_cast<uint16_t>(udp_len));
  store_be16(udp + 6, 0);
  // Pseudo-header (RFC 768): addresses, protocol, UDP length; 0 is sent as 0xFFFF.
  uint32_t sum = ones_sum(ip + 12, 8);
  sum += kProtoUdp + udp_len;
  const uint16_t c = internet_checksum(udp, udp_len, sum);
  store_be16(udp + 6, c == 0 ? 0xffff : c);
  return true;
}

bool gtpu_echo_response(Frame& f, const PacketView& v, uint32_t src_addr) noexcept {
  // The response: IPv4 (20) + UDP (8) + GTP-U with S (12) + Recovery IE (2), no extension
  // headers and no IPv4 options. The request has no Recovery IE, so the response may be up to
  // 2 bytes longer (tailroom) or shorter (trimmed).
  constexpr uint32_t kGtpLen = kGtpuHeaderLen + kGtpuOptLen + 2;
  constexpr uint32_t kIpLen = kIpv4MinHeaderLen + kUdpHeaderLen + kGtpLen;
  if (!v.has_gtpu || v.gtpu.type != kGtpuMsgEchoRequest) return false;
  const uint32_t l2 = v.outer.off;
  if (l2 + kIpLen > f.data_len && f.append(l2 + kIpLen - f.data_len) == nullptr) return false;
  uint8_t* p = f.data();
  uint8_t mac[6];
  std::memcpy(mac, p, 6);
  std::memcpy(p, p + 6, 6);
  std::memcpy(p + 6, mac, 6);
  uint8_t* ip = p + l2;
  write_ipv4(ip, v.outer.tos & 0xfc, kIpLen, kProtoUdp, src_addr, v.outer.src);
  uint8_t* udp = ip + kIpv4MinHeaderLen;
  store_be16(udp, kGtpuPort);
  store_be16(udp + 2, v.outer.sport);  // the request's source port (TS 29.281 4.4.2.2)
  store_be16(udp + 4, kUdpHeaderLen + kGtpLen);
  store_be16(udp + 6, 0);
  uint8_t* gtp = udp + kUdpHeaderLen;
  gtp[0] = 0x30 | kGtpuFlagS;
  gtp[1] = kGtpuMsgEchoResponse;
  store_be16(gtp + 2, kGtpLen - kGtpuHeaderLen);
  store_be32(gtp + 4, 0);
  store_be16(gtp + 8, v.gtpu.seq);
  gtp[10] = 0;  // N-PDU number
  gtp[11] = 0;  // no extension header
  gtp[12] = kGtpuIeRecovery;
  gtp[13] = 0;  // restart counter: "shall be set to zero" in GTP-U (TS 29.281 8.2)
  f.trim(f.data_len - (l2 + kIpLen));
  return true;
}

}  // namespace simcore::dp
