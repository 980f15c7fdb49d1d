// control/gtpc/gtpv2.h — the GTPv2-C codec of S5/S8 and S11 (TS 29.274): the header (5.1),
// IEs (8.2: type, length, CR/instance, value; grouped IEs hold IEs), decoders of what a PGW
// receives and one builder per kind of message it sends. Pure functions on byte spans: any
// thread, no I/O, no exceptions; parse() validates every length (grouped IEs recursively) so the
// decoders walk validated bytes, and nothing reads outside its span. Integers are host order
// here, big-endian on the wire.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "control/gtpc/wire.h"
#include "core/model.h"
#include "core/types.h"

namespace simcore::gtpc::v2 {

// Message types (29.274 6.1) this codec knows.
enum class MsgType : uint8_t {
  kEchoRequest = 1,
  kEchoResponse = 2,
  kVersionNotSupported = 3,
  kCreateSessionRequest = 32,
  kCreateSessionResponse = 33,
  kModifyBearerRequest = 34,
  kModifyBearerResponse = 35,
  kDeleteSessionRequest = 36,
  kDeleteSessionResponse = 37,
  kDeleteBearerRequest = 99,
  kDeleteBearerResponse = 100,
};

// IE types (29.274 8.1) decoded or encoded here; others are skipped (GTPv2 has no
// comprehension-required bit).
enum class IeType : uint8_t {
  kImsi = 1,
  kCause = 2,
  kRecovery = 3,
  kApn = 71,
  kEbi = 73,
  kMei = 75,
  kMsisdn = 76,
  kPco = 78,
  kPaa = 79,
  kRatType = 82,
  kServingNetwork = 83,
  kFteid = 87,
  kBearerContext = 93,
  kChargingId = 94,
  kPdnType = 99,
  kApnRestriction = 127,
};

// Cause values (29.274 8.4, Table 8.4-1) the PGW sends: 16..63 accept, 64.. reject.
enum class Cause : uint8_t {
  kRequestAccepted = 16,
  kNewPdnTypeNetworkPreference = 18,  // IPv4v6 asked, IPv4 given
  kContextNotFound = 64,
  kInvalidLength = 67,
  kMandatoryIeIncorrect = 69,
  kMandatoryIeMissing = 70,
  kSystemFailure = 72,
  kMissingOrUnknownApn = 78,
  kDeniedInRat = 82,
  kPreferredPdnTypeNotSupported = 83,
  kAllDynamicAddressesOccupied = 84,
  kUserAuthenticationFailed = 92,
  kApnAccessDenied = 93,  // "APN access denied – no subscription"
  kImsiImeiNotKnown = 96,
};

// RAT Type values (29.274 8.17; tshark's gtpv2.rat_type agrees). Not core::Rat's numbering.
enum class RatType : uint8_t {
  kUtran = 1,
  kGeran = 2,
  kWlan = 3,
  kGan = 4,
  kHspaEvolution = 5,
  kEutran = 6,
  kVirtual = 7,
  kEutranNbIot = 8,
  kLteM = 9,
  kNr = 10,
};
// Returns the core::Rat a wire RAT Type names, or nullopt for one core::Rat cannot name
// (WLAN, GAN, Virtual, reserved values).
std::optional<core::Rat> rat_from_wire(uint8_t rat_type);

// F-TEID interface types (29.274 8.22, Table 8.22-1) the PGW reads or writes.
enum class Iface : uint8_t {
  kS1uEnodeb = 0,
  kS1uSgw = 1,
  kS12Rnc = 2,
  kS5S8SgwU = 4,
  kS5S8PgwU = 5,
  kS5S8SgwC = 6,
  kS5S8PgwC = 7,
  kS11Mme = 10,
  kS11S4SgwC = 11,
  kS4SgsnU = 15,
  kS4SgwU = 16,
  kS4SgsnC = 17,
  kS11uMme = 38,
};

// PDN Type / PAA type values (8.34, 8.14).
enum class PdnType : uint8_t { kIpv4 = 1, kIpv6 = 2, kIpv4v6 = 3, kNonIp = 4 };

// Every outcome of parsing and decoding.
enum class Status : uint8_t {
  kOk,
  kTooShort,           // shorter than the fixed header (8 octets, 12 with a TEID)
  kNotVersion2,        // Header::version tells which
  kLengthMismatch,     // the length field disagrees with the datagram (7.7, "Invalid
                       // Length"), or a piggybacked message does
  kIeOverrun,          // an IE (or one inside a grouped IE) runs past its container
  kMissingMandatory,   // cause 70; the decoder names the IE
  kIncorrectMandatory  // cause 69; the decoder names the IE
};
const char* status_name(Status s);

struct Header {
  uint8_t version = 2;
  bool piggyback = false;  // P: another message follows this one in the datagram
  bool has_teid = false;   // T
  uint8_t type = 0;
  uint16_t length = 0;  // octets after the first four
  uint32_t teid = 0;    // 0 when !has_teid
  uint32_t seq = 0;     // 24 bits
};

// A parsed datagram: views into the caller's bytes, valid while they are.
struct Message {
  Header header;
  std::span<const uint8_t> ies;          // the IEs of the first message, layout validated
  std::span<const uint8_t> piggybacked;  // the whole piggybacked message, or empty
};

// Parses the header, checks the length field against the datagram and the layout of every IE
// (grouped IEs recursively). With P set, the rest of the datagram must be one whole GTPv2
// message, itself parsed and validated; the caller decides what to do with it.
[[nodiscard]] Status parse(std::span<const uint8_t> datagram, Message& out);

struct IeId {
  uint8_t type = 0;
  uint8_t instance = 0;
  constexpr bool operator==(const IeId&) const = default;
};

struct Ie {
  uint8_t type = 0;
  uint8_t instance = 0;
  std::span<const uint8_t> value;
};

// Walks a validated IE list (Message::ies or a grouped IE's value). Stops at the end or at a
// truncated IE, so it is safe on any bytes.
class IeIter {
 public:
  explicit IeIter(std::span<const uint8_t> ies) : r_(ies) {}
  bool next(Ie& ie);

 private:
  Reader r_;
};

struct Fteid {
  uint8_t iface = 0;
  uint8_t instance = 0;  // the IE's instance (which F-TEID of the message it is)
  uint32_t teid = 0;
  bool has_ipv4 = false;
  bool has_ipv6 = false;
  core::Ipv4 ipv4;
  constexpr bool operator==(const Fteid&) const = default;
};

struct BearerContext {
  bool present = false;
  std::optional<uint8_t> ebi;
  std::vector<Fteid> fteids;
  // Returns the peer's user-plane F-TEID with an IPv4 address (eNodeB S1-U, SGW S5/S8-U,
  // SGSN S4-U, RNC S12 or MME S11-U), or nullptr.
  const Fteid* peer_user_plane() const;
};

// Create Session Request (7.2.1). Strings are digits / dotted labels.
struct CreateSessionRequest {
  std::string imsi;
  std::string msisdn;  // empty when absent or undecodable (optional IE)
  std::string mei;     // IMEI or IMEISV digits, empty when absent
  std::string apn;
  uint8_t rat_type = 0;
  std::optional<Plmn> serving_network;
  Fteid sender;                     // Sender F-TEID for Control Plane
  std::optional<uint8_t> pdn_type;  // PdnType
  std::optional<PcoAsk> pco;
  BearerContext bearer;  // the first Bearer Context to be created
  std::optional<uint8_t> recovery;
  IeId offending;  // set with kMissingMandatory / kIncorrectMandatory
};
// Mandatory here: IMSI, RAT Type, Sender F-TEID, APN, Bearer Context with its EBI. A
// conditional IE the policy depends on (Serving Network, MEI, PDN Type, a bearer F-TEID) is
// incorrect when present but undecodable (29.274 7.7: a faulty verifiable conditional IE is
// handled like a mandatory one), so a garbled IE cannot slip past a check.
[[nodiscard]] Status decode_create_session_request(const Message& m, CreateSessionRequest& out);

// Modify Bearer Request (7.2.7): every IE is conditional.
struct ModifyBearerRequest {
  std::optional<Fteid> sender;
  BearerContext bearer;  // the first Bearer Context to be modified (EBI mandatory in it)
  std::optional<uint8_t> recovery;
  IeId offending;
};
[[nodiscard]] Status decode_modify_bearer_request(const Message& m, ModifyBearerRequest& out);

// Delete Session Request (7.2.9.1) and Delete Bearer Request (7.2.9.2).
struct DeleteRequest {
  std::optional<uint8_t> lbi;  // Linked EPS Bearer ID
  std::optional<Fteid> sender;
  IeId offending;
};
[[nodiscard]] Status decode_delete_request(const Message& m, DeleteRequest& out);

// Echo Request / Response (7.1): returns the Recovery, nullopt when absent or empty.
std::optional<uint8_t> decode_recovery(const Message& m);

// Appends one GTPv2-C message: header, then IEs; finish() writes the length. Grouped IEs:
// begin_group() returns a mark that end_group() closes. Used by the builders below and by
// tests to make requests.
class MessageWriter {
 public:
  // teid nullopt: T = 0 (Echo, Version Not Supported).
  MessageWriter(std::vector<uint8_t>& out, uint8_t type, std::optional<uint32_t> teid,
                uint32_t seq);
  void ie(IeType type, std::span<const uint8_t> value, uint8_t instance = 0);
  void ie_raw(uint8_t type, std::span<const uint8_t> value, uint8_t instance = 0);
  void u8(IeType type, uint8_t v, uint8_t instance = 0);
  void u32(IeType type, uint32_t v, uint8_t instance = 0);
  void fteid(const Fteid& f);
  // Cause IE: 2 octets, or 6 with the offending IE's type and instance (8.4).
  void cause(uint8_t value, std::optional<IeId> offending = std::nullopt);
  void paa_ipv4(core::Ipv4 addr);
  size_t begin_group(IeType type, uint8_t instance = 0);
  void end_group(size_t mark);
  // Writes the message length; the bytes are complete after it.
  void finish();

 private:
  std::vector<uint8_t>& out_;
  Writer w_;
  size_t start_;
};

// Create Session / Modify Bearer / Delete Session Response (7.2.2, 7.2.8, 7.2.10.1) and the
// Delete Bearer Response a peer sends (7.2.10.2): all a cause and optional parts.
struct BearerReply {
  uint8_t ebi = 0;
  uint8_t cause = 0;
  std::vector<Fteid> fteids;
  std::optional<uint32_t> charging_id;
  constexpr bool operator==(const BearerReply&) const = default;
};
struct Reply {
  uint8_t type = 0;   // MsgType
  uint32_t teid = 0;  // the receiver's
  uint32_t seq = 0;
  uint8_t cause = 0;
  std::optional<IeId> offending;
  std::vector<Fteid> fteids;  // top level, each with its instance
  std::optional<core::Ipv4> paa_ipv4;
  std::vector<uint8_t> pco;  // PCO contents; empty: no PCO IE
  std::optional<uint8_t> apn_restriction;
  std::optional<BearerReply> bearer;
  std::optional<uint8_t> recovery;
  bool operator==(const Reply&) const = default;
};
std::vector<uint8_t> build_reply(const Reply& r);
// Decodes a response built like Reply; kMissingMandatory when it has no Cause.
[[nodiscard]] Status decode_reply(const Message& m, Reply& out);

std::vector<uint8_t> build_echo_response(uint32_t seq, uint8_t recovery);
// Version Not Supported Indication (7.1.3): header only, no TEID.
std::vector<uint8_t> build_version_not_supported(uint32_t seq);
// Delete Bearer Request (7.2.9.2) for a whole PDN connection: LBI only. `teid` is the peer's.
// No Cause: 29.274 gives it values for particular triggers (ISR deactivation, a move to
// non-3GPP access, reactivation requested), none of which is an operator ending the session.
std::vector<uint8_t> build_delete_bearer_request(uint32_t teid, uint32_t seq, uint8_t lbi);

}  // namespace simcore::gtpc::v2
