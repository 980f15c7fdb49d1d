// Real captures through the attach path: the Create Session Requests that magma's and nDPI's
// SGWs/MMEs sent are accepted once their IMSIs are provisioned (every answer decoded by
// tshark), and every GTP-C datagram of the edge-case captures is handled without a crash with
// every answer decodable. Service (SQLite, compiler) and Signalling are the product's; only the
// tables sink and the frame transmit are test seams.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "control/daemon/service_test_support.h"
#include "control/daemon/signalling.h"
#include "control/gtpc/gtpv2.h"
#include "dataplane/packet/checksum.h"
#include "dataplane/packet/parse.h"
#include "dataplane/pipeline.h"
#include "dataplane/testing/frame_builder.h"
#include "dataplane/testing/pcap_io.h"
#include "dataplane/testing/tshark.h"

namespace simcore::ctl {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using dp::testing::Bytes;

const fs::path kPcaps = SIMCORE_PCAP_DIR;

std::string first(const std::string& joined) { return joined.substr(0, joined.find(',')); }

// Feeds every frame of `file` to a Signalling on `address` and returns what it sent.
// `fix_checksums`: IPv4 header checksums recomputed first, as a replay tool does
// (tcprewrite --fixcsum) for synthesized captures such as nDPI's, whose headers carry wrong
// ones that any IP stack, ours included, drops.
std::vector<Bytes> answer_capture(Service& svc, const fs::path& file, core::Ipv4 address,
                                  bool fix_checksums = false) {
  std::vector<Bytes> sent;
  Signalling::Options o;
  o.address = address;
  o.mac = {2, 0, 0, 0, 0, 1};
  o.restart_counter = svc.gtp_restart_counter();
  Signalling sig(
      svc.attach_backend(), o,
      [&](std::span<const uint8_t> f) {
        sent.emplace_back(f.begin(), f.end());
        return true;
      },
      nullptr);
  int64_t now = 1000;
  // The edge-case capture's second interface has another snapshot length: libpcap reads the
  // frames before it and then refuses the file.
  const bool readable = file.filename() != "pcapplusplus_gtpv2_edge_cases.pcap";
  for (Bytes frame : dp::testing::read_frames(file, readable)) {
    if (fix_checksums && frame.size() >= 34 && frame[12] == 0x08 && frame[13] == 0x00) {
      const uint16_t c = dp::testing::ipv4_header_checksum(frame.data() + 14);
      frame[24] = static_cast<uint8_t>(c >> 8);
      frame[25] = static_cast<uint8_t>(c);
    }
    (void)sig.on_frame(frame, now);
    sig.finish({}, now += 1);
  }
  return sent;
}

// A network with a capture's APN (APNs are fixed at creation) and `pool`, and a group in it
// with the default profile; returns the group's id ("" after a failed expectation).
std::string capture_group(testing::ServiceHarness& h, const std::string& apn,
                          const std::string& pool) {
  const testing::Reply net =
      h.call(http::Verb::post, "/networks", R"({"name":"capture","apnName":")" + apn + R"("})");
  EXPECT_EQ(net.status, 201) << net.body;
  if (net.status != 201) return "";
  const std::string net_id(net.json().at("id").as_string());
  const testing::Reply made_pool =
      h.call(http::Verb::post, "/networks/" + net_id + "/ippools", R"({"cidr":")" + pool + R"("})");
  EXPECT_EQ(made_pool.status, 201) << made_pool.body;
  const json::value groups = h.call(http::Verb::get, "/thingsgroups").json();
  const std::string profile(groups.as_array().at(0).at("ipProfileId").as_string());
  const testing::Reply group = h.call(
      http::Verb::post, "/thingsgroups",
      R"({"name":"capture","networkId":")" + net_id + R"(","ipProfileId":")" + profile + R"("})");
  EXPECT_EQ(group.status, 201) << group.body;
  return group.status == 201 ? std::string(group.json().at("id").as_string()) : "";
}

struct Capture {
  const char* file;
  const char* name;
};

class CreateSessionFromCapture : public ::testing::TestWithParam<Capture> {};

TEST_P(CreateSessionFromCapture, IsAcceptedOnceItsImsisAreProvisioned) {
  SIMCORE_REQUIRE_TSHARK();
  SIMCORE_REQUIRE_PCAPS(kPcaps);
  const fs::path file = kPcaps / GetParam().file;
  const auto requests = dp::testing::tshark_fields(
      file, "gtpv2.message_type == 32", {"e212.imsi", "gtpv2.apn", "e212.mcc", "ip.dst"});
  ASSERT_FALSE(requests.empty()) << file;

  // The capture's serving networks are not ours: this lab serves them too.
  DaemonConfig cfg;
  std::set<std::string> imsis;
  for (const auto& r : requests) {
    cfg.served_mccs.push_back(static_cast<uint16_t>(std::stoi(first(r[2]))));
    imsis.insert(first(r[0]));
  }
  testing::ServiceHarness h(cfg);
  const std::string group_id = capture_group(h, first(requests[0][1]), "10.99.0.0/16");
  ASSERT_FALSE(group_id.empty());
  std::string things = R"({"things":[)";
  int n = 0;
  for (const std::string& imsi : imsis) {
    things += (n ? "," : "") + std::string(R"({"iccid":"89310000000000000)") +
              std::to_string(10 + n) + R"(","imsi":")" + imsi + R"(","thingsGroupId":")" +
              group_id + R"("})";
    ++n;
  }
  const testing::Reply made = h.call(http::Verb::post, "/things", things + "]}");
  ASSERT_EQ(made.status, 201) << made.body;
  std::vector<std::string> ids;
  const json::value made_things = made.json();
  for (const json::value& t : made_things.as_array()) {
    ids.push_back(std::string(t.at("thingId").as_string()));
    ASSERT_EQ(
        h.call(http::Verb::put, "/things/" + ids.back() + "/state", R"({"state":"ACTIVE"})").status,
        200);
  }

  const auto ours = core::Ipv4::parse(requests[0][3]);
  ASSERT_TRUE(ours.ok());
  const std::vector<Bytes> sent = answer_capture(*h.svc, file, *ours, /*fix_checksums=*/true);
  const fs::path out = h.dir.path / "answers.pcap";
  ASSERT_TRUE(dp::testing::write_pcap(out, sent));
  EXPECT_EQ(dp::testing::tshark_problems(out), "");
  const auto answers = dp::testing::tshark_fields(out, "gtpv2.message_type == 33", {"gtpv2.cause"});
  ASSERT_EQ(answers.size(), requests.size());
  for (const auto& a : answers) EXPECT_EQ(first(a[0]), "16") << "Create Session Response cause";
  for (const std::string& id : ids) {
    const json::value s = h.call(http::Verb::get, "/things/" + id + "/session").json();
    EXPECT_TRUE(s.at("online").as_bool()) << "thing " << id;
  }
}

INSTANTIATE_TEST_SUITE_P(
    SharedPcaps, CreateSessionFromCapture,
    ::testing::Values(Capture{"magma_s8_attach_gtpu.pcapng", "magma_s8"},
                      Capture{"magma_s8_attach_idle_connected.pcapng", "magma_s8_idle"},
                      Capture{"magma_s11_nsa_connection.pcap", "magma_s11"},
                      Capture{"ndpi_gtpv2_create_delete.pcap", "ndpi"}),
    [](const ::testing::TestParamInfo<Capture>& i) { return std::string(i.param.name); });


// magma's S8 capture end to end: its Create Session Request sets up a session in simcored, and
// the capture's G-PDUs then flow through that session in the data plane's pipeline (the code
// the DPDK workers run), as a replay tool that learns TEIDs would send them: uplink G-PDUs to
// the user-plane F-TEID our answer gave, the capture's downlink packets into the core port.
// The Thing holds the address magma's PGW gave the UE (locked), so the inner packets are the
// capture's own bytes.
TEST(MagmaS8, GpdusFlowThroughTheSessionItsCreateSessionSetUp) {
  SIMCORE_REQUIRE_TSHARK();
  SIMCORE_REQUIRE_PCAPS(kPcaps);
  namespace v2 = gtpc::v2;
  const fs::path file = kPcaps / "magma_s8_attach_gtpu.pcapng";
  const auto csr = dp::testing::tshark_fields(
      file, "gtpv2.message_type == 32", {"e212.imsi", "gtpv2.apn", "e212.mcc", "ip.dst"});
  const auto csresp = dp::testing::tshark_fields(
      file, "gtpv2.message_type == 33", {"gtpv2.pdn_addr_and_prefix.ipv4", "gtpv2.f_teid_gre_key",
                                         "gtpv2.f_teid_ipv4"});
  ASSERT_EQ(csr.size(), 1u);
  ASSERT_EQ(csresp.size(), 1u);
  const std::string ue = csresp[0][0];                        // 192.168.126.1
  const std::string magma_teid = csresp[0][1].substr(csresp[0][1].rfind(',') + 1);  // S5-U PGW
  const std::string magma_pgw_u = csresp[0][2].substr(csresp[0][2].rfind(',') + 1);

  DaemonConfig cfg;
  cfg.served_mccs.push_back(static_cast<uint16_t>(std::stoi(first(csr[0][2]))));
  testing::ServiceHarness h(cfg);
  const std::string group_id = capture_group(h, first(csr[0][1]), "192.168.126.0/24");
  ASSERT_FALSE(group_id.empty());
  const testing::Reply made = h.call(
      http::Verb::post, "/things",
      R"({"things":[{"iccid":"8931000000000000077","imsi":")" + first(csr[0][0]) +
          R"(","state":"ACTIVE","ipLock":true,"lockedAddress":")" + ue +
          R"(","thingsGroupId":")" + group_id + R"("}]})");
  ASSERT_EQ(made.status, 201) << made.body;

  const auto pgw_c = core::Ipv4::parse(first(csr[0][3]));
  ASSERT_TRUE(pgw_c.ok());
  const std::vector<Bytes> sent = answer_capture(*h.svc, file, *pgw_c);
  // Our Create Session Response: the uplink TEID and user-plane address the SGW must use.
  std::optional<v2::Fteid> ours;
  for (const Bytes& frame : sent) {
    dp::PacketView v{};
    if (dp::parse_frame(frame.data(), uint32_t(frame.size()), dp::ParseMode::kAccess, v) !=
        dp::ParseStatus::kOk) {
      continue;
    }
    const size_t at = v.outer.l4_off + dp::kUdpHeaderLen;
    v2::Message m;
    v2::Reply r;
    if (v2::parse(std::span(frame).subspan(at), m) != v2::Status::kOk ||
        m.header.type != uint8_t(v2::MsgType::kCreateSessionResponse) ||
        v2::decode_reply(m, r) != v2::Status::kOk || r.cause != 16 || !r.bearer) {
      continue;
    }
    for (const v2::Fteid& f : r.bearer->fteids) {
      if (f.iface == uint8_t(v2::Iface::kS5S8PgwU)) ours = f;
    }
    EXPECT_EQ(r.paa_ipv4, core::Ipv4::parse(ue).value());
  }
  ASSERT_TRUE(ours.has_value()) << "no accepted Create Session Response";
  ASSERT_NE(h.sink.last, nullptr);

  const dp::PortConfig ports{ours->ipv4.value, dp::testing::ip("203.0.113.2"),
                             dp::Mac{2, 0, 0, 0, 1, 1}, dp::Mac{2, 0, 0, 0, 1, 2},
                             dp::Mac{2, 0, 0, 0, 2, 1}, dp::Mac{2, 0, 0, 0, 2, 2}};
  core::FlowMemory flows;
  dp::TableClassifier classify{*h.sink.last, flows};
  dp::NeighbourTable neighbours;
  dp::WorkerContext worker;
  const uint32_t magma_uplink = uint32_t(std::stoul(magma_teid, nullptr, 16));
  const uint32_t magma_pgw = dp::testing::ip(magma_pgw_u.c_str());
  size_t up = 0, down = 0;
  for (Bytes frame : dp::testing::read_frames(file)) {
    dp::PacketView v{};
    if (dp::parse_frame(frame.data(), uint32_t(frame.size()), dp::ParseMode::kAccess, v) !=
            dp::ParseStatus::kOk ||
        !v.has_gtpu || v.inner_version != 4) {
      continue;
    }
    if (v.outer.dst == magma_pgw && v.gtpu.teid == magma_uplink) {
      // Uplink on S8: to our F-TEID (address and TEID), the capture's inner packet untouched.
      uint8_t* ip = frame.data() + v.outer.off;
      for (int i = 0; i < 4; ++i) ip[16 + i] = uint8_t(ours->ipv4.value >> (24 - 8 * i));
      ip[10] = ip[11] = 0;
      const uint16_t c = dp::internet_checksum(ip, v.outer.hdr_len);
      ip[10] = uint8_t(c >> 8);
      ip[11] = uint8_t(c);
      uint8_t* teid = frame.data() + v.gtpu.off + 4;
      for (int i = 0; i < 4; ++i) teid[i] = uint8_t(ours->teid >> (24 - 8 * i));
      dp::testing::OwnedFrame f(frame);
      const dp::Outcome o = dp::process(classify, ports, neighbours, dp::Port::kAccess, f.frame,
                                        worker);
      EXPECT_EQ(o.out, dp::Port::kCore) << "uplink G-PDU " << up;
      EXPECT_EQ(o.verdict, core::Verdict::kForward);
      // What leaves the core port is the capture's inner packet, byte for byte after the TTL.
      const Bytes out = f.out();
      ASSERT_GE(out.size(), 14u + v.inner.total_len);
      EXPECT_TRUE(std::equal(out.begin() + 14 + 12, out.begin() + 14 + v.inner.total_len,
                             frame.begin() + v.inner.off + 12));
      ++up;
    } else if (v.outer.src == magma_pgw) {
      // Downlink: what magma's PGW tunnelled to the SGW arrives here on the core side.
      Bytes inner(frame.begin() + v.inner.off, frame.begin() + v.inner.off + v.inner.total_len);
      dp::testing::OwnedFrame f(dp::testing::ethernet(dp::Mac{2, 0, 0, 0, 2, 1},
                                                      dp::Mac{2, 0, 0, 0, 2, 2},
                                                      dp::kEtherTypeIpv4, inner));
      const dp::Outcome o =
          dp::process(classify, ports, neighbours, dp::Port::kCore, f.frame, worker);
      EXPECT_EQ(o.out, dp::Port::kAccess) << "downlink packet " << down;
      dp::PacketView w{};
      const Bytes out = f.out();
      ASSERT_EQ(dp::parse_frame(out.data(), uint32_t(out.size()), dp::ParseMode::kAccess, w),
                dp::ParseStatus::kOk);
      // Toward the SGW's S5-U F-TEID of the capture's Create Session Request.
      EXPECT_EQ(w.outer.dst, v.outer.dst);
      EXPECT_EQ(w.gtpu.teid, v.gtpu.teid);
      ++down;
    }
  }
  // Every G-PDU of the session, each way, as tshark counts them in the capture.
  EXPECT_EQ(up, dp::testing::tshark_fields(file, "gtp.message == 0xff && gtp.teid == " + magma_teid,
                                           {"frame.number"})
                    .size());
  EXPECT_EQ(down, dp::testing::tshark_fields(file, "gtp.message == 0xff && ip.src == " +
                                                       magma_pgw_u + " && gtp.teid != " + magma_teid,
                                             {"frame.number"})
                      .size());
  EXPECT_GE(up, 10u);
  EXPECT_EQ(worker.counters.tx[size_t(dp::Port::kCore)], up);
  EXPECT_EQ(worker.counters.tx[size_t(dp::Port::kAccess)], down);
}

TEST(AttachCaptures, EveryGtpcDatagramOfEveryCaptureIsHandledAndEveryAnswerDecodes) {
  SIMCORE_REQUIRE_TSHARK();
  SIMCORE_REQUIRE_PCAPS(kPcaps);
  testing::ServiceHarness h;
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(kPcaps)) {
    const fs::path& file = entry.path();
    if (file.extension() != ".pcap" && file.extension() != ".pcapng") continue;
    // Answer as every address the capture sends GTP-C to.
    std::set<std::string> targets;
    for (const auto& r : dp::testing::tshark_fields(file, "udp.dstport == 2123", {"ip.dst"})) {
      if (!r[0].empty()) targets.insert(first(r[0]));
    }
    for (const std::string& t : targets) {
      const auto addr = core::Ipv4::parse(t);
      ASSERT_TRUE(addr.ok()) << t;
      const std::vector<Bytes> sent = answer_capture(*h.svc, file, *addr);
      if (sent.empty()) continue;
      const fs::path out = h.dir.path / (file.stem().string() + "-" + t + ".pcap");
      ASSERT_TRUE(dp::testing::write_pcap(out, sent));
      EXPECT_EQ(dp::testing::tshark_problems(out), "") << file << " as " << t;
      ++files;
    }
  }
  EXPECT_GE(files, 4u);  // the GTPv2 captures, the edge cases and the GTPv1 ones answered
}

}  // namespace
}  // namespace simcore::ctl
