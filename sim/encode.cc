#include "sim/encode.h"

#include <algorithm>

#include "dataplane/packet/checksum.h"
#include "dataplane/packet/frame.h"
#include "dataplane/packet/rewrite.h"
#include "dataplane/packet/wire.h"

namespace simcore::sim {
namespace {

using dp::kIpv4MinHeaderLen;
using dp::store_be16;
using dp::store_be32;

constexpr uint32_t kHeadroom = 64;  // Ethernet + VLAN, or Ethernet + IPv4 + UDP + GTP-U
constexpr uint16_t kFlagMf = 0x2000;
constexpr uint8_t kTcpSyn = 0x02;
constexpr uint8_t kTcpAck = 0x10;
constexpr uint8_t kTcpPsh = 0x08;

uint16_t l4_header_len(uint8_t proto) {
  switch (proto) {
    case dp::kProtoTcp: return dp::kTcpMinHeaderLen;
    case dp::kProtoUdp: return dp::kUdpHeaderLen;
    case dp::kProtoIcmp: return dp::kIcmpHeaderLen;
    default: return 0;
  }
}

// splitmix64: payload bytes that differ per packet but never per run.
uint64_t next(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void ip_checksum(uint8_t* ip) {
  store_be16(ip + 10, 0);
  store_be16(ip + 10, dp::internet_checksum(ip, (ip[0] & 0x0f) * 4u));
}

// TCP/UDP checksum over the RFC 793 / RFC 768 pseudo-header.
uint16_t l4_checksum(const uint8_t* ip, const uint8_t* l4, uint16_t len, uint8_t proto) {
  uint32_t sum = dp::ones_sum(ip + 12, 8);
  sum += proto;
  sum += len;
  const uint16_t c = dp::internet_checksum(l4, len, sum);
  return proto == dp::kProtoUdp && c == 0 ? 0xffff : c;
}

// Writes the inner IPv4 packet (`len` bytes, of which `l4_len` are the L4 part) at `ip`.
void write_inner(uint8_t* ip, uint16_t len, uint16_t l4_len, const core::PacketDesc& p,
                 const FrameSpec& spec) {
  uint64_t seed = spec.payload_seed;
  for (uint16_t i = kIpv4MinHeaderLen; i < len; i += 8) {
    const uint64_t r = next(seed);
    for (uint16_t k = 0; k < 8 && i + k < len; ++k) ip[i + k] = static_cast<uint8_t>(r >> (8 * k));
  }
  ip[0] = 0x45;
  ip[1] = 0;
  store_be16(ip + 2, len);
  store_be16(ip + 4, spec.ip_id);
  store_be16(ip + 6, dp::kIpv4FlagDf);
  ip[8] = 64;
  ip[9] = p.proto;
  store_be32(ip + 12, p.src.value);
  store_be32(ip + 16, p.dst.value);
  uint8_t* l4 = ip + kIpv4MinHeaderLen;
  const bool whole = l4_len >= l4_header_len(p.proto);
  if (whole) {
    switch (p.proto) {
      case dp::kProtoUdp:
        store_be16(l4, p.sport);
        store_be16(l4 + 2, p.dport);
        store_be16(l4 + 4, l4_len);
        store_be16(l4 + 6, 0);
        store_be16(l4 + 6, l4_checksum(ip, l4, l4_len, p.proto));
        break;
      case dp::kProtoTcp:
        store_be16(l4, p.sport);
        store_be16(l4 + 2, p.dport);
        store_be32(l4 + 4, static_cast<uint32_t>(next(seed)));
        store_be32(l4 + 8, spec.reply ? static_cast<uint32_t>(next(seed)) : 0);
        l4[12] = 5 << 4;
        l4[13] = spec.reply ? kTcpAck | kTcpPsh : kTcpSyn;
        store_be16(l4 + 14, 65535);
        store_be16(l4 + 16, 0);
        store_be16(l4 + 18, 0);
        store_be16(l4 + 16, l4_checksum(ip, l4, l4_len, p.proto));
        break;
      case dp::kProtoIcmp:
        l4[0] = spec.reply ? dp::kIcmpEchoReply : 8;  // echo reply / echo request
        l4[1] = 0;
        store_be16(l4 + 2, 0);
        store_be16(l4 + 4, static_cast<uint16_t>(p.src.value ^ p.dst.value));
        store_be16(l4 + 6, spec.ip_id);
        store_be16(l4 + 2, dp::internet_checksum(l4, l4_len));
        break;
      default: break;
    }
  }
  ip_checksum(ip);
}

}  // namespace

dp::ParseStatus malformation_status(Malformation m) noexcept {
  switch (m) {
    case Malformation::kNone: return dp::ParseStatus::kOk;
    case Malformation::kGtpuVersion:
    case Malformation::kGtpuLength: return dp::ParseStatus::kMalformedGtpu;
    case Malformation::kInnerChecksum: return dp::ParseStatus::kInnerIpv4BadChecksum;
    case Malformation::kInnerFragment: return dp::ParseStatus::kInnerIpv4Fragment;
    case Malformation::kInnerTruncatedL4: return dp::ParseStatus::kMalformedInnerL4;
    case Malformation::kIpv4Checksum: return dp::ParseStatus::kIpv4BadChecksum;
    case Malformation::kIpv4Fragment: return dp::ParseStatus::kIpv4Fragment;
    case Malformation::kIpv4Version: return dp::ParseStatus::kMalformedIpv4;
    case Malformation::kTruncatedEthernet: return dp::ParseStatus::kMalformedEthernet;
  }
  return dp::ParseStatus::kOk;
}

std::vector<uint8_t> encode_frame(const core::PacketDesc& p, const dp::PortConfig& ports,
                                  const FrameSpec& spec) {
  const bool up = p.dir == core::Direction::kUplink;
  const Malformation m = spec.malformed;
  // A truncated L4 header: only 4 of its bytes, inside a packet whose lengths all agree.
  const uint16_t full = static_cast<uint16_t>(kIpv4MinHeaderLen + l4_header_len(p.proto));
  const uint16_t len = m == Malformation::kInnerTruncatedL4
                           ? static_cast<uint16_t>(kIpv4MinHeaderLen + 4)
                           : std::max(spec.size, full);
  std::vector<uint8_t> buf(kHeadroom + len);
  dp::Frame f{buf, kHeadroom, len};
  write_inner(f.data(), len, static_cast<uint16_t>(len - kIpv4MinHeaderLen), p, spec);
  uint8_t* inner = f.data();
  if (m == Malformation::kInnerChecksum) inner[10] ^= 0x5a;
  if (m == Malformation::kInnerFragment || (m == Malformation::kIpv4Fragment && !up)) {
    store_be16(inner + 6, kFlagMf);
    ip_checksum(inner);
  }

  uint32_t outer_ip = 0;  // offset of the first IPv4 header in the frame
  if (up) {
    const dp::GtpuTunnel t{ports.access_mac, ports.access_next_hop_mac, spec.enodeb,
                           ports.access_addr, p.teid};
    dp::gtpu_encap(f, t);
    outer_ip = dp::kEthHeaderLen;
    uint8_t* gtpu = f.data() + dp::kEthHeaderLen + kIpv4MinHeaderLen + dp::kUdpHeaderLen;
    if (m == Malformation::kGtpuVersion) gtpu[0] = static_cast<uint8_t>((gtpu[0] & 0x1f) | 0x40);
    if (m == Malformation::kGtpuLength) {
      store_be16(gtpu + 2, static_cast<uint16_t>(dp::load_be16(gtpu + 2) + 64));
    }
  } else {
    dp::eth_prepend(f, ports.core_mac, ports.core_next_hop_mac, spec.vlan);
    outer_ip = dp::kEthHeaderLen + (spec.vlan != 0 ? dp::kVlanTagLen : 0);
  }
  uint8_t* ip = f.data() + outer_ip;
  if (m == Malformation::kIpv4Checksum) ip[10] ^= 0x5a;
  if (m == Malformation::kIpv4Version) {
    ip[0] = static_cast<uint8_t>(0x50 | (ip[0] & 0x0f));
    ip_checksum(ip);
  }
  if (m == Malformation::kTruncatedEthernet) f.data_len = 10;
  return {f.data(), f.data() + f.data_len};
}

}  // namespace simcore::sim
