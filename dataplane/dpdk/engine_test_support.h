// dataplane/dpdk/engine_test_support.h — a small account and frames for engine tests, and a
// lab of two net_ring ports (rx rings the test fills, tx rings it reads) under an Engine.
// Test code only; everything is inline in namespace simcore::dp::enginetest.
#pragma once

#include <gtest/gtest.h>
#include <rte_ring.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/account.h"
#include "core/compiler.h"
#include "dataplane/dpdk/engine.h"
#include "dataplane/packet/wire.h"
#include "dataplane/testing/frame_builder.h"

namespace simcore::dp::enginetest {

using testing::Bytes;
using testing::ip;
using testing::Ip4;

inline const Mac kAccessMac{2, 0, 0, 0, 1, 1};
inline const Mac kAccessPeerMac{2, 0, 0, 0, 1, 2};
inline const Mac kCoreMac{2, 0, 0, 0, 2, 1};
inline const Mac kCoreRouterMac{2, 0, 0, 0, 2, 2};
inline const PortConfig kPorts{ip("192.0.2.1"), ip("203.0.113.1"), kAccessMac,
                        kAccessPeerMac,  kCoreMac,          kCoreRouterMac};
inline const uint32_t kServer = ip("198.51.100.1");
inline const uint32_t kEnb = ip("100.64.0.1");

inline uint32_t thing_addr(size_t i) { return ip("10.20.0.0") + 10 + static_cast<uint32_t>(i); }
inline uint32_t thing_teid(size_t i) { return 0x1000 + static_cast<uint32_t>(i); }
inline uint32_t peer_teid(size_t i) { return 0x8000 + static_cast<uint32_t>(i); }

// One network (pool 10.20.0.0/24, VLAN 7), one profile (outbound UDP to port 53 denied when
// `deny_dns`; when `stateful`, inbound denied except replies to flows the Thing opened),
// `things` attached ACTIVE Things.
struct Policy {
  core::Account account;
  core::Compiler compiler;
  core::ProfileId profile;
  core::GroupId group;
  core::NetworkId network;
  std::vector<core::ThingId> things;
  bool stateful = false;

  explicit Policy(size_t n, bool stateful_profile = false) : stateful(stateful_profile) {
    core::Network net;
    net.name = "lab";
    net.apn = "lab.example";
    net.vlan = 7;
    const core::NetworkId nid = network = account.create_network(net).value();
    (void)account.add_pool(nid, core::Cidr::parse("10.20.0.0/24").value()).value();
    profile = account.create_profile(profile_spec(true, stateful)).value();
    core::ThingsGroup g;
    g.name = "g";
    g.network = nid;
    g.profile = profile;
    group = account.create_group(g).value();
    for (size_t i = 0; i < n; ++i) {
      core::Thing spec;
      spec.iccid = "89310000000000" + std::to_string(10000 + i);
      spec.imsi = "2040800000" + std::to_string(10000 + i);
      spec.group = group;
      spec.ip_lock = true;
      spec.locked_addr = core::Ipv4{thing_addr(i)};
      things.push_back(account.provision({spec}).value()[0]);
      activate(i);
    }
  }
  static core::IpProfile profile_spec(bool deny_dns, bool stateful_profile = false) {
    core::IpProfile p;
    p.name = "p";
    if (stateful_profile) {
      p.stateful = true;
      p.inbound.default_action = core::Action::kDeny;
    }
    if (deny_dns) {
      core::FirewallRule deny;
      deny.priority = 1;
      deny.action = core::Action::kDeny;
      deny.protocol = core::Protocol::kUdp;
      deny.remote_ports = {53, 53};
      p.outbound.rules = {deny};
    }
    return p;
  }
  void activate(size_t i) {
    ASSERT_TRUE(account.set_state(things[i], core::ThingState::kActive).ok());
    core::AttachRequest req;
    req.uplink_teid = thing_teid(i);
    req.peer_addr = core::Ipv4{kEnb};
    req.peer_teid = peer_teid(i);
    req.apn = "lab.example";
    ASSERT_TRUE(account.attach(things[i], req).ok());
  }
  void suspend(size_t i) {
    ASSERT_TRUE(account.set_state(things[i], core::ThingState::kSuspended).ok());
  }
  // UDP port forwarding public_ip:public_port ↔ Thing i's address:thing_port.
  void forward_port(size_t i, uint32_t public_ip, uint16_t public_port, uint16_t thing_port) {
    core::NatRule nat;
    nat.protocol = core::Protocol::kUdp;
    nat.public_ip = core::Ipv4{public_ip};
    nat.public_port = public_port;
    nat.thing = things[i];
    nat.thing_port = thing_port;
    ASSERT_TRUE(account.add_nat_rule(network, nat).ok());
  }
  void deny_dns(bool on) {
    ASSERT_TRUE(account.replace_profile(profile, profile_spec(on, stateful)).ok());
  }
  std::shared_ptr<const core::CompiledTables> compile() {
    return compiler.compile(account.model()).value();
  }
};

inline Bytes udp_packet(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint16_t id) {
  Ip4 h = testing::ip4(src, dst);
  h.id = id;
  return testing::ipv4(h, kProtoUdp, testing::udp(h, sport, dport, {1, 2, 3, 4}));
}
inline Bytes uplink_frame(size_t thing, uint16_t dport, uint16_t id) {
  const Ip4 o = testing::ip4(kEnb, kPorts.access_addr);
  const Bytes inner = udp_packet(thing_addr(thing), kServer, 40000, dport, id);
  return testing::ethernet(kAccessMac, kAccessPeerMac, kEtherTypeIpv4,
                           testing::ipv4(o, kProtoUdp,
                                         testing::udp(o, kGtpuPort, kGtpuPort,
                                                      testing::gtpu(kGtpuMsgGpdu,
                                                                    thing_teid(thing), inner),
                                                      false)));
}
inline Bytes downlink_frame(size_t thing, uint16_t id) {
  return testing::ethernet(kCoreMac, kCoreRouterMac, kEtherTypeIpv4,
                           udp_packet(kServer, thing_addr(thing), 8000, 40000, id));
}

// Two ring-backed ports and an engine on them.
class RingLab {
 public:
  // packed_mbufs: the engine's pool as EngineConfig::packed_mbufs makes it.
  // flow_entries: each worker's stateful-firewall flows (EngineConfig::flow_entries).
  explicit RingLab(unsigned workers, unsigned record_ring = 0,
                   const PortConfig& addressing = kPorts, bool packed_mbufs = false,
                   size_t flow_entries = EngineConfig{}.flow_entries) {
    // Ports and rings need process-unique names.
    static std::atomic<int> n{0};
    const std::string tag = std::to_string(n++);
    for (int i = 0; i < 4; ++i) {
      rings_[i] = rte_ring_create(("lab" + tag + "_" + std::to_string(i)).c_str(), 16384,
                                  SOCKET_ID_ANY, 0);
      EXPECT_NE(rings_[i], nullptr);
    }
    auto access = make_ring_port("access" + tag, rings_[0], rings_[1]);
    auto core = make_ring_port("core" + tag, rings_[2], rings_[3]);
    EXPECT_TRUE(access.ok() && core.ok());
    EngineConfig c;
    c.workers = workers;
    c.access.name = access.ok() ? *access : "";
    c.core.name = core.ok() ? *core : "";
    c.addressing = addressing;
    c.idle_sleep_us = 50;
    c.idle_polls = 64;
    c.record_ring = record_ring;
    c.packed_mbufs = packed_mbufs;
    c.flow_entries = flow_entries;
    auto e = Engine::create(c);
    EXPECT_TRUE(e.ok()) << e.error().message();
    if (e.ok()) engine = std::move(*e);
  }
  ~RingLab() {
    // The frames in the rings are the engine's: back to its pool before the pool goes.
    if (engine) engine->stop();
    for (rte_ring* r : rings_) {
      void* m = nullptr;
      while (rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    }
    engine.reset();  // closes the ports, frees the pool
    for (rte_ring* r : rings_) rte_ring_free(r);
  }

  void send(Port p, const Bytes& frame) {
    rte_mbuf* m = rte_pktmbuf_alloc(engine->pool());
    ASSERT_NE(m, nullptr);
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size())), frame.data(),
                frame.size());
    ASSERT_EQ(rte_ring_enqueue(rings_[p == Port::kAccess ? 0 : 2], m), 0);
  }
  // Frames transmitted out of `p` so far (waits up to `wait` for `want` of them).
  std::vector<Bytes> received(Port p, size_t want,
                              std::chrono::milliseconds wait = std::chrono::seconds(5)) {
    rte_ring* r = rings_[p == Port::kAccess ? 1 : 3];
    std::vector<Bytes> out;
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (out.size() < want && std::chrono::steady_clock::now() < deadline) {
      void* m = nullptr;
      if (rte_ring_dequeue(r, &m) != 0) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
        continue;
      }
      auto* mb = static_cast<rte_mbuf*>(m);
      const auto* d = rte_pktmbuf_mtod(mb, const uint8_t*);
      out.emplace_back(d, d + mb->data_len);
      rte_pktmbuf_free(mb);
    }
    return out;
  }
  // Waits until the workers have taken `n` frames in (rx counters), up to 5 s.
  bool wait_rx(uint64_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      const Counters c = engine->total();
      if (c.rx[0] + c.rx[1] >= n) return true;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return false;
  }

  std::unique_ptr<Engine> engine;

 private:
  rte_ring* rings_[4] = {};
};

// The portable pipeline on a copy of the frame: what the engine must have sent.
struct Expected {
  Port out;
  Bytes bytes;
  Outcome outcome;
};
// `flows` carries stateful-firewall flows from one call to the next (frames in the order the
// engine processes them); the overload without it starts each frame with none.
inline Expected expect(const core::CompiledTables& t, Port in, const Bytes& frame, Counters& c,
                       core::FlowMemory& flows) {
  std::vector<uint8_t> buf(kDefaultHeadroom + frame.size() + 64);
  std::memcpy(buf.data() + kDefaultHeadroom, frame.data(), frame.size());
  Frame f{buf, kDefaultHeadroom, static_cast<uint32_t>(frame.size())};
  TableClassifier classify{t, flows};
  static const NeighbourTable kNoNeighbours;  // kPorts has static next-hop MACs
  WorkerContext w;
  w.counters = c;
  const Outcome o = process(classify, kPorts, kNoNeighbours, in, f, w);
  c = w.counters;
  return {o.out, Bytes(f.data(), f.data() + f.data_len), o};
}
inline Expected expect(const core::CompiledTables& t, Port in, const Bytes& frame, Counters& c) {
  core::FlowMemory flows;
  return expect(t, in, frame, c, flows);
}

inline bool same_counters(const Counters& a, const Counters& b) {
  return std::memcmp(&a, &b, sizeof(Counters)) == 0;
}

}  // namespace simcore::dp::enginetest
