#include "core/types.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace simcore::core {
namespace {

constexpr uint32_t quad(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

// ---------------------------------------------------------------- Ipv4::parse

struct Ipv4Case {
  const char* name;
  std::string_view text;
  std::optional<uint32_t> want;  // nullopt: must be rejected
};

const Ipv4Case kIpv4Cases[] = {
    {"plain address", "10.0.0.1", quad(10, 0, 0, 1)},
    {"all zeros", "0.0.0.0", 0u},
    {"all ones", "255.255.255.255", 0xffffffffu},
    {"octet order is big-endian", "1.2.3.4", 0x01020304u},
    {"single zero octets are fine", "192.0.2.0", quad(192, 0, 2, 0)},
    {"empty", "", std::nullopt},
    {"three octets", "10.0.0", std::nullopt},
    {"five octets", "10.0.0.1.2", std::nullopt},
    {"octet above 255", "10.0.0.256", std::nullopt},
    {"first octet above 255", "300.0.0.1", std::nullopt},
    {"leading zero", "10.0.0.01", std::nullopt},
    {"leading zero in first octet", "010.0.0.1", std::nullopt},
    {"double zero", "00.0.0.0", std::nullopt},
    {"hex octet", "0x0a.0.0.1", std::nullopt},
    {"empty octet", "10..0.1", std::nullopt},
    {"trailing dot", "10.0.0.1.", std::nullopt},
    {"leading dot", ".10.0.0.1", std::nullopt},
    {"leading space", " 10.0.0.1", std::nullopt},
    {"trailing space", "10.0.0.1 ", std::nullopt},
    {"inner space", "10.0. 0.1", std::nullopt},
    {"sign", "+10.0.0.1", std::nullopt},
    {"negative", "10.0.0.-1", std::nullopt},
    {"letters", "a.b.c.d", std::nullopt},
    {"prefix attached", "10.0.0.0/8", std::nullopt},
    {"huge octet", "10.0.0.99999999999", std::nullopt},
    {"plain integer", "167772161", std::nullopt},
};

TEST(Ipv4Parse, Table) {
  for (const Ipv4Case& c : kIpv4Cases) {
    SCOPED_TRACE(std::string(c.name) + ": \"" + std::string(c.text) + "\"");
    auto r = Ipv4::parse(c.text);
    if (c.want) {
      ASSERT_TRUE(r.ok()) << r.error().message();
      EXPECT_EQ(r->value, *c.want);
      EXPECT_EQ(r->str(),
                c.text);  // accepted text is canonical, so it round-trips
    } else {
      ASSERT_FALSE(r.ok()) << "parsed as " << r->str();
      EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
      EXPECT_FALSE(r.error().message().empty());
    }
  }
}

TEST(Ipv4, StrPrintsDottedQuad) {
  EXPECT_EQ(Ipv4{quad(192, 168, 100, 254)}.str(), "192.168.100.254");
  EXPECT_EQ(Ipv4{0}.str(), "0.0.0.0");
  EXPECT_EQ(Ipv4{0xffffffffu}.str(), "255.255.255.255");
}

TEST(Ipv4, OrdersNumerically) {
  EXPECT_LT(Ipv4{quad(9, 255, 255, 255)}, Ipv4{quad(10, 0, 0, 0)});
  EXPECT_LT(Ipv4{quad(10, 0, 0, 2)}, Ipv4{quad(10, 0, 0, 10)});
}

// ---------------------------------------------------------------- Cidr::parse

struct CidrCase {
  const char* name;
  std::string_view text;
  std::optional<Cidr> want;      // nullopt: must be rejected
  std::string_view message_has;  // for rejections: a part of a helpful message
};

const CidrCase kCidrCases[] = {
    {"/8", "10.0.0.0/8", Cidr{Ipv4{quad(10, 0, 0, 0)}, 8}, ""},
    {"/24", "192.168.1.0/24", Cidr{Ipv4{quad(192, 168, 1, 0)}, 24}, ""},
    {"/0 default route", "0.0.0.0/0", Cidr{Ipv4{0}, 0}, ""},
    {"/32 host", "10.0.0.1/32", Cidr{Ipv4{quad(10, 0, 0, 1)}, 32}, ""},
    {"/31", "10.0.0.2/31", Cidr{Ipv4{quad(10, 0, 0, 2)}, 31}, ""},
    {"host bits set", "10.0.0.1/24", std::nullopt, "10.0.0.0/24"},
    {"host bits set, mentions why", "10.0.0.1/24", std::nullopt, "host bits"},
    {"host bits set at /0", "1.2.3.4/0", std::nullopt, "0.0.0.0/0"},
    {"host bits set at /31", "10.0.0.3/31", std::nullopt, "10.0.0.2/31"},
    {"length 33", "10.0.0.0/33", std::nullopt, "0 to 32"},
    {"length 100", "10.0.0.0/100", std::nullopt, "0 to 32"},
    {"negative length", "10.0.0.0/-1", std::nullopt, ""},
    {"missing slash", "10.0.0.0", std::nullopt, "/length"},
    {"empty length", "10.0.0.0/", std::nullopt, ""},
    {"missing address", "/8", std::nullopt, ""},
    {"empty", "", std::nullopt, ""},
    {"two slashes", "10.0.0.0/8/8", std::nullopt, ""},
    {"leading zero in length", "10.0.0.0/08", std::nullopt, ""},
    {"leading zero in address", "010.0.0.0/8", std::nullopt, "IPv4"},
    {"bad address", "10.0.0.256/32", std::nullopt, "IPv4"},
    {"leading space", " 10.0.0.0/8", std::nullopt, ""},
    {"trailing space", "10.0.0.0/8 ", std::nullopt, ""},
    {"space before slash", "10.0.0.0 /8", std::nullopt, ""},
    {"space after slash", "10.0.0.0/ 8", std::nullopt, ""},
    {"netmask instead of length", "10.0.0.0/255.0.0.0", std::nullopt, ""},
};

TEST(CidrParse, Table) {
  for (const CidrCase& c : kCidrCases) {
    SCOPED_TRACE(std::string(c.name) + ": \"" + std::string(c.text) + "\"");
    auto r = Cidr::parse(c.text);
    if (c.want) {
      ASSERT_TRUE(r.ok()) << r.error().message();
      EXPECT_EQ(*r, *c.want);
      EXPECT_EQ(r->str(), c.text);
    } else {
      ASSERT_FALSE(r.ok()) << "parsed as " << r->str();
      EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
      EXPECT_NE(r.error().message().find(c.message_has), std::string::npos)
          << "message: " << r.error().message();
    }
  }
}

// ---------------------------------------------------------------- Cidr arithmetic

Cidr cidr(std::string_view text) {
  auto r = Cidr::parse(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? *r : Cidr{};
}

TEST(Cidr, FirstLastSizeMask) {
  const Cidr c24 = cidr("192.168.1.0/24");
  EXPECT_EQ(c24.first(), quad(192, 168, 1, 0));
  EXPECT_EQ(c24.last(), quad(192, 168, 1, 255));
  EXPECT_EQ(c24.size(), 256u);
  EXPECT_EQ(c24.mask(), 0xffffff00u);

  const Cidr c12 = cidr("10.64.0.0/12");
  EXPECT_EQ(c12.last(), quad(10, 79, 255, 255));
  EXPECT_EQ(c12.size(), uint64_t{1} << 20);

  const Cidr all = cidr("0.0.0.0/0");
  EXPECT_EQ(all.mask(), 0u);
  EXPECT_EQ(all.first(), 0u);
  EXPECT_EQ(all.last(), 0xffffffffu);
  EXPECT_EQ(all.size(), uint64_t{1} << 32);  // does not overflow to 0

  const Cidr host = cidr("10.0.0.7/32");
  EXPECT_EQ(host.mask(), 0xffffffffu);
  EXPECT_EQ(host.first(), quad(10, 0, 0, 7));
  EXPECT_EQ(host.last(), quad(10, 0, 0, 7));
  EXPECT_EQ(host.size(), 1u);
}

TEST(Cidr, ContainsItsRangeOnly) {
  const Cidr c = cidr("10.0.0.0/24");
  EXPECT_TRUE(c.contains(Ipv4{quad(10, 0, 0, 0)}));
  EXPECT_TRUE(c.contains(Ipv4{quad(10, 0, 0, 255)}));
  EXPECT_TRUE(c.contains(Ipv4{quad(10, 0, 0, 77)}));
  EXPECT_FALSE(c.contains(Ipv4{quad(10, 0, 1, 0)}));
  EXPECT_FALSE(c.contains(Ipv4{quad(9, 255, 255, 255)}));
  EXPECT_FALSE(c.contains(Ipv4{quad(138, 0, 0, 5)}));  // differs only in the top bit

  const Cidr all = cidr("0.0.0.0/0");
  EXPECT_TRUE(all.contains(Ipv4{0}));
  EXPECT_TRUE(all.contains(Ipv4{0xffffffffu}));
  EXPECT_TRUE(all.contains(Ipv4{quad(203, 0, 113, 9)}));

  const Cidr host = cidr("10.0.0.7/32");
  EXPECT_TRUE(host.contains(Ipv4{quad(10, 0, 0, 7)}));
  EXPECT_FALSE(host.contains(Ipv4{quad(10, 0, 0, 6)}));
  EXPECT_FALSE(host.contains(Ipv4{quad(10, 0, 0, 8)}));
}

struct OverlapCase {
  const char* a;
  const char* b;
  bool want;
};

const OverlapCase kOverlapCases[] = {
    {"10.0.0.0/24", "10.0.0.0/24", true},        // equal
    {"10.0.0.0/24", "10.0.0.128/25", true},      // nested, upper half
    {"10.0.0.0/8", "10.255.255.255/32", true},   // last address
    {"10.0.0.0/8", "10.0.0.0/32", true},         // first address
    {"10.0.0.0/24", "10.0.1.0/24", false},       // adjacent above
    {"10.0.1.0/24", "10.0.0.0/24", false},       // adjacent below
    {"10.0.0.0/25", "10.0.0.128/25", false},     // two halves
    {"0.0.0.0/0", "203.0.113.0/24", true},       // /0 overlaps everything
    {"0.0.0.0/0", "255.255.255.255/32", true},   // ... up to the last address
    {"0.0.0.0/0", "0.0.0.0/0", true},            // and itself
    {"10.0.0.7/32", "10.0.0.7/32", true},        // one host
    {"10.0.0.7/32", "10.0.0.8/32", false},       // neighbouring hosts
    {"192.168.0.0/16", "172.16.0.0/12", false},  // unrelated private ranges
};

TEST(Cidr, OverlapsIsSymmetricAndExact) {
  for (const OverlapCase& c : kOverlapCases) {
    SCOPED_TRACE(std::string(c.a) + " vs " + c.b);
    const Cidr a = cidr(c.a);
    const Cidr b = cidr(c.b);
    EXPECT_EQ(a.overlaps(b), c.want);
    EXPECT_EQ(b.overlaps(a), c.want);
  }
}

// ---------------------------------------------------------------- PortRange::parse

struct PortCase {
  const char* name;
  std::string_view text;
  std::optional<PortRange> want;
  std::string_view message_has;
};

const PortCase kPortCases[] = {
    {"star", "*", PortRange{0, 65535}, ""},
    {"any", "any", PortRange{0, 65535}, ""},
    {"ANY", "ANY", PortRange{0, 65535}, ""},
    {"single", "80", PortRange{80, 80}, ""},
    {"zero", "0", PortRange{0, 0}, ""},
    {"highest", "65535", PortRange{65535, 65535}, ""},
    {"range", "1000-2000", PortRange{1000, 2000}, ""},
    {"one-port range", "443-443", PortRange{443, 443}, ""},
    {"full range", "0-65535", PortRange{0, 65535}, ""},
    {"inverted", "2000-1000", std::nullopt, "inverted"},
    {"above 65535", "65536", std::nullopt, "0 to 65535"},
    {"upper bound above 65535", "1000-65536", std::nullopt, "0 to 65535"},
    {"huge", "99999999999", std::nullopt, ""},
    {"empty", "", std::nullopt, ""},
    {"missing low", "-80", std::nullopt, ""},
    {"missing high", "80-", std::nullopt, ""},
    {"three parts", "80-90-100", std::nullopt, ""},
    {"leading zero", "080", std::nullopt, ""},
    {"leading space", " 80", std::nullopt, ""},
    {"trailing space", "80 ", std::nullopt, ""},
    {"spaces around dash", "1000 - 2000", std::nullopt, ""},
    {"letters", "http", std::nullopt, ""},
    {"mixed-case any", "Any", std::nullopt, ""},
    {"comma list", "80,443", std::nullopt, ""},
};

TEST(PortRangeParse, Table) {
  for (const PortCase& c : kPortCases) {
    SCOPED_TRACE(std::string(c.name) + ": \"" + std::string(c.text) + "\"");
    auto r = PortRange::parse(c.text);
    if (c.want) {
      ASSERT_TRUE(r.ok()) << r.error().message();
      EXPECT_EQ(*r, *c.want);
    } else {
      ASSERT_FALSE(r.ok()) << "parsed as " << r->str();
      EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
      EXPECT_NE(r.error().message().find(c.message_has), std::string::npos)
          << "message: " << r.error().message();
    }
  }
}

TEST(PortRange, ContainsIsAnyAndStr) {
  const PortRange r{1000, 2000};
  EXPECT_TRUE(r.contains(1000));
  EXPECT_TRUE(r.contains(2000));
  EXPECT_FALSE(r.contains(999));
  EXPECT_FALSE(r.contains(2001));
  EXPECT_FALSE(r.is_any());
  EXPECT_EQ(r.str(), "1000-2000");

  EXPECT_TRUE(PortRange{}.is_any());
  EXPECT_TRUE(PortRange{}.contains(0));
  EXPECT_TRUE(PortRange{}.contains(65535));
  EXPECT_EQ(PortRange{}.str(), "*");
  EXPECT_FALSE((PortRange{0, 65534}).is_any());
  EXPECT_FALSE((PortRange{1, 65535}).is_any());
  EXPECT_EQ((PortRange{80, 80}).str(), "80");

  for (std::string_view text : {"*", "80", "1000-2000", "0-65534"}) {
    auto p = PortRange::parse(text);
    ASSERT_TRUE(p.ok()) << text;
    EXPECT_EQ(p->str(), text);
  }
}

// ---------------------------------------------------------------- protocols

TEST(ProtocolParse, Table) {
  const std::pair<std::string_view, Protocol> good[] = {
      {"ANY", Protocol::kAny},   {"any", Protocol::kAny}, {"ICMP", Protocol::kIcmp},
      {"icmp", Protocol::kIcmp}, {"TCP", Protocol::kTcp}, {"tcp", Protocol::kTcp},
      {"UDP", Protocol::kUdp},   {"udp", Protocol::kUdp},
  };
  for (const auto& [text, want] : good) {
    SCOPED_TRACE(text);
    auto r = parse_protocol(text);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(*r, want);
  }
  for (std::string_view text : {"", "Tcp", "tcp ", " udp", "SCTP", "6", "17", "GRE", "ip"}) {
    SCOPED_TRACE(text);
    auto r = parse_protocol(text);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    EXPECT_NE(r.error().message().find("TCP"), std::string::npos) << r.error().message();
  }
}

TEST(Protocol, NamesRoundTripAndNumbersAreIana) {
  for (Protocol p : {Protocol::kAny, Protocol::kIcmp, Protocol::kTcp, Protocol::kUdp}) {
    auto r = parse_protocol(protocol_name(p));
    ASSERT_TRUE(r.ok()) << protocol_name(p);
    EXPECT_EQ(*r, p);
  }
  EXPECT_EQ(static_cast<uint8_t>(Protocol::kIcmp), 1);
  EXPECT_EQ(static_cast<uint8_t>(Protocol::kTcp), 6);
  EXPECT_EQ(static_cast<uint8_t>(Protocol::kUdp), 17);
  EXPECT_TRUE(has_ports(6));
  EXPECT_TRUE(has_ports(17));
  EXPECT_FALSE(has_ports(1));
  EXPECT_FALSE(has_ports(0));
  EXPECT_FALSE(has_ports(132));  // SCTP has ports but no rules of ours use them
}

// ---------------------------------------------------------------- byte order

template <class T>
std::array<uint8_t, sizeof(T)> wire_bytes(const T& v) {
  std::array<uint8_t, sizeof(T)> out{};
  std::memcpy(out.data(), &v, sizeof(T));
  return out;
}

TEST(ByteOrder, Ipv4BeHoldsWireBytes) {
  EXPECT_EQ(wire_bytes(to_be(Ipv4{quad(10, 0, 0, 1)}).raw),
            (std::array<uint8_t, 4>{0x0a, 0x00, 0x00, 0x01}));
  EXPECT_EQ(wire_bytes(to_be(Ipv4{quad(192, 168, 1, 254)}).raw),
            (std::array<uint8_t, 4>{192, 168, 1, 254}));
  // And back from bytes as they sit in a packet.
  const uint8_t packet[4] = {203, 0, 113, 9};
  Ipv4Be be;
  std::memcpy(&be.raw, packet, 4);
  EXPECT_EQ(from_be(be), (Ipv4{quad(203, 0, 113, 9)}));
}

TEST(ByteOrder, TeidAndPortHoldWireBytes) {
  EXPECT_EQ(wire_bytes(teid_be(0x12345678u).raw), (std::array<uint8_t, 4>{0x12, 0x34, 0x56, 0x78}));
  EXPECT_EQ(wire_bytes(teid_be(1).raw), (std::array<uint8_t, 4>{0, 0, 0, 1}));
  EXPECT_EQ(wire_bytes(port_be(8080).raw), (std::array<uint8_t, 2>{0x1f, 0x90}));
  EXPECT_EQ(wire_bytes(port_be(2152).raw), (std::array<uint8_t, 2>{0x08, 0x68}));  // GTP-U
}

TEST(ByteOrder, RoundTrips) {
  for (uint32_t v : {0u, 1u, 0x0a000001u, 0x12345678u, 0x80000000u, 0xfffffffeu, 0xffffffffu}) {
    SCOPED_TRACE(v);
    EXPECT_EQ(from_be(to_be(Ipv4{v})).value, v);
    EXPECT_EQ(teid_host(teid_be(v)), v);
  }
  for (uint16_t p : {uint16_t{0}, uint16_t{1}, uint16_t{80}, uint16_t{0x1234}, uint16_t{65535}}) {
    SCOPED_TRACE(p);
    EXPECT_EQ(port_host(port_be(p)), p);
  }
}

TEST(ByteOrder, SwapsAreExact) {
  static_assert(bswap32(0x01020304u) == 0x04030201u);
  static_assert(bswap16(0x0102) == 0x0201);
  static_assert(from_be(to_be(Ipv4{0xc0a80001u})).value == 0xc0a80001u);  // usable at compile time
  EXPECT_EQ(bswap32(0xff000000u), 0x000000ffu);
  EXPECT_EQ(bswap32(0x00ff0000u), 0x0000ff00u);
  EXPECT_EQ(bswap16(0xff00), 0x00ff);
}

// ---------------------------------------------------------------- ids

TEST(Id, ZeroIsNoneAndKindsDoNotMix) {
  EXPECT_FALSE(ThingId{});
  EXPECT_TRUE(ThingId{1});
  EXPECT_FALSE(GroupId{0});
  EXPECT_LT(GroupId{1}, GroupId{2});
  static_assert(!std::is_convertible_v<GroupId, NetworkId>);
  static_assert(!std::is_convertible_v<uint32_t, GroupId>);
  EXPECT_EQ(std::hash<ThingId>{}(ThingId{42}), std::hash<uint64_t>{}(42));
}

}  // namespace
}  // namespace simcore::core
