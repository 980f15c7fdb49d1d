#include "tests/support/model_gen.h"

#include <algorithm>
#include <numeric>
#include <set>
#include <string>

namespace simcore::testing {
namespace {

using core::Cidr;
using core::Ipv4;

constexpr uint16_t kHotPorts[] = {53, 80, 443, 1883, 5683, 8080, 40000};

core::PortRange random_ports(std::mt19937_64& rng) {
  switch (rng() % 4) {
    case 0: return {};
    case 1: {
      const uint16_t p = kHotPorts[rng() % std::size(kHotPorts)];
      return {p, p};
    }
    case 2: {
      const uint16_t p = kHotPorts[rng() % std::size(kHotPorts)];
      return {static_cast<uint16_t>(p - std::min<uint16_t>(p, rng() % 50)),
              static_cast<uint16_t>(std::min<uint32_t>(65535, p + rng() % 50))};
    }
    default: {
      const auto a = static_cast<uint16_t>(rng() % 65536);
      const auto b = static_cast<uint16_t>(rng() % 65536);
      return {std::min(a, b), std::max(a, b)};
    }
  }
}

Cidr random_prefix(std::mt19937_64& rng, const std::vector<Cidr>& hot) {
  const Cidr& base = hot[rng() % hot.size()];
  const auto len = static_cast<uint8_t>(rng() % 33);
  Cidr c{base.base, len};
  c.base.value &= c.mask();
  // Sometimes a host route inside the hot prefix, so exact matches are exercised.
  if (len == 32) c.base.value = base.first() + static_cast<uint32_t>(rng() % base.size());
  return c;
}

core::Chain random_chain(std::mt19937_64& rng, const ModelGenOptions& o,
                         const std::vector<Cidr>& hot) {
  core::Chain c;
  c.default_action = rng() % 2 ? core::Action::kAllow : core::Action::kDeny;
  const size_t n = o.min_rules + rng() % (o.max_rules - o.min_rules + 1);
  std::vector<uint32_t> prio(n);
  std::iota(prio.begin(), prio.end(), 1);
  std::shuffle(prio.begin(), prio.end(), rng);
  for (size_t i = 0; i < n; ++i) {
    core::FirewallRule r;
    r.priority = prio[i] * 10;
    r.action = rng() % 2 ? core::Action::kAllow : core::Action::kDeny;
    constexpr core::Protocol kProtos[] = {core::Protocol::kAny, core::Protocol::kTcp,
                                          core::Protocol::kUdp, core::Protocol::kIcmp};
    r.protocol = kProtos[rng() % 4];
    r.remote = random_prefix(rng, hot);
    if (r.protocol == core::Protocol::kTcp || r.protocol == core::Protocol::kUdp) {
      r.remote_ports = random_ports(rng);
      r.local_ports = random_ports(rng);
    }
    c.rules.push_back(r);
  }
  return c;
}

template <class T>
const T& ok(const core::Result<T>& r) {
  if (!r) {
    std::fprintf(stderr, "model_gen: %s\n", r.error().message().c_str());
    std::abort();
  }
  return r.value();
}
void ok(const core::Status& s) {
  if (!s) {
    std::fprintf(stderr, "model_gen: %s\n", s.error().message().c_str());
    std::abort();
  }
}

}  // namespace

GeneratedModel generate_model(const ModelGenOptions& o) {
  std::mt19937_64 rng(o.seed);
  core::ShippedDefaults shipped;
  shipped.pool = Cidr{Ipv4{(100u << 24) | (80u << 16)}, 16};  // out of the generated ranges
  GeneratedModel g{core::Account(shipped), {}};
  core::Account& a = g.account;

  // Remote prefixes that rules, routes and packets share, so they collide often.
  for (uint32_t base : {0xC0000200u, 0xC6336400u, 0xCB007100u, 0x08080800u, 0xAC100000u}) {
    g.hot_prefixes.push_back(Cidr{Ipv4{base}, 24});
  }

  std::vector<core::NetworkId> nets;
  for (size_t i = 0; i < o.networks; ++i) {
    core::Network n;
    n.name = "net" + std::to_string(i);
    n.apn = "apn" + std::to_string(i) + ".example";
    n.isolation = o.random_isolation ? rng() % 2 == 0 : true;
    n.vlan = static_cast<uint16_t>(rng() % 3 == 0 ? 0 : 100 + i);
    const core::NetworkId nid = ok(a.create_network(n));
    nets.push_back(nid);
    for (size_t j = 0; j < o.pools_per_network; ++j) {
      // Network i owns 10.(16i).0.0/12; pool j starts at the j-th block of its size.
      const uint32_t block = uint32_t{1} << (32 - o.pool_len);
      const Cidr c{Ipv4{(10u << 24) + (static_cast<uint32_t>(i) << 20) +
                        static_cast<uint32_t>(j) * block},
                   o.pool_len};
      (void)ok(a.add_pool(nid, c));
      g.hot_prefixes.push_back(c);
    }
    std::vector<core::TunnelId> tunnels;
    for (size_t k = 0; k < rng() % 3; ++k) {
      core::IpsecTunnel t;
      t.name = "tun" + std::to_string(k);
      t.peer = Ipv4{0xC6120000u + static_cast<uint32_t>(i * 8 + k)};
      t.remote_subnets = {Cidr{Ipv4{0xAC100000u + static_cast<uint32_t>((i * 8 + k) << 8)}, 24}};
      t.ike_proposals = {"aes128-sha256-modp2048"};
      t.esp_proposals = {"aes128gcm16"};
      t.pre_shared_key = "0123456789abcdef";
      tunnels.push_back(ok(a.add_tunnel(nid, t)));
    }
    std::set<Cidr> dests;
    for (size_t k = 0; k < rng() % 5; ++k) {
      core::Route r;
      r.destination = random_prefix(rng, g.hot_prefixes);
      if (!dests.insert(r.destination).second) continue;
      const uint64_t kind = rng() % 3;
      if (kind == 1) r.target = core::RouteTarget::kBlackhole;
      if (kind == 2 && !tunnels.empty()) {
        r.target = core::RouteTarget::kIpsecTunnel;
        r.tunnel = tunnels[rng() % tunnels.size()];
      }
      (void)ok(a.add_route(nid, r));
    }
  }

  std::vector<core::ProfileId> profiles;
  for (size_t i = 0; i < o.profiles; ++i) {
    core::IpProfile p;
    p.name = "profile" + std::to_string(i);
    p.stateful = rng() % 2 == 0;
    p.inbound = random_chain(rng, o, g.hot_prefixes);
    p.outbound = random_chain(rng, o, g.hot_prefixes);
    profiles.push_back(ok(a.create_profile(p)));
  }
  std::vector<core::GroupId> groups;
  for (size_t i = 0; i < std::max<size_t>(2, o.networks * 2); ++i) {
    core::ThingsGroup grp;
    grp.name = "group" + std::to_string(i);
    grp.network = nets[i % nets.size()];
    grp.profile = profiles[rng() % profiles.size()];
    grp.services.data = rng() % 8 != 0;
    groups.push_back(ok(a.create_group(grp)));
  }

  std::vector<core::Thing> specs(o.things);
  for (size_t i = 0; i < o.things; ++i) {
    specs[i].iccid = "8931" + std::to_string(1000000000000000ull + i);
    specs[i].imsi = "20408" + std::to_string(1000000000ull + i);
    specs[i].group = groups[rng() % groups.size()];
    specs[i].services.data = rng() % 16 != 0;
  }
  const std::vector<core::ThingId> ids = ok(a.provision(specs));

  std::set<uint32_t> teids;
  std::vector<core::ThingId> locked;
  for (core::ThingId id : ids) {
    const uint64_t r = rng() % 20;
    if (r == 0) continue;  // stays PROVISIONED
    ok(a.set_state(id, core::ThingState::kActive));
    if (std::uniform_real_distribution<double>(0, 1)(rng) >= o.attached) continue;
    if (!a.data_allowed(*a.thing(id))) continue;
    core::AttachRequest req;
    do {
      req.uplink_teid = static_cast<uint32_t>(rng());
    } while (req.uplink_teid == 0 || !teids.insert(req.uplink_teid).second);
    req.peer_addr = Ipv4{0x64400000u + static_cast<uint32_t>(rng() % 4096)};
    req.peer_teid = static_cast<uint32_t>(rng());
    if (!a.attach(id, req)) continue;  // a full pool leaves the Thing detached
    if (rng() % 10 == 0) {
      core::ThingPatch lock;
      lock.ip_lock = true;
      ok(a.update_thing(id, lock));
      locked.push_back(id);
    }
    if (rng() % 25 == 0) ok(a.set_state(id, core::ThingState::kSuspended));
  }

  std::set<std::tuple<uint32_t, int, uint16_t>> used;
  for (size_t i = 0; i < o.nat_rules && !locked.empty(); ++i) {
    const core::ThingId tid = locked[rng() % locked.size()];
    const core::Thing& t = *a.thing(tid);
    core::NatRule n;
    n.protocol = rng() % 2 ? core::Protocol::kTcp : core::Protocol::kUdp;
    n.public_ip = Ipv4{0xCB007100u + static_cast<uint32_t>(1 + rng() % 4)};  // in a hot prefix
    n.public_port = static_cast<uint16_t>(1 + rng() % 65535);
    n.thing = tid;
    n.thing_port = kHotPorts[rng() % std::size(kHotPorts)];
    if (!used.emplace(n.public_ip.value, static_cast<int>(n.protocol), n.public_port).second) continue;
    const core::NetworkId nid = a.group(t.group)->network;
    (void)a.add_nat_rule(nid, n);  // a thing-port clash is refused; skip it
  }
  return g;
}

void perturb_model(core::Model& model, uint64_t seed, double fraction) {
  std::mt19937_64 rng(seed ^ 0x5eed);
  std::uniform_real_distribution<double> u(0, 1);
  for (core::Thing& t : model.things) {
    if (u(rng) < fraction) {
      t.state = rng() % 2 ? core::ThingState::kSuspended : core::ThingState::kProvisioned;
    }
    if (u(rng) < fraction) t.services.data = false;
  }
}

PacketGen::PacketGen(const core::Model& model, std::vector<Cidr> hot, uint64_t seed)
    : rng_(seed), hot_(std::move(hot)), recent_(256) {
  for (const core::Thing& t : model.things) {
    if (t.session) sessions_.push_back({t.session->uplink_teid, t.session->ue_addr});
  }
  for (const auto& [id, n] : model.networks) {
    for (const core::IpPool& p : n.pools) pools_.push_back(p.cidr);
    for (const core::IpsecTunnel& tun : n.tunnels) {
      for (const Cidr& c : tun.remote_subnets) hot_.push_back(c);
    }
    for (const core::NatRule& r : n.nat_rules) {
      nats_.push_back({r.public_ip, r.public_port, static_cast<uint8_t>(r.protocol)});
    }
  }
  if (pools_.empty()) pools_.push_back(Cidr{Ipv4{0x0a000000u}, 24});
}

Ipv4 PacketGen::random_in(const Cidr& c) {
  return Ipv4{c.first() + static_cast<uint32_t>(rng_() % c.size())};
}

uint16_t PacketGen::port() {
  if (rng_() % 10 < 6) return kHotPorts[rng_() % std::size(kHotPorts)];
  return static_cast<uint16_t>(rng_() % 65536);
}

uint8_t PacketGen::proto() {
  const uint64_t r = rng_() % 20;
  if (r < 8) return 6;
  if (r < 16) return 17;
  if (r < 19) return 1;
  return 47;  // GRE: a protocol no rule names
}

core::PacketDesc PacketGen::next() {
  core::PacketDesc p;
  p.proto = proto();
  if (core::has_ports(p.proto)) {
    p.sport = port();
    p.dport = port();
  }
  const uint64_t kind = rng_() % 100;
  const bool have = !sessions_.empty();
  if (kind < 55) {
    p.dir = core::Direction::kUplink;
    const Sess s = have ? sessions_[rng_() % sessions_.size()] : Sess{1, Ipv4{0x0a000001u}};
    p.teid = rng_() % 10 ? s.teid : static_cast<uint32_t>(rng_());
    p.src = rng_() % 10 ? s.ue : random_in(pools_[rng_() % pools_.size()]);
    const uint64_t d = rng_() % 100;
    if (d < 20 && have) {
      p.dst = sessions_[rng_() % sessions_.size()].ue;
    } else if (d < 30) {
      p.dst = random_in(pools_[rng_() % pools_.size()]);
    } else if (d < 90) {
      p.dst = random_in(hot_[rng_() % hot_.size()]);
    } else {
      p.dst = Ipv4{static_cast<uint32_t>(rng_())};
    }
    return p;
  }
  p.dir = core::Direction::kDownlink;
  p.src = random_in(hot_[rng_() % hot_.size()]);
  if (kind < 75) {
    // A reply to something a Thing sent: exercises stateful profiles and NAT.
    const core::PacketDesc& o = recent_[rng_() % recent_.size()];
    if (o.dst.value != 0) {
      p.proto = o.proto;
      p.src = o.dst;
      p.sport = o.dport;
      p.dst = o.src;
      p.dport = o.sport;
      return p;
    }
  }
  const uint64_t d = rng_() % 100;
  if (d < 50 && have) {
    p.dst = sessions_[rng_() % sessions_.size()].ue;
  } else if (d < 70 && !nats_.empty()) {
    const Nat& n = nats_[rng_() % nats_.size()];
    p.dst = n.ip;
    p.dport = n.port;
    p.proto = rng_() % 4 ? n.proto : p.proto;
    if (!core::has_ports(p.proto)) p.sport = p.dport = 0;
  } else if (d < 80) {
    p.dst = random_in(pools_[rng_() % pools_.size()]);
  } else {
    p.dst = random_in(hot_[rng_() % hot_.size()]);
  }
  return p;
}

void PacketGen::remember(const core::PacketDesc& sent, const core::Decision& d) {
  if (sent.dir != core::Direction::kUplink || d.verdict == core::Verdict::kDrop) return;
  recent_[recent_next_] = d.out;
  recent_next_ = (recent_next_ + 1) % recent_.size();
}

}  // namespace simcore::testing
