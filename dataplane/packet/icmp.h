// dataplane/packet/icmp.h — ICMP error messages built in place (RFC 792, RFC 1812 4.3.2):
// Time Exceeded and Destination Unreachable / Fragmentation Needed (RFC 1191). Addresses host
// order. Any thread on its own frames; no allocation; false means f is unchanged.
#pragma once

#include <cstdint>

#include "dataplane/packet/frame.h"
#include "dataplane/packet/parse.h"

namespace simcore::dp {

// Bytes of the offending datagram quoted after its IPv4 header (RFC 792: "the internet header
// plus the first 64 bits of the original data datagram").
inline constexpr uint32_t kIcmpQuoteData = 8;

// Whether an ICMP error may be sent about the parsed IPv4 packet `ip`
// (RFC 1122 3.2.2, RFC 1812 4.3.2.7): not about an ICMP error, a non-first fragment, or a
// packet from 0/8, loopback, multicast/class E or the limited broadcast, or to multicast or
// broadcast.
bool icmp_error_allowed(const Ipv4View& ip) noexcept;

// Replaces f's content with an IPv4 packet (no L2) from `src` to the offending packet's
// source: TOS 0xc0 (RFC 1812 4.3.2.5), id 0, DF, TTL 64, then ICMP (type, code, `mtu` in the
// low 16 bits of the fourth word for Fragmentation Needed, else 0) and the quote: the
// offending IPv4 header (options included) and up to kIcmpQuoteData bytes after it. The
// offending packet starts at f.data() + ip.off; the quote stays where it is, so 28 bytes
// before it are needed (headroom plus what precedes it). Checksums computed.
bool icmp_error(Frame& f, const Ipv4View& ip, uint8_t type, uint8_t code, uint16_t mtu,
                uint32_t src) noexcept;

}  // namespace simcore::dp
