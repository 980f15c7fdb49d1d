// control/gtpc/gtpv1.h — the GTPv1-C codec of the Gn interface (TS 29.060): the header (7.2
// and 6.1), IEs (7.7: TV with a length fixed by type below 128, TLV from 128), decoders of the
// messages a GGSN receives and builders of the ones it sends. Pure functions on byte spans:
// any thread, no I/O, no exceptions; decoders never read outside their span and report every
// malformation as a Status. Integers are host order here and big-endian on the wire.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "control/gtpc/wire.h"
#include "core/types.h"

namespace simcore::gtpc::v1 {

// Message types (TS 29.060 7.1) this codec knows.
enum class MsgType : uint8_t {
  kEchoRequest = 1,
  kEchoResponse = 2,
  kVersionNotSupported = 3,
  kCreatePdpRequest = 16,
  kCreatePdpResponse = 17,
  kUpdatePdpRequest = 18,
  kUpdatePdpResponse = 19,
  kDeletePdpRequest = 20,
  kDeletePdpResponse = 21,
};

// Cause values (TS 29.060 7.7.1) the GGSN sends.
enum class Cause : uint8_t {
  kAccepted = 128,
  kNewPdpTypeNetworkPreference = 129,  // IPv4v6 asked, IPv4 given
  kNonExistent = 192,
  kInvalidMessageFormat = 193,
  kImsiImeiNotKnown = 194,
  kServiceNotSupported = 200,
  kMandatoryIeIncorrect = 201,
  kMandatoryIeMissing = 202,
  kSystemFailure = 204,
  kUserAuthenticationFailed = 209,
  kNoDynamicAddress = 211,  // "All dynamic PDP addresses are occupied"
  kUnknownApn = 219,        // "Missing or unknown APN"
  kUnknownPdpType = 220,    // "Unknown PDP address or PDP type"
  kApnAccessDenied = 222,   // "APN access denied – no subscription"
};

// Returns whether a cause value is in the acceptance range 128..191 (7.7.1).
constexpr bool accepted(uint8_t cause) { return cause >= 128 && cause < 192; }

// RAT Type values (TS 29.060 7.7.50; tshark's gtp.ext_rat_type agrees).
enum class RatType : uint8_t {
  kUtran = 1,
  kGeran = 2,
  kWlan = 3,
  kGan = 4,
  kHspaEvolution = 5,
  kEutran = 6,
  kVirtual = 7,
  kEutranNbIot = 8,
};

// Every outcome of decoding. kInvalid* map to cause 193, kMissing to 202, kIncorrect to 201.
enum class Status : uint8_t {
  kOk,
  kTruncated,           // shorter than the header, its optional fields or its length field
  kNotVersion1,         // version field is not 1 (Header::version tells which)
  kNotGtp,              // PT = 0: GTP' (charging), not GTP
  kBadExtension,        // an extension header of length 0 or overrunning the message
  kInvalidIe,           // an IE overruns the message, or a TV type with no known length
  kMissingMandatory,    // a mandatory IE is absent
  kIncorrectMandatory,  // a mandatory IE is present with a wrong length or value
};
const char* status_name(Status s);

// The header (TS 29.060 6). seq/npdu are meaningful when has_seq/has_npdu.
struct Header {
  uint8_t version = 1;
  uint8_t type = 0;
  uint16_t length = 0;  // octets after the first 8
  uint32_t teid = 0;
  bool has_seq = false;
  uint16_t seq = 0;
  bool has_npdu = false;
  uint8_t npdu = 0;
};

// One IE: its type and value (the TV's fixed-length value or the TLV's contents). The value
// points into the decoded buffer: it lives as long as that buffer.
struct Ie {
  uint8_t type = 0;
  std::span<const uint8_t> value;
};

// A message split into its header and IEs, in wire order.
struct Message {
  Header header;
  std::vector<Ie> ies;

  // Returns the n-th (0-based) IE of `type`, or nullptr.
  const Ie* find(uint8_t type, int nth = 0) const;
};

// Reads the header only. On kNotVersion1, header.version and header.type are set (enough to
// answer Version Not Supported). Bytes after 8 + length are ignored.
Status decode_header(std::span<const uint8_t> bytes, Header& header);
// Reads the header, the extension headers chain and the IEs.
Status decode_message(std::span<const uint8_t> bytes, Message& msg);
// msg would point into a buffer destroyed at the end of the call's statement.
Status decode_message(std::vector<uint8_t>&& bytes, Message& msg) = delete;

// PDP type of an End User Address (TS 29.060 7.7.27), organisation IETF.
enum class PdpType : uint8_t { kIpv4, kIpv6, kIpv4v6, kOther };

// A GSN Address (7.7.32): IPv4, or IPv6 which simcore does not serve (the address is dropped).
struct GsnAddress {
  bool ipv6 = false;
  core::Ipv4 v4;
};

// teid_control is set whenever the IE is present, even when decoding fails: a rejection's
// header TEID.
struct CreatePdpRequest {
  std::string imsi;
  std::optional<Plmn> rai_plmn;  // from the Routeing Area Identity, when present
  std::optional<uint8_t> recovery;
  uint8_t selection_mode = 0;
  uint32_t teid_data = 0;
  uint32_t teid_control = 0;
  uint8_t nsapi = 0;
  PdpType pdp_type = PdpType::kIpv4;
  std::string apn;
  std::optional<std::vector<uint8_t>> pco;  // contents after the IE header
  GsnAddress sgsn_control;
  GsnAddress sgsn_user;
  std::string msisdn;          // digits, empty when absent
  std::vector<uint8_t> qos;    // the QoS Profile contents, echoed in the response
  std::optional<uint8_t> rat;  // RAT Type value, when present
  std::string imei;            // IMEI(SV) digits, empty when absent
  std::vector<uint8_t> uli;    // User Location Information contents, empty when absent
};
// Mandatory here (a primary context, 29.060 7.3.1): IMSI, TEID Data I, TEID Control Plane,
// NSAPI, End User Address, APN, both SGSN addresses and the QoS Profile.
Status decode_create_pdp_request(const Message& msg, CreatePdpRequest& out);

struct UpdatePdpRequest {
  std::optional<Plmn> rai_plmn;
  std::optional<uint8_t> recovery;
  uint32_t teid_data = 0;
  std::optional<uint32_t> teid_control;  // a new SGSN control TEID (inter-SGSN change)
  uint8_t nsapi = 0;
  GsnAddress sgsn_control;
  GsnAddress sgsn_user;
  std::vector<uint8_t> qos;
  std::optional<uint8_t> rat;
};
// Mandatory (7.3.3): TEID Data I, NSAPI, both SGSN addresses, QoS Profile.
Status decode_update_pdp_request(const Message& msg, UpdatePdpRequest& out);

struct DeletePdpRequest {
  uint8_t nsapi = 0;
  bool teardown = false;
};
// Mandatory (7.3.5): NSAPI.
Status decode_delete_pdp_request(const Message& msg, DeletePdpRequest& out);

// The Cause of any response (Delete PDP Context Response, ...). Mandatory: Cause.
Status decode_cause(const Message& msg, uint8_t& cause);

// Echo Response: Recovery (mandatory).
Status decode_echo_response(const Message& msg, uint8_t& recovery);

// A Create or Update PDP Context Response. Only Cause is mandatory in a rejection; the rest is
// present when accepted (the GGSN's own responses, decoded by tests and tools).
struct PdpResponse {
  uint32_t teid = 0;  // header: the SGSN's control TEID
  uint16_t seq = 0;
  uint8_t cause = 0;
  std::optional<uint8_t> recovery;
  bool reordering_required = false;
  uint32_t teid_data = 0;     // ours
  uint32_t teid_control = 0;  // ours
  uint32_t charging_id = 0;
  std::optional<core::Ipv4> ue_addr;  // End User Address IPv4 (Create only)
  std::optional<std::vector<uint8_t>> pco;
  core::Ipv4 ggsn_control;
  core::Ipv4 ggsn_user;
  std::vector<uint8_t> qos;
};
Status decode_pdp_response(const Message& msg, PdpResponse& out);

// Builders. Each returns the complete message (header with S set and the length computed).
std::vector<uint8_t> build_echo_response(uint16_t seq, uint8_t recovery);
// The accepted fields are written only when the cause is an acceptance (a rejection carries
// the Cause alone, 29.060 7.3.2). `ue_addr` is written for Create only (is_create).
std::vector<uint8_t> build_pdp_response(bool is_create, const PdpResponse& r);
// Delete PDP Context Response: Cause only; teid is the SGSN's (0 when the context is unknown).
std::vector<uint8_t> build_delete_pdp_response(uint32_t teid, uint16_t seq, Cause cause);
// Network-initiated Delete PDP Context Request (7.3.5): Teardown Ind (when set) and NSAPI.
std::vector<uint8_t> build_delete_pdp_request(uint32_t teid, uint16_t seq, uint8_t nsapi,
                                              bool teardown);
// Version Not Supported (7.2.3): the header alone, TEID 0.
std::vector<uint8_t> build_version_not_supported(uint16_t seq);

}  // namespace simcore::gtpc::v1
