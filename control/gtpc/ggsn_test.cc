// The GGSN handler against a fake AttachBackend: requests in, responses and backend calls out,
// with an injected clock; its emitted messages are checked with tshark.
#include "control/gtpc/ggsn.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "control/gtpc/wire.h"
#include "dataplane/testing/frame_builder.h"
#include "dataplane/testing/pcap_io.h"
#include "dataplane/testing/tshark.h"

namespace simcore::gtpc {
namespace {

using Bytes = std::vector<uint8_t>;

core::Ipv4 ipv4(const char* dotted) { return core::Ipv4{dp::testing::ip(dotted)}; }

// Records every call and answers as told. Sessions it opened are the ones modify/detach know.
class FakeBackend : public AttachBackend {
 public:
  AttachAnswer attach(const AttachAsk& ask) override {
    asks.push_back(ask);
    AttachAnswer a;
    a.refusal = refusal;
    if (refusal != Refusal::kNone) return a;
    a.uplink_teid = next_teid++;
    a.ue_addr = core::Ipv4{0x0a080000 + a.uplink_teid};
    a.dns = dns;
    open.insert(a.uplink_teid);
    return a;
  }
  bool modify(uint32_t teid, core::Ipv4 addr, uint32_t peer_teid) override {
    modifies.push_back({teid, addr, peer_teid});
    return open.count(teid) != 0;
  }
  bool detach(uint32_t teid) override {
    detaches.push_back(teid);
    return open.erase(teid) != 0;
  }
  bool flush() override { return true; }

  Refusal refusal = Refusal::kNone;
  std::vector<core::Ipv4> dns = {ipv4("192.0.2.53"), ipv4("192.0.2.54")};
  uint32_t next_teid = 0x100;
  std::set<uint32_t> open;
  std::vector<AttachAsk> asks;
  struct Modify {
    uint32_t teid;
    core::Ipv4 addr;
    uint32_t peer_teid;
  };
  std::vector<Modify> modifies;
  std::vector<uint32_t> detaches;
};

// IE writers of the tests' requests (types from TS 29.060 7.7), independent of the builders.
void tv(Bytes& b, uint8_t type, std::initializer_list<uint8_t> v) {
  b.push_back(type);
  b.insert(b.end(), v);
}
void tv32(Bytes& b, uint8_t type, uint32_t v) {
  tv(b, type, {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)});
}
void tlv(Bytes& b, uint8_t type, const Bytes& v) {
  b.insert(b.end(), {type, uint8_t(v.size() >> 8), uint8_t(v.size())});
  b.insert(b.end(), v.begin(), v.end());
}
Bytes addr_bytes(core::Ipv4 a) {
  return {uint8_t(a.value >> 24), uint8_t(a.value >> 16), uint8_t(a.value >> 8), uint8_t(a.value)};
}
Bytes message(uint8_t type, uint32_t teid, uint16_t seq, const Bytes& ies, uint8_t flags = 0x32) {
  Bytes b = {flags,
             type,
             0,
             0,
             uint8_t(teid >> 24),
             uint8_t(teid >> 16),
             uint8_t(teid >> 8),
             uint8_t(teid),
             uint8_t(seq >> 8),
             uint8_t(seq),
             0,
             0};
  b.insert(b.end(), ies.begin(), ies.end());
  b[2] = uint8_t((b.size() - 8) >> 8);
  b[3] = uint8_t(b.size() - 8);
  return b;
}

const core::Ipv4 kSgsn = ipv4("10.0.0.1");
const core::Ipv4 kSgsnUser = ipv4("10.0.0.2");
const core::Ipv4 kOtherSgsn = ipv4("10.0.0.9");
const Endpoint kSgsnEp{kSgsn, 2123};

struct CreateReq {
  std::string imsi = "204081234567890";
  bool rai = true;  // MCC 204, MNC 08
  std::optional<uint8_t> recovery = 3;
  uint32_t teid_data = 0x5001;
  uint32_t teid_cp = 0x6001;
  uint8_t nsapi = 5;
  uint8_t pdp_type = 0x21;
  std::string apn = "iot.example";
  Bytes pco;
  Bytes sgsn_control = addr_bytes(kSgsn);
  Bytes sgsn_user = addr_bytes(kSgsnUser);
  std::string msisdn = "31612345678";
  Bytes qos = {1, 0x23, 0x62, 0x1f};
  std::optional<uint8_t> rat = 1;
  std::string imei = "3534910112233445";
  std::set<uint8_t> omit;  // IE types left out
  Bytes extra;             // appended IEs
};

Bytes create(const CreateReq& r, uint16_t seq) {
  Bytes b;
  auto want = [&](uint8_t t) { return r.omit.count(t) == 0; };
  if (want(2)) {
    Bytes imsi = tbcd_encode(r.imsi);
    imsi.resize(8, 0xff);
    b.push_back(2);
    b.insert(b.end(), imsi.begin(), imsi.end());
  }
  if (r.rai) tv(b, 3, {0x02, 0xf4, 0x80, 0x12, 0x34, 0x56});
  if (r.recovery) tv(b, 14, {*r.recovery});
  tv(b, 15, {0xfc});
  if (want(16)) tv32(b, 16, r.teid_data);
  if (want(17)) tv32(b, 17, r.teid_cp);
  if (want(20)) tv(b, 20, {r.nsapi});
  if (want(128)) tlv(b, 128, {0xf1, r.pdp_type});
  if (want(131)) tlv(b, 131, apn_encode(r.apn));
  if (!r.pco.empty()) tlv(b, 132, r.pco);
  tlv(b, 133, r.sgsn_control);
  if (want(133)) tlv(b, 133, r.sgsn_user);
  Bytes msisdn = tbcd_encode(r.msisdn);
  msisdn.insert(msisdn.begin(), 0x91);
  tlv(b, 134, msisdn);
  if (want(135)) tlv(b, 135, r.qos);
  if (r.rat) tlv(b, 151, {*r.rat});
  if (!r.imei.empty()) tlv(b, 154, tbcd_encode(r.imei));
  b.insert(b.end(), r.extra.begin(), r.extra.end());
  return message(16, 0, seq, b);
}

Bytes update(uint32_t teid, uint16_t seq, core::Ipv4 user, uint32_t teid_data,
             std::optional<uint32_t> teid_cp = std::nullopt) {
  Bytes b;
  tv(b, 14, {3});
  tv32(b, 16, teid_data);
  if (teid_cp) tv32(b, 17, *teid_cp);
  tv(b, 20, {5});
  tlv(b, 133, addr_bytes(kSgsn));
  tlv(b, 133, addr_bytes(user));
  tlv(b, 135, {1, 0x23, 0x62, 0x1f});
  return message(18, teid, seq, b);
}

Bytes delete_req(uint32_t teid, uint16_t seq) { return message(20, teid, seq, {19, 0xff, 20, 5}); }

class GgsnTest : public ::testing::Test {
 protected:
  GgsnConfig config() {
    GgsnConfig c;
    c.control_addr = ipv4("192.0.2.1");
    c.user_addr = ipv4("192.0.2.2");
    c.restart_counter = 42;
    return c;
  }

  // Sends one datagram; returns what the GGSN emitted.
  std::vector<Datagram> send(const Bytes& payload, Endpoint from = kSgsnEp) {
    std::vector<Datagram> out;
    ggsn.on_datagram({from, {config().control_addr, 2123}, payload}, now, out);
    for (const Datagram& d : out) emitted.push_back(d);
    return out;
  }
  // Sends and expects exactly one response to `from`; returns it decoded.
  v1::Message exchange(const Bytes& payload, Endpoint from = kSgsnEp) {
    const std::vector<Datagram> out = send(payload, from);
    EXPECT_EQ(out.size(), 1u);
    if (out.size() != 1) return {};
    EXPECT_EQ(out[0].to, from);
    EXPECT_EQ(out[0].from, (Endpoint{config().control_addr, 2123}));
    last = out[0].payload;  // the decoded message points into it
    v1::Message m;
    EXPECT_EQ(v1::decode_message(last, m), v1::Status::kOk);
    return m;
  }
  v1::PdpResponse pdp(const Bytes& payload, Endpoint from = kSgsnEp) {
    v1::PdpResponse r;
    EXPECT_EQ(v1::decode_pdp_response(exchange(payload, from), r), v1::Status::kOk);
    return r;
  }
  uint8_t cause(const Bytes& payload, Endpoint from = kSgsnEp) {
    uint8_t c = 0;
    EXPECT_EQ(v1::decode_cause(exchange(payload, from), c), v1::Status::kOk);
    return c;
  }

  FakeBackend backend;
  Ggsn ggsn{backend, config()};
  int64_t now = 1000;
  Bytes last;
  std::vector<Datagram> emitted;  // everything, for the tshark check
};

TEST_F(GgsnTest, CreateAccepted) {
  const v1::PdpResponse r = pdp(create({}, 1));
  EXPECT_EQ(r.cause, 128);
  EXPECT_EQ(r.teid, 0x6001u);  // the SGSN's TEID Control Plane
  EXPECT_EQ(r.seq, 1);
  EXPECT_EQ(r.teid_data, 0x100u);
  EXPECT_EQ(r.teid_control, 0x100u);
  EXPECT_NE(r.charging_id, 0u);
  EXPECT_EQ(r.ue_addr, core::Ipv4{0x0a080100});
  EXPECT_EQ(r.ggsn_control, ipv4("192.0.2.1"));
  EXPECT_EQ(r.ggsn_user, ipv4("192.0.2.2"));
  EXPECT_EQ(r.recovery, 42);
  EXPECT_EQ(r.qos, (Bytes{1, 0x23, 0x62, 0x1f}));
  EXPECT_FALSE(r.pco.has_value());  // none asked
  ASSERT_EQ(backend.asks.size(), 1u);
  const AttachAsk& a = backend.asks[0];
  EXPECT_EQ(a.imsi, "204081234567890");
  EXPECT_EQ(a.msisdn, "31612345678");
  EXPECT_EQ(a.imei, "3534910112233445");
  EXPECT_EQ(a.apn, "iot.example");
  EXPECT_TRUE(a.rat_known);
  EXPECT_TRUE(a.rat_served);
  EXPECT_EQ(a.rat, core::Rat::kUtran);
  EXPECT_TRUE(a.serving_known);
  EXPECT_EQ(a.mcc, 204);
  EXPECT_EQ(a.mnc, 8);
  EXPECT_EQ(a.peer_addr, kSgsnUser);
  EXPECT_EQ(a.peer_teid, 0x5001u);
  EXPECT_EQ(ggsn.sessions(), 1u);
  EXPECT_EQ(ggsn.counters().accepted, 1u);
  EXPECT_EQ(ggsn.counters().create_requests, 1u);
}

TEST_F(GgsnTest, RatTypeAndServingNetwork) {
  struct Case {
    std::optional<uint8_t> wire;
    bool known, served;
    core::Rat rat;
  };
  const Case cases[] = {
      {1, true, true, core::Rat::kUtran},    {2, true, true, core::Rat::kGeran},
      {5, true, true, core::Rat::kUtran},    {6, true, true, core::Rat::kEutran},
      {8, true, true, core::Rat::kNbIot},    {3, true, false, core::Rat::kEutran},
      {4, true, false, core::Rat::kEutran},  {7, true, false, core::Rat::kEutran},
      {99, true, false, core::Rat::kEutran}, {std::nullopt, false, true, core::Rat::kEutran},
  };
  uint16_t seq = 1;
  for (const Case& c : cases) {
    CreateReq req;
    req.rat = c.wire;
    req.rai = c.wire.has_value();  // and the RAI absent with it, in one case
    (void)send(create(req, seq++));
    const AttachAsk& a = backend.asks.back();
    const int w = c.wire.value_or(-1);
    EXPECT_EQ(a.rat_known, c.known) << w;
    EXPECT_EQ(a.rat_served, c.served) << w;
    if (c.served && c.known) {
      EXPECT_EQ(a.rat, c.rat) << w;
    }
    EXPECT_EQ(a.serving_known, c.wire.has_value()) << w;
  }
}

TEST_F(GgsnTest, EveryRefusalHasItsCause) {
  const std::pair<Refusal, uint8_t> cases[] = {
      {Refusal::kUnknownImsi, 194},   {Refusal::kNotActive, 209},
      {Refusal::kDataOff, 209},       {Refusal::kUnknownApn, 219},
      {Refusal::kRatNotAllowed, 200}, {Refusal::kRoamingNotAllowed, 222},
      {Refusal::kImeiLocked, 209},    {Refusal::kNoAddress, 211},
      {Refusal::kSystemFailure, 204},
  };
  uint16_t seq = 1;
  for (const auto& [refusal, want] : cases) {
    backend.refusal = refusal;
    const Bytes req = create({}, seq++);
    v1::Message m = exchange(req);
    ASSERT_EQ(m.ies.size(), 1u) << refusal_name(refusal);  // the Cause alone
    v1::PdpResponse r;
    ASSERT_EQ(v1::decode_pdp_response(m, r), v1::Status::kOk);
    EXPECT_EQ(r.cause, want) << refusal_name(refusal);
    EXPECT_EQ(r.teid, 0x6001u);
  }
  const GgsnCounters& c = ggsn.counters();
  EXPECT_EQ(c.refused_unknown_imsi + c.refused_not_active + c.refused_data_off +
                c.refused_unknown_apn + c.refused_rat_not_allowed + c.refused_roaming_not_allowed +
                c.refused_imei_locked + c.refused_no_address + c.refused_system_failure,
            9u);
  EXPECT_EQ(c.refused_imei_locked, 1u);
  EXPECT_EQ(ggsn.sessions(), 0u);
}

TEST_F(GgsnTest, PdpTypes) {
  CreateReq v6;
  v6.pdp_type = 0x57;
  EXPECT_EQ(pdp(create(v6, 1)).cause, 220);
  EXPECT_TRUE(backend.asks.empty());
  CreateReq v4v6;
  v4v6.pdp_type = 0x8d;
  const v1::PdpResponse r = pdp(create(v4v6, 2));
  EXPECT_EQ(r.cause, 129);  // IPv4 given instead
  EXPECT_EQ(r.ue_addr, core::Ipv4{0x0a080100});
  EXPECT_EQ(ggsn.counters().refused_pdp_type, 1u);
}

TEST_F(GgsnTest, MalformedCreates) {
  struct Case {
    const char* name;
    CreateReq req;
    uint8_t want;
  };
  std::vector<Case> cases;
  for (const uint8_t t : {2, 16, 17, 20, 128, 131, 133, 135}) {
    CreateReq r;
    r.omit = {t};
    cases.push_back({"missing IE", r, 202});
  }
  CreateReq teid;
  teid.teid_data = 0;
  cases.push_back({"TEID Data I 0", teid, 201});
  CreateReq gsn;
  gsn.sgsn_user = {1, 2, 3, 4, 5};
  cases.push_back({"GSN address of 5 octets", gsn, 201});
  CreateReq apn;
  apn.omit = {131};
  apn.extra = {131, 0, 3, 7, 'a', 'b'};  // a label overrunning the IE
  cases.push_back({"APN label overruns", apn, 201});
  CreateReq tv;
  tv.extra = {6, 0, 0, 0};  // TV type 6 has no length in GTPv1
  cases.push_back({"unknown TV IE", tv, 193});
  CreateReq imsi_nibble;
  imsi_nibble.omit = {2};
  imsi_nibble.extra = {2, 0x21, 0x43, 0xab, 0xff, 0xff, 0xff, 0xff, 0xff};
  cases.push_back({"IMSI with a non-digit", imsi_nibble, 201});
  uint16_t seq = 1;
  for (const Case& c : cases) {
    const v1::PdpResponse r = pdp(create(c.req, seq++));
    EXPECT_EQ(r.cause, c.want) << c.name;
  }
  EXPECT_TRUE(backend.asks.empty());
  EXPECT_EQ(ggsn.counters().mandatory_missing, 8u);
  EXPECT_EQ(ggsn.counters().mandatory_incorrect, 4u);
  EXPECT_EQ(ggsn.counters().malformed, 1u);
}

TEST_F(GgsnTest, Echo) {
  const v1::Message m = exchange(message(1, 0, 77, {}));
  EXPECT_EQ(m.header.type, 2);
  EXPECT_EQ(m.header.seq, 77);
  uint8_t recovery = 0;
  ASSERT_EQ(v1::decode_echo_response(m, recovery), v1::Status::kOk);
  EXPECT_EQ(recovery, 42);
}

TEST_F(GgsnTest, Update) {
  const uint32_t ours = pdp(create({}, 1)).teid_control;
  const v1::PdpResponse r = pdp(update(ours, 2, ipv4("10.0.0.3"), 0x5002, 0x6002));
  EXPECT_EQ(r.cause, 128);
  EXPECT_EQ(r.teid, 0x6002u);  // the new SGSN control TEID
  EXPECT_EQ(r.teid_data, ours);
  EXPECT_EQ(r.teid_control, ours);
  ASSERT_EQ(backend.modifies.size(), 1u);
  EXPECT_EQ(backend.modifies[0].teid, ours);
  EXPECT_EQ(backend.modifies[0].addr, ipv4("10.0.0.3"));
  EXPECT_EQ(backend.modifies[0].peer_teid, 0x5002u);

  EXPECT_EQ(pdp(update(0x999, 3, kSgsnUser, 1)).cause, 192);
  EXPECT_EQ(backend.modifies.size(), 1u);
  EXPECT_EQ(ggsn.counters().non_existent, 1u);

  // Later requests to the SGSN use the control TEID it gave in the update.
  std::vector<Datagram> out;
  ggsn.on_session_ended(ours, now, out);
  ASSERT_EQ(out.size(), 1u);
  v1::Message m;
  ASSERT_EQ(v1::decode_message(out[0].payload, m), v1::Status::kOk);
  EXPECT_EQ(m.header.teid, 0x6002u);
}

TEST_F(GgsnTest, Delete) {
  const uint32_t ours = pdp(create({}, 1)).teid_control;
  // From another peer: refused, context kept.
  EXPECT_EQ(cause(delete_req(ours, 2), {kOtherSgsn, 2123}), 192);
  EXPECT_EQ(ggsn.counters().unknown_peer, 1u);
  EXPECT_TRUE(backend.detaches.empty());
  EXPECT_EQ(ggsn.sessions(), 1u);
  // From its SGSN: the header carries the SGSN's TEID.
  const v1::Message m = exchange(delete_req(ours, 3));
  EXPECT_EQ(m.header.teid, 0x6001u);
  uint8_t c = 0;
  ASSERT_EQ(v1::decode_cause(m, c), v1::Status::kOk);
  EXPECT_EQ(c, 128);
  EXPECT_EQ(backend.detaches, std::vector<uint32_t>{ours});
  EXPECT_EQ(ggsn.sessions(), 0u);
  // Unknown TEID.
  EXPECT_EQ(cause(delete_req(ours, 4)), 192);
  EXPECT_EQ(ggsn.counters().non_existent, 1u);
  // The backend still has a session the handler forgot (daemon restart): accepted.
  backend.open.insert(0x777);
  EXPECT_EQ(cause(delete_req(0x777, 5)), 128);
  EXPECT_EQ(backend.open.count(0x777), 0u);
  // NSAPI missing.
  EXPECT_EQ(cause(message(20, 0x777, 6, {19, 0xff})), 202);
}

TEST_F(GgsnTest, RetransmissionAnsweredFromCache) {
  const Bytes req = create({}, 9);
  const std::vector<Datagram> first = send(req);
  now += 2000;
  const std::vector<Datagram> again = send(req);
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].payload, first[0].payload);
  EXPECT_EQ(backend.asks.size(), 1u);
  EXPECT_EQ(ggsn.counters().retransmissions_answered, 1u);
  // Another source port is another request.
  (void)send(req, {kSgsn, 40000});
  EXPECT_EQ(backend.asks.size(), 2u);
  // Past the cache lifetime the request is new again.
  now += 60000;
  std::vector<Datagram> none;
  ggsn.tick(now, none);
  (void)send(req);
  EXPECT_EQ(backend.asks.size(), 3u);
  // A failed flush: the cached response was never sent, so it is not replayed.
  ggsn.forget_responses();
  (void)send(req);
  EXPECT_EQ(backend.asks.size(), 4u);
  // A restarted SGSN reusing the sequence number for another request gets a fresh answer.
  CreateReq other;
  other.imsi = "204080000000777";
  (void)send(create(other, 9));
  EXPECT_EQ(backend.asks.size(), 5u);
  EXPECT_EQ(backend.asks.back().imsi, "204080000000777");
}

TEST_F(GgsnTest, NewCreateForSameImsiAndNsapiReplaces) {
  const uint32_t first = pdp(create({}, 1)).teid_control;
  const uint32_t second = pdp(create({}, 2)).teid_control;
  EXPECT_NE(first, second);
  EXPECT_EQ(ggsn.sessions(), 1u);
  CreateReq other_nsapi;
  other_nsapi.nsapi = 6;
  (void)pdp(create(other_nsapi, 3));
  EXPECT_EQ(ggsn.sessions(), 2u);
}

TEST_F(GgsnTest, PeerRestartDetachesItsContexts) {
  CreateReq a, b, c;
  b.imsi = "204081234567891";
  c.imsi = "204081234567892";
  const uint32_t ta = pdp(create(a, 1)).teid_control;
  const uint32_t tb = pdp(create(b, 2)).teid_control;
  (void)pdp(create(c, 3), {kOtherSgsn, 2123});  // another SGSN's context stays
  CreateReq d;
  d.imsi = "204081234567893";
  d.recovery = 4;
  (void)pdp(create(d, 4));
  EXPECT_EQ(ggsn.counters().peer_restarts, 1u);
  EXPECT_EQ(backend.detaches, (std::vector<uint32_t>{ta, tb}));
  EXPECT_EQ(ggsn.sessions(), 2u);
}

TEST_F(GgsnTest, NetworkInitiatedDeleteRetransmittedThenTimesOut) {
  const uint32_t ours = pdp(create({}, 1)).teid_control;
  std::vector<Datagram> out;
  ggsn.on_session_ended(ours, now, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].to, kSgsnEp);
  v1::Message m;
  ASSERT_EQ(v1::decode_message(out[0].payload, m), v1::Status::kOk);
  EXPECT_EQ(m.header.type, 20);
  EXPECT_EQ(m.header.teid, 0x6001u);
  v1::DeletePdpRequest d;
  ASSERT_EQ(v1::decode_delete_pdp_request(m, d), v1::Status::kOk);
  EXPECT_EQ(d.nsapi, 5);
  EXPECT_TRUE(d.teardown);
  const Bytes request = out[0].payload;
  for (int retry = 0; retry < 3; ++retry) {
    out.clear();
    ggsn.tick(now + 2999 + retry * 3000, out);
    EXPECT_TRUE(out.empty());
    ggsn.tick(now + 3000 + retry * 3000, out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].payload, request);
  }
  out.clear();
  ggsn.tick(now + 12000, out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(ggsn.sessions(), 0u);
  EXPECT_EQ(ggsn.counters().delete_sent, 1u);
  EXPECT_EQ(ggsn.counters().delete_timeouts, 1u);
  EXPECT_TRUE(backend.detaches.empty());  // the backend ended it already
}

TEST_F(GgsnTest, NetworkInitiatedDeleteStoppedByResponse) {
  const uint32_t ours = pdp(create({}, 1)).teid_control;
  std::vector<Datagram> out;
  ggsn.on_session_ended(ours, now, out);
  ASSERT_EQ(out.size(), 1u);
  v1::Message m;
  ASSERT_EQ(v1::decode_message(out[0].payload, m), v1::Status::kOk);
  // A response with another sequence number, or from another peer, is not the answer.
  EXPECT_TRUE(send(message(21, ours, uint16_t(m.header.seq + 1), {1, 128})).empty());
  EXPECT_TRUE(send(message(21, ours, m.header.seq, {1, 128}), {kOtherSgsn, 2123}).empty());
  EXPECT_EQ(ggsn.counters().unmatched_responses, 2u);
  EXPECT_EQ(ggsn.sessions(), 1u);
  EXPECT_TRUE(send(message(21, ours, m.header.seq, {1, 128})).empty());
  EXPECT_EQ(ggsn.counters().delete_answered, 1u);
  EXPECT_EQ(ggsn.sessions(), 0u);
  out.clear();
  ggsn.tick(now + 100000, out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(ggsn.counters().delete_timeouts, 0u);
}

TEST_F(GgsnTest, OtherVersionsGetVersionNotSupported) {
  // GTPv2 Echo Request (T=0) and a GTPv0 header.
  Bytes v0(20, 0);
  v0[0] = 0x1e;  // version 0, PT 1
  v0[1] = 1;
  for (const Bytes& in : {Bytes{0x40, 1, 0, 4, 0, 0, 1, 0}, v0}) {
    const v1::Message m = exchange(in);
    EXPECT_EQ(m.header.version, 1);
    EXPECT_EQ(m.header.type, 3);
    EXPECT_TRUE(m.ies.empty());
  }
  // A GTPv2 Version Not Supported Indication is not answered.
  EXPECT_TRUE(send(Bytes{0x40, 3, 0, 4, 0, 0, 1, 0}).empty());
  EXPECT_EQ(ggsn.counters().version_not_supported, 2u);
}

TEST_F(GgsnTest, GarbageUnknownMessagesAndPeersAreDropped) {
  EXPECT_TRUE(send({}).empty());
  EXPECT_TRUE(send({0x32, 16, 0}).empty());
  EXPECT_TRUE(send(message(16, 0, 1, {}, 0x30)).empty());  // no sequence number
  EXPECT_EQ(ggsn.counters().malformed, 3u);
  EXPECT_TRUE(send(message(26, 0, 1, {})).empty());      // Error Indication is GTP-U's
  EXPECT_TRUE(send(message(2, 0, 1, {14, 1})).empty());  // an Echo Response we never asked
  EXPECT_EQ(ggsn.counters().unknown_message, 2u);

  GgsnConfig c = config();
  c.allowed_peers = {kSgsn};
  Ggsn strict(backend, c);
  std::vector<Datagram> out;
  strict.on_datagram({{kOtherSgsn, 2123}, {c.control_addr, 2123}, message(1, 0, 1, {})}, now, out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(strict.counters().unknown_peer, 1u);
  strict.on_datagram({kSgsnEp, {c.control_addr, 2123}, message(1, 0, 1, {})}, now, out);
  EXPECT_EQ(out.size(), 1u);
}

// PCO containers of a response, as (id, contents).
std::vector<std::pair<uint16_t, Bytes>> containers(const Bytes& pco) {
  std::vector<std::pair<uint16_t, Bytes>> out;
  for (size_t i = 1; i + 3 <= pco.size();) {
    const uint16_t id = uint16_t(pco[i] << 8 | pco[i + 1]);
    const size_t len = pco[i + 2];
    if (i + 3 + len > pco.size()) break;
    out.emplace_back(id, Bytes(pco.begin() + long(i + 3), pco.begin() + long(i + 3 + len)));
    i += 3 + len;
  }
  return out;
}

// The PCO of a request: IPCP Configure-Request (id 7) asking primary and secondary DNS, and/or
// the DNS Server IPv4 Address Request container.
Bytes pco_request(bool ipcp, bool dns_container) {
  Bytes p = {0x80};
  if (ipcp) {
    p.insert(p.end(), {0x80, 0x21, 16, 1, 7, 0, 16, 129, 6, 0, 0, 0, 0, 131, 6, 0, 0, 0, 0});
  }
  if (dns_container) p.insert(p.end(), {0x00, 0x0d, 0});
  return p;
}

TEST_F(GgsnTest, PcoDnsThroughIpcpAndContainers) {
  CreateReq ipcp;
  ipcp.pco = pco_request(true, false);
  auto r = pdp(create(ipcp, 1));
  ASSERT_TRUE(r.pco.has_value());
  auto c = containers(*r.pco);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].first, 0x8021);
  // Configure-Nak, same identifier, primary 192.0.2.53 and secondary 192.0.2.54.
  EXPECT_EQ(c[0].second, (Bytes{3, 7, 0, 16, 129, 6, 192, 0, 2, 53, 131, 6, 192, 0, 2, 54}));

  CreateReq both;
  both.imsi = "204081234567899";
  both.pco = pco_request(true, true);
  r = pdp(create(both, 2));
  ASSERT_TRUE(r.pco.has_value());
  c = containers(*r.pco);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[1], (std::pair<uint16_t, Bytes>{0x000d, {192, 0, 2, 53}}));
  EXPECT_EQ(c[2], (std::pair<uint16_t, Bytes>{0x000d, {192, 0, 2, 54}}));
}

// Every message type the GGSN emits, through tshark: no malformation or error, and the key
// fields decode to what was encoded.
TEST_F(GgsnTest, EmittedMessagesDecodeInTshark) {
  SIMCORE_REQUIRE_TSHARK();
  CreateReq a;
  a.pco = pco_request(true, true);
  const uint32_t ours = pdp(create(a, 1)).teid_control;  // Create Response 128
  (void)exchange(message(1, 0, 2, {}));                  // Echo Response
  (void)exchange(update(ours, 3, kSgsnUser, 0x5003));    // Update Response
  std::vector<Datagram> out;
  ggsn.on_session_ended(ours, now, out);  // Delete Request
  emitted.insert(emitted.end(), out.begin(), out.end());
  (void)exchange(delete_req(ours, 4));  // Delete Response 128
  backend.refusal = Refusal::kUnknownApn;
  CreateReq b;
  b.imsi = "204081234567898";
  (void)exchange(create(b, 5));                      // Create Response 219
  (void)exchange(Bytes{0x40, 1, 0, 4, 0, 0, 1, 0});  // Version Not Supported

  std::vector<Bytes> frames;
  for (const Datagram& d : emitted) {
    const dp::testing::Ip4 h = dp::testing::ip4(d.from.addr.value, d.to.addr.value);
    frames.push_back(dp::testing::ethernet(
        {2, 0, 0, 0, 0, 2}, {2, 0, 0, 0, 0, 1}, 0x0800,
        dp::testing::ipv4(h, 17, dp::testing::udp(h, d.from.port, d.to.port, d.payload))));
  }
  const auto file = std::filesystem::path(::testing::TempDir()) / "ggsn_emitted.pcap";
  ASSERT_TRUE(dp::testing::write_pcap(file, frames));
  EXPECT_EQ(dp::testing::tshark_problems(file), "");
  const auto rows = dp::testing::tshark_fields(
      file, "gtp",
      {"gtp.message", "gtp.cause", "gtp.teid", "gtp.teid_data", "gtp.teid_cp", "gtp.user_ipv4",
       "gtp.recovery", "gsm_a.gm.sm.pco.dns.ipv4", "ipcp.opt.pri_dns_address",
       "ipcp.opt.sec_dns_address", "gtp.nsapi", "gtp.tear_ind", "gtp.gsn_ipv4", "gtp.chrg_id"});
  ASSERT_EQ(rows.size(), 7u);
  const std::string t = "0x" + [&] {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08x", ours);
    return std::string(buf);
  }();
  const std::vector<std::string> create_ok = {"0x11",
                                              "128",
                                              "0x00006001",
                                              t,
                                              t,
                                              "10.8.1.0",
                                              "42",
                                              "192.0.2.53,192.0.2.54",
                                              "192.0.2.53",
                                              "192.0.2.54",
                                              "",
                                              "",
                                              "192.0.2.1,192.0.2.2",
                                              t};
  EXPECT_EQ(rows[0], create_ok);
  EXPECT_EQ(rows[1][0], "0x02");
  EXPECT_EQ(rows[1][6], "42");
  EXPECT_EQ(rows[2][0], "0x13");
  EXPECT_EQ(rows[2][1], "128");
  EXPECT_EQ(rows[2][3], t);
  EXPECT_EQ(rows[3][0], "0x14");  // Delete Request: NSAPI 5, teardown
  EXPECT_EQ(rows[3][2], "0x00006001");
  EXPECT_EQ(rows[3][10], "5");
  EXPECT_EQ(rows[3][11], "1");
  EXPECT_EQ(rows[4][0], "0x15");
  EXPECT_EQ(rows[4][1], "128");
  EXPECT_EQ(rows[5][0], "0x11");
  EXPECT_EQ(rows[5][1], "219");
  EXPECT_EQ(rows[6][0], "0x03");
}

// Mutated requests through the whole handler: counted or answered, never a crash (ASan).
TEST_F(GgsnTest, SeededMutationsThroughTheHandler) {
  const uint32_t seed = 777;
  std::cout << "mutation seed " << seed << "\n";
  std::mt19937 rng(seed);
  CreateReq withpco;
  withpco.pco = pco_request(true, true);
  const std::vector<Bytes> base = {
      create({}, 1),        create(withpco, 2),   update(0x100, 3, kSgsnUser, 9, 10),
      delete_req(0x100, 4), message(1, 0, 5, {}), message(21, 0x100, 1, {1, 128})};
  for (int i = 0; i < 10000; ++i) {
    Bytes b = base[rng() % base.size()];
    for (int e = 0, n = 1 + int(rng() % 3); e < n && !b.empty(); ++e) {
      const size_t at = rng() % b.size();
      if (rng() % 5 == 0) {
        b.resize(at);
      } else {
        b[at] = uint8_t(rng());
      }
    }
    std::vector<Datagram> out;
    ggsn.on_datagram({kSgsnEp, {config().control_addr, 2123}, b}, now++, out);
    if (i % 100 == 0) ggsn.on_session_ended(0x100 + uint32_t(rng() % 8), now, out);
    ggsn.tick(now, out);
  }
  const GgsnCounters& c = ggsn.counters();
  EXPECT_GT(c.malformed + c.mandatory_missing + c.mandatory_incorrect, 0u);
  EXPECT_GT(c.accepted, 0u);
}

}  // namespace
}  // namespace simcore::gtpc
