// The PGW handler against a fake AttachBackend: the accept path, every refusal's cause,
// missing/incorrect IEs, Echo, Modify, Delete, the response cache, peer restarts, Delete Bearer
// retransmission, other GTP versions; the real captures' Create Session Requests; tshark's
// reading of everything the PGW emits; and mutated input that must never crash it.
#include "control/gtpc/pgw.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "dataplane/packet/wire.h"
#include "dataplane/testing/frame_builder.h"
#include "dataplane/testing/pcap_io.h"
#include "dataplane/testing/tshark.h"

namespace simcore::gtpc {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;
using v2::IeType;
using v2::Iface;
using v2::MsgType;

constexpr core::Ipv4 kControl{0x0a000001};  // 10.0.0.1, ours
constexpr core::Ipv4 kUser{0x0a000002};     // 10.0.0.2, ours
constexpr core::Ipv4 kSgw{0xc0000201};      // 192.0.2.1
constexpr core::Ipv4 kSgwUser{0xc0000202};  // 192.0.2.2
constexpr core::Ipv4 kOther{0xc0000263};    // 192.0.2.99
constexpr core::Ipv4 kUe{0x0a080007};       // 10.8.0.7
constexpr Endpoint kSgwEndpoint{kSgw, 2123};
constexpr uint32_t kSgwTeid = 0x1111;
constexpr uint32_t kSgwUserTeid = 0x2222;

// Records every call and answers as told; attach hands out TEIDs 100, 101, ...
class FakeBackend : public AttachBackend {
 public:
  AttachAnswer attach(const AttachAsk& ask) override {
    asks.push_back(ask);
    AttachAnswer a;
    a.refusal = refusal;
    if (refusal == Refusal::kNone) {
      a.ue_addr = kUe;
      a.uplink_teid = next_teid++;
      a.dns = dns;
    }
    return a;
  }
  bool modify(uint32_t teid, core::Ipv4 addr, uint32_t peer_teid) override {
    modifies.emplace_back(teid, addr, peer_teid);
    return modify_ok;
  }
  bool detach(uint32_t teid) override {
    detaches.push_back(teid);
    return detach_ok;
  }
  bool flush() override { return true; }

  Refusal refusal = Refusal::kNone;
  std::vector<core::Ipv4> dns = {{0x08080808}, {0x01010101}};
  uint32_t next_teid = 100;
  bool modify_ok = true;
  bool detach_ok = true;
  std::vector<AttachAsk> asks;
  std::vector<std::tuple<uint32_t, core::Ipv4, uint32_t>> modifies;
  std::vector<uint32_t> detaches;
};

v2::Fteid fteid(Iface iface, uint8_t instance, uint32_t teid, core::Ipv4 addr) {
  return {
      .iface = uint8_t(iface), .instance = instance, .teid = teid, .has_ipv4 = true, .ipv4 = addr};
}

// A Create Session Request; each field can be changed or left out by a test.
struct Csr {
  uint32_t seq = 1;
  std::string imsi = "204080000000001";
  std::string apn = "iot.example";
  uint8_t rat = uint8_t(v2::RatType::kEutran);
  uint8_t pdn = uint8_t(v2::PdnType::kIpv4);
  v2::Fteid sender = fteid(Iface::kS5S8SgwC, 0, kSgwTeid, kSgw);
  std::optional<v2::Fteid> user = fteid(Iface::kS5S8SgwU, 2, kSgwUserTeid, kSgwUser);
  uint8_t ebi = 5;
  Bytes serving = {0x02, 0xf4, 0x80};  // 204 / 08
  std::string mei = "3520980727163206";
  std::optional<uint8_t> recovery = 7;
  std::vector<IeType> omit;                      // IEs left out
  std::vector<std::pair<IeType, Bytes>> garble;  // IEs replaced by these bytes

  Bytes build() const {
    Bytes out;
    v2::MessageWriter w(out, uint8_t(MsgType::kCreateSessionRequest), 0, seq);
    auto put = [&](IeType t, const Bytes& value) {
      if (std::find(omit.begin(), omit.end(), t) != omit.end()) return;
      for (const auto& [gt, bytes] : garble) {
        if (gt == t) return w.ie(t, bytes);
      }
      w.ie(t, value);
    };
    put(IeType::kImsi, tbcd_encode(imsi));
    put(IeType::kMsisdn, tbcd_encode("31612345678"));
    put(IeType::kMei, tbcd_encode(mei));
    put(IeType::kServingNetwork, serving);
    put(IeType::kRatType, {rat});
    if (std::find(omit.begin(), omit.end(), IeType::kFteid) == omit.end()) {
      bool garbled = false;
      for (const auto& [gt, bytes] : garble) {
        if (gt == IeType::kFteid) {
          w.ie(gt, bytes);
          garbled = true;
        }
      }
      if (!garbled) w.fteid(sender);
    }
    put(IeType::kApn, apn_encode(apn));
    put(IeType::kPdnType, {pdn});
    put(IeType::kPaa, {pdn, 0, 0, 0, 0});
    put(IeType::kPco, {0x80, 0x00, 0x0d, 0x00});
    if (std::find(omit.begin(), omit.end(), IeType::kBearerContext) == omit.end()) {
      const size_t g = w.begin_group(IeType::kBearerContext);
      put(IeType::kEbi, {ebi});
      if (user) w.fteid(*user);
      w.end_group(g);
    }
    if (recovery) w.u8(IeType::kRecovery, *recovery);
    w.finish();
    return out;
  }
};

Datagram from_sgw(Bytes payload, Endpoint from = kSgwEndpoint) {
  return {from, {kControl, kGtpcPort}, std::move(payload)};
}

struct Decoded {
  Bytes bytes;  // the views below point into it
  v2::Message msg;
  v2::Reply reply;
};
// Decodes the one datagram the handler sent.
Decoded decode(const std::vector<Datagram>& out) {
  Decoded d;
  EXPECT_EQ(out.size(), 1u);
  if (out.empty()) return d;
  d.bytes = out.back().payload;
  EXPECT_EQ(v2::parse(d.bytes, d.msg), v2::Status::kOk);
  EXPECT_EQ(v2::decode_reply(d.msg, d.reply), v2::Status::kOk);
  return d;
}

class PgwTest : public ::testing::Test {
 protected:
  PgwConfig config() {
    PgwConfig c;
    c.control_addr = kControl;
    c.user_addr = kUser;
    c.restart_counter = 3;
    return c;
  }
  // Sends one datagram at `now` and returns what the PGW sent.
  std::vector<Datagram> send(const Datagram& d) {
    std::vector<Datagram> out;
    pgw.on_datagram(d, now, out);
    return out;
  }
  v2::Reply create(const Csr& csr = {}) { return decode(send(from_sgw(csr.build()))).reply; }

  FakeBackend backend;
  Pgw pgw{backend, config()};
  int64_t now = 1000;
};

Bytes modify_request(uint32_t teid, uint32_t seq, std::optional<uint8_t> ebi,
                     std::optional<v2::Fteid> user, std::optional<v2::Fteid> sender = {}) {
  Bytes out;
  v2::MessageWriter w(out, uint8_t(MsgType::kModifyBearerRequest), teid, seq);
  if (sender) w.fteid(*sender);
  const size_t g = w.begin_group(IeType::kBearerContext);
  if (ebi) w.u8(IeType::kEbi, *ebi);
  if (user) w.fteid(*user);
  w.end_group(g);
  w.finish();
  return out;
}

Bytes delete_request(uint32_t teid, uint32_t seq, std::optional<uint8_t> lbi = 5) {
  Bytes out;
  v2::MessageWriter w(out, uint8_t(MsgType::kDeleteSessionRequest), teid, seq);
  if (lbi) w.u8(IeType::kEbi, *lbi);
  w.finish();
  return out;
}

Bytes delete_bearer_response(uint32_t teid, uint32_t seq, uint8_t cause = 16) {
  v2::Reply r;
  r.type = uint8_t(MsgType::kDeleteBearerResponse);
  r.teid = teid;
  r.seq = seq;
  r.cause = cause;
  return v2::build_reply(r);
}

TEST_F(PgwTest, AcceptAnswersWithPaaTeidsAndDns) {
  std::vector<Datagram> out = send(from_sgw(Csr{}.build()));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].to, kSgwEndpoint);
  EXPECT_EQ(out[0].from, (Endpoint{kControl, kGtpcPort}));
  const Decoded d = decode(out);
  const v2::Reply& r = d.reply;
  EXPECT_EQ(r.type, uint8_t(MsgType::kCreateSessionResponse));
  EXPECT_TRUE(d.msg.header.has_teid);
  EXPECT_EQ(r.teid, kSgwTeid);  // the SGW's Sender F-TEID
  EXPECT_EQ(r.seq, 1u);
  EXPECT_EQ(r.cause, 16);
  // S5/S8: only the PGW S5/S8-C F-TEID (instance 1), carrying the backend's uplink TEID.
  EXPECT_EQ(r.fteids, std::vector<v2::Fteid>{fteid(Iface::kS5S8PgwC, 1, 100, kControl)});
  EXPECT_EQ(r.paa_ipv4, kUe);
  EXPECT_EQ(r.apn_restriction, 0);
  EXPECT_EQ(r.recovery, 3);
  ASSERT_TRUE(r.bearer);
  EXPECT_EQ(r.bearer->ebi, 5);
  EXPECT_EQ(r.bearer->cause, 16);
  EXPECT_EQ(r.bearer->fteids, std::vector<v2::Fteid>{fteid(Iface::kS5S8PgwU, 2, 100, kUser)});
  // PCO: the two DNS servers in 0x000D containers.
  EXPECT_EQ(r.pco, (Bytes{0x80, 0x00, 0x0d, 0x04, 8, 8, 8, 8, 0x00, 0x0d, 0x04, 1, 1, 1, 1}));

  ASSERT_EQ(backend.asks.size(), 1u);
  const AttachAsk& a = backend.asks[0];
  EXPECT_EQ(a.imsi, "204080000000001");
  EXPECT_EQ(a.msisdn, "31612345678");
  EXPECT_EQ(a.imei, "3520980727163206");
  EXPECT_EQ(a.apn, "iot.example");
  EXPECT_TRUE(a.rat_known);
  EXPECT_EQ(a.rat, core::Rat::kEutran);
  EXPECT_TRUE(a.rat_served);
  EXPECT_TRUE(a.serving_known);
  EXPECT_EQ(a.mcc, 204);
  EXPECT_EQ(a.mnc, 8);
  EXPECT_EQ(a.peer_addr, kSgwUser);
  EXPECT_EQ(a.peer_teid, kSgwUserTeid);
  EXPECT_EQ(pgw.sessions(), 1u);
  EXPECT_EQ(pgw.counters().accepted, 1u);
  EXPECT_EQ(pgw.counters().create_requests, 1u);
}

TEST_F(PgwTest, S11CreateIsAnsweredAsTheSgwWithoutAPeerUserPlane) {
  Csr csr;
  csr.sender = fteid(Iface::kS11Mme, 0, 0xa100, kSgw);
  csr.user.reset();  // an MME sends no eNodeB F-TEID before Modify Bearer
  const v2::Reply r = create(csr);
  EXPECT_EQ(r.cause, 16);
  EXPECT_EQ(r.teid, 0xa100u);
  EXPECT_EQ(r.fteids, (std::vector<v2::Fteid>{fteid(Iface::kS11S4SgwC, 0, 100, kControl),
                                              fteid(Iface::kS5S8PgwC, 1, 100, kControl)}));
  ASSERT_TRUE(r.bearer);
  EXPECT_EQ(r.bearer->fteids, std::vector<v2::Fteid>{fteid(Iface::kS1uSgw, 0, 100, kUser)});
  ASSERT_EQ(backend.asks.size(), 1u);
  EXPECT_EQ(backend.asks[0].peer_teid, 0u);
  EXPECT_EQ(backend.asks[0].peer_addr, core::Ipv4{});
}

TEST_F(PgwTest, RatTypesReachTheBackendAsCoreRats) {
  struct Case {
    uint8_t wire;
    core::Rat rat;
    bool served;
  };
  const Case cases[] = {{1, core::Rat::kUtran, true},   {2, core::Rat::kGeran, true},
                        {6, core::Rat::kEutran, true},  {8, core::Rat::kNbIot, true},
                        {9, core::Rat::kLteM, true},    {10, core::Rat::kNr, true},
                        {3, core::Rat::kEutran, false}, {7, core::Rat::kEutran, false}};
  uint32_t seq = 1;
  for (const Case& c : cases) {
    Csr csr;
    csr.seq = seq++;
    csr.rat = c.wire;
    create(csr);
    ASSERT_FALSE(backend.asks.empty());
    EXPECT_EQ(backend.asks.back().rat_served, c.served) << int(c.wire);
    if (c.served) {
      EXPECT_EQ(backend.asks.back().rat, c.rat) << int(c.wire);
    }
  }
}

TEST_F(PgwTest, EveryRefusalHasItsCause) {
  struct Case {
    Refusal refusal;
    uint8_t cause;
    uint64_t PgwCounters::*counter;
  };
  const Case cases[] = {
      {Refusal::kUnknownImsi, 96, &PgwCounters::refused_unknown_imsi},
      {Refusal::kNotActive, 92, &PgwCounters::refused_not_active},
      {Refusal::kDataOff, 92, &PgwCounters::refused_data_off},
      {Refusal::kUnknownApn, 78, &PgwCounters::refused_unknown_apn},
      {Refusal::kRatNotAllowed, 82, &PgwCounters::refused_rat_not_allowed},
      {Refusal::kRoamingNotAllowed, 93, &PgwCounters::refused_roaming_not_allowed},
      {Refusal::kImeiLocked, 92, &PgwCounters::refused_imei_locked},
      {Refusal::kNoAddress, 84, &PgwCounters::refused_no_address},
      {Refusal::kSystemFailure, 72, &PgwCounters::refused_system_failure},
  };
  uint32_t seq = 1;
  for (const Case& c : cases) {
    backend.refusal = c.refusal;
    Csr csr;
    csr.seq = seq++;
    const v2::Reply r = create(csr);
    EXPECT_EQ(r.cause, c.cause) << refusal_name(c.refusal);
    EXPECT_EQ(r.teid, kSgwTeid);
    EXPECT_FALSE(r.bearer);
    EXPECT_FALSE(r.paa_ipv4);
    EXPECT_EQ(pgw.counters().*c.counter, 1u) << refusal_name(c.refusal);
  }
  EXPECT_EQ(pgw.sessions(), 0u);
  EXPECT_EQ(pgw.counters().accepted, 0u);
}

TEST_F(PgwTest, PdnTypes) {
  Csr v6;
  v6.pdn = uint8_t(v2::PdnType::kIpv6);
  EXPECT_EQ(create(v6).cause, 83);
  EXPECT_TRUE(backend.asks.empty());
  EXPECT_EQ(pgw.counters().refused_pdn_type, 1u);
  Csr dual;
  dual.seq = 2;
  dual.pdn = uint8_t(v2::PdnType::kIpv4v6);
  const v2::Reply r = create(dual);
  EXPECT_EQ(r.cause, 18);  // New PDN type due to network preference
  EXPECT_EQ(r.paa_ipv4, kUe);
  EXPECT_EQ(pgw.sessions(), 1u);
}

TEST_F(PgwTest, MissingMandatoryIesAre70WithTheOffendingIe) {
  const IeType mandatory[] = {IeType::kImsi, IeType::kRatType,       IeType::kFteid,
                              IeType::kApn,  IeType::kBearerContext, IeType::kEbi};
  uint32_t seq = 1;
  for (const IeType t : mandatory) {
    Csr csr;
    csr.seq = seq++;
    csr.omit = {t};
    const v2::Reply r = create(csr);
    EXPECT_EQ(r.cause, 70) << int(t);
    ASSERT_TRUE(r.offending) << int(t);
    EXPECT_EQ(r.offending->type, uint8_t(t));
    // The response goes to the Sender F-TEID's TEID once that was decoded.
    const bool sender_known = t != IeType::kImsi && t != IeType::kRatType && t != IeType::kFteid;
    EXPECT_EQ(r.teid, sender_known ? kSgwTeid : 0u) << int(t);
  }
  EXPECT_TRUE(backend.asks.empty());
  EXPECT_EQ(pgw.counters().mandatory_missing, std::size(mandatory));
}

TEST_F(PgwTest, IncorrectIesAre69WithTheOffendingIe) {
  const std::pair<IeType, Bytes> cases[] = {
      {IeType::kImsi, {0x21, 0xab}},                  // not TBCD
      {IeType::kApn, {9, 'i', 'o', 't'}},             // label overruns
      {IeType::kFteid, {0x86, 0, 0}},                 // shorter than flags + TEID
      {IeType::kServingNetwork, {0x0a, 0xf4, 0x80}},  // MCC digit 10: not to be skipped
      {IeType::kRatType, {}},
      {IeType::kEbi, {0}},  // EBI 0 is reserved
  };
  uint32_t seq = 1;
  for (const auto& [type, bytes] : cases) {
    Csr csr;
    csr.seq = seq++;
    csr.garble = {{type, bytes}};
    const v2::Reply r = create(csr);
    EXPECT_EQ(r.cause, 69) << int(type);
    ASSERT_TRUE(r.offending);
    EXPECT_EQ(r.offending->type, uint8_t(type));
  }
  EXPECT_TRUE(backend.asks.empty());
  EXPECT_EQ(pgw.counters().mandatory_incorrect, std::size(cases));
}

TEST_F(PgwTest, EchoIsAnsweredWithOurRecovery) {
  Bytes echo;
  v2::MessageWriter w(echo, uint8_t(MsgType::kEchoRequest), std::nullopt, 0x4242);
  w.u8(IeType::kRecovery, 9);
  w.finish();
  const std::vector<Datagram> out = send(from_sgw(echo));
  ASSERT_EQ(out.size(), 1u);
  v2::Message m;
  ASSERT_EQ(v2::parse(out[0].payload, m), v2::Status::kOk);
  EXPECT_EQ(m.header.type, uint8_t(MsgType::kEchoResponse));
  EXPECT_FALSE(m.header.has_teid);
  EXPECT_EQ(m.header.seq, 0x4242u);
  EXPECT_EQ(v2::decode_recovery(m), 3);
  EXPECT_EQ(pgw.counters().echo_requests, 1u);
}

TEST_F(PgwTest, ModifyBearerUpdatesThePeerFteid) {
  create();
  const v2::Fteid enb = fteid(Iface::kS1uEnodeb, 0, 0xcafe, kOther);
  const Decoded d = decode(send(from_sgw(modify_request(100, 2, 5, enb))));
  EXPECT_EQ(d.reply.type, uint8_t(MsgType::kModifyBearerResponse));
  EXPECT_EQ(d.reply.cause, 16);
  EXPECT_EQ(d.reply.teid, kSgwTeid);
  ASSERT_TRUE(d.reply.bearer);
  EXPECT_EQ(d.reply.bearer->ebi, 5);
  EXPECT_EQ(d.reply.bearer->cause, 16);
  ASSERT_EQ(backend.modifies.size(), 1u);
  EXPECT_EQ(backend.modifies[0], std::make_tuple(100u, kOther, 0xcafeu));
  EXPECT_EQ(pgw.counters().modifies_accepted, 1u);
}

TEST_F(PgwTest, ModifyBearerForUnknownTeidOrEbiIsContextNotFound) {
  create();
  const v2::Fteid enb = fteid(Iface::kS1uEnodeb, 0, 0xcafe, kOther);
  v2::Reply r = decode(send(from_sgw(modify_request(555, 2, 5, enb)))).reply;
  EXPECT_EQ(r.cause, 64);
  EXPECT_EQ(r.teid, 0u);
  r = decode(send(from_sgw(modify_request(100, 3, 6, enb)))).reply;  // EBI 6: not ours
  EXPECT_EQ(r.cause, 64);
  r = decode(send(from_sgw(modify_request(100, 4, std::nullopt, enb)))).reply;
  EXPECT_EQ(r.cause, 70);
  EXPECT_EQ(r.offending, (v2::IeId{uint8_t(IeType::kEbi), 0}));
  backend.modify_ok = false;  // the backend lost the session
  r = decode(send(from_sgw(modify_request(100, 5, 5, enb)))).reply;
  EXPECT_EQ(r.cause, 64);
  EXPECT_EQ(pgw.sessions(), 0u);
  EXPECT_EQ(backend.modifies.size(), 1u);
  EXPECT_EQ(pgw.counters().context_not_found, 3u);
}

TEST_F(PgwTest, DeleteSessionOwnUnknownAndWrongPeer) {
  create();
  // Another peer may not end the session.
  v2::Reply r = decode(send(from_sgw(delete_request(100, 2), {kOther, 2123}))).reply;
  EXPECT_EQ(r.cause, 64);
  EXPECT_EQ(r.teid, 0u);
  EXPECT_EQ(pgw.counters().unknown_peer, 1u);
  EXPECT_EQ(pgw.sessions(), 1u);
  EXPECT_TRUE(backend.detaches.empty());
  // The session's peer may.
  r = decode(send(from_sgw(delete_request(100, 3)))).reply;
  EXPECT_EQ(r.type, uint8_t(MsgType::kDeleteSessionResponse));
  EXPECT_EQ(r.cause, 16);
  EXPECT_EQ(r.teid, kSgwTeid);
  EXPECT_EQ(backend.detaches, std::vector<uint32_t>{100});
  EXPECT_EQ(pgw.sessions(), 0u);
  // Unknown to us and to the backend.
  backend.detach_ok = false;
  r = decode(send(from_sgw(delete_request(100, 4)))).reply;
  EXPECT_EQ(r.cause, 64);
  EXPECT_EQ(pgw.counters().context_not_found, 1u);
  // Unknown to us (we restarted) but not to the backend: accepted.
  backend.detach_ok = true;
  r = decode(send(from_sgw(delete_request(777, 5)))).reply;
  EXPECT_EQ(r.cause, 16);
  EXPECT_EQ(backend.detaches.back(), 777u);
  EXPECT_EQ(pgw.counters().deletes_accepted, 2u);
}

TEST_F(PgwTest, RetransmissionIsAnsweredFromTheCache) {
  const Bytes csr = Csr{}.build();
  const std::vector<Datagram> first = send(from_sgw(csr));
  const std::vector<Datagram> again = send(from_sgw(csr));
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].payload, first[0].payload);
  EXPECT_EQ(backend.asks.size(), 1u);
  EXPECT_EQ(pgw.counters().retransmissions_answered, 1u);
  // Same sequence number, different content (a restarted peer): a new request.
  Csr changed;
  changed.imsi = "204080000000002";
  const Bytes other = changed.build();
  send(from_sgw(other));
  EXPECT_EQ(backend.asks.size(), 2u);
  now += 59999;
  send(from_sgw(other));  // still within response_cache_ms
  EXPECT_EQ(backend.asks.size(), 2u);
  // After response_cache_ms the cache has forgotten it.
  std::vector<Datagram> out;
  now += 2;
  pgw.tick(now, out);
  send(from_sgw(other));
  EXPECT_EQ(backend.asks.size(), 3u);
}

TEST_F(PgwTest, ForgottenResponsesAreNotReplayed) {
  std::vector<Datagram> out;
  const Bytes committed = Csr{}.build();
  send(from_sgw(committed));
  pgw.tick(now, out);  // the batch was flushed and sent
  Csr csr;
  csr.seq = 2;
  csr.imsi = "204080000000002";
  send(from_sgw(csr.build()));
  pgw.forget_responses();  // flush failed
  send(from_sgw(csr.build()));
  EXPECT_EQ(backend.asks.size(), 3u);  // asked again
  send(from_sgw(committed));
  EXPECT_EQ(backend.asks.size(), 3u);  // still cached
  EXPECT_EQ(pgw.counters().retransmissions_answered, 1u);
}

TEST_F(PgwTest, PeerRestartDetachesItsSessions) {
  create();  // Recovery 7
  Csr second;
  second.seq = 2;
  second.imsi = "204080000000002";
  second.recovery = 8;  // the SGW restarted
  EXPECT_EQ(create(second).cause, 16);
  EXPECT_EQ(backend.detaches, std::vector<uint32_t>{100});
  EXPECT_EQ(pgw.counters().peer_restarts, 1u);
  EXPECT_EQ(pgw.sessions(), 1u);  // the new one
}

TEST_F(PgwTest, NewCreateForTheSameImsiDropsTheOldContext) {
  create();
  Csr again;
  again.seq = 2;
  EXPECT_EQ(create(again).cause, 16);
  EXPECT_EQ(pgw.sessions(), 1u);
  std::vector<Datagram> out;
  pgw.on_session_ended(100, now, out);  // the old TEID no longer names a context
  EXPECT_TRUE(out.empty());
  pgw.on_session_ended(101, now, out);
  EXPECT_EQ(out.size(), 1u);
}

TEST_F(PgwTest, DeleteBearerIsRetransmittedUntilTheLastRetry) {
  create();
  std::vector<Datagram> out;
  pgw.on_session_ended(100, now, out);
  ASSERT_EQ(out.size(), 1u);
  const Datagram dbr = out[0];
  EXPECT_EQ(dbr.to, (Endpoint{kSgw, kGtpcPort}));  // the Sender F-TEID's address, port 2123
  v2::Message m;
  ASSERT_EQ(v2::parse(dbr.payload, m), v2::Status::kOk);
  EXPECT_EQ(m.header.type, uint8_t(MsgType::kDeleteBearerRequest));
  EXPECT_EQ(m.header.teid, kSgwTeid);
  v2::DeleteRequest del;
  ASSERT_EQ(v2::decode_delete_request(m, del), v2::Status::kOk);
  EXPECT_EQ(del.lbi, 5);
  pgw.on_session_ended(100, now, out);  // already being deleted: nothing more
  EXPECT_EQ(out.size(), 1u);

  for (int retry = 1; retry <= 3; ++retry) {
    out.clear();
    pgw.tick(now + 2999, out);  // not yet due
    EXPECT_TRUE(out.empty());
    now += 3000;
    pgw.tick(now, out);
    ASSERT_EQ(out.size(), 1u) << retry;
    EXPECT_EQ(out[0].payload, dbr.payload);  // same sequence number, same bytes
  }
  EXPECT_EQ(pgw.sessions(), 1u);
  out.clear();
  now += 3000;
  pgw.tick(now, out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(pgw.sessions(), 0u);
  EXPECT_EQ(pgw.counters().delete_bearer_timeouts, 1u);
  EXPECT_TRUE(backend.detaches.empty());  // control ended the session itself
}

TEST_F(PgwTest, DeleteBearerStopsOnTheResponse) {
  create();
  std::vector<Datagram> out;
  pgw.on_session_ended(100, now, out);
  v2::Message m;
  ASSERT_EQ(v2::parse(out[0].payload, m), v2::Status::kOk);
  // A response with another sequence number matches nothing.
  EXPECT_TRUE(send(from_sgw(delete_bearer_response(100, m.header.seq + 1))).empty());
  EXPECT_EQ(pgw.counters().unmatched_responses, 1u);
  EXPECT_TRUE(send(from_sgw(delete_bearer_response(100, m.header.seq))).empty());
  EXPECT_EQ(pgw.counters().delete_bearer_answered, 1u);
  EXPECT_EQ(pgw.sessions(), 0u);
  out.clear();
  now += 10000;
  pgw.tick(now, out);
  EXPECT_TRUE(out.empty());
}

TEST_F(PgwTest, OtherVersionsGetVersionNotSupported) {
  // GTPv1-C Echo Request with S set, sequence 0x1234.
  const Bytes v1 = {0x32, 0x01, 0x00, 0x04, 0, 0, 0, 0, 0x12, 0x34, 0x00, 0x00};
  const std::vector<Datagram> out = send(from_sgw(v1));
  ASSERT_EQ(out.size(), 1u);
  v2::Message m;
  ASSERT_EQ(v2::parse(out[0].payload, m), v2::Status::kOk);
  EXPECT_EQ(m.header.type, uint8_t(MsgType::kVersionNotSupported));
  EXPECT_FALSE(m.header.has_teid);
  EXPECT_EQ(m.header.seq, 0x1234u);
  EXPECT_EQ(pgw.counters().version_not_supported, 1u);
  // A Version Not Supported itself is not answered.
  EXPECT_TRUE(send(from_sgw({0x30, 0x03, 0, 0, 0, 0, 0, 0})).empty());
}

TEST_F(PgwTest, GarbageUnknownMessagesAndStrangersAreDropped) {
  EXPECT_TRUE(send(from_sgw({0x48, 0x20})).empty());
  EXPECT_EQ(pgw.counters().malformed, 1u);
  Bytes unknown;
  v2::MessageWriter w(unknown, 0x55, 0, 1);
  w.finish();
  EXPECT_TRUE(send(from_sgw(unknown)).empty());
  EXPECT_EQ(pgw.counters().unknown_message, 1u);
  EXPECT_TRUE(send(from_sgw(v2::build_echo_response(1, 1))).empty());
  EXPECT_EQ(pgw.counters().unmatched_responses, 1u);
  // A Create Session Request whose length field overruns the datagram: Invalid Length (67).
  Bytes cut = Csr{}.build();
  cut.resize(cut.size() - 3);
  const v2::Reply r = decode(send(from_sgw(cut))).reply;
  EXPECT_EQ(r.cause, 67);
  EXPECT_EQ(r.teid, 0u);
  EXPECT_EQ(pgw.counters().malformed, 2u);
  EXPECT_TRUE(backend.asks.empty());

  PgwConfig c = config();
  c.allowed_peers = {kOther};
  Pgw strict(backend, c);
  std::vector<Datagram> out;
  strict.on_datagram(from_sgw(Csr{}.build()), now, out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(strict.counters().unknown_peer, 1u);
  strict.on_datagram(from_sgw(Csr{}.build(), {kOther, 2123}), now, out);
  EXPECT_EQ(out.size(), 1u);
}

TEST_F(PgwTest, PiggybackedMessageIsIgnored) {
  create();
  Bytes both = modify_request(100, 2, 5, fteid(Iface::kS1uEnodeb, 0, 0xcafe, kOther));
  both[0] |= 0x10;  // P
  const Bytes extra = delete_bearer_response(100, 77);
  both.insert(both.end(), extra.begin(), extra.end());
  const std::vector<Datagram> out = send(from_sgw(both));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(backend.modifies.size(), 1u);
  EXPECT_EQ(pgw.counters().piggybacked_ignored, 1u);
  EXPECT_EQ(pgw.counters().delete_bearer_responses, 0u);
}

// ---- Real captures ----

const fs::path kPcapDir = SIMCORE_PCAP_DIR;

Bytes from_hex(const std::string& hex) {
  Bytes b;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    b.push_back(static_cast<uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  }
  return b;
}

TEST_F(PgwTest, CaptureCreateSessionRequestsAreAccepted) {
  SIMCORE_REQUIRE_PCAPS(kPcapDir);
  SIMCORE_REQUIRE_TSHARK();
  int accepted = 0;
  for (const char* name : {"magma_s8_attach_gtpu.pcapng", "magma_s8_attach_idle_connected.pcapng",
                           "magma_s11_nsa_connection.pcap", "ndpi_gtpv2_create_delete.pcap"}) {
    SCOPED_TRACE(name);
    // tshark supplies the bytes and, independently of our decoder, the F-TEIDs.
    const auto rows = dp::testing::tshark_fields(
        kPcapDir / name, "gtpv2.message_type==32",
        {"udp.payload", "ip.src", "udp.srcport", "gtpv2.f_teid_interface_type",
         "gtpv2.f_teid_gre_key", "gtpv2.f_teid_ipv4"});
    ASSERT_EQ(rows.size(), 1u);
    const auto& row = rows[0];
    auto split = [](const std::string& field) {
      std::vector<std::string> items;
      std::stringstream ss(field);
      for (std::string item; std::getline(ss, item, ',');) items.push_back(item);
      return items;
    };
    const std::vector<std::string> ifaces = split(row[3]), keys = split(row[4]),
                                   addrs = split(row[5]);
    ASSERT_FALSE(keys.empty());
    const Endpoint peer{core::Ipv4::parse(row[1]).value(), uint16_t(std::stoi(row[2]))};
    const size_t before = backend.asks.size();
    const v2::Reply r = decode(send(from_sgw(from_hex(row[0]), peer))).reply;
    EXPECT_EQ(r.cause, 16);
    EXPECT_EQ(r.teid, std::stoul(keys[0], nullptr, 16));  // the Sender F-TEID's TEID
    ASSERT_EQ(backend.asks.size(), before + 1);
    // The peer's user-plane F-TEID (S5/S8-U SGW = 4), when the request has one.
    uint32_t want_teid = 0;
    std::string want_addr = "0.0.0.0";
    for (size_t i = 0; i < ifaces.size(); ++i) {
      if (ifaces[i] == "4") {
        want_teid = static_cast<uint32_t>(std::stoul(keys[i], nullptr, 16));
        want_addr = addrs.at(i);
      }
    }
    EXPECT_EQ(backend.asks.back().peer_teid, want_teid);
    EXPECT_EQ(backend.asks.back().peer_addr.str(), want_addr);
    ++accepted;
  }
  EXPECT_EQ(accepted, 4);
}

// ---- tshark's reading of everything we emit ----

Bytes frame_of(const Datagram& d) {
  const dp::testing::Ip4 ip = dp::testing::ip4(d.from.addr.value, d.to.addr.value);
  return dp::testing::ethernet(
      {2, 0, 0, 0, 0, 2}, {2, 0, 0, 0, 0, 1}, dp::kEtherTypeIpv4,
      dp::testing::ipv4(ip, dp::kProtoUdp,
                        dp::testing::udp(ip, d.from.port, d.to.port, d.payload)));
}

TEST_F(PgwTest, TsharkDecodesEverythingWeEmit) {
  SIMCORE_REQUIRE_TSHARK();
  std::vector<Datagram> emitted;
  auto keep = [&](std::vector<Datagram> out) {
    for (Datagram& d : out) emitted.push_back(std::move(d));
  };
  Bytes echo;
  v2::MessageWriter w(echo, uint8_t(MsgType::kEchoRequest), std::nullopt, 1);
  w.u8(IeType::kRecovery, 7);
  w.finish();
  keep(send(from_sgw(echo)));
  Csr s5;
  s5.seq = 2;
  emitted.push_back(from_sgw(s5.build()));  // one request of ours too: tshark reads its IMSI
  keep(send(from_sgw(s5.build())));
  Csr s11;
  s11.seq = 3;
  s11.imsi = "204080000000002";
  s11.sender = fteid(Iface::kS11Mme, 0, 0xa100, kSgw);
  keep(send(from_sgw(s11.build())));
  Csr missing;
  missing.seq = 4;
  missing.omit = {IeType::kApn};
  keep(send(from_sgw(missing.build())));
  backend.refusal = Refusal::kRoamingNotAllowed;
  Csr roaming;
  roaming.seq = 5;
  keep(send(from_sgw(roaming.build())));
  keep(send(from_sgw(modify_request(100, 6, 5, fteid(Iface::kS1uEnodeb, 0, 0xcafe, kOther)))));
  keep(send(from_sgw(delete_request(100, 7))));
  std::vector<Datagram> out;
  pgw.on_session_ended(101, now, out);
  keep(std::move(out));
  keep(send(from_sgw({0x32, 0x01, 0x00, 0x04, 0, 0, 0, 0, 0x12, 0x34, 0x00, 0x00})));
  ASSERT_EQ(emitted.size(), 10u);

  std::vector<Bytes> frames;
  for (const Datagram& d : emitted) frames.push_back(frame_of(d));
  const fs::path file = fs::path(::testing::TempDir()) / "pgw_emitted.pcap";
  ASSERT_TRUE(dp::testing::write_pcap(file, frames));
  EXPECT_EQ(dp::testing::tshark_problems(file), "");

  const auto rows = dp::testing::tshark_fields(
      file, "gtpv2",
      {"gtpv2.message_type", "gtpv2.cause", "gtpv2.teid", "gtpv2.seq", "gtpv2.f_teid_gre_key",
       "gtpv2.f_teid_ipv4", "gtpv2.pdn_addr_and_prefix.ipv4", "gtpv2.rec", "gtpv2.ebi",
       "gtpv2.cause_off_ie_t", "e212.imsi"});
  ASSERT_EQ(rows.size(), emitted.size());
  auto hex32 = [](uint32_t v) {
    char b[16];
    std::snprintf(b, sizeof b, "0x%08x", v);
    return std::string(b);
  };
  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE("frame " + std::to_string(i + 1));
    const auto& row = rows[i];
    v2::Message m;
    ASSERT_EQ(v2::parse(emitted[i].payload, m), v2::Status::kOk);
    EXPECT_EQ(row[0], std::to_string(m.header.type));
    char seq[16];
    std::snprintf(seq, sizeof seq, "0x%06x", m.header.seq);
    EXPECT_EQ(row[3], seq);
    if (m.header.has_teid) {
      EXPECT_EQ(row[2], hex32(m.header.teid));
    }
    const uint8_t type = m.header.type;
    if (type == uint8_t(MsgType::kCreateSessionRequest)) {
      EXPECT_EQ(row[10], "204080000000001");
      continue;
    }
    if (type == uint8_t(MsgType::kEchoResponse)) {
      EXPECT_EQ(row[7], "3");
      continue;
    }
    if (type == uint8_t(MsgType::kVersionNotSupported)) continue;
    if (type == uint8_t(MsgType::kDeleteBearerRequest)) {
      EXPECT_EQ(row[8], "5");
      continue;
    }
    v2::Reply r;
    ASSERT_EQ(v2::decode_reply(m, r), v2::Status::kOk);
    // Causes: the message's, then the bearer context's.
    std::string causes = std::to_string(r.cause);
    if (r.bearer) causes += "," + std::to_string(r.bearer->cause);
    EXPECT_EQ(row[1], causes);
    std::string keys, addrs;
    auto add = [&](const v2::Fteid& f) {
      keys += (keys.empty() ? "" : ",") + hex32(f.teid);
      addrs += (addrs.empty() ? "" : ",") + f.ipv4.str();
    };
    for (const v2::Fteid& f : r.fteids) add(f);
    if (r.bearer) {
      for (const v2::Fteid& f : r.bearer->fteids) add(f);
    }
    EXPECT_EQ(row[4], keys);
    EXPECT_EQ(row[5], addrs);
    EXPECT_EQ(row[6], r.paa_ipv4 ? r.paa_ipv4->str() : "");
    EXPECT_EQ(row[7], r.recovery ? std::to_string(*r.recovery) : "");
    EXPECT_EQ(row[9], r.offending ? std::to_string(r.offending->type) : "");
  }
  // The accepted S5/S8 Create: what tshark read is what we meant to send.
  EXPECT_EQ(rows[2][1], "16,16");
  EXPECT_EQ(rows[2][4], hex32(100) + "," + hex32(100));
  EXPECT_EQ(rows[2][6], kUe.str());
  EXPECT_EQ(rows[4][1], "70");
  EXPECT_EQ(rows[4][9], std::to_string(uint8_t(IeType::kApn)));
  EXPECT_EQ(rows[5][1], "93");
}

// ---- The handler never crashes ----

TEST_F(PgwTest, MutatedDatagramsNeverCrash) {
  const uint32_t seed = std::random_device{}();
  std::cout << "seed " << seed << "\n";
  std::mt19937 rng(seed);
  create();
  Bytes echo;
  v2::MessageWriter w(echo, uint8_t(MsgType::kEchoRequest), std::nullopt, 1);
  w.u8(IeType::kRecovery, 7);
  w.finish();
  const std::vector<Bytes> base = {
      Csr{}.build(), modify_request(100, 2, 5, fteid(Iface::kS1uEnodeb, 0, 1, kOther)),
      delete_request(100, 3), delete_bearer_response(100, 1), echo};
  std::vector<Datagram> out;
  constexpr int kRounds = 10000;
  for (int i = 0; i < kRounds; ++i) {
    Bytes b = base[rng() % base.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !b.empty(); ++e) {
      switch (rng() % 3) {
        case 0: b[rng() % b.size()] = static_cast<uint8_t>(rng()); break;
        case 1: b[rng() % b.size()] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
        default: b.resize(rng() % (b.size() + 1));
      }
    }
    b.shrink_to_fit();
    out.clear();
    pgw.on_datagram(from_sgw(std::move(b)), now, out);
    if (i % 100 == 0) pgw.on_session_ended(100 + rng() % 4, now, out);
    now += 10;
    pgw.tick(now, out);
  }
  // It still works afterwards.
  Csr fresh;
  fresh.seq = 0xfffff;
  fresh.imsi = "204089999999999";
  fresh.recovery.reset();
  EXPECT_EQ(create(fresh).cause, 16);
}

}  // namespace
}  // namespace simcore::gtpc
