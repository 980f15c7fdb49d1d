// Real captures from other projects (../shared/pcaps, see its README): every frame through the
// parser and the pipeline with an empty account. No crash, nothing sent, and the number of
// frames per parse status equals what tshark counts in the same files (commands below).
// Skips when the folder is absent.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>

#include "core/compiler.h"
#include "dataplane/packet/wire.h"
#include "dataplane/pipeline.h"
#include "dataplane/testing/frame_builder.h"
#include "dataplane/testing/pcap_io.h"

namespace simcore::dp {
namespace {

using testing::Bytes;

const std::filesystem::path kDir = SIMCORE_PCAP_DIR;

using testing::read_frames;

using Counts = std::map<std::string, int>;

// Expected counts per file, access-port parse (GTP-U decoded on UDP port 2152). Computed with
// tshark 4.0 with IP reassembly off, so each frame is judged on its own:
//   T='tshark -o ip.defragment:FALSE -o ip.check_checksum:TRUE -r FILE'
//   total frames:                 $T | wc -l
//   unsupported.ethertype:        $T -Y 'not ip' | wc -l
//   ipv4.fragment:                $T -Y 'ip.flags.mf==1 or ip.frag_offset>0' | wc -l
//   ipv4.bad_checksum:            $T -Y 'ip.checksum.status==0' | wc -l
//   gtpu.echo_request:            $T -Y 'gtp.message==1' | wc -l
//   unsupported.inner_ipv6:       $T -Y 'gtp.message==255 and ipv6' | wc -l
//   ok:                           the remaining frames (IPv4 not GTP-U, and G-PDUs with IPv4)
//   of which G-PDUs:              $T -Y 'gtp.message==255 and ip.version==4 and not ipv6
//                                      and not (ip.flags.mf==1 or ip.frag_offset>0)' | wc -l
// pcapplusplus_gtpv2_edge_cases.pcap is a pcapng whose second interface has another snapshot
// length: tshark reads its 6 frames, libpcap 1.10 refuses it before the first.
struct FileCase {
  const char* file;
  int frames;
  Counts statuses;
  int gpdus;
  bool readable = true;
};

const FileCase kFiles[] = {
    {"magma_s11_nsa_connection.pcap", 70, {{"ok", 70}}, 0},
    {"magma_s8_attach_gtpu.pcapng",
     240,
     {{"ok", 226}, {"arp", 10}, {"gtpu.echo_request", 4}},
     40},
    {"magma_s8_attach_idle_connected.pcapng",
     257,
     {{"ok", 245}, {"arp", 10}, {"gtpu.echo_request", 2}},
     40},
    {"ndpi_gtpv2_create_delete.pcap", 4, {{"ok", 2}, {"ipv4.bad_checksum", 2}}, 0},
    {"ndpi_ikev2_esp.pcapng", 6, {{"ok", 6}}, 0},
    {"ndpi_ipv6_in_gtp.pcap", 2, {{"unsupported.inner_ipv6", 2}}, 0},
    {"pcapplusplus_gtpu_icmp.pcap", 102, {{"ok", 102}}, 102},
    {"pcapplusplus_gtpv2_edge_cases.pcap", 0, {}, 0, false},
    {"tcpdump_ikev2four.pcap", 21, {{"ok", 21}}, 0},
    {"zeek_gtp1_gn_normal_incl_fragmentation.pcap", 108, {{"ok", 32}, {"ipv4.fragment", 76}}, 32},
    {"zeek_gtp_create_pdp_ctx.pcap", 4, {{"ok", 4}}, 0},
    {"zeek_gtp_ext_header.pcap", 2, {{"ipv4.fragment", 2}}, 0},
    {"zeek_gtp7_ipv6.pcap", 2, {{"unsupported.inner_ipv6", 2}}, 0},
    {"zeek_gtp4_udp_2152_inside.pcap", 1, {{"ok", 1}}, 1},
};

TEST(PcapReplay, ParseStatusesMatchTshark) {
  if (!std::filesystem::is_directory(kDir)) {
    GTEST_SKIP() << "no captures at " << kDir << " (see ../shared/pcaps/README.md)";
  }
  for (const FileCase& c : kFiles) {
    SCOPED_TRACE(c.file);
    const std::vector<Bytes> frames = read_frames(kDir / c.file, c.readable);
    EXPECT_EQ(static_cast<int>(frames.size()), c.frames);
    Counts got;
    int gpdus = 0;
    for (const Bytes& b : frames) {
      const std::vector<uint8_t> exact(b);  // exact size: a read past the end is an ASan error
      PacketView v;
      const ParseStatus s =
          parse_frame(exact.data(), static_cast<uint32_t>(exact.size()), ParseMode::kAccess, v);
      ++got[parse_status_name(s)];
      gpdus += s == ParseStatus::kOk && v.has_gtpu;
    }
    EXPECT_EQ(got, c.statuses);
    EXPECT_EQ(gpdus, c.gpdus);
  }
}

TEST(PcapReplay, EveryFrameThroughBothPortsWithAnEmptyAccount) {
  if (!std::filesystem::is_directory(kDir)) {
    GTEST_SKIP() << "no captures at " << kDir << " (see ../shared/pcaps/README.md)";
  }
  core::Account account;
  core::Compiler compiler;
  const auto tables = compiler.compile(account.model()).value();
  const PortConfig ports{
      testing::ip("192.0.0.1"), testing::ip("192.0.0.2"), Mac{}, Mac{}, Mac{}, Mac{}};
  core::FlowMemory flows;
  TableClassifier classify{*tables, flows};
  NeighbourTable neighbours;
  WorkerContext worker;
  Counters& counters = worker.counters;
  uint64_t frames = 0, echo_requests = 0;
  for (const FileCase& c : kFiles) {
    for (const Bytes& b : read_frames(kDir / c.file, c.readable)) {
      for (const Port in : {Port::kAccess, Port::kCore}) {
        testing::OwnedFrame f(b);
        const Outcome o = process(classify, ports, neighbours, in, f.frame, worker);
        // With no session only Echo Requests are answered.
        EXPECT_EQ(o.out, o.parse == ParseStatus::kGtpuEchoRequest && in == Port::kAccess
                             ? Port::kAccess
                             : Port::kNone);
        echo_requests += o.parse == ParseStatus::kGtpuEchoRequest && in == Port::kAccess;
      }
      ++frames;
    }
  }
  EXPECT_EQ(counters.rx[0], frames);
  EXPECT_EQ(counters.rx[1], frames);
  EXPECT_EQ(counters.echo_replies, echo_requests);
  EXPECT_EQ(counters.tx[0], echo_requests);
  EXPECT_EQ(counters.tx[1], 0u);
  // G-PDUs: none is addressed to 192.0.0.1, so none reaches the (empty) session table.
  EXPECT_EQ(counters.policy_drop[size_t(core::DropReason::kUplinkNoSession)] +
                counters.pipeline_drop[size_t(PipelineDrop::kAccessNotForUs)],
            215u);
  EXPECT_EQ(echo_requests, 6u);
}

}  // namespace
}  // namespace simcore::dp
