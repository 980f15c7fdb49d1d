// dataplane/packet/rewrite.h — building and rewriting headers in place: GTP-U encapsulation and
// decapsulation, 802.1Q push/pop/set, Ethernet prepend, NAT address/port rewrites and TTL
// decrement with incremental checksums (RFC 1624). Operate on a Frame (headroom model of
// rte_mbuf). Addresses, ports and TEIDs are host order. Any thread on its own frames; no
// allocation; a helper that cannot apply (no headroom, too short) returns false and changes
// nothing.
#pragma once

#include <array>
#include <cstdint>

#include "dataplane/packet/frame.h"
#include "dataplane/packet/parse.h"

namespace simcore::dp {

using Mac = std::array<uint8_t, 6>;

// The outer headers of a G-PDU: Ethernet (no tag) / IPv4 / UDP 2152 → 2152 / GTP-U.
struct GtpuTunnel {
  Mac dst_mac;
  Mac src_mac;
  uint32_t src_addr;
  uint32_t dst_addr;
  uint32_t teid;
};

// Outer IPv4 fields of every packet we encapsulate: TTL 64, DF set with id 0 (an atomic
// datagram, RFC 6864), UDP checksum 0 (allowed for GTP-U over IPv4, TS 29.281 4.4.2.1 and
// RFC 768).
inline constexpr uint8_t kOuterTtl = 64;

// Prepends Ethernet/IPv4/UDP/GTP-U (no optional fields) in front of the IPv4 packet that
// starts at f.data() and fills f exactly. The outer DSCP is the inner one (ECN not copied).
bool gtpu_encap(Frame& f, const GtpuTunnel& t) noexcept;

// Leaves only the G-PDU's inner IPv4 packet in f (outer headers and any Ethernet padding
// removed). `v` is f's view from parse_frame with inner_version 4.
bool gtpu_decap(Frame& f, const PacketView& v) noexcept;

// Leaves only the outer IPv4 packet (Ethernet, tags and padding removed).
bool strip_l2(Frame& f, const PacketView& v) noexcept;

// Prepends an Ethernet header (with one 802.1Q tag when tci != 0) to the IPv4 packet at
// f.data().
bool eth_prepend(Frame& f, const Mac& dst, const Mac& src, uint16_t tci) noexcept;

// 802.1Q on an Ethernet frame at f.data(): push a tag outermost, pop the outermost one (false
// when there is none), or set the VID of the outermost (pushing one when there is none).
bool vlan_push(Frame& f, uint16_t tpid, uint16_t tci) noexcept;
bool vlan_pop(Frame& f) noexcept;
bool vlan_set_vid(Frame& f, uint16_t vid) noexcept;

// Rewrites the source or destination address and L4 port of the IPv4 packet at `ip` (its
// header checksum, and the TCP/UDP checksum over the pseudo-header; a UDP checksum of 0 stays
// 0). `l4` is the L4 header or nullptr (ports then untouched). The packet must have been
// parsed: lengths are not checked again.
void nat_rewrite_src(uint8_t* ip, uint8_t* l4, uint32_t addr, uint16_t port) noexcept;
void nat_rewrite_dst(uint8_t* ip, uint8_t* l4, uint32_t addr, uint16_t port) noexcept;

// Decrements the TTL of the IPv4 header at `ip` and updates its checksum. The caller drops
// packets whose TTL is 0 or 1 before (they would expire here).
void ttl_decrement(uint8_t* ip) noexcept;

// The headers of a datagram control sends out of a port (GTP-C responses and requests).
struct UdpHeaders {
  Mac dst_mac;
  Mac src_mac;
  uint32_t src_addr;
  uint32_t dst_addr;
  uint16_t sport;
  uint16_t dport;
};
inline constexpr uint32_t kUdpEncapLen = 14 + 20 + 8;  // Ethernet, IPv4, UDP

// Prepends Ethernet (no tag) / IPv4 (DF, TTL 64) / UDP with its checksum in front of the
// payload that fills f. False (f unchanged) without kUdpEncapLen of headroom or when the
// datagram would exceed 65535 bytes.
bool udp_encap(Frame& f, const UdpHeaders& h) noexcept;

// Turns the GTP-U Echo Request in f (parsed as `v`) into its Echo Response in place: MACs,
// addresses and ports swapped, the source address `src_addr`, the same sequence number and a
// Recovery IE with restart counter 0 (TS 29.281 7.2.2, 8.2). False (f unchanged) when the
// response would need more tailroom than f has.
bool gtpu_echo_response(Frame& f, const PacketView& v, uint32_t src_addr) noexcept;

}  // namespace simcore::dp
