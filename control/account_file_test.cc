#include "control/account_file.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

#include "core/reference_eval.h"
#include "core/table_lookup.h"

namespace simcore::ctl {
namespace {

using core::Code;

// Returns every "field: message" of an error, one a line, for failure output.
std::string describe(const core::Error& e) {
  std::string out = std::string(core::code_name(e.code())) + "\n";
  if (e.fields().empty()) return out + "  " + e.message() + "\n";
  for (const auto& f : e.fields()) out += "  " + f.field + ": " + f.message + "\n";
  return out;
}

// Returns the message the error has for exactly this field, or nullptr.
const core::FieldError* blamed(const core::Error& e, std::string_view field) {
  auto it = std::find_if(e.fields().begin(), e.fields().end(),
                         [&](const core::FieldError& f) { return f.field == field; });
  return it == e.fields().end() ? nullptr : &*it;
}

// A network, a profile and a group that the bad-input cases can lean on.
constexpr const char* kBase = R"(
networks:
  - name: Lab
    apnName: lab.example
    pools: [10.8.0.0/24]
thingsGroups:
  - {name: Lab, network: Lab, ipProfile: Default profile}
)";

struct BadCase {
  const char* name;
  const char* yaml;
  const char* field;    // the exact path the error must blame
  const char* message;  // part of that field's message
  bool with_base = true;
};

const BadCase kBadCases[] = {
    {"CIDR with host bits", R"(
  - name: Second
    apnName: second.example
    pools: [10.9.0.1/24]
)",
     "networks[1].pools[0]", "CIDR has host bits set"},
    {"pool overlapping the shipped network's", R"(
  - name: Second
    apnName: second.example
    pools: [10.64.8.0/24]
)",
     "networks[1].pools[0]", "overlaps pool 10.64.0.0/12"},
    {"pool prefix too long for a pool", R"(
  - name: Second
    apnName: second.example
    pools: [10.9.0.0/31]
)",
     "networks[1].pools[0]", "/8 to /30"},
    {"inverted port range", R"(
ipProfiles:
  - name: P
    outbound:
      rules:
        - {priority: 1, action: ALLOW, protocol: UDP, remotePorts: "5683"}
        - {priority: 2, action: ALLOW, protocol: TCP, remotePorts: "443"}
        - {priority: 3, action: DENY, protocol: TCP, remotePorts: "2000-1000"}
)",
     "ipProfiles[0].outbound.rules[2].remotePorts", "port range is inverted"},
    {"ports on an ICMP rule (core's validation)", R"(
ipProfiles:
  - name: P
    inbound:
      rules:
        - {priority: 1, action: ALLOW, protocol: ICMP, localPorts: "80"}
)",
     "ipProfiles[0].inbound.rules[0].localPorts", "ports need protocol TCP or UDP"},
    {"duplicate priority in a chain", R"(
ipProfiles:
  - name: P
    inbound:
      rules:
        - {priority: 5, action: ALLOW}
        - {priority: 5, action: DENY}
)",
     "ipProfiles[0].inbound.rules[1].priority", "duplicate priority"},
    {"unknown action", R"(
ipProfiles:
  - name: P
    inbound: {defaultAction: REJECT}
)",
     "ipProfiles[0].inbound.defaultAction", "action must be one of ALLOW, DENY"},
    {"group on an unknown network", R"(
  - {name: G, network: Nowhere, ipProfile: Default profile}
)",
     "thingsGroups[1].network", "no such network \"Nowhere\""},
    {"group with an unknown IP profile", R"(
  - {name: G, network: Lab, ipProfile: Nothing}
)",
     "thingsGroups[1].ipProfile", "no such IP profile \"Nothing\""},
    {"Thing in an unknown group", R"(
things:
  - {iccid: "8931000000000000001", imsi: "204080000000001", thingsGroup: x}
)",
     "things[0].thingsGroup", "no such group \"x\""},
    {"duplicate ICCID", R"(
things:
  - {iccid: "8931000000000000001", imsi: "204080000000001"}
  - {iccid: "8931000000000000001", imsi: "204080000000002"}
)",
     "things[1].iccid", "is also used by things[0]"},
    {"duplicate IMSI", R"(
things:
  - {iccid: "8931000000000000001", imsi: "204080000000001"}
  - {iccid: "8931000000000000002", imsi: "204080000000001"}
)",
     "things[1].imsi", "is also used by things[0]"},
    {"generated ICCIDs overlapping another block", R"(
things:
  - {generate: 10, iccidStart: "8931000000000000001", imsiStart: "204080000000001"}
  - {generate: 10, iccidStart: "8931000000000000008", imsiStart: "204080000000101"}
)",
     "things[1].iccidStart", "is also used by things[0] item 8"},
    {"generated ICCIDs overflowing their width", R"(
things:
  - {generate: 3, iccidStart: "9999999999999999998", imsiStart: "204080000000001"}
)",
     "things[0].iccidStart", "overflows 19 digits"},
    {"generated ICCIDs too short (core's validation)", R"(
things:
  - {generate: 3, iccidStart: "1234", imsiStart: "204080000000001"}
)",
     "things[0].iccidStart", "must be 19 or 20 digits"},
    {"invalid state transition", R"(
things:
  - {iccid: "8931000000000000001", imsi: "204080000000001", state: [ACTIVE, PROVISIONED]}
)",
     "things[0].state[1]", "cannot go from ACTIVE to PROVISIONED"},
    {"unknown state name", R"(
things:
  - {iccid: "8931000000000000001", imsi: "204080000000001", state: SLEEPING}
)",
     "things[0].state", "state must be one of PROVISIONED, ACTIVE, SUSPENDED, RETIRED"},
    {"attached but SUSPENDED", R"(
things:
  - {generate: 2, iccidStart: "8931000000000000001", imsiStart: "204080000000001",
     state: SUSPENDED, attached: 0.5}
)",
     "things[0].attached", "only ACTIVE Things can attach"},
    {"locked address outside the group's network", R"(
things:
  - {iccid: "8931000000000000001", imsi: "204080000000001", thingsGroup: Lab,
     ipLock: true, lockedAddress: 10.9.0.7}
)",
     "things[0].lockedAddress", "not in a pool of the group's network"},
    {"unknown key, with a suggestion", R"(
  - name: Second
    apnName: second.example
    vlanID: 7
)",
     "networks[1].vlanID", "unknown key (did you mean \"vlanId\"?)"},
    {"unknown top-level key", R"(
thing: []
)",
     "thing", "unknown key"},
    {"wrong type: a string for a boolean", R"(
  - name: Second
    apnName: second.example
    isolation: "yes"
)",
     "networks[1].isolation", "must be true or false"},
    {"wrong type: a mapping for a list", R"(
things:
  - {iccid: "8931000000000000001", imsi: "204080000000001", tags: {a: b}}
)",
     "things[0].tags", "must be a list, not a mapping"},
    {"wrong type: a list for a string", R"(
  - name: [Second]
    apnName: second.example
)",
     "networks[1].name", "must be a string, not a list"},
    {"wrong type: the whole section", R"(
ipProfiles: {name: P}
)",
     "ipProfiles", "must be a list"},
    {"VLAN out of range (core's validation)", R"(
  - name: Second
    apnName: second.example
    vlanId: 5000
)",
     "networks[1].vlanId", "4094"},
    {"duplicate network name", R"(
  - name: Lab
    apnName: second.example
)",
     "networks[1].name", "duplicate of networks[0].name"},
    {"the shipped network's APN is read-only", R"(
  - name: Default network
    apnName: other.example
)",
     "networks[1].apnName", "is read-only"},
    {"route to an unknown tunnel", R"(
  - name: Second
    apnName: second.example
    routes:
      - {destination: 172.16.0.0/12, target: IPSEC_TUNNEL, tunnel: hq}
)",
     "networks[1].routes[0].tunnel", "no such tunnel \"hq\""},
    {"IPsec route without a tunnel (core's validation)", R"(
  - name: Second
    apnName: second.example
    routes:
      - {destination: 172.16.0.0/12, target: IPSEC_TUNNEL}
)",
     "networks[1].routes[0].tunnel", "required for target IPSEC_TUNNEL"},
    {"tunnel with a short pre-shared key", R"(
  - name: Second
    apnName: second.example
    ipsecTunnels:
      - {name: hq, peerAddress: 203.0.113.1, remoteSubnets: [172.16.0.0/12],
         ikeProposals: [aes128-sha256-modp2048], espProposals: [aes128gcm16],
         preSharedKey: short}
)",
     "networks[1].ipsecTunnels[0].preSharedKey", "at least 16 characters"},
    {"NAT rule on a Thing without a locked IP", R"(
networks:
  - name: Lab
    apnName: lab.example
    pools: [10.8.0.0/24]
    natRules:
      - {protocol: TCP, publicIp: 203.0.113.5, publicPort: 80, thing: t1, thingPort: 80}
thingsGroups:
  - {name: Lab, network: Lab, ipProfile: Default profile}
things:
  - {iccid: "8931000000000000001", imsi: "204080000000001", name: t1, thingsGroup: Lab}
)",
     "networks[0].natRules[0].thing", "the thing's IP must be locked", false},
    {"NAT rule on a Thing of another network", R"(
  - name: Second
    apnName: second.example
    natRules:
      - {protocol: TCP, publicIp: 203.0.113.5, publicPort: 80, thing: t1, thingPort: 80}
things:
  - {iccid: "8931000000000000001", imsi: "204080000000001", name: t1, thingsGroup: Lab,
     ipLock: true, lockedAddress: 10.8.0.5}
)",
     "networks[1].natRules[0].thing", "not in a group of this network"},
    {"NAT rule on an unknown Thing", R"(
  - name: Second
    apnName: second.example
    natRules:
      - {protocol: TCP, publicIp: 203.0.113.5, publicPort: 80, thing: nobody, thingPort: 80}
)",
     "networks[1].natRules[0].thing", "no such Thing \"nobody\""},
    {"example from a Thing without a session", R"(
things:
  - {iccid: "8931000000000000001", imsi: "204080000000001", name: t1, thingsGroup: Lab}
examples:
  - {name: x, direction: uplink, thing: t1, dst: 192.0.2.1, protocol: UDP, srcPort: 1,
     dstPort: 2}
)",
     "examples[0].thing", "has no session"},
    {"example with ports on ICMP", R"(
examples:
  - {name: x, direction: downlink, src: 192.0.2.1, dst: 10.8.0.1, protocol: ICMP, dstPort: 2}
)",
     "examples[0].dstPort", "only for TCP and UDP"},
    {"example expecting an unknown verdict", R"(
examples:
  - {name: x, direction: downlink, src: 192.0.2.1, dst: 10.8.0.1, protocol: ICMP,
     expect: ACCEPT}
)",
     "examples[0].expect", "must be FORWARD, TUNNEL, HAIRPIN, DELIVER, DROP"},
};

class BadInput : public testing::TestWithParam<BadCase> {};

TEST_P(BadInput, NamesTheField) {
  const BadCase& c = GetParam();
  // Cases that continue the networks list or the groups list are appended to the base.
  std::string text = c.yaml;
  if (c.with_base) {
    std::string base = kBase;
    if (text.rfind("\n  - name:", 0) == 0) {
      base.insert(base.find("thingsGroups:"), text.substr(1));
      text = base;
    } else if (text.rfind("\n  - {name:", 0) == 0) {
      text = base + text.substr(1);
    } else {
      text = base + text;
    }
  }
  auto r = load_account_yaml_text(text);
  ASSERT_FALSE(r.ok()) << "loaded:\n" << text;
  const core::FieldError* f = blamed(r.error(), c.field);
  ASSERT_NE(f, nullptr) << "wanted " << c.field << ", got " << describe(r.error()) << text;
  EXPECT_NE(f->message.find(c.message), std::string::npos)
      << "wanted \"" << c.message << "\" in: " << f->message;
  // The message shows the field path too, as "<path>: <message>".
  EXPECT_NE(r.error().message().find(std::string(c.field) + ": "), std::string::npos)
      << r.error().message();
}

INSTANTIATE_TEST_SUITE_P(AccountFile, BadInput, testing::ValuesIn(kBadCases),
                         [](const testing::TestParamInfo<BadCase>& p) {
                           std::string n;
                           for (const char* c = p.param.name; *c; ++c) {
                             n += std::isalnum(static_cast<unsigned char>(*c)) ? *c : '_';
                           }
                           return n;
                         });

TEST(AccountFile, OneProblemKeepsCoreCode) {
  auto transition = load_account_yaml_text(R"(
things:
  - {iccid: "8931000000000000001", imsi: "204080000000001", state: [ACTIVE, PROVISIONED]}
)");
  ASSERT_FALSE(transition.ok());
  EXPECT_EQ(transition.error().code(), Code::kFailedPrecondition) << describe(transition.error());

  auto missing_group = load_account_yaml_text(R"(
things:
  - {iccid: "8931000000000000001", imsi: "204080000000001", thingsGroup: x}
)");
  ASSERT_FALSE(missing_group.ok());
  EXPECT_EQ(missing_group.error().code(), Code::kNotFound) << describe(missing_group.error());
}

TEST(AccountFile, ReportsEveryProblemWithItsLine) {
  auto r = load_account_yaml_text(R"(networks:
  - name: A
    apnName: a.example
    pools: [10.8.0.1/24]
  - name: B
    apnName: b.example
    isolation: maybe
things:
  - {iccid: "8931000000000000001", imsi: "204080000000001", thingsGroup: x}
)");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  ASSERT_EQ(r.error().fields().size(), 3u) << describe(r.error());
  EXPECT_EQ(r.error().fields()[0].field, "networks[0].pools[0]");
  EXPECT_NE(r.error().fields()[0].message.find("(line 4)"), std::string::npos);
  EXPECT_EQ(r.error().fields()[1].field, "networks[1].isolation");
  EXPECT_NE(r.error().fields()[1].message.find("(line 7)"), std::string::npos);
  EXPECT_EQ(r.error().fields()[2].field, "things[0].thingsGroup");
}

TEST(AccountFile, SyntaxErrorNamesLineAndColumn) {
  auto r = load_account_yaml_text("networks: [\n  {name: a\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_NE(r.error().message().find("line 3"), std::string::npos) << r.error().message();
}

TEST(AccountFile, MissingFileIsNotFound) {
  auto r = load_account_yaml("/nonexistent/simcore/account.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Code::kNotFound);
}

TEST(AccountFile, EmptyFileIsTheShippedAccount) {
  auto r = load_account_yaml_text("");
  ASSERT_TRUE(r.ok()) << describe(r.error());
  EXPECT_EQ(r->account.model().networks.size(), 1u);
  EXPECT_EQ(r->account.model().profiles.size(), 1u);
  EXPECT_EQ(r->account.model().groups.size(), 1u);
  EXPECT_TRUE(r->account.model().things.empty());
  ASSERT_NE(r->tables, nullptr);
  EXPECT_EQ(r->tables->generation, 1u);
}

constexpr const char* kGoodFile = R"(
networks:
  - name: Default network       # the shipped one: updated, not created
    isolation: false
  - name: Plant
    apnName: plant.example
    vlanId: 42
    pools: [10.8.0.0/24, 10.8.1.0/24]
    ipsecTunnels:
      - name: hq
        peerAddress: 203.0.113.1
        remoteSubnets: [172.20.0.0/16]
        ikeProposals: [aes128-sha256-modp2048]
        espProposals: [aes128gcm16]
        preSharedKey: a-test-key-of-enough-length
    routes:
      - {destination: 172.20.0.0/16, target: IPSEC_TUNNEL, tunnel: hq}
      - {destination: 192.0.2.128/25, target: BLACKHOLE}
    natRules:
      - {protocol: UDP, publicIp: 203.0.113.9, publicPort: 5683, thing: "8931000000000009001",
         thingPort: 5683}
ipProfiles:
  - name: Sensors
    stateful: true
    outbound:
      defaultAction: DENY
      rules:
        - {priority: 10, action: ALLOW, protocol: UDP, remote: 192.0.2.0/24, remotePorts: "5683"}
thingsGroups:
  - {name: Sensors, network: Plant, ipProfile: Sensors, services: {data: true, sms: false}}
  - {name: Default group, ipProfile: Sensors}   # the shipped group gets another profile
things:
  - generate: 10
    iccidStart: "8931000000000000001"
    imsiStart: "204080000000001"
    msisdnStart: "31600000001"
    namePrefix: s-
    thingsGroup: Sensors
    tags: [sensor]
    state: ACTIVE
    attached: 0.5
  - iccid: "8931000000000009001"
    imsi: "204080000009001"
    name: gateway
    thingsGroup: Sensors
    ipLock: true
    lockedAddress: 10.8.1.10
    state: ACTIVE
    attached: true
  - {iccid: "8931000000000009002", imsi: "204080000009002", state: SUSPENDED}
examples:
  - {name: reading, direction: uplink, thing: s-0001, dst: 192.0.2.10, protocol: UDP,
     srcPort: 40000, dstPort: 5683, expect: FORWARD}
  - {name: forwarded, direction: downlink, src: 192.0.2.99, dst: 203.0.113.9, protocol: UDP,
     srcPort: 999, dstPort: 5683}
)";

TEST(AccountFile, GoodFileLoads) {
  auto r = load_account_yaml_text(kGoodFile);
  ASSERT_TRUE(r.ok()) << describe(r.error());
  const core::Account& a = r->account;
  const core::Model& m = a.model();
  EXPECT_EQ(m.networks.size(), 2u);  // the shipped one and Plant
  EXPECT_EQ(m.profiles.size(), 2u);
  EXPECT_EQ(m.groups.size(), 2u);
  ASSERT_EQ(m.things.size(), 12u);

  const core::Network* shipped = a.network(a.group(a.default_group())->network);
  ASSERT_NE(shipped, nullptr);
  EXPECT_FALSE(shipped->isolation);
  EXPECT_NE(a.group(a.default_group())->profile, m.profiles.begin()->first)
      << "the Default group should use Sensors now";

  const core::Network* plant = nullptr;
  for (const auto& [id, n] : m.networks) {
    if (n.name == "Plant") plant = &n;
  }
  ASSERT_NE(plant, nullptr);
  EXPECT_EQ(plant->vlan, 42);
  EXPECT_EQ(plant->pools.size(), 2u);
  EXPECT_EQ(plant->routes.size(), 2u);
  EXPECT_EQ(plant->tunnels.size(), 1u);
  ASSERT_EQ(plant->nat_rules.size(), 1u);
  EXPECT_EQ(plant->routes[0].tunnel, plant->tunnels[0].id);

  // Generated Things: numbered names, consecutive ICCIDs, exactly half attached, first one too.
  const core::Thing* first = a.thing_by_iccid("8931000000000000001");
  const core::Thing* tenth = a.thing_by_iccid("8931000000000000010");
  ASSERT_NE(first, nullptr);
  ASSERT_NE(tenth, nullptr);
  EXPECT_EQ(first->name, "s-0001");
  EXPECT_EQ(tenth->name, "s-0010");
  EXPECT_EQ(tenth->imsi, "204080000000010");
  EXPECT_EQ(tenth->msisdn, "31600000010");
  EXPECT_EQ(first->tags, std::vector<std::string>{"sensor"});
  EXPECT_TRUE(first->services.sms);  // the group's SMS is off, the Thing's own stays on
  EXPECT_TRUE(first->session.has_value());
  size_t attached = 0;
  for (const core::Thing& t : m.things) attached += t.session.has_value();
  EXPECT_EQ(attached, 5u + 1u);  // half the block and the gateway

  const core::Thing* gw = a.thing_by_iccid("8931000000000009001");
  ASSERT_NE(gw, nullptr);
  ASSERT_TRUE(gw->session.has_value());
  EXPECT_EQ(gw->session->ue_addr.str(), "10.8.1.10");
  EXPECT_EQ(gw->session->apn, "plant.example");
  EXPECT_EQ(plant->nat_rules[0].thing, gw->id);
  const core::Thing* suspended = a.thing_by_iccid("8931000000000009002");
  ASSERT_NE(suspended, nullptr);
  EXPECT_EQ(suspended->state, core::ThingState::kSuspended);
  EXPECT_EQ(suspended->group, a.default_group());

  // Examples: the uplink's source and TEID come from the Thing's session.
  ASSERT_EQ(r->examples.size(), 2u);
  const ExamplePacket& up = r->examples[0];
  EXPECT_EQ(up.name, "reading");
  EXPECT_EQ(up.path, "examples[0]");
  EXPECT_EQ(up.packet.dir, core::Direction::kUplink);
  EXPECT_EQ(up.packet.teid, first->session->uplink_teid);
  EXPECT_EQ(up.packet.src, first->session->ue_addr);
  EXPECT_EQ(up.packet.dst.str(), "192.0.2.10");
  EXPECT_EQ(up.packet.proto, 17);
  EXPECT_EQ(up.packet.dport, 5683);
  EXPECT_EQ(expectation_str(up), "FORWARD");
  EXPECT_EQ(r->examples[1].packet.dir, core::Direction::kDownlink);
  EXPECT_FALSE(r->examples[1].expect_verdict.has_value());

  // The check compile ran and its tables hold every Thing.
  ASSERT_NE(r->tables, nullptr);
  EXPECT_EQ(r->tables->generation, 1u);
  EXPECT_EQ(r->tables->sessions.size(), 12u);
  EXPECT_EQ(r->tables->by_teid.size(), 6u);
  EXPECT_EQ(r->tables->nat_in.size(), 1u);
  EXPECT_EQ(r->tables->tunnels.size(), 1u);

  core::FlowMemory flows;
  const core::Decision d = core::lookup_packet(*r->tables, up.packet, flows);
  EXPECT_TRUE(meets_expectation(up, d)) << core::verdict_name(d.verdict);
  const core::Decision nat = core::lookup_packet(*r->tables, r->examples[1].packet, flows);
  EXPECT_EQ(nat.verdict, core::Verdict::kDeliver);  // Sensors' inbound chain is empty: allow-all
  EXPECT_EQ(nat.target, gw->slot);
  EXPECT_EQ(nat.out.dst.str(), "10.8.1.10");
}

// configs/demo.yaml is the demo's input: it must load, and every example must get the verdict
// it expects, the same from the compiled tables and from the reference evaluator.
TEST(AccountFile, DemoConfigLoadsAndItsExamplesHold) {
  auto r = load_account_yaml(SIMCORE_SOURCE_DIR "/configs/demo.yaml");
  ASSERT_TRUE(r.ok()) << describe(r.error());
  const core::Model& m = r->account.model();
  EXPECT_EQ(m.things.size(), 1000u);
  EXPECT_GE(m.networks.size(), 3u);
  ASSERT_GE(r->examples.size(), 10u);

  size_t attached = 0;
  size_t active = 0;
  for (const core::Thing& t : m.things) {
    attached += t.session.has_value();
    active += t.state == core::ThingState::kActive;
  }
  EXPECT_GT(attached, 0.85 * static_cast<double>(active));

  core::FlowMemory table_flows;
  core::FlowMemory reference_flows;
  std::vector<core::Verdict> verdicts;
  for (const ExamplePacket& ex : r->examples) {
    SCOPED_TRACE(ex.path + " " + ex.name);
    ASSERT_TRUE(ex.expect_verdict.has_value()) << "every demo example says what it expects";
    const core::Decision fast = core::lookup_packet(*r->tables, ex.packet, table_flows);
    const core::Decision ref = core::evaluate_reference(m, ex.packet, reference_flows);
    EXPECT_TRUE(fast == ref);
    EXPECT_TRUE(meets_expectation(ex, fast))
        << "wanted " << expectation_str(ex) << ", got " << core::verdict_name(fast.verdict) << " "
        << core::drop_reason_name(fast.drop);
    verdicts.push_back(fast.verdict);
  }
  // The demo shows off every verdict.
  for (core::Verdict v : {core::Verdict::kForward, core::Verdict::kTunnel, core::Verdict::kHairpin,
                          core::Verdict::kDeliver, core::Verdict::kDrop}) {
    EXPECT_NE(std::find(verdicts.begin(), verdicts.end(), v), verdicts.end())
        << core::verdict_name(v);
  }
}

}  // namespace
}  // namespace simcore::ctl
