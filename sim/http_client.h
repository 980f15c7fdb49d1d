// sim/http_client.h — a small synchronous HTTP/1.1 client over plain TCP (Boost.Beast inside),
// for tools and tests that drive simcored through its real API.
//
// One HttpClient holds one connection and reuses it (keep-alive) until the server closes it or
// answers `Connection: close`; the next request reconnects. A request that finds a reused
// connection closed before any byte of the answer arrived is sent once more on a new one (the
// server never saw it). Every connect, write and read is bounded by the timeout.
//
// Failure: never throws. No connection, a timeout or a malformed answer is a core::Error
// (kUnavailable, kInternal for anything unexpected) whose message names the request
// ("POST 127.0.0.1:8080/things: connect: Connection refused"). Any HTTP status is a reply, not an
// error: callers decide what a 4xx means. Not thread-safe: one thread per client.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace simcore::sim {

struct Endpoint {
  std::string host = "127.0.0.1";  // an address or a name the resolver knows
  uint16_t port = 0;
};

struct HttpReply {
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // in arrival order
  std::string body;

  // Returns the first header named `name` (case-insensitive), or "".
  std::string_view header(std::string_view name) const noexcept;
};

inline constexpr std::chrono::milliseconds kDefaultHttpTimeout{10'000};

class HttpClient {
 public:
  explicit HttpClient(Endpoint endpoint, std::chrono::milliseconds timeout = kDefaultHttpTimeout);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request and returns the whole reply. `target` is the path and query; a non-empty
  // `body` goes with `content_type`; a non-empty `bearer_token` as `Authorization: Bearer`.
  core::Result<HttpReply> request(std::string_view method, std::string_view target,
                                  std::string body = {}, std::string_view bearer_token = {},
                                  std::string_view content_type = "application/json");

  // The number of TCP connections opened so far (keep-alive makes it small).
  size_t connections() const noexcept;
  const Endpoint& endpoint() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One request on a connection of its own (closed afterwards); as HttpClient::request.
core::Result<HttpReply> request(const Endpoint& endpoint, std::string_view method,
                                std::string_view target, std::string body,
                                std::string_view bearer_token);

}  // namespace simcore::sim
