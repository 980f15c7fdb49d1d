#include "control/http/errors.h"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <random>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace simcore::ctl::http {

int http_status(core::Code code) noexcept {
  switch (code) {
    case core::Code::kInvalidArgument: return 400;
    case core::Code::kNotFound: return 404;
    case core::Code::kAlreadyExists:
    case core::Code::kConflict: return 409;
    // The API reports exhausted pools and quotas as a precondition of the account, not as 429.
    case core::Code::kFailedPrecondition:
    case core::Code::kResourceExhausted: return 412;
    case core::Code::kPermissionDenied: return 403;
    case core::Code::kUnauthenticated: return 401;
    case core::Code::kUnavailable: return 503;
    case core::Code::kInternal: return 500;
  }
  return 500;
}

namespace {

std::string make_prefix() {
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(rd()));
  return buf;
}

}  // namespace

std::string next_request_id() {
  static const std::string kPrefix = make_prefix();
  static std::atomic<std::uint64_t> counter{0};
  return kPrefix + "-" + std::to_string(counter.fetch_add(1, std::memory_order_relaxed) + 1);
}

Response json_response(int status, std::string body, std::string_view request_id) {
  Response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  if (!request_id.empty()) res.set("X-Request-Id", request_id);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response json_error(int status, std::string_view code, std::string_view message,
                    std::string_view request_id, std::span<const core::FieldError> fields) {
  boost::json::object o;
  o["status"] = status;
  o["code"] = code;
  o["message"] = message;
  o["requestId"] = request_id;
  if (!fields.empty()) {
    boost::json::array a;
    a.reserve(fields.size());
    for (const auto& f : fields)
      a.push_back(boost::json::object{{"field", f.field}, {"message", f.message}});
    o["fields"] = std::move(a);
  }
  return json_response(status, boost::json::serialize(o), request_id);
}

Response error_response(const Request& req, const core::Error& error, std::string_view api_code) {
  return json_error(http_status(error.code()),
                    api_code.empty() ? std::string_view(core::code_name(error.code())) : api_code,
                    error.message(), req.request_id, error.fields());
}

std::string allow_header(std::span<const Verb> allowed) {
  std::string out;
  for (Verb v : allowed) {
    if (!out.empty()) out += ", ";
    auto s = bhttp::to_string(v);
    out.append(s.data(), s.size());
  }
  return out;
}

Response method_not_allowed(const Request& req, std::span<const Verb> allowed) {
  auto m = bhttp::to_string(req.method());
  Response res = json_error(405, "METHOD_NOT_ALLOWED",
                            std::string(m.data(), m.size()) + " is not allowed on this resource",
                            req.request_id);
  res.set(bhttp::field::allow, allow_header(allowed));
  return res;
}

Response unauthenticated(const Request& req, std::string_view message, bool invalid_token) {
  Response res =
      json_error(401, core::code_name(core::Code::kUnauthenticated), message, req.request_id);
  res.set(bhttp::field::www_authenticate, invalid_token
                                              ? R"(Bearer realm="simcore", error="invalid_token")"
                                              : R"(Bearer realm="simcore")");
  return res;
}

Response too_many_requests(const Request& req, int retry_after_s) {
  if (retry_after_s < 1) retry_after_s = 1;
  Response res = json_error(
      429, "TOO_MANY_REQUESTS",
      "rate limit exceeded; retry after " + std::to_string(retry_after_s) + " s", req.request_id);
  res.set(bhttp::field::retry_after, std::to_string(retry_after_s));
  return res;
}

}  // namespace simcore::ctl::http
