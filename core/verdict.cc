#include "core/verdict.h"

namespace simcore::core {

const char* verdict_name(Verdict v) noexcept {
  switch (v) {
    case Verdict::kForward: return "FORWARD";
    case Verdict::kTunnel: return "TUNNEL";
    case Verdict::kHairpin: return "HAIRPIN";
    case Verdict::kDeliver: return "DELIVER";
    case Verdict::kDrop: return "DROP";
  }
  return "?";
}

const char* stage_name(Stage s) noexcept {
  switch (s) {
    case Stage::kSession: return "session";
    case Stage::kState: return "state";
    case Stage::kService: return "service";
    case Stage::kAntiSpoof: return "anti-spoof";
    case Stage::kFirewallOut: return "firewall-out";
    case Stage::kIsolation: return "isolation";
    case Stage::kNat: return "nat";
    case Stage::kRoute: return "route";
    case Stage::kFirewallIn: return "firewall-in";
    case Stage::kDeliver: return "deliver";
  }
  return "?";
}

const char* drop_reason_name(DropReason r) noexcept {
  switch (r) {
#define SIMCORE_X(id, name, desc) \
  case DropReason::id:            \
    return name;
    SIMCORE_DROP_REASONS(SIMCORE_X)
#undef SIMCORE_X
    case DropReason::kCount: break;
  }
  return "?";
}

const char* drop_reason_description(DropReason r) noexcept {
  switch (r) {
#define SIMCORE_X(id, name, desc) \
  case DropReason::id:            \
    return desc;
    SIMCORE_DROP_REASONS(SIMCORE_X)
#undef SIMCORE_X
    case DropReason::kCount: break;
  }
  return "?";
}

bool Decision::operator==(const Decision& o) const noexcept {
  return verdict == o.verdict && stage == o.stage && drop == o.drop && rule_id == o.rule_id &&
         thing == o.thing && target == o.target && out.src == o.out.src && out.dst == o.out.dst &&
         out.proto == o.out.proto && out.sport == o.out.sport && out.dport == o.out.dport &&
         vlan == o.vlan && tunnel == o.tunnel && peer_addr == o.peer_addr &&
         peer_teid == o.peer_teid;
}

}  // namespace simcore::core
