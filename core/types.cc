#include "core/types.h"

#include <charconv>

namespace simcore::core {
namespace {

// Parses a decimal number in [0, max] with no sign, no leading zeros (except "0"), nothing else.
bool parse_uint(std::string_view s, uint32_t max, uint32_t& out) {
  if (s.empty() || s.size() > 10 || (s.size() > 1 && s[0] == '0')) return false;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > max) return false;
  out = static_cast<uint32_t>(v);
  return true;
}

}  // namespace

Result<Ipv4> Ipv4::parse(std::string_view text) {
  uint32_t value = 0;
  size_t pos = 0;
  for (int i = 0; i < 4; ++i) {
    const size_t dot = i < 3 ? text.find('.', pos) : text.size();
    if (dot == std::string_view::npos) return Error::invalid("", "not a dotted-quad IPv4 address");
    uint32_t octet = 0;
    if (!parse_uint(text.substr(pos, dot - pos), 255, octet)) {
      return Error::invalid("", "not a dotted-quad IPv4 address");
    }
    value = (value << 8) | octet;
    pos = dot + 1;
  }
  return Ipv4{value};
}

std::string Ipv4::str() const {
  return std::to_string(value >> 24) + "." + std::to_string((value >> 16) & 0xff) + "." +
         std::to_string((value >> 8) & 0xff) + "." + std::to_string(value & 0xff);
}

Result<Cidr> Cidr::parse(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return Error::invalid("", "CIDR needs a /length");
  auto addr = Ipv4::parse(text.substr(0, slash));
  if (!addr) return Error::invalid("", "CIDR address is not a dotted-quad IPv4 address");
  uint32_t len = 0;
  if (!parse_uint(text.substr(slash + 1), 32, len)) {
    return Error::invalid("", "CIDR prefix length must be 0 to 32");
  }
  Cidr c{*addr, static_cast<uint8_t>(len)};
  if ((addr->value & c.mask()) != addr->value) {
    return Error::invalid("", "CIDR has host bits set (did you mean " +
                                  Ipv4{addr->value & c.mask()}.str() + "/" +
                                  std::to_string(len) + "?)");
  }
  return c;
}

std::string Cidr::str() const { return base.str() + "/" + std::to_string(len); }

Result<PortRange> PortRange::parse(std::string_view text) {
  if (text == "*" || text == "any" || text == "ANY") return PortRange{};
  const size_t dash = text.find('-');
  uint32_t lo = 0;
  uint32_t hi = 0;
  if (!parse_uint(text.substr(0, dash), 65535, lo)) {
    return Error::invalid("", "port must be a number 0 to 65535");
  }
  hi = lo;
  if (dash != std::string_view::npos && !parse_uint(text.substr(dash + 1), 65535, hi)) {
    return Error::invalid("", "port must be a number 0 to 65535");
  }
  if (lo > hi) return Error::invalid("", "port range is inverted (low > high)");
  return PortRange{static_cast<uint16_t>(lo), static_cast<uint16_t>(hi)};
}

std::string PortRange::str() const {
  if (is_any()) return "*";
  if (lo == hi) return std::to_string(lo);
  return std::to_string(lo) + "-" + std::to_string(hi);
}

const char* protocol_name(Protocol p) noexcept {
  switch (p) {
    case Protocol::kAny: return "ANY";
    case Protocol::kIcmp: return "ICMP";
    case Protocol::kTcp: return "TCP";
    case Protocol::kUdp: return "UDP";
  }
  return "?";
}

Result<Protocol> parse_protocol(std::string_view text) {
  if (text == "ANY" || text == "any") return Protocol::kAny;
  if (text == "ICMP" || text == "icmp") return Protocol::kIcmp;
  if (text == "TCP" || text == "tcp") return Protocol::kTcp;
  if (text == "UDP" || text == "udp") return Protocol::kUdp;
  return Error::invalid("", "protocol must be one of ANY, ICMP, TCP, UDP");
}

}  // namespace simcore::core
