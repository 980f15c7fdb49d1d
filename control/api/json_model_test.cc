#include "control/api/json_model.h"

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json/serialize.hpp>

namespace simcore::ctl::api {
namespace {

using core::Cidr;
using core::Ipv4;

Ipv4 ip(const char* s) { return Ipv4::parse(s).value(); }
Cidr cidr(const char* s) { return Cidr::parse(s).value(); }

json::value body(std::string_view text) {
  auto v = parse_body(text);
  EXPECT_TRUE(v.ok()) << text;
  return v.ok() ? v.value() : json::value();
}

// Removes the read-only keys a client may not send back.
json::value without(json::value v, std::initializer_list<const char*> keys) {
  for (const char* k : keys) v.as_object().erase(k);
  return v;
}

std::vector<std::string> field_names(const core::Error& e) {
  std::vector<std::string> out;
  for (const auto& f : e.fields()) out.push_back(f.field);
  std::sort(out.begin(), out.end());
  return out;
}

// ------------------------------------------------------------------------------ fixtures

core::Thing sample_thing() {
  core::Thing t;
  t.id = core::ThingId{8934071234567890ull};
  t.iccid = "8934071234567890123";
  t.imsi = "262011234567890";
  t.msisdn = "491701234567";
  t.name = "meter-1";
  t.state = core::ThingState::kActive;
  t.group = core::GroupId{7};
  t.tags = {"berlin", "meter"};
  t.imei = "356938035643809";
  t.imei_lock = true;
  t.ip_lock = true;
  t.locked_addr = ip("10.64.0.9");
  t.services = {.data = true, .sms = false};
  return t;
}

core::IpsecTunnel sample_tunnel() {
  core::IpsecTunnel t;
  t.id = core::TunnelId{4};
  t.name = "hq";
  t.peer = ip("198.51.100.7");
  t.local_subnets = {cidr("10.64.0.0/16")};
  t.remote_subnets = {cidr("192.168.0.0/24"), cidr("192.168.1.0/24")};
  t.ike_proposals = {"aes128-sha256-modp2048"};
  t.esp_proposals = {"aes128gcm16"};
  t.pre_shared_key = "correct-horse-battery-staple-42";
  t.dpd_seconds = 45;
  t.initiator = false;
  return t;
}

core::IpProfile sample_profile() {
  core::IpProfile p;
  p.id = core::ProfileId{3};
  p.name = "meters";
  p.stateful = true;
  p.outbound.default_action = core::Action::kDeny;
  p.outbound.rules = {
      {.id = core::RuleId{11},
       .priority = 10,
       .action = core::Action::kAllow,
       .protocol = core::Protocol::kTcp,
       .remote = cidr("192.0.2.0/24"),
       .remote_ports = {443, 443},
       .local_ports = {}},
      {.id = core::RuleId{12},
       .priority = 20,
       .action = core::Action::kAllow,
       .protocol = core::Protocol::kUdp,
       .remote = cidr("0.0.0.0/0"),
       .remote_ports = {1000, 2000},
       .local_ports = {5683, 5683}},
  };
  p.inbound.rules = {{.id = core::RuleId{13},
                      .priority = 1,
                      .action = core::Action::kDeny,
                      .protocol = core::Protocol::kIcmp,
                      .remote = cidr("10.0.0.0/8"),
                      .remote_ports = {},
                      .local_ports = {}}};
  return p;
}

// ---------------------------------------------------------------------------- to_json

TEST(JsonModelOut, ThingShape) {
  const json::value v = to_json(sample_thing());
  EXPECT_EQ(v, body(R"({"thingId":"8934071234567890","iccid":"8934071234567890123",
      "imsi":"262011234567890","msisdn":"491701234567","name":"meter-1","state":"ACTIVE",
      "thingsGroupId":"7","tags":["berlin","meter"],"imei":"356938035643809","imeiLock":true,
      "ipLock":true,"lockedAddress":"10.64.0.9","services":{"data":true,"sms":false}})"));
  EXPECT_FALSE(v.as_object().contains("session"));
}

TEST(JsonModelOut, ThingWithoutImeiOrLockShowsNulls) {
  core::Thing t = sample_thing();
  t.imei.clear();
  t.ip_lock = false;
  t.locked_addr.reset();
  const json::value v = to_json(t);
  EXPECT_TRUE(v.at("imei").is_null());
  EXPECT_TRUE(v.at("lockedAddress").is_null());
}

TEST(JsonModelOut, SessionOnlineAndOffline) {
  core::Thing t = sample_thing();
  const json::value off = session_to_json(t, 0, 0);
  EXPECT_EQ(off.at("online"), false);
  EXPECT_TRUE(off.at("ipAddress").is_null());
  EXPECT_EQ(off.as_object().size(), 9u);

  t.session = core::Session{.ue_addr = ip("10.64.0.9"),
                            .uplink_teid = 1,
                            .peer_addr = {},
                            .peer_teid = 2,
                            .apn = "iot.simcore",
                            .rat = core::Rat::kNbIot,
                            .mcc = 262,
                            .mnc = 1};
  EXPECT_EQ(session_to_json(t, 1000, 2000),
            body(R"({"online":true,"ipAddress":"10.64.0.9","apnName":"iot.simcore",
                "rat":"NB_IOT","mcc":"262","mnc":"01","imei":"356938035643809",
                "bytesUp":1000,"bytesDown":2000})"));
}

TEST(JsonModelOut, NetworkAndSubResources) {
  core::Network n;
  n.id = core::NetworkId{2};
  n.name = "plant";
  n.apn = "plant.iot";
  n.isolation = false;
  n.vlan = 100;
  n.pools = {{core::PoolId{5}, cidr("10.8.0.0/16")}};
  EXPECT_EQ(to_json(n), body(R"({"id":"2","name":"plant","apnName":"plant.iot",
                                 "isolation":false,"vlanId":100})"));
  EXPECT_EQ(to_json(n.pools[0]), body(R"({"id":"5","cidr":"10.8.0.0/16"})"));
  EXPECT_EQ(to_json(core::Route{core::RouteId{6}, cidr("192.168.0.0/16"),
                                core::RouteTarget::kIpsecTunnel, core::TunnelId{4}}),
            body(R"({"id":"6","destination":"192.168.0.0/16","target":"IPSEC_TUNNEL",
                     "tunnelId":"4"})"));
  EXPECT_EQ(
      to_json(core::Route{core::RouteId{7}, cidr("0.0.0.0/0"), core::RouteTarget::kInternet, {}}),
      body(R"({"id":"7","destination":"0.0.0.0/0","target":"INTERNET","tunnelId":null})"));
  EXPECT_EQ(to_json(core::NatRule{core::NatRuleId{9}, core::Protocol::kUdp, ip("203.0.113.5"), 5683,
                                  core::ThingId{42}, 5684}),
            body(R"({"id":"9","protocol":"UDP","publicIp":"203.0.113.5","publicPort":5683,
                     "thingId":"42","thingPort":5684})"));
}

TEST(JsonModelOut, TunnelNeverShowsTheKey) {
  const core::IpsecTunnel t = sample_tunnel();
  const json::value v = to_json(t);
  EXPECT_EQ(v, body(R"({"id":"4","name":"hq","peerAddress":"198.51.100.7",
      "localSubnets":["10.64.0.0/16"],"remoteSubnets":["192.168.0.0/24","192.168.1.0/24"],
      "ikeProposals":["aes128-sha256-modp2048"],"espProposals":["aes128gcm16"],
      "dpdSeconds":45,"initiator":false})"));
  const std::string text = json::serialize(v);
  EXPECT_EQ(text.find(t.pre_shared_key), std::string::npos);
  EXPECT_EQ(text.find("preSharedKey"), std::string::npos);
}

TEST(JsonModelOut, ProfileWithPortStrings) {
  const json::value v = to_json(sample_profile());
  EXPECT_EQ(v, body(R"({"id":"3","name":"meters","stateful":true,
      "inbound":{"defaultAction":"ALLOW","rules":[{"id":"13","priority":1,"action":"DENY",
          "protocol":"ICMP","remote":"10.0.0.0/8","remotePorts":"*","localPorts":"*"}]},
      "outbound":{"defaultAction":"DENY","rules":[
          {"id":"11","priority":10,"action":"ALLOW","protocol":"TCP","remote":"192.0.2.0/24",
           "remotePorts":"443","localPorts":"*"},
          {"id":"12","priority":20,"action":"ALLOW","protocol":"UDP","remote":"0.0.0.0/0",
           "remotePorts":"1000-2000","localPorts":"5683"}]}})"));
}

TEST(JsonModelOut, GroupAndUser) {
  core::ThingsGroup g{core::GroupId{1},
                      "Default group",
                      core::NetworkId{2},
                      core::ProfileId{3},
                      {.data = true, .sms = true},
                      true};
  EXPECT_EQ(to_json(g), body(R"({"id":"1","name":"Default group","networkId":"2",
      "ipProfileId":"3","services":{"data":true,"sms":true},"isDefault":true})"));
  core::User u{core::UserId{5},
               "Ann",
               "ann@example.com",
               core::Role::kGroupUser,
               {core::GroupId{1}, core::GroupId{8}},
               "c-abc"};
  EXPECT_EQ(to_json(u), body(R"({"id":"5","name":"Ann","email":"ann@example.com",
      "role":"GROUP_USER","thingsGroupIds":["1","8"],"clientId":"c-abc"})"));
}

TEST(JsonModelOut, Decision) {
  core::Model model;
  model.things.push_back(sample_thing());
  core::Decision d;
  d.verdict = core::Verdict::kDrop;
  d.stage = core::Stage::kFirewallOut;
  d.drop = core::DropReason::kUplinkFirewall;
  d.rule_id = 12;
  d.thing = core::ThingSlot{0};
  d.out = {.dir = core::Direction::kUplink,
           .teid = 1,
           .src = ip("10.64.0.9"),
           .dst = ip("192.0.2.1"),
           .proto = 6,
           .sport = 40000,
           .dport = 22};
  EXPECT_EQ(to_json(d, model), body(R"({"verdict":"DROP","stage":"firewall-out",
      "dropReason":"uplink.firewall","ruleId":"12","statefulFlow":false,"vlanId":null,
      "tunnelId":null,"thingId":"8934071234567890","targetThingId":null,
      "out":{"protocol":"TCP","srcAddress":"10.64.0.9","dstAddress":"192.0.2.1",
             "srcPort":40000,"dstPort":22}})"));

  d.verdict = core::Verdict::kForward;
  d.stage = core::Stage::kDeliver;
  d.drop = core::DropReason::kNone;
  d.rule_id = core::kFlowRuleId;
  d.vlan = 100;
  d.out.proto = 1;
  const json::value v = to_json(d, model);
  EXPECT_TRUE(v.at("dropReason").is_null());
  EXPECT_TRUE(v.at("ruleId").is_null());
  EXPECT_EQ(v.at("statefulFlow"), true);
  EXPECT_EQ(v.at("vlanId"), 100);
  EXPECT_TRUE(v.at("out").at("srcPort").is_null());
  EXPECT_EQ(v.at("out").at("protocol"), "ICMP");
}

// ------------------------------------------------------------------------- round trips

TEST(JsonModelRoundTrip, ThingCreateItemFromItsOwnJson) {
  const core::Thing t = sample_thing();
  json::object item = without(to_json(t), {"thingId", "imei"}).as_object();
  auto things = things_create_from_json(json::object{{"things", json::array{item}}});
  ASSERT_TRUE(things.ok()) << things.error().message();
  ASSERT_EQ(things->size(), 1u);
  core::Thing back = (*things)[0];
  back.id = t.id;
  back.imei = t.imei;
  EXPECT_EQ(to_json(back), to_json(t));
}

TEST(JsonModelRoundTrip, ThingCreateDefaults) {
  auto things = things_create_from_json(
      body(R"({"things":[{"iccid":"8934071234567890123","imsi":"262011234567890"}]})"));
  ASSERT_TRUE(things.ok()) << things.error().message();
  const core::Thing& t = (*things)[0];
  EXPECT_EQ(t.state, core::ThingState::kProvisioned);
  EXPECT_FALSE(t.group);  // Account puts it in the default group
  EXPECT_EQ(t.services, (core::Services{true, true}));
  EXPECT_FALSE(t.locked_addr.has_value());
}

TEST(JsonModelRoundTrip, Group) {
  core::ThingsGroup g{core::GroupId{9},
                      "meters",
                      core::NetworkId{2},
                      core::ProfileId{3},
                      {.data = false, .sms = true},
                      false};
  auto back = group_create_from_json(without(to_json(g), {"id", "isDefault"}));
  ASSERT_TRUE(back.ok()) << back.error().message();
  back->id = g.id;
  EXPECT_EQ(to_json(*back), to_json(g));
}

TEST(JsonModelRoundTrip, Network) {
  core::Network n;
  n.id = core::NetworkId{2};
  n.name = "plant";
  n.apn = "plant.iot";
  n.isolation = false;
  n.vlan = 4094;
  auto back = network_create_from_json(without(to_json(n), {"id"}));
  ASSERT_TRUE(back.ok()) << back.error().message();
  back->id = n.id;
  EXPECT_EQ(to_json(*back), to_json(n));
}

TEST(JsonModelRoundTrip, RouteNatAndPool) {
  const core::Route r{core::RouteId{6}, cidr("192.168.0.0/16"), core::RouteTarget::kIpsecTunnel,
                      core::TunnelId{4}};
  auto route = route_create_from_json(without(to_json(r), {"id"}));
  ASSERT_TRUE(route.ok()) << route.error().message();
  route->id = r.id;
  EXPECT_EQ(to_json(*route), to_json(r));

  const core::Route internet{core::RouteId{7}, cidr("0.0.0.0/0"), core::RouteTarget::kInternet, {}};
  auto route2 = route_create_from_json(without(to_json(internet), {"id"}));  // tunnelId: null
  ASSERT_TRUE(route2.ok()) << route2.error().message();
  EXPECT_FALSE(route2->tunnel);

  const core::NatRule nr{core::NatRuleId{9},
                         core::Protocol::kTcp,
                         ip("203.0.113.5"),
                         8443,
                         core::ThingId{8934071234567890ull},
                         443};
  auto nat = nat_rule_create_from_json(without(to_json(nr), {"id"}));
  ASSERT_TRUE(nat.ok()) << nat.error().message();
  nat->id = nr.id;
  EXPECT_EQ(to_json(*nat), to_json(nr));

  auto pool = pool_from_json(body(R"({"cidr":"10.9.0.0/16"})"));
  ASSERT_TRUE(pool.ok());
  EXPECT_EQ(*pool, cidr("10.9.0.0/16"));
}

TEST(JsonModelRoundTrip, TunnelWithKey) {
  const core::IpsecTunnel t = sample_tunnel();
  json::object o = without(to_json(t), {"id"}).as_object();
  o["preSharedKey"] = t.pre_shared_key;
  auto back = tunnel_create_from_json(o);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->pre_shared_key, t.pre_shared_key);
  back->id = t.id;
  EXPECT_EQ(to_json(*back), to_json(t));

  auto patched =
      tunnel_patch_from_json(body(R"({"dpdSeconds":10,"preSharedKey":"another-key-0123456"})"), t);
  ASSERT_TRUE(patched.ok()) << patched.error().message();
  EXPECT_EQ(patched->dpd_seconds, 10u);
  EXPECT_EQ(patched->pre_shared_key, "another-key-0123456");
  EXPECT_EQ(patched->remote_subnets, t.remote_subnets);
}

TEST(JsonModelRoundTrip, ProfileAndPatch) {
  const core::IpProfile p = sample_profile();
  json::value v = without(to_json(p), {"id"});
  for (const char* chain : {"inbound", "outbound"}) {
    for (auto& rule : v.at(chain).at("rules").as_array()) rule.as_object().erase("id");
  }
  auto back = profile_create_from_json(v);
  ASSERT_TRUE(back.ok()) << back.error().message();
  // Rule ids are Account's; copy them to compare the rest.
  back->id = p.id;
  for (size_t i = 0; i < p.outbound.rules.size(); ++i)
    back->outbound.rules[i].id = p.outbound.rules[i].id;
  for (size_t i = 0; i < p.inbound.rules.size(); ++i)
    back->inbound.rules[i].id = p.inbound.rules[i].id;
  EXPECT_EQ(to_json(*back), to_json(p));

  auto patched = profile_patch_from_json(body(R"({"name":"renamed","inbound":{"rules":[]}})"), p);
  ASSERT_TRUE(patched.ok()) << patched.error().message();
  EXPECT_EQ(patched->name, "renamed");
  EXPECT_TRUE(patched->inbound.rules.empty());
  EXPECT_EQ(patched->inbound.default_action, core::Action::kAllow);
  EXPECT_EQ(patched->outbound.rules.size(), 2u);  // untouched
  EXPECT_TRUE(patched->stateful);
}

TEST(JsonModelRoundTrip, RuleDefaults) {
  auto p = profile_create_from_json(
      body(R"({"name":"x","outbound":{"rules":[{"priority":5,"action":"DENY"}]}})"));
  ASSERT_TRUE(p.ok()) << p.error().message();
  const core::FirewallRule& r = p->outbound.rules.at(0);
  EXPECT_EQ(r.protocol, core::Protocol::kAny);
  EXPECT_EQ(r.remote, cidr("0.0.0.0/0"));
  EXPECT_TRUE(r.remote_ports.is_any());
  EXPECT_TRUE(r.local_ports.is_any());
  EXPECT_EQ(p->inbound.default_action, core::Action::kAllow);
  EXPECT_FALSE(p->stateful);
}

TEST(JsonModelRoundTrip, User) {
  core::User u{core::UserId{5},
               "Ann",
               "ann@example.com",
               core::Role::kGroupUser,
               {core::GroupId{1}, core::GroupId{8}},
               ""};
  auto back = user_create_from_json(without(to_json(u), {"id", "clientId"}));
  ASSERT_TRUE(back.ok()) << back.error().message();
  back->id = u.id;
  EXPECT_EQ(to_json(*back), to_json(u));
  auto patched = user_patch_from_json(body(R"({"role":"MONITOR","thingsGroupIds":[]})"), u);
  ASSERT_TRUE(patched.ok());
  EXPECT_EQ(patched->role, core::Role::kMonitor);
  EXPECT_TRUE(patched->groups.empty());
  EXPECT_EQ(patched->email, u.email);
}

TEST(JsonModelIn, ThingPatchCompletesServicesFromCurrent) {
  auto p = thing_patch_from_json(body(R"({"services":{"sms":false},"tags":["a"],"ipLock":false})"),
                                 core::Services{.data = false, .sms = true});
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_EQ(p->services, (core::Services{.data = false, .sms = false}));
  EXPECT_EQ(p->tags, std::vector<std::string>{"a"});
  EXPECT_EQ(p->ip_lock, false);
  EXPECT_FALSE(p->name.has_value());
  EXPECT_FALSE(p->group.has_value());
  EXPECT_FALSE(p->imei_lock.has_value());

  auto empty = thing_patch_from_json(body("{}"), {});
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->services.has_value());
}

TEST(JsonModelIn, GroupAndNetworkPatch) {
  core::ThingsGroup g{core::GroupId{9},   "meters", core::NetworkId{2},
                      core::ProfileId{3}, {},       false};
  auto pg = group_patch_from_json(body(R"({"ipProfileId":"30","services":{"data":false}})"), g);
  ASSERT_TRUE(pg.ok()) << pg.error().message();
  EXPECT_EQ(pg->profile, core::ProfileId{30});
  EXPECT_EQ(pg->network, core::NetworkId{2});
  EXPECT_EQ(pg->services, (core::Services{.data = false, .sms = true}));

  auto pn = network_patch_from_json(body(R"({"vlanId":0,"isolation":true})"));
  ASSERT_TRUE(pn.ok());
  EXPECT_EQ(pn->vlan, uint16_t{0});
  EXPECT_EQ(pn->isolation, true);
  EXPECT_FALSE(pn->name.has_value());
}

TEST(JsonModelIn, StateAndEvaluate) {
  auto s = state_change_from_json(body(R"({"state":"SUSPENDED"})"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, core::ThingState::kSuspended);

  auto e = evaluate_from_json(body(
      R"({"direction":"DOWNLINK","protocol":"TCP","remoteAddress":"192.0.2.1",
          "remotePort":443,"localPort":40000})"));
  ASSERT_TRUE(e.ok()) << e.error().message();
  const core::PacketDesc p = to_packet(*e, ip("10.64.0.9"), 77);
  EXPECT_EQ(p.dir, core::Direction::kDownlink);
  EXPECT_EQ(p.src, ip("192.0.2.1"));
  EXPECT_EQ(p.dst, ip("10.64.0.9"));
  EXPECT_EQ(p.sport, 443);
  EXPECT_EQ(p.dport, 40000);
  EXPECT_EQ(p.proto, 6);

  auto up = evaluate_from_json(body(R"({"direction":"UPLINK","protocol":"ICMP",
                                       "remoteAddress":"8.8.8.8"})"));
  ASSERT_TRUE(up.ok());
  const core::PacketDesc q = to_packet(*up, ip("10.64.0.9"), 77);
  EXPECT_EQ(q.teid, 77u);
  EXPECT_EQ(q.src, ip("10.64.0.9"));
  EXPECT_EQ(q.dst, ip("8.8.8.8"));
  EXPECT_EQ(q.proto, 1);
}

TEST(JsonModelIn, IdText) {
  EXPECT_EQ(parse_id_text("42", 100), 42u);
  EXPECT_EQ(parse_id_text("18446744073709551615", UINT64_MAX), UINT64_MAX);
  for (const char* bad : {"", "0", "042", "-1", "4x", " 4", "1e3", "101", "18446744073709551616"}) {
    EXPECT_EQ(parse_id_text(bad, 100), 0u) << bad;
  }
}

// -------------------------------------------------------------------------- bad inputs

TEST(JsonModelIn, MalformedJsonIsOneErrorWithoutFields) {
  for (const char* text : {"", "{", R"({"name":})", "{\"a\":1}x", "[1,2,,]", "nul"}) {
    auto v = parse_body(text);
    ASSERT_FALSE(v.ok()) << text;
    EXPECT_EQ(v.error().code(), core::Code::kInvalidArgument);
    EXPECT_TRUE(v.error().fields().empty());
    EXPECT_NE(v.error().message().find("malformed JSON"), std::string::npos);
  }
}

TEST(JsonModelIn, TooDeepIsMalformed) {
  std::string deep(40, '[');
  deep += std::string(40, ']');
  EXPECT_FALSE(parse_body(deep).ok());
}

TEST(JsonModelIn, BodyMustBeAnObject) {
  for (const char* text : {"[]", "null", "3", "\"x\""}) {
    auto r = network_create_from_json(body(text));
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code(), core::Code::kInvalidArgument);
    EXPECT_NE(r.error().message().find("JSON object"), std::string::npos);
  }
}

using Parse = std::function<core::Status(const json::value&)>;

template <class F>
Parse status_of(F f) {
  return [f](const json::value& v) { return f(v).status(); };
}

struct BadCase {
  const char* name;
  Parse parse;
  const char* body;
  std::vector<std::string> fields;  // sorted
};

TEST(JsonModelIn, BadBodiesNameEveryField) {
  const core::Thing thing = sample_thing();
  const core::IpsecTunnel tunnel = sample_tunnel();
  const core::IpProfile profile = sample_profile();
  const core::ThingsGroup group{core::GroupId{9},   "g", core::NetworkId{2},
                                core::ProfileId{3}, {},  false};
  const core::User user{core::UserId{5}, "Ann", "ann@example.com", core::Role::kAdmin, {}, "c"};

  const Parse things = status_of(things_create_from_json);
  const Parse thing_patch = [&](const json::value& v) {
    return thing_patch_from_json(v, thing.services).status();
  };
  const Parse state = status_of(state_change_from_json);
  const Parse group_create = status_of(group_create_from_json);
  const Parse group_patch = [&](const json::value& v) {
    return group_patch_from_json(v, group).status();
  };
  const Parse net = status_of(network_create_from_json);
  const Parse net_patch = status_of(network_patch_from_json);
  const Parse pool = status_of(pool_from_json);
  const Parse route = status_of(route_create_from_json);
  const Parse nat = status_of(nat_rule_create_from_json);
  const Parse tun = status_of(tunnel_create_from_json);
  const Parse tun_patch = [&](const json::value& v) {
    return tunnel_patch_from_json(v, tunnel).status();
  };
  const Parse prof = status_of(profile_create_from_json);
  const Parse prof_patch = [&](const json::value& v) {
    return profile_patch_from_json(v, profile).status();
  };
  const Parse user_create = status_of(user_create_from_json);
  const Parse user_patch = [&](const json::value& v) {
    return user_patch_from_json(v, user).status();
  };
  const Parse eval = status_of(evaluate_from_json);

  const BadCase kCases[] = {
      {"things: missing wrapper", things, R"({})", {"things"}},
      {"things: bare array is not the body", things, R"({"things":{}})", {"things"}},
      {"things: empty batch", things, R"({"things":[]})", {"things"}},
      {"things: each item and field named",
       things,
       R"({"things":[{"iccid":"8934071234567890123","imsi":"262011234567890"},
                     {"imsi":5,"tags":["a",3],"color":"red","thingsGroupId":7},
                     "x",
                     {"iccid":"1","imsi":"2","state":"ASLEEP",
                      "services":{"data":"yes","voice":true},
                      "lockedAddress":"10.0.0.256","imei":"1"}]})",
       {"things[1].color", "things[1].iccid", "things[1].imsi", "things[1].tags[1]",
        "things[1].thingsGroupId", "things[2]", "things[3].imei", "things[3].lockedAddress",
        "things[3].services.data", "things[3].services.voice", "things[3].state"}},
      {"thing patch: read-only and unknown",
       thing_patch,
       R"({"iccid":"1","state":"ACTIVE","nmae":"x","thingId":"4"})",
       {"iccid", "nmae", "state", "thingId"}},
      {"thing patch: wrong types",
       thing_patch,
       R"({"name":1,"tags":"a","thingsGroupId":"abc","services":[],"ipLock":"true",
           "lockedAddress":null,"imeiLock":0})",
       {"imeiLock", "ipLock", "lockedAddress", "name", "services", "tags", "thingsGroupId"}},
      {"thing patch: ids are strings, not numbers",
       thing_patch,
       R"({"thingsGroupId":7})",
       {"thingsGroupId"}},
      {"thing patch: id 0 and leading zero",
       thing_patch,
       R"({"thingsGroupId":"0"})",
       {"thingsGroupId"}},
      {"thing patch: group id beyond 32 bits",
       thing_patch,
       R"({"thingsGroupId":"4294967296"})",
       {"thingsGroupId"}},
      {"state: missing", state, R"({})", {"state"}},
      {"state: unknown value and extra field",
       state,
       R"({"state":"ON","reason":"x"})",
       {"reason", "state"}},
      {"group: all required missing",
       group_create,
       R"({"services":{"sms":1}})",
       {"ipProfileId", "name", "networkId", "services.sms"}},
      {"group: isDefault is read-only",
       group_create,
       R"({"name":"g","networkId":"1","ipProfileId":"2","isDefault":true,"id":"5"})",
       {"id", "isDefault"}},
      {"group patch: bad id", group_patch, R"({"networkId":"n1"})", {"networkId"}},
      {"network: missing and wrong",
       net,
       R"({"isolation":"yes","vlanId":4095})",
       {"apnName", "isolation", "name", "vlanId"}},
      {"network: vlan not an integer",
       net,
       R"({"name":"n","apnName":"a.b","vlanId":1.5})",
       {"vlanId"}},
      {"network: vlan negative", net, R"({"name":"n","apnName":"a.b","vlanId":-1})", {"vlanId"}},
      {"network patch: apnName read-only",
       net_patch,
       R"({"apnName":"x","pools":[]})",
       {"apnName", "pools"}},
      {"pool: host bits", pool, R"({"cidr":"10.0.0.1/8"})", {"cidr"}},
      {"pool: missing and unknown", pool, R"({"prefix":"10.0.0.0/8"})", {"cidr", "prefix"}},
      {"route: bad values",
       route,
       R"({"destination":"10.0.0.0","target":"VPN","tunnelId":4})",
       {"destination", "target", "tunnelId"}},
      {"nat: everything wrong",
       nat,
       R"({"protocol":"SCTP","publicIp":"1.2.3","publicPort":0,"thingId":42,"thingPort":70000})",
       {"protocol", "publicIp", "publicPort", "thingId", "thingPort"}},
      {"nat: all missing",
       nat,
       R"({})",
       {"protocol", "publicIp", "publicPort", "thingId", "thingPort"}},
      {"tunnel: required fields",
       tun,
       R"({"name":"t"})",
       {"espProposals", "ikeProposals", "peerAddress", "preSharedKey", "remoteSubnets"}},
      {"tunnel: nested elements",
       tun,
       R"({"name":"t","peerAddress":"198.51.100.1","remoteSubnets":["10.0.0.0/8","10.1.1.1/16"],
           "localSubnets":"10.0.0.0/8","ikeProposals":[1],"espProposals":[],
           "preSharedKey":12345678901234567,"dpdSeconds":3601,"initiator":null})",
       {"dpdSeconds", "ikeProposals[0]", "initiator", "localSubnets", "preSharedKey",
        "remoteSubnets[1]"}},
      {"tunnel patch: id read-only", tun_patch, R"({"id":"4","mtu":1400})", {"id", "mtu"}},
      {"profile: the brief's path",
       prof,
       R"({"name":"p","inbound":{"rules":[{"priority":1,"action":"ALLOW"},
                                          {"priority":2,"action":"ALLOW"},
                                          {"priority":3,"action":"ALLOW","remotePorts":"80-"}]}})",
       {"inbound.rules[2].remotePorts"}},
      {"profile: every level",
       prof,
       R"({"stateful":"no","inbound":{"defaultAction":"DROP","rules":{}},
           "outbound":{"rules":[{"action":"PERMIT","protocol":"GRE","remote":"10.0.0.0/33",
                                 "remotePorts":80,"localPorts":"2000-1000","id":"3","x":1},
                                7]},
           "extra":{}})",
       {"extra", "inbound.defaultAction", "inbound.rules", "name", "outbound.rules[0].action",
        "outbound.rules[0].id", "outbound.rules[0].localPorts", "outbound.rules[0].priority",
        "outbound.rules[0].protocol", "outbound.rules[0].remote", "outbound.rules[0].remotePorts",
        "outbound.rules[0].x", "outbound.rules[1]", "stateful"}},
      {"profile: priority out of range",
       prof,
       R"({"name":"p","outbound":{"rules":[{"priority":-1,"action":"ALLOW"},
                                           {"priority":4294967296,"action":"ALLOW"}]}})",
       {"outbound.rules[0].priority", "outbound.rules[1].priority"}},
      {"profile patch: chain not an object", prof_patch, R"({"inbound":[]})", {"inbound"}},
      {"user: required and wrong",
       user_create,
       R"({"role":"ROOT","thingsGroupIds":["1",2,"x"],"clientId":"c"})",
       {"clientId", "email", "name", "role", "thingsGroupIds[1]", "thingsGroupIds[2]"}},
      {"user patch: unknown", user_patch, R"({"password":"x"})", {"password"}},
      {"evaluate: all missing", eval, R"({})", {"direction", "protocol", "remoteAddress"}},
      {"evaluate: bad values",
       eval,
       R"({"direction":"IN","protocol":"ANY","remoteAddress":"x","remotePort":65536,
           "localPort":"80","ttl":3})",
       {"direction", "localPort", "protocol", "remoteAddress", "remotePort", "ttl"}},
      {"evaluate: ICMP has no ports",
       eval,
       R"({"direction":"UPLINK","protocol":"ICMP","remoteAddress":"8.8.8.8","remotePort":1,
           "localPort":2})",
       {"localPort", "remotePort"}},
  };

  for (const BadCase& c : kCases) {
    SCOPED_TRACE(c.name);
    const core::Status s = c.parse(body(c.body));
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code(), core::Code::kInvalidArgument);
    EXPECT_EQ(field_names(s.error()), c.fields) << s.error().message();
  }
}

TEST(JsonModelIn, MessagesNameTheExpectedType) {
  auto r = network_create_from_json(body(R"({"name":5,"apnName":"a.b","isolation":null})"));
  ASSERT_FALSE(r.ok());
  const std::string& m = r.error().message();
  EXPECT_NE(m.find("name: expected string, got integer"), std::string::npos) << m;
  EXPECT_NE(m.find("isolation: expected boolean, got null"), std::string::npos) << m;

  auto u = things_create_from_json(body(R"({"things":[{"iccid":"1","imsi":"2","foo":1}]})"));
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.error().message().find("things[0].foo: unknown field"), std::string::npos);

  auto p = profile_create_from_json(body(
      R"({"name":"p","outbound":{"rules":[{"priority":1,"action":"ALLOW","remotePorts":"x"}]}})"));
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message().find("outbound.rules[0].remotePorts: port must be a number"),
            std::string::npos)
      << p.error().message();
}

TEST(JsonModelIn, PreSharedKeyIsNeverEchoedInErrors) {
  const std::string key = "super-secret-key-do-not-log";
  // The key itself is fine; other fields fail, and no message may carry the key.
  auto r = tunnel_create_from_json(
      body(R"({"name":"t","peerAddress":"bad","preSharedKey":")" + key + R"(","x":1})"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message().find(key), std::string::npos);
  for (const auto& f : r.error().fields()) EXPECT_EQ(f.message.find(key), std::string::npos);
}

TEST(JsonModelIn, OversizedBatchIsRefusedWhole) {
  json::array items;
  for (size_t i = 0; i <= kMaxThingsPerRequest; ++i) {
    items.push_back(json::object{{"iccid", "1"}, {"imsi", "2"}});
  }
  auto r = things_create_from_json(json::object{{"things", std::move(items)}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(field_names(r.error()), std::vector<std::string>{"things"});
}

}  // namespace
}  // namespace simcore::ctl::api
