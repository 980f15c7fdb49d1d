// control/daemon/fast_path.h — simcored's DPDK fast path: EAL and the engine from the config's
// `dataplane` section, fed every snapshot the service publishes, and the control thread's
// chores around it (punted frames, usage from the per-Thing counters, metrics). Compiled into
// the simcored executable only: the service layer (simcore_daemon) never links the data plane.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "control/daemon/config.h"
#include "control/daemon/ike_link.h"
#include "control/ike/ike.h"
#include "control/daemon/service.h"
#include "control/daemon/signalling.h"
#include "control/daemon/tables_sink.h"
#include "dataplane/dpdk/engine.h"

namespace simcore::ctl {

class FastPath final : public TablesSink {
 public:
  // Initialises EAL and opens the ports (the workers start with the first snapshot).
  static core::Result<std::unique_ptr<FastPath>> open(const DataplaneConfig& config);
  ~FastPath() override;  // stops the workers and closes the ports

  // TablesSink: hands the snapshot to the engine. A snapshot the engine cannot build (DPDK
  // out of memory) is logged and skipped: the workers keep the previous one.
  void publish(core::TablesPtr tables) override;

  // Control-thread chores, from the daemon's timer: learns neighbours from punted ARP
  // replies, hands GTP-C to the attach handlers (and sends what they answer), IKE to charon
  // (and sends what it answers; its connections follow the account's tunnels), counts punted
  // frames nobody handles, and every `usage_interval_ms` turns the growth of the per-Thing
  // byte counters into usage records.
  // Returns whether punted frames were left for the next call (a round handles at most
  // kPollBudget, so a flood cannot starve the API).
  bool poll(Service& service, int64_t now_ms);
  static constexpr size_t kPollBudget = 4096;

  // The workers' counters as Prometheus text, for Service::set_metrics_source.
  std::string metrics() const;

  dp::Engine& engine() noexcept { return *engine_; }
  // The GTP-C side, once the first poll() has made it (null before).
  const Signalling* signalling() const noexcept { return signalling_.get(); }
  uint64_t punts_unhandled() const noexcept { return punts_unhandled_; }
  // The embedded IKE daemon, when the config has dataplane.ike (null otherwise).
  ike::Ike* ike() noexcept { return ike_.get(); }
  int64_t usage_interval_ms = 1000;

 private:
  FastPath() = default;
  bool send_access(std::span<const uint8_t> frame);
  bool send_core(std::span<const uint8_t> frame);
  bool send(dp::Port port, std::span<const uint8_t> frame);
  void poll_ike(Service& service, int64_t now_ms);

  std::unique_ptr<dp::Engine> engine_;
  std::unique_ptr<Signalling> signalling_;
  core::Ipv4 access_address_;
  uint8_t access_prefix_len_ = 24;
  size_t slots_ = 0;                       // of the last published snapshot
  std::vector<dp::ThingCounters> billed_;  // per slot: counts already turned into usage
  int64_t last_usage_ms_ = 0;
  uint64_t punts_unhandled_ = 0;

  IkeLink::Options core_link_;  // the core port's addressing, for IKE
  std::unique_ptr<ike::Ike> ike_;
  std::unique_ptr<IkeLink> ike_link_;
  uint64_t ike_generation_ = ~uint64_t{0};  // the account generation charon last synced to
};

}  // namespace simcore::ctl
