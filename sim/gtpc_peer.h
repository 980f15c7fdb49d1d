// sim/gtpc_peer.h — the other side of attach: the GTP-C an SGW (S5/S8, GTPv2-C) or an SGSN
// (Gn, GTPv1-C) sends to simcored, and what simcored's answers tell it. The online replay
// (sim/online.h) turns a scenario's attaches and detaches into these requests and learns, from
// the answers, the TEIDs and addresses simcored chose — which need not be the ones the
// generator's own account chose. Built with control/gtpc's writers, so the requests are the
// codecs' own format; tshark decodes them in sim_online_test. Pure; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/account.h"
#include "core/result.h"

namespace simcore::sim {

// One attach as the peer sends it. `request` is the generator's (core::AttachRequest): the
// peer's user-plane address and TEID, APN, RAT, serving network; uplink_teid is ignored (the
// gateway chooses it).
struct PeerAttach {
  int gtp = 2;  // 2: Create Session Request, 1: Create PDP Context Request
  std::string imsi;
  std::string imei;  // empty: no MEI / IMEI(SV) IE
  core::AttachRequest request;
  core::Ipv4 control_addr;  // the peer's GTP-C address (Sender F-TEID / SGSN address)
  uint32_t control_teid = 0;
  uint32_t seq = 0;  // GTPv1 uses the low 16 bits
};

// The request's UDP payload. Fails kInvalidArgument when GTPv1 cannot carry the RAT (LTE-M and
// NR have no GTPv1 RAT Type value).
core::Result<std::vector<uint8_t>> build_attach(const PeerAttach& a);

// What an answer says. `accepted` follows the cause ranges (GTPv2 16..63, GTPv1 128..191).
struct AttachAnswer {
  bool accepted = false;
  uint8_t cause = 0;
  uint32_t seq = 0;
  uint32_t uplink_teid = 0;   // the gateway's user-plane TEID (S5/S8-U PGW, TEID Data I)
  uint32_t control_teid = 0;  // the gateway's control TEID, for the Delete
  std::optional<core::Ipv4> ue_addr;
};

// Decodes a Create Session Response (gtp 2) or Create PDP Context Response (gtp 1). Fails
// kInvalidArgument when the payload is not one.
core::Result<AttachAnswer> decode_attach_answer(int gtp, const std::vector<uint8_t>& payload);

// Delete Session Request (EBI 5, to the gateway's control TEID) / Delete PDP Context Request
// (NSAPI 5, teardown).
std::vector<uint8_t> build_detach(int gtp, uint32_t gateway_control_teid, uint32_t seq);

// Decodes the cause of a Delete Session / Delete PDP Context Response; nullopt when the payload
// is not one. `seq` receives its sequence number.
std::optional<uint8_t> decode_detach_answer(int gtp, const std::vector<uint8_t>& payload,
                                            uint32_t& seq);

// The sequence number of a GTP-C message, of either version; nullopt when unreadable.
std::optional<uint32_t> gtpc_sequence(const std::vector<uint8_t>& payload);

}  // namespace simcore::sim
