#include "control/store/secret.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <charconv>
#include <vector>

namespace simcore::ctl {
namespace {

constexpr std::string_view kScheme = "pbkdf2-sha256";
constexpr size_t kSaltBytes = 16;
constexpr size_t kKeyBytes = 32;
// Above this a stored hash is treated as malformed rather than letting it stall the thread.
constexpr uint32_t kMaxIterations = 10'000'000;

std::string to_hex(const unsigned char* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[p[i] >> 4];
    out[2 * i + 1] = kDigits[p[i] & 15];
  }
  return out;
}

bool from_hex(std::string_view s, std::vector<unsigned char>& out) {
  if (s.size() % 2 != 0) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  out.resize(s.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return true;
}

bool derive(std::string_view secret, const unsigned char* salt, size_t salt_len,
            uint32_t iterations, unsigned char* key) noexcept {
  return PKCS5_PBKDF2_HMAC(secret.data(), static_cast<int>(secret.size()), salt,
                           static_cast<int>(salt_len), static_cast<int>(iterations), EVP_sha256(),
                           static_cast<int>(kKeyBytes), key) == 1;
}

}  // namespace

core::Result<std::string> hash_secret(std::string_view secret, uint32_t iterations) {
  if (iterations == 0 || iterations > kMaxIterations) {
    return core::Error(core::Code::kInternal, "hash_secret: iterations out of range");
  }
  std::array<unsigned char, kSaltBytes> salt{};
  if (RAND_bytes(salt.data(), static_cast<int>(salt.size())) != 1) {
    return core::Error(core::Code::kInternal, "hash_secret: RAND_bytes failed");
  }
  std::array<unsigned char, kKeyBytes> key{};
  if (!derive(secret, salt.data(), salt.size(), iterations, key.data())) {
    return core::Error(core::Code::kInternal, "hash_secret: PKCS5_PBKDF2_HMAC failed");
  }
  return std::string(kScheme) + "$" + std::to_string(iterations) + "$" +
         to_hex(salt.data(), salt.size()) + "$" + to_hex(key.data(), key.size());
}

bool verify_secret(std::string_view secret, std::string_view hash) noexcept {
  try {
    std::array<std::string_view, 4> parts;
    for (size_t i = 0; i < 4; ++i) {
      const size_t dollar = i < 3 ? hash.find('$') : hash.size();
      if (dollar == std::string_view::npos) return false;
      parts[i] = hash.substr(0, dollar);
      hash.remove_prefix(i < 3 ? dollar + 1 : dollar);
    }
    if (parts[0] != kScheme) return false;
    uint32_t iterations = 0;
    const auto [end, ec] =
        std::from_chars(parts[1].data(), parts[1].data() + parts[1].size(), iterations);
    if (ec != std::errc() || end != parts[1].data() + parts[1].size() || iterations == 0 ||
        iterations > kMaxIterations) {
      return false;
    }
    std::vector<unsigned char> salt, want;
    if (!from_hex(parts[2], salt) || salt.empty() || !from_hex(parts[3], want) ||
        want.size() != kKeyBytes) {
      return false;
    }
    std::array<unsigned char, kKeyBytes> got{};
    if (!derive(secret, salt.data(), salt.size(), iterations, got.data())) return false;
    return CRYPTO_memcmp(got.data(), want.data(), kKeyBytes) == 0;
  } catch (...) {  // allocation failure: no match
    return false;
  }
}

}  // namespace simcore::ctl
