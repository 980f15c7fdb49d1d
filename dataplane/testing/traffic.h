// dataplane/testing/traffic.h — benchmark traffic: a seeded random account of `things` Things
// (by default 100 IP Profiles of 100 rules per chain, 3 networks) compiled, and distinct frames that the
// policy sends all the way through: uplink G-PDUs it FORWARDs and downlink packets it
// DELIVERs (chosen with core::lookup_packet on the same tables), so every frame runs parse,
// lookup, rewrite and encapsulation. Used by the pipeline and engine benchmarks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/tables.h"
#include "dataplane/pipeline.h"
#include "dataplane/testing/frame_builder.h"

namespace simcore::dp::testing {

struct TrafficOptions {
  uint64_t seed = 42;        // the random account's
  size_t things = 1600;      // about 63% end up ACTIVE and attached (see `sessions`)
  size_t distinct = 4096;    // frames per direction
  size_t inner_bytes = 64;   // inner IPv4 packet size (IPv4 + UDP + payload), ≥ 28
  size_t rules = 100;        // rules per chain of each profile
  size_t profiles = 100;     // IP Profiles, spread over the Things
  // Remote hosts: 198.51.100.0 + [0, remotes) up to 256, else 64.0.0.0 + [0, remotes). In
  // engine_bench's accounts (65,536 frames; 1k, 100k and 1M Things), counted once: with 256,
  // every downlink frame the policy delivers is of a stateless profile (the stateful ones'
  // inbound chains deny them); with 2^24, about a third are of stateful profiles (1k, 100k).
  uint32_t remotes = 256;
  // Also build `replies` (and `reply_opens`): up to `distinct` downlink answers to uplink
  // frames of Things with stateful profiles, which pass as established flows.
  bool replies = false;
};

struct Traffic {
  std::shared_ptr<const core::CompiledTables> tables;
  std::vector<Bytes> uplink;    // on the access port
  std::vector<Bytes> downlink;  // on the core port
  // replies[i] (core port) answers reply_opens[i] (access port): delivered as an established
  // flow (rule kFlowRuleId) once reply_opens[i] went through, whatever the inbound chain says.
  std::vector<Bytes> replies;
  std::vector<Bytes> reply_opens;
  size_t sessions = 0;
};

// Builds it for the ports' addresses. Deterministic. Slow for large accounts (seconds at 100k
// Things): benchmarks cache it.
Traffic forwarding_traffic(const TrafficOptions& options, const PortConfig& ports);

}  // namespace simcore::dp::testing
