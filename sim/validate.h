// sim/validate.h — the offline replay of generated traffic through the real DPDK engine and
// the comparison with what was expected. Per phase (sim/generator.h) the checked account is
// brought to the scenario's sessions (apply_session_ops), compiled, and the phase's frames are
// replayed on net_ring ports (dataplane/dpdk/replay.h); every frame's Outcome is compared with
// its expectation (sim/outcome.h).
//
// The checked account is the scenario's own, or another one (`against`): then the expectations
// still come from the scenario's account and the mismatches are exactly the frames whose
// outcome the other account changes. Control thread; needs EAL (dp::eal_init) and one free
// worker lcore.
#pragma once

#include <string>
#include <vector>

#include "core/result.h"
#include "dataplane/pipeline.h"
#include "sim/generator.h"

namespace simcore::sim {

struct ValidateOptions {
  std::string against;  // an account YAML file; empty: the scenario's account
  std::string out_dir;  // access.pcapng and core.pcapng are written here; empty: none
};

// What the engine did with the traffic: the part of a report an online driver fills in from
// its own capture instead.
struct Replayed {
  std::vector<dp::Outcome> outcomes;  // one per Traffic::frames entry
  std::vector<std::string> comments;  // the annotation of each (dp::format_comment)
  dp::Counters counters{};            // summed over the phases' engines
  std::vector<std::string> notes;     // against: attaches the other account refused
};

// Replays `traffic` and returns the outcomes. Fails when EAL is not initialised, the checked
// account does not load or compile, or the replay fails.
core::Result<Replayed> replay_offline(const Scenario& s, const Traffic& traffic,
                                      const dp::PortConfig& ports, const ValidateOptions& o);

// Returns the indexes of the frames whose outcome does not match their expectation.
std::vector<size_t> mismatches(const Traffic& traffic, const Replayed& r);

}  // namespace simcore::sim
