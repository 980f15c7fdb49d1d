// dataplane/packet/wire.h — big-endian loads and stores on raw frame bytes, and the header
// constants of the protocols the data plane parses and builds. Byte-wise, so any alignment is
// fine. Pure; any thread.
#pragma once

#include <cstdint>

namespace simcore::dp {

inline uint16_t load_be16(const uint8_t* p) noexcept {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
inline uint32_t load_be32(const uint8_t* p) noexcept {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline void store_be16(uint8_t* p, uint16_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void store_be32(uint8_t* p, uint32_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

inline constexpr uint32_t kEthHeaderLen = 14;
inline constexpr uint32_t kVlanTagLen = 4;
inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;  // 802.1Q C-tag
inline constexpr uint16_t kEtherTypeQinQ = 0x88a8;  // 802.1ad S-tag
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint32_t kArpLen = 28;  // Ethernet/IPv4 ARP body (RFC 826)
inline constexpr uint16_t kArpOpRequest = 1;
inline constexpr uint16_t kArpOpReply = 2;
inline constexpr uint32_t kIpv4MinHeaderLen = 20;
inline constexpr uint32_t kUdpHeaderLen = 8;
inline constexpr uint32_t kTcpMinHeaderLen = 20;
inline constexpr uint32_t kIcmpHeaderLen = 8;
inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint16_t kGtpuPort = 2152;  // TS 29.281 4.4.2.3
inline constexpr uint16_t kGtpcPort = 2123;
inline constexpr uint16_t kIkePort = 500;       // RFC 7296 2
inline constexpr uint16_t kIkeNatTPort = 4500;  // RFC 3948: IKE and UDP-encapsulated ESP
inline constexpr uint8_t kProtoEsp = 50;
// The most ESP tunnel mode adds to an inner packet: outer IPv4 20, UDP 8 (NAT-T), SPI and
// sequence 8, IV 16 (CBC), padding and trailer 17 (CBC), ICV 16.
inline constexpr uint32_t kEspOverhead = 20 + 8 + 8 + 16 + 17 + 16;
inline constexpr uint16_t kIpv4FlagDf = 0x4000;
inline constexpr uint8_t kIcmpEchoReply = 0;
inline constexpr uint8_t kIcmpDestUnreachable = 3;
inline constexpr uint8_t kIcmpFragNeeded = 4;  // code of type 3 (RFC 1191)
inline constexpr uint8_t kIcmpTimeExceeded = 11;
inline constexpr uint32_t kGtpuHeaderLen = 8;  // mandatory part
inline constexpr uint32_t kGtpuOptLen = 4;     // sequence, N-PDU, next extension type
inline constexpr uint8_t kGtpuFlagPn = 0x01;
inline constexpr uint8_t kGtpuFlagS = 0x02;
inline constexpr uint8_t kGtpuFlagE = 0x04;

// GTP-U message types handled by a user plane (TS 29.281 6.1).
inline constexpr uint8_t kGtpuMsgEchoRequest = 1;
inline constexpr uint8_t kGtpuMsgEchoResponse = 2;
inline constexpr uint8_t kGtpuMsgErrorIndication = 26;
inline constexpr uint8_t kGtpuMsgEndMarker = 254;
inline constexpr uint8_t kGtpuMsgGpdu = 255;
inline constexpr uint8_t kGtpuIeRecovery = 14;  // TS 29.281 8.2, TV: type + restart counter

// Outer headers of a G-PDU without optional fields: IPv4 + UDP + GTP-U.
inline constexpr uint32_t kGtpuEncapLen = kIpv4MinHeaderLen + kUdpHeaderLen + kGtpuHeaderLen;

}  // namespace simcore::dp
