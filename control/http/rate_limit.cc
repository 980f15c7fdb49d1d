#include "control/http/rate_limit.h"

#include <algorithm>
#include <cmath>

namespace simcore::ctl::http {

RateLimiter::RateLimiter(Options options, Clock clock)
    : options_(options), clock_(std::move(clock)) {
  if (!(options_.rate_per_s > 0)) options_.rate_per_s = 1e-6;
  if (!(options_.burst >= 1)) options_.burst = 1;
  if (options_.max_clients == 0) options_.max_clients = 1;
  full_after_ = std::chrono::duration<double>(options_.burst / options_.rate_per_s);
}

void RateLimiter::refill(Bucket& b, std::chrono::steady_clock::time_point now) const {
  if (now <= b.last) return;  // a clock that goes backwards grants nothing
  const double elapsed = std::chrono::duration<double>(now - b.last).count();
  b.tokens = std::min(options_.burst, b.tokens + elapsed * options_.rate_per_s);
  b.last = now;
}

// A bucket idle for burst/rate seconds is full again, i.e. indistinguishable from a new one, so
// dropping it changes no decision. lru_ is ordered by last use, so idle ones sit at the back.
void RateLimiter::evict_idle(std::chrono::steady_clock::time_point now) {
  while (!lru_.empty()) {
    auto it = buckets_.find(std::string_view(lru_.back()));
    if (now - it->second.last < full_after_) break;
    buckets_.erase(it);
    lru_.pop_back();
  }
}

RateLimiter::Decision RateLimiter::acquire(std::string_view client) {
  const auto now = clock_();
  evict_idle(now);
  auto it = buckets_.find(client);
  if (it == buckets_.end()) {
    // Over the bound, the least recently used client loses its bucket (and so gets a fresh burst
    // when it returns): the price of bounded memory under a flood of distinct ids.
    if (buckets_.size() >= options_.max_clients) {
      buckets_.erase(std::string_view(lru_.back()));
      lru_.pop_back();
    }
    lru_.emplace_front(client);
    it = buckets_.emplace(std::string_view(lru_.front()), Bucket{options_.burst, now, lru_.begin()})
             .first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  Bucket& b = it->second;
  refill(b, now);
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return {true, 0};
  }
  const double wait = (1.0 - b.tokens) / options_.rate_per_s;
  return {false, std::max(1, static_cast<int>(std::ceil(wait)))};
}

}  // namespace simcore::ctl::http
