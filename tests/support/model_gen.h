// tests/support/model_gen.h — seeded random accounts and packets for property tests and
// benchmarks. Models are built through core::Account, so they are valid by construction; the
// packet generator aims at the interesting places (sessions, pools, NAT ports, rule edges,
// replies to earlier flows) rather than uniformly at random. Deterministic for a given seed on
// one toolchain.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "core/account.h"
#include "core/verdict.h"

namespace simcore::testing {

struct ModelGenOptions {
  uint64_t seed = 1;
  size_t things = 300;
  size_t networks = 3;
  size_t pools_per_network = 2;
  uint8_t pool_len = 23;  // prefix length of every pool
  size_t profiles = 6;
  size_t min_rules = 0;  // rules per chain, drawn uniformly
  size_t max_rules = 200;
  double attached = 0.8;    // fraction of ACTIVE Things with a session
  size_t nat_rules = 12;    // port-forwarding rules (on IP-locked Things)
  bool random_isolation = true;  // else every network isolated
};

struct GeneratedModel {
  core::Account account;
  std::vector<core::Cidr> hot_prefixes;  // remote prefixes rules and routes are drawn from
};

// Returns a random account. Deterministic for options.seed.
GeneratedModel generate_model(const ModelGenOptions& options);

// Flips states and data services of a few Things straight in the model, keeping their
// sessions, so the state and service stages see traffic (the account would have ended them).
void perturb_model(core::Model& model, uint64_t seed, double fraction);

class PacketGen {
 public:
  PacketGen(const core::Model& model, std::vector<core::Cidr> hot_prefixes, uint64_t seed);
  // Returns the next packet. `last` (if any) is remembered so later packets can reply to it.
  core::PacketDesc next();
  void remember(const core::PacketDesc& sent, const core::Decision& decision);

 private:
  core::Ipv4 random_in(const core::Cidr& c);
  uint16_t port();
  uint8_t proto();

  std::mt19937_64 rng_;
  struct Sess {
    uint32_t teid;
    core::Ipv4 ue;
  };
  std::vector<Sess> sessions_;
  std::vector<core::Cidr> pools_;
  std::vector<core::Cidr> hot_;
  struct Nat {
    core::Ipv4 ip;
    uint16_t port;
    uint8_t proto;
  };
  std::vector<Nat> nats_;
  std::vector<core::PacketDesc> recent_;  // forwarded uplink packets (post-NAT)
  size_t recent_next_ = 0;
};

}  // namespace simcore::testing
