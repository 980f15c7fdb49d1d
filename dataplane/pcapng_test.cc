// The annotated pcapng writer, checked by readers nobody here wrote: tshark (comments, lengths,
// interfaces, nanosecond timestamps, no error-severity expert info) and libpcap (bytes and
// timestamps). The tshark checks skip when tshark is absent, unless CI is set.
#include "dataplane/pcapng.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "dataplane/packet/wire.h"
#include "dataplane/testing/frame_builder.h"

namespace simcore::dp {
namespace {

namespace fs = std::filesystem;
using testing::Bytes;
using testing::ip;
using testing::ip4;

const Mac kA{2, 0, 0, 0, 1, 1};
const Mac kB{2, 0, 0, 0, 1, 2};

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/simcore-pcapng-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path path;
};

Bytes gpdu() {
  const testing::Ip4 inner = ip4(ip("10.8.0.7"), ip("192.0.2.10"));
  const testing::Ip4 outer = ip4(ip("198.51.100.1"), ip("192.0.2.1"));
  const Bytes pdu = testing::ipv4(inner, kProtoUdp, testing::udp(inner, 40000, 443, {1, 2, 3}));
  return testing::ethernet(
      kA, kB, kEtherTypeIpv4,
      testing::ipv4(outer, kProtoUdp,
                    testing::udp(outer, kGtpuPort, kGtpuPort, testing::gtpu(255, 0x1234, pdu))));
}

Bytes plain_udp(size_t payload) {
  const testing::Ip4 h = ip4(ip("192.0.2.10"), ip("10.8.0.7"));
  return testing::ethernet(
      kB, kA, kEtherTypeIpv4,
      testing::ipv4(h, kProtoUdp, testing::udp(h, 443, 40000, Bytes(payload, 0x5a))));
}

// Runs a shell command; returns its stdout.
std::string run(const std::string& cmd) {
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    pclose(p);
  }
  return out;
}

bool have_tshark() { return access("/usr/bin/tshark", X_OK) == 0; }

struct Written {
  uint32_t interface;
  uint64_t ts_ns;
  Bytes frame;
  std::string comment;
};

// A G-PDU in on the access port, what left the core port, a downlink drop with an odd-length
// frame and comment (padding), and a frame without a comment.
std::vector<Written> sample() {
  return {
      {0, 1'700'000'000'123'456'789ull, gpdu(), "verdict=FORWARD stage=deliver rule=12"},
      {1, 1'700'000'000'123'457'000ull, plain_udp(4), "verdict=FORWARD stage=deliver rule=12"},
      {1, 1'700'000'001'000'000'001ull, plain_udp(7),
       "verdict=DROP reason=downlink.firewall stage=firewall-in rule=7"},
      {0, 1'700'000'002'000'000'000ull, plain_udp(1), ""},
  };
}

fs::path write_sample(const TempDir& dir) {
  const fs::path file = dir.path / "replay.pcapng";
  auto w = PcapngWriter::open(file.string(), {{"access"}, {"core"}});
  EXPECT_TRUE(w.ok()) << w.error().message();
  if (!w.ok()) return file;
  for (const Written& p : sample()) {
    core::Status st = w->write(p.interface, p.ts_ns, p.frame, p.comment);
    EXPECT_TRUE(st.ok()) << st.error().message();
  }
  EXPECT_EQ(w->packets(), sample().size());
  core::Status st = w->close();
  EXPECT_TRUE(st.ok()) << st.error().message();
  return file;
}

TEST(PcapngWriter, TsharkReadsTheCommentsLengthsAndInterfacesInOrder) {
  if (!have_tshark()) {
    if (std::getenv("CI")) FAIL() << "tshark is required in CI";
    GTEST_SKIP() << "tshark is not installed";
  }
  TempDir dir;
  const fs::path file = write_sample(dir);
  const std::string out =
      run("tshark -r " + file.string() +
          " -T fields -E separator=/t -e frame.interface_name -e frame.len -e frame.time_epoch"
          " -e frame.comment 2>/dev/null");
  std::string want;
  for (const Written& p : sample()) {
    char ts[32];
    std::snprintf(ts, sizeof ts, "%llu.%09llu",
                  static_cast<unsigned long long>(p.ts_ns / 1'000'000'000),
                  static_cast<unsigned long long>(p.ts_ns % 1'000'000'000));
    want += std::string(p.interface == 0 ? "access" : "core") + "\t" +
            std::to_string(p.frame.size()) + "\t" + ts + "\t" + p.comment + "\n";
  }
  EXPECT_EQ(out, want);
  // The G-PDU is dissected as one (the block's packet data is where it belongs).
  EXPECT_EQ(run("tshark -r " + file.string() +
                " -Y 'gtp.teid == 0x1234' -T fields -e frame.number"
                " 2>/dev/null"),
            "1\n");
}

TEST(PcapngWriter, TsharkReportsNoErrorSeverityExpertInfo) {
  if (!have_tshark()) {
    if (std::getenv("CI")) FAIL() << "tshark is required in CI";
    GTEST_SKIP() << "tshark is not installed";
  }
  TempDir dir;
  const fs::path file = write_sample(dir);
  // tshark -z expert lists each severity that occurs under a heading such as "Errors (2)";
  // packet comments show up under "Comments".
  const std::string out = run("tshark -r " + file.string() + " -q -z expert 2>&1");
  EXPECT_EQ(out.find("Errors ("), std::string::npos) << out;
  EXPECT_EQ(out.find("Warnings ("), std::string::npos) << out;
  EXPECT_NE(out.find("Comments ("), std::string::npos) << out;
  EXPECT_NE(out.find("verdict=DROP reason=downlink.firewall"), std::string::npos) << out;
  // A truncated or malformed block would make tshark complain and exit non-zero.
  EXPECT_EQ(run("tshark -r " + file.string() + " >/dev/null 2>&1; echo $?"), "0\n");
}

TEST(PcapngWriter, LibpcapReadsBackTheBytesAndNanosecondTimestamps) {
  TempDir dir;
  const fs::path file = write_sample(dir);
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p =
      pcap_open_offline_with_tstamp_precision(file.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
  ASSERT_NE(p, nullptr) << err;
  EXPECT_EQ(pcap_datalink(p), DLT_EN10MB);
  pcap_pkthdr* h;
  const u_char* data;
  size_t i = 0;
  const std::vector<Written> want = sample();
  while (pcap_next_ex(p, &h, &data) == 1) {
    ASSERT_LT(i, want.size());
    EXPECT_EQ(Bytes(data, data + h->caplen), want[i].frame) << "frame " << i;
    EXPECT_EQ(h->len, want[i].frame.size());
    EXPECT_EQ(static_cast<uint64_t>(h->ts.tv_sec), want[i].ts_ns / 1'000'000'000) << i;
    EXPECT_EQ(static_cast<uint64_t>(h->ts.tv_usec), want[i].ts_ns % 1'000'000'000) << i;
    ++i;
  }
  EXPECT_EQ(i, want.size());
  pcap_close(p);
}

TEST(PcapngWriter, ErrorsNameThePath) {
  TempDir dir;
  const std::string missing = (dir.path / "no" / "such" / "dir.pcapng").string();
  auto bad = PcapngWriter::open(missing, {{"access"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), core::Code::kUnavailable);
  EXPECT_NE(bad.error().message().find(missing), std::string::npos) << bad.error().message();

  auto none = PcapngWriter::open((dir.path / "x.pcapng").string(), {});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), core::Code::kInvalidArgument);

  const std::string path = (dir.path / "y.pcapng").string();
  auto w = PcapngWriter::open(path, {{"access"}, {"core"}});
  ASSERT_TRUE(w.ok()) << w.error().message();
  const Bytes f = gpdu();
  core::Status st = w->write(2, 0, f, "x");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), core::Code::kInvalidArgument);
  EXPECT_NE(st.error().message().find(path), std::string::npos);
  EXPECT_TRUE(w->close().ok());
  EXPECT_TRUE(w->close().ok());  // twice is fine
  st = w->write(0, 0, f, "x");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), core::Code::kFailedPrecondition);
}

// A full disk: the buffered writes fail at the latest when close() flushes them.
TEST(PcapngWriter, AWriteErrorIsReportedByWriteOrClose) {
  if (access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full";
  auto w = PcapngWriter::open("/dev/full", {{"access"}});
  if (!w.ok()) {
    EXPECT_EQ(w.error().code(), core::Code::kUnavailable);
    return;
  }
  const Bytes f = gpdu();
  bool failed = false;
  for (int i = 0; i < 10 && !failed; ++i) failed = !w->write(0, 0, f, "x").ok();
  core::Status st = w->close();
  EXPECT_TRUE(failed || !st.ok());
  if (!st.ok()) {
    EXPECT_EQ(st.error().code(), core::Code::kUnavailable);
    EXPECT_NE(st.error().message().find("/dev/full"), std::string::npos) << st.error().message();
  }
}

// A moved-from writer is closed; the moved-to one keeps writing the same file.
TEST(PcapngWriter, MovesKeepOneOwnerOfTheFile) {
  TempDir dir;
  const std::string path = (dir.path / "m.pcapng").string();
  auto opened = PcapngWriter::open(path, {{"access"}});
  ASSERT_TRUE(opened.ok());
  PcapngWriter w = std::move(*opened);
  EXPECT_FALSE(opened->write(0, 0, gpdu(), "").ok());
  EXPECT_TRUE(w.write(0, 0, gpdu(), "a").ok());
  EXPECT_TRUE(w.close().ok());
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  ASSERT_NE(p, nullptr) << err;
  pcap_pkthdr* h;
  const u_char* data;
  EXPECT_EQ(pcap_next_ex(p, &h, &data), 1);
  EXPECT_EQ(pcap_next_ex(p, &h, &data), PCAP_ERROR_BREAK);
  pcap_close(p);
}

// ------------------------------------------------------------------ comments

struct CommentCase {
  const char* name;
  Outcome outcome;
  DecidedBy by;
  const char* want;
};

Outcome policed(core::Verdict v, core::DropReason r = core::DropReason::kNone,
                PipelineDrop d = PipelineDrop::kNone) {
  Outcome o;
  o.policed = true;
  o.verdict = v;
  o.policy_drop = r;
  o.drop = d;
  o.out = v == core::Verdict::kDrop || d != PipelineDrop::kNone ? Port::kNone : Port::kCore;
  return o;
}
Outcome parsed(ParseStatus s, Port out = Port::kNone, PipelineDrop d = PipelineDrop::kNone) {
  Outcome o;
  o.parse = s;
  o.out = out;
  o.drop = d;
  return o;
}

Outcome punted(Punt why) {
  Outcome o;
  o.out = Port::kControl;
  o.punt = why;
  return o;
}

using core::DropReason;
using core::Stage;
using core::Verdict;

const CommentCase kComments[] = {
    {"forwarded by a rule",
     policed(Verdict::kForward),
     {Stage::kDeliver, 12},
     "verdict=FORWARD stage=deliver rule=12"},
    {"forwarded by the default action",
     policed(Verdict::kForward),
     {Stage::kDeliver, 0},
     "verdict=FORWARD stage=deliver rule=default"},
    {"delivered as a reply to a stateful flow",
     policed(Verdict::kDeliver),
     {Stage::kDeliver, core::kFlowRuleId},
     "verdict=DELIVER stage=deliver rule=flow"},
    {"dropped by the outbound chain",
     policed(Verdict::kDrop, DropReason::kUplinkFirewall),
     {Stage::kFirewallOut, 7},
     "verdict=DROP reason=uplink.firewall stage=firewall-out rule=7"},
    {"dropped by the inbound default action",
     policed(Verdict::kDrop, DropReason::kDownlinkFirewall),
     {Stage::kFirewallIn, 0},
     "verdict=DROP reason=downlink.firewall stage=firewall-in rule=default"},
    {"no session: no rule",
     policed(Verdict::kDrop, DropReason::kUplinkNoSession),
     {Stage::kSession, 0},
     "verdict=DROP reason=uplink.no_session stage=session"},
    {"isolation after the firewall allowed it: the stage decided, not the rule",
     policed(Verdict::kDrop, DropReason::kUplinkIsolation),
     {Stage::kIsolation, 3},
     "verdict=DROP reason=uplink.isolation stage=isolation"},
    {"tunnelled by the policy, dropped by the data plane",
     policed(Verdict::kTunnel, DropReason::kNone, PipelineDrop::kUplinkTunnelUnavailable),
     {Stage::kRoute, 0},
     "verdict=DROP reason=uplink.tunnel_unavailable policy=TUNNEL stage=route rule=default"},
    {"malformed GTP-U",
     parsed(ParseStatus::kMalformedGtpu),
     {},
     "verdict=DROP reason=malformed.gtpu stage=parse"},
    {"echo request answered",
     parsed(ParseStatus::kGtpuEchoRequest, Port::kAccess),
     {},
     "verdict=REPLY reason=gtpu.echo_request stage=parse"},
    {"echo request without room for the reply",
     parsed(ParseStatus::kGtpuEchoRequest, Port::kNone, PipelineDrop::kNoHeadroom),
     {},
     "verdict=DROP reason=dataplane.no_headroom stage=pipeline"},
    {"not GTP-U on the access port",
     parsed(ParseStatus::kOk, Port::kNone, PipelineDrop::kAccessNotGtpu),
     {},
     "verdict=DROP reason=access.not_gtpu stage=pipeline"},
    {"ARP request answered",
     parsed(ParseStatus::kArp, Port::kCore),
     {},
     "verdict=REPLY reason=arp stage=parse"},
    {"ARP for another address",
     parsed(ParseStatus::kArp, Port::kNone, PipelineDrop::kArpNotForUs),
     {},
     "verdict=DROP reason=arp.not_for_us stage=pipeline"},
    {"GTP-C punted to control",
     punted(Punt::kGtpc),
     {},
     "verdict=PUNT reason=punt.gtpc stage=pipeline"},
    {"TTL exceeded before the policy",
     parsed(ParseStatus::kOk, Port::kNone, PipelineDrop::kTtlExceeded),
     {},
     "verdict=DROP reason=ipv4.ttl_exceeded stage=pipeline"},
};

TEST(PcapngComment, NamesVerdictReasonStageAndRule) {
  for (const CommentCase& c : kComments) {
    std::array<char, kCommentMax> buf;
    EXPECT_EQ(format_comment(c.outcome, c.by, buf), c.want) << c.name;
  }
}

TEST(PcapngComment, TruncatesToTheBuffer) {
  std::array<char, 10> buf;
  EXPECT_EQ(format_comment(policed(Verdict::kForward), {Stage::kDeliver, 12}, buf), "verdict=FO");
}

// Every drop name fits in kCommentMax with the longest other parts.
TEST(PcapngComment, TheLongestCommentFits) {
  size_t longest = 0;
  for (size_t r = 0; r < kPolicyDropCount; ++r) {
    Outcome o = policed(Verdict::kDrop, static_cast<DropReason>(r));
    std::array<char, kCommentMax + 1> buf;
    longest = std::max(longest, format_comment(o, {Stage::kFirewallOut, 4294967294u}, buf).size());
  }
  for (size_t d = 0; d < kPipelineDropCount; ++d) {
    Outcome o = policed(Verdict::kTunnel, DropReason::kNone, static_cast<PipelineDrop>(d));
    std::array<char, kCommentMax + 1> buf;
    longest = std::max(longest, format_comment(o, {Stage::kFirewallOut, 4294967294u}, buf).size());
  }
  for (size_t s = 0; s < kParseStatusCount; ++s) {
    std::array<char, kCommentMax + 1> buf;
    longest =
        std::max(longest, format_comment(parsed(static_cast<ParseStatus>(s)), {}, buf).size());
  }
  for (size_t p = 0; p < kPuntCount; ++p) {
    std::array<char, kCommentMax + 1> buf;
    longest = std::max(longest, format_comment(punted(static_cast<Punt>(p)), {}, buf).size());
  }
  EXPECT_LT(longest, kCommentMax);
}

}  // namespace
}  // namespace simcore::dp
