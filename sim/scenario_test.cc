// Scenario parsing (bad files name the field at fault) and the frame encoder (every frame
// parses as the data plane will see it; every malformation gets the status it promises).
#include "sim/scenario.h"

#include <gtest/gtest.h>

#include "dataplane/packet/parse.h"
#include "sim/encode.h"
#include "sim/generator.h"

namespace simcore::sim {
namespace {

constexpr const char* kAccount = R"(
account:
  inline:
    things:
      - {iccid: "8931000000000000011", imsi: "204080000000011", name: t1, state: ACTIVE,
         attached: true}
)";

struct BadCase {
  const char* name;
  const char* body;   // appended to kAccount (or the whole file when it starts with '!')
  const char* field;  // must appear in the error message
};

const BadCase kBadCases[] = {
    {"unknown top-level key", "seeds: 3\n", "seeds: unknown key"},
    {"no account", "!seed: 3\n", "scenario: account is required"},
    {"seed is not a number", "seed: many\n", "seed: expected a whole number"},
    {"selector with two criteria", "things:\n  - select: {tag: a, group: b}\n",
     "things[0].select: give exactly one"},
    {"behaviour without select", "things:\n  - flows: []\n", "things[0]: select is required"},
    {"bad protocol",
     "things:\n  - select: {all: true}\n    flows:\n      - {direction: uplink, to: 192.0.2.1,"
     " protocol: SCTP, dstPort: 1}\n",
     "things[0].flows[0].protocol: expected UDP, TCP or ICMP"},
    {"bad direction",
     "things:\n  - select: {all: true}\n    flows:\n      - {direction: sideways, to: 1.2.3.4}\n",
     "things[0].flows[0].direction: expected uplink or downlink"},
    {"uplink without destination",
     "things:\n  - select: {all: true}\n    flows:\n      - {direction: uplink, protocol: ICMP}\n",
     "things[0].flows[0]: an uplink flow needs exactly one of to, toThing, toPeer"},
    {"bad CIDR",
     "things:\n  - select: {all: true}\n    flows:\n      - {direction: uplink, to: 10.0.0.1/8,"
     " protocol: ICMP}\n",
     "things[0].flows[0].to: not a CIDR"},
    {"size too large",
     "things:\n  - select: {all: true}\n    flows:\n      - {direction: uplink, to: 1.2.3.4,"
     " protocol: UDP, dstPort: 1, size: 9000}\n",
     "things[0].flows[0].size: at most 1464"},
    {"unknown malformation",
     "things:\n  - select: {all: true}\n    flows:\n      - {direction: uplink, to: 1.2.3.4,"
     " protocol: UDP, dstPort: 1, malformed: wobbly}\n",
     "things[0].flows[0].malformed: expected one of"},
    {"GTP-U malformation on a downlink flow",
     "things:\n  - select: {all: true}\n    flows:\n      - {direction: downlink, from: 1.2.3.4,"
     " protocol: UDP, dstPort: 1, malformed: gtpu-version}\n",
     "things[0].flows[0].malformed: only for uplink"},
    {"bad RAT", "things:\n  - select: {all: true}\n    attach: {rat: 6G}\n",
     "things[0].attach.rat: expected GERAN"},
    {"bad GTP version", "things:\n  - select: {all: true}\n    attach: {gtp: v3}\n",
     "things[0].attach.gtp: expected v1 or v2"},
    {"afterDetach without detach", "things:\n  - select: {all: true}\n    afterDetach: []\n",
     "things[0].afterDetach: needs detach: true"},
    {"duplicate flow names",
     "things:\n  - select: {all: true}\n    flows:\n      - {name: x, direction: uplink, to: "
     "1.2.3.4,"
     " protocol: ICMP}\n      - {name: x, direction: uplink, to: 1.2.3.4, protocol: ICMP}\n",
     "things[0].flows[1].name: flow name \"x\" is used twice"},
    {"traffic without to", "traffic:\n  - {direction: downlink, from: 1.2.3.4, protocol: ICMP}\n",
     "traffic[0]: a traffic entry needs `to`"},
    {"YAML syntax", "things: [\n", "YAML syntax"},
};

TEST(Scenario, BadFilesNameTheField) {
  for (const BadCase& c : kBadCases) {
    const std::string text =
        c.body[0] == '!' ? std::string(c.body + 1) : std::string(kAccount) + c.body;
    auto s = load_scenario_text(text, "");
    ASSERT_FALSE(s.ok()) << c.name;
    EXPECT_NE(s.error().message().find(c.field), std::string::npos)
        << c.name << ": " << s.error().message();
  }
}

TEST(Scenario, GenerationErrorsNameTheField) {
  const struct {
    const char* name;
    const char* body;
    const char* field;
  } kCases[] = {
      {"unknown Thing", "things:\n  - select: {name: nobody}\n",
       "things[0].select: no Thing named \"nobody\""},
      {"unknown group", "things:\n  - select: {group: Nope}\n",
       "things[0].select.group: no Things Group named \"Nope\""},
      {"empty tag", "things:\n  - select: {tag: none}\n", "things[0].select: selects no Thing"},
      {"toPeer with one Thing",
       "things:\n  - select: {name: t1}\n    flows:\n      - {direction: uplink, toPeer: true,"
       " protocol: ICMP}\n",
       "things[0].flows[0].toPeer: the selection has fewer than two Things"},
  };
  for (const auto& c : kCases) {
    auto s = load_scenario_text(std::string(kAccount) + c.body, "");
    ASSERT_TRUE(s.ok()) << c.name << ": " << s.error().message();
    auto t = generate(*s, default_ports());
    ASSERT_FALSE(t.ok()) << c.name;
    EXPECT_NE(t.error().message().find(c.field), std::string::npos)
        << c.name << ": " << t.error().message();
  }
}

TEST(Scenario, AccountErrorsArePrefixed) {
  auto s = load_scenario_text("account:\n  inline:\n    networks: [{name: 5, pools: [bad]}]\n", "");
  ASSERT_TRUE(s.ok()) << s.error().message();
  auto t = generate(*s, default_ports());
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().message().rfind("account: ", 0), 0u) << t.error().message();
  EXPECT_NE(t.error().message().find("networks[0].pools[0]"), std::string::npos)
      << t.error().message();
}

TEST(Encode, FramesParseAsTheDataPlaneSeesThem) {
  const dp::PortConfig ports = default_ports();
  core::PacketDesc up;
  up.dir = core::Direction::kUplink;
  up.teid = 0x40000001;
  up.src = core::Ipv4{0x0a080001};
  up.dst = core::Ipv4{0xc000020a};
  up.proto = 6;
  up.sport = 40000;
  up.dport = 443;
  core::PacketDesc down = up;
  down.dir = core::Direction::kDownlink;
  std::swap(down.src, down.dst);
  std::swap(down.sport, down.dport);
  for (uint8_t proto : {1, 6, 17}) {
    for (uint16_t size : {28, 40, 100, 1464}) {
      up.proto = down.proto = proto;
      FrameSpec spec;
      spec.size = size;
      spec.enodeb = 0xc6336465;
      const auto a = encode_frame(up, ports, spec);
      dp::PacketView v{};
      ASSERT_EQ(
          dp::parse_frame(a.data(), static_cast<uint32_t>(a.size()), dp::ParseMode::kAccess, v),
          dp::ParseStatus::kOk);
      EXPECT_EQ(v.gtpu.teid, up.teid);
      EXPECT_EQ(v.inner.src, up.src.value);
      EXPECT_EQ(v.inner.total_len, std::max<uint16_t>(size, proto == 6 ? 40 : 28));
      if (proto != 1) {
        EXPECT_EQ(v.inner.dport, 443);
      }
      spec.vlan = 120;
      const auto c = encode_frame(down, ports, spec);
      ASSERT_EQ(dp::parse_frame(c.data(), static_cast<uint32_t>(c.size()), dp::ParseMode::kCore, v),
                dp::ParseStatus::kOk);
      EXPECT_EQ(v.vlan_count, 1);
      EXPECT_EQ(v.vlan_tci[0] & 0xfff, 120);
      EXPECT_EQ(v.outer.dst, down.dst.value);
    }
  }
  // Every malformation has the status it promises, on the port it is allowed on.
  for (int i = 1; i <= static_cast<int>(Malformation::kTruncatedEthernet); ++i) {
    const auto m = static_cast<Malformation>(i);
    FrameSpec spec;
    spec.malformed = m;
    const bool core_only = m == Malformation::kIpv4Fragment;
    const core::PacketDesc& p = core_only ? down : up;
    const auto f = encode_frame(p, ports, spec);
    dp::PacketView v{};
    EXPECT_EQ(dp::parse_frame(f.data(), static_cast<uint32_t>(f.size()),
                              core_only ? dp::ParseMode::kCore : dp::ParseMode::kAccess, v),
              malformation_status(m))
        << malformation_name(m);
  }
}

}  // namespace
}  // namespace simcore::sim
