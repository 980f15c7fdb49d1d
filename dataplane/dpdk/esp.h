// dataplane/dpdk/esp.h — ESP (RFC 4303) tunnel mode for the fast path: the CHILD_SAs the IKE
// daemon negotiated, as DPDK rte_ipsec SAs over a crypto PMD, and the per-packet transforms.
//
// Crypto runs synchronously on the worker (rte_ipsec's CPU_CRYPTO sessions on the ipsec_mb
// PMDs: crypto_aesni_gcm for AES-GCM, crypto_aesni_mb for AES-CBC + HMAC-SHA2), so a packet
// is encrypted or decrypted within its burst, in place, with no crypto ops or queues. An SA
// object lives as long as any published snapshot references it: its sequence number and replay
// window survive every republish. ESP-in-UDP (NAT-T, RFC 3948) is ESP with a UDP header
// between the outer IPv4 header and the SPI; the transforms add and remove it.
// Addresses host order.
#pragma once

#include <rte_ipsec.h>
#include <rte_mbuf.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"

namespace simcore::dp {

inline constexpr unsigned kEspMaxWorkers = 64;

// One direction of a CHILD_SA, as IKE installed it (control/ike's Sa, without strongSwan).
struct EspSaSpec {
  uint32_t tunnel_id = 0;
  uint32_t spi = 0;
  bool inbound = false;
  uint32_t src = 0, dst = 0;  // outer addresses
  bool encap = false;         // ESP in UDP
  uint16_t sport = 0, dport = 0;
  uint16_t enc_alg = 0, int_alg = 0;  // IKEv2 transform ids
  std::vector<uint8_t> enc_key;       // AES-GCM: key then the 4-byte salt
  std::vector<uint8_t> int_key;
  uint32_t replay_window = 32;
  bool esn = false;
};

// IKEv2 transform ids (RFC 7296 §3.3.2, IANA) the fast path implements.
inline constexpr uint16_t kEncrAesCbc = 12;
inline constexpr uint16_t kEncrAesGcm16 = 20;
inline constexpr uint16_t kAuthHmacSha1_96 = 2;
inline constexpr uint16_t kAuthHmacSha256_128 = 12;
inline constexpr uint16_t kAuthHmacSha384_192 = 13;
inline constexpr uint16_t kAuthHmacSha512_256 = 14;

// The crypto devices and the session pool; one per engine. Control thread.
class EspCrypto {
 public:
  static core::Result<std::unique_ptr<EspCrypto>> create();
  ~EspCrypto();
  EspCrypto(const EspCrypto&) = delete;
  EspCrypto& operator=(const EspCrypto&) = delete;

  uint8_t gcm_dev() const noexcept { return gcm_dev_; }
  uint8_t mb_dev() const noexcept { return mb_dev_; }
  rte_mempool* sessions() const noexcept { return sessions_; }

 private:
  EspCrypto() = default;
  uint8_t gcm_dev_ = 0, mb_dev_ = 0;
  rte_mempool* sessions_ = nullptr;
  std::vector<std::string> vdevs_;
};

// Per worker, per SA: what went through it. Written by one worker, read by control.
struct alignas(64) EspUse {
  uint64_t packets = 0;
  uint64_t bytes = 0;  // inner IPv4 bytes
  uint64_t last_ns = 0;
};

class EspSa {
 public:
  // Fails kInvalidArgument for an algorithm or key the fast path does not implement, and
  // kUnavailable when DPDK cannot make the session.
  static core::Result<std::unique_ptr<EspSa>> create(const EspCrypto& crypto,
                                                     const EspSaSpec& spec);
  ~EspSa();
  EspSa(const EspSa&) = delete;
  EspSa& operator=(const EspSa&) = delete;

  const EspSaSpec& spec() const noexcept { return spec_; }
  // Whether an inbound ESP packet (outer IPv4 at `ip`, `len` bytes, ESP in UDP or not) has the
  // shape this SA's algorithms need: room for SPI, sequence, IV, trailer and ICV, and a
  // ciphertext that is a whole number of the cipher's blocks. rte_ipsec refuses the others
  // too, but indistinguishably from a replay.
  bool well_formed(const uint8_t* ip, uint32_t len) const noexcept;
  // Totals over the workers (control thread, read while workers write).
  EspUse total() const noexcept;

  // Outbound. Each mbuf holds one inner IPv4 packet at its data start (no L2). Encrypts them in
  // place into outer IPv4 (+ UDP) + ESP, checksummed, counted in `worker`'s use. Returns how
  // many succeeded: those come first in mb[], the failed ones (no headroom or tailroom) after.
  uint16_t encrypt(rte_mbuf* mb[], uint16_t n, unsigned worker, uint64_t now_ns) noexcept;

  // Inbound. Each mbuf holds an outer IPv4 packet (+ UDP when encap) + ESP for this SA at its
  // data start (no L2). Authenticates and decrypts in place: the survivors (first in mb[]) hold
  // the inner IPv4 packet at their data start. `replayed` is set to how many of the failures
  // were replays (refused by the anti-replay window before any crypto, or a repeat of a
  // survivor within this call), the rest failed authentication. n <= 64.
  uint16_t decrypt(rte_mbuf* mb[], uint16_t n, unsigned worker, uint64_t now_ns,
                   uint16_t& replayed) noexcept;

 private:
  EspSa() = default;
  EspSaSpec spec_;
  rte_ipsec_sa* sa_ = nullptr;
  rte_ipsec_session session_{};
  void* crypto_session_ = nullptr;
  uint8_t dev_ = 0;
  uint8_t iv_len_ = 0, icv_len_ = 0, block_ = 0;
  uint32_t outer_sum_ = 0;  // outbound: ones_sum of the outer header template, unfolded
  EspUse use_[kEspMaxWorkers];
};

// The SAD as the workers read it: immutable once published, shared SA objects.
struct EspTable {
  std::vector<std::shared_ptr<EspSa>> sas;
  std::vector<std::pair<uint32_t, EspSa*>> inbound;   // by SPI, sorted
  std::vector<std::pair<uint32_t, EspSa*>> outbound;  // by tunnel id, sorted; the newest SA

  EspSa* find_inbound(uint32_t spi) const noexcept;
  EspSa* find_outbound(uint32_t tunnel_id) const noexcept;
  // Builds the lookups from `sas`.
  void index();
};

// The SPI of an ESP packet (or ESP-in-UDP) whose outer IPv4 header starts at `ip`, `len` bytes
// long; 0 when it is neither or too short.
uint32_t esp_spi(const uint8_t* ip, uint32_t len) noexcept;

}  // namespace simcore::dp
