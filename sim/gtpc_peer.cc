#include "sim/gtpc_peer.h"

#include <span>

#include "control/gtpc/gtpv1.h"
#include "control/gtpc/gtpv2.h"
#include "control/gtpc/wire.h"

namespace simcore::sim {
namespace {

namespace v1 = gtpc::v1;
namespace v2 = gtpc::v2;
using core::Error;
using Bytes = std::vector<uint8_t>;

constexpr uint8_t kDefaultBearer = 5;  // EBI 5 / NSAPI 5: the first bearer, as real peers use

// Serving Network / RAI PLMN (29.274 8.18): MCC2|MCC1, MNC3|MCC3, MNC2|MNC1; two-digit MNCs
// carry the filler F in MNC3. Scenarios give MNCs below 100, so two digits.
Bytes plmn(uint16_t mcc, uint16_t mnc) {
  const uint8_t m1 = uint8_t(mcc / 100 % 10), m2 = uint8_t(mcc / 10 % 10), m3 = uint8_t(mcc % 10);
  const uint8_t n1 = uint8_t(mnc / 10 % 10), n2 = uint8_t(mnc % 10);
  return {uint8_t(m2 << 4 | m1), uint8_t(0xf0 | m3), uint8_t(n2 << 4 | n1)};
}

Bytes be32(uint32_t v) { return {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)}; }

std::optional<uint8_t> v2_rat(core::Rat r) {
  switch (r) {
    case core::Rat::kUtran: return uint8_t(v2::RatType::kUtran);
    case core::Rat::kGeran: return uint8_t(v2::RatType::kGeran);
    case core::Rat::kEutran: return uint8_t(v2::RatType::kEutran);
    case core::Rat::kLteM: return uint8_t(v2::RatType::kLteM);
    case core::Rat::kNbIot: return uint8_t(v2::RatType::kEutranNbIot);
    case core::Rat::kNr: return uint8_t(v2::RatType::kNr);
  }
  return std::nullopt;
}

std::optional<uint8_t> v1_rat(core::Rat r) {
  switch (r) {
    case core::Rat::kUtran: return uint8_t(v1::RatType::kUtran);
    case core::Rat::kGeran: return uint8_t(v1::RatType::kGeran);
    case core::Rat::kEutran: return uint8_t(v1::RatType::kEutran);
    case core::Rat::kNbIot: return uint8_t(v1::RatType::kEutranNbIot);
    case core::Rat::kLteM:
    case core::Rat::kNr: return std::nullopt;
  }
  return std::nullopt;
}

Bytes build_csr(const PeerAttach& a, uint8_t rat) {
  Bytes out;
  v2::MessageWriter w(out, uint8_t(v2::MsgType::kCreateSessionRequest), 0, a.seq & 0xffffff);
  w.ie(v2::IeType::kImsi, gtpc::tbcd_encode(a.imsi));
  if (!a.imei.empty()) w.ie(v2::IeType::kMei, gtpc::tbcd_encode(a.imei));
  w.ie(v2::IeType::kServingNetwork, plmn(a.request.mcc, a.request.mnc));
  w.u8(v2::IeType::kRatType, rat);
  w.fteid({.iface = uint8_t(v2::Iface::kS5S8SgwC),
           .instance = 0,
           .teid = a.control_teid,
           .has_ipv4 = true,
           .ipv4 = a.control_addr});
  w.ie(v2::IeType::kApn, gtpc::apn_encode(a.request.apn));
  const uint8_t ipv4 = uint8_t(v2::PdnType::kIpv4);
  w.ie(v2::IeType::kPdnType, Bytes{ipv4});
  w.ie(v2::IeType::kPaa, Bytes{ipv4, 0, 0, 0, 0});
  w.ie(v2::IeType::kPco, Bytes{0x80, 0x00, 0x0d, 0x00});  // asks for DNS servers
  const size_t g = w.begin_group(v2::IeType::kBearerContext);
  w.u8(v2::IeType::kEbi, kDefaultBearer);
  w.fteid({.iface = uint8_t(v2::Iface::kS5S8SgwU),
           .instance = 2,
           .teid = a.request.peer_teid,
           .has_ipv4 = true,
           .ipv4 = a.request.peer_addr});
  w.end_group(g);
  w.finish();
  return out;
}

// GTPv1-C: flags 0x32 (version 1, PT 1, S), type, length, TEID, sequence, N-PDU, next ext.
Bytes v1_message(uint8_t type, uint32_t teid, uint16_t seq, const Bytes& ies) {
  Bytes b = {0x32, type, 0, 0};
  const Bytes t = be32(teid);
  b.insert(b.end(), t.begin(), t.end());
  b.insert(b.end(), {uint8_t(seq >> 8), uint8_t(seq), 0, 0});
  b.insert(b.end(), ies.begin(), ies.end());
  const size_t len = b.size() - 8;
  b[2] = uint8_t(len >> 8);
  b[3] = uint8_t(len);
  return b;
}

void tv(Bytes& b, uint8_t type, const Bytes& v) {
  b.push_back(type);
  b.insert(b.end(), v.begin(), v.end());
}

void tlv(Bytes& b, uint8_t type, const Bytes& v) {
  b.insert(b.end(), {type, uint8_t(v.size() >> 8), uint8_t(v.size())});
  b.insert(b.end(), v.begin(), v.end());
}

// Create PDP Context Request (29.060 7.3.1); IEs in ascending type order as 7.7 requires.
Bytes build_cpdp(const PeerAttach& a, uint8_t rat) {
  Bytes ies;
  Bytes imsi = gtpc::tbcd_encode(a.imsi);
  imsi.resize(8, 0xff);
  tv(ies, 2, imsi);
  Bytes rai = plmn(a.request.mcc, a.request.mnc);
  rai.insert(rai.end(), {0x00, 0x01, 0x01});  // LAC 1, RAC 1
  tv(ies, 3, rai);
  tv(ies, 15, {0xfc});  // selection mode: MS or network provided APN, subscription verified
  tv(ies, 16, be32(a.request.peer_teid));
  tv(ies, 17, be32(a.control_teid));
  tv(ies, 20, {kDefaultBearer});
  tlv(ies, 128, {0xf1, 0x21});  // End User Address: IETF, IPv4, dynamic
  tlv(ies, 131, gtpc::apn_encode(a.request.apn));
  tlv(ies, 133, be32(a.control_addr.value));
  tlv(ies, 133, be32(a.request.peer_addr.value));
  tlv(ies, 135, {0x01, 0x23, 0x62, 0x1f});  // QoS profile: allocation/retention 1, R97 bytes
  tlv(ies, 151, {rat});
  if (!a.imei.empty()) tlv(ies, 154, gtpc::tbcd_encode(a.imei));
  return v1_message(uint8_t(v1::MsgType::kCreatePdpRequest), 0, uint16_t(a.seq), ies);
}

}  // namespace

core::Result<std::vector<uint8_t>> build_attach(const PeerAttach& a) {
  if (a.gtp == 1) {
    const std::optional<uint8_t> rat = v1_rat(a.request.rat);
    if (!rat) {
      return Error(core::Code::kInvalidArgument, "GTPv1-C has no RAT Type for LTE-M or NR");
    }
    return build_cpdp(a, *rat);
  }
  const std::optional<uint8_t> rat = v2_rat(a.request.rat);
  if (!rat) return Error(core::Code::kInvalidArgument, "unknown RAT");
  return build_csr(a, *rat);
}

core::Result<AttachAnswer> decode_attach_answer(int gtp, const std::vector<uint8_t>& payload) {
  AttachAnswer out;
  if (gtp == 1) {
    v1::Message m;
    if (v1::decode_message(payload, m) != v1::Status::kOk ||
        m.header.type != uint8_t(v1::MsgType::kCreatePdpResponse)) {
      return Error(core::Code::kInvalidArgument, "not a Create PDP Context Response");
    }
    v1::PdpResponse r;
    if (v1::decode_pdp_response(m, r) != v1::Status::kOk) {
      return Error(core::Code::kInvalidArgument, "undecodable Create PDP Context Response");
    }
    out.cause = r.cause;
    out.seq = r.seq;
    out.accepted = v1::accepted(r.cause);
    out.uplink_teid = r.teid_data;
    out.control_teid = r.teid_control;
    out.ue_addr = r.ue_addr;
    return out;
  }
  v2::Message m;
  if (v2::parse(payload, m) != v2::Status::kOk ||
      m.header.type != uint8_t(v2::MsgType::kCreateSessionResponse)) {
    return Error(core::Code::kInvalidArgument, "not a Create Session Response");
  }
  v2::Reply r;
  if (v2::decode_reply(m, r) != v2::Status::kOk) {
    return Error(core::Code::kInvalidArgument, "undecodable Create Session Response");
  }
  out.cause = r.cause;
  out.seq = r.seq;
  out.accepted = r.cause >= 16 && r.cause < 64;
  out.ue_addr = r.paa_ipv4;
  for (const v2::Fteid& f : r.fteids) {
    if (f.iface == uint8_t(v2::Iface::kS5S8PgwC)) out.control_teid = f.teid;
  }
  if (r.bearer) {
    for (const v2::Fteid& f : r.bearer->fteids) {
      if (f.iface == uint8_t(v2::Iface::kS5S8PgwU)) out.uplink_teid = f.teid;
    }
  }
  return out;
}

std::vector<uint8_t> build_detach(int gtp, uint32_t gateway_control_teid, uint32_t seq) {
  if (gtp == 1) {
    Bytes ies;
    tv(ies, 19, {0xff});  // Teardown Ind
    tv(ies, 20, {kDefaultBearer});
    return v1_message(uint8_t(v1::MsgType::kDeletePdpRequest), gateway_control_teid,
                      uint16_t(seq), ies);
  }
  Bytes out;
  v2::MessageWriter w(out, uint8_t(v2::MsgType::kDeleteSessionRequest), gateway_control_teid,
                      seq & 0xffffff);
  w.u8(v2::IeType::kEbi, kDefaultBearer);
  w.finish();
  return out;
}

std::optional<uint8_t> decode_detach_answer(int gtp, const std::vector<uint8_t>& payload,
                                            uint32_t& seq) {
  if (gtp == 1) {
    v1::Message m;
    uint8_t cause = 0;
    if (v1::decode_message(payload, m) != v1::Status::kOk ||
        m.header.type != uint8_t(v1::MsgType::kDeletePdpResponse) ||
        v1::decode_cause(m, cause) != v1::Status::kOk) {
      return std::nullopt;
    }
    seq = m.header.seq;
    return cause;
  }
  v2::Message m;
  v2::Reply r;
  if (v2::parse(payload, m) != v2::Status::kOk ||
      m.header.type != uint8_t(v2::MsgType::kDeleteSessionResponse) ||
      v2::decode_reply(m, r) != v2::Status::kOk) {
    return std::nullopt;
  }
  seq = r.seq;
  return r.cause;
}

std::optional<uint32_t> gtpc_sequence(const std::vector<uint8_t>& payload) {
  if (payload.empty()) return std::nullopt;
  if ((payload[0] >> 5) == 1) {
    v1::Header h;
    if (v1::decode_header(payload, h) != v1::Status::kOk || !h.has_seq) return std::nullopt;
    return h.seq;
  }
  v2::Message m;
  if (v2::parse(payload, m) != v2::Status::kOk) return std::nullopt;
  return m.header.seq;
}

}  // namespace simcore::sim
