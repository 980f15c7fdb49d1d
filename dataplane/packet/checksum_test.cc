// The Internet checksum against RFC 1071's definition written out the slow way: 16-bit
// big-endian words one at a time, an odd byte padded with zero. ones_sum sums native 32-bit
// words and swaps once, so every length (odd, not a multiple of 4) and a carried-in sum matter.
#include "dataplane/packet/checksum.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <random>
#include <vector>

namespace simcore::dp {
namespace {

uint16_t rfc1071(const uint8_t* p, size_t len, uint32_t sum) {
  for (size_t i = 0; i + 1 < len; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (len % 2) sum += static_cast<uint32_t>(p[len - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

TEST(Checksum, OnesSumIsRfc1071ForEveryLengthAndCarriedSum) {
  std::mt19937_64 rng(11);
  std::vector<uint8_t> bytes(1600);
  for (int round = 0; round < 2000; ++round) {
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
    if (round % 3 == 0) std::fill(bytes.begin(), bytes.end(), 0xff);  // every carry at once
    const size_t len = rng() % bytes.size();
    const size_t off = rng() % 8;  // unaligned starts
    const uint32_t carried = static_cast<uint32_t>(rng() % 0x40000);
    const uint8_t* p = bytes.data() + off;
    const size_t n = std::min(len, bytes.size() - off);
    ASSERT_EQ(fold(ones_sum(p, n, carried)), rfc1071(p, n, carried)) << n << " bytes at " << off;
  }
}

// 20 bytes (an IPv4 header without options) take their own path in ones_sum; the lengths
// around it take the loop. The random lengths above meet 20 about once in 1,600.
TEST(Checksum, OnesSumOfAnOptionlessIpv4HeaderIsRfc1071) {
  std::mt19937_64 rng(12);
  uint8_t bytes[32];
  for (int round = 0; round < 3000; ++round) {
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
    if (round % 3 == 0) std::fill(std::begin(bytes), std::end(bytes), 0xff);
    const size_t off = rng() % 8;
    const uint32_t carried = static_cast<uint32_t>(rng() % 0x40000);
    for (size_t n = 16; n <= 24; ++n) {
      ASSERT_EQ(fold(ones_sum(bytes + off, n, carried)), rfc1071(bytes + off, n, carried))
          << n << " bytes at " << off;
    }
  }
}

// ipv4_header_verifies sums native words and never swaps: against RFC 1071's 0xffff for every
// header length, with the checksum field right (every other header) or random.
TEST(Checksum, Ipv4HeaderVerifiesExactlyWhenRfc1071SumsTo0xffff) {
  std::mt19937_64 rng(13);
  uint8_t bytes[68];
  int verified = 0;
  for (int round = 0; round < 4000; ++round) {
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
    if (round % 5 == 0) std::fill(std::begin(bytes), std::end(bytes), 0xff);  // every carry
    if (round % 7 == 0) std::fill(std::begin(bytes), std::end(bytes), 0);     // sums to zero
    const size_t off = rng() % 8;
    uint8_t* h = bytes + off;
    const size_t len = 20 + 4 * (rng() % 11);
    if (round % 2 == 0 && round % 7 != 0) {
      h[10] = h[11] = 0;
      const uint16_t c = static_cast<uint16_t>(~rfc1071(h, len, 0));
      h[10] = static_cast<uint8_t>(c >> 8);
      h[11] = static_cast<uint8_t>(c);
    }
    const bool want = rfc1071(h, len, 0) == 0xffff;
    verified += want;
    ASSERT_EQ(ipv4_header_verifies(h, len), want)
        << len << " bytes at " << off << ", round " << round;
  }
  EXPECT_GT(verified, 1000);  // both answers were asked for
}

TEST(Checksum, KnownHeaderVerifiesAndRecomputes) {
  // RFC 1071's own example bytes, and an IPv4 header with its checksum (0xb861).
  const uint8_t rfc[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(fold(ones_sum(rfc, sizeof rfc)), 0xddf2);
  uint8_t ip[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                  0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(fold(ones_sum(ip, sizeof ip)), 0xffff);
  EXPECT_TRUE(ipv4_header_verifies(ip, sizeof ip));
  ip[11] ^= 1;
  EXPECT_FALSE(ipv4_header_verifies(ip, sizeof ip));
  ip[10] = ip[11] = 0;
  EXPECT_EQ(internet_checksum(ip, sizeof ip), 0xb861);
}

}  // namespace
}  // namespace simcore::dp
