// control/gtpc/transactions.h — the reliable-delivery rules GTPv1-C and GTPv2-C share
// (TS 29.060 7.6, TS 29.274 7.6): answers cached for retransmitted requests, our own requests
// retransmitted until answered or given up (T3/N3), and peers' restart counters. The handlers
// keep what differs: sequence-number widths, message layouts, what a timeout or a restart means
// for their contexts.
#pragma once

#include <compare>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "control/gtpc/datagram.h"
#include "core/types.h"

namespace simcore::gtpc {

// Answers we gave, for retransmitted requests. A retransmission is a byte-identical copy from
// the same peer endpoint with the same sequence number and type: a restarted peer that reuses
// its sequence numbers for a different request gets a fresh answer.
class ResponseCache {
 public:
  struct Key {
    uint32_t addr = 0;
    uint16_t port = 0;
    uint32_t seq = 0;
    uint8_t type = 0;
    auto operator<=>(const Key&) const = default;
  };

  explicit ResponseCache(int64_t lifetime_ms) : lifetime_ms_(lifetime_ms) {}

  // The answer to `request` when it retransmits one answered less than the lifetime ago.
  const std::vector<uint8_t>* find(const Key& key, std::span<const uint8_t> request,
                                   int64_t now_ms) const;
  // Caches `response` (nothing when the lifetime is 0). It belongs to the current batch until
  // the next expire().
  void remember(const Key& key, std::span<const uint8_t> request,
                const std::vector<uint8_t>& response, int64_t now_ms);
  // Drops what has lived its lifetime, and closes the batch (its answers were sent).
  void expire(int64_t now_ms);
  // Forgets the current batch's answers: they were never sent (the backend's flush failed).
  void forget_batch();

 private:
  struct Cached {
    std::vector<uint8_t> request;
    std::vector<uint8_t> response;
    int64_t expires_ms = 0;
  };
  int64_t lifetime_ms_;
  std::map<Key, Cached> cached_;
  std::deque<std::pair<int64_t, Key>> order_;  // insertion (= expiry) order
  std::vector<Key> batch_;
};

// Requests we sent (network-initiated deletes), by our sequence number, each for one context
// (our TEID). Retransmitted every timeout until answered or out of retries.
class PendingRequests {
 public:
  PendingRequests(int64_t timeout_ms, int retries) : timeout_ms_(timeout_ms), retries_(retries) {}

  bool has(uint32_t teid) const;
  // Sends `request` (appends it to `out`) and waits for its answer.
  void send(uint32_t seq, uint32_t teid, Datagram request, int64_t now_ms,
            std::vector<Datagram>& out);
  // The TEID of the request a response from `from` with this sequence number answers.
  std::optional<uint32_t> match(uint32_t seq, core::Ipv4 from) const;
  // Forgets every request for this context.
  void drop(uint32_t teid);
  // Retransmits the requests that are due; returns the TEIDs of those out of retries (no longer
  // pending).
  std::vector<uint32_t> tick(int64_t now_ms, std::vector<Datagram>& out);

 private:
  struct Pending {
    uint32_t teid = 0;
    Datagram request;
    int64_t deadline_ms = 0;
    int retries_left = 0;
  };
  int64_t timeout_ms_;
  int retries_;
  std::map<uint32_t, Pending> pending_;
};

// Each peer's last Recovery (restart counter).
class PeerRestarts {
 public:
  // Notes `recovery` from `peer`; true when it differs from the one noted before: the peer
  // restarted and lost the contexts it had with us.
  bool restarted(core::Ipv4 peer, std::optional<uint8_t> recovery);

 private:
  std::map<uint32_t, uint8_t> last_;
};

}  // namespace simcore::gtpc
