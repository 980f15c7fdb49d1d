// dataplane/packet/arp.h — ARP (RFC 826) for Ethernet/IPv4: answering a request in place,
// writing a request for a next hop, and reading the sender of a punted reply. Addresses host
// order. Any thread on its own frames; no allocation; a helper that cannot apply returns false.
#pragma once

#include <cstdint>

#include "dataplane/packet/frame.h"
#include "dataplane/packet/parse.h"
#include "dataplane/packet/rewrite.h"

namespace simcore::dp {

// Turns the ARP request in f (parsed as `v`, status kArp, op 1) into the reply from (mac,
// addr) in place: Ethernet back to the requester's source MAC, VLAN tags and length (padding)
// kept, op 2, sender (mac, addr), target the requester.
void arp_reply_in_place(Frame& f, const PacketView& v, const Mac& mac, uint32_t addr) noexcept;

// Replaces f's content with a broadcast ARP request from (mac, addr) for `target`, with one
// 802.1Q tag when tci != 0 (42 or 46 bytes; the port pads to 60). The data start is kept when
// the buffer allows. False (f unchanged) when f's buffer is shorter than the request.
bool arp_request(Frame& f, const Mac& mac, uint32_t addr, uint32_t target, uint16_t tci) noexcept;

// Reads the sender (protocol and hardware address) of a well-formed Ethernet/IPv4 ARP frame,
// e.g. a punted reply, for NeighbourTable::set on the control thread. False when malformed.
bool arp_sender(const uint8_t* frame, uint32_t len, uint32_t& addr, Mac& mac) noexcept;

}  // namespace simcore::dp
