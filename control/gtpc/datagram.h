// control/gtpc/datagram.h — a UDP datagram in or out of a GTP-C handler. The handlers see
// payloads only; whoever carries them (the fast path's punt/transmit rings, a socket in tests)
// adds and strips Ethernet/IPv4/UDP.
#pragma once

#include <cstdint>
#include <vector>

#include "core/types.h"

namespace simcore::gtpc {

struct Endpoint {
  core::Ipv4 addr;
  uint16_t port = 0;
  constexpr bool operator==(const Endpoint&) const = default;
};

struct Datagram {
  Endpoint from;  // our address when outgoing
  Endpoint to;
  std::vector<uint8_t> payload;
};

inline constexpr uint16_t kGtpcPort = 2123;

}  // namespace simcore::gtpc
