// The engine on net_ring ports in one process: frames go into the ports' rx rings and what the
// workers transmit is read from the tx rings. Each frame's bytes out must be what process()
// makes of it on the same tables (the pipeline's own tests check those bytes field by field);
// these tests are about what DPDK adds: ports, bursts, mbufs, worker handoff, counters,
// control's rings, and snapshot swaps under traffic.
#include "dataplane/dpdk/engine.h"

#include <gtest/gtest.h>
#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <set>
#include <thread>

#include "core/compiler.h"
#include "dataplane/dpdk/eal.h"
#include "dataplane/packet/wire.h"
#include "dataplane/dpdk/engine_test_support.h"

namespace simcore::dp {
namespace {

using namespace enginetest;  // NOLINT: the test vocabulary

TEST(Engine, RefusesToStartWithoutTablesAndWithTooManyWorkers) {
  RingLab lab(1);
  ASSERT_NE(lab.engine, nullptr);
  const core::Status s = lab.engine->start();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), core::Code::kFailedPrecondition);

  EngineConfig c;
  c.workers = 40;
  auto e = Engine::create(c);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().fields().at(0).field, "workers");

  EngineConfig f;
  f.flow_entries = 1000;  // not a power of two
  auto bad = Engine::create(f);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().fields().at(0).field, "flow_entries");
}

// A flow table of 8 entries (one window) and a stateful profile: the ninth flow a Thing opens
// pushes out the least recently used one, which the worker counts. A reply on the evicted flow
// then meets the inbound chain (denied); a reply on the newest is let in.
TEST(Engine, AFullFlowTableEvictsTheOldestFlowAndCountsIt) {
  Policy policy(1, /*stateful_profile=*/true);
  RingLab lab(1, 0, kPorts, false, /*flow_entries=*/8);
  ASSERT_NE(lab.engine, nullptr);
  EXPECT_EQ(lab.engine->flow_entries(), 8u);
  ASSERT_TRUE(lab.engine->publish(policy.compile()).ok());
  ASSERT_TRUE(lab.engine->start().ok());
  // One at a time, each out before the next goes in: every flow gets a later clock than the
  // one before, so the least recently used is flow 0.
  for (uint16_t k = 0; k < 9; ++k) {
    lab.send(Port::kAccess, uplink_frame(0, static_cast<uint16_t>(1000 + k), k));
    ASSERT_EQ(lab.received(Port::kCore, 1).size(), 1u) << "uplink " << k;
  }
  auto reply = [](uint16_t from_port, uint16_t id) {
    return testing::ethernet(kCoreMac, kCoreRouterMac, kEtherTypeIpv4,
                             udp_packet(kServer, thing_addr(0), from_port, 40000, id));
  };
  lab.send(Port::kCore, reply(1008, 100));  // the newest flow: delivered
  EXPECT_EQ(lab.received(Port::kAccess, 1).size(), 1u);
  lab.send(Port::kCore, reply(1000, 101));  // the evicted one: denied inbound
  ASSERT_TRUE(lab.wait_rx(11));
  lab.engine->stop();
  EXPECT_TRUE(lab.received(Port::kAccess, 1, std::chrono::milliseconds(50)).empty());
  const Counters c = lab.engine->total();
  EXPECT_EQ(c.policy_drop[static_cast<size_t>(core::DropReason::kDownlinkFirewall)], 1u);
  EXPECT_EQ(lab.engine->worker_stats().at(0).flow_evictions, 1u);
}

// Every verdict through one engine, on the stock mbuf pool or on packed mbufs.
void carries_every_verdict(bool packed_mbufs) {
  Policy policy(4);
  const auto tables = policy.compile();
  RingLab lab(1, 0, kPorts, packed_mbufs);
  ASSERT_NE(lab.engine, nullptr);
  // These tests run without hugepages, where packed_mbufs takes effect: a pool of objects
  // without contiguous IOVAs (mbuf_pool.h), unlike the stock one.
  EXPECT_EQ((lab.engine->pool()->flags & RTE_MEMPOOL_F_NO_IOVA_CONTIG) != 0, packed_mbufs);
  ASSERT_TRUE(lab.engine->publish(tables).ok());
  ASSERT_TRUE(lab.engine->start().ok());

  Bytes truncated = uplink_frame(0, 80, 9);
  truncated.resize(40);
  const std::vector<std::pair<Port, Bytes>> frames = {
      {Port::kAccess, uplink_frame(0, 80, 1)},    // forward, VLAN 7
      {Port::kAccess, uplink_frame(1, 53, 2)},    // uplink.firewall
      {Port::kAccess, uplink_frame(2, 443, 3)},   // forward
      {Port::kCore, downlink_frame(3, 4)},        // deliver, GTP-U toward the eNodeB
      {Port::kCore, downlink_frame(200, 5)},      // downlink.no_session
      {Port::kAccess, truncated},                 // malformed: counted by its parse status
  };
  Counters want{};
  std::vector<Bytes> want_out[kPortCount];
  for (const auto& [port, frame] : frames) {
    const Expected e = expect(*tables, port, frame, want);
    if (e.out != Port::kNone) want_out[static_cast<size_t>(e.out)].push_back(e.bytes);
    lab.send(port, frame);
  }
  ASSERT_EQ(want_out[0].size(), 1u);
  ASSERT_EQ(want_out[1].size(), 2u);
  EXPECT_EQ(lab.received(Port::kCore, 2), want_out[1]);
  EXPECT_EQ(lab.received(Port::kAccess, 1), want_out[0]);
  ASSERT_TRUE(lab.wait_rx(frames.size()));
  lab.engine->stop();
  EXPECT_TRUE(same_counters(lab.engine->total(), want));
  EXPECT_EQ(lab.engine->total().policy_drop[static_cast<size_t>(core::DropReason::kUplinkFirewall)],
            1u);
  // Only the DNS packet was decided by a rule (the profile's one deny rule); the others by
  // the chains' default action, which is no rule.
  uint32_t deny_rule = 0;
  for (const auto& prof : tables->profiles) {
    if (!prof->outbound.rules.empty()) deny_rule = prof->outbound.rules[0].rule_id;
  }
  ASSERT_NE(deny_rule, 0u);
  EXPECT_EQ(lab.engine->rule_hits(),
            (std::vector<std::pair<uint32_t, uint64_t>>{{deny_rule, 1}}));
}

TEST(Engine, RingPortsCarryEveryVerdictWithThePipelinesBytesAndCounters) {
  carries_every_verdict(false);
}

TEST(Engine, PackedMbufsCarryEveryVerdictAsTheStockPoolDoes) { carries_every_verdict(true); }

TEST(Engine, ControlTransmitsThroughWorkerZero) {
  Policy policy(1);
  RingLab lab(2);
  ASSERT_NE(lab.engine, nullptr);
  ASSERT_TRUE(lab.engine->publish(policy.compile()).ok());
  ASSERT_TRUE(lab.engine->start().ok());
  const Bytes reply = downlink_frame(0, 77);  // any bytes: control's frames are not policed
  rte_mbuf* m = rte_pktmbuf_alloc(lab.engine->pool());
  ASSERT_NE(m, nullptr);
  std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(reply.size())), reply.data(),
              reply.size());
  ASSERT_TRUE(lab.engine->transmit(Port::kAccess, m));
  EXPECT_EQ(lab.received(Port::kAccess, 1), std::vector<Bytes>{reply});
  EXPECT_TRUE(lab.received(Port::kCore, 1, std::chrono::milliseconds(100)).empty());
}

// Three workers behind single-queue ports: worker 0 receives everything and hands each frame
// to the worker that owns its Thing. Every frame must come out, and the records must show each
// Thing (uplink source, downlink destination) handled by one worker only.
TEST(Engine, EachThingIsHandledByOneWorker) {
  constexpr size_t kThings = 48, kRounds = 20;
  Policy policy(kThings);
  RingLab lab(3, 4096);
  ASSERT_NE(lab.engine, nullptr);
  ASSERT_TRUE(lab.engine->publish(policy.compile()).ok());
  ASSERT_TRUE(lab.engine->start().ok());
  for (size_t r = 0; r < kRounds; ++r) {
    for (size_t t = 0; t < kThings; ++t) {
      lab.send(Port::kAccess, uplink_frame(t, 80, static_cast<uint16_t>(r)));
      lab.send(Port::kCore, downlink_frame(t, static_cast<uint16_t>(r)));
    }
  }
  EXPECT_EQ(lab.received(Port::kCore, kThings * kRounds).size(), kThings * kRounds);
  EXPECT_EQ(lab.received(Port::kAccess, kThings * kRounds).size(), kThings * kRounds);
  lab.engine->stop();

  std::vector<Record> records(4096);
  records.resize(lab.engine->drain_records(records));
  ASSERT_EQ(records.size(), 2 * kThings * kRounds);
  std::map<uint32_t, std::set<unsigned>> workers_of;  // Thing address → workers seen
  std::set<unsigned> used;
  for (const Record& r : records) {
    const uint32_t thing = r.in == Port::kAccess ? r.src : 0;
    if (thing != 0) workers_of[thing].insert(r.worker);
    used.insert(r.worker);
  }
  for (const auto& [thing, ws] : workers_of) EXPECT_EQ(ws.size(), 1u) << thing;
  EXPECT_EQ(used.size(), 3u);  // 48 Things over 3 workers: each gets some
  uint64_t handed = 0;
  for (const WorkerStats& s : lab.engine->worker_stats()) {
    handed += s.handed_off;
    EXPECT_EQ(s.handoff_full + s.tx_full + s.records_lost, 0u);
  }
  EXPECT_GT(handed, 0u);
  // Uplink and downlink of one Thing meet on the same worker.
  std::vector<Counters> per = lab.engine->counters();
  for (const Counters& c : per) EXPECT_EQ(c.rx[0], c.rx[1]);
}

// One burst in which later packets depend on flows earlier ones open (stateful profile:
// inbound denied unless a reply). All frames are queued before the worker starts, so its first
// burst takes the uplinks (access port first) and then the downlink replies; the engine
// classifies them a window at a time, and must agree frame by frame — Outcome, bytes out,
// counters — with the portable pipeline run on the frames one after the other. Also in the
// burst: uplinks with TTL 1 whose ICMP error goes down the sender's tunnel only when a packet
// before it (not after it) opened an ICMP flow from that Thing to access_addr.
TEST(Engine, OneBurstWithDependentStatefulFlowsMatchesThePipelineFrameByFrame) {
  constexpr size_t kThings = 4;
  Policy policy(kThings, /*stateful_profile=*/true);
  const auto tables = policy.compile();
  RingLab lab(1, 256);
  ASSERT_NE(lab.engine, nullptr);
  ASSERT_TRUE(lab.engine->publish(tables).ok());

  uint16_t id = 0;
  auto uplink = [&](size_t thing, const Bytes& inner) {
    const Ip4 o = testing::ip4(kEnb, kPorts.access_addr);
    return testing::ethernet(
        kAccessMac, kAccessPeerMac, kEtherTypeIpv4,
        testing::ipv4(o, kProtoUdp,
                      testing::udp(o, kGtpuPort, kGtpuPort,
                                   testing::gtpu(kGtpuMsgGpdu, thing_teid(thing), inner), false)));
  };
  auto udp_ttl = [&](uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint8_t ttl) {
    Ip4 h = testing::ip4(src, dst, ttl);
    h.id = ++id;
    return testing::ipv4(h, kProtoUdp, testing::udp(h, sport, dport, {1, 2, 3, 4}));
  };
  auto downlink = [&](uint32_t src, size_t thing, uint16_t sport) {
    return testing::ethernet(kCoreMac, kCoreRouterMac, kEtherTypeIpv4,
                             udp_ttl(src, thing_addr(thing), sport, 40000, 64));
  };
  std::vector<std::pair<Port, Bytes>> frames;
  auto ping_access_addr = [&](size_t thing) {  // forwarded: it is not the core address
    Ip4 h = testing::ip4(thing_addr(thing), kPorts.access_addr);
    h.id = ++id;
    return uplink(thing, testing::ipv4(h, kProtoIcmp, testing::icmp_echo(7, 1, {1, 2})));
  };
  auto ttl1 = [&](size_t thing) {
    return uplink(thing, udp_ttl(thing_addr(thing), kServer, 40000, 80, 1));
  };
  // TTL 1 from Thing 1, which opened nothing: no way back, the error is suppressed.
  frames.push_back({Port::kAccess, ttl1(1)});
  // Thing 2's TTL 1 comes before its ping: suppressed too (the ping is decided after it).
  frames.push_back({Port::kAccess, ttl1(2)});
  frames.push_back({Port::kAccess, ping_access_addr(2)});
  // Thing 0 pings first, so the Time Exceeded about its next packet comes down its tunnel.
  frames.push_back({Port::kAccess, ping_access_addr(0)});
  frames.push_back({Port::kAccess, ttl1(0)});
  // Flows opened by 20 uplinks, then their replies (allowed) and unsolicited packets (denied).
  for (size_t k = 0; k < 20; ++k) {
    const size_t t = k % kThings;
    frames.push_back({Port::kAccess,
                      uplink(t, udp_ttl(thing_addr(t), kServer, 40000,
                                        static_cast<uint16_t>(1000 + k), 64))});
  }
  for (size_t k = 0; k < 20; ++k) {
    frames.push_back({Port::kCore, downlink(kServer, k % kThings, static_cast<uint16_t>(1000 + k))});
    if (k % 4 == 0) frames.push_back({Port::kCore, downlink(kServer, k % kThings, 9999)});
  }
  frames.push_back({Port::kCore, downlink(ip("198.51.100.2"), 0, 1000)});  // other server

  // The engine takes the access port's frames before the core port's.
  std::stable_sort(frames.begin(), frames.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  ASSERT_LE(frames.size(), 64u);  // one rx burst per port
  Counters want{};
  core::FlowMemory flows;
  std::vector<Expected> expected;
  std::vector<Bytes> want_out[kPortCount];
  for (const auto& [port, frame] : frames) {
    expected.push_back(expect(*tables, port, frame, want, flows));
    if (expected.back().out == Port::kAccess || expected.back().out == Port::kCore) {
      want_out[static_cast<size_t>(expected.back().out)].push_back(expected.back().bytes);
    }
    lab.send(port, frame);
  }
  // The scenario is what it says: replies pass by their flows, the pinging Thing gets its
  // error, the other does not, unsolicited packets are denied.
  EXPECT_EQ(expected[0].out, Port::kNone);
  EXPECT_EQ(expected[1].out, Port::kNone);
  EXPECT_EQ(expected[4].out, Port::kAccess);
  EXPECT_EQ(expected[4].outcome.drop, PipelineDrop::kTtlExceeded);
  size_t by_flow = 0, denied = 0;
  for (const Expected& e : expected) {
    by_flow += e.outcome.policed && e.outcome.rule_id == core::kFlowRuleId;
    denied += e.outcome.policy_drop == core::DropReason::kDownlinkFirewall;
  }
  EXPECT_EQ(by_flow, 20u);
  EXPECT_EQ(denied, 6u);

  ASSERT_TRUE(lab.engine->start().ok());
  ASSERT_TRUE(lab.wait_rx(frames.size()));
  EXPECT_EQ(lab.received(Port::kAccess, want_out[0].size()), want_out[0]);
  EXPECT_EQ(lab.received(Port::kCore, want_out[1].size()), want_out[1]);
  lab.engine->stop();
  EXPECT_TRUE(same_counters(lab.engine->total(), want));

  std::vector<Record> records(frames.size() + 1);
  records.resize(lab.engine->drain_records(records));
  ASSERT_EQ(records.size(), frames.size());
  for (size_t i = 0; i < records.size(); ++i) {
    SCOPED_TRACE(i);
    const Outcome& got = records[i].outcome;
    const Outcome& e = expected[i].outcome;
    EXPECT_EQ(records[i].in, frames[i].first);
    EXPECT_EQ(got.out, e.out);
    EXPECT_EQ(got.policed, e.policed);
    EXPECT_EQ(got.verdict, e.verdict);
    EXPECT_EQ(got.policy_drop, e.policy_drop);
    EXPECT_EQ(got.drop, e.drop);
    EXPECT_EQ(got.rule_id, e.rule_id);
    EXPECT_EQ(got.thing, e.thing);
    EXPECT_EQ(got.target, e.target);
  }
}

// Control publishes 1,000 changed snapshots — a Thing suspended and reactivated, a deny rule
// added and removed — while two workers classify a steady stream. Every frame must be
// accounted for (none lost to a swap), and each one's verdict must be what the snapshot it was
// classified under says: the record names the generation, and the pipeline on that
// generation's tables must agree.
TEST(Engine, LiveSwapLosesNothingAndEveryVerdictMatchesItsSnapshot) {
  constexpr size_t kThings = 8, kSwaps = 1000, kPerSwap = 12;
  Policy policy(kThings);
  RingLab lab(2, 32768);
  ASSERT_NE(lab.engine, nullptr);
  std::map<uint64_t, std::shared_ptr<const core::CompiledTables>> by_generation;
  auto publish = [&] {
    auto t = policy.compile();
    by_generation[t->generation] = t;
    ASSERT_TRUE(lab.engine->publish(t).ok());
  };
  publish();
  ASSERT_TRUE(lab.engine->start().ok());

  std::map<std::pair<uint32_t, uint16_t>, std::pair<Port, Bytes>> sent;  // (src, ip id) → frame
  uint16_t id = 0;
  size_t out_expected_max = 0;
  for (size_t s = 0; s < kSwaps; ++s) {
    for (size_t k = 0; k < kPerSwap; ++k, ++id) {
      const size_t thing = id % kThings;
      // Things 0 and 1 see the changes: 0 is suspended/reactivated, DNS is denied by turns.
      Bytes f = (k % 3 == 2) ? downlink_frame(thing, id)
                             : uplink_frame(thing, (k % 3 == 0) ? 53 : 80, id);
      const Port in = (k % 3 == 2) ? Port::kCore : Port::kAccess;
      const uint32_t src = in == Port::kCore ? kServer : thing_addr(thing);
      sent[{src, id}] = {in, f};
      lab.send(in, f);
      ++out_expected_max;
    }
    switch (s % 4) {
      case 0: policy.suspend(0); break;
      case 1: policy.activate(0); break;
      case 2: policy.deny_dns(false); break;
      case 3: policy.deny_dns(true); break;
    }
    publish();
  }
  ASSERT_TRUE(lab.wait_rx(sent.size()));
  lab.engine->stop();

  std::vector<Record> records(sent.size() + 1);
  records.resize(lab.engine->drain_records(records));
  ASSERT_EQ(records.size(), sent.size());  // every frame was classified exactly once
  std::set<uint64_t> generations;
  size_t mismatches = 0;
  Counters want{};
  for (const Record& r : records) {
    const auto it = sent.find({r.src, r.ip_id});
    ASSERT_NE(it, sent.end());
    generations.insert(r.generation);
    const Expected e = expect(*by_generation.at(r.generation), it->second.first,
                              it->second.second, want);
    if (e.outcome.out != r.outcome.out || e.outcome.verdict != r.outcome.verdict ||
        e.outcome.policy_drop != r.outcome.policy_drop) {
      ++mismatches;
    }
  }
  EXPECT_EQ(mismatches, 0u);
  EXPECT_GT(generations.size(), 10u);  // the stream really ran across swaps
  const Counters got = lab.engine->total();
  EXPECT_TRUE(same_counters(got, want));  // the same frames counted in the same places
  for (const WorkerStats& st : lab.engine->worker_stats()) {
    EXPECT_EQ(st.handoff_full + st.tx_full + st.records_lost, 0u);
  }
  const size_t out = lab.received(Port::kCore, got.tx[1]).size() +
                     lab.received(Port::kAccess, got.tx[0]).size();
  EXPECT_EQ(out, got.tx[0] + got.tx[1]);
  EXPECT_LE(out, out_expected_max);
}

}  // namespace
}  // namespace simcore::dp
