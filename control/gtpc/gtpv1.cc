#include "control/gtpc/gtpv1.h"

namespace simcore::gtpc::v1 {

namespace {

// IE types (TS 29.060 7.7).
constexpr uint8_t kIeCause = 1;
constexpr uint8_t kIeImsi = 2;
constexpr uint8_t kIeRai = 3;
constexpr uint8_t kIeReordering = 8;
constexpr uint8_t kIeRecovery = 14;
constexpr uint8_t kIeSelectionMode = 15;
constexpr uint8_t kIeTeidData = 16;
constexpr uint8_t kIeTeidControl = 17;
constexpr uint8_t kIeTeardown = 19;
constexpr uint8_t kIeNsapi = 20;
constexpr uint8_t kIeChargingId = 127;
constexpr uint8_t kIeEndUserAddress = 128;
constexpr uint8_t kIeApn = 131;
constexpr uint8_t kIePco = 132;
constexpr uint8_t kIeGsnAddress = 133;
constexpr uint8_t kIeMsisdn = 134;
constexpr uint8_t kIeQos = 135;
constexpr uint8_t kIeRatType = 151;
constexpr uint8_t kIeUli = 152;
constexpr uint8_t kIeImeiSv = 154;

constexpr uint8_t kFlagE = 0x04, kFlagS = 0x02, kFlagPn = 0x01;
constexpr uint8_t kPdpOrgIetf = 1;
constexpr uint8_t kPdpIpv4 = 0x21, kPdpIpv6 = 0x57, kPdpIpv4v6 = 0x8d;

// Value length of each TV IE (types 1..127, TS 29.060 7.7; RAB Context as in Rel-99 and later:
// NSAPI + four sequence numbers). 0: no TV IE has this type, so a message carrying it cannot be
// parsed further (the receiver cannot know where the next IE starts).
constexpr uint8_t tv_length(uint8_t type) {
  switch (type) {
    case 1: return 1;    // Cause
    case 2: return 8;    // IMSI
    case 3: return 6;    // Routeing Area Identity
    case 4: return 4;    // TLLI
    case 5: return 4;    // P-TMSI
    case 8: return 1;    // Reordering Required
    case 9: return 28;   // Authentication Triplet
    case 11: return 1;   // MAP Cause
    case 12: return 3;   // P-TMSI Signature
    case 13: return 1;   // MS Validated
    case 14: return 1;   // Recovery
    case 15: return 1;   // Selection Mode
    case 16: return 4;   // TEID Data I
    case 17: return 4;   // TEID Control Plane
    case 18: return 5;   // TEID Data II (NSAPI + TEID)
    case 19: return 1;   // Teardown Ind
    case 20: return 1;   // NSAPI
    case 21: return 1;   // RANAP Cause
    case 22: return 9;   // RAB Context
    case 23: return 1;   // Radio Priority SMS
    case 24: return 1;   // Radio Priority
    case 25: return 2;   // Packet Flow Id
    case 26: return 2;   // Charging Characteristics
    case 27: return 2;   // Trace Reference
    case 28: return 2;   // Trace Type
    case 29: return 1;   // MS Not Reachable Reason
    case 127: return 4;  // Charging ID
    default: return 0;
  }
}

uint32_t be32(std::span<const uint8_t> v) {
  return uint32_t{v[0]} << 24 | uint32_t{v[1]} << 16 | uint32_t{v[2]} << 8 | v[3];
}

// Reads a TV IE of a fixed length: nullopt when absent (the length is the table's, so a
// present TV value always has it).
std::optional<uint8_t> tv_u8(const Message& m, uint8_t type, int nth = 0) {
  const Ie* ie = m.find(type, nth);
  if (ie == nullptr) return std::nullopt;
  return ie->value[0];
}
std::optional<uint32_t> tv_u32(const Message& m, uint8_t type) {
  const Ie* ie = m.find(type);
  if (ie == nullptr) return std::nullopt;
  return be32(ie->value);
}

// GSN Address (7.7.32): 4 or 16 octets.
Status gsn_address(const Message& m, int nth, GsnAddress& out) {
  const Ie* ie = m.find(kIeGsnAddress, nth);
  if (ie == nullptr) return Status::kMissingMandatory;
  if (ie->value.size() == 4) {
    out = {false, core::Ipv4{be32(ie->value)}};
  } else if (ie->value.size() == 16) {
    out = {true, core::Ipv4{}};
  } else {
    return Status::kIncorrectMandatory;
  }
  return Status::kOk;
}

// QoS Profile (7.7.34): allocation/retention priority, then at least the three octets of the
// R97/98 QoS (TS 24.008 10.5.6.5).
Status qos_profile(const Message& m, std::vector<uint8_t>& out) {
  const Ie* ie = m.find(kIeQos);
  if (ie == nullptr) return Status::kMissingMandatory;
  if (ie->value.size() < 4) return Status::kIncorrectMandatory;
  out.assign(ie->value.begin(), ie->value.end());
  return Status::kOk;
}

// RAI (7.7.3): MCC/MNC, LAC, RAC. A RAI with bad digits reads as absent: it is optional and
// only feeds the roaming check, which then is not made (serving network unknown).
std::optional<Plmn> rai_plmn(const Message& m) {
  const Ie* ie = m.find(kIeRai);
  if (ie == nullptr) return std::nullopt;
  return plmn_decode(ie->value.first(3));
}

void put_header(Writer& w, MsgType type, uint32_t teid, uint16_t seq) {
  w.u8(0x30 | kFlagS);  // version 1, PT 1
  w.u8(static_cast<uint8_t>(type));
  w.u16(0);  // length, patched by finish()
  w.u32(teid);
  w.u16(seq);
  w.u8(0);  // N-PDU number (PN not set)
  w.u8(0);  // no extension header
}

std::vector<uint8_t> finish(std::vector<uint8_t> out) {
  Writer(out).patch_u16(2, static_cast<uint16_t>(out.size() - 8));
  return out;
}

void put_tv8(Writer& w, uint8_t type, uint8_t v) {
  w.u8(type);
  w.u8(v);
}
void put_tv32(Writer& w, uint8_t type, uint32_t v) {
  w.u8(type);
  w.u32(v);
}
void put_tlv(Writer& w, uint8_t type, std::span<const uint8_t> v) {
  w.u8(type);
  w.u16(static_cast<uint16_t>(v.size()));
  w.bytes(v);
}
void put_gsn(Writer& w, core::Ipv4 a) {
  w.u8(kIeGsnAddress);
  w.u16(4);
  w.u32(a.value);
}

}  // namespace

const char* status_name(Status s) {
  switch (s) {
    case Status::kOk: return "ok";
    case Status::kTruncated: return "truncated";
    case Status::kNotVersion1: return "not_version_1";
    case Status::kNotGtp: return "not_gtp";
    case Status::kBadExtension: return "bad_extension";
    case Status::kInvalidIe: return "invalid_ie";
    case Status::kMissingMandatory: return "missing_mandatory";
    case Status::kIncorrectMandatory: return "incorrect_mandatory";
  }
  return "unknown";
}

const Ie* Message::find(uint8_t type, int nth) const {
  for (const Ie& ie : ies) {
    if (ie.type == type && nth-- == 0) return &ie;
  }
  return nullptr;
}

Status decode_header(std::span<const uint8_t> bytes, Header& h) {
  Reader r(bytes);
  const uint8_t flags = r.u8();
  h.type = r.u8();
  h.length = r.u16();
  h.teid = r.u32();
  if (r.fail()) return Status::kTruncated;
  h.version = flags >> 5;
  if (h.version != 1) return Status::kNotVersion1;
  if ((flags & 0x10) == 0) return Status::kNotGtp;
  if (h.length > r.left()) return Status::kTruncated;
  // The sequence, N-PDU and next-extension octets are present when any of E, S, PN is set
  // (29.060 6); each flag says whether its field is meaningful.
  h.has_seq = (flags & kFlagS) != 0;
  h.has_npdu = (flags & kFlagPn) != 0;
  h.seq = 0;
  h.npdu = 0;
  if ((flags & (kFlagE | kFlagS | kFlagPn)) != 0) {
    if (h.length < 4) return Status::kTruncated;
    const uint16_t seq = r.u16();
    const uint8_t npdu = r.u8();
    if (h.has_seq) h.seq = seq;
    if (h.has_npdu) h.npdu = npdu;
  }
  return Status::kOk;
}

Status decode_message(std::span<const uint8_t> bytes, Message& msg) {
  msg.ies.clear();
  const Status hs = decode_header(bytes, msg.header);
  if (hs != Status::kOk) return hs;
  const Header& h = msg.header;
  Reader r(bytes.subspan(8, h.length));
  if ((bytes[0] & (kFlagE | kFlagS | kFlagPn)) != 0) {
    r.skip(3);
    uint8_t next = r.u8();
    // Extension headers (6.1): length in 4-octet units covering the length and next-type
    // octets too; the chain ends at next type 0.
    while (next != 0) {
      const uint8_t units = r.u8();
      if (units == 0 || size_t{units} * 4 - 1 > r.left()) return Status::kBadExtension;
      r.skip(size_t{units} * 4 - 2);
      next = r.u8();
    }
  }
  while (r.left() > 0) {
    const uint8_t type = r.u8();
    size_t len = 0;
    if (type < 128) {
      len = tv_length(type);
      if (len == 0) return Status::kInvalidIe;
    } else {
      len = r.u16();
    }
    const std::span<const uint8_t> value = r.take(len);
    if (r.fail()) return Status::kInvalidIe;
    msg.ies.push_back({type, value});
  }
  return Status::kOk;
}

Status decode_create_pdp_request(const Message& m, CreatePdpRequest& out) {
  out = CreatePdpRequest{};
  const Ie* imsi = m.find(kIeImsi);
  const auto teid_data = tv_u32(m, kIeTeidData);
  const auto teid_control = tv_u32(m, kIeTeidControl);
  out.teid_control = teid_control.value_or(0);  // a rejection goes to it too
  const auto nsapi = tv_u8(m, kIeNsapi);
  const Ie* eua = m.find(kIeEndUserAddress);
  const Ie* apn = m.find(kIeApn);
  if (imsi == nullptr || !teid_data || !teid_control || !nsapi || eua == nullptr ||
      apn == nullptr) {
    return Status::kMissingMandatory;
  }
  if (Status s = gsn_address(m, 0, out.sgsn_control); s != Status::kOk) return s;
  if (Status s = gsn_address(m, 1, out.sgsn_user); s != Status::kOk) return s;
  if (Status s = qos_profile(m, out.qos); s != Status::kOk) return s;

  std::optional<std::string> digits = tbcd_decode(imsi->value);
  std::optional<std::string> apn_text = apn_decode(apn->value);
  // TEIDs must not be 0 (7.7.13/14). NSAPI 0..4 are reserved (TS 24.008 10.5.6.2) but
  // sgsnemu sends 0 by default, and the value only names the context: any is taken.
  if (!digits || digits->empty() || !apn_text || *teid_data == 0 || *teid_control == 0 ||
      eua->value.size() < 2) {
    return Status::kIncorrectMandatory;
  }
  out.imsi = std::move(*digits);
  out.apn = std::move(*apn_text);
  out.teid_data = *teid_data;
  out.nsapi = *nsapi & 0x0f;
  // End User Address (7.7.27): spare|organisation, type number, then any static address.
  const uint8_t org = eua->value[0] & 0x0f, number = eua->value[1];
  out.pdp_type = org != kPdpOrgIetf     ? PdpType::kOther
                 : number == kPdpIpv4   ? PdpType::kIpv4
                 : number == kPdpIpv6   ? PdpType::kIpv6
                 : number == kPdpIpv4v6 ? PdpType::kIpv4v6
                                        : PdpType::kOther;

  out.rai_plmn = rai_plmn(m);
  out.recovery = tv_u8(m, kIeRecovery);
  out.selection_mode = tv_u8(m, kIeSelectionMode).value_or(0) & 0x03;
  if (const Ie* pco = m.find(kIePco)) out.pco.emplace(pco->value.begin(), pco->value.end());
  // MSISDN (7.7.33): an address-string octet (nature of number, numbering plan), then TBCD.
  if (const Ie* msisdn = m.find(kIeMsisdn); msisdn != nullptr && msisdn->value.size() > 1) {
    out.msisdn = tbcd_decode(msisdn->value.subspan(1)).value_or("");
  }
  if (const Ie* rat = m.find(kIeRatType); rat != nullptr && rat->value.size() == 1) {
    out.rat = rat->value[0];
  }
  if (const Ie* imei = m.find(kIeImeiSv)) out.imei = tbcd_decode(imei->value).value_or("");
  if (const Ie* uli = m.find(kIeUli)) out.uli.assign(uli->value.begin(), uli->value.end());
  return Status::kOk;
}

Status decode_update_pdp_request(const Message& m, UpdatePdpRequest& out) {
  out = UpdatePdpRequest{};
  const auto teid_data = tv_u32(m, kIeTeidData);
  const auto nsapi = tv_u8(m, kIeNsapi);
  if (!teid_data || !nsapi) return Status::kMissingMandatory;
  if (Status s = gsn_address(m, 0, out.sgsn_control); s != Status::kOk) return s;
  if (Status s = gsn_address(m, 1, out.sgsn_user); s != Status::kOk) return s;
  if (Status s = qos_profile(m, out.qos); s != Status::kOk) return s;
  out.teid_control = tv_u32(m, kIeTeidControl);
  if (*teid_data == 0 || out.teid_control == 0u) return Status::kIncorrectMandatory;
  out.teid_data = *teid_data;
  out.nsapi = *nsapi & 0x0f;
  out.rai_plmn = rai_plmn(m);
  out.recovery = tv_u8(m, kIeRecovery);
  if (const Ie* rat = m.find(kIeRatType); rat != nullptr && rat->value.size() == 1) {
    out.rat = rat->value[0];
  }
  return Status::kOk;
}

Status decode_delete_pdp_request(const Message& m, DeletePdpRequest& out) {
  const auto nsapi = tv_u8(m, kIeNsapi);
  if (!nsapi) return Status::kMissingMandatory;
  out.nsapi = *nsapi & 0x0f;
  out.teardown = (tv_u8(m, kIeTeardown).value_or(0) & 0x01) != 0;
  return Status::kOk;
}

Status decode_cause(const Message& m, uint8_t& cause) {
  const auto c = tv_u8(m, kIeCause);
  if (!c) return Status::kMissingMandatory;
  cause = *c;
  return Status::kOk;
}

Status decode_echo_response(const Message& m, uint8_t& recovery) {
  const auto r = tv_u8(m, kIeRecovery);
  if (!r) return Status::kMissingMandatory;
  recovery = *r;
  return Status::kOk;
}

Status decode_pdp_response(const Message& m, PdpResponse& out) {
  out = PdpResponse{};
  out.teid = m.header.teid;
  out.seq = m.header.seq;
  if (Status s = decode_cause(m, out.cause); s != Status::kOk) return s;
  out.recovery = tv_u8(m, kIeRecovery);
  out.reordering_required = (tv_u8(m, kIeReordering).value_or(0) & 0x01) != 0;
  out.teid_data = tv_u32(m, kIeTeidData).value_or(0);
  out.teid_control = tv_u32(m, kIeTeidControl).value_or(0);
  out.charging_id = tv_u32(m, kIeChargingId).value_or(0);
  if (const Ie* eua = m.find(kIeEndUserAddress); eua != nullptr && eua->value.size() == 6) {
    out.ue_addr = core::Ipv4{be32(eua->value.subspan(2))};
  }
  if (const Ie* pco = m.find(kIePco)) out.pco.emplace(pco->value.begin(), pco->value.end());
  GsnAddress a;
  if (gsn_address(m, 0, a) == Status::kOk) out.ggsn_control = a.v4;
  if (gsn_address(m, 1, a) == Status::kOk) out.ggsn_user = a.v4;
  if (const Ie* qos = m.find(kIeQos)) out.qos.assign(qos->value.begin(), qos->value.end());
  return Status::kOk;
}

std::vector<uint8_t> build_echo_response(uint16_t seq, uint8_t recovery) {
  std::vector<uint8_t> out;
  Writer w(out);
  put_header(w, MsgType::kEchoResponse, 0, seq);
  put_tv8(w, kIeRecovery, recovery);
  return finish(std::move(out));
}

std::vector<uint8_t> build_pdp_response(bool is_create, const PdpResponse& r) {
  std::vector<uint8_t> out;
  Writer w(out);
  put_header(w, is_create ? MsgType::kCreatePdpResponse : MsgType::kUpdatePdpResponse, r.teid,
             r.seq);
  // IEs in ascending type order (29.060 7.7).
  put_tv8(w, kIeCause, r.cause);
  if (!accepted(r.cause)) return finish(std::move(out));
  // Reordering Required is mandatory in a Create response only; bit 1 of 0xFE|flag.
  if (is_create) put_tv8(w, kIeReordering, 0xfe | (r.reordering_required ? 1 : 0));
  if (r.recovery) put_tv8(w, kIeRecovery, *r.recovery);
  put_tv32(w, kIeTeidData, r.teid_data);
  put_tv32(w, kIeTeidControl, r.teid_control);
  put_tv32(w, kIeChargingId, r.charging_id);
  if (is_create && r.ue_addr) {
    w.u8(kIeEndUserAddress);
    w.u16(6);
    w.u8(0xf0 | kPdpOrgIetf);
    w.u8(kPdpIpv4);
    w.u32(r.ue_addr->value);
  }
  if (r.pco) put_tlv(w, kIePco, *r.pco);
  put_gsn(w, r.ggsn_control);
  put_gsn(w, r.ggsn_user);
  put_tlv(w, kIeQos, r.qos);
  return finish(std::move(out));
}

std::vector<uint8_t> build_delete_pdp_response(uint32_t teid, uint16_t seq, Cause cause) {
  std::vector<uint8_t> out;
  Writer w(out);
  put_header(w, MsgType::kDeletePdpResponse, teid, seq);
  put_tv8(w, kIeCause, static_cast<uint8_t>(cause));
  return finish(std::move(out));
}

std::vector<uint8_t> build_delete_pdp_request(uint32_t teid, uint16_t seq, uint8_t nsapi,
                                              bool teardown) {
  std::vector<uint8_t> out;
  Writer w(out);
  put_header(w, MsgType::kDeletePdpRequest, teid, seq);
  if (teardown) put_tv8(w, kIeTeardown, 0xfe | 1);
  put_tv8(w, kIeNsapi, nsapi & 0x0f);
  return finish(std::move(out));
}

std::vector<uint8_t> build_version_not_supported(uint16_t seq) {
  std::vector<uint8_t> out;
  Writer w(out);
  put_header(w, MsgType::kVersionNotSupported, 0, seq);
  return finish(std::move(out));
}

}  // namespace simcore::gtpc::v1
