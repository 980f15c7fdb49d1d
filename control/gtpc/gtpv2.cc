#include "control/gtpc/gtpv2.h"

namespace simcore::gtpc::v2 {
namespace {

constexpr size_t kHeaderNoTeid = 8;  // flags, type, length(2), sequence(3), spare
constexpr size_t kHeaderTeid = 12;   // ... with the TEID after the length
constexpr size_t kIeHeader = 4;      // type, length(2), spare|instance
constexpr uint8_t kVersion2 = 2;
constexpr uint8_t kFlagP = 0x10;
constexpr uint8_t kFlagT = 0x08;
constexpr uint8_t kFteidV4 = 0x80;
constexpr uint8_t kFteidV6 = 0x40;
constexpr size_t kMaxImsiDigits = 15;
// EBI 0..4 are reserved (TS 24.007 11.2.3.1.5); a PDN connection's default bearer is 5..15.
constexpr uint8_t kMinEbi = 5;

// The grouped IEs whose contents this codec reads; others are opaque values. Bearer Context
// holds no grouped IE, so one level of nesting is all that is checked.
bool is_grouped(uint8_t type) { return type == static_cast<uint8_t>(IeType::kBearerContext); }

Status validate_ies(std::span<const uint8_t> ies, bool nested) {
  Reader r(ies);
  while (r.left() > 0) {
    if (r.left() < kIeHeader) return Status::kIeOverrun;
    const uint8_t type = r.u8();
    const uint16_t len = r.u16();
    r.skip(1);
    std::span<const uint8_t> value = r.take(len);
    if (r.fail()) return Status::kIeOverrun;
    if (is_grouped(type)) {
      if (nested) return Status::kIeOverrun;  // a Bearer Context inside a Bearer Context
      if (const Status s = validate_ies(value, true); s != Status::kOk) return s;
    }
  }
  return Status::kOk;
}

Status parse_one(std::span<const uint8_t> bytes, Message& out, bool allow_piggyback) {
  if (bytes.size() < kHeaderNoTeid) return Status::kTooShort;
  Reader r(bytes);
  const uint8_t flags = r.u8();
  Header& h = out.header;
  h.version = flags >> 5;
  h.piggyback = (flags & kFlagP) != 0;
  h.has_teid = (flags & kFlagT) != 0;
  h.type = r.u8();
  h.length = r.u16();
  if (h.version != kVersion2) return Status::kNotVersion2;
  const size_t header_len = h.has_teid ? kHeaderTeid : kHeaderNoTeid;
  if (bytes.size() < header_len) return Status::kTooShort;
  h.teid = h.has_teid ? r.u32() : 0;
  h.seq = r.u24();
  r.skip(1);  // spare, or message priority when MP is set
  // 29.274 7.7: a length field inconsistent with the datagram is "Invalid Length". Bytes after the
  // message are only allowed as a piggybacked message (P = 1).
  const size_t total = size_t{4} + h.length;
  if (total < header_len || total > bytes.size()) return Status::kLengthMismatch;
  if (total < bytes.size() && !(h.piggyback && allow_piggyback)) return Status::kLengthMismatch;
  out.ies = bytes.subspan(header_len, total - header_len);
  if (const Status s = validate_ies(out.ies, false); s != Status::kOk) return s;
  out.piggybacked = bytes.subspan(total);
  if (!out.piggybacked.empty()) {
    Message inner;
    if (parse_one(out.piggybacked, inner, false) != Status::kOk) return Status::kLengthMismatch;
  }
  return Status::kOk;
}

// The first IE of this type and instance: 29.274 7.7 has the later copies of a repeated IE
// discarded, so the first occurrence is the one that counts.
std::optional<Ie> first(std::span<const uint8_t> ies, IeType type, uint8_t instance = 0) {
  IeIter it(ies);
  Ie ie;
  while (it.next(ie)) {
    if (ie.type == static_cast<uint8_t>(type) && ie.instance == instance) return ie;
  }
  return std::nullopt;
}

std::optional<Fteid> decode_fteid(const Ie& ie) {
  Reader r(ie.value);
  Fteid f;
  const uint8_t flags = r.u8();
  f.iface = flags & 0x3f;
  f.has_ipv4 = (flags & kFteidV4) != 0;
  f.has_ipv6 = (flags & kFteidV6) != 0;
  f.instance = ie.instance;
  f.teid = r.u32();
  if (f.has_ipv4) f.ipv4 = core::Ipv4{r.u32()};
  if (f.has_ipv6) r.skip(16);
  if (r.fail()) return std::nullopt;
  return f;
}

// The bearer context's EBI and F-TEIDs; EBI is mandatory inside it (7.2.1 Table 7.2.1-2,
// 7.2.7 Table 7.2.7-2).
Status decode_bearer(const Ie& group, BearerContext& out, IeId& offending) {
  out.present = true;
  IeIter it(group.value);
  Ie ie;
  while (it.next(ie)) {
    if (ie.type == static_cast<uint8_t>(IeType::kEbi) && ie.instance == 0 && !out.ebi) {
      const uint8_t ebi = ie.value.empty() ? 0 : ie.value[0] & 0x0f;
      if (ebi < kMinEbi) {
        offending = {ie.type, ie.instance};
        return Status::kIncorrectMandatory;
      }
      out.ebi = ebi;
    } else if (ie.type == static_cast<uint8_t>(IeType::kFteid)) {
      std::optional<Fteid> f = decode_fteid(ie);
      if (!f) {
        offending = {ie.type, ie.instance};
        return Status::kIncorrectMandatory;
      }
      out.fteids.push_back(*f);
    }
  }
  if (!out.ebi) {
    offending = {static_cast<uint8_t>(IeType::kEbi), 0};
    return Status::kMissingMandatory;
  }
  return Status::kOk;
}

std::optional<uint8_t> first_u8(std::span<const uint8_t> ies, IeType type) {
  std::optional<Ie> ie = first(ies, type);
  if (!ie || ie->value.empty()) return std::nullopt;
  return ie->value[0];
}

Status missing(IeType type, IeId& offending) {
  offending = {static_cast<uint8_t>(type), 0};
  return Status::kMissingMandatory;
}

Status incorrect(IeType type, IeId& offending) {
  offending = {static_cast<uint8_t>(type), 0};
  return Status::kIncorrectMandatory;
}

}  // namespace

std::optional<core::Rat> rat_from_wire(uint8_t rat_type) {
  switch (static_cast<RatType>(rat_type)) {
    case RatType::kUtran: return core::Rat::kUtran;
    // HSPA Evolution is a UTRAN radio (3G): the policy's 3G, not a RAT of its own.
    case RatType::kHspaEvolution: return core::Rat::kUtran;
    case RatType::kGeran: return core::Rat::kGeran;
    case RatType::kEutran: return core::Rat::kEutran;
    case RatType::kEutranNbIot: return core::Rat::kNbIot;
    case RatType::kLteM: return core::Rat::kLteM;
    case RatType::kNr: return core::Rat::kNr;
    case RatType::kWlan:
    case RatType::kGan:
    case RatType::kVirtual: return std::nullopt;
  }
  return std::nullopt;
}

const char* status_name(Status s) {
  switch (s) {
    case Status::kOk: return "ok";
    case Status::kTooShort: return "too_short";
    case Status::kNotVersion2: return "not_version_2";
    case Status::kLengthMismatch: return "length_mismatch";
    case Status::kIeOverrun: return "ie_overrun";
    case Status::kMissingMandatory: return "missing_mandatory";
    case Status::kIncorrectMandatory: return "incorrect_mandatory";
  }
  return "unknown";
}

Status parse(std::span<const uint8_t> datagram, Message& out) {
  out = Message{};
  return parse_one(datagram, out, true);
}

bool IeIter::next(Ie& ie) {
  if (r_.left() < kIeHeader) return false;
  ie.type = r_.u8();
  const uint16_t len = r_.u16();
  ie.instance = r_.u8() & 0x0f;
  ie.value = r_.take(len);
  return !r_.fail();
}

const Fteid* BearerContext::peer_user_plane() const {
  for (const Fteid& f : fteids) {
    switch (static_cast<Iface>(f.iface)) {
      case Iface::kS1uEnodeb:
      case Iface::kS5S8SgwU:
      case Iface::kS4SgsnU:
      case Iface::kS12Rnc:
      case Iface::kS11uMme:
        if (f.has_ipv4) return &f;
        break;
      default: break;
    }
  }
  return nullptr;
}

Status decode_create_session_request(const Message& m, CreateSessionRequest& out) {
  IeId& off = out.offending;
  std::optional<Ie> imsi = first(m.ies, IeType::kImsi);
  if (!imsi) return missing(IeType::kImsi, off);
  std::optional<std::string> digits = tbcd_decode(imsi->value);
  if (!digits || digits->empty() || digits->size() > kMaxImsiDigits) {
    return incorrect(IeType::kImsi, off);
  }
  out.imsi = std::move(*digits);

  std::optional<Ie> rat = first(m.ies, IeType::kRatType);
  if (!rat) return missing(IeType::kRatType, off);
  if (rat->value.empty()) return incorrect(IeType::kRatType, off);
  out.rat_type = rat->value[0];

  std::optional<Ie> sender = first(m.ies, IeType::kFteid);
  if (!sender) return missing(IeType::kFteid, off);
  std::optional<Fteid> f = decode_fteid(*sender);
  if (!f) return incorrect(IeType::kFteid, off);
  out.sender = *f;

  std::optional<Ie> apn = first(m.ies, IeType::kApn);
  if (!apn) return missing(IeType::kApn, off);
  std::optional<std::string> dotted = apn_decode(apn->value);
  if (!dotted) return incorrect(IeType::kApn, off);
  out.apn = std::move(*dotted);

  std::optional<Ie> bearer = first(m.ies, IeType::kBearerContext);
  if (!bearer) return missing(IeType::kBearerContext, off);
  if (const Status s = decode_bearer(*bearer, out.bearer, off); s != Status::kOk) return s;

  if (std::optional<Ie> sn = first(m.ies, IeType::kServingNetwork)) {
    out.serving_network = plmn_decode(sn->value);
    if (!out.serving_network) return incorrect(IeType::kServingNetwork, off);
  }
  if (std::optional<Ie> mei = first(m.ies, IeType::kMei)) {
    std::optional<std::string> d = tbcd_decode(mei->value);
    if (!d || d->empty()) return incorrect(IeType::kMei, off);
    out.mei = std::move(*d);
  }
  if (std::optional<Ie> pdn = first(m.ies, IeType::kPdnType)) {
    if (pdn->value.empty()) return incorrect(IeType::kPdnType, off);
    out.pdn_type = pdn->value[0] & 0x07;
  }
  // MSISDN only labels the session: a garbled one is dropped, not refused.
  if (std::optional<Ie> msisdn = first(m.ies, IeType::kMsisdn)) {
    out.msisdn = tbcd_decode(msisdn->value).value_or("");
  }
  if (std::optional<Ie> pco = first(m.ies, IeType::kPco)) out.pco = pco_decode(pco->value);
  out.recovery = first_u8(m.ies, IeType::kRecovery);
  return Status::kOk;
}

Status decode_modify_bearer_request(const Message& m, ModifyBearerRequest& out) {
  if (std::optional<Ie> sender = first(m.ies, IeType::kFteid)) {
    out.sender = decode_fteid(*sender);
    if (!out.sender) return incorrect(IeType::kFteid, out.offending);
  }
  if (std::optional<Ie> bearer = first(m.ies, IeType::kBearerContext)) {
    if (const Status s = decode_bearer(*bearer, out.bearer, out.offending); s != Status::kOk) {
      return s;
    }
  }
  out.recovery = first_u8(m.ies, IeType::kRecovery);
  return Status::kOk;
}

Status decode_delete_request(const Message& m, DeleteRequest& out) {
  if (std::optional<Ie> lbi = first(m.ies, IeType::kEbi)) {
    if (lbi->value.empty() || (lbi->value[0] & 0x0f) < kMinEbi) {
      return incorrect(IeType::kEbi, out.offending);
    }
    out.lbi = lbi->value[0] & 0x0f;
  }
  if (std::optional<Ie> sender = first(m.ies, IeType::kFteid)) {
    out.sender = decode_fteid(*sender);
    if (!out.sender) return incorrect(IeType::kFteid, out.offending);
  }
  return Status::kOk;
}

std::optional<uint8_t> decode_recovery(const Message& m) {
  return first_u8(m.ies, IeType::kRecovery);
}

MessageWriter::MessageWriter(std::vector<uint8_t>& out, uint8_t type, std::optional<uint32_t> teid,
                             uint32_t seq)
    : out_(out), w_(out), start_(out.size()) {
  w_.u8(static_cast<uint8_t>(kVersion2 << 5 | (teid ? kFlagT : 0)));
  w_.u8(type);
  w_.u16(0);  // length, written by finish()
  if (teid) w_.u32(*teid);
  w_.u24(seq & 0xffffff);
  w_.u8(0);
}

void MessageWriter::ie_raw(uint8_t type, std::span<const uint8_t> value, uint8_t instance) {
  w_.u8(type);
  w_.u16(static_cast<uint16_t>(value.size()));
  w_.u8(instance & 0x0f);
  w_.bytes(value);
}

void MessageWriter::ie(IeType type, std::span<const uint8_t> value, uint8_t instance) {
  ie_raw(static_cast<uint8_t>(type), value, instance);
}

void MessageWriter::u8(IeType type, uint8_t v, uint8_t instance) {
  const uint8_t b[] = {v};
  ie(type, b, instance);
}

void MessageWriter::u32(IeType type, uint32_t v, uint8_t instance) {
  const uint8_t b[] = {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                       static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
  ie(type, b, instance);
}

void MessageWriter::fteid(const Fteid& f) {
  // IPv4 only: has_ipv6 is not written (we have no IPv6 address to put there).
  std::vector<uint8_t> v;
  Writer w(v);
  w.u8(static_cast<uint8_t>((f.has_ipv4 ? kFteidV4 : 0) | (f.iface & 0x3f)));
  w.u32(f.teid);
  if (f.has_ipv4) w.u32(f.ipv4.value);
  ie(IeType::kFteid, v, f.instance);
}

void MessageWriter::cause(uint8_t value, std::optional<IeId> offending) {
  std::vector<uint8_t> v = {value, 0};  // spare, PCE, BCE, CS = 0: we originate the cause
  if (offending) {
    // 8.4: the offending IE's type and instance; its length and spare are 0.
    v.insert(v.end(), {offending->type, 0, 0, static_cast<uint8_t>(offending->instance & 0x0f)});
  }
  ie(IeType::kCause, v);
}

void MessageWriter::paa_ipv4(core::Ipv4 addr) {
  const uint8_t v[] = {static_cast<uint8_t>(PdnType::kIpv4), static_cast<uint8_t>(addr.value >> 24),
                       static_cast<uint8_t>(addr.value >> 16),
                       static_cast<uint8_t>(addr.value >> 8), static_cast<uint8_t>(addr.value)};
  ie(IeType::kPaa, v);
}

size_t MessageWriter::begin_group(IeType type, uint8_t instance) {
  w_.u8(static_cast<uint8_t>(type));
  const size_t mark = w_.pos();
  w_.u16(0);
  w_.u8(instance & 0x0f);
  return mark;
}

void MessageWriter::end_group(size_t mark) {
  w_.patch_u16(mark, static_cast<uint16_t>(w_.pos() - mark - 3));
}

void MessageWriter::finish() {
  w_.patch_u16(start_ + 2, static_cast<uint16_t>(out_.size() - start_ - 4));
}

std::vector<uint8_t> build_reply(const Reply& r) {
  std::vector<uint8_t> out;
  MessageWriter w(out, r.type, r.teid, r.seq);
  // IE order of Table 7.2.2-1 (the other responses use a subset in the same order).
  w.cause(r.cause, r.offending);
  for (const Fteid& f : r.fteids) w.fteid(f);
  if (r.paa_ipv4) w.paa_ipv4(*r.paa_ipv4);
  if (r.apn_restriction) w.u8(IeType::kApnRestriction, *r.apn_restriction);
  if (!r.pco.empty()) w.ie(IeType::kPco, r.pco);
  if (r.bearer) {
    const size_t mark = w.begin_group(IeType::kBearerContext);
    w.u8(IeType::kEbi, r.bearer->ebi);
    w.cause(r.bearer->cause);
    for (const Fteid& f : r.bearer->fteids) w.fteid(f);
    if (r.bearer->charging_id) w.u32(IeType::kChargingId, *r.bearer->charging_id);
    w.end_group(mark);
  }
  if (r.recovery) w.u8(IeType::kRecovery, *r.recovery);
  w.finish();
  return out;
}

Status decode_reply(const Message& m, Reply& out) {
  out = Reply{};
  out.type = m.header.type;
  out.teid = m.header.teid;
  out.seq = m.header.seq;
  IeId off;
  std::optional<Ie> cause = first(m.ies, IeType::kCause);
  if (!cause) return missing(IeType::kCause, off);
  if (cause->value.size() < 2) return incorrect(IeType::kCause, off);
  out.cause = cause->value[0];
  if (cause->value.size() >= 6)
    out.offending = IeId{cause->value[2], uint8_t(cause->value[5] & 0x0f)};
  IeIter it(m.ies);
  Ie ie;
  while (it.next(ie)) {
    if (ie.type != static_cast<uint8_t>(IeType::kFteid)) continue;
    if (std::optional<Fteid> f = decode_fteid(ie)) out.fteids.push_back(*f);
  }
  if (std::optional<Ie> paa = first(m.ies, IeType::kPaa);
      paa && paa->value.size() >= 5 && (paa->value[0] & 0x07) == uint8_t(PdnType::kIpv4)) {
    Reader r(paa->value.subspan(1));
    out.paa_ipv4 = core::Ipv4{r.u32()};
  }
  out.apn_restriction = first_u8(m.ies, IeType::kApnRestriction);
  if (std::optional<Ie> pco = first(m.ies, IeType::kPco)) {
    out.pco.assign(pco->value.begin(), pco->value.end());
  }
  if (std::optional<Ie> group = first(m.ies, IeType::kBearerContext)) {
    BearerReply b;
    b.ebi = first_u8(group->value, IeType::kEbi).value_or(0) & 0x0f;
    b.cause = first_u8(group->value, IeType::kCause).value_or(0);
    IeIter inner(group->value);
    while (inner.next(ie)) {
      if (ie.type != static_cast<uint8_t>(IeType::kFteid)) continue;
      if (std::optional<Fteid> f = decode_fteid(ie)) b.fteids.push_back(*f);
    }
    if (std::optional<Ie> id = first(group->value, IeType::kChargingId);
        id && id->value.size() == 4) {
      Reader r(id->value);
      b.charging_id = r.u32();
    }
    out.bearer = std::move(b);
  }
  out.recovery = first_u8(m.ies, IeType::kRecovery);
  return Status::kOk;
}

std::vector<uint8_t> build_echo_response(uint32_t seq, uint8_t recovery) {
  std::vector<uint8_t> out;
  MessageWriter w(out, static_cast<uint8_t>(MsgType::kEchoResponse), std::nullopt, seq);
  w.u8(IeType::kRecovery, recovery);
  w.finish();
  return out;
}

std::vector<uint8_t> build_version_not_supported(uint32_t seq) {
  std::vector<uint8_t> out;
  MessageWriter w(out, static_cast<uint8_t>(MsgType::kVersionNotSupported), std::nullopt, seq);
  w.finish();
  return out;
}

std::vector<uint8_t> build_delete_bearer_request(uint32_t teid, uint32_t seq, uint8_t lbi) {
  std::vector<uint8_t> out;
  MessageWriter w(out, static_cast<uint8_t>(MsgType::kDeleteBearerRequest), teid, seq);
  w.u8(IeType::kEbi, lbi);
  w.finish();
  return out;
}

}  // namespace simcore::gtpc::v2
