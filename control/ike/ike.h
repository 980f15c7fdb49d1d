// control/ike/ike.h — the embedded IKEv2 daemon (strongSwan's charon, through charon_shim.h)
// as simcored's control thread sees it: the account's IPsec tunnels in, IKE datagrams in and
// out (the punt path), the SAs charon negotiated out (for the fast path's SAD) and each
// tunnel's status for the API.
//
// Threads: charon calls back on its own threads; those only queue under a mutex. Everything
// public is for the control thread. One Ike per process (charon is a process singleton).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "control/ike/status.h"
#include "core/account.h"
#include "core/result.h"

namespace simcore::ctl::ike {

struct Options {
  core::Ipv4 local;  // the core port's address
  uint16_t port = 500;
  uint16_t natt_port = 4500;
  uint16_t peer_port = 500;  // where peers listen (labs with several peers on one host differ)
  int log_level = -1;        // charon's log level on stderr, -1 silent .. 4
  unsigned retransmit_tries = 0;     // 0: strongSwan's default
  double retransmit_timeout_s = 0;   // 0: strongSwan's default
  uint32_t child_rekey_seconds = 0;  // 0: 1 h
  bool force_udp_encap = false;      // ESP in UDP (and IKE on the NAT-T port) without a NAT
  // An initiator tunnel without any IKE_SA (charon gave up: a wrong PSK, no common proposal)
  // is initiated again this often, so fixing the peer brings it up without touching ours.
  uint32_t retry_seconds = 10;
};

// A UDP datagram of IKE, host order.
struct Datagram {
  core::Ipv4 src, dst;
  uint16_t sport = 0, dport = 0;
  std::vector<uint8_t> payload;
};

// One direction of a CHILD_SA as charon installed it: what the fast path's SAD holds.
struct Sa {
  core::TunnelId tunnel;
  uint32_t spi = 0;
  core::Ipv4 src, dst;  // outer addresses
  uint16_t sport = 0, dport = 0;  // UDP ports when encap
  bool inbound = false;
  bool encap = false;  // ESP-in-UDP (NAT-T)
  bool esn = false;
  uint16_t enc_alg = 0, int_alg = 0;  // IKEv2 transform ids
  std::vector<uint8_t> enc_key, int_key;
  uint32_t replay_window = 0;
  std::string enc_name, int_name;
  int64_t installed_ms = 0;
};

class Ike {
 public:
  using Clock = std::function<int64_t()>;  // ms since the epoch
  // The fast path's use of an SA (spi, outer destination); false when it has none.
  using UsageSource = std::function<bool(uint32_t spi, core::Ipv4 dst, uint64_t& bytes,
                                         uint64_t& packets, uint64_t& last_used_s)>;

  // Starts charon. Fails kUnavailable when it cannot (another one in this process, plugins
  // missing).
  static core::Result<std::unique_ptr<Ike>> start(const Options& options, Clock clock);
  ~Ike();  // closes every tunnel (DELETE to the peers) and stops charon
  Ike(const Ike&) = delete;
  Ike& operator=(const Ike&) = delete;

  // A punted datagram for charon; false if it is not IKE for us (wrong address or port, an
  // ESP-in-UDP packet on the NAT-T port) or charon's queue is full.
  bool deliver(const Datagram& d);

  // Makes charon's connections those of the model's tunnels: new ones added (an initiator
  // starts at once), changed ones replaced, deleted ones closed. A tunnel charon refuses (a
  // proposal it cannot parse) shows why in its status.
  void sync(const core::Model& model);

  // Initiates again the initiator tunnels that have been without an IKE_SA for retry_seconds.
  void tick(int64_t now_ms);

  // What charon sent since the last call, oldest first.
  std::vector<Datagram> take_outgoing();
  // The installed SAs if they changed since the last call.
  std::optional<std::vector<Sa>> take_sad();
  std::vector<Sa> sad() const;

  // The tunnel's status; nullopt for a tunnel this daemon does not know.
  std::optional<TunnelStatus> status(core::TunnelId id) const;
  // Rekeys the tunnel's CHILD_SAs now, as their lifetime would. False without one.
  bool rekey(core::TunnelId id);

  void set_usage_source(UsageSource source);
  // IKE messages charon could not parse (garbage on the punt path), since start.
  uint64_t malformed() const;

  struct Shared;  // what charon's threads write

 private:
  Ike(Options options, Clock clock);
  struct Applied {
    std::string fingerprint;  // every field charon's connection is made of
    std::optional<std::string> error;
    bool initiator = false;
    int64_t initiated_ms = 0;  // 0: not yet by tick()
  };
  Options options_;
  std::unique_ptr<Shared> shared_;
  std::map<core::TunnelId, Applied> applied_;
};

}  // namespace simcore::ctl::ike
