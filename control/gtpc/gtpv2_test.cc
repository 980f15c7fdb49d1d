// The GTPv2-C codec against real captures (Create Session Requests checked field by field
// against tshark at test time), round trips of every message it builds, hand-made edge cases,
// and truncated / randomly mutated input (run under ASan+UBSan).
#include "control/gtpc/gtpv2.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "control/gtpc/datagram.h"
#include "dataplane/packet/wire.h"
#include "dataplane/testing/pcap_io.h"
#include "dataplane/testing/tshark.h"

namespace simcore::gtpc::v2 {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

const fs::path kPcapDir = SIMCORE_PCAP_DIR;
const char* const kPcaps[] = {"magma_s8_attach_gtpu.pcapng", "magma_s11_nsa_connection.pcap",
                              "magma_s8_attach_idle_connected.pcapng",
                              "ndpi_gtpv2_create_delete.pcap",
                              "pcapplusplus_gtpv2_edge_cases.pcap"};

struct Captured {
  int frame = 0;  // tshark's frame number
  Bytes payload;
};

Bytes from_hex(const std::string& hex) {
  Bytes b;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    b.push_back(static_cast<uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  }
  return b;
}

// The payloads of UDP datagrams from or to port 2123 in Ethernet/IPv4 frames (VLAN tags
// skipped; non-first fragments left out), cut where the frame ends.
std::vector<Captured> frame_payloads(const fs::path& file) {
  std::vector<Captured> out;
  const std::vector<Bytes> frames = dp::testing::read_frames(file);
  for (size_t i = 0; i < frames.size(); ++i) {
    const Bytes& f = frames[i];
    auto be16 = [&](size_t at) { return static_cast<uint16_t>(f[at] << 8 | f[at + 1]); };
    size_t off = 12;
    while (off + 2 <= f.size() && (be16(off) == 0x8100 || be16(off) == 0x88a8)) off += 4;
    if (off + 2 > f.size() || be16(off) != 0x0800) continue;
    const size_t ip = off + 2;
    if (ip + 20 > f.size() || f[ip + 9] != dp::kProtoUdp || (be16(ip + 6) & 0x1fff) != 0) continue;
    const size_t udp = ip + (f[ip] & 0x0f) * 4u;
    if (udp + 8 > f.size() || (be16(udp) != kGtpcPort && be16(udp + 2) != kGtpcPort)) continue;
    const size_t end = std::min<size_t>(f.size(), udp + std::max<uint16_t>(8, be16(udp + 4)));
    out.push_back({static_cast<int>(i + 1), Bytes(f.begin() + static_cast<ptrdiff_t>(udp + 8),
                                                  f.begin() + static_cast<ptrdiff_t>(end))});
  }
  return out;
}

// pcapplusplus' pcapng has a second interface with another snapshot length, which libpcap
// refuses before the first frame: tshark reads its payloads instead.
std::vector<Captured> gtpc_payloads(const fs::path& file) {
  if (file.filename() != "pcapplusplus_gtpv2_edge_cases.pcap") return frame_payloads(file);
  std::vector<Captured> out;
  for (const auto& row :
       dp::testing::tshark_fields(file, "udp.port == 2123", {"frame.number", "udp.payload"})) {
    out.push_back({std::stoi(row[0]), from_hex(row[1])});
  }
  return out;
}

// Runs every decoder that applies; returns the first failing status (or kOk).
Status decode_all(std::span<const uint8_t> bytes) {
  Message m;
  const Status s = parse(bytes, m);
  if (s != Status::kOk) return s;
  CreateSessionRequest csr;
  ModifyBearerRequest mbr;
  DeleteRequest del;
  Reply reply;
  (void)decode_recovery(m);
  switch (static_cast<MsgType>(m.header.type)) {
    case MsgType::kCreateSessionRequest: return decode_create_session_request(m, csr);
    case MsgType::kModifyBearerRequest: return decode_modify_bearer_request(m, mbr);
    case MsgType::kDeleteSessionRequest:
    case MsgType::kDeleteBearerRequest: return decode_delete_request(m, del);
    default: return decode_reply(m, reply);
  }
}

bool have_pcaps() { return fs::exists(kPcapDir / kPcaps[0]); }

TEST(Gtpv2Pcap, EveryGtpcPayloadDecodesOrReportsAStatus) {
  SIMCORE_REQUIRE_PCAPS(kPcapDir);
  ASSERT_TRUE(have_pcaps()) << "no " << kPcaps[0] << " in " << kPcapDir;
  SIMCORE_REQUIRE_TSHARK();  // it reads the edge-case capture
  for (const char* name : kPcaps) {
    // The edge cases are malformed on purpose (their statuses are checked below); the magma
    // and nDPI flows are well formed, and every message in them decodes.
    const bool well_formed = std::string(name) != "pcapplusplus_gtpv2_edge_cases.pcap";
    const std::vector<Captured> msgs = gtpc_payloads(kPcapDir / name);
    if (well_formed) {
      EXPECT_FALSE(msgs.empty()) << name;
    }
    for (const Captured& c : msgs) {
      const Bytes exact = c.payload;  // its own allocation: ASan sees any over-read
      const Status s = decode_all(exact);
      if (well_formed) {
        EXPECT_EQ(s, Status::kOk) << name << " frame " << c.frame << ": " << status_name(s);
      }
    }
  }
}

TEST(Gtpv2Pcap, EdgeCasesGetTheirStatus) {
  SIMCORE_REQUIRE_PCAPS(kPcapDir);
  ASSERT_TRUE(have_pcaps()) << "no " << kPcaps[0] << " in " << kPcapDir;
  SIMCORE_REQUIRE_TSHARK();
  const std::vector<Captured> msgs = gtpc_payloads(kPcapDir / "pcapplusplus_gtpv2_edge_cases.pcap");
  auto frame = [&](int n) -> const Bytes& {
    for (const Captured& c : msgs) {
      if (c.frame == n) return c.payload;
    }
    ADD_FAILURE() << "no UDP/2123 frame " << n;
    static const Bytes none;
    return none;
  };
  Message m;
  // Frame 1: a Modify Bearer Request with a bearer context (S5/S8-U SGW F-TEID) and Recovery.
  ASSERT_EQ(parse(frame(1), m), Status::kOk);
  ModifyBearerRequest mbr;
  ASSERT_EQ(decode_modify_bearer_request(m, mbr), Status::kOk);
  ASSERT_NE(mbr.bearer.peer_user_plane(), nullptr);
  EXPECT_EQ(mbr.bearer.peer_user_plane()->teid, 0xa430f3e2u);
  EXPECT_EQ(mbr.recovery, 18);
  // Frame 2: an Echo Request (P set) with a Create Session Response piggybacked.
  ASSERT_EQ(parse(frame(2), m), Status::kOk);
  EXPECT_TRUE(m.header.piggyback);
  EXPECT_EQ(m.header.type, uint8_t(MsgType::kEchoRequest));
  EXPECT_EQ(decode_recovery(m), 17);
  ASSERT_GE(m.piggybacked.size(), 2u);
  EXPECT_EQ(m.piggybacked[1], uint8_t(MsgType::kCreateSessionResponse));
  // Frame 4: P set, but the two bytes after the Echo Request are no message.
  EXPECT_EQ(parse(frame(4), m), Status::kLengthMismatch);
  // Frame 6: the length field claims 42 octets of a 12-octet datagram.
  EXPECT_EQ(parse(frame(6), m), Status::kLengthMismatch);
}

// Field values of the frames a filter selects, split on tshark's ',' between occurrences.
std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size() && !s.empty()) {
    const size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// Serving Network's MCC and MNC in tshark's PDML: the e212.mcc/mnc fields inside the IE of
// type 83 (the same generic fields also appear under the IMSI, so -T fields cannot tell).
std::pair<std::string, std::string> tshark_serving_network(const fs::path& file, int frame) {
  const std::string pdml = dp::testing::run_command("tshark -n -r '" + file.string() +
                                                    "' -Y 'frame.number==" + std::to_string(frame) +
                                                    "' -T pdml 2>/dev/null");
  auto show_after = [&](size_t from, const std::string& field) -> std::string {
    const size_t f = pdml.find("name=\"" + field + "\"", from);
    if (f == std::string::npos) return "";
    const size_t s = pdml.find("show=\"", f);
    return pdml.substr(s + 6, pdml.find('"', s + 6) - s - 6);
  };
  const size_t ie = pdml.find("name=\"gtpv2.ie_type\" showname=\"IE Type: Serving Network (83)\"");
  if (ie == std::string::npos) return {};
  return {show_after(ie, "e212.mcc"), show_after(ie, "e212.mnc")};
}

TEST(Gtpv2Pcap, CreateSessionRequestsMatchTshark) {
  SIMCORE_REQUIRE_PCAPS(kPcapDir);
  ASSERT_TRUE(have_pcaps()) << "no " << kPcaps[0] << " in " << kPcapDir;
  SIMCORE_REQUIRE_TSHARK();
  int checked = 0;
  for (const char* name : kPcaps) {
    const fs::path file = kPcapDir / name;
    const auto rows = dp::testing::tshark_fields(
        file, "gtpv2.message_type==32",
        {"frame.number", "e212.imsi", "gtpv2.apn", "gtpv2.rat_type", "gtpv2.f_teid_interface_type",
         "gtpv2.f_teid_gre_key", "gtpv2.f_teid_ipv4", "gtpv2.mei", "gtpv2.ebi"});
    const std::vector<Captured> msgs = gtpc_payloads(file);
    for (const auto& row : rows) {
      const int frame = std::stoi(row[0]);
      SCOPED_TRACE(std::string(name) + " frame " + row[0]);
      auto c = std::find_if(msgs.begin(), msgs.end(),
                            [&](const Captured& x) { return x.frame == frame; });
      ASSERT_NE(c, msgs.end());
      Message m;
      ASSERT_EQ(parse(c->payload, m), Status::kOk);
      CreateSessionRequest req;
      ASSERT_EQ(decode_create_session_request(m, req), Status::kOk) << status_name(Status::kOk);
      EXPECT_EQ(req.imsi, row[1]);
      EXPECT_EQ(req.apn, row[2]);
      EXPECT_EQ(std::to_string(req.rat_type), row[3]);
      EXPECT_EQ(req.mei, row[7]);
      EXPECT_EQ(std::to_string(*req.bearer.ebi), split(row[8]).at(0));
      // F-TEIDs in message order: the Sender F-TEID, then the bearer context's.
      std::vector<Fteid> fteids = {req.sender};
      fteids.insert(fteids.end(), req.bearer.fteids.begin(), req.bearer.fteids.end());
      const std::vector<std::string> ifaces = split(row[4]), keys = split(row[5]),
                                     addrs = split(row[6]);
      ASSERT_EQ(fteids.size(), ifaces.size());
      ASSERT_EQ(keys.size(), ifaces.size());
      for (size_t i = 0; i < fteids.size(); ++i) {
        EXPECT_EQ(std::to_string(fteids[i].iface), ifaces[i]);
        EXPECT_EQ(fteids[i].teid, std::stoul(keys[i], nullptr, 16));
        ASSERT_LT(i, addrs.size());
        EXPECT_EQ(fteids[i].ipv4.str(), addrs[i]);
      }
      const auto [mcc, mnc] = tshark_serving_network(file, frame);
      ASSERT_TRUE(req.serving_network);
      EXPECT_EQ(std::to_string(req.serving_network->mcc), mcc);
      EXPECT_EQ(std::to_string(req.serving_network->mnc), mnc);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 4);  // two magma S8, one magma S11, one nDPI
}

Fteid v4_fteid(Iface iface, uint8_t instance, uint32_t teid, uint32_t addr) {
  return {.iface = uint8_t(iface),
          .instance = instance,
          .teid = teid,
          .has_ipv4 = true,
          .ipv4 = {addr}};
}

Reply roundtrip(const Reply& r) {
  const Bytes b = build_reply(r);
  Message m;
  EXPECT_EQ(parse(b, m), Status::kOk);
  Reply back;
  EXPECT_EQ(decode_reply(m, back), Status::kOk);
  return back;
}

TEST(Gtpv2Build, RepliesRoundTrip) {
  Reply accepted;
  accepted.type = uint8_t(MsgType::kCreateSessionResponse);
  accepted.teid = 0x11223344;
  accepted.seq = 0xabcdef;
  accepted.cause = uint8_t(Cause::kRequestAccepted);
  accepted.fteids = {v4_fteid(Iface::kS11S4SgwC, 0, 7, 0x0a000001),
                     v4_fteid(Iface::kS5S8PgwC, 1, 7, 0x0a000001)};
  accepted.paa_ipv4 = core::Ipv4{0x0a080007};
  accepted.apn_restriction = 0;
  accepted.pco = {0x80, 0x00, 0x0d, 0x04, 8, 8, 8, 8};
  accepted.bearer = BearerReply{.ebi = 5,
                                .cause = 16,
                                .fteids = {v4_fteid(Iface::kS5S8PgwU, 2, 7, 0x0a000002)},
                                .charging_id = 7};
  accepted.recovery = 3;
  EXPECT_EQ(roundtrip(accepted), accepted);

  Reply refused;
  refused.type = uint8_t(MsgType::kCreateSessionResponse);
  refused.seq = 1;
  refused.cause = uint8_t(Cause::kMandatoryIeMissing);
  refused.offending = IeId{uint8_t(IeType::kApn), 0};
  refused.recovery = 0;
  EXPECT_EQ(roundtrip(refused), refused);

  Reply modify;
  modify.type = uint8_t(MsgType::kModifyBearerResponse);
  modify.teid = 9;
  modify.seq = 2;
  modify.cause = uint8_t(Cause::kRequestAccepted);
  modify.bearer = BearerReply{.ebi = 6, .cause = 16, .fteids = {}, .charging_id = std::nullopt};
  EXPECT_EQ(roundtrip(modify), modify);

  Reply del;
  del.type = uint8_t(MsgType::kDeleteSessionResponse);
  del.teid = 9;
  del.seq = 3;
  del.cause = uint8_t(Cause::kContextNotFound);
  EXPECT_EQ(roundtrip(del), del);
}

TEST(Gtpv2Build, EchoVersionNotSupportedAndDeleteBearerRoundTrip) {
  Message m;
  const Bytes echo = build_echo_response(0x123456, 42);  // m views it: it must outlive m
  ASSERT_EQ(parse(echo, m), Status::kOk);
  EXPECT_EQ(m.header.type, uint8_t(MsgType::kEchoResponse));
  EXPECT_FALSE(m.header.has_teid);
  EXPECT_EQ(m.header.seq, 0x123456u);
  EXPECT_EQ(decode_recovery(m), 42);

  const Bytes vns = build_version_not_supported(77);
  EXPECT_EQ(vns.size(), 8u);  // header only
  ASSERT_EQ(parse(vns, m), Status::kOk);
  EXPECT_EQ(m.header.type, uint8_t(MsgType::kVersionNotSupported));
  EXPECT_FALSE(m.header.has_teid);
  EXPECT_EQ(m.header.seq, 77u);

  const Bytes dbr = build_delete_bearer_request(0xdeadbeef, 0xffffff, 5);
  ASSERT_EQ(parse(dbr, m), Status::kOk);
  EXPECT_EQ(m.header.type, uint8_t(MsgType::kDeleteBearerRequest));
  EXPECT_EQ(m.header.teid, 0xdeadbeefu);
  EXPECT_EQ(m.header.seq, 0xffffffu);
  DeleteRequest d;
  ASSERT_EQ(decode_delete_request(m, d), Status::kOk);
  EXPECT_EQ(d.lbi, 5);
}

// A Create Session Request as an SGW would send it, built IE by IE.
Bytes sample_csr() {
  Bytes out;
  MessageWriter w(out, uint8_t(MsgType::kCreateSessionRequest), 0, 0x10);
  w.ie(IeType::kImsi, tbcd_encode("204080000000001"));
  w.ie(IeType::kMsisdn, tbcd_encode("31612345678"));
  w.ie(IeType::kMei, tbcd_encode("3520980727163206"));
  w.ie(IeType::kServingNetwork, Bytes{0x02, 0xf4, 0x80});
  w.u8(IeType::kRatType, uint8_t(RatType::kLteM));
  w.fteid(v4_fteid(Iface::kS5S8SgwC, 0, 0x1111, 0xc0000201));
  w.ie(IeType::kApn, apn_encode("iot.example"));
  w.u8(IeType::kPdnType, uint8_t(PdnType::kIpv4));
  w.ie(IeType::kPco, Bytes{0x80, 0x00, 0x0d, 0x00});
  const size_t g = w.begin_group(IeType::kBearerContext);
  w.u8(IeType::kEbi, 5);
  w.fteid(v4_fteid(Iface::kS5S8SgwU, 2, 0x2222, 0xc0000202));
  w.end_group(g);
  w.u8(IeType::kRecovery, 9);
  w.finish();
  return out;
}

TEST(Gtpv2Decode, CreateSessionRequestFields) {
  const Bytes csr = sample_csr();
  Message m;
  ASSERT_EQ(parse(csr, m), Status::kOk);
  CreateSessionRequest r;
  ASSERT_EQ(decode_create_session_request(m, r), Status::kOk);
  EXPECT_EQ(r.imsi, "204080000000001");
  EXPECT_EQ(r.msisdn, "31612345678");
  EXPECT_EQ(r.mei, "3520980727163206");
  EXPECT_EQ(r.apn, "iot.example");
  EXPECT_EQ(r.rat_type, uint8_t(RatType::kLteM));
  ASSERT_TRUE(r.serving_network);
  EXPECT_EQ(r.serving_network->mcc, 204);
  EXPECT_EQ(r.serving_network->mnc, 8);
  EXPECT_EQ(r.sender, v4_fteid(Iface::kS5S8SgwC, 0, 0x1111, 0xc0000201));
  EXPECT_EQ(r.pdn_type, uint8_t(PdnType::kIpv4));
  ASSERT_TRUE(r.pco);
  EXPECT_TRUE(r.pco->dns_ipv4);
  EXPECT_EQ(r.bearer.ebi, 5);
  ASSERT_NE(r.bearer.peer_user_plane(), nullptr);
  EXPECT_EQ(*r.bearer.peer_user_plane(), v4_fteid(Iface::kS5S8SgwU, 2, 0x2222, 0xc0000202));
  EXPECT_EQ(r.recovery, 9);
}

TEST(Gtpv2Decode, UnknownIesAreSkippedAndRepeatedOnesTakeTheFirst) {
  Bytes out;
  MessageWriter w(out, uint8_t(MsgType::kEchoRequest), std::nullopt, 1);
  w.ie_raw(250, Bytes{1, 2, 3});  // a type we do not know
  w.u8(IeType::kRecovery, 4);
  w.u8(IeType::kRecovery, 5);  // 29.274 7.7: the repeat is discarded
  w.finish();
  Message m;
  ASSERT_EQ(parse(out, m), Status::kOk);
  EXPECT_EQ(decode_recovery(m), 4);
}

TEST(Gtpv2Parse, HeaderErrors) {
  Message m;
  EXPECT_EQ(parse(Bytes{}, m), Status::kTooShort);
  EXPECT_EQ(parse(Bytes{0x40, 1, 0, 4, 0, 0, 1}, m), Status::kTooShort);
  // T set but only 8 octets.
  EXPECT_EQ(parse(Bytes{0x48, 32, 0, 4, 0, 0, 1, 0}, m), Status::kTooShort);
  // Version 1 (GTPv1-C Echo Request).
  EXPECT_EQ(parse(Bytes{0x32, 1, 0, 4, 0, 0, 0, 0, 0x12, 0x34, 0, 0}, m), Status::kNotVersion2);
  EXPECT_EQ(m.header.version, 1);
  // Length field longer, then shorter than the datagram (no P flag).
  EXPECT_EQ(parse(Bytes{0x40, 1, 0, 9, 0, 0, 1, 0}, m), Status::kLengthMismatch);
  EXPECT_EQ(parse(Bytes{0x40, 1, 0, 4, 0, 0, 1, 0, 0xff}, m), Status::kLengthMismatch);
  // Length shorter than the header it describes.
  EXPECT_EQ(parse(Bytes{0x48, 1, 0, 4, 0, 0, 0, 0, 0, 0, 1, 0}, m), Status::kLengthMismatch);
  // An IE running past the message.
  EXPECT_EQ(parse(Bytes{0x40, 1, 0, 9, 0, 0, 1, 0, 3, 0, 2, 0, 1}, m), Status::kIeOverrun);
  // An IE inside a Bearer Context running past the group.
  EXPECT_EQ(parse(Bytes{0x40, 1, 0, 14, 0, 0, 1, 0, 93, 0, 6, 0, 73, 0, 5, 0, 5, 0}, m),
            Status::kIeOverrun);
}

TEST(Gtpv2Decode, RatTypesMapExplicitly) {
  struct Case {
    uint8_t wire;
    std::optional<core::Rat> rat;
  };
  const Case cases[] = {{1, core::Rat::kUtran}, {2, core::Rat::kGeran}, {3, std::nullopt},
                        {4, std::nullopt},      {5, core::Rat::kUtran}, {6, core::Rat::kEutran},
                        {7, std::nullopt},      {8, core::Rat::kNbIot}, {9, core::Rat::kLteM},
                        {10, core::Rat::kNr},   {0, std::nullopt},      {11, std::nullopt}};
  for (const Case& c : cases) EXPECT_EQ(rat_from_wire(c.wire), c.rat) << int(c.wire);
}

// Real messages from the captures plus every message we build.
std::vector<Bytes> corpus() {
  std::vector<Bytes> out;
  if (have_pcaps()) {
    for (const char* name : kPcaps) {
      for (Captured& c : gtpc_payloads(kPcapDir / name)) out.push_back(std::move(c.payload));
    }
  }
  out.push_back(sample_csr());
  out.push_back(build_echo_response(1, 2));
  out.push_back(build_delete_bearer_request(1, 2, 5));
  Reply r;
  r.type = uint8_t(MsgType::kCreateSessionResponse);
  r.cause = 16;
  r.offending = IeId{1, 0};
  r.fteids = {v4_fteid(Iface::kS5S8PgwC, 1, 7, 1)};
  r.paa_ipv4 = core::Ipv4{2};
  r.pco = {0x80};
  r.bearer = BearerReply{.ebi = 5, .cause = 16, .fteids = {}, .charging_id = 1};
  out.push_back(build_reply(r));
  return out;
}

TEST(Gtpv2Fuzz, TruncationAtEveryLengthNeverCrashes) {
  for (const Bytes& msg : corpus()) {
    for (size_t len = 0; len < msg.size(); ++len) {
      const Bytes cut(msg.begin(), msg.begin() + static_cast<ptrdiff_t>(len));
      const Status s = decode_all(cut);
      // A prefix disagrees with its length field (or is too short), unless it ends where a
      // piggybacked message would have begun.
      const bool piggyback = (msg[0] & 0x10) != 0;
      if (!piggyback) {
        EXPECT_NE(s, Status::kOk) << "length " << len;
      }
    }
  }
}

TEST(Gtpv2Fuzz, RandomMutationsNeverCrash) {
  const uint32_t seed = std::random_device{}();
  std::cout << "seed " << seed << "\n";
  std::mt19937 rng(seed);
  const std::vector<Bytes> base = corpus();
  size_t ok = 0;
  constexpr int kRounds = 20000;
  for (int i = 0; i < kRounds; ++i) {
    Bytes b = base[rng() % base.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !b.empty(); ++e) {
      switch (rng() % 4) {
        case 0: b[rng() % b.size()] = static_cast<uint8_t>(rng()); break;
        case 1: b[rng() % b.size()] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
        case 2: b.resize(rng() % (b.size() + 1)); break;
        default:
          b.insert(b.begin() + static_cast<ptrdiff_t>(rng() % (b.size() + 1)),
                   static_cast<uint8_t>(rng()));
      }
    }
    b.shrink_to_fit();  // exact allocation: ASan catches any read past the end
    if (decode_all(b) == Status::kOk) ++ok;
  }
  std::cout << ok << " of " << kRounds << " mutants still decoded\n";
}

}  // namespace
}  // namespace simcore::gtpc::v2
