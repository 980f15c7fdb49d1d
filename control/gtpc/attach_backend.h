// control/gtpc/attach_backend.h — what the GTP-C handlers (PGW for GTPv2-C, GGSN for GTPv1-C)
// ask of the rest of control, independent of the GTP version. The handlers own the protocol:
// decoding, causes, sequence numbers, retransmissions, peers and restart counters. The
// backend owns the subscriber: the Thing behind an IMSI, every policy check of DESIGN.md
// "Attach", the address, the session in the account and the published tables.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/types.h"

namespace simcore::gtpc {

// Why an attach was refused. Each handler maps it to its protocol's cause (TS 29.274 8.4,
// TS 29.060 7.7.1); the mapping is documented next to it.
enum class Refusal : uint8_t {
  kNone,               // accepted
  kUnknownImsi,        // no Thing has this IMSI
  kNotActive,          // the Thing is PROVISIONED, SUSPENDED or RETIRED
  kDataOff,            // the Thing's (or its group's) data service is off
  kUnknownApn,         // the APN is not the one of the Thing's network
  kRatNotAllowed,      // NB-IoT or NR (or a RAT we do not serve, e.g. WLAN)
  kRoamingNotAllowed,  // serving network outside MCC 204 (NL), 206 (BE), 270 (LU)
  kImeiLocked,         // IMEI lock on and the device differs
  kNoAddress,          // no locked IP and the network's pools are exhausted
  kSystemFailure,      // anything else (the store refused, ...)
};

const char* refusal_name(Refusal r);

// One Create Session / Create PDP Context Request, as the handler decoded it.
struct AttachAsk {
  std::string imsi;        // digits
  std::string msisdn;      // digits or empty
  std::string imei;        // digits (IMEI or IMEISV) from MEI / IMEI(SV), or empty
  std::string apn;         // dotted labels as received, e.g. "iot.example"
  bool rat_known = false;  // false: the request had no RAT Type IE (GTPv1 may omit it)
  core::Rat rat = core::Rat::kEutran;
  bool rat_served = true;      // false: a RAT core::Rat cannot name (WLAN, GAN, ...): refused
  bool serving_known = false;  // false: no Serving Network / RAI IE; not checked then
  uint16_t mcc = 0;
  uint16_t mnc = 0;
  core::Ipv4 peer_addr;    // the SGW's / SGSN's user-plane address (downlink GTP-U goes here)
  uint32_t peer_teid = 0;  // the SGW's / SGSN's user-plane TEID
};

struct AttachAnswer {
  Refusal refusal = Refusal::kSystemFailure;
  core::ThingId thing;
  core::Ipv4 ue_addr;           // set when accepted
  uint32_t uplink_teid = 0;     // ours, allocated by the backend, unique among open sessions
  std::vector<core::Ipv4> dns;  // for the PCO when the peer asked for DNS servers
};

// The subscriber side. Single-threaded: called on control's thread only.
class AttachBackend {
 public:
  virtual ~AttachBackend() = default;

  // Checks and opens (or replaces) the Thing's session. Accepted attaches are applied to the
  // account at once but become durable and published only at flush().
  virtual AttachAnswer attach(const AttachAsk& ask) = 0;
  // The peer's user-plane F-TEID changed (Modify Bearer / Update PDP Context). False when no
  // session has this uplink TEID.
  virtual bool modify(uint32_t uplink_teid, core::Ipv4 peer_addr, uint32_t peer_teid) = 0;
  // Ends the session with this uplink TEID (Delete Session / Delete PDP Context). False when
  // there is none.
  virtual bool detach(uint32_t uplink_teid) = 0;
  // Makes every change since the last flush durable (one transaction) and publishes the
  // tables once. The handlers' responses are sent only after it succeeded: an acknowledged
  // attach is a committed one.
  virtual bool flush() = 0;
};

}  // namespace simcore::gtpc
