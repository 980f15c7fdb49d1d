// sim/outcome.h — what must happen to a generated frame, and the comparison with what the
// engine did. Both sides are reduced to one key string so reports count them alike:
//   "FORWARD", "HAIRPIN", "DELIVER"                    policed and sent
//   "DROP uplink.firewall"                              policy drop (core::DropReason name)
//   "TUNNEL uplink.tunnel_unavailable"                  policed, then dropped by the data plane
//   "DROP malformed.gtpu"                               parse drop (dp::ParseStatus name)
//   "PUNT punt.gtpc", "REPLY gtpu.echo_request"         not policy traffic
// A frame matches when the keys are equal and, when both name a rule (non-zero rule ids), the
// rule ids are equal. Pure; any thread.
#pragma once

#include <string>

#include "core/verdict.h"
#include "dataplane/pipeline.h"

namespace simcore::sim {

struct Expected {
  // A deliberately malformed frame: the parse status it must get (the policy never sees it).
  bool malformed = false;
  dp::ParseStatus parse = dp::ParseStatus::kOk;
  // Otherwise: the reference evaluator's decision, and what the data plane adds after it.
  core::Decision decision;
  dp::PipelineDrop pipeline = dp::PipelineDrop::kNone;
};

// Returns the expectation of a well-formed frame with reference decision `d`: the data plane
// drops a TUNNEL verdict with uplink.tunnel_unavailable until ESP exists.
Expected expect_policy(const core::Decision& d);
// Returns the expectation of a frame built malformed to have parse status `s`.
Expected expect_parse_drop(dp::ParseStatus s);

std::string expected_key(const Expected& e);
std::string outcome_key(const dp::Outcome& o);
// The rule that decided, as the report names it: "" (none or the chain default), "flow", or
// the API's rule id.
std::string rule_name(uint32_t rule_id);
uint32_t expected_rule(const Expected& e) noexcept;
uint32_t outcome_rule(const dp::Outcome& o) noexcept;
const char* expected_stage(const Expected& e) noexcept;
const char* outcome_stage(const dp::Outcome& o) noexcept;

bool matches(const Expected& e, const dp::Outcome& o);

}  // namespace simcore::sim
