// dataplane/packet/checksum.h — the Internet checksum (RFC 1071) computed from scratch, and its
// incremental update (RFC 1624 eqn. 3) for rewrites that change a few 16-bit words. Checksum
// values are returned and taken in host order as they read from the wire with load_be16.
// Pure; any thread; no allocation.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace simcore::dp {

namespace checksum_detail {

// One 32-bit word at p in the machine's own order (any alignment).
inline uint64_t word32(const uint8_t* p) noexcept {
  uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}

// The five words of a 20-byte IPv4 header, one load each: a 20-byte memcpy into an array
// became a vector store and five reloads (perf put ~30% of EspSa::encrypt's own samples on
// them when it summed its outer header so, 2026-11-29).
inline uint64_t header20(const uint8_t* p) noexcept {
  return word32(p) + word32(p + 4) + word32(p + 8) + word32(p + 12) + word32(p + 16);
}

// `acc`, a sum of fewer than 2^32 words, folded to 32 bits with its end-around carries.
inline uint32_t fold64(uint64_t acc) noexcept {
  acc = (acc & 0xffffffff) + (acc >> 32);
  acc = (acc & 0xffffffff) + (acc >> 32);
  return static_cast<uint32_t>(acc);
}

}  // namespace checksum_detail

// Returns the one's-complement sum of `len` bytes (big-endian words, an odd byte padded with
// zero) added to `sum`, not folded and not complemented. The bytes are summed as the machine's
// own 32-bit words and the folded result swapped once (RFC 1071 §2(B): the sum does not depend
// on byte order): five loads for an IPv4 header instead of ten 16-bit steps. A 20-byte header
// (the headers the data plane builds) is summed without the loop, which cost ~25 instructions
// of loop control a call (callgrind on engine_bench, 2026-11-29).
inline uint32_t ones_sum(const uint8_t* p, size_t len, uint32_t sum = 0) noexcept {
  uint64_t acc = 0;
  if (len == 20) {
    acc = checksum_detail::header20(p);
    len = 0;
  }
  for (; len >= 4; p += 4, len -= 4) acc += checksum_detail::word32(p);
  if (len >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    acc += w;
    p += 2;
    len -= 2;
  }
  if (len) acc += p[0];  // the byte that comes first in its 16-bit word
  uint32_t s32 = checksum_detail::fold64(acc);
  s32 = (s32 & 0xffff) + (s32 >> 16);
  s32 = (s32 & 0xffff) + (s32 >> 16);
  if constexpr (std::endian::native == std::endian::little) {
    s32 = ((s32 & 0xff) << 8) | (s32 >> 8);
  }
  return sum + s32;
}

// Returns whether the IPv4 header at h, `hdr_len` bytes (IHL * 4: a multiple of 4 from 20 to
// 60) with its checksum field in place, verifies: its words sum to 0xffff (RFC 1071 4.1). A
// check needs no byte swap (0xffff reads the same either way), and the upper half of
// s + rotr(s, 16) is the one's-complement sum of s's halves with its end-around carry. This
// runs twice per G-PDU; through ones_sum and fold it cost ~40 instructions a header, not
// inlined (callgrind on pipeline_bench, 2026-11-29).
inline bool ipv4_header_verifies(const uint8_t* h, size_t hdr_len) noexcept {
  uint64_t acc = checksum_detail::header20(h);
  if (hdr_len > 20) {  // options: rare
    for (size_t i = 20; i < hdr_len && i < 60; i += 4) acc += checksum_detail::word32(h + i);
  }
  const uint32_t s = checksum_detail::fold64(acc);
  return ((s + std::rotr(s, 16)) >> 16) == 0xffff;
}

// Returns `sum` folded to 16 bits (end-around carry).
inline uint16_t fold(uint32_t sum) noexcept {
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// Returns the checksum field value for `len` bytes whose checksum field is zero.
inline uint16_t internet_checksum(const uint8_t* p, size_t len, uint32_t sum = 0) noexcept {
  return static_cast<uint16_t>(~fold(ones_sum(p, len, sum)));
}

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), for one 16-bit word changing from m to m'.
inline uint16_t checksum_update16(uint16_t hc, uint16_t from, uint16_t to) noexcept {
  const uint32_t sum = uint32_t{static_cast<uint16_t>(~hc)} + static_cast<uint16_t>(~from) + to;
  return static_cast<uint16_t>(~fold(sum));
}

// The same for a 32-bit field (an IPv4 address): both of its words.
inline uint16_t checksum_update32(uint16_t hc, uint32_t from, uint32_t to) noexcept {
  const uint32_t sum = uint32_t{static_cast<uint16_t>(~hc)} + static_cast<uint16_t>(~(from >> 16)) +
                       static_cast<uint16_t>(~from) + (to >> 16) + (to & 0xffff);
  return static_cast<uint16_t>(~fold(sum));
}

}  // namespace simcore::dp
