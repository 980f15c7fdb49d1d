// control/ike/status.h — what the API shows of a tunnel's IKE and CHILD SAs. Plain data, no
// strongSwan: the service layer renders it without linking the IKE daemon.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace simcore::ctl::ike {

struct ChildSaStatus {
  std::string state;  // charon's CHILD_SA state: INSTALLED, REKEYING, REKEYED, DELETING, ...
  uint32_t spi_in = 0;
  uint32_t spi_out = 0;
  std::string proposal;    // the negotiated ESP algorithms, e.g. "ESP:AES_GCM_16_128/NO_EXT_SEQ"
  std::string encryption;  // IKEv2 transform names, e.g. "AES_GCM_16"
  std::string integrity;   // empty for AEAD
  uint16_t encryption_key_bits = 0;
  bool udp_encapsulation = false;
  // The first 8 bytes of SHA-256 over each direction's keys, hex: both ends of a tunnel show
  // the same values crosswise, and no key is disclosed.
  std::string key_fingerprint_in;
  std::string key_fingerprint_out;
  uint64_t bytes_in = 0, bytes_out = 0, packets_in = 0, packets_out = 0;
  int64_t installed_ms = 0;  // ms since the epoch
};

struct TunnelStatus {
  // The best state of the tunnel's IKE_SAs (ESTABLISHED while one is), or DOWN without any.
  std::string ike_state = "DOWN";
  uint64_t ike_spi_initiator = 0;
  uint64_t ike_spi_responder = 0;
  std::string ike_proposal;
  int64_t established_ms = 0;  // 0: never
  std::vector<ChildSaStatus> child_sas;
  uint64_t rekeys = 0;         // CHILD_SA and IKE_SA rekeyings completed
  int64_t last_rekey_ms = 0;   // 0: never
  std::string last_error;      // empty: none since the tunnel last came up
};

}  // namespace simcore::ctl::ike
