// dataplane/packet/frame.h — one packet in a caller-owned byte buffer with headroom, the model
// of rte_mbuf's single segment: buf is buf_addr/buf_len, data_off and data_len are the mbuf's.
// prepend/adj/trim/append behave like rte_pktmbuf_prepend/adj/trim/append, so the DPDK adapter
// maps one to one. Not thread-safe (a frame belongs to one worker); never allocates.
#pragma once

#include <cstdint>
#include <span>

namespace simcore::dp {

// Bytes reserved before a received frame, as RTE_PKTMBUF_HEADROOM.
inline constexpr uint32_t kDefaultHeadroom = 128;

struct Frame {
  std::span<uint8_t> buf;  // the whole buffer, owned by the caller
  uint32_t data_off = 0;   // first byte of the packet
  uint32_t data_len = 0;   // bytes of the packet

  uint8_t* data() const noexcept { return buf.data() + data_off; }
  uint32_t headroom() const noexcept { return data_off; }
  uint32_t tailroom() const noexcept {
    return static_cast<uint32_t>(buf.size()) - data_off - data_len;
  }
  std::span<const uint8_t> bytes() const noexcept { return {data(), data_len}; }

  // Returns the new start after growing the packet by n bytes at the front, or nullptr (and no
  // change) when the headroom is smaller than n.
  uint8_t* prepend(uint32_t n) noexcept {
    if (n > data_off) return nullptr;
    data_off -= n;
    data_len += n;
    return data();
  }
  // Removes n bytes from the front; false (no change) when the packet is shorter.
  bool adj(uint32_t n) noexcept {
    if (n > data_len) return false;
    data_off += n;
    data_len -= n;
    return true;
  }
  // Removes n bytes from the end; false (no change) when the packet is shorter.
  bool trim(uint32_t n) noexcept {
    if (n > data_len) return false;
    data_len -= n;
    return true;
  }
  // Returns the first new byte after growing the packet by n bytes at the end, or nullptr.
  uint8_t* append(uint32_t n) noexcept {
    if (n > tailroom()) return nullptr;
    uint8_t* p = data() + data_len;
    data_len += n;
    return p;
  }
};

}  // namespace simcore::dp
