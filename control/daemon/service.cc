// control/daemon/service.cc — Service: open (first start or restore), the bearer check, rate
// limits and dispatch. The routes live in routes_*.cc, one file per resource family.
#include "control/daemon/service.h"

#include "control/daemon/openapi_doc.h"
#include "control/daemon/service_impl.h"
#include "control/daemon/sessions.h"

namespace simcore::ctl {

void Service::Impl::register_routes() {
  SIMCORE_CHECK(
      router
          .add_unprefixed(Verb::post, "/oauth/client_credential/accesstoken",
                          [this](const Request& req, const PathParams&) { return token(req); })
          .ok());
  register_thing_routes();
  register_group_routes();
  register_network_routes();
  register_profile_routes();
  register_user_routes();
  register_sms_routes();
  register_job_routes();
  register_billing_routes();
  register_event_routes();
  register_metrics_routes();
  // The contract itself, for clients that generate code or collections from it.
  route(Verb::get, "/openapi.json", Access::kRead, [this](const Request& req, const PathParams&) {
    const core::Result<std::string>& doc = openapi_json();
    if (!doc) return fail(req, doc.error());
    return http::json_response(200, *doc, req.request_id);
  });
}

// ------------------------------------------------------------------ Service

Service::Service(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Service::~Service() = default;

core::Result<std::unique_ptr<Service>> Service::open(const DaemonConfig& cfg, TablesSink& sink,
                                                     Clock clock) {
  auto impl = std::make_unique<Impl>(cfg, sink, std::move(clock));
  auto store = Store::open(cfg.data_dir);
  if (!store) return store.error();
  impl->store = std::move(*store);
  auto model = impl->store->load_model();
  if (!model) return model.error();
  if (model->groups.empty()) {
    // First start: the shipped account and the first admin, stored in one transaction.
    core::User admin;
    admin.name = "admin";
    admin.email = cfg.admin_email;
    admin.role = core::Role::kAdmin;
    admin.client_id = cfg.admin_client_id.empty() ? random_hex(16) : cfg.admin_client_id;
    std::string secret = cfg.admin_client_secret;
    if (secret.empty()) {
      secret = random_hex(24);
      impl->generated_secret = secret;
    }
    auto uid = impl->account.create_user(admin);
    if (!uid) return uid.error();
    auto hash = hash_secret(secret);
    if (!hash) return hash.error();
    const core::Model& m = impl->account.model();
    core::Status st = impl->persist([&](Store::Txn& txn) -> core::Status {
      for (const auto& [id, n] : m.networks) {
        if (core::Status s = txn.put_network(n); !s) return s;
      }
      for (const auto& [id, p] : m.profiles) {
        if (core::Status s = txn.put_profile(p); !s) return s;
      }
      for (const auto& [id, g] : m.groups) {
        if (core::Status s = txn.put_group(g); !s) return s;
      }
      return txn.put_user(m.users.at(*uid), *hash);
    });
    if (!st) return st.error();
  } else {
    auto restored = core::Account::restore(std::move(*model));
    if (!restored) return restored.error();
    impl->account = std::move(*restored);
    auto counters = impl->stored_id_counters();
    if (!counters) return counters.error();
    impl->account.raise_id_counters(*counters);
  }
  for (const auto& [id, u] : impl->account.model().users) {
    if (u.role == core::Role::kAdmin) {
      impl->admin_client_id = u.client_id;
      break;
    }
  }
  // GTP peers learn from a new restart counter that our earlier contexts are gone.
  auto restarts = impl->store->get_meta("gtp_restart_counter");
  if (!restarts) return restarts.error();
  impl->gtp_restart_counter = static_cast<uint8_t>(
      (*restarts ? std::strtoul((*restarts)->c_str(), nullptr, 10) + 1 : 0) % 256);
  if (core::Status st = impl->persist([&](Store::Txn& txn) {
        return txn.set_meta("gtp_restart_counter", std::to_string(impl->gtp_restart_counter));
      });
      !st) {
    return st.error();
  }
  impl->attach_sessions = std::make_unique<SessionBackend>(*impl);
  if (core::Status st = impl->republish_full(); !st) return st.error();
  impl->register_routes();
  return std::unique_ptr<Service>(new Service(std::move(impl)));
}

http::Response Service::handle(const http::Request& req) {
  http::Response res = impl_->dispatch(req);
  const unsigned cls = res.result_int() / 100;
  if (cls >= 1 && cls <= 5) ++impl_->responses_by_class[cls - 1];
  return res;
}

http::Response Service::Impl::dispatch(const http::Request& req) {
  Impl& s = *this;
  const std::string_view target = req.target();
  if (target.rfind("/oauth/", 0) == 0) {
    // No client is known yet: limit credential guessing per peer address.
    const http::RateLimiter::Decision d = s.limiter.acquire("peer:" + req.peer);
    if (!d.allowed) return http::too_many_requests(req, d.retry_after_s);
    return s.router.handle(req);
  }
  auto token = bearer_token(req.header(http::bhttp::field::authorization));
  if (!token) return http::unauthenticated(req, token.error().message());
  auto principal = s.tokens.check(*token);
  if (!principal) return http::unauthenticated(req, principal.error().message(), true);
  const http::RateLimiter::Decision d = s.limiter.acquire(principal->client_id);
  if (!d.allowed) return http::too_many_requests(req, d.retry_after_s);
  s.caller = &*principal;
  http::Response res = s.router.handle(req);
  s.caller = nullptr;
  return res;
}

const std::optional<std::string>& Service::generated_admin_secret() const {
  return impl_->generated_secret;
}
const std::string& Service::admin_client_id() const { return impl_->admin_client_id; }
const core::Model& Service::model() const { return impl_->account.model(); }

void Service::set_tunnel_status_source(TunnelStatusSource source) {
  impl_->tunnel_status_source = std::move(source);
}

void Service::set_metrics_source(MetricsSource source) {
  impl_->metrics_source = std::move(source);
}
uint64_t Service::generation() const {
  return impl_->compiler.last() ? impl_->compiler.last()->generation : 0;
}
std::vector<http::RouteInfo> Service::routes() const { return impl_->router.routes(); }

gtpc::AttachBackend& Service::attach_backend() { return *impl_->attach_sessions; }
uint8_t Service::gtp_restart_counter() const { return impl_->gtp_restart_counter; }
std::vector<uint32_t> Service::take_ended_sessions() {
  return impl_->account.take_ended_sessions();
}

bool Service::tick() {
  const bool sms = impl_->tick_sms();
  const bool bulk = impl_->tick_bulk();
  const bool billing = impl_->tick_billing();
  return sms || bulk || billing;
}

}  // namespace simcore::ctl
