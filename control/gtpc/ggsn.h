// control/gtpc/ggsn.h — the GGSN of the Gn interface (GTPv1-C, TS 29.060): answers Echo and
// Create/Update/Delete PDP Context Requests through an AttachBackend, caches responses for
// retransmitted requests, detects SGSN restarts and sends network-initiated Delete PDP Context
// Requests with retransmission. Single-threaded (control's thread); time is injected (now_ms);
// no exceptions: bad input is counted and dropped or answered with its cause.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "control/gtpc/attach_backend.h"
#include "control/gtpc/datagram.h"
#include "control/gtpc/gtpv1.h"
#include "control/gtpc/transactions.h"
#include "core/types.h"

namespace simcore::gtpc {

struct GgsnConfig {
  core::Ipv4 control_addr;  // our GSN Address for signalling (GTP-C source)
  core::Ipv4 user_addr;     // our GSN Address for user traffic (GTP-U)
  uint8_t restart_counter = 0;
  std::vector<core::Ipv4> allowed_peers;  // empty: any
  int64_t response_cache_ms = 60000;
  int64_t request_timeout_ms = 3000;
  int request_retries = 3;
};

// One counter per outcome; read by the daemon for its counter listing.
struct GgsnCounters {
  uint64_t echo_requests = 0;
  uint64_t create_requests = 0;
  uint64_t update_requests = 0;
  uint64_t delete_requests = 0;
  uint64_t accepted = 0;  // Create PDP Context Requests answered with 128
  uint64_t refused_unknown_imsi = 0;
  uint64_t refused_not_active = 0;
  uint64_t refused_data_off = 0;
  uint64_t refused_unknown_apn = 0;
  uint64_t refused_rat_not_allowed = 0;
  uint64_t refused_roaming_not_allowed = 0;
  uint64_t refused_imei_locked = 0;
  uint64_t refused_no_address = 0;
  uint64_t refused_system_failure = 0;
  uint64_t refused_pdp_type = 0;   // IPv6-only or non-IP PDP type: 220
  uint64_t refused_ipv6_sgsn = 0;  // SGSN with IPv6 GSN addresses only: 200
  uint64_t updates_accepted = 0;
  uint64_t deletes_accepted = 0;
  uint64_t malformed = 0;            // bad header (dropped) or bad IE layout (193)
  uint64_t mandatory_missing = 0;    // 202
  uint64_t mandatory_incorrect = 0;  // 201
  uint64_t unknown_message = 0;      // a message type a GGSN does not take: dropped
  uint64_t unknown_peer = 0;         // not in allowed_peers (dropped), or Delete from a
                                     // peer other than the context's SGSN (192)
  uint64_t retransmissions_answered = 0;
  uint64_t non_existent = 0;           // Update/Delete for a TEID we do not know: 192
  uint64_t version_not_supported = 0;  // GTPv0/v2 answered with Version Not Supported
  uint64_t peer_restarts = 0;          // an SGSN's Recovery changed: its contexts detached
  uint64_t delete_sent = 0;            // network-initiated Delete PDP Context Requests
  uint64_t delete_answered = 0;
  uint64_t delete_timeouts = 0;      // no response after the last retry: context dropped
  uint64_t unmatched_responses = 0;  // a response to nothing we have pending
};

class Ggsn {
 public:
  // The backend must outlive the Ggsn.
  Ggsn(AttachBackend& backend, GgsnConfig cfg);

  // Handles one datagram to our control address; appends what to send to `out`. The caller
  // sends `out` only after backend.flush() succeeded (and calls forget_responses() if not).
  void on_datagram(const Datagram& in, int64_t now_ms, std::vector<Datagram>& out);
  // The backend ended the session with our `uplink_teid` (operator, retirement): sends a
  // Delete PDP Context Request to its SGSN. No-op when no context has that TEID.
  void on_session_ended(uint32_t uplink_teid, int64_t now_ms, std::vector<Datagram>& out);
  // Retransmits due requests, gives up on exhausted ones, ages the response cache.
  void tick(int64_t now_ms, std::vector<Datagram>& out);
  // The backend's flush failed: the cached responses were never sent and must not be replayed.
  void forget_responses();

  const GgsnCounters& counters() const { return counters_; }
  // Returns the number of PDP contexts held.
  size_t sessions() const { return contexts_.size(); }

 private:
  struct Context {
    core::Ipv4 sgsn_addr;  // the SGSN's control address: requests go to its port 2123
    uint32_t sgsn_teid = 0;
    uint8_t nsapi = 0;
    std::string imsi;
  };
  void handle_v1(const Datagram& in, int64_t now_ms, std::vector<Datagram>& out);
  std::vector<uint8_t> handle_create(const Datagram& in, const v1::Message& msg);
  std::vector<uint8_t> handle_update(const Datagram& in, const v1::Message& msg);
  std::vector<uint8_t> handle_delete(const Datagram& in, const v1::Message& msg);
  void handle_delete_response(const Datagram& in, const v1::Message& msg);
  // Notes the SGSN's Recovery; a changed value detaches the contexts it held.
  void check_recovery(core::Ipv4 peer, std::optional<uint8_t> recovery);
  void drop_context(uint32_t teid);
  bool peer_allowed(core::Ipv4 peer) const;
  void reply(const Datagram& in, std::vector<uint8_t> payload, std::vector<Datagram>& out);

  AttachBackend& backend_;
  GgsnConfig cfg_;
  GgsnCounters counters_;
  std::map<uint32_t, Context> contexts_;  // by our TEID (= the backend's uplink TEID)
  std::map<std::pair<std::string, uint8_t>, uint32_t> by_imsi_nsapi_;
  ResponseCache cache_;
  PendingRequests pending_;  // our Delete PDP Context Requests
  PeerRestarts restarts_;
  uint16_t next_seq_ = 1;
};

}  // namespace simcore::gtpc
