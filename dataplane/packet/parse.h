// dataplane/packet/parse.h — the packet view: one pass over a received frame (Ethernet II, up
// to two 802.1Q/802.1ad tags, IPv4 with options, UDP/TCP/ICMP, GTP-U v1 with its optional
// fields and extension headers, the inner IPv4 of a G-PDU) into a small POD of offsets and
// host-order fields, plus a status that names every malformation. Any thread; never reads
// outside [frame, frame + len); no allocation, no exceptions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace simcore::dp {

// Every outcome of parsing, each with its own counter. The names are the counters'. Statuses
// after kOk up to kArp are well-formed GTP-U signalling and ARP; the rest are drops.
#define SIMCORE_PARSE_STATUSES(X)                                                                 \
  X(kOk, "ok", "parsed: IPv4, or a GTP-U G-PDU carrying IPv4")                                    \
  X(kGtpuEchoRequest, "gtpu.echo_request", "GTP-U Echo Request (answered on the access port)")    \
  X(kGtpuEchoResponse, "gtpu.echo_response", "GTP-U Echo Response (consumed)")                    \
  X(kGtpuErrorIndication, "gtpu.error_indication", "GTP-U Error Indication (consumed)")           \
  X(kGtpuEndMarker, "gtpu.end_marker", "GTP-U End Marker (consumed)")                             \
  X(kArp, "arp", "Ethernet/IPv4 ARP request or reply (the pipeline answers, punts or drops)") \
  X(kMalformedEthernet, "malformed.ethernet", "shorter than the Ethernet header and its tags")    \
  X(kUnsupportedVlanDepth, "unsupported.vlan_depth", "more than two VLAN tags")                   \
  X(kUnsupportedEthertype, "unsupported.ethertype", "not IPv4 or ARP (IPv6, ...)")                \
  X(kMalformedArp, "malformed.arp", "ARP truncated, not Ethernet/IPv4, or not request/reply")     \
  X(kMalformedIpv4, "malformed.ipv4", "bad version or IHL, total length beyond the frame")        \
  X(kIpv4BadChecksum, "ipv4.bad_checksum", "IPv4 header checksum does not verify")                \
  X(kIpv4Fragment, "ipv4.fragment", "IPv4 fragment: no reassembly")                               \
  X(kMalformedUdp, "malformed.udp", "UDP header truncated or length not within IPv4")             \
  X(kMalformedTcp, "malformed.tcp", "TCP header truncated or data offset below 5")                \
  X(kMalformedIcmp, "malformed.icmp", "ICMP shorter than its 8-byte header")                      \
  X(kMalformedGtpu, "malformed.gtpu", "bad version/PT, truncated, length not UDP's, bad ext")     \
  X(kGtpuUnknownMessage, "gtpu.unknown_message", "GTP-U message type a user plane ignores")       \
  X(kMalformedInnerIp, "malformed.inner_ip", "G-PDU payload is not a well-formed IP packet")      \
  X(kUnsupportedInnerIpv6, "unsupported.inner_ipv6", "G-PDU carrying IPv6: counted, not policed") \
  X(kInnerIpv4BadChecksum, "inner_ipv4.bad_checksum", "inner IPv4 header checksum is wrong")      \
  X(kInnerIpv4Fragment, "inner_ipv4.fragment", "inner IPv4 fragment: no reassembly")              \
  X(kMalformedInnerL4, "malformed.inner_l4", "inner UDP/TCP/ICMP header truncated or wrong")

enum class ParseStatus : uint8_t {
#define SIMCORE_X(id, name, desc) id,
  SIMCORE_PARSE_STATUSES(SIMCORE_X)
#undef SIMCORE_X
      kCount
};
inline constexpr size_t kParseStatusCount = static_cast<size_t>(ParseStatus::kCount);

// Returns the counter name, e.g. "malformed.gtpu".
const char* parse_status_name(ParseStatus s) noexcept;
// Returns a one-line description for counter listings.
const char* parse_status_description(ParseStatus s) noexcept;

// Whether UDP to port 2152 is decoded as GTP-U: on the access port it is; on the core port it
// is a Thing's ordinary traffic.
enum class ParseMode : uint8_t { kAccess, kCore };

// One IPv4 header and what follows it. Offsets are from the start of the frame; fields host
// order. has_l4 is set when the L4 header was read (never for a non-first fragment); sport and
// dport are 0 for protocols without ports (ICMP carries its echo identifier nowhere here).
struct Ipv4View {
  uint16_t off;
  uint16_t hdr_len;    // IHL * 4
  uint16_t total_len;  // IPv4 total length
  uint8_t tos;
  uint8_t ttl;
  uint8_t proto;
  uint8_t has_l4;
  uint16_t frag;  // flags and fragment offset as on the wire
  uint32_t src;
  uint32_t dst;
  uint16_t l4_off;
  uint16_t sport;
  uint16_t dport;
  uint8_t icmp_type;
  uint8_t icmp_code;
};

// The GTP-U header (TS 29.281 5.1). seq and npdu are 0 unless S / PN is set.
struct GtpuView {
  uint16_t off;
  uint8_t flags;  // first octet: version, PT, E, S, PN
  uint8_t type;
  uint16_t length;  // the header's length field: octets after the first 8
  uint16_t seq;
  uint32_t teid;
  uint8_t npdu;
  uint8_t ext_count;     // extension headers walked
  uint16_t payload_off;  // T-PDU or IEs, after the optional fields and extension headers
  uint16_t payload_len;
};

// An Ethernet/IPv4 ARP body (RFC 826): sender hardware address at off + 8, target hardware
// address at off + 18.
struct ArpView {
  uint16_t off;
  uint16_t op;  // 1 request, 2 reply
  uint32_t spa;  // sender protocol address
  uint32_t tpa;  // target protocol address
};

struct PacketView {
  uint16_t frame_len;
  uint16_t ethertype;  // after the tags
  uint8_t vlan_count;
  uint8_t has_gtpu;
  uint8_t inner_version;  // G-PDU payload: 4, 6, or 0 when none
  uint8_t reserved;
  uint16_t vlan_tpid[2];  // outermost first
  uint16_t vlan_tci[2];
  Ipv4View outer;
  GtpuView gtpu;
  Ipv4View inner;  // valid when inner_version == 4
  ArpView arp;     // valid when the status is kArp
};
static_assert(std::is_trivially_copyable_v<PacketView> && sizeof(PacketView) <= 128);

// Parses `len` bytes of an Ethernet frame into `v`. Returns kOk when everything the mode looks
// at is well formed; otherwise the first malformation found, outermost first, with `v` filled
// up to it. Fields after the failing header are zero.
ParseStatus parse_frame(const uint8_t* frame, uint32_t len, ParseMode mode, PacketView& v) noexcept;

}  // namespace simcore::dp
