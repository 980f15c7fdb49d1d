// control/gtpc/wire.h — the encodings GTPv1-C and GTPv2-C share: a bounds-checked big-endian
// reader and an appending writer, TBCD digit strings (IMSI, MSISDN, IMEI), APNs as DNS labels,
// and the Protocol Configuration Options DNS containers. A reader never reads past its span: a
// short read sets fail() and returns zeros, so a decoder checks once at the end.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.h"

namespace simcore::gtpc {

class Reader {
 public:
  explicit Reader(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  uint8_t u8();
  uint16_t u16();
  uint32_t u24();
  uint32_t u32();
  // The next n bytes (empty and fail() when fewer remain).
  std::span<const uint8_t> take(size_t n);
  void skip(size_t n) { (void)take(n); }
  size_t left() const noexcept { return bytes_.size() - pos_; }
  size_t pos() const noexcept { return pos_; }
  bool fail() const noexcept { return fail_; }

 private:
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
  bool fail_ = false;
};

class Writer {
 public:
  explicit Writer(std::vector<uint8_t>& out) : out_(out) {}
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v);
  void u24(uint32_t v);
  void u32(uint32_t v);
  void bytes(std::span<const uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }
  // Where the next byte goes, and a big-endian u16 written back at `at` (length fields).
  size_t pos() const noexcept { return out_.size(); }
  void patch_u16(size_t at, uint16_t v);

 private:
  std::vector<uint8_t>& out_;
};

// TBCD (TS 29.002): two digits per byte, low nibble first, 0xF filler in the last high nibble.
// Decoding stops at the filler, after which only 0xFF padding bytes may follow (GTPv1's fixed
// 8-byte IMSI); returns nullopt on a non-digit nibble or anything else after the filler.
std::optional<std::string> tbcd_decode(std::span<const uint8_t> bytes);
// Encodes digits (1..16 of '0'-'9'); an odd count gets the 0xF filler.
std::vector<uint8_t> tbcd_encode(std::string_view digits);

// APN (TS 23.003 9.1): length-prefixed labels. Decoding returns the dotted form; nullopt when a
// label overruns or is empty.
std::optional<std::string> apn_decode(std::span<const uint8_t> bytes);
std::vector<uint8_t> apn_encode(std::string_view dotted);

// MCC/MNC as packed in Serving Network (GTPv2 8.18) and RAI/ULI (GTPv1 7.7.3): byte 0 MCC2|MCC1,
// byte 1 MNC3|MCC3, byte 2 MNC2|MNC1 (MNC3 = 0xF for two-digit MNCs). nullopt on bad digits.
struct Plmn {
  uint16_t mcc = 0;
  uint16_t mnc = 0;
  bool mnc_three_digits = false;
};
std::optional<Plmn> plmn_decode(std::span<const uint8_t> three);

// Protocol Configuration Options (TS 24.008 10.5.6.3) after the IE header: byte 0x80 (ext bit,
// PPP config protocol), then containers (id u16, length u8, contents).
inline constexpr uint16_t kPcoDnsIpv4 = 0x000D;  // DNS Server IPv4 Address Request / reply
inline constexpr uint16_t kPcoIpcp = 0x8021;     // IPCP: primary/secondary DNS (RFC 1877)
struct PcoAsk {
  bool dns_ipv4 = false;  // container 0x000D present
  bool ipcp = false;      // an IPCP Configure-Request (asks DNS through options 129/131)
  uint8_t ipcp_id = 0;    // its identifier, echoed in the Configure-Nak/Ack
};
// What the peer asked for; unknown containers are ignored, a malformed PCO reads as asking
// nothing.
PcoAsk pco_decode(std::span<const uint8_t> contents);
// The reply PCO contents: one 0x000D container per server when asked, and an IPCP
// Configure-Nak carrying primary/secondary DNS when IPCP asked.
std::vector<uint8_t> pco_encode(const PcoAsk& ask, std::span<const core::Ipv4> dns);

}  // namespace simcore::gtpc
