#include "dataplane/packet/icmp.h"

#include <algorithm>

#include "dataplane/packet/checksum.h"
#include "dataplane/packet/rewrite.h"
#include "dataplane/packet/wire.h"

namespace simcore::dp {
namespace {

constexpr uint16_t kFragOffsetMask = 0x1fff;

// Source addresses an error must never be sent to (RFC 1812 4.3.2.7, 5.3.7).
bool bad_source(uint32_t a) noexcept {
  const uint32_t first = a >> 24;
  return first == 0 || first == 127 || first >= 224;
}

bool is_error_type(uint8_t type) noexcept {
  // Destination Unreachable, Source Quench, Redirect, Time Exceeded, Parameter Problem.
  return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

}  // namespace

bool icmp_error_allowed(const Ipv4View& ip) noexcept {
  if ((ip.frag & kFragOffsetMask) != 0) return false;
  if (bad_source(ip.src)) return false;
  if ((ip.dst >> 28) == 0xe || ip.dst == 0xffffffffu) return false;
  if (ip.proto == kProtoIcmp && (!ip.has_l4 || is_error_type(ip.icmp_type))) return false;
  return true;
}

bool icmp_error(Frame& f, const Ipv4View& ip, uint8_t type, uint8_t code, uint16_t mtu,
                uint32_t src) noexcept {
  constexpr uint32_t kPrefix = kIpv4MinHeaderLen + kIcmpHeaderLen;
  const uint32_t quote = std::min<uint32_t>(ip.hdr_len + kIcmpQuoteData, ip.total_len);
  if (uint32_t{ip.off} + quote > f.data_len) return false;
  if (f.headroom() + ip.off < kPrefix) return false;
  const uint32_t dst = ip.src;
  f.adj(ip.off);
  f.trim(f.data_len - quote);
  uint8_t* h = f.prepend(kPrefix);
  const uint16_t total = static_cast<uint16_t>(kPrefix + quote);
  h[0] = 0x45;
  h[1] = 0xc0;
  store_be16(h + 2, total);
  store_be16(h + 4, 0);
  store_be16(h + 6, kIpv4FlagDf);
  h[8] = kOuterTtl;
  h[9] = kProtoIcmp;
  store_be16(h + 10, 0);
  store_be32(h + 12, src);
  store_be32(h + 16, dst);
  store_be16(h + 10, internet_checksum(h, kIpv4MinHeaderLen));
  uint8_t* icmp = h + kIpv4MinHeaderLen;
  icmp[0] = type;
  icmp[1] = code;
  store_be16(icmp + 2, 0);
  store_be16(icmp + 4, 0);
  store_be16(icmp + 6, mtu);
  store_be16(icmp + 2, internet_checksum(icmp, kIcmpHeaderLen + quote));
  return true;
}

}  // namespace simcore::dp
