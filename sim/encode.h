// sim/encode.h — a policy-level packet (core::PacketDesc) as the Ethernet frame that carries
// it on the wire: uplink a G-PDU from the Thing's eNodeB to our access address, downlink plain
// IPv4 on the core port with the Thing's network's VLAN. Built with the data plane's own
// header writers (dataplane/packet/rewrite.h) so the frames are what the engine emits, plus a
// deliberate malformation when asked, whose parse status is then the expectation. Pure and
// deterministic: the same arguments give the same bytes. Any thread.
#pragma once

#include <cstdint>
#include <vector>

#include "core/verdict.h"
#include "dataplane/packet/parse.h"
#include "dataplane/pipeline.h"
#include "sim/scenario.h"

namespace simcore::sim {

struct FrameSpec {
  uint16_t size = 100;  // inner IPv4 total length (clamped up to the headers' length)
  uint16_t ip_id = 0;   // inner IPv4 identification
  uint32_t enodeb = 0;  // uplink: outer source (host order)
  uint16_t vlan = 0;    // downlink: 802.1Q VID on the core port, 0 untagged
  bool reply = false;   // ICMP: echo reply instead of request; TCP: ACK instead of SYN
  uint64_t payload_seed = 0;
  Malformation malformed = Malformation::kNone;
};

// Returns the frame for `p` arriving on the access port (uplink) or the core port (downlink).
std::vector<uint8_t> encode_frame(const core::PacketDesc& p, const dp::PortConfig& ports,
                                  const FrameSpec& spec);

// Returns the parse status a frame built with `m` has (kOk for kNone): the counter that must
// count it. `proto` is the packet's IP protocol.
dp::ParseStatus malformation_status(Malformation m) noexcept;

}  // namespace simcore::sim
