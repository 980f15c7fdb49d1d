// dataplane/testing/packet_encode.h — a policy-level packet (core::PacketDesc) as the frame
// that would carry it, for differential tests: a G-PDU to the access port's address, or plain
// IPv4 (sometimes VLAN-tagged) on the core port; random payload and options from `rng`.
#pragma once

#include <random>

#include "core/verdict.h"
#include "dataplane/pipeline.h"
#include "dataplane/testing/frame_builder.h"

namespace simcore::dp::testing {

Bytes encode_packet(const core::PacketDesc& p, const PortConfig& ports, std::mt19937_64& rng);

}  // namespace simcore::dp::testing
