#include "control/gtpc/ggsn.h"

#include <algorithm>
#include <utility>

namespace simcore::gtpc {

namespace {

using v1::Cause;
using v1::MsgType;

uint8_t u8(Cause c) { return static_cast<uint8_t>(c); }

// Refusal → TS 29.060 7.7.1 cause. The choices where 29.060 has no exact cause:
// - not active / data off: 209 "User authentication failed" — the subscriber exists but may
//   not use the service now; 194 would tell the SGSN the IMSI does not exist.
// - RAT not allowed: 200 "Service not supported" (GTPv1 has no RAT cause).
// - roaming not allowed: 222 "APN access denied – no subscription" — no subscription from this
//   serving network; 205 "Roaming restriction" belongs to the SGSN context procedures.
// - IMEI locked: 209 as well — the IMSI is known and valid, the IMSI/device pair fails the
//   operator's check; 194 "IMSI/IMEI not known" would suggest an unknown identity and make
//   some SGSNs treat the subscriber as unknown.
Cause refusal_cause(Refusal r) {
  switch (r) {
    case Refusal::kNone: return Cause::kAccepted;
    case Refusal::kUnknownImsi: return Cause::kImsiImeiNotKnown;
    case Refusal::kNotActive: return Cause::kUserAuthenticationFailed;
    case Refusal::kDataOff: return Cause::kUserAuthenticationFailed;
    case Refusal::kUnknownApn: return Cause::kUnknownApn;
    case Refusal::kRatNotAllowed: return Cause::kServiceNotSupported;
    case Refusal::kRoamingNotAllowed: return Cause::kApnAccessDenied;
    case Refusal::kImeiLocked: return Cause::kUserAuthenticationFailed;
    case Refusal::kNoAddress: return Cause::kNoDynamicAddress;
    case Refusal::kSystemFailure: return Cause::kSystemFailure;
  }
  return Cause::kSystemFailure;
}

uint64_t& refusal_counter(GgsnCounters& c, Refusal r) {
  switch (r) {
    case Refusal::kNone: return c.accepted;
    case Refusal::kUnknownImsi: return c.refused_unknown_imsi;
    case Refusal::kNotActive: return c.refused_not_active;
    case Refusal::kDataOff: return c.refused_data_off;
    case Refusal::kUnknownApn: return c.refused_unknown_apn;
    case Refusal::kRatNotAllowed: return c.refused_rat_not_allowed;
    case Refusal::kRoamingNotAllowed: return c.refused_roaming_not_allowed;
    case Refusal::kImeiLocked: return c.refused_imei_locked;
    case Refusal::kNoAddress: return c.refused_no_address;
    case Refusal::kSystemFailure: return c.refused_system_failure;
  }
  return c.refused_system_failure;
}

// GTPv1 RAT Type (29.060 7.7.50) → core::Rat, whose numbers are GTPv2's. HSPA Evolution is a
// UTRAN radio (3G) and is served as such; WLAN, GAN, Virtual and unknown values are RATs
// core::Rat cannot name: the backend refuses them.
void map_rat(std::optional<uint8_t> wire, AttachAsk& ask) {
  ask.rat_known = wire.has_value();
  if (!wire) return;
  ask.rat_served = true;
  switch (static_cast<v1::RatType>(*wire)) {
    case v1::RatType::kUtran:
    case v1::RatType::kHspaEvolution: ask.rat = core::Rat::kUtran; return;
    case v1::RatType::kGeran: ask.rat = core::Rat::kGeran; return;
    case v1::RatType::kEutran: ask.rat = core::Rat::kEutran; return;
    case v1::RatType::kEutranNbIot: ask.rat = core::Rat::kNbIot; return;
    case v1::RatType::kWlan:
    case v1::RatType::kGan:
    case v1::RatType::kVirtual: break;
  }
  ask.rat_served = false;
}

// Status of a message body → the cause answering it and its counter.
Cause status_cause(v1::Status s, GgsnCounters& c) {
  if (s == v1::Status::kMissingMandatory) {
    ++c.mandatory_missing;
    return Cause::kMandatoryIeMissing;
  }
  if (s == v1::Status::kIncorrectMandatory) {
    ++c.mandatory_incorrect;
    return Cause::kMandatoryIeIncorrect;
  }
  ++c.malformed;
  return Cause::kInvalidMessageFormat;
}

std::vector<uint8_t> pdp_reject(bool is_create, uint32_t teid, uint16_t seq, Cause cause) {
  v1::PdpResponse r;
  r.teid = teid;
  r.seq = seq;
  r.cause = u8(cause);
  return v1::build_pdp_response(is_create, r);
}

}  // namespace

Ggsn::Ggsn(AttachBackend& backend, GgsnConfig cfg)
    : backend_(backend),
      cfg_(std::move(cfg)),
      cache_(cfg_.response_cache_ms),
      pending_(cfg_.request_timeout_ms, cfg_.request_retries) {}

void Ggsn::on_datagram(const Datagram& in, int64_t now_ms, std::vector<Datagram>& out) {
  if (!peer_allowed(in.from.addr)) {
    ++counters_.unknown_peer;
    return;
  }
  v1::Header h;
  switch (v1::decode_header(in.payload, h)) {
    case v1::Status::kOk: return handle_v1(in, now_ms, out);
    case v1::Status::kNotVersion1:
      // 29.060 7.2.3 answers any version we do not speak, but never a Version Not Supported
      // (GTPv2's is type 3 as well): two gateways must not answer each other forever.
      if ((h.version == 0 || h.version == 2) &&
          h.type != static_cast<uint8_t>(MsgType::kVersionNotSupported)) {
        ++counters_.version_not_supported;
        reply(in, v1::build_version_not_supported(0), out);
        return;
      }
      ++counters_.malformed;
      return;
    default: ++counters_.malformed; return;
  }
}

void Ggsn::handle_v1(const Datagram& in, int64_t now_ms, std::vector<Datagram>& out) {
  v1::Message msg;
  const v1::Status layout = v1::decode_message(in.payload, msg);
  const v1::Header& h = msg.header;
  const auto type = static_cast<MsgType>(h.type);
  if (type == MsgType::kDeletePdpResponse) {
    if (layout != v1::Status::kOk || !h.has_seq) {
      ++counters_.malformed;
      return;
    }
    return handle_delete_response(in, msg);
  }
  if (type != MsgType::kEchoRequest && type != MsgType::kCreatePdpRequest &&
      type != MsgType::kUpdatePdpRequest && type != MsgType::kDeletePdpRequest) {
    ++counters_.unknown_message;
    return;
  }
  // Every GTP-C message carries a sequence number (29.060 6): without it no response could
  // be matched, so there is nothing to answer.
  if (!h.has_seq) {
    ++counters_.malformed;
    return;
  }
  const ResponseCache::Key key{in.from.addr.value, in.from.port, h.seq, h.type};
  if (const std::vector<uint8_t>* cached = cache_.find(key, in.payload, now_ms)) {
    ++counters_.retransmissions_answered;
    reply(in, *cached, out);
    return;
  }
  std::vector<uint8_t> response;
  switch (type) {
    case MsgType::kEchoRequest:
      ++counters_.echo_requests;
      if (layout != v1::Status::kOk) {
        ++counters_.malformed;
        return;
      }
      response = v1::build_echo_response(h.seq, cfg_.restart_counter);
      break;
    case MsgType::kCreatePdpRequest:
      ++counters_.create_requests;
      response = layout == v1::Status::kOk
                     ? handle_create(in, msg)
                     : pdp_reject(true, 0, h.seq, status_cause(layout, counters_));
      break;
    case MsgType::kUpdatePdpRequest:
      ++counters_.update_requests;
      response = layout == v1::Status::kOk
                     ? handle_update(in, msg)
                     : pdp_reject(false, 0, h.seq, status_cause(layout, counters_));
      break;
    default:
      ++counters_.delete_requests;
      response = layout == v1::Status::kOk
                     ? handle_delete(in, msg)
                     : v1::build_delete_pdp_response(0, h.seq, status_cause(layout, counters_));
      break;
  }
  cache_.remember(key, in.payload, response, now_ms);
  reply(in, std::move(response), out);
}

std::vector<uint8_t> Ggsn::handle_create(const Datagram& in, const v1::Message& msg) {
  const uint16_t seq = msg.header.seq;
  v1::CreatePdpRequest req;
  if (const v1::Status s = v1::decode_create_pdp_request(msg, req); s != v1::Status::kOk) {
    return pdp_reject(true, req.teid_control, seq, status_cause(s, counters_));
  }
  check_recovery(in.from.addr, req.recovery);
  // simcore hands out IPv4 only: an IPv4v6 request gets IPv4 with cause 129 (29.060 7.3.2),
  // IPv6-only and non-IP contexts are refused.
  if (req.pdp_type != v1::PdpType::kIpv4 && req.pdp_type != v1::PdpType::kIpv4v6) {
    ++counters_.refused_pdp_type;
    return pdp_reject(true, req.teid_control, seq, Cause::kUnknownPdpType);
  }
  if (req.sgsn_control.ipv6 || req.sgsn_user.ipv6) {
    ++counters_.refused_ipv6_sgsn;
    return pdp_reject(true, req.teid_control, seq, Cause::kServiceNotSupported);
  }

  AttachAsk ask;
  ask.imsi = req.imsi;
  ask.msisdn = req.msisdn;
  ask.imei = req.imei;
  ask.apn = req.apn;
  map_rat(req.rat, ask);
  ask.serving_known = req.rai_plmn.has_value();
  if (req.rai_plmn) {
    ask.mcc = req.rai_plmn->mcc;
    ask.mnc = req.rai_plmn->mnc;
  }
  ask.peer_addr = req.sgsn_user.v4;
  ask.peer_teid = req.teid_data;
  const AttachAnswer answer = backend_.attach(ask);
  ++refusal_counter(counters_, answer.refusal);
  if (answer.refusal != Refusal::kNone) {
    return pdp_reject(true, req.teid_control, seq, refusal_cause(answer.refusal));
  }

  // The same IMSI and NSAPI again is a new activation of that context (the SGSN lost it): the
  // backend replaced the session, the handler replaces the context.
  const auto imsi_nsapi = std::make_pair(req.imsi, req.nsapi);
  if (auto old = by_imsi_nsapi_.find(imsi_nsapi); old != by_imsi_nsapi_.end()) {
    drop_context(old->second);
  }
  contexts_[answer.uplink_teid] = {in.from.addr, req.teid_control, req.nsapi, req.imsi};
  by_imsi_nsapi_[imsi_nsapi] = answer.uplink_teid;

  v1::PdpResponse r;
  r.teid = req.teid_control;
  r.seq = seq;
  r.cause = u8(req.pdp_type == v1::PdpType::kIpv4v6 ? Cause::kNewPdpTypeNetworkPreference
                                                    : Cause::kAccepted);
  r.recovery = cfg_.restart_counter;
  r.teid_data = answer.uplink_teid;
  r.teid_control = answer.uplink_teid;
  // Charging ID (7.7.26) must be unique per context and non-zero: our TEID is both.
  r.charging_id = answer.uplink_teid;
  r.ue_addr = answer.ue_addr;
  if (req.pco) {
    std::vector<uint8_t> pco = pco_encode(pco_decode(*req.pco), answer.dns);
    if (pco.size() > 1) r.pco = std::move(pco);  // more than the configuration-protocol octet
  }
  r.ggsn_control = cfg_.control_addr;
  r.ggsn_user = cfg_.user_addr;
  r.qos = std::move(req.qos);
  return v1::build_pdp_response(true, r);
}

std::vector<uint8_t> Ggsn::handle_update(const Datagram& in, const v1::Message& msg) {
  const uint16_t seq = msg.header.seq;
  const uint32_t teid = msg.header.teid;
  v1::UpdatePdpRequest req;
  const v1::Status s = v1::decode_update_pdp_request(msg, req);
  if (s == v1::Status::kOk) check_recovery(in.from.addr, req.recovery);
  auto ctx = contexts_.find(teid);
  if (ctx == contexts_.end()) {
    ++counters_.non_existent;
    return pdp_reject(false, 0, seq, Cause::kNonExistent);
  }
  if (s != v1::Status::kOk) {
    return pdp_reject(false, ctx->second.sgsn_teid, seq, status_cause(s, counters_));
  }
  if (req.sgsn_user.ipv6) {
    ++counters_.refused_ipv6_sgsn;
    return pdp_reject(false, ctx->second.sgsn_teid, seq, Cause::kServiceNotSupported);
  }
  if (!backend_.modify(teid, req.sgsn_user.v4, req.teid_data)) {
    ++counters_.non_existent;
    drop_context(teid);
    return pdp_reject(false, 0, seq, Cause::kNonExistent);
  }
  // An inter-SGSN routeing area update moves the context to the new SGSN (29.060 7.3.3).
  Context& c = ctx->second;
  c.sgsn_addr = in.from.addr;
  if (req.teid_control) c.sgsn_teid = *req.teid_control;
  ++counters_.updates_accepted;

  v1::PdpResponse r;
  r.teid = c.sgsn_teid;
  r.seq = seq;
  r.cause = u8(Cause::kAccepted);
  r.recovery = cfg_.restart_counter;
  r.teid_data = teid;
  r.teid_control = teid;
  r.charging_id = teid;
  r.ggsn_control = cfg_.control_addr;
  r.ggsn_user = cfg_.user_addr;
  r.qos = std::move(req.qos);
  return v1::build_pdp_response(false, r);
}

std::vector<uint8_t> Ggsn::handle_delete(const Datagram& in, const v1::Message& msg) {
  const uint16_t seq = msg.header.seq;
  const uint32_t teid = msg.header.teid;
  auto ctx = contexts_.find(teid);
  v1::DeletePdpRequest req;
  if (const v1::Status s = v1::decode_delete_pdp_request(msg, req); s != v1::Status::kOk) {
    const uint32_t sgsn_teid = ctx == contexts_.end() ? 0 : ctx->second.sgsn_teid;
    return v1::build_delete_pdp_response(sgsn_teid, seq, status_cause(s, counters_));
  }
  if (ctx == contexts_.end()) {
    // After a daemon restart the backend still holds sessions the handler has forgotten.
    if (teid != 0 && backend_.detach(teid)) {
      ++counters_.deletes_accepted;
      return v1::build_delete_pdp_response(0, seq, Cause::kAccepted);
    }
    ++counters_.non_existent;
    return v1::build_delete_pdp_response(0, seq, Cause::kNonExistent);
  }
  if (ctx->second.sgsn_addr != in.from.addr) {
    // Only the SGSN holding the context may delete it: anything else is a stale or forged
    // request, answered as if the context did not exist.
    ++counters_.unknown_peer;
    return v1::build_delete_pdp_response(0, seq, Cause::kNonExistent);
  }
  const uint32_t sgsn_teid = ctx->second.sgsn_teid;
  // The context goes whatever the backend says: a false detach means it already ended.
  (void)backend_.detach(teid);
  drop_context(teid);
  ++counters_.deletes_accepted;
  return v1::build_delete_pdp_response(sgsn_teid, seq, Cause::kAccepted);
}

void Ggsn::handle_delete_response(const Datagram& in, const v1::Message& msg) {
  uint8_t cause = 0;
  const std::optional<uint32_t> teid = pending_.match(msg.header.seq, in.from.addr);
  if (!teid) {
    ++counters_.unmatched_responses;
    return;
  }
  if (v1::decode_cause(msg, cause) != v1::Status::kOk) {
    ++counters_.malformed;
    return;
  }
  // Any cause ends it: 128 deleted, 192 the SGSN had already lost the context.
  ++counters_.delete_answered;
  drop_context(*teid);
}

void Ggsn::on_session_ended(uint32_t uplink_teid, int64_t now_ms, std::vector<Datagram>& out) {
  const auto ctx = contexts_.find(uplink_teid);
  if (ctx == contexts_.end()) return;
  if (pending_.has(uplink_teid)) return;  // already being deleted
  const uint16_t seq = next_seq_++;
  // Requests go to port 2123 (29.060 4.4.2). Teardown Ind set: the PDP address goes with it
  // (7.7.16); simcore has one context per PDP address anyway.
  pending_.send(seq, uplink_teid,
                {{cfg_.control_addr, kGtpcPort},
                 {ctx->second.sgsn_addr, kGtpcPort},
                 v1::build_delete_pdp_request(ctx->second.sgsn_teid, seq, ctx->second.nsapi, true)},
                now_ms, out);
  ++counters_.delete_sent;
}

void Ggsn::tick(int64_t now_ms, std::vector<Datagram>& out) {
  for (const uint32_t teid : pending_.tick(now_ms, out)) {
    ++counters_.delete_timeouts;
    drop_context(teid);
  }
  cache_.expire(now_ms);
}

void Ggsn::forget_responses() { cache_.forget_batch(); }

void Ggsn::check_recovery(core::Ipv4 peer, std::optional<uint8_t> recovery) {
  // A restarted SGSN lost its contexts (29.060 7.7.11): ours with it are stale.
  if (!restarts_.restarted(peer, recovery)) return;
  ++counters_.peer_restarts;
  std::vector<uint32_t> stale;
  for (const auto& [teid, c] : contexts_) {
    if (c.sgsn_addr == peer) stale.push_back(teid);
  }
  for (const uint32_t teid : stale) {
    (void)backend_.detach(teid);
    drop_context(teid);
  }
}

void Ggsn::drop_context(uint32_t teid) {
  const auto ctx = contexts_.find(teid);
  if (ctx == contexts_.end()) return;
  const auto key = std::make_pair(ctx->second.imsi, ctx->second.nsapi);
  if (auto i = by_imsi_nsapi_.find(key); i != by_imsi_nsapi_.end() && i->second == teid) {
    by_imsi_nsapi_.erase(i);
  }
  contexts_.erase(ctx);
  pending_.drop(teid);
}

bool Ggsn::peer_allowed(core::Ipv4 peer) const {
  return cfg_.allowed_peers.empty() ||
         std::find(cfg_.allowed_peers.begin(), cfg_.allowed_peers.end(), peer) !=
             cfg_.allowed_peers.end();
}

void Ggsn::reply(const Datagram& in, std::vector<uint8_t> payload, std::vector<Datagram>& out) {
  out.push_back({{cfg_.control_addr, kGtpcPort}, in.from, std::move(payload)});
}

}  // namespace simcore::gtpc
