// control/daemon/routes_metrics.cc — GET /metrics: simcored's own metrics in the Prometheus
// text format 0.0.4, then the data plane's text from the MetricsSource. It lives inside the API
// prefix behind the bearer check like every other read (/openapi.json included): the figures
// are account-wide, the listener is the public API's, and Prometheus can fetch a client-
// credentials token itself (its scrape config's `oauth2` block).
#include <charconv>

#include "control/daemon/service_impl.h"

namespace simcore::ctl {
namespace {

void number(std::string& out, uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

// One sample; `labels` is "" or `k="v"` with a value that needs no escaping.
void sample(std::string& out, const char* name, std::string_view labels, uint64_t v) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  number(out, v);
  out += '\n';
}

constexpr core::ThingState kStates[] = {core::ThingState::kProvisioned, core::ThingState::kActive,
                                        core::ThingState::kSuspended, core::ThingState::kRetired};

}  // namespace

void Service::Impl::register_metrics_routes() {
  route(Verb::get, "/metrics", Access::kAccountRead, [this](const Request& req, const PathParams&) {
    std::string out;
    family(out, "simcored_http_requests_total", "counter",
           "Requests the API answered, by status class (before this one).");
    static constexpr const char* kClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    for (size_t i = 0; i < responses_by_class.size(); ++i) {
      sample(out, "simcored_http_requests_total", std::string("class=\"") + kClasses[i] + "\"",
             responses_by_class[i]);
    }
    uint64_t by_state[std::size(kStates)] = {};
    uint64_t sessions = 0;
    for (const core::Thing& t : account.model().things) {
      const auto i = static_cast<size_t>(t.state);
      if (i < std::size(by_state)) ++by_state[i];
      sessions += t.session.has_value();
    }
    family(out, "simcored_things", "gauge", "Things in the account, by state.");
    for (core::ThingState s : kStates) {
      sample(out, "simcored_things", std::string("state=\"") + core::state_name(s) + "\"",
             by_state[static_cast<size_t>(s)]);
    }
    family(out, "simcored_sessions", "gauge", "Things with a data session (attached).");
    sample(out, "simcored_sessions", "", sessions);
    family(out, "simcored_tables_generation", "gauge",
           "Generation of the last compiled tables handed to the data plane.");
    sample(out, "simcored_tables_generation", "",
           compiler.last() ? compiler.last()->generation : 0);
    if (metrics_source) {
      out += metrics_source();
      if (!out.empty() && out.back() != '\n') out += '\n';
    }
    Response res{http::bhttp::status::ok, 11};
    res.set(http::bhttp::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    if (!req.request_id.empty()) res.set("X-Request-Id", req.request_id);
    res.body() = std::move(out);
    res.prepare_payload();
    return res;
  });
}

}  // namespace simcore::ctl
