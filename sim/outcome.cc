#include "sim/outcome.h"

namespace simcore::sim {

Expected expect_policy(const core::Decision& d) {
  Expected e;
  e.decision = d;
  // A replay has no IKE peer, so no tunnel has a CHILD_SA: the fast path drops what it routes
  // there (ESP itself is tested with real peers: tests/ipsec_*).
  if (d.verdict == core::Verdict::kTunnel) e.pipeline = dp::PipelineDrop::kUplinkTunnelUnavailable;
  return e;
}

Expected expect_parse_drop(dp::ParseStatus s) {
  Expected e;
  e.malformed = true;
  e.parse = s;
  return e;
}

std::string expected_key(const Expected& e) {
  if (e.malformed) return std::string("DROP ") + dp::parse_status_name(e.parse);
  const core::Decision& d = e.decision;
  std::string k = core::verdict_name(d.verdict);
  if (d.verdict == core::Verdict::kDrop) k += std::string(" ") + core::drop_reason_name(d.drop);
  if (e.pipeline != dp::PipelineDrop::kNone)
    k += std::string(" ") + dp::pipeline_drop_name(e.pipeline);
  return k;
}

std::string outcome_key(const dp::Outcome& o) {
  if (o.policed) {
    std::string k = core::verdict_name(o.verdict);
    if (o.verdict == core::Verdict::kDrop) {
      k += std::string(" ") + core::drop_reason_name(o.policy_drop);
    }
    if (o.drop != dp::PipelineDrop::kNone) k += std::string(" ") + dp::pipeline_drop_name(o.drop);
    return k;
  }
  if (o.out == dp::Port::kControl) return std::string("PUNT ") + dp::punt_name(o.punt);
  if (o.drop != dp::PipelineDrop::kNone) {
    return std::string("DROP ") + dp::pipeline_drop_name(o.drop);
  }
  if (o.parse != dp::ParseStatus::kOk) {
    const bool answered = o.out == dp::Port::kAccess || o.out == dp::Port::kCore;
    return std::string(answered ? "REPLY " : "DROP ") + dp::parse_status_name(o.parse);
  }
  return "NOT-POLICED";
}

std::string rule_name(uint32_t rule_id) {
  if (rule_id == 0) return "";
  if (rule_id == core::kFlowRuleId) return "flow";
  return std::to_string(rule_id);
}

uint32_t expected_rule(const Expected& e) noexcept { return e.malformed ? 0 : e.decision.rule_id; }
uint32_t outcome_rule(const dp::Outcome& o) noexcept { return o.policed ? o.rule_id : 0; }

const char* expected_stage(const Expected& e) noexcept {
  return e.malformed ? "parse" : core::stage_name(e.decision.stage);
}
const char* outcome_stage(const dp::Outcome& o) noexcept {
  if (o.policed) return core::stage_name(o.stage);
  return o.parse != dp::ParseStatus::kOk ? "parse" : "pipeline";
}

bool matches(const Expected& e, const dp::Outcome& o) {
  if (expected_key(e) != outcome_key(o)) return false;
  const uint32_t a = expected_rule(e);
  const uint32_t b = outcome_rule(o);
  return a == 0 || b == 0 || a == b;
}

}  // namespace simcore::sim
