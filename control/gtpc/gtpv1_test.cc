// The GTPv1-C codec against real captures (checked field by field against tshark), round trips
// of every message it builds, and truncated / randomly mutated input.
#include "control/gtpc/gtpv1.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "dataplane/testing/pcap_io.h"
#include "dataplane/testing/tshark.h"

namespace simcore::gtpc::v1 {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

const fs::path kPcapDir = SIMCORE_PCAP_DIR;
const char* const kPcaps[] = {"zeek_gtp_create_pdp_ctx.pcap",
                              "zeek_gtp1_gn_normal_incl_fragmentation.pcap",
                              "pcapplusplus_gtpv2_edge_cases.pcap"};

Bytes from_hex(const std::string& hex) {
  Bytes b;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    b.push_back(static_cast<uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  }
  return b;
}

// The UDP payloads to or from port `port` of Ethernet/IPv4 frames (VLAN tags skipped).
// Non-first fragments carry no UDP header and are left out; a first fragment's payload is
// cut where the fragment ends, which the decoder must survive.
std::vector<Bytes> frame_payloads(const fs::path& file, uint16_t port) {
  std::vector<Bytes> out;
  for (const Bytes& f : dp::testing::read_frames(file)) {
    size_t off = 12;
    auto be16 = [&](size_t at) { return static_cast<uint16_t>(f[at] << 8 | f[at + 1]); };
    while (off + 2 <= f.size() && (be16(off) == 0x8100 || be16(off) == 0x88a8)) off += 4;
    if (off + 2 > f.size() || be16(off) != 0x0800) continue;
    const size_t ip = off + 2;
    if (ip + 20 > f.size() || f[ip + 9] != 17 || (be16(ip + 6) & 0x1fff) != 0) continue;
    const size_t udp = ip + (f[ip] & 0x0f) * 4u;
    if (udp + 8 > f.size() || (be16(udp) != port && be16(udp + 2) != port)) continue;
    const size_t end = std::min<size_t>(f.size(), udp + std::max<uint16_t>(8, be16(udp + 4)));
    out.emplace_back(f.begin() + static_cast<ptrdiff_t>(udp + 8),
                     f.begin() + static_cast<ptrdiff_t>(end));
  }
  return out;
}

// pcapplusplus' pcapng has a second interface with another snapshot length, which libpcap
// refuses before the first frame: tshark reads its payloads instead.
std::vector<Bytes> udp_payloads(const fs::path& file, uint16_t port) {
  if (file.filename() != "pcapplusplus_gtpv2_edge_cases.pcap") return frame_payloads(file, port);
  std::vector<Bytes> out;
  const std::string filter = "udp.port == " + std::to_string(port);
  for (const auto& row : dp::testing::tshark_fields(file, filter, {"udp.payload"})) {
    out.push_back(from_hex(row[0]));
  }
  return out;
}

// Runs every decoder on `bytes`; returns the message status. Must never crash or read out of
// bounds (ASan).
Status decode_all(std::span<const uint8_t> bytes) {
  Message m;
  const Status s = decode_message(bytes, m);
  if (s != Status::kOk) return s;
  CreatePdpRequest c;
  UpdatePdpRequest u;
  DeletePdpRequest d;
  PdpResponse r;
  uint8_t b = 0;
  (void)decode_create_pdp_request(m, c);
  (void)decode_update_pdp_request(m, u);
  (void)decode_delete_pdp_request(m, d);
  (void)decode_pdp_response(m, r);
  (void)decode_cause(m, b);
  (void)decode_echo_response(m, b);
  return s;
}

bool have_pcaps() { return fs::exists(kPcapDir / kPcaps[0]); }

TEST(Gtpv1Pcap, EveryGtpcPayloadDecodesOrIsRefused) {
  SIMCORE_REQUIRE_PCAPS(kPcapDir);
  ASSERT_TRUE(have_pcaps()) << "no " << kPcaps[0] << " in " << kPcapDir;
  SIMCORE_REQUIRE_TSHARK();  // it reads the edge-case capture
  size_t v1_messages = 0, other_versions = 0;
  for (const char* name : kPcaps) {
    for (const Bytes& p : udp_payloads(kPcapDir / name, 2123)) {
      const Status s = decode_all(p);
      SCOPED_TRACE(std::string(name) + ": " + status_name(s));
      Header h;
      if (decode_header(p, h) == Status::kNotVersion1) {
        EXPECT_EQ(h.version, 2);  // the only other version in these files
        ++other_versions;
      } else if (s == Status::kOk) {
        ++v1_messages;
      }
    }
    // GTP-U payloads too: the same header, G-PDUs whose payload is no IE list.
    for (const Bytes& p : udp_payloads(kPcapDir / name, 2152)) (void)decode_all(p);
  }
  EXPECT_EQ(v1_messages, 2u);  // zeek's Create PDP Context Request and Response
  // pcapplusplus' GTPv2 messages (read through tshark).
  EXPECT_EQ(other_versions, 5u);
}

// The Create PDP Context Requests of `file` decoded by us and by tshark, field by field.
void expect_creates_match_tshark(const fs::path& file) {
  const auto rows = dp::testing::tshark_fields(
      file, "gtp.message == 0x10",
      {"e212.imsi", "gtp.apn", "gtp.teid_data", "gtp.teid_cp", "gtp.gsn_ipv4", "gtp.nsapi",
       "e164.msisdn", "gtp.ext_rat_type", "gtp.recovery", "gtp.seq_number", "e212.rai.mcc",
       "e212.rai.mnc", "gtp.ext_imeisv"});
  std::vector<CreatePdpRequest> ours;
  std::vector<uint16_t> seqs;
  for (const Bytes& p : udp_payloads(file, 2123)) {
    Message m;
    ASSERT_EQ(decode_message(p, m), Status::kOk);
    if (m.header.type != static_cast<uint8_t>(MsgType::kCreatePdpRequest)) continue;
    CreatePdpRequest c;
    ASSERT_EQ(decode_create_pdp_request(m, c), Status::kOk);
    ours.push_back(c);
    seqs.push_back(m.header.seq);
  }
  ASSERT_EQ(rows.size(), ours.size());
  ASSERT_FALSE(rows.empty());
  auto opt = [](const std::optional<uint8_t>& v) { return v ? std::to_string(*v) : ""; };
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& t = rows[i];
    const CreatePdpRequest& c = ours[i];
    EXPECT_EQ(c.imsi, t[0]);
    EXPECT_EQ(c.apn, t[1]);
    EXPECT_EQ(c.teid_data, std::stoul(t[2], nullptr, 0));
    EXPECT_EQ(c.teid_control, std::stoul(t[3], nullptr, 0));
    EXPECT_EQ(c.sgsn_control.v4.str() + "," + c.sgsn_user.v4.str(), t[4]);
    EXPECT_EQ(std::to_string(c.nsapi), t[5]);
    EXPECT_EQ(c.msisdn, t[6]);
    EXPECT_EQ(opt(c.rat), t[7]);
    EXPECT_EQ(opt(c.recovery), t[8]);
    EXPECT_EQ(seqs[i], std::stoul(t[9], nullptr, 0));
    ASSERT_TRUE(c.rai_plmn.has_value());
    EXPECT_EQ(std::to_string(c.rai_plmn->mcc), t[10]);
    EXPECT_EQ(std::to_string(c.rai_plmn->mnc), t[11]);
    EXPECT_EQ(c.imei, t[12]);
    EXPECT_EQ(c.pdp_type, PdpType::kIpv4);
  }
}

TEST(Gtpv1Pcap, CreatePdpRequestMatchesTshark) {
  SIMCORE_REQUIRE_PCAPS(kPcapDir);
  ASSERT_TRUE(have_pcaps()) << "no " << kPcaps[0] << " in " << kPcapDir;
  SIMCORE_REQUIRE_TSHARK();
  expect_creates_match_tshark(kPcapDir / "zeek_gtp_create_pdp_ctx.pcap");
}

// What sgsnemu (osmo-ggsn 1.9.0) sent to a UDP listener for `sgsnemu -l 127.0.0.2 -r 127.0.0.3
// --imsi 204081234567890 --apn iot.example --rai 204.08.1234.56 --rattype 2 --imeisv
// 3534910112233445 --nsapi 5`: RAI, RAT, ULI, IMEI(SV), Charging Characteristics, and a PCO
// holding PAP only (no DNS request). Without those options it sends NSAPI 0 and no RAI, RAT,
// ULI or IMEI(SV).
const char kSgsnemuCreate[] =
    "3210008c00000000040100000202041832547698f00302f48004d2380e010f011000000001110000000114051a"
    "0800800002f12183000c03696f74076578616d706c6584001580c0231101010011036d69670868656d6d656c69"
    "678500047f0000028500047f000002860007916407123254f6870004000b921f970001029800080102f48004d2"
    "162e9a00085343191021324354";

TEST(Gtpv1Pcap, SgsnemuCreateMatchesTshark) {
  SIMCORE_REQUIRE_TSHARK();
  const Bytes payload = from_hex(kSgsnemuCreate);
  const dp::testing::Ip4 h =
      dp::testing::ip4(dp::testing::ip("127.0.0.2"), dp::testing::ip("127.0.0.3"));
  const Bytes frame =
      dp::testing::ethernet({2, 0, 0, 0, 0, 2}, {2, 0, 0, 0, 0, 1}, 0x0800,
                            dp::testing::ipv4(h, 17, dp::testing::udp(h, 2123, 2123, payload)));
  const fs::path file = fs::path(::testing::TempDir()) / "sgsnemu_create.pcap";
  ASSERT_TRUE(dp::testing::write_pcap(file, {frame}));
  expect_creates_match_tshark(file);
  Message m;
  CreatePdpRequest c;
  ASSERT_EQ(decode_message(payload, m), Status::kOk);
  ASSERT_EQ(decode_create_pdp_request(m, c), Status::kOk);
  ASSERT_TRUE(c.pco.has_value());
  const PcoAsk ask = pco_decode(*c.pco);
  EXPECT_FALSE(ask.ipcp || ask.dns_ipv4);
  EXPECT_FALSE(c.uli.empty());
}

// A hand-made header + IEs (independent of the builders under test).
Bytes message(uint8_t type, uint32_t teid, uint16_t seq, const Bytes& ies, uint8_t flags = 0x32) {
  Bytes b = {flags,        type, 0, 0, uint8_t(teid >> 24), uint8_t(teid >> 16), uint8_t(teid >> 8),
             uint8_t(teid)};
  if (flags & 0x07) b.insert(b.end(), {uint8_t(seq >> 8), uint8_t(seq), 0, 0});
  b.insert(b.end(), ies.begin(), ies.end());
  b[2] = uint8_t((b.size() - 8) >> 8);
  b[3] = uint8_t(b.size() - 8);
  return b;
}

TEST(Gtpv1Codec, HeaderFlagsAndExtensionHeaders) {
  struct Case {
    const char* name;
    Bytes in;
    Status want;
  };
  // Delete PDP Context Request with NSAPI 5.
  const Bytes ies = {20, 5};
  Bytes with_ext = message(20, 7, 9, {}, 0x36);  // E and S
  with_ext.back() = 0xc0;                        // next extension type: PDCP PDU number
  with_ext.insert(with_ext.end(), {1, 0x12, 0x34, 0x00});
  with_ext.insert(with_ext.end(), ies.begin(), ies.end());
  with_ext[3] = uint8_t(with_ext.size() - 8);
  Bytes bad_ext = with_ext;
  bad_ext[12] = 0;  // extension length 0
  Bytes long_ext = with_ext;
  long_ext[12] = 9;
  const Case cases[] = {
      {"sequence number", message(20, 7, 9, ies), Status::kOk},
      {"no optional fields", message(20, 7, 0, ies, 0x30), Status::kOk},
      {"extension header chain", with_ext, Status::kOk},
      {"extension length 0", bad_ext, Status::kBadExtension},
      {"extension overruns", long_ext, Status::kBadExtension},
      {"GTP' (PT 0)", message(20, 7, 9, ies, 0x22), Status::kNotGtp},
      {"version 2", message(20, 7, 9, ies, 0x48), Status::kNotVersion1},
      {"unknown TV type 6", message(20, 7, 9, {6, 1, 2, 3, 20, 5}), Status::kInvalidIe},
      {"TV truncated", message(20, 7, 9, {20}), Status::kInvalidIe},
      {"TLV overruns", message(20, 7, 9, {200, 0, 9, 1}), Status::kInvalidIe},
      {"length beyond datagram", Bytes{0x32, 20, 0, 9, 0, 0, 0, 7}, Status::kTruncated},
      {"S set, length under 4", Bytes{0x32, 20, 0, 2, 0, 0, 0, 7, 0, 1}, Status::kTruncated},
  };
  for (const Case& c : cases) {
    Message m;
    EXPECT_EQ(decode_message(c.in, m), c.want) << c.name;
    if (c.want != Status::kOk) continue;
    EXPECT_EQ(m.header.teid, 7u) << c.name;
    DeletePdpRequest d;
    ASSERT_EQ(decode_delete_pdp_request(m, d), Status::kOk) << c.name;
    EXPECT_EQ(d.nsapi, 5) << c.name;
  }
  // An unknown TLV is skipped; the IEs around it still count. (Messages point into their
  // buffer: `b` keeps it alive.)
  Message m;
  Bytes b = message(20, 7, 9, {19, 0xff, 20, 6, 250, 0, 2, 0xaa, 0xbb});
  ASSERT_EQ(decode_message(b, m), Status::kOk);
  DeletePdpRequest d;
  ASSERT_EQ(decode_delete_pdp_request(m, d), Status::kOk);
  EXPECT_TRUE(d.teardown);
  EXPECT_EQ(d.nsapi, 6);
  b = message(20, 7, 9, {19, 0xff});
  ASSERT_EQ(decode_message(b, m), Status::kOk);
  EXPECT_EQ(decode_delete_pdp_request(m, d), Status::kMissingMandatory);
}

TEST(Gtpv1Codec, RoundTrips) {
  // A decoded Message points into its buffer: `wire` keeps each alive.
  Message m;
  Bytes wire;
  uint8_t b = 0;
  ASSERT_EQ(decode_message(wire = build_echo_response(77, 9), m), Status::kOk);
  EXPECT_EQ(m.header.type, static_cast<uint8_t>(MsgType::kEchoResponse));
  EXPECT_EQ(m.header.seq, 77);
  ASSERT_EQ(decode_echo_response(m, b), Status::kOk);
  EXPECT_EQ(b, 9);

  ASSERT_EQ(decode_message(wire = build_version_not_supported(5), m), Status::kOk);
  EXPECT_EQ(m.header.type, static_cast<uint8_t>(MsgType::kVersionNotSupported));
  EXPECT_TRUE(m.ies.empty());

  ASSERT_EQ(decode_message(wire = build_delete_pdp_response(0x1234, 8, Cause::kNonExistent), m),
            Status::kOk);
  EXPECT_EQ(m.header.teid, 0x1234u);
  ASSERT_EQ(decode_cause(m, b), Status::kOk);
  EXPECT_EQ(b, 192);

  ASSERT_EQ(decode_message(wire = build_delete_pdp_request(0x99, 3, 7, true), m), Status::kOk);
  DeletePdpRequest d;
  ASSERT_EQ(decode_delete_pdp_request(m, d), Status::kOk);
  EXPECT_EQ(m.header.teid, 0x99u);
  EXPECT_EQ(m.header.seq, 3);
  EXPECT_EQ(d.nsapi, 7);
  EXPECT_TRUE(d.teardown);

  for (const bool is_create : {true, false}) {
    PdpResponse r;
    r.teid = 0xabcdef01;
    r.seq = 0xfffe;
    r.cause = 128;
    r.recovery = 4;
    r.teid_data = 0x1001;
    r.teid_control = 0x1001;
    r.charging_id = 0x1001;
    if (is_create) r.ue_addr = core::Ipv4{0x0a000005};
    r.pco = Bytes{0x80, 0x00, 0x0d, 4, 8, 8, 8, 8};
    r.ggsn_control = core::Ipv4{0xc0000201};
    r.ggsn_user = core::Ipv4{0xc0000202};
    r.qos = {2, 0x1b, 0x42, 0x1f};
    const Bytes bytes = build_pdp_response(is_create, r);
    ASSERT_EQ(decode_message(bytes, m), Status::kOk);
    EXPECT_EQ(m.header.type, static_cast<uint8_t>(is_create ? MsgType::kCreatePdpResponse
                                                            : MsgType::kUpdatePdpResponse));
    PdpResponse back;
    ASSERT_EQ(decode_pdp_response(m, back), Status::kOk);
    EXPECT_EQ(back.teid, r.teid);
    EXPECT_EQ(back.seq, r.seq);
    EXPECT_EQ(back.cause, r.cause);
    EXPECT_EQ(back.recovery, r.recovery);
    EXPECT_EQ(back.teid_data, r.teid_data);
    EXPECT_EQ(back.teid_control, r.teid_control);
    EXPECT_EQ(back.charging_id, r.charging_id);
    EXPECT_EQ(back.ue_addr, r.ue_addr);
    EXPECT_EQ(back.pco, r.pco);
    EXPECT_EQ(back.ggsn_control, r.ggsn_control);
    EXPECT_EQ(back.ggsn_user, r.ggsn_user);
    EXPECT_EQ(back.qos, r.qos);
    EXPECT_EQ(m.find(8) != nullptr, is_create);  // Reordering Required: Create only

    r.cause = 219;  // a rejection carries the Cause alone
    ASSERT_EQ(decode_message(wire = build_pdp_response(is_create, r), m), Status::kOk);
    ASSERT_EQ(m.ies.size(), 1u);
    ASSERT_EQ(decode_pdp_response(m, back), Status::kOk);
    EXPECT_EQ(back.cause, 219);
  }
}

// Inputs for truncation and mutation: the capture's messages and every built message.
std::vector<Bytes> corpus() {
  std::vector<Bytes> c;
  if (have_pcaps()) {
    for (const char* name : kPcaps) {
      for (Bytes& p : udp_payloads(kPcapDir / name, 2123)) c.push_back(std::move(p));
    }
  }
  c.push_back(from_hex(kSgsnemuCreate));
  PdpResponse r;
  r.cause = 128;
  r.recovery = 1;
  r.ue_addr = core::Ipv4{1};
  r.pco = Bytes{0x80, 0x80, 0x21, 4, 3, 1, 0, 4};
  r.qos = {1, 2, 3, 4};
  c.push_back(build_pdp_response(true, r));
  c.push_back(build_pdp_response(false, r));
  c.push_back(build_echo_response(1, 2));
  c.push_back(build_delete_pdp_request(1, 2, 5, true));
  c.push_back(build_delete_pdp_response(1, 2, Cause::kAccepted));
  c.push_back(build_version_not_supported(1));
  return c;
}

TEST(Gtpv1Fuzz, TruncationAtEveryLength) {
  for (const Bytes& msg : corpus()) {
    for (size_t n = 0; n < msg.size(); ++n) {
      // A copy of exactly n bytes, so ASan sees any read past the end.
      const Bytes cut(msg.begin(), msg.begin() + static_cast<ptrdiff_t>(n));
      EXPECT_NE(decode_all(cut), Status::kOk) << "length " << n << " of " << msg.size();
    }
  }
}

TEST(Gtpv1Fuzz, SeededMutationsNeverCrash) {
  const uint32_t seed = 20240611;
  std::cout << "mutation seed " << seed << "\n";
  std::mt19937 rng(seed);
  const std::vector<Bytes> base = corpus();
  size_t ok = 0;
  for (int i = 0; i < 20000; ++i) {
    Bytes b = base[rng() % base.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !b.empty(); ++e) {
      const size_t at = rng() % b.size();
      switch (rng() % 4) {
        case 0: b[at] = static_cast<uint8_t>(rng()); break;
        case 1: b[at] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
        case 2: b.resize(at); break;
        default: b.insert(b.begin() + static_cast<ptrdiff_t>(at), static_cast<uint8_t>(rng()));
      }
    }
    if (decode_all(b) == Status::kOk) ++ok;
  }
  // Some mutations leave a decodable message (a changed value): the decoders ran on them too.
  EXPECT_GT(ok, 0u);
}

}  // namespace
}  // namespace simcore::gtpc::v1
