// control/daemon/signalling.h — GTP-C between the access port and the attach handlers: punted
// frames in (GTPv2-C to the PGW, GTPv1-C to the GGSN, by the version bits), the handlers'
// datagrams out as Ethernet/IPv4/UDP frames. Acknowledgement follows durability: after each
// batch the backend is flushed first, and only then do the responses leave; a failed flush
// sends nothing and the handlers forget the batch's cached responses, so the peers retransmit.
// Control thread only. No DPDK here: frames go out through `Send`, so tests drive it directly.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "control/gtpc/attach_backend.h"
#include "control/gtpc/ggsn.h"
#include "control/gtpc/pgw.h"
#include "dataplane/neighbour.h"
#include "dataplane/packet/rewrite.h"

namespace simcore::ctl {

class Signalling {
 public:
  struct Options {
    core::Ipv4 address;       // the access port's: GTP-C and GTP-U endpoint
    dp::Mac mac{};            // the access port's
    uint8_t prefix_len = 24;  // of the access subnet: peers inside it are on-link
    uint8_t restart_counter = 0;
    std::vector<core::Ipv4> allowed_peers;  // empty: any SGW/SGSN
  };
  // Transmits one frame out of the access port; false when it could not be queued.
  using Send = std::function<bool(std::span<const uint8_t> frame)>;

  // `neighbours` (may be null) resolves peers we have not heard from in this run, and learns
  // on-link peers from their GTP-C: a peer that signals is about to receive G-PDUs, so the
  // fast path should not have to ARP for it first.
  Signalling(gtpc::AttachBackend& backend, const Options& options, Send send,
             dp::NeighbourTable* neighbours);

  // One punted frame. False when it is not a UDP datagram to our port 2123 (the caller
  // counts it); a GTP-C message the handlers reject is still consumed (they count it).
  bool on_frame(std::span<const uint8_t> frame, int64_t now_ms);
  // Ends a batch of frames: flush, then send; then Delete requests for the sessions control
  // ended (`ended`: their uplink TEIDs) and the handlers' retransmissions.
  void finish(std::span<const uint32_t> ended, int64_t now_ms);

  struct Stats {
    uint64_t datagrams = 0;       // GTP-C datagrams handed to a handler
    uint64_t sent = 0;            // frames queued out
    uint64_t send_failed = 0;     // the tx ring was full
    uint64_t unresolved = 0;      // no MAC for the destination: not sent
    uint64_t flush_failures = 0;  // batches whose responses were withheld
  };
  const Stats& stats() const noexcept { return stats_; }
  // The handlers' counters and these stats as Prometheus text (for GET .../metrics).
  std::string metrics() const;
  const gtpc::Pgw& pgw() const noexcept { return pgw_; }
  const gtpc::Ggsn& ggsn() const noexcept { return ggsn_; }

 private:
  void send_all(std::vector<gtpc::Datagram>& out);

  gtpc::AttachBackend& backend_;
  Options options_;
  Send send_;
  dp::NeighbourTable* neighbours_;
  gtpc::Pgw pgw_;
  gtpc::Ggsn ggsn_;
  std::vector<gtpc::Datagram> out_;  // the batch's datagrams, sent at finish()
  // Where each peer's GTP-C came from (its MAC, or its gateway's): replies and our requests
  // go back the same way without an ARP round trip.
  std::unordered_map<uint32_t, dp::Mac> peer_macs_;
  std::vector<uint8_t> buf_;
  Stats stats_;
};

}  // namespace simcore::ctl
