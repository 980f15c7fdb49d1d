// control/daemon/ike_link.h — IKE between the core port and the embedded charon: punted frames
// (UDP 500/4500 to the core port's address) in, charon's datagrams out as Ethernet/IPv4/UDP
// frames. A peer nobody has resolved yet is ARPed for and its datagrams wait (a bounded time)
// instead of being lost until charon's first retransmission, seconds later. IKE leaves
// untagged: the peer sits on the core port's own subnet or behind its gateway.
// Control thread only. No DPDK here: frames go out through `Send`, so tests drive it directly.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "control/ike/ike.h"
#include "dataplane/neighbour.h"
#include "dataplane/packet/rewrite.h"

namespace simcore::ctl {

class IkeLink {
 public:
  struct Options {
    core::Ipv4 address;  // the core port's
    dp::Mac mac{};
    uint8_t prefix_len = 24;
    std::optional<core::Ipv4> gateway;  // next hop off the core subnet
  };
  using Send = std::function<bool(std::span<const uint8_t> frame)>;

  IkeLink(ike::Ike& ike, const Options& options, Send send, dp::NeighbourTable* neighbours);

  // One punted frame: true when it was IKE for charon (handed over, or dropped and counted
  // because charon would not take it); false when it is not UDP to our IKE ports.
  bool on_frame(std::span<const uint8_t> frame);
  // Sends what charon queued, and what waited for an ARP answer that has come.
  void flush(int64_t now_ms);

  struct Stats {
    uint64_t received = 0;    // datagrams handed to charon
    uint64_t refused = 0;     // not taken: ESP-in-UDP on 4500, charon's queue full, empty
    uint64_t sent = 0;
    uint64_t send_failed = 0;
    uint64_t unresolved = 0;  // dropped after waiting for ARP
    uint64_t arp_requests = 0;
  };
  const Stats& stats() const noexcept { return stats_; }
  std::string metrics() const;

  static constexpr int64_t kResolveWaitMs = 1000;

 private:
  struct Waiting {
    ike::Datagram d;
    uint32_t next_hop;
    int64_t since_ms;
  };
  uint32_t next_hop(uint32_t dst) const;
  bool send_one(const ike::Datagram& d, const dp::Mac& dst);

  ike::Ike& ike_;
  Options options_;
  Send send_;
  dp::NeighbourTable* neighbours_;
  std::deque<Waiting> waiting_;
  std::vector<uint8_t> buf_;
  Stats stats_;
};

}  // namespace simcore::ctl
