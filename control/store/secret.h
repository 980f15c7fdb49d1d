// control/store/secret.h — hashing of API client secrets for the users table.
// PBKDF2-HMAC-SHA256 (OpenSSL PKCS5_PBKDF2_HMAC) with a random 16-byte salt, stored as the
// self-describing text "pbkdf2-sha256$<iterations>$<salt hex>$<key hex>" so the cost can be
// raised later without breaking stored hashes. Pure functions; any thread; never log a secret.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace simcore::ctl {

inline constexpr uint32_t kDefaultSecretIterations = 100'000;

// Returns the hash text of `secret`; fails kInternal only if OpenSSL's RNG or KDF fails.
core::Result<std::string> hash_secret(std::string_view secret,
                                      uint32_t iterations = kDefaultSecretIterations);

// Returns true when `secret` matches `hash` (constant-time compare). A malformed or empty hash
// matches nothing.
bool verify_secret(std::string_view secret, std::string_view hash) noexcept;

}  // namespace simcore::ctl
