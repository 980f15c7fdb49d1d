#include "control/auth/tokens.h"

#include <openssl/rand.h>

#include <boost/json.hpp>

#include "core/check.h"

namespace simcore::ctl {
namespace {

std::string random_token() {
  unsigned char bytes[32];
  // A token is a credential: it must come from the CSPRNG, and failing to seed is fatal.
  SIMCORE_CHECK(RAND_bytes(bytes, sizeof bytes) == 1);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(2 * sizeof bytes);
  for (unsigned char b : bytes) {
    s += kHex[b >> 4];
    s += kHex[b & 15];
  }
  return s;
}

// Purging walks every token; doing it every 1024 issues keeps it amortised O(1).
constexpr size_t kPurgeEvery = 1024;

}  // namespace

TokenIssuer::TokenIssuer(Clock clock, int64_t ttl_s) : clock_(std::move(clock)), ttl_s_(ttl_s) {}

IssuedToken TokenIssuer::issue(const Principal& p) {
  const int64_t now = clock_();
  if (++issued_since_purge_ >= kPurgeEvery) purge_expired(now);
  IssuedToken t{random_token(), now, ttl_s_};
  tokens_[t.access_token] = Entry{p, now + ttl_s_ * 1000};
  return t;
}

core::Result<Principal> TokenIssuer::check(std::string_view token) {
  auto it = tokens_.find(std::string(token));
  if (it == tokens_.end()) {
    return core::Error(core::Code::kUnauthenticated, "unknown access token");
  }
  if (clock_() >= it->second.expires_ms) {
    tokens_.erase(it);
    return core::Error(core::Code::kUnauthenticated, "access token expired");
  }
  return it->second.principal;
}

void TokenIssuer::revoke_user(core::UserId user) {
  std::erase_if(tokens_, [&](const auto& kv) { return kv.second.principal.user == user; });
}

void TokenIssuer::purge_expired(int64_t now_ms) {
  std::erase_if(tokens_, [&](const auto& kv) { return now_ms >= kv.second.expires_ms; });
  issued_since_purge_ = 0;
}

core::Result<std::string> bearer_token(std::string_view h) {
  constexpr std::string_view kScheme = "Bearer ";
  if (h.empty()) return core::Error(core::Code::kUnauthenticated, "missing Authorization header");
  // The scheme is case-insensitive (RFC 7235 2.1).
  if (h.size() <= kScheme.size() ||
      !std::equal(kScheme.begin(), kScheme.end(), h.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) ==
               std::tolower(static_cast<unsigned char>(b));
      })) {
    return core::Error(core::Code::kUnauthenticated, "Authorization is not a Bearer token");
  }
  std::string_view token = h.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return core::Error(core::Code::kUnauthenticated, "empty Bearer token");
  return std::string(token);
}

std::string token_response_json(const IssuedToken& t, const Principal& p,
                                std::string_view organization) {
  boost::json::object o;
  o["refresh_token_expires_in"] = "0";
  o["api_product_list"] = "[IoT Programmable SIM]";
  o["organization_name"] = organization;
  o["token_type"] = "Bearer";
  o["issued_at"] = std::to_string(t.issued_at_ms);
  o["client_id"] = p.client_id;
  o["access_token"] = t.access_token;
  o["application_name"] = "simcore";
  o["scope"] = "";
  o["expires_in"] = std::to_string(t.expires_in_s > 0 ? t.expires_in_s - 1 : 0);
  o["refresh_count"] = "0";
  o["status"] = "approved";
  o["developer_email"] = "";
  return boost::json::serialize(o);
}

}  // namespace simcore::ctl
