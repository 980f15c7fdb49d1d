// control/daemon/service.h — the API's service layer: the one writer of the account.
// Every request runs on the HTTP server's single thread, in order, so nothing here locks.
// A write is validated by core::Account, stored in one SQLite transaction (acknowledged only
// after commit), then recompiled (incrementally where the compiler can) and published to the
// TablesSink. If the store refuses a write, the account is reloaded from the store, which
// stays the source of truth.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "control/auth/tokens.h"
#include "control/daemon/config.h"
#include "control/daemon/tables_sink.h"
#include "control/gtpc/attach_backend.h"
#include "control/http/message.h"
#include "control/http/rate_limit.h"
#include "control/http/router.h"
#include "control/store/store.h"
#include "core/account.h"
#include "control/ike/status.h"
#include "core/compiler.h"

namespace simcore::ctl {

class Service {
 public:
  using Clock = std::function<int64_t()>;  // ms since the epoch

  // Opens the store in cfg.data_dir; loads the account, or on the first start creates the
  // shipped account and the first admin (credentials from cfg, or generated: see
  // generated_admin_secret()); compiles and publishes. Fails with the store's or the
  // compiler's error.
  static core::Result<std::unique_ptr<Service>> open(const DaemonConfig& cfg, TablesSink& sink,
                                                     Clock clock);
  ~Service();

  // Serves one request: token endpoint, or bearer check, rate limit, role check and route.
  http::Response handle(const http::Request& req);

  // The generated admin secret on a first start without one in the config (print it once).
  const std::optional<std::string>& generated_admin_secret() const;
  const std::string& admin_client_id() const;
  // The generation of the last published tables.
  uint64_t generation() const;
  // Every route, for comparing with the OpenAPI document.
  std::vector<http::RouteInfo> routes() const;

  // Returns the data plane's counters as Prometheus text (dp::render_prometheus) for
  // GET .../metrics, which serves simcored's own metrics followed by it. Set by whoever runs
  // the data plane, so control never links it; called on handle()'s thread once per scrape.
  using MetricsSource = std::function<std::string()>;
  // Sets (or with nullptr clears) the data plane's part of GET .../metrics. Same thread as
  // handle().
  void set_metrics_source(MetricsSource source);

  // The account as it stands, for the IKE daemon's connections. Same thread as handle().
  const core::Model& model() const;
  // The IKE daemon's view of a tunnel for GET .../ipsectunnels/{id}/status (nullopt: it has not
  // taken the tunnel up yet). Set by whoever runs IKE; unset, the status says IKE is off. Same
  // thread as handle().
  using TunnelStatusSource = std::function<std::optional<ike::TunnelStatus>(core::TunnelId)>;
  void set_tunnel_status_source(TunnelStatusSource source);

  // Background work, on the same thread as handle(): moves SMS along their lifecycle and runs
  // a bounded slice of the pending jobs (bulk actions, billing reports). Returns whether work
  // is still pending (call again soon); the daemon calls it from a timer.
  bool tick();

  // An MO SMS from the Thing (from the attach/signalling code; same thread as handle()):
  // stored as RECEIVED with an SMS_RECEIVED event and counted in today's usage. Returns its id.
  // Fails kNotFound (no such Thing), kInvalidArgument (text, as POST .../sms checks it),
  // kFailedPrecondition (the Thing is not ACTIVE or its SMS service is off: the network refuses
  // it and records nothing), kUnavailable (the store refused).
  core::Result<int64_t> receive_sms(core::ThingId thing, std::string_view text);
  // Adds data-plane byte counts to the Thing's usage of today (UTC, by the service's clock).
  // Same thread as handle(). Fails kNotFound (no such Thing), kUnavailable (the store refused).
  core::Status record_usage(core::ThingId thing, uint64_t bytes_up, uint64_t bytes_down);
  // The data plane's form of it: byte counts by ThingSlot (how workers count), many Things in
  // one transaction. Slots that name no Thing are skipped. Same thread as handle().
  struct SlotUsage {
    core::ThingSlot slot;
    uint64_t bytes_up = 0;
    uint64_t bytes_down = 0;
  };
  core::Status record_usage_by_slot(std::span<const SlotUsage> usage);

  // Attach (control/gtpc's PGW and GGSN): the subscriber side of Create/Delete requests.
  // Same thread as handle().
  gtpc::AttachBackend& attach_backend();
  // The GTP-C restart counter (Recovery IE): one more, modulo 256, on every start; stored.
  uint8_t gtp_restart_counter() const;
  // The uplink TEIDs of sessions that the API or a bulk job ended (SUSPENDED, RETIRED) since
  // the last call, for the GTP-C handlers to tell their peers. Same thread as handle().
  std::vector<uint32_t> take_ended_sessions();

  struct Impl;

 private:
  explicit Service(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace simcore::ctl
