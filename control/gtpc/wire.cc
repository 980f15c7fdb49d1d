#include "control/gtpc/wire.h"

namespace simcore::gtpc {

uint8_t Reader::u8() {
  std::span<const uint8_t> b = take(1);
  return b.empty() ? 0 : b[0];
}

uint16_t Reader::u16() {
  std::span<const uint8_t> b = take(2);
  return b.empty() ? 0 : static_cast<uint16_t>(b[0] << 8 | b[1]);
}

uint32_t Reader::u24() {
  std::span<const uint8_t> b = take(3);
  return b.empty() ? 0 : uint32_t{b[0]} << 16 | uint32_t{b[1]} << 8 | b[2];
}

uint32_t Reader::u32() {
  std::span<const uint8_t> b = take(4);
  return b.empty() ? 0 : uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | b[3];
}

std::span<const uint8_t> Reader::take(size_t n) {
  if (fail_ || n > left()) {
    fail_ = true;
    return {};
  }
  std::span<const uint8_t> b = bytes_.subspan(pos_, n);
  pos_ += n;
  return b;
}

void Writer::u16(uint16_t v) {
  out_.push_back(static_cast<uint8_t>(v >> 8));
  out_.push_back(static_cast<uint8_t>(v));
}

void Writer::u24(uint32_t v) {
  out_.push_back(static_cast<uint8_t>(v >> 16));
  u16(static_cast<uint16_t>(v));
}

void Writer::u32(uint32_t v) {
  u16(static_cast<uint16_t>(v >> 16));
  u16(static_cast<uint16_t>(v));
}

void Writer::patch_u16(size_t at, uint16_t v) {
  out_.at(at) = static_cast<uint8_t>(v >> 8);
  out_.at(at + 1) = static_cast<uint8_t>(v);
}

std::optional<std::string> tbcd_decode(std::span<const uint8_t> bytes) {
  // After the filler only whole 0xFF bytes may follow (fixed-size IEs pad with them).
  auto rest_is_padding = [&](size_t from) {
    for (size_t k = from; k < bytes.size(); ++k) {
      if (bytes[k] != 0xff) return false;
    }
    return true;
  };
  std::string digits;
  for (size_t i = 0; i < bytes.size(); ++i) {
    const uint8_t lo = bytes[i] & 0x0f, hi = bytes[i] >> 4;
    if (lo == 0x0f) {
      if (hi != 0x0f || !rest_is_padding(i + 1)) return std::nullopt;
      return digits;
    }
    if (lo > 9) return std::nullopt;
    digits.push_back(static_cast<char>('0' + lo));
    if (hi == 0x0f) {
      if (!rest_is_padding(i + 1)) return std::nullopt;
      return digits;
    }
    if (hi > 9) return std::nullopt;
    digits.push_back(static_cast<char>('0' + hi));
  }
  return digits;
}

std::vector<uint8_t> tbcd_encode(std::string_view digits) {
  std::vector<uint8_t> out((digits.size() + 1) / 2, 0xff);
  for (size_t i = 0; i < digits.size(); ++i) {
    const uint8_t d = static_cast<uint8_t>(digits[i] - '0');
    uint8_t& b = out[i / 2];
    b = (i % 2 == 0) ? static_cast<uint8_t>((b & 0xf0) | d)
                     : static_cast<uint8_t>((b & 0x0f) | d << 4);
  }
  return out;
}

std::optional<std::string> apn_decode(std::span<const uint8_t> bytes) {
  std::string dotted;
  size_t i = 0;
  while (i < bytes.size()) {
    const size_t len = bytes[i++];
    if (len == 0 || len > bytes.size() - i) return std::nullopt;
    if (!dotted.empty()) dotted.push_back('.');
    dotted.append(reinterpret_cast<const char*>(bytes.data() + i), len);
    i += len;
  }
  if (dotted.empty()) return std::nullopt;
  return dotted;
}

std::vector<uint8_t> apn_encode(std::string_view dotted) {
  std::vector<uint8_t> out;
  while (!dotted.empty()) {
    const size_t dot = dotted.find('.');
    const std::string_view label = dotted.substr(0, dot);
    out.push_back(static_cast<uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
    dotted = dot == std::string_view::npos ? std::string_view{} : dotted.substr(dot + 1);
  }
  return out;
}

std::optional<Plmn> plmn_decode(std::span<const uint8_t> three) {
  if (three.size() != 3) return std::nullopt;
  const uint8_t mcc1 = three[0] & 0x0f, mcc2 = three[0] >> 4, mcc3 = three[1] & 0x0f;
  const uint8_t mnc3 = three[1] >> 4, mnc1 = three[2] & 0x0f, mnc2 = three[2] >> 4;
  if (mcc1 > 9 || mcc2 > 9 || mcc3 > 9 || mnc1 > 9 || mnc2 > 9 || (mnc3 > 9 && mnc3 != 0x0f)) {
    return std::nullopt;
  }
  Plmn p;
  p.mcc = static_cast<uint16_t>(mcc1 * 100 + mcc2 * 10 + mcc3);
  p.mnc_three_digits = mnc3 != 0x0f;
  p.mnc = p.mnc_three_digits ? static_cast<uint16_t>(mnc1 * 100 + mnc2 * 10 + mnc3)
                             : static_cast<uint16_t>(mnc1 * 10 + mnc2);
  return p;
}

namespace {

constexpr uint8_t kIpcpConfigureRequest = 1;
constexpr uint8_t kIpcpConfigureNak = 3;
constexpr uint8_t kIpcpPrimaryDns = 129;  // RFC 1877
constexpr uint8_t kIpcpSecondaryDns = 131;

}  // namespace

PcoAsk pco_decode(std::span<const uint8_t> contents) {
  PcoAsk ask;
  Reader r(contents);
  if (r.u8() == 0 || r.fail()) return ask;  // the 0x80 configuration-protocol byte
  while (r.left() >= 3) {
    const uint16_t id = r.u16();
    std::span<const uint8_t> c = r.take(r.u8());
    if (r.fail()) return PcoAsk{};
    if (id == kPcoDnsIpv4) ask.dns_ipv4 = true;
    if (id == kPcoIpcp && c.size() >= 4 && c[0] == kIpcpConfigureRequest) {
      ask.ipcp = true;
      ask.ipcp_id = c[1];
    }
  }
  return ask;
}

std::vector<uint8_t> pco_encode(const PcoAsk& ask, std::span<const core::Ipv4> dns) {
  std::vector<uint8_t> out;
  Writer w(out);
  w.u8(0x80);
  if (ask.ipcp && !dns.empty()) {
    const size_t servers = dns.size() > 1 ? 2 : 1;
    const auto ipcp_len = static_cast<uint16_t>(4 + 6 * servers);
    w.u16(kPcoIpcp);
    w.u8(static_cast<uint8_t>(ipcp_len));
    w.u8(kIpcpConfigureNak);
    w.u8(ask.ipcp_id);
    w.u16(ipcp_len);
    w.u8(kIpcpPrimaryDns);
    w.u8(6);
    w.u32(dns[0].value);
    if (servers > 1) {
      w.u8(kIpcpSecondaryDns);
      w.u8(6);
      w.u32(dns[1].value);
    }
  }
  if (ask.dns_ipv4) {
    for (const core::Ipv4 a : dns) {
      w.u16(kPcoDnsIpv4);
      w.u8(4);
      w.u32(a.value);
    }
  }
  return out;
}

}  // namespace simcore::gtpc
