#include "dataplane/packet/arp.h"

#include <cstring>

#include "dataplane/packet/wire.h"

namespace simcore::dp {

void arp_reply_in_place(Frame& f, const PacketView& v, const Mac& mac, uint32_t addr) noexcept {
  uint8_t* p = f.data();
  uint8_t* a = p + v.arp.off;
  // Ethernet: to whoever sent the request (its frame source), from us.
  std::memcpy(p, p + 6, 6);
  std::memcpy(p + 6, mac.data(), 6);
  // RFC 826 "swap the hardware and protocol fields, putting the local hardware and protocol
  // addresses in the sender fields, set the opcode to reply".
  store_be16(a + 6, kArpOpReply);
  std::memcpy(a + 18, a + 8, 6);  // target hardware ← requester's
  store_be32(a + 24, v.arp.spa);
  std::memcpy(a + 8, mac.data(), 6);
  store_be32(a + 14, addr);
}

bool arp_request(Frame& f, const Mac& mac, uint32_t addr, uint32_t target, uint16_t tci) noexcept {
  const uint32_t l2 = kEthHeaderLen + (tci != 0 ? kVlanTagLen : 0);
  const uint32_t need = l2 + kArpLen;
  if (f.buf.size() < need) return false;
  // The packet's bytes are discarded: start where it started if the request fits behind.
  if (f.data_off + need > f.buf.size()) f.data_off = static_cast<uint32_t>(f.buf.size()) - need;
  f.data_len = need;
  uint8_t* p = f.data();
  std::memset(p, 0xff, 6);
  std::memcpy(p + 6, mac.data(), 6);
  uint8_t* type = p + 12;
  if (tci != 0) {
    store_be16(type, kEtherTypeVlan);
    store_be16(type + 2, tci);
    type += kVlanTagLen;
  }
  store_be16(type, kEtherTypeArp);
  uint8_t* a = p + l2;
  store_be16(a, 1);
  store_be16(a + 2, kEtherTypeIpv4);
  a[4] = 6;
  a[5] = 4;
  store_be16(a + 6, kArpOpRequest);
  std::memcpy(a + 8, mac.data(), 6);
  store_be32(a + 14, addr);
  std::memset(a + 18, 0, 6);
  store_be32(a + 24, target);
  return true;
}

bool arp_sender(const uint8_t* frame, uint32_t len, uint32_t& addr, Mac& mac) noexcept {
  PacketView v;
  if (parse_frame(frame, len, ParseMode::kCore, v) != ParseStatus::kArp) return false;
  addr = v.arp.spa;
  std::memcpy(mac.data(), frame + v.arp.off + 8, 6);
  return true;
}

}  // namespace simcore::dp
