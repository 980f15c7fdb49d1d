// dataplane/testing/frame_builder.h — test frames built from scratch, layer by layer, with
// lengths and checksums computed here (its own checksum code, not packet/checksum.h), so the
// tests check the data plane against an independent construction. Test-only; host-order
// arguments.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/packet/frame.h"
#include "dataplane/packet/rewrite.h"

namespace simcore::dp::testing {

using Bytes = std::vector<uint8_t>;

// Returns the host-order address of a dotted quad (aborts on a typo).
uint32_t ip(const char* dotted);

struct Ip4 {
  uint32_t src = 0;
  uint32_t dst = 0;
  uint8_t ttl = 64;
  uint8_t tos = 0;
  uint16_t id = 0;
  uint16_t frag = 0;  // flags and offset as on the wire
  Bytes options;      // a multiple of 4 bytes
};
inline Ip4 ip4(uint32_t src, uint32_t dst, uint8_t ttl = 64) {
  Ip4 h;
  h.src = src;
  h.dst = dst;
  h.ttl = ttl;
  return h;
}

// L4 headers with their payload; TCP and UDP checksums cover the pseudo-header of `ip`.
Bytes udp(const Ip4& ip, uint16_t sport, uint16_t dport, const Bytes& payload,
          bool checksum = true);
Bytes tcp(const Ip4& ip, uint16_t sport, uint16_t dport, const Bytes& payload);
Bytes icmp_echo(uint16_t id, uint16_t seq, const Bytes& payload);
// An ICMP error (type, code, 4-byte "rest" word, e.g. the next-hop MTU in its low 16 bits)
// quoting `quote` (the offending IPv4 header + 8 bytes), checksum computed.
Bytes icmp_error(uint8_t type, uint8_t code, uint32_t rest, const Bytes& quote);
// The Ethernet/IPv4 ARP body (28 bytes, RFC 826): op 1 request, 2 reply.
Bytes arp(uint16_t op, const Mac& sha, uint32_t spa, const Mac& tha, uint32_t tpa);
// Returns true when the bytes sum to 0xffff (a correct RFC 1071 checksum inside them).
bool checksum_ok(const uint8_t* p, size_t n);
// IPv4 header (total length and checksum computed) followed by `l4`.
Bytes ipv4(const Ip4& ip, uint8_t proto, const Bytes& l4);
// A minimal IPv6 header (next header UDP, hop limit 64) followed by `payload`.
Bytes ipv6_udp(const Bytes& payload);

struct GtpuOpts {
  std::optional<uint16_t> seq;                 // sets S
  std::optional<uint8_t> npdu;                 // sets PN
  std::vector<std::pair<uint8_t, Bytes>> ext;  // (type, content of 4n-2 bytes); sets E
};
// GTP-U v1 header (length computed) followed by `payload`.
Bytes gtpu(uint8_t type, uint32_t teid, const Bytes& payload, const GtpuOpts& opts = {});

struct Tag {
  uint16_t tpid;
  uint16_t tci;
};
Bytes ethernet(const Mac& dst, const Mac& src, uint16_t ethertype, const Bytes& payload,
               const std::vector<Tag>& tags = {});

// Returns the checksum field value computed from scratch: IPv4 header at `ip`; TCP/UDP over the
// pseudo-header (UDP 0 sent as 0xffff).
uint16_t ipv4_header_checksum(const uint8_t* ip);
uint16_t l4_checksum(const uint8_t* ip);

// A frame in its own buffer with `headroom` bytes before it and some tailroom.
struct OwnedFrame {
  Bytes storage;
  Frame frame;
  explicit OwnedFrame(const Bytes& bytes, uint32_t headroom = kDefaultHeadroom,
                      uint32_t tailroom = 64);
  OwnedFrame(const OwnedFrame&) = delete;
  OwnedFrame& operator=(const OwnedFrame&) = delete;
  Bytes out() const { return Bytes(frame.data(), frame.data() + frame.data_len); }
};

// Returns "aa bb cc ..." for failure messages.
std::string hex(const Bytes& b);

}  // namespace simcore::dp::testing
