// The driver's GTP-C: the requests it sends are what the gateway's own decoders read back
// field by field, tshark decodes them cleanly and names the same fields, and the answers the
// PGW and GGSN build decode into the TEIDs and address the driver learns.
#include "sim/gtpc_peer.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "control/gtpc/gtpv1.h"
#include "control/gtpc/gtpv2.h"
#include "dataplane/packet/rewrite.h"
#include "dataplane/packet/wire.h"
#include "dataplane/testing/pcap_io.h"
#include "dataplane/testing/tshark.h"

namespace simcore::sim {
namespace {

namespace fs = std::filesystem;
namespace v1 = gtpc::v1;
namespace v2 = gtpc::v2;

PeerAttach sample(int gtp, core::Rat rat) {
  PeerAttach a;
  a.gtp = gtp;
  a.imsi = "204080000001234";
  a.imei = "356938035643809";
  a.request.peer_addr = core::Ipv4{0xc6336409};  // 198.51.100.9
  a.request.peer_teid = 0x01020304;
  a.request.apn = "meters.example";
  a.request.rat = rat;
  a.request.mcc = 204;
  a.request.mnc = 8;
  a.control_addr = core::Ipv4{0xc6336401};
  a.control_teid = 0x1001;
  a.seq = 77;
  return a;
}

TEST(GtpcPeer, CreateSessionRequestDecodesToWhatWasAsked) {
  const PeerAttach a = sample(2, core::Rat::kLteM);
  auto bytes = build_attach(a);
  ASSERT_TRUE(bytes.ok()) << bytes.error().message();
  v2::Message m;
  ASSERT_EQ(v2::parse(*bytes, m), v2::Status::kOk);
  EXPECT_EQ(m.header.type, uint8_t(v2::MsgType::kCreateSessionRequest));
  EXPECT_EQ(m.header.seq, 77u);
  v2::CreateSessionRequest r;
  ASSERT_EQ(v2::decode_create_session_request(m, r), v2::Status::kOk);
  EXPECT_EQ(r.imsi, a.imsi);
  EXPECT_EQ(r.mei, a.imei);
  EXPECT_EQ(r.apn, "meters.example");
  EXPECT_EQ(r.rat_type, uint8_t(v2::RatType::kLteM));
  ASSERT_TRUE(r.serving_network.has_value());
  EXPECT_EQ(r.serving_network->mcc, 204);
  EXPECT_EQ(r.serving_network->mnc, 8);
  EXPECT_EQ(r.sender.teid, 0x1001u);
  EXPECT_EQ(r.sender.ipv4, a.control_addr);
  const v2::Fteid* user = r.bearer.peer_user_plane();
  ASSERT_NE(user, nullptr);
  EXPECT_EQ(user->teid, 0x01020304u);
  EXPECT_EQ(user->ipv4, a.request.peer_addr);
  ASSERT_TRUE(r.pco.has_value());
  EXPECT_TRUE(r.pco->dns_ipv4);
}

TEST(GtpcPeer, CreatePdpContextRequestDecodesToWhatWasAsked) {
  const PeerAttach a = sample(1, core::Rat::kUtran);
  auto bytes = build_attach(a);
  ASSERT_TRUE(bytes.ok()) << bytes.error().message();
  v1::Message m;
  ASSERT_EQ(v1::decode_message(*bytes, m), v1::Status::kOk);
  EXPECT_EQ(m.header.type, uint8_t(v1::MsgType::kCreatePdpRequest));
  EXPECT_EQ(m.header.seq, 77);
  v1::CreatePdpRequest r;
  ASSERT_EQ(v1::decode_create_pdp_request(m, r), v1::Status::kOk);
  EXPECT_EQ(r.imsi, a.imsi);
  EXPECT_EQ(r.imei, a.imei);
  EXPECT_EQ(r.apn, "meters.example");
  EXPECT_EQ(r.rat, uint8_t(v1::RatType::kUtran));
  ASSERT_TRUE(r.rai_plmn.has_value());
  EXPECT_EQ(r.rai_plmn->mcc, 204);
  EXPECT_EQ(r.rai_plmn->mnc, 8);
  EXPECT_EQ(r.teid_data, 0x01020304u);
  EXPECT_EQ(r.teid_control, 0x1001u);
  EXPECT_EQ(r.sgsn_control.v4, a.control_addr);
  EXPECT_EQ(r.sgsn_user.v4, a.request.peer_addr);
}

TEST(GtpcPeer, GtpV1CannotCarryLteMOrNr) {
  for (const core::Rat rat : {core::Rat::kLteM, core::Rat::kNr}) {
    auto bytes = build_attach(sample(1, rat));
    ASSERT_FALSE(bytes.ok());
    EXPECT_EQ(bytes.error().code(), core::Code::kInvalidArgument);
  }
}

TEST(GtpcPeer, AnswersDecodeIntoWhatTheDriverLearns) {
  // The PGW's Create Session Response: S5/S8-U PGW F-TEID in the bearer, PGW-C at top level.
  v2::Reply csr;
  csr.type = uint8_t(v2::MsgType::kCreateSessionResponse);
  csr.teid = 0x1001;
  csr.seq = 77;
  csr.cause = 16;
  csr.fteids = {{.iface = uint8_t(v2::Iface::kS5S8PgwC), .instance = 1, .teid = 0x2002,
                 .has_ipv4 = true, .ipv4 = core::Ipv4{0xc0000001}}};
  csr.paa_ipv4 = core::Ipv4{0x0a080005};
  csr.bearer = v2::BearerReply{
      .ebi = 5,
      .cause = 16,
      .fteids = {{.iface = uint8_t(v2::Iface::kS5S8PgwU), .instance = 2, .teid = 0x3003,
                  .has_ipv4 = true, .ipv4 = core::Ipv4{0xc0000001}}},
      .charging_id = 1};
  auto a2 = decode_attach_answer(2, v2::build_reply(csr));
  ASSERT_TRUE(a2.ok()) << a2.error().message();
  EXPECT_TRUE(a2->accepted);
  EXPECT_EQ(a2->seq, 77u);
  EXPECT_EQ(a2->control_teid, 0x2002u);
  EXPECT_EQ(a2->uplink_teid, 0x3003u);
  EXPECT_EQ(a2->ue_addr, core::Ipv4{0x0a080005});

  v1::PdpResponse pdp;
  pdp.teid = 0x1001;
  pdp.seq = 9;
  pdp.cause = 128;
  pdp.teid_data = 0x4004;
  pdp.teid_control = 0x5005;
  pdp.ue_addr = core::Ipv4{0x0a200007};
  pdp.ggsn_control = core::Ipv4{0xc0000001};
  pdp.ggsn_user = core::Ipv4{0xc0000001};
  pdp.qos = {1, 0x23, 0x62, 0x1f};
  auto a1 = decode_attach_answer(1, v1::build_pdp_response(true, pdp));
  ASSERT_TRUE(a1.ok()) << a1.error().message();
  EXPECT_TRUE(a1->accepted);
  EXPECT_EQ(a1->uplink_teid, 0x4004u);
  EXPECT_EQ(a1->control_teid, 0x5005u);
  EXPECT_EQ(a1->ue_addr, core::Ipv4{0x0a200007});

  // A refusal is decoded as one, and anything else is not an answer.
  pdp.cause = 209;
  auto refused = decode_attach_answer(1, v1::build_pdp_response(true, pdp));
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused->accepted);
  EXPECT_EQ(refused->cause, 209);
  EXPECT_FALSE(decode_attach_answer(2, v1::build_pdp_response(true, pdp)).ok());
  EXPECT_FALSE(decode_attach_answer(1, {0x32, 1}).ok());
}

TEST(GtpcPeer, DetachRequestsCarryTheGatewaysTeid) {
  const std::vector<uint8_t> v2bytes = build_detach(2, 0x2002, 78);
  v2::Message m;
  ASSERT_EQ(v2::parse(v2bytes, m), v2::Status::kOk);
  EXPECT_EQ(m.header.type, uint8_t(v2::MsgType::kDeleteSessionRequest));
  EXPECT_EQ(m.header.teid, 0x2002u);
  v2::DeleteRequest d;
  ASSERT_EQ(v2::decode_delete_request(m, d), v2::Status::kOk);
  EXPECT_EQ(d.lbi, 5);
  EXPECT_EQ(gtpc_sequence(v2bytes), 78u);

  const std::vector<uint8_t> v1bytes = build_detach(1, 0x5005, 79);
  v1::Message m1;
  ASSERT_EQ(v1::decode_message(v1bytes, m1), v1::Status::kOk);
  EXPECT_EQ(m1.header.type, uint8_t(v1::MsgType::kDeletePdpRequest));
  EXPECT_EQ(m1.header.teid, 0x5005u);
  v1::DeletePdpRequest d1;
  ASSERT_EQ(v1::decode_delete_pdp_request(m1, d1), v1::Status::kOk);
  EXPECT_EQ(d1.nsapi, 5);
  EXPECT_TRUE(d1.teardown);
  EXPECT_EQ(gtpc_sequence(v1bytes), 79u);
}

// Every request the driver sends, in UDP/IPv4/Ethernet as on the wire, through tshark.
TEST(GtpcPeer, TsharkDecodesEveryRequestWithoutProblems) {
  SIMCORE_REQUIRE_TSHARK();
  std::vector<std::vector<uint8_t>> payloads;
  for (const auto& [gtp, rat] : {std::pair{2, core::Rat::kEutran}, std::pair{2, core::Rat::kNbIot},
                                 std::pair{1, core::Rat::kUtran}, std::pair{1, core::Rat::kGeran}}) {
    auto b = build_attach(sample(gtp, rat));
    ASSERT_TRUE(b.ok());
    payloads.push_back(*b);
  }
  payloads.push_back(build_detach(2, 0x2002, 5));
  payloads.push_back(build_detach(1, 0x5005, 6));
  std::vector<dp::testing::Bytes> frames;
  for (const auto& p : payloads) {
    std::vector<uint8_t> buf(128 + p.size());
    std::copy(p.begin(), p.end(), buf.begin() + 128);
    dp::Frame f{buf, 128, static_cast<uint32_t>(p.size())};
    ASSERT_TRUE(dp::udp_encap(f, {{2, 0, 0, 0, 1, 1}, {2, 0, 0, 0, 1, 2}, 0xc6336401, 0xc0000001,
                                  dp::kGtpcPort, dp::kGtpcPort}));
    frames.emplace_back(f.data(), f.data() + f.data_len);
  }
  const fs::path file = fs::temp_directory_path() / ("gtpc_peer_" + std::to_string(getpid()) + ".pcap");
  ASSERT_TRUE(dp::testing::write_pcap(file, frames));
  EXPECT_EQ(dp::testing::tshark_problems(file), "");
  const auto rows = dp::testing::tshark_fields(
      file, "gtp || gtpv2", {"gtpv2.message_type", "gtp.message", "e212.imsi", "gtpv2.apn", "gtp.apn"});
  ASSERT_EQ(rows.size(), frames.size());
  EXPECT_EQ(rows[0][0], "32");
  EXPECT_EQ(rows[0][2], "204080000001234");
  EXPECT_EQ(rows[0][3], "meters.example");
  EXPECT_EQ(rows[2][1], "0x10");
  EXPECT_EQ(rows[2][2], "204080000001234");
  EXPECT_EQ(rows[2][4], "meters.example");
  EXPECT_EQ(rows[4][0], "36");
  EXPECT_EQ(rows[5][1], "0x14");
  fs::remove(file);
}

}  // namespace
}  // namespace simcore::sim
