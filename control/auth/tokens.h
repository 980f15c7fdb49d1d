// control/auth/tokens.h — OAuth2 client-credentials bearer tokens, as the API's token endpoint
// hands them out: opaque, random (OpenSSL RAND_bytes, 32 bytes as hex), expiring, and checked
// on every call. Tokens live in memory only: a restarted daemon asks clients to fetch a new one
// (401), which OAuth2 clients do anyway on expiry. Control thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/model.h"
#include "core/result.h"

namespace simcore::ctl {

// Who is calling: the user behind the client credentials and what its role lets it see.
struct Principal {
  core::UserId user;
  std::string client_id;
  core::Role role = core::Role::kMonitor;
  std::vector<core::GroupId> groups;  // GROUP_USER only
};

struct IssuedToken {
  std::string access_token;
  int64_t issued_at_ms = 0;
  int64_t expires_in_s = 0;
};

class TokenIssuer {
 public:
  using Clock = std::function<int64_t()>;  // milliseconds since the epoch; injected for tests

  TokenIssuer(Clock clock, int64_t ttl_s);

  // Returns a new token for `p`, valid for ttl_s seconds from now.
  IssuedToken issue(const Principal& p);

  // Returns the principal of a valid token; kUnauthenticated when unknown or expired (an
  // expired token is forgotten).
  core::Result<Principal> check(std::string_view token);

  // Forgets every token of a user (deleted, or its role changed).
  void revoke_user(core::UserId user);

  // Returns how many tokens are held (expired ones are purged as issue() runs).
  size_t size() const noexcept { return tokens_.size(); }

 private:
  struct Entry {
    Principal principal;
    int64_t expires_ms;
  };
  void purge_expired(int64_t now_ms);

  Clock clock_;
  int64_t ttl_s_;
  std::unordered_map<std::string, Entry> tokens_;
  size_t issued_since_purge_ = 0;
};

// Returns the token of an "Authorization: Bearer <token>" header value; kUnauthenticated when
// the header is absent, of another scheme, or empty.
core::Result<std::string> bearer_token(std::string_view authorization);

// Returns the token endpoint's JSON body in the original service's shape (API.md): every
// value a string, expires_in counting down from ttl-1 like the original ("3599").
std::string token_response_json(const IssuedToken& t, const Principal& p,
                                std::string_view organization);

}  // namespace simcore::ctl
