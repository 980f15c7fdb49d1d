// core/types.h — value types shared by the model, the compiler and the data plane.
// Ipv4 is host byte order (for arithmetic and display); Ipv4Be/TeidBe/PortBe are network byte
// order as they appear on the wire and in the compiled session/NAT tables. There is no implicit
// conversion between the two: use to_be()/from_be().
#pragma once

#include <bit>
#include <compare>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace simcore::core {

constexpr uint32_t bswap32(uint32_t v) noexcept {
  return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}
constexpr uint16_t bswap16(uint16_t v) noexcept { return static_cast<uint16_t>((v >> 8) | (v << 8)); }
constexpr uint32_t host_to_be32(uint32_t v) noexcept {
  return std::endian::native == std::endian::little ? bswap32(v) : v;
}
constexpr uint16_t host_to_be16(uint16_t v) noexcept {
  return std::endian::native == std::endian::little ? bswap16(v) : v;
}

// An IPv4 address in host byte order.
struct Ipv4 {
  uint32_t value = 0;
  constexpr auto operator<=>(const Ipv4&) const = default;
  // Parses dotted quad "a.b.c.d"; fails on anything else (no leading zeros, no spaces).
  static Result<Ipv4> parse(std::string_view text);
  std::string str() const;
};

// An IPv4 address in network byte order, exactly as in the packet.
struct Ipv4Be {
  uint32_t raw = 0;
  constexpr bool operator==(const Ipv4Be&) const = default;
};
// A GTP-U tunnel endpoint id in network byte order.
struct TeidBe {
  uint32_t raw = 0;
  constexpr bool operator==(const TeidBe&) const = default;
};
// A UDP/TCP port in network byte order.
struct PortBe {
  uint16_t raw = 0;
  constexpr bool operator==(const PortBe&) const = default;
};

constexpr Ipv4Be to_be(Ipv4 a) noexcept { return {host_to_be32(a.value)}; }
constexpr Ipv4 from_be(Ipv4Be a) noexcept { return {host_to_be32(a.raw)}; }
constexpr TeidBe teid_be(uint32_t teid) noexcept { return {host_to_be32(teid)}; }
constexpr uint32_t teid_host(TeidBe t) noexcept { return host_to_be32(t.raw); }
constexpr PortBe port_be(uint16_t p) noexcept { return {host_to_be16(p)}; }
constexpr uint16_t port_host(PortBe p) noexcept { return host_to_be16(p.raw); }

// An IPv4 prefix. The base has no host bits set (parse rejects "10.0.0.1/24").
struct Cidr {
  Ipv4 base;
  uint8_t len = 32;

  constexpr auto operator<=>(const Cidr&) const = default;
  static Result<Cidr> parse(std::string_view text);
  std::string str() const;

  constexpr uint32_t mask() const noexcept { return len == 0 ? 0 : ~uint32_t{0} << (32 - len); }
  constexpr uint32_t first() const noexcept { return base.value; }
  constexpr uint32_t last() const noexcept { return base.value | ~mask(); }
  // Number of addresses, 2^(32-len), as 64 bits so /0 fits.
  constexpr uint64_t size() const noexcept { return uint64_t{1} << (32 - len); }
  constexpr bool contains(Ipv4 a) const noexcept { return (a.value & mask()) == base.value; }
  constexpr bool overlaps(const Cidr& o) const noexcept {
    return first() <= o.last() && o.first() <= last();
  }
};

// An inclusive port range, host order. The default matches every port.
struct PortRange {
  uint16_t lo = 0;
  uint16_t hi = 65535;
  constexpr auto operator<=>(const PortRange&) const = default;
  constexpr bool contains(uint16_t p) const noexcept { return lo <= p && p <= hi; }
  constexpr bool is_any() const noexcept { return lo == 0 && hi == 65535; }
  // Parses "80", "1000-2000" or "*"/"any"; fails on inverted or out-of-range bounds.
  static Result<PortRange> parse(std::string_view text);
  std::string str() const;
};

// IP protocol numbers used by firewall rules and NAT. kAny only appears in rules.
enum class Protocol : uint8_t { kAny = 0, kIcmp = 1, kTcp = 6, kUdp = 17 };
const char* protocol_name(Protocol p) noexcept;
Result<Protocol> parse_protocol(std::string_view text);
constexpr bool has_ports(uint8_t ip_proto) noexcept { return ip_proto == 6 || ip_proto == 17; }

// A typed integer id: ThingId and GroupId do not mix. 0 is "none".
template <class Tag, class Rep = uint32_t>
struct Id {
  Rep value = 0;
  constexpr auto operator<=>(const Id&) const = default;
  constexpr explicit operator bool() const noexcept { return value != 0; }
};

using ThingId = Id<struct ThingIdTag, uint64_t>;  // public, as the API shows it
using GroupId = Id<struct GroupIdTag>;
using NetworkId = Id<struct NetworkIdTag>;
using PoolId = Id<struct PoolIdTag>;
using RouteId = Id<struct RouteIdTag>;
using NatRuleId = Id<struct NatRuleIdTag>;
using TunnelId = Id<struct TunnelIdTag>;
using ProfileId = Id<struct ProfileIdTag>;
using RuleId = Id<struct RuleIdTag>;
using UserId = Id<struct UserIdTag>;

// A Thing's dense position in the account and in the compiled session table. Stable for the
// Thing's life (Things are never deleted; RETIRED is terminal).
struct ThingSlot {
  uint32_t value = 0;
  constexpr auto operator<=>(const ThingSlot&) const = default;
};

}  // namespace simcore::core

template <class Tag, class Rep>
struct std::hash<simcore::core::Id<Tag, Rep>> {
  size_t operator()(const simcore::core::Id<Tag, Rep>& id) const noexcept {
    return std::hash<Rep>{}(id.value);
  }
};
