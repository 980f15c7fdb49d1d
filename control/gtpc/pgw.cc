#include "control/gtpc/pgw.h"

#include <algorithm>

namespace simcore::gtpc {
namespace {

using v2::Cause;
using v2::Iface;
using v2::MsgType;

constexpr uint8_t u8(Cause c) { return static_cast<uint8_t>(c); }
constexpr uint8_t u8(MsgType t) { return static_cast<uint8_t>(t); }
constexpr uint8_t u8(Iface i) { return static_cast<uint8_t>(i); }

// APN Restriction (8.57) in Create Session Response: 0, "no existing contexts or restriction".
// Each Thing has one PDN connection, so there is nothing for a restriction to guard.
constexpr uint8_t kApnRestrictionNone = 0;
constexpr uint32_t kSeqMask = 0xffffff;

// The 29.274 Table 8.4-1 cause of each refusal.
uint8_t cause_of(Refusal r) {
  switch (r) {
    case Refusal::kNone: return u8(Cause::kRequestAccepted);
    // No subscriber has this IMSI.
    case Refusal::kUnknownImsi: return u8(Cause::kImsiImeiNotKnown);
    // The subscriber exists but may not use data now: what a PGW answers when its AAA
    // refuses the user.
    case Refusal::kNotActive:
    case Refusal::kDataOff: return u8(Cause::kUserAuthenticationFailed);
    case Refusal::kUnknownApn: return u8(Cause::kMissingOrUnknownApn);
    // "Denied in RAT": the subscriber may not use this radio access. "Service not
    // supported" (68) would say the PGW lacks a feature, which is not the case.
    case Refusal::kRatNotAllowed: return u8(Cause::kDeniedInRat);
    // The subscription does not cover this APN from the visited network.
    case Refusal::kRoamingNotAllowed: return u8(Cause::kApnAccessDenied);
    // The IMEI is known, so "IMSI/IMEI not known" (96) would mislead: this device is not
    // authorised with this SIM, an authorisation refusal like AAA's.
    case Refusal::kImeiLocked: return u8(Cause::kUserAuthenticationFailed);
    case Refusal::kNoAddress: return u8(Cause::kAllDynamicAddressesOccupied);
    case Refusal::kSystemFailure: return u8(Cause::kSystemFailure);
  }
  return u8(Cause::kSystemFailure);
}

void count_refusal(PgwCounters& c, Refusal r) {
  switch (r) {
    case Refusal::kNone: ++c.accepted; return;
    case Refusal::kUnknownImsi: ++c.refused_unknown_imsi; return;
    case Refusal::kNotActive: ++c.refused_not_active; return;
    case Refusal::kDataOff: ++c.refused_data_off; return;
    case Refusal::kUnknownApn: ++c.refused_unknown_apn; return;
    case Refusal::kRatNotAllowed: ++c.refused_rat_not_allowed; return;
    case Refusal::kRoamingNotAllowed: ++c.refused_roaming_not_allowed; return;
    case Refusal::kImeiLocked: ++c.refused_imei_locked; return;
    case Refusal::kNoAddress: ++c.refused_no_address; return;
    case Refusal::kSystemFailure: ++c.refused_system_failure; return;
  }
}

bool is_request(uint8_t type) {
  return type == u8(MsgType::kEchoRequest) || type == u8(MsgType::kCreateSessionRequest) ||
         type == u8(MsgType::kModifyBearerRequest) || type == u8(MsgType::kDeleteSessionRequest);
}

// A decode failure's cause and counter: 70 with the missing IE, 69 with the faulty one.
void refuse_decode(v2::Status s, v2::IeId offending, v2::Reply& r, PgwCounters& c) {
  const bool missing = s == v2::Status::kMissingMandatory;
  ++(missing ? c.mandatory_missing : c.mandatory_incorrect);
  r.cause = u8(missing ? Cause::kMandatoryIeMissing : Cause::kMandatoryIeIncorrect);
  r.offending = offending;
}

v2::Fteid fteid(Iface iface, uint8_t instance, uint32_t teid, core::Ipv4 addr) {
  return {.iface = u8(iface), .instance = instance, .teid = teid, .has_ipv4 = true, .ipv4 = addr};
}

}  // namespace

Pgw::Pgw(AttachBackend& backend, PgwConfig cfg)
    : backend_(backend),
      cfg_(std::move(cfg)),
      cache_(cfg_.response_cache_ms),
      pending_(cfg_.request_timeout_ms, cfg_.request_retries) {}

void Pgw::on_datagram(const Datagram& in, int64_t now_ms, std::vector<Datagram>& out) {
  if (!peer_allowed(in.from.addr)) {
    ++counters_.unknown_peer;
    return;
  }
  v2::Message msg;
  switch (v2::parse(in.payload, msg)) {
    case v2::Status::kOk: handle_v2(in, msg, now_ms, out); return;
    case v2::Status::kNotVersion2: {
      // 7.7.1 / 7.1.3: answer with our version, except a Version Not Supported itself (which
      // would loop). A GTPv1 header carries its sequence number only with S set (29.060 6).
      if (msg.header.type == u8(MsgType::kVersionNotSupported)) return;
      ++counters_.version_not_supported;
      const std::vector<uint8_t>& p = in.payload;
      const bool v1_seq = msg.header.version == 1 && (p[0] & 0x02) && p.size() >= 10;
      const uint32_t seq = v1_seq ? uint32_t{p[8]} << 8 | p[9] : 0;
      out.push_back(
          {{cfg_.control_addr, kGtpcPort}, in.from, v2::build_version_not_supported(seq)});
      return;
    }
    case v2::Status::kTooShort: ++counters_.malformed; return;
    default: {
      ++counters_.malformed;
      std::vector<uint8_t> answer = invalid_length(msg.header);
      if (!answer.empty())
        out.push_back({{cfg_.control_addr, kGtpcPort}, in.from, std::move(answer)});
      return;
    }
  }
}

void Pgw::handle_v2(const Datagram& in, const v2::Message& msg, int64_t now_ms,
                    std::vector<Datagram>& out) {
  if (!msg.piggybacked.empty()) ++counters_.piggybacked_ignored;
  const v2::Header& h = msg.header;
  if (h.type == u8(MsgType::kDeleteBearerResponse)) {
    ++counters_.delete_bearer_responses;
    handle_delete_bearer_response(in, msg);
    return;
  }
  if (h.type == u8(MsgType::kEchoResponse)) {  // we send no Echo Requests
    ++counters_.unmatched_responses;
    return;
  }
  if (!is_request(h.type)) {
    ++counters_.unknown_message;
    return;
  }
  // 7.6: a retransmitted request is identical and gets the same response without being
  // processed again. Comparing the bytes keeps a restarted peer that reuses a sequence number
  // from getting an answer to its previous life's request.
  const ResponseCache::Key key{in.from.addr.value, in.from.port, h.seq, h.type};
  if (const std::vector<uint8_t>* cached = cache_.find(key, in.payload, now_ms)) {
    ++counters_.retransmissions_answered;
    out.push_back({{cfg_.control_addr, kGtpcPort}, in.from, *cached});
    return;
  }
  std::vector<uint8_t> response;
  switch (static_cast<MsgType>(h.type)) {
    case MsgType::kEchoRequest:
      ++counters_.echo_requests;
      check_recovery(in.from.addr, v2::decode_recovery(msg));
      response = v2::build_echo_response(h.seq, cfg_.restart_counter);
      break;
    case MsgType::kCreateSessionRequest:
      ++counters_.create_requests;
      response = handle_create(in, msg);
      break;
    case MsgType::kModifyBearerRequest:
      ++counters_.modify_requests;
      response = handle_modify(in, msg);
      break;
    default:
      ++counters_.delete_requests;
      response = handle_delete(in, msg);
      break;
  }
  reply(in, key, std::move(response), now_ms, out);
}

std::vector<uint8_t> Pgw::handle_create(const Datagram& in, const v2::Message& msg) {
  v2::CreateSessionRequest req;
  const v2::Status s = v2::decode_create_session_request(msg, req);
  v2::Reply r;
  r.type = u8(MsgType::kCreateSessionResponse);
  r.teid = req.sender.teid;  // 0 when the Sender F-TEID was not decoded
  r.seq = msg.header.seq;
  r.recovery = cfg_.restart_counter;
  if (s != v2::Status::kOk) {
    refuse_decode(s, req.offending, r, counters_);
    return v2::build_reply(r);
  }
  check_recovery(in.from.addr, req.recovery);
  // We hand out IPv4 only: IPv4v6 gets IPv4 with cause 18; IPv6-only and non-IP cannot be
  // served (83). An absent PDN Type (conditional) reads as IPv4.
  const uint8_t pdn = req.pdn_type.value_or(static_cast<uint8_t>(v2::PdnType::kIpv4));
  const bool dual = pdn == static_cast<uint8_t>(v2::PdnType::kIpv4v6);
  if (pdn != static_cast<uint8_t>(v2::PdnType::kIpv4) && !dual) {
    ++counters_.refused_pdn_type;
    r.cause = u8(Cause::kPreferredPdnTypeNotSupported);
    return v2::build_reply(r);
  }

  AttachAsk ask;
  ask.imsi = req.imsi;
  ask.msisdn = req.msisdn;
  ask.imei = req.mei;
  ask.apn = req.apn;
  ask.rat_known = true;
  if (std::optional<core::Rat> rat = v2::rat_from_wire(req.rat_type)) {
    ask.rat = *rat;
  } else {
    ask.rat_served = false;
  }
  if (req.serving_network) {
    ask.serving_known = true;
    ask.mcc = req.serving_network->mcc;
    ask.mnc = req.serving_network->mnc;
  }
  // S11 initial attach has no eNodeB F-TEID yet (it comes with Modify Bearer): peer_teid 0.
  if (const v2::Fteid* up = req.bearer.peer_user_plane()) {
    ask.peer_addr = up->ipv4;
    ask.peer_teid = up->teid;
  }
  const AttachAnswer a = backend_.attach(ask);
  count_refusal(counters_, a.refusal);
  if (a.refusal != Refusal::kNone) {
    r.cause = cause_of(a.refusal);
    return v2::build_reply(r);
  }

  const uint32_t teid = a.uplink_teid;
  // One PDN connection per IMSI: a new Create replaces the old one (the backend replaced the
  // session), and a TEID the backend reused cannot still name another IMSI's context.
  if (auto it = by_imsi_.find(req.imsi); it != by_imsi_.end()) drop_context(it->second);
  drop_context(teid);
  // An MME (S11) or SGSN (S4) talks to us as its SGW: answer with SGW F-TEIDs too.
  const bool s11 =
      req.sender.iface == u8(Iface::kS11Mme) || req.sender.iface == u8(Iface::kS4SgsnC);
  Context& c = contexts_[teid];
  c.peer = in.from.addr;
  c.peer_control = {req.sender.has_ipv4 ? req.sender.ipv4 : in.from.addr, kGtpcPort};
  c.peer_teid = req.sender.teid;
  c.ebi = *req.bearer.ebi;
  c.s11 = s11;
  c.imsi = req.imsi;
  by_imsi_[req.imsi] = teid;

  r.cause = u8(dual ? Cause::kNewPdnTypeNetworkPreference : Cause::kRequestAccepted);
  // 7.2.2: the Sender F-TEID (instance 0) only on S11/S4; the PGW S5/S8 F-TEID (instance 1)
  // always. Bearer: S1-U/S4-U SGW F-TEID toward an MME/SGSN, S5/S8-U PGW F-TEID otherwise.
  if (s11) r.fteids.push_back(fteid(Iface::kS11S4SgwC, 0, teid, cfg_.control_addr));
  r.fteids.push_back(fteid(Iface::kS5S8PgwC, 1, teid, cfg_.control_addr));
  r.paa_ipv4 = a.ue_addr;
  r.apn_restriction = kApnRestrictionNone;
  if (req.pco && (req.pco->dns_ipv4 || req.pco->ipcp) && !a.dns.empty()) {
    r.pco = pco_encode(*req.pco, a.dns);
  }
  v2::BearerReply b;
  b.ebi = c.ebi;
  b.cause = u8(Cause::kRequestAccepted);
  if (!s11) {
    b.fteids.push_back(fteid(Iface::kS5S8PgwU, 2, teid, cfg_.user_addr));
  } else if (req.sender.iface == u8(Iface::kS4SgsnC)) {
    b.fteids.push_back(fteid(Iface::kS4SgwU, 1, teid, cfg_.user_addr));
  } else {
    b.fteids.push_back(fteid(Iface::kS1uSgw, 0, teid, cfg_.user_addr));
  }
  b.charging_id = teid;  // unique among open sessions, as a Charging ID must be
  r.bearer = std::move(b);
  return v2::build_reply(r);
}

std::vector<uint8_t> Pgw::handle_modify(const Datagram& in, const v2::Message& msg) {
  v2::ModifyBearerRequest req;
  const v2::Status s = v2::decode_modify_bearer_request(msg, req);
  if (s == v2::Status::kOk) check_recovery(in.from.addr, req.recovery);
  v2::Reply r;
  r.type = u8(MsgType::kModifyBearerResponse);
  r.seq = msg.header.seq;
  const uint32_t teid = msg.header.teid;
  auto it = contexts_.find(teid);
  if (it == contexts_.end()) {
    // 29.274 5.5.2: TEID 0 in a response when the sender's TEID is not known.
    ++counters_.context_not_found;
    r.cause = u8(Cause::kContextNotFound);
    return v2::build_reply(r);
  }
  Context& c = it->second;
  r.teid = c.peer_teid;
  if (s != v2::Status::kOk) {
    refuse_decode(s, req.offending, r, counters_);
    return v2::build_reply(r);
  }
  if (req.bearer.present && *req.bearer.ebi != c.ebi) {
    ++counters_.context_not_found;
    r.cause = u8(Cause::kContextNotFound);
    return v2::build_reply(r);
  }
  if (const v2::Fteid* up = req.bearer.present ? req.bearer.peer_user_plane() : nullptr) {
    if (!backend_.modify(teid, up->ipv4, up->teid)) {
      ++counters_.context_not_found;
      r.cause = u8(Cause::kContextNotFound);
      drop_context(teid);
      return v2::build_reply(r);
    }
  }
  // The SGW (S5/S8 relocation) or MME may move its control endpoint.
  if (req.sender && req.sender->has_ipv4) {
    c.peer = in.from.addr;
    c.peer_control = {req.sender->ipv4, kGtpcPort};
    c.peer_teid = req.sender->teid;
    r.teid = c.peer_teid;
  }
  ++counters_.modifies_accepted;
  r.cause = u8(Cause::kRequestAccepted);
  if (req.bearer.present) {
    v2::BearerReply b;
    b.ebi = c.ebi;
    b.cause = u8(Cause::kRequestAccepted);
    if (c.s11) b.fteids.push_back(fteid(Iface::kS1uSgw, 0, teid, cfg_.user_addr));
    r.bearer = std::move(b);
  }
  return v2::build_reply(r);
}

std::vector<uint8_t> Pgw::handle_delete(const Datagram& in, const v2::Message& msg) {
  v2::DeleteRequest req;
  const v2::Status s = v2::decode_delete_request(msg, req);
  v2::Reply r;
  r.type = u8(MsgType::kDeleteSessionResponse);
  r.seq = msg.header.seq;
  const uint32_t teid = msg.header.teid;
  auto it = contexts_.find(teid);
  if (it == contexts_.end()) {
    // Sessions outlive a daemon restart, our contexts do not: the backend may still know it.
    if (s == v2::Status::kOk && teid != 0 && backend_.detach(teid)) {
      ++counters_.deletes_accepted;
      r.cause = u8(Cause::kRequestAccepted);
      r.teid = req.sender ? req.sender->teid : 0;
    } else {
      ++counters_.context_not_found;
      r.cause = u8(Cause::kContextNotFound);
    }
    return v2::build_reply(r);
  }
  const Context& c = it->second;
  if (in.from.addr != c.peer) {
    // Only the session's own peer may end it; another learns nothing (TEID 0).
    ++counters_.unknown_peer;
    r.cause = u8(Cause::kContextNotFound);
    return v2::build_reply(r);
  }
  r.teid = c.peer_teid;
  if (s != v2::Status::kOk) {
    refuse_decode(s, req.offending, r, counters_);
    return v2::build_reply(r);
  }
  if (req.lbi && *req.lbi != c.ebi) {
    ++counters_.context_not_found;
    r.cause = u8(Cause::kContextNotFound);
    return v2::build_reply(r);
  }
  // The backend may have ended the session already (control did): ours goes all the same.
  (void)backend_.detach(teid);
  drop_context(teid);
  ++counters_.deletes_accepted;
  r.cause = u8(Cause::kRequestAccepted);
  return v2::build_reply(r);
}

void Pgw::handle_delete_bearer_response(const Datagram& in, const v2::Message& msg) {
  const std::optional<uint32_t> teid = pending_.match(msg.header.seq, in.from.addr);
  if (!teid) {
    ++counters_.unmatched_responses;
    return;
  }
  // Whatever the cause (even Context Not Found), the peer no longer holds the bearer.
  ++counters_.delete_bearer_answered;
  drop_context(*teid);
  v2::Reply r;
  if (v2::decode_reply(msg, r) == v2::Status::kOk) check_recovery(in.from.addr, r.recovery);
}

std::vector<uint8_t> Pgw::invalid_length(const v2::Header& h) const {
  v2::Reply r;
  r.seq = h.seq;
  r.cause = u8(Cause::kInvalidLength);
  if (h.type == u8(MsgType::kCreateSessionRequest)) {
    r.type = u8(MsgType::kCreateSessionResponse);  // the Sender F-TEID is not trusted: TEID 0
  } else if (h.type == u8(MsgType::kModifyBearerRequest) ||
             h.type == u8(MsgType::kDeleteSessionRequest)) {
    r.type = static_cast<uint8_t>(h.type + 1);  // the response type follows the request's
    auto it = contexts_.find(h.teid);
    r.teid = it == contexts_.end() ? 0 : it->second.peer_teid;
  } else {
    return {};  // Echo and responses: nothing to say
  }
  return v2::build_reply(r);
}

void Pgw::on_session_ended(uint32_t uplink_teid, int64_t now_ms, std::vector<Datagram>& out) {
  auto it = contexts_.find(uplink_teid);
  if (it == contexts_.end()) return;
  if (pending_.has(uplink_teid)) return;  // already being deleted
  const Context& c = it->second;
  const uint32_t seq = next_seq_;
  next_seq_ = (next_seq_ + 1) & kSeqMask;
  if (next_seq_ == 0) next_seq_ = 1;
  pending_.send(seq, uplink_teid,
                {{cfg_.control_addr, kGtpcPort},
                 c.peer_control,
                 v2::build_delete_bearer_request(c.peer_teid, seq, c.ebi)},
                now_ms, out);
  ++counters_.delete_bearer_sent;
}

void Pgw::tick(int64_t now_ms, std::vector<Datagram>& out) {
  // N3 exhausted: the peer is gone or lost the bearer; the session already ended.
  for (const uint32_t teid : pending_.tick(now_ms, out)) {
    ++counters_.delete_bearer_timeouts;
    drop_context(teid);
  }
  cache_.expire(now_ms);
}

void Pgw::forget_responses() { cache_.forget_batch(); }

void Pgw::check_recovery(core::Ipv4 peer, std::optional<uint8_t> recovery) {
  // A restarted peer lost its sessions (29.274 7.1.1, 23.007): ours with it are stale.
  if (!restarts_.restarted(peer, recovery)) return;
  ++counters_.peer_restarts;
  std::vector<uint32_t> stale;
  for (const auto& [teid, c] : contexts_) {
    if (c.peer == peer) stale.push_back(teid);
  }
  for (const uint32_t teid : stale) {
    (void)backend_.detach(teid);
    drop_context(teid);
  }
}

void Pgw::drop_context(uint32_t teid) {
  auto it = contexts_.find(teid);
  if (it == contexts_.end()) return;
  if (auto im = by_imsi_.find(it->second.imsi); im != by_imsi_.end() && im->second == teid) {
    by_imsi_.erase(im);
  }
  contexts_.erase(it);
  pending_.drop(teid);
}

bool Pgw::peer_allowed(core::Ipv4 peer) const {
  return cfg_.allowed_peers.empty() ||
         std::find(cfg_.allowed_peers.begin(), cfg_.allowed_peers.end(), peer) !=
             cfg_.allowed_peers.end();
}

void Pgw::reply(const Datagram& in, const ResponseCache::Key& key, std::vector<uint8_t> payload,
                int64_t now_ms, std::vector<Datagram>& out) {
  cache_.remember(key, in.payload, payload, now_ms);
  out.push_back({{cfg_.control_addr, kGtpcPort}, in.from, std::move(payload)});
}

}  // namespace simcore::gtpc
