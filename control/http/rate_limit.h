// control/http/rate_limit.h — per-client token buckets for 429 + Retry-After.
// Each client id (a token's client_id, or the peer address before authentication) owns a bucket
// of `burst` tokens refilled at `rate_per_s`; a request takes one token. The clock is injected so
// tests are hermetic. Memory is bounded: at most `max_clients` buckets, the least recently used
// evicted first. Not thread-safe: call from the server's I/O thread only.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

namespace simcore::ctl::http {

class RateLimiter {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  struct Options {
    double rate_per_s = 20.0;         // sustained requests per second per client (> 0)
    double burst = 40.0;              // bucket size: requests allowed at once (>= 1)
    std::size_t max_clients = 10000;  // bucket count bound (>= 1)
  };

  struct Decision {
    bool allowed = true;
    int retry_after_s = 0;  // when refused: whole seconds until a token is available (>= 1)
  };

  // Invalid options (rate <= 0, burst < 1, max_clients 0) are clamped to the nearest valid value.
  explicit RateLimiter(Options options, Clock clock = std::chrono::steady_clock::now);

  // Takes a token from `client`'s bucket; returns allowed, or refused with the wait in seconds.
  Decision acquire(std::string_view client);

  // Returns the number of buckets held (for tests and metrics).
  std::size_t size() const noexcept { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point last;  // time of the last refill
    std::list<std::string>::iterator lru;        // position in lru_ (front = most recent)
  };

  void refill(Bucket& b, std::chrono::steady_clock::time_point now) const;
  void evict_idle(std::chrono::steady_clock::time_point now);

  Options options_;
  Clock clock_;
  std::chrono::duration<double> full_after_;  // idle time after which a bucket is full again
  std::list<std::string> lru_;
  std::unordered_map<std::string_view, Bucket> buckets_;  // keys view the strings in lru_
};

}  // namespace simcore::ctl::http
