// control/http/errors.h — the API's error replies and THE mapping from core codes to HTTP.
// Error bodies are JSON: {"status", "code", "message", "requestId", "fields"?}; "fields" lists
// {"field", "message"} and appears only when the error blames fields. Every response built here
// carries Content-Type: application/json and X-Request-Id. Thread-safe (no shared state except the
// atomic request-id counter).
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "control/http/message.h"
#include "core/result.h"

namespace simcore::ctl::http {

// Returns the HTTP status for a core code. The only place this mapping exists.
int http_status(core::Code code) noexcept;

// Returns a fresh request id "<8 hex random prefix>-<per-process counter>", e.g. "3fa9c2d1-42".
// The prefix is chosen once per process so ids from restarts don't collide. Any thread.
std::string next_request_id();

// Returns a JSON error response with any status and API code (e.g. 412 and
// "INVALID_STATE_TRANSITION"). `fields` become the "fields" array when not empty.
Response json_error(int status, std::string_view code, std::string_view message,
                    std::string_view request_id, std::span<const core::FieldError> fields = {});

// Returns the error reply for a core::Error: status from http_status(), code from
// core::code_name() unless `api_code` is given, the error's message and fields.
Response error_response(const Request& req, const core::Error& error,
                        std::string_view api_code = {});

// Returns 405 METHOD_NOT_ALLOWED with `Allow: GET, POST` listing `allowed` in the given order.
Response method_not_allowed(const Request& req, std::span<const Verb> allowed);

// Returns 401 UNAUTHENTICATED with `WWW-Authenticate: Bearer realm="simcore"`, plus
// `error="invalid_token"` when `invalid_token` (RFC 6750 §3: a token was sent but is bad/expired).
Response unauthenticated(const Request& req, std::string_view message, bool invalid_token = false);

// Returns 429 TOO_MANY_REQUESTS with `Retry-After: <seconds>` (at least 1).
Response too_many_requests(const Request& req, int retry_after_s);

// Returns a response with a JSON body (already serialised) and the request id header.
Response json_response(int status, std::string body, std::string_view request_id);

// Returns "GET, POST" for the verbs in order.
std::string allow_header(std::span<const Verb> allowed);

}  // namespace simcore::ctl::http
