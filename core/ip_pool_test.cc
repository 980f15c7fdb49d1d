#include "core/ip_pool.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace simcore::core {
namespace {

Ipv4 ip(const char* text) {
  auto r = Ipv4::parse(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? *r : Ipv4{};
}

Cidr cidr(const char* text) {
  auto r = Cidr::parse(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? *r : Cidr{};
}

// Returns the field names an error blames, e.g. {"cidr"}.
std::vector<std::string> fields_of(const Error& e) {
  std::vector<std::string> out;
  for (const auto& f : e.fields()) out.push_back(f.field);
  return out;
}

// Allocates until exhaustion; returns every address handed out.
std::vector<Ipv4> drain(IpAllocator& a) {
  std::vector<Ipv4> out;
  for (;;) {
    auto r = a.allocate();
    if (!r) {
      EXPECT_EQ(r.error().code(), Code::kResourceExhausted) << r.error().message();
      return out;
    }
    out.push_back(*r);
  }
}

TEST(IpAllocator, SlashThirtyHoldsTwoAddressesThenReportsExhaustion) {
  IpAllocator a;
  ASSERT_TRUE(a.add_pool(PoolId{1}, cidr("10.0.0.0/30")).ok());
  EXPECT_EQ(a.capacity(), 2u);

  auto first = a.allocate();
  auto second = a.allocate();
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*first, ip("10.0.0.1"));
  EXPECT_EQ(*second, ip("10.0.0.2"));
  EXPECT_EQ(a.leased(), 2u);

  auto third = a.allocate();
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().code(), Code::kResourceExhausted);
  EXPECT_EQ(third.error().message(),
            "no free IP address: every pool of the network is full (2 of 2 addresses leased in 1 "
            "pools)");
  EXPECT_EQ(a.leased(), 2u);
}

TEST(IpAllocator, NoPoolIsExhaustionWithItsOwnMessage) {
  IpAllocator a;
  auto r = a.allocate();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kResourceExhausted);
  EXPECT_EQ(r.error().message(), "no free IP address: the network has no IP pool");
}

TEST(IpAllocator, NeverHandsOutAnAddressTwiceNorNetworkOrBroadcast) {
  IpAllocator a;
  const Cidr pool = cidr("10.20.16.0/20");
  ASSERT_TRUE(a.add_pool(PoolId{7}, pool).ok());

  const std::vector<Ipv4> got = drain(a);
  ASSERT_EQ(got.size(), 4094u);
  std::set<Ipv4> unique(got.begin(), got.end());
  EXPECT_EQ(unique.size(), got.size());
  for (const Ipv4 addr : got) {
    ASSERT_TRUE(pool.contains(addr)) << addr.str();
    ASSERT_NE(addr.value, pool.first()) << "network address handed out";
    ASSERT_NE(addr.value, pool.last()) << "broadcast address handed out";
    ASSERT_TRUE(a.is_leased(addr)) << addr.str();
  }
  EXPECT_EQ(a.leased(), a.capacity());
}

TEST(IpAllocator, ReleasedAddressesComeBackOldestFirst) {
  IpAllocator a;
  ASSERT_TRUE(a.add_pool(PoolId{1}, cidr("10.0.0.0/29")).ok());
  ASSERT_EQ(drain(a).size(), 6u);

  ASSERT_TRUE(a.release(ip("10.0.0.5")).ok());
  ASSERT_TRUE(a.release(ip("10.0.0.2")).ok());
  EXPECT_FALSE(a.is_leased(ip("10.0.0.5")));
  EXPECT_EQ(a.leased(), 4u);

  auto r1 = a.allocate();
  auto r2 = a.allocate();
  ASSERT_TRUE(r1.ok());
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(*r1, ip("10.0.0.5"));
  EXPECT_EQ(*r2, ip("10.0.0.2"));
  EXPECT_FALSE(a.allocate().ok());
}

TEST(IpAllocator, NeverLeasedAddressesGoBeforeReleasedOnes) {
  IpAllocator a;
  ASSERT_TRUE(a.add_pool(PoolId{1}, cidr("10.0.0.0/24")).ok());
  auto r = a.allocate();
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(a.release(*r).ok());
  auto next = a.allocate();
  ASSERT_TRUE(next.ok());
  EXPECT_NE(*next, *r) << "a just-released address was reused while fresh ones remain";
}

TEST(IpAllocator, ReleaseOfAnAddressNotLeasedIsNotFound) {
  IpAllocator a;
  ASSERT_TRUE(a.add_pool(PoolId{1}, cidr("10.0.0.0/29")).ok());
  const struct {
    const char* name;
    const char* addr;
  } kCases[] = {
      {"free address in a pool", "10.0.0.3"},
      {"network address", "10.0.0.0"},
      {"outside every pool", "192.0.2.1"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    Status s = a.release(ip(c.addr));
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code(), Code::kNotFound);
    EXPECT_EQ(s.error().message(), std::string(c.addr) + " is not leased");
  }
  auto r = a.allocate();
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(a.release(*r).ok());
  EXPECT_EQ(a.release(*r).error().code(), Code::kNotFound) << "double release accepted";
  EXPECT_EQ(a.leased(), 0u);
}

TEST(IpAllocator, ReservedAddressIsNeverAllocatedNorReservedTwice) {
  IpAllocator a;
  ASSERT_TRUE(a.add_pool(PoolId{1}, cidr("10.0.0.0/29")).ok());
  ASSERT_TRUE(a.reserve(ip("10.0.0.1")).ok());
  ASSERT_TRUE(a.reserve(ip("10.0.0.4")).ok());

  Status again = a.reserve(ip("10.0.0.4"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(again.error().message(), "10.0.0.4 is already leased");

  const std::vector<Ipv4> got = drain(a);
  EXPECT_EQ(got,
            (std::vector<Ipv4>{ip("10.0.0.2"), ip("10.0.0.3"), ip("10.0.0.5"), ip("10.0.0.6")}));

  Status taken = a.reserve(ip("10.0.0.5"));
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().code(), Code::kFailedPrecondition) << "reserved a dynamic lease";
}

TEST(IpAllocator, ReservingAReleasedAddressKeepsItFromAllocation) {
  IpAllocator a;
  ASSERT_TRUE(a.add_pool(PoolId{1}, cidr("10.0.0.0/29")).ok());
  ASSERT_EQ(drain(a).size(), 6u);
  ASSERT_TRUE(a.release(ip("10.0.0.3")).ok());  // queued for reuse
  ASSERT_TRUE(a.reserve(ip("10.0.0.3")).ok());  // then locked by a Thing
  auto r = a.allocate();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kResourceExhausted);
  // Reserve/release cycles do not queue the address twice: it comes back exactly once.
  ASSERT_TRUE(a.release(ip("10.0.0.3")).ok());
  ASSERT_TRUE(a.reserve(ip("10.0.0.3")).ok());
  ASSERT_TRUE(a.release(ip("10.0.0.3")).ok());
  auto back = a.allocate();
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, ip("10.0.0.3"));
  EXPECT_FALSE(a.allocate().ok());
}

TEST(IpAllocator, ReserveRejectsAddressesThatAreNotLeasable) {
  IpAllocator a;
  ASSERT_TRUE(a.add_pool(PoolId{3}, cidr("10.0.0.0/24")).ok());
  ASSERT_TRUE(a.add_pool(PoolId{4}, cidr("10.0.1.0/24")).ok());
  const struct {
    const char* name;
    const char* addr;
    std::string message;
  } kCases[] = {
      {"network address", "10.0.0.0", "10.0.0.0 is the network address of pool 3 (10.0.0.0/24)"},
      {"broadcast address", "10.0.0.255",
       "10.0.0.255 is the broadcast address of pool 3 (10.0.0.0/24)"},
      {"network address of the second pool", "10.0.1.0",
       "10.0.1.0 is the network address of pool 4 (10.0.1.0/24)"},
      {"below every pool", "9.255.255.255", "9.255.255.255 is in no IP pool of the network"},
      {"above every pool", "10.0.2.0", "10.0.2.0 is in no IP pool of the network"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    Status s = a.reserve(ip(c.addr));
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code(), Code::kInvalidArgument);
    EXPECT_EQ(s.error().message(), c.message);
    EXPECT_FALSE(a.is_leased(ip(c.addr)));
  }
  EXPECT_EQ(a.leased(), 0u);
  EXPECT_TRUE(a.reserve(ip("10.0.0.254")).ok());
  EXPECT_TRUE(a.reserve(ip("10.0.1.1")).ok());
}

TEST(IpAllocator, ContainsCoversWholePoolsIncludingNetworkAndBroadcast) {
  IpAllocator a;
  ASSERT_TRUE(a.add_pool(PoolId{1}, cidr("10.0.0.0/30")).ok());
  EXPECT_TRUE(a.contains(ip("10.0.0.0")));
  EXPECT_TRUE(a.contains(ip("10.0.0.3")));
  EXPECT_FALSE(a.contains(ip("10.0.0.4")));
  EXPECT_FALSE(a.contains(ip("9.255.255.255")));
}

TEST(IpAllocator, LaterPoolsAreUsedWhenEarlierOnesAreFull) {
  IpAllocator a;
  // Added out of address order: allocation follows add order, lookups address order.
  ASSERT_TRUE(a.add_pool(PoolId{1}, cidr("10.0.9.0/30")).ok());
  ASSERT_TRUE(a.add_pool(PoolId{2}, cidr("10.0.0.0/29")).ok());
  EXPECT_EQ(a.capacity(), 8u);

  std::vector<Ipv4> got = drain(a);
  EXPECT_EQ(got,
            (std::vector<Ipv4>{ip("10.0.9.1"), ip("10.0.9.2"), ip("10.0.0.1"), ip("10.0.0.2"),
                               ip("10.0.0.3"), ip("10.0.0.4"), ip("10.0.0.5"), ip("10.0.0.6")}));

  // Room in the first pool again: it is used first.
  ASSERT_TRUE(a.release(ip("10.0.0.3")).ok());
  ASSERT_TRUE(a.release(ip("10.0.9.2")).ok());
  auto r = a.allocate();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, ip("10.0.9.2"));
  r = a.allocate();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, ip("10.0.0.3"));
}

TEST(IpAllocator, AddingAPoolToAFullNetworkMakesRoom) {
  IpAllocator a;
  ASSERT_TRUE(a.add_pool(PoolId{1}, cidr("10.0.0.0/30")).ok());
  ASSERT_EQ(drain(a).size(), 2u);
  ASSERT_TRUE(a.add_pool(PoolId{2}, cidr("10.0.1.0/30")).ok());
  auto r = a.allocate();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, ip("10.0.1.1"));
}

TEST(IpAllocator, GrowingAPoolKeepsLeasesAndAddsRoom) {
  const struct {
    const char* name;
    const char* from;
    const char* to;
  } kCases[] = {
      {"same base", "10.0.0.0/29", "10.0.0.0/28"},
      {"grown downward", "10.0.0.8/29", "10.0.0.0/28"},
      {"grown both ways", "10.0.0.8/29", "10.0.0.0/27"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    IpAllocator a;
    const Cidr from = cidr(c.from);
    const Cidr to = cidr(c.to);
    ASSERT_TRUE(a.add_pool(PoolId{1}, from).ok());
    std::vector<Ipv4> before = drain(a);
    ASSERT_EQ(before.size(), 6u);
    ASSERT_TRUE(a.release(before[2]).ok());  // one queued release carries over

    ASSERT_TRUE(a.resize_pool(PoolId{1}, to).ok());
    EXPECT_EQ(a.pools(), (std::vector<std::pair<PoolId, Cidr>>{{PoolId{1}, to}}));
    EXPECT_EQ(a.capacity(), to.size() - 2);
    EXPECT_EQ(a.leased(), 5u);
    for (size_t i = 0; i < before.size(); ++i) {
      EXPECT_EQ(a.is_leased(before[i]), i != 2) << before[i].str();
    }

    std::vector<Ipv4> after = drain(a);
    ASSERT_EQ(after.size(), to.size() - 2 - 5);
    std::set<Ipv4> all(after.begin(), after.end());
    EXPECT_EQ(all.size(), after.size());
    for (const Ipv4 addr : after) {
      EXPECT_TRUE(to.contains(addr) && addr.value != to.first() && addr.value != to.last())
          << addr.str();
    }
    // The released address is handed out last, after every never-used one.
    EXPECT_EQ(after.back(), before[2]);
    // The old network and broadcast addresses are ordinary addresses now.
    EXPECT_EQ(all.count(Ipv4{from.first()}), from.first() != to.first() ? 1u : 0u);
    EXPECT_EQ(all.count(Ipv4{from.last()}), from.last() != to.last() ? 1u : 0u);
  }
}

TEST(IpAllocator, ShrinkingBelowALeaseIsRefusedAndChangesNothing) {
  const struct {
    const char* name;
    const char* leased;
    const char* to;
    std::string message;
  } kCases[] = {
      {"lease outside", "10.0.0.200", "10.0.0.0/25",
       "cidr: cannot change pool 1 (10.0.0.0/24) to 10.0.0.0/25: 10.0.0.200 is leased and would "
       "fall outside it"},
      {"lease becomes broadcast", "10.0.0.127", "10.0.0.0/25",
       "cidr: cannot change pool 1 (10.0.0.0/24) to 10.0.0.0/25: 10.0.0.127 is leased and would "
       "become its broadcast address"},
      {"lease becomes network", "10.0.0.128", "10.0.0.128/25",
       "cidr: cannot change pool 1 (10.0.0.0/24) to 10.0.0.128/25: 10.0.0.128 is leased and "
       "would become its network address"},
      {"moved away", "10.0.0.9", "10.0.7.0/24",
       "cidr: cannot change pool 1 (10.0.0.0/24) to 10.0.7.0/24: 10.0.0.9 is leased and would "
       "fall outside it"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    IpAllocator a;
    ASSERT_TRUE(a.add_pool(PoolId{1}, cidr("10.0.0.0/24")).ok());
    ASSERT_TRUE(a.reserve(ip(c.leased)).ok());
    auto r = a.allocate();
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(a.release(*r).ok());
    const IpAllocator before = a;

    Status s = a.resize_pool(PoolId{1}, cidr(c.to));
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code(), Code::kFailedPrecondition);
    EXPECT_EQ(fields_of(s.error()), std::vector<std::string>{"cidr"});
    EXPECT_EQ(s.error().message(), c.message);

    EXPECT_EQ(a.pools(), before.pools());
    EXPECT_EQ(a.capacity(), 254u);
    EXPECT_EQ(a.leased(), 1u);
    EXPECT_TRUE(a.is_leased(ip(c.leased)));
    IpAllocator expected = before;
    EXPECT_EQ(drain(a), drain(expected)) << "allocation order changed by a refused resize";
  }
}

TEST(IpAllocator, ShrinkingAroundLeasesIsAllowed) {
  IpAllocator a;
  ASSERT_TRUE(a.add_pool(PoolId{1}, cidr("10.0.0.0/24")).ok());
  ASSERT_TRUE(a.reserve(ip("10.0.0.100")).ok());
  ASSERT_TRUE(a.reserve(ip("10.0.0.200")).ok());
  Status s = a.resize_pool(PoolId{1}, cidr("10.0.0.0/25"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message(),
            "cidr: cannot change pool 1 (10.0.0.0/24) to 10.0.0.0/25: 10.0.0.200 is leased and "
            "would fall outside it");
  ASSERT_TRUE(a.release(ip("10.0.0.200")).ok());
  ASSERT_TRUE(a.resize_pool(PoolId{1}, cidr("10.0.0.64/26")).ok());
  EXPECT_EQ(a.capacity(), 62u);
  EXPECT_TRUE(a.is_leased(ip("10.0.0.100")));
  EXPECT_FALSE(a.contains(ip("10.0.0.200")));
  EXPECT_EQ(drain(a).size(), 61u);
}

TEST(IpAllocator, ResizeOfAnUnknownPoolIsNotFound) {
  IpAllocator a;
  Status s = a.resize_pool(PoolId{9}, cidr("10.0.0.0/24"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Code::kNotFound);
  EXPECT_EQ(fields_of(s.error()), std::vector<std::string>{"id"});
}

TEST(IpAllocator, RemovingAPoolWithLeasesIsRefused) {
  IpAllocator a;
  ASSERT_TRUE(a.add_pool(PoolId{1}, cidr("10.0.0.0/29")).ok());
  ASSERT_TRUE(a.add_pool(PoolId{2}, cidr("10.0.1.0/29")).ok());
  ASSERT_TRUE(a.reserve(ip("10.0.0.3")).ok());

  Status s = a.remove_pool(PoolId{1});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Code::kFailedPrecondition);
  EXPECT_EQ(s.error().message(),
            "id: pool 1 (10.0.0.0/29) has 1 leased addresses; release them first");
  EXPECT_EQ(a.pools().size(), 2u);
  EXPECT_TRUE(a.is_leased(ip("10.0.0.3")));

  ASSERT_TRUE(a.release(ip("10.0.0.3")).ok());
  ASSERT_TRUE(a.remove_pool(PoolId{1}).ok());
  EXPECT_EQ(a.pools(), (std::vector<std::pair<PoolId, Cidr>>{{PoolId{2}, cidr("10.0.1.0/29")}}));
  EXPECT_EQ(a.capacity(), 6u);
  EXPECT_FALSE(a.contains(ip("10.0.0.3")));
  auto r = a.allocate();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, ip("10.0.1.1"));
  EXPECT_EQ(a.remove_pool(PoolId{1}).error().code(), Code::kNotFound);
}

TEST(IpAllocator, RemovingAnEarlierPoolKeepsAllocationWorking) {
  IpAllocator a;
  ASSERT_TRUE(a.add_pool(PoolId{1}, cidr("10.0.0.0/30")).ok());
  ASSERT_TRUE(a.add_pool(PoolId{2}, cidr("10.0.1.0/30")).ok());
  ASSERT_TRUE(a.add_pool(PoolId{3}, cidr("10.0.2.0/30")).ok());
  // Fill pools 1 and 2 so allocation has moved on to pool 3, then free and drop pool 1.
  ASSERT_EQ(drain(a).size(), 6u);
  for (const char* addr : {"10.0.0.1", "10.0.0.2", "10.0.2.1"}) {
    ASSERT_TRUE(a.release(ip(addr)).ok());
  }
  ASSERT_TRUE(a.remove_pool(PoolId{1}).ok());
  auto r = a.allocate();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, ip("10.0.2.1"));
  EXPECT_FALSE(a.allocate().ok());
}

TEST(IpAllocator, PoolsMayNotOverlapOrRepeatAnId) {
  const struct {
    const char* name;
    uint32_t id;
    const char* cidr;
    Code code;
    std::string message;  // empty: accepted
  } kCases[] = {
      {"same range", 2, "10.0.0.0/24", Code::kInvalidArgument,
       "cidr: 10.0.0.0/24 overlaps pool 1 (10.0.0.0/24)"},
      {"contains the pool", 2, "10.0.0.0/16", Code::kInvalidArgument,
       "cidr: 10.0.0.0/16 overlaps pool 1 (10.0.0.0/24)"},
      {"inside the pool", 2, "10.0.0.128/30", Code::kInvalidArgument,
       "cidr: 10.0.0.128/30 overlaps pool 1 (10.0.0.0/24)"},
      {"id taken", 1, "10.0.5.0/24", Code::kAlreadyExists, "id: pool 1 already exists"},
      {"id zero", 0, "10.0.5.0/24", Code::kInvalidArgument, "id: pool id must not be 0"},
      {"adjacent below", 2, "9.255.255.0/24", Code::kInvalidArgument, ""},
      {"adjacent above", 3, "10.0.1.0/24", Code::kInvalidArgument, ""},
  };
  IpAllocator a;
  ASSERT_TRUE(a.add_pool(PoolId{1}, cidr("10.0.0.0/24")).ok());
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    Status s = a.add_pool(PoolId{c.id}, cidr(c.cidr));
    if (c.message.empty()) {
      EXPECT_TRUE(s.ok()) << s.error().message();
      continue;
    }
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code(), c.code);
    EXPECT_EQ(s.error().message(), c.message);
  }

  // Resizing into a neighbour is the same error.
  Status s = a.resize_pool(PoolId{1}, cidr("10.0.0.0/23"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Code::kInvalidArgument);
  EXPECT_EQ(s.error().message(), "cidr: 10.0.0.0/23 overlaps pool 3 (10.0.1.0/24)");
  EXPECT_EQ(a.pools()[0].second, cidr("10.0.0.0/24"));
}

TEST(IpAllocator, PrefixLengthMustBeEightToThirty) {
  const struct {
    Cidr cidr;
    bool ok;
    std::string message;
  } kCases[] = {
      {cidr("10.0.0.0/31"), false, "cidr: prefix length must be /8 to /30, not /31"},
      {cidr("10.0.0.0/32"), false, "cidr: prefix length must be /8 to /30, not /32"},
      {cidr("10.0.0.0/7"), false, "cidr: prefix length must be /8 to /30, not /7"},
      {cidr("0.0.0.0/0"), false, "cidr: prefix length must be /8 to /30, not /0"},
      {Cidr{ip("10.0.0.1"), 24}, false, "cidr: 10.0.0.1/24 has host bits set"},
      {cidr("10.0.0.0/30"), true, ""},
      {cidr("11.0.0.0/8"), true, ""},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.cidr.str());
    IpAllocator a;
    Status s = a.add_pool(PoolId{1}, c.cidr);
    EXPECT_EQ(s.ok(), c.ok);
    if (!s.ok()) {
      EXPECT_EQ(s.error().code(), Code::kInvalidArgument);
      EXPECT_EQ(fields_of(s.error()), std::vector<std::string>{"cidr"});
      EXPECT_EQ(s.error().message(), c.message);
      EXPECT_TRUE(a.pools().empty());
      EXPECT_EQ(a.capacity(), 0u);
    }
    // resize_pool validates the same way.
    IpAllocator b;
    ASSERT_TRUE(b.add_pool(PoolId{1}, cidr("192.168.0.0/24")).ok());
    Status r = b.resize_pool(PoolId{1}, c.cidr);
    EXPECT_EQ(r.ok(), c.ok);
    if (!r.ok()) {
      EXPECT_EQ(r.error().message(), c.message);
    }
  }
}

TEST(IpAllocator, CopiesAreIndependent) {
  IpAllocator a;
  ASSERT_TRUE(a.add_pool(PoolId{1}, cidr("10.0.0.0/29")).ok());
  ASSERT_TRUE(a.reserve(ip("10.0.0.2")).ok());
  IpAllocator b = a;
  ASSERT_TRUE(b.reserve(ip("10.0.0.3")).ok());
  ASSERT_TRUE(b.add_pool(PoolId{2}, cidr("10.0.1.0/29")).ok());
  ASSERT_TRUE(b.release(ip("10.0.0.2")).ok());

  EXPECT_TRUE(a.is_leased(ip("10.0.0.2")));
  EXPECT_FALSE(a.is_leased(ip("10.0.0.3")));
  EXPECT_EQ(a.pools().size(), 1u);
  EXPECT_EQ(a.leased(), 1u);
  a = b;  // the account applies the change
  EXPECT_FALSE(a.is_leased(ip("10.0.0.2")));
  EXPECT_TRUE(a.is_leased(ip("10.0.0.3")));
  EXPECT_EQ(a.capacity(), 12u);
}

TEST(IpAllocator, MemoryIsAboutAQuarterBytePerAddressWhenNothingIsQueued) {
  IpAllocator a;
  ASSERT_TRUE(a.add_pool(PoolId{1}, cidr("10.0.0.0/12")).ok());
  EXPECT_LT(a.memory_bytes(), a.capacity() / 4 + 4096);
}

TEST(IpAllocator, ReserveReleaseCyclesDoNotGrowTheReleaseQueue) {
  IpAllocator a;
  ASSERT_TRUE(a.add_pool(PoolId{1}, cidr("10.0.0.0/24")).ok());
  ASSERT_EQ(drain(a).size(), 254u);
  ASSERT_TRUE(a.release(ip("10.0.0.7")).ok());
  const size_t before = a.memory_bytes();
  for (int i = 0; i < 100000; ++i) {
    ASSERT_TRUE(a.reserve(ip("10.0.0.7")).ok());
    ASSERT_TRUE(a.release(ip("10.0.0.7")).ok());
  }
  EXPECT_EQ(a.memory_bytes(), before);
}

// Random allocate/reserve/release/resize against a std::set model; two pools whose ranges move
// within their own /24s so they never overlap.
TEST(IpAllocator, RandomOperationsMatchASetModel) {
  // Fixed seeds keep CI hermetic; SIMCORE_SEED=<n> replays or explores one more.
  std::vector<uint64_t> seeds = {1, 2, 3, 4, 5, 6, 7, 8};
  if (const char* s = std::getenv("SIMCORE_SEED")) seeds = {std::strtoull(s, nullptr, 10)};
  for (const uint64_t seed : seeds) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    auto pick = [&rng](uint64_t n) {
      return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng);
    };

    IpAllocator a;
    Cidr shape[2] = {cidr("10.0.0.0/27"), cidr("10.0.1.64/28")};
    ASSERT_TRUE(a.add_pool(PoolId{1}, shape[0]).ok());
    ASSERT_TRUE(a.add_pool(PoolId{2}, shape[1]).ok());
    std::set<uint32_t> model;
    auto usable = [&](uint32_t v) {
      for (const Cidr& c : shape) {
        if (c.contains(Ipv4{v}) && v != c.first() && v != c.last()) return true;
      }
      return false;
    };
    auto capacity = [&] { return shape[0].size() - 2 + shape[1].size() - 2; };
    auto random_addr = [&] {  // 10.0.0.0 - 10.0.1.255, plus a little outside
      return uint32_t{ip("10.0.0.0").value} - 2 + static_cast<uint32_t>(pick(516));
    };

    for (int step = 0; step < 4000; ++step) {
      const uint64_t op = pick(100);
      if (op < 40) {
        auto r = a.allocate();
        if (model.size() == capacity()) {
          ASSERT_FALSE(r.ok()) << "step " << step;
          ASSERT_EQ(r.error().code(), Code::kResourceExhausted);
        } else {
          ASSERT_TRUE(r.ok()) << "step " << step << ": " << r.error().message();
          ASSERT_TRUE(usable(r->value)) << r->str();
          ASSERT_TRUE(model.insert(r->value).second) << "handed out twice: " << r->str();
        }
      } else if (op < 55) {
        const uint32_t v = random_addr();
        Status s = a.reserve(Ipv4{v});
        if (!usable(v)) {
          ASSERT_EQ(s.ok() ? Code::kInternal : s.error().code(), Code::kInvalidArgument);
        } else if (model.count(v)) {
          ASSERT_EQ(s.ok() ? Code::kInternal : s.error().code(), Code::kFailedPrecondition);
        } else {
          ASSERT_TRUE(s.ok()) << Ipv4{v}.str() << ": " << s.error().message();
          model.insert(v);
        }
      } else if (op < 95) {
        // Mostly release a leased address, sometimes a random one.
        uint32_t v = random_addr();
        if (!model.empty() && pick(4) != 0) {
          v = *std::next(model.begin(), static_cast<std::ptrdiff_t>(pick(model.size())));
        }
        Status s = a.release(Ipv4{v});
        ASSERT_EQ(s.ok(), model.erase(v) == 1) << Ipv4{v}.str();
      } else if (op < 99) {
        const size_t which = pick(2);
        const uint32_t base = ip(which == 0 ? "10.0.0.0" : "10.0.1.0").value;
        const auto len = static_cast<uint8_t>(25 + pick(6));
        const uint32_t size = uint32_t{1} << (32 - len);
        const Cidr to{Ipv4{base + size * static_cast<uint32_t>(pick(256 / size))}, len};
        bool fits = true;
        for (const uint32_t v : model) {
          if (shape[which].contains(Ipv4{v}) && !(v > to.first() && v < to.last())) fits = false;
        }
        Status s = a.resize_pool(PoolId{static_cast<uint32_t>(which + 1)}, to);
        ASSERT_EQ(s.ok(), fits) << shape[which].str() << " -> " << to.str();
        if (s.ok()) shape[which] = to;
      } else {
        a = IpAllocator(a);  // copies must carry the whole state
      }
      ASSERT_EQ(a.leased(), model.size());
      ASSERT_EQ(a.capacity(), capacity());
    }

    for (uint32_t v = ip("10.0.0.0").value - 2; v < ip("10.0.2.0").value + 2; ++v) {
      ASSERT_EQ(a.is_leased(Ipv4{v}), model.count(v) == 1) << Ipv4{v}.str();
    }
    // Every free address is still reachable: draining fills the network exactly.
    for (const Ipv4 addr : drain(a)) {
      ASSERT_TRUE(usable(addr.value)) << addr.str();
      ASSERT_TRUE(model.insert(addr.value).second) << "handed out twice: " << addr.str();
    }
    EXPECT_EQ(model.size(), capacity());
  }
}

}  // namespace
}  // namespace simcore::core
