// control/gtpc/pgw.h — the PGW of S5/S8 (and a combined SGW/PGW toward an MME on S11) in
// GTPv2-C (TS 29.274): answers Echo, Create Session, Modify Bearer and Delete Session Requests
// through an AttachBackend, answers retransmitted requests from a response cache, detects peer
// restarts and sends network-initiated Delete Bearer Requests with retransmission (T3/N3).
// Single-threaded (control's thread); time is injected (now_ms); no exceptions: bad input is
// counted and dropped or answered with its cause. Only the first message of a datagram is
// processed: toward a PGW a piggybacked message (P flag, 29.274 5.5) answers a Create Bearer
// Request, which this PGW never sends, so it is validated by the codec, counted and ignored.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "control/gtpc/attach_backend.h"
#include "control/gtpc/datagram.h"
#include "control/gtpc/gtpv2.h"
#include "control/gtpc/transactions.h"
#include "core/types.h"

namespace simcore::gtpc {

struct PgwConfig {
  core::Ipv4 control_addr;  // our GTP-C address (the F-TEIDs for control plane)
  core::Ipv4 user_addr;     // our GTP-U address (the bearers' F-TEIDs)
  uint8_t restart_counter = 0;
  std::vector<core::Ipv4> allowed_peers;  // empty: any
  int64_t response_cache_ms = 60000;
  int64_t request_timeout_ms = 3000;  // T3-RESPONSE
  int request_retries = 3;            // N3-REQUESTS
};

// One counter per outcome; read by the daemon for its counter listing.
struct PgwCounters {
  uint64_t echo_requests = 0;
  uint64_t create_requests = 0;
  uint64_t modify_requests = 0;
  uint64_t delete_requests = 0;
  uint64_t delete_bearer_responses = 0;
  uint64_t accepted = 0;  // Create Session Requests answered with 16 or 18
  uint64_t refused_unknown_imsi = 0;
  uint64_t refused_not_active = 0;
  uint64_t refused_data_off = 0;
  uint64_t refused_unknown_apn = 0;
  uint64_t refused_rat_not_allowed = 0;
  uint64_t refused_roaming_not_allowed = 0;
  uint64_t refused_imei_locked = 0;
  uint64_t refused_no_address = 0;
  uint64_t refused_system_failure = 0;
  uint64_t refused_pdn_type = 0;  // IPv6-only or non-IP PDN type: 83
  uint64_t modifies_accepted = 0;
  uint64_t deletes_accepted = 0;
  uint64_t malformed = 0;            // bad header or length: dropped, or 67 for a request
  uint64_t mandatory_missing = 0;    // 70
  uint64_t mandatory_incorrect = 0;  // 69
  uint64_t unknown_message = 0;      // a message type a PGW does not take: dropped
  uint64_t unknown_peer = 0;         // not in allowed_peers (dropped), or a Delete Session
                                     // from a peer other than the session's (64)
  uint64_t retransmissions_answered = 0;
  uint64_t context_not_found = 0;      // Modify/Delete for a TEID or EBI we do not know: 64
  uint64_t version_not_supported = 0;  // other GTP versions, answered with Version Not Supported
  uint64_t peer_restarts = 0;          // a peer's Recovery changed: its sessions detached
  uint64_t delete_bearer_sent = 0;     // network-initiated Delete Bearer Requests
  uint64_t delete_bearer_answered = 0;
  uint64_t delete_bearer_timeouts = 0;  // no response after the last retry: context dropped
  uint64_t unmatched_responses = 0;     // a response to nothing we have pending
  uint64_t piggybacked_ignored = 0;     // piggybacked messages (P flag) not processed
};

class Pgw {
 public:
  // The backend must outlive the Pgw.
  Pgw(AttachBackend& backend, PgwConfig cfg);

  // Handles one datagram to our UDP port 2123; appends what to send to `out` (responses go to
  // the request's source endpoint). The caller sends `out` only after backend.flush()
  // succeeded, and calls forget_responses() if not, then tick().
  void on_datagram(const Datagram& in, int64_t now_ms, std::vector<Datagram>& out);
  // Control ended the session with our `uplink_teid` (Thing SUSPENDED/RETIRED): sends a
  // Delete Bearer Request to its peer. No-op when no context has that TEID.
  void on_session_ended(uint32_t uplink_teid, int64_t now_ms, std::vector<Datagram>& out);
  // Retransmits due requests, gives up on exhausted ones, ages the response cache; ends the
  // batch of responses forget_responses() can withdraw.
  void tick(int64_t now_ms, std::vector<Datagram>& out);
  // The backend's flush failed: the responses cached since the last tick() were never sent
  // and must not be replayed (the peers retransmit and get a fresh answer).
  void forget_responses();

  const PgwCounters& counters() const { return counters_; }
  // Returns the number of sessions (PDN connections) held.
  size_t sessions() const { return contexts_.size(); }

 private:
  struct Context {
    core::Ipv4 peer;         // where its GTP-C comes from (restarts, Delete checks)
    Endpoint peer_control;   // the peer's Sender F-TEID address, port 2123: our requests
    uint32_t peer_teid = 0;  // the peer's control TEID: our messages' header TEID
    uint8_t ebi = 0;
    bool s11 = false;  // created by an MME/SGSN on S11/S4: we answer as its SGW
    std::string imsi;
  };
  void handle_v2(const Datagram& in, const v2::Message& msg, int64_t now_ms,
                 std::vector<Datagram>& out);
  std::vector<uint8_t> handle_create(const Datagram& in, const v2::Message& msg);
  std::vector<uint8_t> handle_modify(const Datagram& in, const v2::Message& msg);
  std::vector<uint8_t> handle_delete(const Datagram& in, const v2::Message& msg);
  void handle_delete_bearer_response(const Datagram& in, const v2::Message& msg);
  // The answer to a request whose length fields are inconsistent (7.7.3), or nothing.
  std::vector<uint8_t> invalid_length(const v2::Header& h) const;
  // Notes the peer's Recovery; a changed value detaches the sessions it held.
  void check_recovery(core::Ipv4 peer, std::optional<uint8_t> recovery);
  void drop_context(uint32_t teid);
  bool peer_allowed(core::Ipv4 peer) const;
  void reply(const Datagram& in, const ResponseCache::Key& key, std::vector<uint8_t> payload,
             int64_t now_ms, std::vector<Datagram>& out);

  AttachBackend& backend_;
  PgwConfig cfg_;
  PgwCounters counters_;
  std::map<uint32_t, Context> contexts_;     // by our TEID (= the backend's uplink TEID)
  std::map<std::string, uint32_t> by_imsi_;  // one PDN connection per IMSI
  ResponseCache cache_;
  PendingRequests pending_;  // our Delete Bearer Requests
  PeerRestarts restarts_;
  uint32_t next_seq_ = 1;
};

}  // namespace simcore::gtpc
